# expect: static: attribute `.tofile` is not part of the documented API
def compute_reward(prev, action, state, memory):
    state.chars.tofile("/tmp/leak.bin")
    return 0.0, {}
