# expect: static: `seen.append(...)` changes module-level `SEEN` (`seen` is the same object)
SEEN = []


def compute_reward(prev, action, state, memory):
    seen = SEEN
    seen.append(state.pos)
    bonus = 0.001 * len(seen)
    return bonus, {"bonus": bonus}
