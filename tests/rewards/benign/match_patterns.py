# expect: accepted
import math


def kind(value):
    match value:
        case None | True | False:
            return 0.0
        case 0 | 1 as small:
            return 0.1 * small
        case math.pi:
            return 0.2
        case (x, y) if x == y:
            return 0.3
        case [x, *others]:
            return 0.01 * (x + len(others))
        case {"phase": 2, **rest}:
            return 0.4 + 0.0 * len(rest)
        case {"phase": phase}:
            return 0.05 * phase
        case _:
            return 0.0


def compute_reward(prev, action, state, memory):
    memory.setdefault("phase", 0)
    shaped = kind(state.pos) + kind(memory) + kind(None) + kind(action % 2)
    return 0.01 * shaped, {"shaped": 0.01 * shaped}
