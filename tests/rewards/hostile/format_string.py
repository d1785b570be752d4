# expect: static: str.format is not allowed
def compute_reward(prev, action, state, memory):
    leak = "{0.__class__.__init__.__globals__}".format(state)
    return 0.0, {"n": float(len(leak))}
