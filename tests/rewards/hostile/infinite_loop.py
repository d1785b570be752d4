# expect: probe: single call ran over|did not finish|CPU|memory
def compute_reward(prev, action, state, memory):
    n = 0
    while True:
        n += 1
    return 0.0, {}
