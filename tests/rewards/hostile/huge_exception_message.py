# expect: probe: raised ValueError: x+\.\.\. \(100,000,000 characters\)
def compute_reward(prev, action, state, memory):
    raise ValueError("x" * 100_000_000)  # the message goes to the designer: cut, not copied whole
