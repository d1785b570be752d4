"""A reward for the toy plugin card: closer to the stairs pays, through ToyState's own API only."""


def compute_reward(prev, action, state, memory):
    if prev.distance is None or state.distance is None:
        return 0.0, {"progress": 0.0}
    progress = 0.1 * (prev.distance - state.distance)
    return progress, {"progress": progress}
