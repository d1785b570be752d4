# expect: probe: component 'progress' must be a float
def compute_reward(prev, action, state, memory):
    return 0.0, {"progress": "a lot"}
