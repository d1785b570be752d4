# expect: train: out of memory
# A time bomb: behaves for the probe (episodes of at most 250 steps), then holds 128 MiB more per call.
import numpy as np

FUSE = 270


def compute_reward(prev, action, state, memory):
    memory["calls"] = memory.get("calls", 0) + 1
    if memory["calls"] > FUSE:
        memory.setdefault("junk", []).append(np.ones(1 << 24))
    explore = 0.01 * max(0, state.explored - prev.explored)
    return explore, {"explore": explore}
