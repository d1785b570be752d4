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
_KNOWN = frozenset(NAMES) | frozenset(GROUPS)
_WALKABLE = frozenset({"empty", "floor", "goal", "open door", "lava"})  # lava: walkable (and deadly) unless avoided
_WALKABLE_TABLE = np.isin(np.arange(256), [OBJECT_TO_IDX[n] for n in ("empty", "floor", "goal", "lava")])  # +open doors

MINIGRID_API = frozenset({
    "pos", "direction", "direction_name", "grid", "width", "height", "carrying", "carrying_colour", "inventory",
    "mission", "env_reward", "done", "success", "died", "step", "front", "front_cell", "at", "colour_at",
    "is_open", "is_locked", "find", "nearest", "count", "distance", "distance_to", "path_to", "actions_to",
    "facing",
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
        return self._search(_breadth_first, target, avoid, colour)

    def actions_to(self, target: str | Point, avoid: Iterable[str] = ("lava",),
                   colour: str | None = None) -> int | None:
        """Fewest actions (turns, forward moves, toggles of closed doors on the way) until the agent can act on
        `target`: standing on it when it can be entered (empty, goal, open door, lava), facing it otherwise (a
        key, ball or box to pick up, a closed door to toggle). Unlike `path_to` it counts turns, so every useful
        action brings it closer. None: no way (a locked door on the way passes only with a key of its colour)."""
        return self._search(_fewest_actions, target, avoid, colour)

    def _search(self, search: Any, target: str | Point, avoid: Iterable[str], colour: str | None) -> int | None:
        """One search (path_to's or actions_to's) to a point or the cells of a map name, once per State."""
        goals = {tuple(target)} if not isinstance(target, str) else set(self.find(target, colour))
        if not goals:
            return None
        key = (search.__name__, tuple(sorted(goals)), tuple(avoid))
        if key not in self._cache:
            self._cache[key] = search(self, goals, set(_expand(avoid)))
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


def _entry_costs(state: MiniGridState, avoid: set[str]) -> list[list[int]]:
    """What entering each cell costs, as [y][x] lists (pure Python is faster than numpy cell by cell here):
    1 walkable, 2 a closed door that opens (unlocked, or locked with the carried key's colour: toggle, then
    step), 0 no way (walls, objects, a locked door without its key, and `avoid`)."""
    cache_key = ("costs", tuple(sorted(avoid)))
    costs = state._cache.get(cache_key)
    if costs is None:
        grid = state.grid
        obj, colour, door = grid[:, :, 0], grid[:, :, 1], grid[:, :, 2]
        walkable = _WALKABLE_TABLE[obj] | ((obj == _DOOR) & (door == _OPEN))
        closed = (obj == _DOOR) & (door != _OPEN)
        opens = closed & (door != _LOCKED)
        if state.carrying == "key":
            opens |= closed & (colour == COLOR_TO_IDX[state.carrying_colour])
        blocked = np.zeros(obj.shape, dtype=bool)
        for name in avoid & _KNOWN:  # names MiniGrid has not (NetHack's 'trap') avoid nothing, as before
            blocked |= _mask(grid, name)
        costs = np.where(blocked, 0, np.where(walkable, 1, np.where(opens, 2, 0)))
        costs = state._cache[cache_key] = costs.tolist()
    return costs


def _breadth_first(state: MiniGridState, goals: set[Point], avoid: set[str]) -> int | None:
    """Shortest number of moves from the agent to any goal cell (goal cells are entered whatever they hold;
    a door that opens counts as one move)."""
    start = state.pos
    if start in goals:
        return 0
    costs, width, height = _entry_costs(state, avoid), state.width, state.height
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        (x, y), moves = queue.popleft()
        for nxt in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if nxt in seen:
                continue
            seen.add(nxt)
            if nxt in goals:
                return moves + 1
            nx, ny = nxt
            if 0 <= nx < width and 0 <= ny < height and costs[ny][nx]:
                queue.append((nxt, moves + 1))
    return None


def _fewest_actions(state: MiniGridState, goals: set[Point], avoid: set[str]) -> int | None:
    """Fewest actions from the agent's (cell, direction) until it stands on an enterable goal cell or faces any
    other goal cell: a turn or a step costs 1, a closed door that opens costs its toggle too (Dial's algorithm
    over (x, y, direction) numbered (y * width + x) * 4 + direction: edge costs are 1 or 2)."""
    width, height = state.width, state.height
    costs = [c for row in _entry_costs(state, avoid) for c in row]  # cell y * width + x
    done = [False] * (width * height)  # a goal cell: stand on it (enter) or face it (any other)
    enter = [False] * (width * height)
    for x, y in goals:
        if 0 <= x < width and 0 <= y < height:
            done[y * width + x] = True
            enter[y * width + x] = state.at(x, y) in _WALKABLE
    step = (1, width, -1, -width)  # the cell ahead, per MiniGrid direction (east, south, west, north)
    never = 1 << 30
    best = [never] * (width * height * 4)
    start = (state.pos[1] * width + state.pos[0]) * 4 + state.direction
    best[start] = 0
    buckets: list[list[int]] = [[start]]
    cost = 0
    while cost < len(buckets):
        for node in buckets[cost]:
            if best[node] != cost:
                continue  # reached more cheaply after it was queued
            cell, d = node >> 2, node & 3
            if enter[cell]:
                return cost
            x = cell % width
            ahead = cell + step[d]
            inside = (0 <= ahead < width * height) and not (d == 0 and x == width - 1) and not (d == 2 and x == 0)
            if inside and done[ahead] and not enter[ahead]:
                return cost
            moves = [(cell * 4 + (d + 1) % 4, 1), (cell * 4 + (d - 1) % 4, 1)]
            if inside and costs[ahead]:
                moves.append((ahead * 4 + d, costs[ahead]))
            for nxt, extra in moves:
                total = cost + extra
                if total < best[nxt]:
                    best[nxt] = total
                    while len(buckets) <= total:
                        buckets.append([])
                    buckets[total].append(nxt)
        cost += 1
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
