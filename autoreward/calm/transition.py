"""One step of play as a `Transition` record: what a CALM judge sees (`render`) and its canonical `key`.

The rendering follows `autoreward.env.render` (map crops joined with spaces plus a legend, objects with
distance and compass direction) and adds what changed: the action and the key it typed, where the agent
moved and onto what, the message before and after, the inventory lines gained and lost, status changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym

from autoreward.calm.subgoals import Subgoal
from autoreward.env.card import action_names
from autoreward.env.info import CALM_KEY, CALM_TEXT
from autoreward.env.render import direction, local_map, visible_objects
from autoreward.env.state import State
from autoreward.env.vocabulary import MOVES, NEIGHBOURS, hunger_name

CROP = 9
_HP_CHANGE = re.compile(r"^HP (-?\d+) -> (-?\d+)$")


@dataclass(frozen=True)
class Transition:
    """What one action changed, as the agent could see it (every field comes from the two screens)."""

    action: str  # action name ('east', 'pickup', 'apply', 'fire')
    typed: str  # the key the action types ('l', ',', 'a', 'f'): a key also answers a question on screen
    toward: str | None  # category of the neighbour a compass action points at, before the step
    moved: str | None  # compass direction the agent moved in (None: it did not move)
    entered: str | None  # category of the cell the agent moved onto, as seen before the step
    message_before: str
    message_after: str
    gained: tuple[str, ...]  # inventory lines after and not before
    lost: tuple[str, ...]  # inventory lines before and not after
    status: tuple[str, ...]  # status changes ('HP 12 -> 10', 'hunger not hungry -> satiated')
    map_before: tuple[str, ...]
    map_after: tuple[str, ...]
    legend: str
    objects_before: tuple[str, ...]
    objects_after: tuple[str, ...]
    around_before: tuple[str, ...]  # categories of the 8 neighbours (N, NE, E, SE, S, SW, W, NW)
    around_after: tuple[str, ...]
    ended: bool  # the episode ended on this step (the screen after is then the last one before the end)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def typed_key(code: int) -> str:
    """How a keyboard code reads: 'a', ',', '^D' for control keys, 'Enter', 'Esc', 'Space'."""
    named = {13: "Enter", 27: "Esc", 32: "Space"}
    if code in named:
        return named[code]
    if 0 < code < 32:
        return "^" + chr(code + 64)
    if 32 < code < 127:
        return chr(code)
    return f"M-{chr(code - 128)}" if 160 < code < 255 else f"#{code}"


def build(prev: State, action: str, typed: str, state: State, detail: bool = True) -> Transition:
    """The Transition from `prev` to `state` by `action` (its name) typing `typed`.

    `detail=False` leaves out the map crops, legend and objects (most of the cost): enough for `key`, not `render`.
    """
    rows_before, legend_before = local_map(prev, CROP) if detail else ([], {})
    rows_after, legend_after = local_map(state, CROP) if detail else ([], {})
    legend: dict[str, set[str]] = {}
    for part in (legend_before, legend_after):
        for char, names in part.items():
            legend.setdefault(char, set()).update(names)
    moved = direction(prev.pos, state.pos) if state.pos != prev.pos else None
    delta = MOVES.get(action.removeprefix("far "))
    return Transition(
        action=action,
        typed=typed,
        toward=prev.at(prev.pos[0] + delta[0], prev.pos[1] + delta[1]) if delta else None,
        moved=moved,
        entered=prev.at(*state.pos) if moved else None,
        message_before=prev.message,
        message_after=state.message,
        gained=tuple(sorted(set(state.inventory) - set(prev.inventory))),
        lost=tuple(sorted(set(prev.inventory) - set(state.inventory))),
        status=_status_changes(prev, state),
        map_before=tuple(rows_before),
        map_after=tuple(rows_after),
        legend=", ".join(f"{char} {' / '.join(sorted(names))}" for char, names in sorted(legend.items())),
        objects_before=tuple(visible_objects(prev, limit=8)) if detail else (),
        objects_after=tuple(visible_objects(state, limit=8)) if detail else (),
        around_before=around(prev),
        around_after=around(state),
        ended=state.done,
    )


def around(state: State) -> tuple[str, ...]:
    """Categories of the agent's 8 neighbours, clockwise from north."""
    x, y = state.pos
    return tuple(state.at(x + dx, y + dy) for dx, dy in NEIGHBOURS)


def _status_changes(prev: State, state: State) -> tuple[str, ...]:
    changes = []
    if state.hp != prev.hp:
        changes.append(f"HP {prev.hp} -> {state.hp}")
    if state.hunger != prev.hunger:
        changes.append(f"hunger {hunger_name(prev.hunger)} -> {hunger_name(state.hunger)}")
    if state.depth != prev.depth:
        changes.append(f"depth {prev.depth} -> {state.depth}")
    return tuple(changes)




def render(transition: Transition) -> str:
    """The text a judge (LLM or offline) sees for one transition."""
    t = transition
    action = f"Action: {t.action} (key {t.typed})" + (f", toward {t.toward}" if t.toward else "")
    moved = f"Moved: {t.moved}, onto {t.entered}" if t.moved else "Moved: no"
    lines = [
        action,
        moved,
        f"Message before: {t.message_before or '(none)'}",
        f"Message after: {t.message_after or '(none)'}",
        f"Inventory gained: {'; '.join(t.gained) or '(none)'}",
        f"Inventory lost: {'; '.join(t.lost) or '(none)'}",
        f"Status change: {'; '.join(t.status) or '(none)'}",
        f"Map before ({CROP}x{CROP} around you):",
        *(f"  {row}".rstrip() for row in t.map_before),
        "Map after:",
        *(f"  {row}".rstrip() for row in t.map_after),
        f"Legend: {t.legend}",
        f"Objects before: {'; '.join(t.objects_before) or '(none in sight)'}",
        f"Objects after: {'; '.join(t.objects_after) or '(none in sight)'}",
    ]
    if t.ended:
        lines.append("Episode ended after this action.")
    return "\n".join(lines)


def without_map(text: str) -> str:
    """A rendered transition without its map crops and legend: what changed, in a third of the characters.

    The distilled CALM model reads this: the maps differ in every episode and would cost most of its features.
    """
    kept, in_map = [], False
    for line in text.split("\n"):
        if line.startswith("Map before"):
            in_map = True
        elif in_map and line.startswith("Legend:"):
            in_map = False
        elif not in_map:
            kept.append(line)
    return "\n".join(kept)


def key(transition: Transition, subgoals: Sequence[object]) -> str:
    """A canonical key of what a step did, equal for steps that did the same thing anywhere, in any episode.

    Hashed: the action (name, typed key, the neighbour it points at), the move (direction, the cell entered),
    the message after (and the one before when it is a question the action answers), the inventory lines
    gained and lost, status changes (HP by its sign only), the categories of the 8 neighbours before and
    after, whether the episode ended, and the subgoal names. These capture every subgoal-relevant change (an
    item gained, a door next to the agent opening, stairs entered, a question answered) and leave out what
    differs between episodes without meaning (position, turn, HP level, the rest of the map), so that a
    judgement of one step can be reused for every step with the same key.
    """
    t = transition
    question = t.message_before if "?" in t.message_before else ""
    names = [getattr(s, "name", s) for s in subgoals]
    status = [_coarse(change) for change in t.status]
    fields = [t.action, t.typed, t.toward, t.moved, t.entered, question, t.message_after, t.gained, t.lost,
              status, t.around_before, t.around_after, t.ended, names]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode("utf-8")).hexdigest()[:24]


def _coarse(change: str) -> str:
    """'HP 12 -> 10' -> 'HP down' (the amount differs between episodes); other changes as they are."""
    match = _HP_CHANGE.match(change)
    if match is None:
        return change
    return "HP down" if int(match.group(2)) < int(match.group(1)) else "HP up"


class TransitionInfo(gym.Wrapper):
    """Puts each step's canonical transition key in `info[CALM_KEY]`, and its rendered text in
    `info[CALM_TEXT]` the first time this env sees that key. Wraps the NLE observation dict (before
    `PolicyObservation`)."""

    def __init__(self, env: gym.Env, subgoals: Sequence[Subgoal]) -> None:
        super().__init__(env)
        self.subgoals = list(subgoals)
        self._names = action_names(env)
        self._typed = [typed_key(int(code)) for code in env.unwrapped.actions]
        self._prev: State | None = None
        self._seen: set[str] = set()  # keys whose text this env has already sent

    def reset(self, **kwargs: Any):  # type: ignore[override]
        obs, info = self.env.reset(**kwargs)
        self._prev = State.copy_from(obs)
        return obs, info

    def step(self, action):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        state = State.copy_from(obs, done=bool(terminated or truncated))
        if self._prev is not None:
            name, typed = self._names[int(action)], self._typed[int(action)]
            info[CALM_KEY] = step_key = key(build(self._prev, name, typed, state, detail=False), self.subgoals)
            if step_key not in self._seen:
                self._seen.add(step_key)
                info[CALM_TEXT] = render(build(self._prev, name, typed, state))
        self._prev = state
        return obs, reward, terminated, truncated, info
