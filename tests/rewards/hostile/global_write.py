# expect: static: global statements are not allowed
COUNT = 0


def compute_reward(prev, action, state, memory):
    global COUNT
    COUNT += 1
    return float(COUNT), {"count": float(COUNT)}
