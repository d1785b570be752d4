# expect: static: str.format is not allowed
TEMPLATE = "{0._raw}"


def compute_reward(prev, action, state, memory):
    fmt = TEMPLATE.format
    return 0.0, {"n": float(len(fmt(state)))}
