# expect: probe: keep every value within
# Finite as a float64, but the trainer keeps rewards as float32: 1e39 arrives as inf (and 1e20 squared in the
# value loss overflows all the same), so the first step of this reward would turn the policy's weights into NaN.
def compute_reward(prev, action, state, memory):
    jackpot = 1e39 if state.step >= 2 else 0.0
    return jackpot, {"jackpot": jackpot}
