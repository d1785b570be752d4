# expect: train: raised ZeroDivisionError
# A time bomb: after 270 calls in an episode, a plain error (the simplest late failure).
FUSE = 270


def compute_reward(prev, action, state, memory):
    memory["calls"] = memory.get("calls", 0) + 1
    scale = 1.0 if memory["calls"] <= FUSE else 1.0 / (memory["calls"] - memory["calls"])
    explore = 0.01 * scale * max(0, state.explored - prev.explored)
    return explore, {"explore": explore}
