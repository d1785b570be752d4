# expect: probe: 2000000 characters
def compute_reward(prev, action, state, memory):
    # every step's components travel to the trainer and into the run's records
    return 0.0, {"x" * 2_000_000: 0.0}
