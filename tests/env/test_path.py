"""State.path_to: moves along known, passable cells (BFS), against hand-drawn maps and one real env."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from nle import nethack as nh

from autoreward.env.glyphs import CATEGORIES, PASSABLE
from autoreward.env.state import State

# Drawing character -> (glyph id, map character). Cmap indices as in glyphs._CMAP_GROUPS.
_CMAP = nh.GLYPH_CMAP_OFF
LEGEND = {
    " ": (_CMAP + 0, " "),  # unexplored
    "-": (_CMAP + 2, "-"),  # wall
    "|": (_CMAP + 1, "|"),  # wall
    ".": (_CMAP + 19, "."),  # floor
    "d": (_CMAP + 12, "."),  # doorway (no door)
    "D": (_CMAP + 13, "-"),  # open door
    "+": (_CMAP + 15, "+"),  # closed door
    "}": (_CMAP + 34, "}"),  # lava
    "~": (_CMAP + 32, "}"),  # water (NetHack draws it as '}' too)
    ">": (_CMAP + 24, ">"),  # stairs down
    "^": (_CMAP + 42, "^"),  # trap
    "(": (nh.GLYPH_OBJ_OFF + 196, "("),  # skeleton key
    "0": (nh.GLYPH_OBJ_OFF + 447, "0"),  # boulder
    "F": (nh.GLYPH_MON_OFF + 0, "a"),  # a monster (drawn 'a' on the map)
    "@": (nh.GLYPH_MON_OFF + 1, "@"),  # the agent
}


def make_state(*rows: str, origin: tuple[int, int] = (10, 3)) -> State:
    """A State of the drawn map placed at `origin` (the rest unexplored), the agent where '@' is drawn."""
    glyphs = np.full((21, 79), _CMAP, dtype=np.int16)
    chars = np.full((21, 79), ord(" "), dtype=np.uint8)
    blstats = np.zeros(nh.NLE_BLSTATS_SIZE, dtype=np.int64)
    ox, oy = origin
    for dy, row in enumerate(rows):
        for dx, drawn in enumerate(row):
            glyph, char = LEGEND[drawn]
            glyphs[oy + dy, ox + dx], chars[oy + dy, ox + dx] = glyph, ord(char)
            if drawn == "@":
                blstats[nh.NLE_BL_X], blstats[nh.NLE_BL_Y] = ox + dx, oy + dy
    assert blstats[nh.NLE_BL_X] or blstats[nh.NLE_BL_Y], "draw the agent"
    return State(glyphs.tobytes(), chars.tobytes(), blstats.tobytes(), bytes(256), None)


def test_walls_force_a_detour():
    state = make_state(
        "---------",
        "|.......|",
        "|...|...|",
        "|...|...|",
        "|.@.|.>.|",
        "---------",
    )
    assert state.distance_to("stairs down") == 4
    assert state.path_to("stairs down") == 6  # up to the wall's end (3 moves) and down again (3)
    blocked = make_state(
        "---------",
        "|...|...|",
        "|...|...|",
        "|...|...|",
        "|.@.|.>.|",
        "---------",
    )
    assert blocked.path_to("stairs down") is None  # the wall spans the room: no way round


def test_lava_stream_with_one_gap():
    state = make_state(
        "---------",
        "|@......|",
        "|.......|",
        "|}}}}}}.|",
        "|......>|",
        "---------",
    )
    assert state.distance_to("stairs down") == 6
    assert state.path_to("stairs down") == 6  # straight through the lava: it can be stepped on
    assert state.path_to("stairs down", avoid=("lava",)) == 7  # through the gap at the east wall
    assert state.path_to("stairs down", avoid=("}",)) == 7  # one map character
    assert state.path_to("stairs down", avoid=["lava", "water"]) == 7  # a list works too


def test_avoid_a_single_character_keeps_other_hazards():
    state = make_state(
        "--------",
        "|@.....|",
        "|~~~~}.|",
        "|.....>|",
        "--------",
    )
    # '}' is both water and lava on the map: avoiding the character avoids both, the name only one.
    assert state.path_to(">", avoid=("}",)) == 6
    assert state.path_to(">", avoid=("lava",)) == 5
    assert state.path_to(">", avoid=("water",)) == 5


def test_unexplored_cells_block():
    state = make_state(
        "....   ...",
        ".@..   ..>",
        "....   ...",
    )
    assert state.distance_to(">") == 8
    assert state.path_to(">") is None  # the stairs are seen, but no known cells join them


def test_target_missing_or_off_the_map_is_none():
    state = make_state(
        "-----",
        "|@..|",
        "-----",
    )
    assert state.path_to("stairs down") is None
    assert state.path_to("key") is None
    assert state.path_to((-1, 4)) is None
    assert state.path_to((79, 4)) is None
    assert state.path_to((3, 21)) is None


def test_standing_on_the_target_is_zero_and_point_targets():
    state = make_state(
        "------",
        "|@...|",
        "|....|",
        "------",
    )
    x, y = state.pos
    assert state.path_to((x, y)) == 0
    assert state.path_to([x, y]) == 0
    assert state.path_to("agent") == 0 and state.path_to("@") == 0
    assert state.path_to((x + 3, y + 1)) == 3
    assert state.path_to((np.int64(x + 2), np.int64(y))) == 2
    assert state.path_to((x - 1, y)) == 1  # a wall as the target: its cell is the last step
    assert state.path_to((x - 2, y)) is None  # beyond the wall: unexplored


def test_nearest_target_by_path_not_by_straight_line():
    state = make_state(
        "----------",
        "|.>|.....|",
        "|..|@....|",
        "|..|.....|",
        "|..|....>|",
        "|........|",
        "----------",
    )
    assert state.nearest(">") == (12, 4) and state.distance_to(">") == 2  # straight line: behind the wall
    assert state.path_to((12, 4)) == 7  # around the wall's foot
    assert state.path_to(">") == 4  # the other stairs, further by straight line, nearer by path
    assert state.path_to((18, 7)) == 4


def test_no_diagonal_move_into_or_out_of_an_open_door():
    rows = (
        "|.....|",
        "|.@...|",
        "---D---",
        "|.....|",
        "|....>|",
    )
    state = make_state(*rows)
    door = (3 + 10, 2 + 3)
    assert state.distance(state.pos, door) == 1
    assert state.path_to(door) == 2  # east, then south into the door
    assert state.path_to((4 + 10, 3 + 3)) == 4  # east, south, south, then east: not out diagonally
    doorway = make_state(*(row.replace("D", "d") for row in rows))
    assert doorway.path_to(door) == 1  # a doorway without a door allows diagonals
    assert doorway.path_to((4 + 10, 3 + 3)) == 2


def test_closed_door_blocks_but_counts_as_the_target():
    state = make_state(
        "|.....|",
        "|.@...|",
        "---+---",
        "|....>|",
    )
    door = (3 + 10, 2 + 3)
    assert state.path_to("stairs down") is None  # the closed door must be opened first
    assert state.path_to("closed door") == 2  # east, then the step onto the door (never diagonally)
    assert state.path_to("+") == 2
    assert state.path_to(door) == 2
    assert state.path_to("door") == 2
    assert state.path_to("closed door", avoid=("closed door",)) == 2  # the target is entered even if avoided


def test_things_on_the_floor_and_monsters_are_passable_unless_avoided():
    state = make_state(
        "-------",
        "|..F..|",
        "|@(0^>|",
        "|..F..|",
        "-------",
    )
    assert state.path_to(">") == 4  # over the key, the boulder and the trap
    assert state.path_to(">", avoid=("item", "boulder", "trap")) == 4  # over a monster, then diagonally down
    assert state.path_to(">", avoid=("item", "boulder", "trap", "monster")) is None
    assert state.path_to(">", avoid=("a",)) == 4


def test_path_is_cached_per_state():
    state = make_state(
        "--------",
        "|@.....|",
        "|}}}}}.|",
        "|.....>|",
        "--------",
    )
    assert not any(isinstance(key, tuple) and key[0] == "path" for key in state._cache)  # nothing up front
    assert state.path_to("stairs down", avoid=("lava",)) == 6
    key = ("path", "stairs down", ("lava",))
    assert key in state._cache
    state._cache[key] = 99  # a second call returns the cached value, without searching again
    assert state.path_to("stairs down", avoid=("lava",)) == 99
    assert state.path_to("stairs down", avoid=["lava"]) == 99  # a list is normalised to the same key
    assert state.path_to("stairs down") == 5  # other arguments: their own entry
    assert ("path", "stairs down", ()) in state._cache
    assert state.path_to([6 + 10, 3 + 3]) == 5
    assert ("path", (16, 6), ()) in state._cache


def test_bad_arguments_raise():
    state = make_state(
        "-----",
        "|@.>|",
        "-----",
    )
    with pytest.raises(ValueError, match="unknown map name 'lavaa': use one map character or one of"):
        state.path_to("stairs down", avoid=("lavaa",))
    with pytest.raises(ValueError, match="unknown map name 'stair'"):  # checked even with no target on the map
        state.path_to("key", avoid=("stair",))
    with pytest.raises(ValueError, match="unknown map name 'stair down'"):
        state.path_to("stair down")
    with pytest.raises(TypeError, match="tuple or list of map names"):
        state.path_to("stairs down", avoid="lava")  # a bare string is not a tuple of names
    with pytest.raises(TypeError, match="map names"):
        state.path_to("stairs down", avoid=(3,))
    with pytest.raises(TypeError, match="path_to target"):
        state.path_to((1, 2, 3))
    with pytest.raises(TypeError, match="path_to target"):
        state.path_to((1.0, 2))
    with pytest.raises(TypeError, match="path_to target"):
        state.path_to(None)


def reference_path(state: State, goals: set, avoid: tuple[str, ...] = ()) -> int | None:
    """A plain breadth-first search over (x, y) cells, one cell at a time: what path_to must agree with."""
    avoided = {p for name in avoid for p in state.find(name)}
    start = state.pos
    if start in goals:
        return 0

    def door(p):
        return state.at(*p) in ("open door", "closed door")

    moves, queue = {start: 0}, deque([start])
    while queue:
        p = queue.popleft()
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                q = (p[0] + dx, p[1] + dy)
                if q in moves or not (0 <= q[0] < 79 and 0 <= q[1] < 21):
                    continue
                if dx and dy and (door(p) or door(q)):
                    continue
                if q in goals:
                    return moves[p] + 1
                if PASSABLE[state.at(*q)][0] and q not in avoided:
                    moves[q] = moves[p] + 1
                    queue.append(q)
    return None


@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_a_plain_search_on_random_maps(seed):
    """Whole 79x21 random maps (edges included): the bit-mask search moves exactly as a cell-by-cell one."""
    rng = np.random.default_rng(seed)
    tiles = np.array(list(".-  }~DdD+>(0F^"))
    weights = np.array([40, 8, 4, 4, 6, 3, 2, 2, 2, 2, 0.3, 1, 1, 1, 1])
    drawing = rng.choice(tiles, size=(21, 79), p=weights / weights.sum())
    ax, ay = int(rng.integers(79)), int(rng.integers(21))
    drawing[ay, ax] = "@"
    state = make_state(*("".join(row) for row in drawing), origin=(0, 0))
    checked = 0
    for target, avoid in [(">", ()), (">", ("lava",)), (">", ("}",)), ("door", ("lava", "water")),
                          ("key", ("monster", "trap")), ("closed door", ()), ("lava", ("lava",))]:
        assert state.path_to(target, avoid=avoid) == reference_path(state, set(state.find(target)), avoid)
        checked += state.path_to(target, avoid=avoid) is not None
    for _ in range(20):
        point = (int(rng.integers(79)), int(rng.integers(21)))
        assert state.path_to(point, avoid=("lava",)) == reference_path(state, {point}, ("lava",))
    assert checked  # the maps are open enough for some paths to exist


def test_every_category_has_a_passability_and_a_reason():
    assert set(PASSABLE) == set(CATEGORIES)
    assert all(isinstance(ok, bool) and why for ok, why in PASSABLE.values())
    blocked = {name for name, (ok, _) in PASSABLE.items() if not ok}
    assert blocked == {"other", "unexplored", "wall", "tree", "closed door"}


def test_real_lava_crossing():
    from autoreward.env.registry import card_for

    task = "MiniHack-LavaCrossingS9N1-v0"
    card = card_for(task)
    env = card.make(task, seed=0)
    try:
        obs, _ = env.reset()
        state = card.state(obs)
    finally:
        env.close()
    assert state.count("lava") > 0
    path = state.path_to("stairs down", avoid=("lava",))
    assert path is not None and path >= state.distance_to("stairs down")
    assert state.path_to("stairs down") <= path
