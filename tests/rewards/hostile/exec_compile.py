# expect: static: `compile` is not allowed
def compute_reward(prev, action, state, memory):
    exec(compile("x = 1", "<x>", "exec"))
    return 0.0, {}
