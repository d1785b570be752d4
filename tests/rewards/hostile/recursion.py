# expect: probe: recursion
def deeper(n):
    return deeper(n + 1) + 1


def compute_reward(prev, action, state, memory):
    return float(deeper(0)), {}
