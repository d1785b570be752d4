# expect: static: `SEEN.append(...)` changes a module-level value
SEEN = []


def compute_reward(prev, action, state, memory):
    SEEN.append(state.pos)
    return float(len(SEEN)), {"seen": float(len(SEEN))}
