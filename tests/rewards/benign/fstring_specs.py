# expect: accepted
WIDTH = 6


def compute_reward(prev, action, state, memory):
    x, y = state.pos
    key = f"{x:03d}-{y:>{WIDTH}}|{state.hp / max(1, state.max_hp):.2f}|{action!r}|{state.message!s:.10}|{x!a}"
    count = memory[key] = memory.get(key, 0) + 1
    note = "%(hp)s/%(max)s" % {"hp": state.hp, "max": state.max_hp}
    novelty = 0.01 / count if note else 0.0
    return novelty, {"novelty": novelty}
