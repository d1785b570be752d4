# expect: probe: raised AttributeError: 'tuple' object has no attribute 'append'
SEEN = []


def remember(cells, pos):
    # The static rules cannot see that `cells` is the module-level SEEN; the frozen module refuses the append.
    cells.append(pos)
    return len(cells)


def compute_reward(prev, action, state, memory):
    cells = memory.get("cells") or SEEN
    bonus = 0.001 * remember(cells, state.pos)
    return bonus, {"bonus": bonus}
