# expect: probe: per call on average, over the budget
def compute_reward(prev, action, state, memory):
    total = 0
    for y in range(21):
        for x in range(79):
            for _ in range(16):
                total += state.char_at(x, y) == "."
    return 0.0, {"floor": 0.0 * total}
