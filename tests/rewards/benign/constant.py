# expect: accepted, warning: is constant
def compute_reward(prev, action, state, memory):
    return -0.01, {"time": -0.01}
