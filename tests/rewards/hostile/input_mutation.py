# expect: probe: tried to modify its input State
def compute_reward(prev, action, state, memory):
    chars = state.chars
    chars[0, 0] = 64
    return 0.0, {}
