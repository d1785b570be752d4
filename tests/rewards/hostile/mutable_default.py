# expect: static: parameter default `{}` is not a constant
def _n(store={}):
    # The default dict is created once and shared by every call: a counter that survives episodes.
    store["n"] = store.get("n", 0) + 1
    return store["n"]


def compute_reward(prev, action, state, memory):
    bonus = 0.01 * _n()
    return bonus, {"bonus": bonus}
