# expect: probe: unknown map name 'treasure'
def compute_reward(prev, action, state, memory):
    d = state.distance_to("treasure")
    return 0.0, {"d": float(d or 0)}
