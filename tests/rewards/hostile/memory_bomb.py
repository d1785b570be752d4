# expect: probe: ran out of memory
import numpy as np


def compute_reward(prev, action, state, memory):
    blocks = []
    while True:
        blocks.append(np.zeros(2**25))  # 256 MiB each, until the probe's address-space limit refuses one
    return 0.0, {}
