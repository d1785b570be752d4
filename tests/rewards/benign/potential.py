# expect: accepted
import math

import numpy as np

SCALE = 0.1


def helper(state):
    target = state.nearest("stairs down") or state.nearest("key")
    return 0.0 if target is None else -SCALE * state.distance(state.pos, target)


def compute_reward(prev, action, state, memory):
    shaping = helper(state) - helper(prev)
    seen = memory.setdefault("seen", set())
    novelty = 0.0
    if state.pos not in seen:
        seen.add(state.pos)
        novelty = 0.01
    key = 1.0 if "key" in state.message and state.has_item("key") else 0.0
    spread = float(np.abs(np.asarray([shaping, novelty])).sum()) * 0.0
    danger = -0.1 if state.hp < prev.hp else 0.0
    return shaping + novelty + key + danger + spread + math.floor(0.5), {
        "shaping": shaping, "novelty": novelty, "key": key, "danger": danger + spread + math.floor(0.5)}
