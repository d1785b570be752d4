# expect: static: class definitions are not allowed
class Sneaky:
    pass


def compute_reward(prev, action, state, memory):
    return 0.0, {}
