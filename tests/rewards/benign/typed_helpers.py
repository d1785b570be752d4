# expect: accepted
"""KeyRoom, written the way a careful engineer would: future import, aliases, type hints, named constants."""
from __future__ import annotations

import math as m
from math import hypot, sqrt

import numpy as np

STEP_PENALTY = -0.001
KEY_BONUS, DOOR_BONUS = 1.0, 0.5
GOAL_BONUS = -100 * STEP_PENALTY
WEIGHTS: dict[str, float] = {"key": KEY_BONUS, "door": DOOR_BONUS, "goal": GOAL_BONUS}
TWO_PI = 2 * m.pi
INF = np.inf
SUBGOALS = ("key", "closed door", "stairs down")
FIRST, *LATER = SUBGOALS
HAZARDS = ("lava", "water")


def subgoal(state) -> str:
    """The current subgoal: the key, then the door, then the stairs."""
    if not state.has_item("key"):
        return FIRST
    return LATER[0] if state.count("closed door") else LATER[-1]


def path_length(state, target: str) -> float | None:
    """Moves to `target` around hazards, or None when there is no known way."""
    steps = state.path_to(target, avoid=HAZARDS)
    return None if steps is None else float(steps)


def compute_reward(prev, action: int, state, memory: dict) -> tuple[float, dict[str, float]]:
    """Potential-based approach to the current subgoal, one-off milestones and a little novelty."""
    components: dict[str, float] = {"step": STEP_PENALTY}
    target = subgoal(state)
    before, after = path_length(prev, target), path_length(state, target)
    same = subgoal(prev) == target and before is not None and after is not None
    components["approach"] = 0.02 * (before - after) if same else 0.0
    got_key = state.has_item("key") and not prev.has_item("key")
    components["key"] = WEIGHTS["key"] if got_key else 0.0
    opened = state.count("closed door") < prev.count("closed door") and not memory.get("opened")
    if opened:
        memory["opened"] = True
    components["door"] = WEIGHTS["door"] if opened else 0.0
    components["goal"] = WEIGHTS["goal"] if state.success else 0.0
    visits = memory.setdefault("visits", {})
    visits[state.pos] = visits.get(state.pos, 0) + 1
    (x, y), (px, py) = state.pos, prev.pos
    moved = hypot(x - px, y - py) > 0 and m.cos(TWO_PI) > 0 and INF > 0
    components["novelty"] = round(0.01 / sqrt(visits[state.pos]), 6) if moved else 0.0
    return sum(components.values()), components
