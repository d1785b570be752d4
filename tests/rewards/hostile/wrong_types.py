# expect: probe: must return a tuple
def compute_reward(prev, action, state, memory):
    return {"progress": 1.0}
