# expect: static: class patterns (`case T(...)`) are not allowed
def compute_reward(prev, action, state, memory):
    # A class pattern reads attributes by keyword, with no `.attr` in the source: here the dunder __class__.
    match action:
        case int(__class__=c):
            leak = c
        case _:
            leak = None
    return 0.0, {"leak": float(leak is None)}
