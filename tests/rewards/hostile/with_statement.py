# expect: static: with-statements are not allowed
def compute_reward(prev, action, state, memory):
    with memory.get("handle") as handle:
        value = float(handle is None)
    return value, {"value": value}
