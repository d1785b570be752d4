"""`State`: the read-only view of one NetHack observation that reward code sees.

Building a State copies the few arrays it needs as bytes (NLE reuses its buffers between steps) and
decodes everything else lazily, so that a reward which reads two fields costs two field reads. The public
names below are exactly the API that the critic lets reward code use (`STATE_API`);
`autoreward.env.card.describe_state_api()` documents them for the designer.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
from nle import nethack as nh

from autoreward.env.glyphs import (
    CATEGORIES,
    CATEGORY_OF_GLYPH,
    CODE,
    GROUPS,
    MEMBERSHIP,
    NAMES,
    PATH_DOOR,
    PATH_KIND_OF_GLYPH,
    PATH_PASS,
)
from autoreward.env.pathfind import PAD_W, Point, breadth_first, cell_bits, map_bits
from autoreward.env.text import InventoryLines, decode_inventory, decode_text

_AGENT_CODE = CODE["agent"]
_INT64, _XY = struct.Struct("=q"), struct.Struct("=qq")  # blstats is an int64 array, kept as its bytes
# Byte offsets of the blstats fields reward code reads (x and y are adjacent: pos unpacks both at once).
_X, _HP, _HPMAX, _DEPTH, _GOLD, _SCORE, _TIME, _HUNGER, _XP = (8 * i for i in (
    nh.NLE_BL_X, nh.NLE_BL_HP, nh.NLE_BL_HPMAX, nh.NLE_BL_DEPTH, nh.NLE_BL_GOLD, nh.NLE_BL_SCORE, nh.NLE_BL_TIME,
    nh.NLE_BL_HUNGER, nh.NLE_BL_XP))
if nh.NLE_BL_Y != nh.NLE_BL_X + 1:
    raise ImportError("unexpected NLE blstats layout: x and y are not adjacent")
_SHAPE = (21, 79)  # NLE's map: rows y = 0..20, columns x = 0..78
# Positions in State._raw.
_GLYPHS, _CHARS, _BL, _MESSAGE, _INVENTORY, _ENV_REWARD, _DONE, _SUCCESS, _DIED, _STEP = range(10)


class State:
    """One observation as reward code sees it: fields, lazy decodings and spatial helpers (x, y points)."""

    __slots__ = ("_cache", "_raw")

    def __init__(self, glyphs: bytes, chars: bytes, blstats: bytes, message: bytes, inventory: bytes | None,
                 env_reward: float = 0.0, done: bool = False, success: bool = False, died: bool = False,
                 step: int = 0) -> None:
        # Raw data is kept as immutable bytes (NLE overwrites its arrays on every step, and `bytes` copies are
        # the cheapest copies) and turned into arrays or text only when reward code asks. Every public name
        # is a read-only property, so reward code cannot change a State.
        self._raw = (glyphs, chars, blstats, message, inventory, env_reward, done, success, died, step)
        self._cache: dict[Any, Any] = {}

    @classmethod
    def copy_from(cls, obs: dict[str, np.ndarray], env_reward: float = 0.0, done: bool = False,
                  success: bool = False, died: bool = False, step: int = 0) -> State:
        """Build a State from an NLE observation dict, copying what NLE will overwrite on the next step.

        This runs on every environment step: the arguments must already have their types (float, bool, int).
        """
        state = cls.__new__(cls)
        inv = obs.get("inv_strs")
        state._raw = (obs["glyphs"].tobytes(), obs["chars"].tobytes(), obs["blstats"].tobytes(),
                      obs["message"].tobytes(), None if inv is None else inv.tobytes(),
                      env_reward, done, success, died, step)
        state._cache = {}
        return state

    def __reduce__(self) -> tuple[Any, ...]:
        return (State, self._raw)

    def __repr__(self) -> str:
        return f"State(step={self.step}, pos={self.pos}, hp={self.hp}/{self.max_hp}, message={self.message!r})"

    def _glyphs(self) -> np.ndarray:
        glyphs = self._cache.get("glyph_array")
        if glyphs is None:
            glyphs = np.frombuffer(self._raw[_GLYPHS], dtype=np.int16).reshape(_SHAPE)
            self._cache["glyph_array"] = glyphs
        return glyphs

    # ----- episode fields ----------------------------------------------------------------------------
    @property
    def chars(self) -> np.ndarray:
        """21x79 numpy array (uint8) of the map characters; index as state.chars[y, x]; read-only."""
        chars = self._cache.get("char_array")
        if chars is None:
            chars = self._cache["char_array"] = np.frombuffer(self._raw[_CHARS], dtype=np.uint8).reshape(_SHAPE)
        return chars

    @property
    def env_reward(self) -> float:
        """The task's own reward for this step (sparse; -0.01 on steps that take no game time)."""
        return self._raw[_ENV_REWARD]

    @property
    def done(self) -> bool:
        """The episode ended on this step (success, death or step limit); the map then shows the step before."""
        return self._raw[_DONE]

    @property
    def success(self) -> bool:
        """The task was completed on this step (the task's own criterion)."""
        return self._raw[_SUCCESS]

    @property
    def died(self) -> bool:
        """The agent died on this step."""
        return self._raw[_DIED]

    @property
    def step(self) -> int:
        """Steps taken in this episode (0 after reset)."""
        return self._raw[_STEP]

    # ----- status fields (from the bottom line) -------------------------------------------------------
    @property
    def pos(self) -> Point:
        """The agent's (x, y) on the 79x21 map; x grows east, y grows south."""
        return _XY.unpack_from(self._raw[_BL], _X)

    @property
    def hp(self) -> int:
        """Hit points now."""
        return _INT64.unpack_from(self._raw[_BL], _HP)[0]

    @property
    def max_hp(self) -> int:
        """Maximum hit points."""
        return _INT64.unpack_from(self._raw[_BL], _HPMAX)[0]

    @property
    def depth(self) -> int:
        """Dungeon depth (1 at the top)."""
        return _INT64.unpack_from(self._raw[_BL], _DEPTH)[0]

    @property
    def gold(self) -> int:
        """Gold pieces carried."""
        return _INT64.unpack_from(self._raw[_BL], _GOLD)[0]

    @property
    def score(self) -> int:
        """The in-game score."""
        return _INT64.unpack_from(self._raw[_BL], _SCORE)[0]

    @property
    def turn(self) -> int:
        """The game clock (does not advance on actions that take no time)."""
        return _INT64.unpack_from(self._raw[_BL], _TIME)[0]

    @property
    def hunger(self) -> int:
        """Hunger state: 0 satiated, 1 not hungry, 2 hungry, 3 weak, 4 fainting."""
        return _INT64.unpack_from(self._raw[_BL], _HUNGER)[0]

    @property
    def xp_level(self) -> int:
        """Experience level."""
        return _INT64.unpack_from(self._raw[_BL], _XP)[0]

    # ----- text --------------------------------------------------------------------------------------
    @property
    def message(self) -> str:
        """The top-line message of this step ('' when none)."""
        raw = self._raw[_MESSAGE]
        if not raw[0]:  # most steps print nothing
            return ""
        cached = self._cache.get("message")
        if cached is None:
            cached = self._cache["message"] = decode_text(raw)
        return cached

    @property
    def inventory(self) -> tuple[str, ...]:
        """The inventory, one description per item ('a skeleton key', '2 uncursed food rations')."""
        return self._inventory()[0]

    def has_item(self, text: str) -> bool:
        """True when an inventory line contains `text` (case-insensitive), e.g. has_item('key')."""
        text = text.lower()
        _, lines, joined = self._inventory()
        if text and "\n" not in text:  # rows hold no newline: a match in the joined rows is a match in one row
            return text in joined
        return any(text in line for line in lines)

    def _inventory(self) -> InventoryLines:
        lines = self._cache.get("inventory")
        if lines is None:
            lines = self._cache["inventory"] = decode_inventory(self._raw[_INVENTORY])
        return lines

    # ----- map ---------------------------------------------------------------------------------------
    @property
    def categories(self) -> np.ndarray:
        """21x79 array of category codes (see `at`); the agent's own cell is 'agent'."""
        codes = self._cache.get("codes")
        if codes is None:
            codes = CATEGORY_OF_GLYPH.take(self._glyphs(), mode="clip")
            x, y = self.pos
            if 0 <= y < codes.shape[0] and 0 <= x < codes.shape[1]:
                codes[y, x] = _AGENT_CODE
            codes.flags.writeable = False
            self._cache["codes"] = codes
        return codes

    def _points(self, what: str) -> tuple[Point, ...]:
        """Cells showing `what`, cached per State (reward code often asks twice: as `prev` and as `state`)."""
        key = (what,)  # tuple keys keep map names apart from the other cached values
        points = self._cache.get(key)
        if points is not None:
            return points
        width = _SHAPE[1]
        if len(what) == 1:  # one map character: a byte search (memchr), no array pass
            found = _search(self._raw[_CHARS], what.encode("latin-1", errors="replace"), 1)
        else:
            code = CODE.get(what)
            if what in GROUPS or code is None:
                table = MEMBERSHIP.get(what)
                if table is None:
                    raise _unknown_name(what)
                mask = table.take(self.categories)
            else:
                mask = self.categories == code
            found = mask.ravel().nonzero()[0].tolist()
        points = tuple((i % width, i // width) for i in found)
        self._cache[key] = points
        return points

    def find(self, what: str) -> list[Point]:
        """All (x, y) cells showing `what`: a category name ('key', 'closed door', 'lava') or one map character."""
        return list(self._points(what))

    def count(self, what: str) -> int:
        """How many cells show `what`."""
        return len(self._points(what))

    def nearest(self, what: str) -> Point | None:
        """The cell showing `what` closest to the agent (move distance), or None when none is visible."""
        points = self._points(what)
        if not points:
            return None
        if len(points) == 1:
            return points[0]
        x, y = self.pos
        return min(points, key=lambda p: max(abs(p[0] - x), abs(p[1] - y)))

    def distance_to(self, what: str) -> int | None:
        """Move distance from the agent to the nearest `what`, or None when none is visible."""
        target = self.nearest(what)
        return None if target is None else self.distance(self.pos, target)

    def path_to(self, target: str | Point, avoid: tuple[str, ...] = ()) -> int | None:
        """Moves along known cells to the nearest `target` (map name, map character or (x, y)), or None.

        8 neighbours, through every cell the agent can step onto (floor, doorways, open doors, items, monsters,
        boulders, traps, water, lava...; not walls, trees, closed doors or unexplored cells), never diagonally
        into or out of a door. avoid=('lava', 'water') keeps out of the cells of those names or characters; the
        target cell itself is always the last move (a closed door counts). None: no target seen, or no way to
        it through known cells. 0 when standing on an (x, y) target (the map shows the agent, not the cell
        under it, so a name target is never found there). Cached: asking twice costs once.
        """
        try:  # cached: a reward asking twice (or for prev and state) pays once
            return self._cache[("path", target, avoid)]
        except (KeyError, TypeError):  # not computed yet, or list arguments (not hashable)
            pass
        target, avoid = _path_arguments(target, avoid)
        key = ("path", target, avoid)
        if key not in self._cache:
            self._cache[key] = self._path(target, avoid)
        return self._cache[key]

    def _path(self, target: str | Point, avoid: tuple[str, ...]) -> int | None:
        height, width = _SHAPE
        if isinstance(target, str):
            goals = self._points(target)
        else:
            goals = (target,) if 0 <= target[0] < width and 0 <= target[1] < height else ()
        x, y = self.pos
        if not goals or not (0 <= x < width and 0 <= y < height):
            return None
        if (x, y) in goals:
            return 0
        masks = self._cache.get("path_masks")
        if masks is None:  # shared by every path_to of this State: cells the agent can step onto, doors
            kinds = np.zeros((height + 2, PAD_W), dtype=np.uint8)
            kinds[1:-1, 1:-1] = PATH_KIND_OF_GLYPH.take(self._glyphs(), mode="clip")
            masks = self._cache["path_masks"] = (map_bits(kinds & PATH_PASS), map_bits(kinds & PATH_DOOR))
        passable, doors = masks
        for name in avoid:
            passable &= ~cell_bits(self._points(name))
        return breadth_first(1 << ((y + 1) * PAD_W + x + 1), cell_bits(goals), passable, doors)

    @staticmethod
    def distance(a: Point, b: Point) -> int:
        """Move distance between two (x, y) cells: diagonal moves count 1 (Chebyshev distance)."""
        return max(abs(a[0] - b[0]), abs(a[1] - b[1]))

    @staticmethod
    def euclidean(a: Point, b: Point) -> float:
        """Straight-line distance between two (x, y) cells."""
        return math.hypot(a[0] - b[0], a[1] - b[1])

    def at(self, x: int, y: int) -> str:
        """The category name of cell (x, y), e.g. 'floor', 'closed door', 'key'; 'unexplored' off the map."""
        codes = self.categories
        if not (0 <= y < codes.shape[0] and 0 <= x < codes.shape[1]):
            return "unexplored"
        return CATEGORIES[int(codes[y, x])]

    def char_at(self, x: int, y: int) -> str:
        """The map character at (x, y); ' ' off the map."""
        if not (0 <= y < _SHAPE[0] and 0 <= x < _SHAPE[1]):
            return " "
        return chr(self._raw[_CHARS][y * _SHAPE[1] + x])

    @property
    def explored(self) -> int:
        """How many map cells have been seen (are not 'unexplored')."""
        cached = self._cache.get("explored")
        if cached is None:
            cached = int(np.count_nonzero(self.categories != CODE["unexplored"]))
            self._cache["explored"] = cached
        return cached


def _unknown_name(what: str) -> ValueError:
    return ValueError(f"unknown map name {what!r}: use one map character or one of {', '.join(NAMES)}")


def _path_arguments(target: Any, avoid: Any) -> tuple[str | Point, tuple[str, ...]]:
    """path_to's arguments checked and made hashable: a map name or an (x, y) tuple, a tuple of map names."""
    if isinstance(target, str):
        if len(target) != 1 and target not in MEMBERSHIP:
            raise _unknown_name(target)
    elif (isinstance(target, (tuple, list)) and len(target) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in target)):
        target = (int(target[0]), int(target[1]))
    else:
        raise TypeError(f"path_to target must be a map name, one map character or an (x, y) point of two ints, "
                        f"not {target!r}")
    if not isinstance(avoid, (tuple, list)):  # a bare str too: avoid='lava' would read as 4 characters
        raise TypeError(f"path_to avoid must be a tuple or list of map names, e.g. avoid=('lava',), not {avoid!r}")
    for name in avoid:
        if not isinstance(name, str):
            raise TypeError(f"path_to avoid entries must be map names (str), not {name!r}")
        if len(name) != 1 and name not in MEMBERSHIP:
            raise _unknown_name(name)
    return target, tuple(dict.fromkeys(avoid))  # a name given twice is one mask


def _search(haystack: bytes, needle: bytes, itemsize: int) -> list[int]:
    """Element indices where `needle` starts at an element boundary of `haystack`."""
    found, i = [], haystack.find(needle)
    while i >= 0:
        if i % itemsize == 0:
            found.append(i // itemsize)
        i = haystack.find(needle, i + 1)
    return found


#: The names reward code may read on a State: the documented API the critic allows.
STATE_API: frozenset[str] = frozenset(
    name for name in dir(State) if not name.startswith("_") and name not in {"copy_from"}
)
