# expect: static: private attribute `._raw` is not allowed
def compute_reward(prev, action, state, memory):
    return 0.0, {"raw": float(len(state._raw))}
