# expect: static: `except*` is not allowed
def compute_reward(prev, action, state, memory):
    try:
        value = memory["value"]
    except* KeyError:
        value = 0.0
    return value, {"value": value}
