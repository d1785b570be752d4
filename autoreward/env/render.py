"""Text renderings of a State (for prompts) and of one step (`compact_step`, for trajectory logs).

Format (after what others found LLMs read well): the message; a local map crop with characters joined by
spaces and a legend of the symbols it shows; the visible objects with distance bucket and 16-point
compass direction ("closed door near north-northwest"); a status line; the inventory.
"""

from __future__ import annotations

import math

import numpy as np

from autoreward.env.glyphs import CATEGORIES, SCENERY
from autoreward.env.state import Point, State
from autoreward.env.vocabulary import COMPASS16, hunger_name


def direction(origin: Point, target: Point) -> str:
    """16-point compass direction from origin to target (map y grows south)."""
    dx, dy = target[0] - origin[0], origin[1] - target[1]
    if dx == 0 and dy == 0:
        return "here"
    angle = math.degrees(math.atan2(dy, dx)) % 360.0
    return COMPASS16[int((angle + 11.25) // 22.5) % 16]


def distance_bucket(distance: int) -> str:
    """Coarse words for a move distance: adjacent, very near, near, far, very far."""
    if distance <= 0:
        return "here"
    if distance == 1:
        return "adjacent"
    if distance == 2:
        return "very near"
    if distance <= 5:
        return "near"
    if distance <= 19:
        return "far"
    return "very far"


def local_map(state: State, size: int = 9) -> tuple[list[str], dict[str, set[str]]]:
    """Rows of the size x size crop around the agent, and the legend {char: category names} of what it shows."""
    half = size // 2
    px, py = state.pos
    rows, legend = [], {}
    for y in range(py - half, py + half + 1):
        cells = []
        for x in range(px - half, px + half + 1):
            ch = state.char_at(x, y)
            cells.append(ch)
            if ch != " ":
                name = "you" if (x, y) == (px, py) else state.at(x, y)
                legend.setdefault(ch, set()).add(name)
        rows.append(" ".join(cells).rstrip())
    return rows, legend


def visible_objects(state: State, limit: int = 12) -> list[str]:
    """Non-scenery things on the map, nearest instance per category first: 'key adjacent east'."""
    codes = state.categories
    width = codes.shape[1]
    seen: list[tuple[int, str]] = []
    for code in np.unique(codes).tolist():
        name = CATEGORIES[code]
        if name in SCENERY:
            continue
        points = [(i % width, i // width) for i in (codes.ravel() == code).nonzero()[0].tolist()]
        target = min(points, key=lambda p: state.distance(state.pos, p))
        dist = state.distance(state.pos, target)
        label = name if len(points) == 1 else f"{name} (x{len(points)})"
        seen.append((dist, f"{label} {distance_bucket(dist)} {direction(state.pos, target)}"))
    seen.sort()
    return [text for _, text in seen[:limit]]


def status_line(state: State) -> str:
    hunger = hunger_name(state.hunger)
    return (f"HP {state.hp}/{state.max_hp}, depth {state.depth}, turn {state.turn}, gold {state.gold}, "
            f"score {state.score}, XL {state.xp_level}, {hunger}; step {state.step}")


def render_state(state: State, crop: int = 9) -> str:
    """The full prompt rendering of one State."""
    rows, legend = local_map(state, crop)
    legend_text = ", ".join(f"{ch} {' / '.join(sorted(names))}" for ch, names in sorted(legend.items()))
    objects = visible_objects(state)
    inventory = "; ".join(state.inventory) or "(empty)"
    parts = [
        f"Message: {state.message or '(none)'}",
        f"Map ({crop}x{crop} around you):",
        *("  " + row for row in rows),
        f"Legend: {legend_text}",
        f"Objects: {'; '.join(objects) if objects else '(none in sight)'}",
        f"Status: {status_line(state)}",
        f"Inventory: {inventory}",
    ]
    return "\n".join(parts)


def compact_step(prev: State | None, action: str | None, state: State) -> str:
    """One line per step for trajectory logs: action, position, message, changes."""
    bits = [f"t={state.step}"]
    if action is not None:
        bits.append(action)
    bits.append(f"@{state.pos}")
    if prev is not None:
        gained = set(state.inventory) - set(prev.inventory)
        if gained:
            bits.append("+" + "; ".join(sorted(gained)))
        if state.hp != prev.hp:
            bits.append(f"hp {prev.hp}->{state.hp}")
    if state.message:
        bits.append(repr(state.message))
    return " ".join(bits)
