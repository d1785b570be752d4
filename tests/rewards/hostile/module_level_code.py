# expect: static: module-level assignments must bind a name to a constant
import math

TABLE = [math.sqrt(i) for i in range(10)]


def compute_reward(prev, action, state, memory):
    return 0.0, {}
math.sqrt(2)
