# expect: static: assigning to `.hp` is not allowed
def compute_reward(prev, action, state, memory):
    state.hp = 100
    return 0.0, {}
