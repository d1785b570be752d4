"""Shortest paths on NetHack's map as bit masks: each cell one bit of a Python int, a search step a few shifts.

The map is padded with a border of blocked cells: cell (x, y) is bit (y + 1) * PAD_W + x + 1, so its
neighbours are the bits 1 and PAD_W away (shifts, no bounds checks). `State.path_to` builds the masks.
"""

from __future__ import annotations

import numpy as np

Point = tuple[int, int]
MAP_WIDTH = 79  # NLE's map: columns x = 0..78, rows y = 0..20
PAD_W = MAP_WIDTH + 2


def map_bits(mask: np.ndarray) -> int:
    """A padded map mask (nonzero: set) as the bits of a Python int, cell i as bit i."""
    return int.from_bytes(np.packbits(mask.ravel() != 0, bitorder="little").tobytes(), "little")


def cell_bits(points: tuple[Point, ...]) -> int:
    """(x, y) cells as the bits of a Python int (padded map)."""
    bits = 0
    for x, y in points:
        bits |= 1 << ((y + 1) * PAD_W + x + 1)
    return bits


def breadth_first(start: int, goals: int, passable: int, doors: int) -> int | None:
    """Moves from the `start` cell to the nearest `goals` cell, or None: a breadth-first search that moves all
    the cells at one distance at once (bit masks of the padded map, see PAD_W). `goals` are entered even
    when not `passable`; nothing moves diagonally into or out of a `doors` cell."""
    not_doors = ~doors
    reached = frontier = start
    moves = 0
    while frontier:
        moves += 1
        free = frontier & not_doors  # cells that may move diagonally
        free = free << 1 | free >> 1  # their east and west neighbours: one row up or down is a diagonal
        step = (frontier << 1 | frontier >> 1 | frontier << PAD_W | frontier >> PAD_W
                | (free << PAD_W | free >> PAD_W) & not_doors)
        if step & goals:
            return moves
        frontier = step & passable & ~reached
        reached |= frontier
    return None
