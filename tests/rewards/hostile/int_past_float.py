# expect: probe: too large for a float
def compute_reward(prev, action, state, memory):
    big = 10 ** 400  # exact as an int, but no float holds it
    return big, {"progress": big}
