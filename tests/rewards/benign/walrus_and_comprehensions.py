# expect: accepted
import math

STEP = -0.001


def spread(values: tuple[float, ...], *, scale: float = 1.0, floor=-1, names=("a", "b")) -> float:
    return scale * (max(values) - min(values)) if values else 0.0


def compute_reward(prev, action, state, memory):
    if (moved := state.pos != prev.pos) and (seen := memory.setdefault("seen", set())) is not None:
        seen.add(state.pos)
    first, *rest = state.pos
    cells = [abs(first - x) for x in rest if x >= 0]
    squares = {i: i * i for i in range(3)}
    parity = {n % 2 for n in squares.values()}
    total_sq = sum(v for v in squares.values() if v in (0, 1, 4))
    nearest = sorted(memory.get("seen", ()), key=lambda p, origin=(0, 0): abs(p[0] - origin[0]))
    scale = (lambda x, k=2.0: x / k)(1.0)
    explore = 0.001 * float(moved) * scale * math.tanh(len(nearest) + len(parity) + total_sq + spread(cells))
    return STEP + explore, {"step": STEP, "explore": explore}
