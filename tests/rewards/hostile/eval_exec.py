# expect: static: `eval` is not allowed
def compute_reward(prev, action, state, memory):
    return eval("0.0"), {}
