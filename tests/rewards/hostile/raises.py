# expect: probe: raised KeyError
def compute_reward(prev, action, state, memory):
    return memory["missing"], {}
