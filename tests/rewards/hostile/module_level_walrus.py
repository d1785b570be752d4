# expect: static: module-level assignments must bind a name to a constant
SCALE = (CACHE := [0.1])


def compute_reward(prev, action, state, memory):
    CACHE.append(state.pos)
    return SCALE[0], {"scale": SCALE[0]}
