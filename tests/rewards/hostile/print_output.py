# expect: static: `print` is not allowed
def compute_reward(prev, action, state, memory):
    print("x" * 10**9)
    return 0.0, {}
