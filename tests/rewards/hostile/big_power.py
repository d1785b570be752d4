# expect: probe: single call ran over|did not finish|CPU|memory
def compute_reward(prev, action, state, memory):
    value = 10 ** (10 ** 8)
    return float(value % 7), {"v": float(value % 7)}
