# expect: static: changes module-level `TABLE` (`d` is the same object)
TABLE = {"calls": 0}


def compute_reward(prev, action, state, memory):
    d = TABLE
    d["calls"] = d["calls"] + 1  # counts calls across episodes: state outside `memory`
    bonus = 0.001 * d["calls"]
    return bonus, {"bonus": bonus}
