# expect: probe: raised TypeError: 'mappingproxy' object does not support item assignment
TABLE = {"calls": 0}


def bump(table):
    # The static rules cannot see that `table` is the module-level TABLE; the frozen module refuses the write.
    table["calls"] = table["calls"] + 1
    return table["calls"]


def compute_reward(prev, action, state, memory):
    bonus = 0.001 * bump(TABLE)
    return bonus, {"bonus": bonus}
