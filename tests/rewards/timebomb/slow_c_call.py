# expect: train: stopped responding
# A time bomb: after 270 calls in an episode, one C-level call of several seconds (a BLAS product of two
# 5000 x 5000 matrices, three times) that no signal interrupts: only the trainer's watchdog can end it.
import numpy as np

FUSE = 270


def compute_reward(prev, action, state, memory):
    memory["calls"] = memory.get("calls", 0) + 1
    size = 0.0
    if memory["calls"] > FUSE:
        square = np.ones((5000, 5000))
        for _ in range(3):  # ~4 s each here: far past the watchdog's limit in the test
            size = float(np.dot(square, square)[0, 0] > 0)
    explore = 0.01 * max(0, state.explored - prev.explored)
    return explore, {"explore": explore, "size": 0.0 * size}
