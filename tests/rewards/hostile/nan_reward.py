# expect: probe: must be finite
def compute_reward(prev, action, state, memory):
    value = float("nan")
    return value, {"broken": value}
