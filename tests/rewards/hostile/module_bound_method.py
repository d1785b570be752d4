# expect: static: module-level assignments must bind a name to a constant
# A bound method of a module-level dict, taken before the dict is frozen, would keep state across calls and episodes.
STORE = {}
REMEMBER = STORE.setdefault


def compute_reward(prev, action, state, memory):
    seen = REMEMBER("seen", [])
    seen.append(state.pos)
    bonus = 0.01 if len(seen) > 1000 else 0.0
    return bonus, {"bonus": bonus}
