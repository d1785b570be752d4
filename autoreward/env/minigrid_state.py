"""`MiniGridState`: the read-only view of one MiniGrid observation that reward code sees, and its text.

Unlike NetHack's map, MiniGrid's full grid is known to the env at every step, so the State carries all of it
(`env.unwrapped.grid.encode()`: object, colour and state codes per cell), not just the agent's 7x7 view. The
helpers follow NetHack's State (find, nearest, count, distance_to, path_to) so reward code reads alike across
cards; `MINIGRID_API` is exactly what the critic lets reward code use (autoreward.env.minigrid documents it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, DIR_TO_VEC, OBJECT_TO_IDX, STATE_TO_IDX

Point = tuple[int, int]
OBJECT_NAMES = {i: name for name, i in OBJECT_TO_IDX.items()}
COLOUR_NAMES = {i: name for name, i in COLOR_TO_IDX.items()}
_OPEN, _CLOSED, _LOCKED = STATE_TO_IDX["open"], STATE_TO_IDX["closed"], STATE_TO_IDX["locked"]
_DOOR, _KEY, _LAVA, _WALL = OBJECT_TO_IDX["door"], OBJECT_TO_IDX["key"], OBJECT_TO_IDX["lava"], OBJECT_TO_IDX["wall"]
DIRECTIONS = ("east", "south", "west", "north")  # MiniGrid's agent_dir 0..3

#: Cell names reward code may pass to find/nearest/count/distance_to/path_to; groups match several kinds.
NAMES = ("unseen", "empty", "wall", "floor", "open door", "closed door", "locked door", "key", "ball", "box", "goal",
         "lava")
GROUPS = {"door": ("open door", "closed door"), "object": ("key", "ball", "box")}
_WALKABLE = frozenset({"empty", "floor", "goal", "open door", "lava"})  # lava: walkable (and deadly) unless avoided

MINIGRID_API = frozenset({
    "pos", "direction", "direction_name", "grid", "width", "height", "carrying", "carrying_colour", "inventory",
    "mission", "env_reward", "done", "success", "died", "step", "front", "front_cell", "at", "colour_at",
    "is_open", "is_locked", "find", "nearest", "count", "distance", "distance_to", "path_to", "facing",
})


def cell_name(obj: int, state: int) -> str:
    """A cell's name from its object and state codes; a locked door reads 'closed door' (as in NetHack)."""
    name = OBJECT_NAMES.get(int(obj), "unseen")
    if name == "door":
        return "open door" if state == _OPEN else "closed door"
    return name


class MiniGridState:
    """One MiniGrid observation as reward code sees it: the full grid, the agent, and spatial helpers."""

    __slots__ = ("_cache", "_raw")

    def __init__(self, grid: bytes, shape: tuple[int, int], pos: Point, direction: int, carrying: tuple[int, int],
                 mission: str, env_reward: float = 0.0, done: bool = False, success: bool = False,
                 died: bool = False, step: int = 0) -> None:
        self._raw = (grid, shape, pos, direction, carrying, mission, env_reward, done, success, died, step)
        self._cache: dict[Any, Any] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (MiniGridState, self._raw)

    def __repr__(self) -> str:
        return f"MiniGridState(step={self.step}, pos={self.pos}, direction={self.direction_name}, " \
               f"carrying={self.carrying!r})"

    # ----- fields ---------------------------------------------------------------------------------------
    @property
    def grid(self) -> np.ndarray:
        """height x width x 3 numpy array (uint8) of (object, colour, state) codes; index as grid[y, x];
        read-only. The agent is not drawn in it (its cell shows what it stands on)."""
        grid = self._cache.get("grid")
        if grid is None:
            height, width = self._raw[1]
            grid = self._cache["grid"] = np.frombuffer(self._raw[0], dtype=np.uint8).reshape(height, width, 3)
        return grid

    @property
    def width(self) -> int:
        """Grid width (x = 0 .. width - 1)."""
        return self._raw[1][1]

    @property
    def height(self) -> int:
        """Grid height (y = 0 .. height - 1)."""
        return self._raw[1][0]

    @property
    def pos(self) -> Point:
        """The agent's (x, y); x grows east, y grows south."""
        return self._raw[2]

    @property
    def direction(self) -> int:
        """Where the agent faces: 0 east, 1 south, 2 west, 3 north."""
        return self._raw[3]

    @property
    def direction_name(self) -> str:
        """'east', 'south', 'west' or 'north'."""
        return DIRECTIONS[self._raw[3]]

    @property
    def carrying(self) -> str | None:
        """What the agent carries ('key', 'ball', 'box'), or None."""
        obj = self._raw[4][0]
        return OBJECT_NAMES[obj] if obj else None

    @property
    def carrying_colour(self) -> str | None:
        """The colour of what the agent carries, or None."""
        return COLOUR_NAMES[self._raw[4][1]] if self._raw[4][0] else None

    @property
    def inventory(self) -> tuple[str, ...]:
        """What the agent carries as item lines ('yellow key'); empty when it carries nothing (at most one)."""
        return (f"{self.carrying_colour} {self.carrying}",) if self.carrying else ()

    @property
    def mission(self) -> str:
        """The mission text ('use the key to open the door and then get to the goal')."""
        return self._raw[5]

    @property
    def env_reward(self) -> float:
        """The task's own reward for this step: 1 - 0.9 * steps / max_steps on success, else 0."""
        return self._raw[6]

    @property
    def done(self) -> bool:
        """The episode ended on this step (success, lava, step limit)."""
        return self._raw[7]

    @property
    def success(self) -> bool:
        """The task was completed on this step (the env's own reward > 0 on termination)."""
        return self._raw[8]

    @property
    def died(self) -> bool:
        """The agent stepped into lava on this step."""
        return self._raw[9]

    @property
    def step(self) -> int:
        """Steps taken in this episode (0 after reset)."""
        return self._raw[10]

    # ----- cells ----------------------------------------------------------------------------------------
    @property
    def front(self) -> Point:
        """The (x, y) of the cell the agent faces (what forward, pickup and toggle act on)."""
        dx, dy = DIR_TO_VEC[self._raw[3]]
        return self._raw[2][0] + int(dx), self._raw[2][1] + int(dy)

    @property
    def front_cell(self) -> str:
        """The name of the cell the agent faces."""
        return self.at(*self.front)

    def at(self, x: int, y: int) -> str:
        """The name of cell (x, y): one of the map names; 'wall' outside the grid."""
        if not (0 <= x < self.width and 0 <= y < self.height):
            return "wall"
        obj, _, state = self.grid[y, x]
        return cell_name(obj, state)

    def colour_at(self, x: int, y: int) -> str | None:
        """The colour of the object at (x, y) ('yellow'), None for empty cells, walls' 'grey' included."""
        if not (0 <= x < self.width and 0 <= y < self.height) or self.grid[y, x, 0] <= OBJECT_TO_IDX["empty"]:
            return None
        return COLOUR_NAMES[int(self.grid[y, x, 1])]

    def is_open(self, x: int, y: int) -> bool:
        """Whether (x, y) is an open door."""
        return self.at(x, y) == "open door"

    def is_locked(self, x: int, y: int) -> bool:
        """Whether (x, y) is a locked door (toggling it with the key of its colour opens it)."""
        return 0 <= x < self.width and 0 <= y < self.height and \
            int(self.grid[y, x, 0]) == _DOOR and int(self.grid[y, x, 2]) == _LOCKED

    def find(self, kind: str, colour: str | None = None) -> list[Point]:
        """All (x, y) cells of a map name or group ('key', 'closed door', 'locked door', 'door', 'object'),
        optionally of one colour, in reading order."""
        key = ("find", kind, colour)
        found = self._cache.get(key)
        if found is None:
            mask = _mask(self.grid, kind)
            if colour is not None:
                mask &= self.grid[:, :, 1] == COLOR_TO_IDX.get(colour, -1)
            found = self._cache[key] = [(int(x), int(y)) for y, x in np.argwhere(mask)]
        return list(found)

    def count(self, kind: str, colour: str | None = None) -> int:
        """How many cells show `kind` (of `colour`)."""
        return len(self.find(kind, colour))

    @staticmethod
    def distance(a: Point, b: Point) -> int:
        """Manhattan distance between two (x, y) points (MiniGrid moves one cell at a time, no diagonals)."""
        return abs(a[0] - b[0]) + abs(a[1] - b[1])

    def nearest(self, kind: str, colour: str | None = None) -> Point | None:
        """The cell of `kind` (of `colour`) nearest the agent by Manhattan distance, or None."""
        cells = self.find(kind, colour)
        return min(cells, key=lambda c: (self.distance(self.pos, c), c[1], c[0])) if cells else None

    def distance_to(self, target: str | Point, colour: str | None = None) -> int | None:
        """Manhattan distance to a point, or to the nearest cell of a map name; None when there is none."""
        spot = self.nearest(target, colour) if isinstance(target, str) else target
        return None if spot is None else self.distance(self.pos, spot)

    def path_to(self, target: str | Point, avoid: Iterable[str] = ("lava",), colour: str | None = None) -> int | None:
        """Moves along the grid (turns not counted) to a point or the nearest cell of a map name, around walls,
        objects and `avoid`; closed doors pass, locked ones only with a key of their colour. None: no way."""
        goals = {tuple(target)} if not isinstance(target, str) else set(self.find(target, colour))
        if not goals:
            return None
        key = ("path", tuple(sorted(goals)), tuple(avoid))
        if key not in self._cache:
            self._cache[key] = _breadth_first(self, goals, set(_expand(avoid)))
        return self._cache[key]

    def facing(self, target: str | Point) -> bool:
        """Whether the agent faces `target` (a point, or any cell of that map name)."""
        if isinstance(target, str):
            return self.front in set(self.find(target))
        return self.front == tuple(target)


def _expand(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        out += GROUPS.get(name, (name,))
    return out


def _mask(grid: np.ndarray, kind: str) -> np.ndarray:
    obj, state = grid[:, :, 0], grid[:, :, 2]
    if kind == "locked door":
        return (obj == _DOOR) & (state == _LOCKED)
    if kind in GROUPS:
        mask = np.zeros(obj.shape, dtype=bool)
        for name in GROUPS[kind]:
            mask |= _mask(grid, name)
        return mask
    if kind == "open door":
        return (obj == _DOOR) & (state == _OPEN)
    if kind == "closed door":
        return (obj == _DOOR) & (state != _OPEN)
    if kind not in OBJECT_TO_IDX or kind == "agent":
        raise ValueError(f"unknown MiniGrid map name {kind!r}; known: {', '.join(NAMES)} and {', '.join(GROUPS)}")
    return obj == OBJECT_TO_IDX[kind]


def _breadth_first(state: MiniGridState, goals: set[Point], avoid: set[str]) -> int | None:
    """Shortest number of moves from the agent to any goal cell (goal cells are entered whatever they hold)."""
    start = state.pos
    if start in goals:
        return 0
    key_colour = state.carrying_colour if state.carrying == "key" else None
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        (x, y), moves = queue.popleft()
        for nxt in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if nxt in seen:
                continue
            seen.add(nxt)
            if nxt in goals:
                return moves + 1
            name = state.at(*nxt)
            if name in avoid:
                continue
            if name == "closed door" and state.is_locked(*nxt):
                passable = key_colour is not None and state.colour_at(*nxt) == key_colour
            else:
                passable = name in _WALKABLE or name == "closed door"
            if passable:
                queue.append((nxt, moves + 1))
    return None


_CHARS = {"unseen": " ", "empty": ".", "floor": ".", "wall": "#", "goal": "G", "lava": "~", "key": "k", "ball": "o",
          "box": "b", "open door": "/", "closed door": "+"}
_ARROWS = ">v<^"


def render_minigrid(state: MiniGridState) -> str:
    """The State as text for prompts and logs: mission, agent, carried item, the grid with a legend, objects."""
    rows = []
    for y in range(state.height):
        row = []
        for x in range(state.width):
            name = state.at(x, y)
            row.append("L" if state.is_locked(x, y) else _CHARS.get(name, "?"))
        rows.append(row)
    x, y = state.pos
    rows[y][x] = _ARROWS[state.direction]
    lines = [f"Mission: {state.mission}",
             f"Agent at {state.pos} facing {state.direction_name}; front cell: {state.front_cell}; "
             f"carrying: {' '.join(state.inventory) or 'nothing'}; step {state.step}"]
    lines += ["Grid (x east, y south; agent >v<^, # wall, . empty, + closed door, L locked door, / open door, "
              "k key, o ball, b box, G goal, ~ lava):"]
    lines += ["  " + "".join(row) for row in rows]
    things = []
    for kind in ("key", "ball", "box", "closed door", "open door", "goal"):
        for spot in state.find(kind):
            colour = state.colour_at(*spot)
            label = "locked door" if state.is_locked(*spot) else kind
            things.append(f"  {colour + ' ' if colour and kind != 'goal' else ''}{label} at {spot}: "
                          f"{state.path_to(spot)} moves")
    if things:
        lines += ["Objects (moves along the grid, around walls and lava):", *things]
    if state.count("lava"):
        lines.append(f"Lava cells: {state.count('lava')}")
    return "\n".join(lines)
