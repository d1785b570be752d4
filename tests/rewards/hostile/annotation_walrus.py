# expect: static: annotation `(CACHE := [])` must only name types
def helper(pos: (CACHE := [])) -> float:
    # Annotations run when the function is defined: this binds a module-level list no static rule tracks.
    CACHE.append(pos)
    return float(len(CACHE))


def compute_reward(prev, action, state, memory):
    bonus = 0.001 * helper(state.pos)
    return bonus, {"bonus": bonus}
