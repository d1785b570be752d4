# expect: static: `__builtins__` is not allowed as a name
from numpy import array as __builtins__


def compute_reward(prev, action, state, memory):
    return 0.0, {"x": 0.0}
