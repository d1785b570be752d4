# expect: probe: ZeroDivisionError
def compute_reward(prev, action, state, memory):
    return 1.0 / (state.step - state.step), {}
