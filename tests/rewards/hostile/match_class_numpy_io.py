# expect: static: class patterns (`case T(...)`) are not allowed
import numpy as np


def compute_reward(prev, action, state, memory):
    # `case np.ndarray(dump=f)` binds the array's `.dump` method (file I/O) without writing `.dump`.
    match state.chars:
        case np.ndarray(dump=f):
            f("/tmp/autoreward_leak")
    return 0.0, {"io": 0.0}
