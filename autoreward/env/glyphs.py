"""Glyph → category tables: what reward code and prompts call a map cell ("closed door", "key", "lava").

NetHack draws many things with the same character ('+' is a closed door and a spellbook), so categories
are read from glyph ids, which are unambiguous. Tables are built once at import and used by array lookup.
"""

from __future__ import annotations

import numpy as np
from nle import nethack as nh

# cmap (dungeon feature) indices of NetHack 3.6 `defsyms`, grouped by what they mean to an agent.
_CMAP_GROUPS: dict[str, tuple[int, ...]] = {
    "unexplored": (0,),  # S_stone: solid rock or not yet seen
    "wall": (*tuple(range(1, 12)), 17),  # walls, corners, iron bars
    "doorway": (12,),  # S_ndoor: doorless doorway or broken door
    "open door": (13, 14),
    "closed door": (15, 16),  # closed or locked: they look the same
    "tree": (18,),
    "floor": (19, 20, 39, 40),  # lit/dark room floor, air, cloud
    "corridor": (21, 22),
    "stairs up": (23, 25),  # staircase or ladder up
    "stairs down": (24, 26),  # staircase or ladder down
    "altar": (27,),
    "grave": (28,),
    "throne": (29,),
    "sink": (30,),
    "fountain": (31,),
    "water": (32, 41),
    "ice": (33,),
    "lava": (34,),
    "drawbridge": (35, 36, 37, 38),
    "trap": tuple(range(42, 65)),
}

_OBJECT_CLASSES: dict[int, str] = {
    nh.WEAPON_CLASS: "weapon",
    nh.ARMOR_CLASS: "armor",
    nh.RING_CLASS: "ring",
    nh.AMULET_CLASS: "amulet",
    nh.TOOL_CLASS: "tool",
    nh.FOOD_CLASS: "food",
    nh.POTION_CLASS: "potion",
    nh.SCROLL_CLASS: "scroll",
    nh.SPBOOK_CLASS: "spellbook",
    nh.WAND_CLASS: "wand",
    nh.COIN_CLASS: "gold",
    nh.GEM_CLASS: "gem",
    nh.ROCK_CLASS: "boulder",
    nh.BALL_CLASS: "item",
    nh.CHAIN_CLASS: "item",
    nh.VENOM_CLASS: "item",
    nh.ILLOBJ_CLASS: "item",
}
_KEY_OBJECTS = ("skeleton key", "lock pick", "credit card")

#: Every category name, in a fixed order (their index is the category code).
CATEGORIES: tuple[str, ...] = (
    "other",
    "agent",
    *_CMAP_GROUPS,
    "key",
    *sorted(set(_OBJECT_CLASSES.values())),
    "corpse",
    "statue",
    "monster",
    "pet",
)
CODE: dict[str, int] = {name: i for i, name in enumerate(CATEGORIES)}

#: Names that cover several categories.
GROUPS: dict[str, tuple[str, ...]] = {
    "door": ("doorway", "open door", "closed door"),
    "item": ("key", *sorted(set(_OBJECT_CLASSES.values()) - {"boulder"}), "corpse"),
    "monster": ("monster", "pet"),
    "stairs": ("stairs up", "stairs down"),
    "walkable": ("floor", "corridor", "doorway", "open door", "stairs up", "stairs down", "ice", "altar",
                 "fountain", "sink", "throne", "grave", "trap"),
}

#: Categories that are the scenery of a level, not worth naming one by one in a text rendering.
SCENERY: frozenset[str] = frozenset({"unexplored", "wall", "floor", "corridor", "other", "agent"})


def _classify(glyph: int) -> str:
    if nh.glyph_is_pet(glyph):
        return "pet"
    if nh.glyph_is_monster(glyph) or nh.glyph_is_invisible(glyph) or nh.glyph_is_warning(glyph):
        return "monster"
    if nh.glyph_is_body(glyph):
        return "corpse"
    if nh.glyph_is_statue(glyph):
        return "statue"
    if nh.glyph_is_object(glyph):
        obj = nh.objclass(nh.glyph_to_obj(glyph))
        if nh.OBJ_NAME(obj) in _KEY_OBJECTS:
            return "key"
        return _OBJECT_CLASSES.get(ord(obj.oc_class), "item")
    if nh.glyph_is_cmap(glyph):
        cmap = nh.glyph_to_cmap(glyph)
        for name, indices in _CMAP_GROUPS.items():
            if cmap in indices:
                return name
    return "other"


def _build_tables() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    category_of_glyph = np.array([CODE[_classify(g)] for g in range(nh.MAX_GLYPH + 1)], dtype=np.uint8)
    member: dict[str, np.ndarray] = {}
    for name in CATEGORIES:
        table = np.zeros(len(CATEGORIES), dtype=bool)
        table[CODE[name]] = True
        member[name] = table
    for name, parts in GROUPS.items():
        table = np.zeros(len(CATEGORIES), dtype=bool)
        table[[CODE[p] for p in parts]] = True
        member[name] = table
    return category_of_glyph, member


#: category code of every glyph id (index: glyph id).
CATEGORY_OF_GLYPH, MEMBERSHIP = _build_tables()

#: Every name accepted by `State.find` and friends, besides single map characters.
NAMES: tuple[str, ...] = tuple(MEMBERSHIP)


#: Whether the agent can step onto a cell of each category, and why (`State.path_to` walks these).
#: Hazards are passable (the agent can step there, and `avoid=` leaves them out); a category is blocked
#: only when the step itself fails.
PASSABLE: dict[str, tuple[bool, str]] = {
    "other": (False, "beams, explosions and the inside of an engulfer: what lies beneath is not known"),
    "agent": (True, "the agent's own cell, where every path starts"),
    "unexplored": (False, "not seen yet, or solid rock"),
    "wall": (False, "walls and iron bars"),
    "doorway": (True, "no door or a broken one: entered and left diagonally too"),
    "open door": (True, "entered and left only orthogonally (NetHack's door rule)"),
    "closed door": (False, "must be opened, unlocked or kicked first (and then only entered orthogonally)"),
    "tree": (False, "blocks movement like a wall"),
    "floor": (True, "room floor (lit or dark), air, cloud"),
    "corridor": (True, "corridor"),
    "stairs up": (True, "the agent stands on stairs to use them"),
    "stairs down": (True, "the agent stands on stairs to use them"),
    "altar": (True, "furniture the agent stands on"),
    "grave": (True, "furniture the agent stands on"),
    "throne": (True, "furniture the agent stands on"),
    "sink": (True, "furniture the agent stands on"),
    "fountain": (True, "furniture the agent stands on"),
    "water": (True, "the agent can step in, and drowns unless it swims or flies: avoid=('water',)"),
    "ice": (True, "slippery floor"),
    "lava": (True, "the agent can step in, and burns to death: avoid=('lava',)"),
    "drawbridge": (True, "a lowered drawbridge is a bridge; a raised one is a wall (its glyphs are blocked)"),
    "trap": (True, "the agent can step on a seen trap (it may trigger): avoid=('trap',)"),
    "key": (True, "an object lying on the floor"),
    "amulet": (True, "an object lying on the floor"),
    "armor": (True, "an object lying on the floor"),
    "boulder": (True, "stepping onto it pushes it (unless a wall, a boulder or a monster lies behind)"),
    "food": (True, "an object lying on the floor"),
    "gem": (True, "an object lying on the floor (gray stones too)"),
    "gold": (True, "an object lying on the floor"),
    "item": (True, "an object lying on the floor"),
    "potion": (True, "an object lying on the floor"),
    "ring": (True, "an object lying on the floor"),
    "scroll": (True, "an object lying on the floor"),
    "spellbook": (True, "an object lying on the floor"),
    "tool": (True, "an object lying on the floor"),
    "wand": (True, "an object lying on the floor"),
    "weapon": (True, "an object lying on the floor"),
    "corpse": (True, "an object lying on the floor"),
    "statue": (True, "an object on the floor: NetHack's test_move blocks boulders, not statues"),
    "monster": (True, "monsters move or can be fought: avoid=('monster',) routes around them"),
    "pet": (True, "the agent swaps places with its pet"),
}
if set(PASSABLE) != set(CATEGORIES):
    raise ImportError(f"PASSABLE must cover every category: {sorted(set(PASSABLE) ^ set(CATEGORIES))}")

#: Bits of `PATH_KIND_OF_GLYPH`: the agent can step onto the cell; the cell holds a door (open or closed),
#: which NetHack never lets the agent enter or leave diagonally.
PATH_PASS, PATH_DOOR = 1, 2


def _build_path_kinds() -> np.ndarray:
    kind_of_code = np.array([PATH_PASS * PASSABLE[name][0] for name in CATEGORIES], dtype=np.uint8)
    for name in ("open door", "closed door"):
        kind_of_code[CODE[name]] |= PATH_DOOR
    kinds = kind_of_code[CATEGORY_OF_GLYPH]
    kinds[[nh.GLYPH_CMAP_OFF + cmap for cmap in (37, 38)]] = 0  # S_vcdbridge, S_hcdbridge: raised drawbridge
    return kinds


#: PATH_PASS | PATH_DOOR bits of every glyph id: PASSABLE by category, but a raised drawbridge is blocked.
PATH_KIND_OF_GLYPH = _build_path_kinds()
