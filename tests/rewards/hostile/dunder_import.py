# expect: static: `__import__` is not allowed
def compute_reward(prev, action, state, memory):
    __import__("os").remove("/tmp/x")
    return 0.0, {}
