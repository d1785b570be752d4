# expect: static: dunder name `__dict__` is not allowed
def compute_reward(prev, action, state, memory):
    match memory:
        case {"n": n, **__dict__}:
            value = float(n)
        case _:
            value = 0.0
    return value, {"value": value}
