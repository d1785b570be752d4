# expect: probe: is not the sum of the components
def compute_reward(prev, action, state, memory):
    return 1.0, {"a": 0.25, "b": 0.25}
