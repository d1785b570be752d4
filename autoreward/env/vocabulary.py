"""NetHack's words for directions and hunger, written once: compass moves, the 16-point compass, hunger states.

Map coordinates have y growing south, so north is (0, -1).
"""

from __future__ import annotations

#: The 8 compass moves by name as (dx, dy): the four cardinal ones first (searches try them first).
MOVES: dict[str, tuple[int, int]] = {
    "north": (0, -1), "east": (1, 0), "south": (0, 1), "west": (-1, 0),
    "northeast": (1, -1), "southeast": (1, 1), "southwest": (-1, 1), "northwest": (-1, -1),
}
#: The agent's 8 neighbours, clockwise from north, as (dx, dy).
NEIGHBOURS: tuple[tuple[int, int], ...] = tuple(MOVES[name] for name in (
    "north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"))
#: The name of each compass move by its (dx, dy).
MOVE_NAMES: dict[tuple[int, int], str] = {delta: name for name, delta in MOVES.items()}
#: NLE's short names of the compass actions ('n', 'ne', ...) and the full ones.
SHORT_MOVES: dict[str, str] = {"n": "north", "ne": "northeast", "e": "east", "se": "southeast",
                               "s": "south", "sw": "southwest", "w": "west", "nw": "northwest"}
#: The 16-point compass, counter-clockwise from east (index = angle // 22.5 degrees).
COMPASS16: tuple[str, ...] = (
    "east", "east-northeast", "northeast", "north-northeast", "north", "north-northwest", "northwest",
    "west-northwest", "west", "west-southwest", "southwest", "south-southwest", "south", "south-southeast",
    "southeast", "east-southeast",
)
#: The bottom line's hunger states by value (0 satiated ... 6 starved).
HUNGER: tuple[str, ...] = ("satiated", "not hungry", "hungry", "weak", "fainting", "fainted", "starved")


def hunger_name(value: int) -> str:
    """The word for a hunger value; the number itself when NetHack reports one outside the table."""
    return HUNGER[value] if 0 <= value < len(HUNGER) else str(value)
