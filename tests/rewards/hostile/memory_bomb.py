# expect: probe: ran out of memory
import numpy as np


def compute_reward(prev, action, state, memory):
    blocks = []
    while True:
        blocks.append(np.ones(2**26))
    return 0.0, {}
