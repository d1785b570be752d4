# expect: accepted, info: is 0 on all
def compute_reward(prev, action, state, memory):
    """Only a goal bonus, paid when the task is done: random play on KeyRoom never gets there."""
    goal = 10.0 if state.success and not prev.success else 0.0
    return goal, {"goal": goal}
