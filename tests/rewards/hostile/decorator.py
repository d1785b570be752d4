# expect: static: decorators are not allowed
def wrap(fn):
    return fn


@wrap
def compute_reward(prev, action, state, memory):
    return 0.0, {}
