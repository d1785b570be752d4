# expect: static: attribute `.save` is not part of the documented API
import numpy as np


def compute_reward(prev, action, state, memory):
    np.save("/tmp/leak.npy", state.chars)
    return 0.0, {}
