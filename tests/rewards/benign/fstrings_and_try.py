# expect: accepted
WEIGHTS = {"step": -0.001, "explore": 0.002}


def compute_reward(prev, action, state, memory):
    label = f"{state.pos[0]}-{state.pos[1]}"
    try:
        memory[label] = memory.get(label, 0) + 1
    except KeyError:
        pass
    explore = WEIGHTS["explore"] * max(0, state.explored - prev.explored)
    return WEIGHTS["step"] + explore, {"step": WEIGHTS["step"], "explore": explore}
