# expect: static: at module level: only imports, constants and function definitions are allowed there
import math

math.sqrt(2)


def compute_reward(prev, action, state, memory):
    return 0.0, {}
