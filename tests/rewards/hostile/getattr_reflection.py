# expect: static: `getattr` is not allowed
def compute_reward(prev, action, state, memory):
    f = getattr(state, "__class__")
    return 0.0, {"f": float(f is None)}
