# expect: static: parameter default `CACHE` is not a constant
CACHE = {}


def visits(pos, cache=CACHE):
    cache[pos] = cache.get(pos, 0) + 1
    return cache[pos]


def compute_reward(prev, action, state, memory):
    bonus = 0.01 / visits(state.pos)
    return bonus, {"bonus": bonus}
