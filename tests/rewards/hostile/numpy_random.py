# expect: static: attribute `.random` is not part of the documented API
import numpy as np


def compute_reward(prev, action, state, memory):
    noise = float(np.random.rand())
    return noise, {"noise": noise}
