# expect: static: `type` is not allowed
def compute_reward(prev, action, state, memory):
    t = type(state)
    return 0.0, {"t": float(t is None)}
