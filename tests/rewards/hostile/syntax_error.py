# expect: static: syntax error
def compute_reward(prev, action, state, memory)
    return 0.0, {}
