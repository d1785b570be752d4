# expect: accepted
WEIGHTS = {"explore": 0.002, "step": -0.001, "hp": 0.05}
TARGETS = ["stairs down", "key"]
NESTED = {"phases": [("key", 1.0), ("door", 0.5)], "words": {"key", "door"}}
CORNERS = ((0, 0), (1, 1))


def compute_reward(prev, action, state, memory):
    weights = dict(WEIGHTS)  # a copy may be changed
    weights["explore"] = WEIGHTS.get("explore", 0.0)
    local = WEIGHTS.copy()
    local.update({"extra": 0.0})
    names = list(TARGETS) + ["door"]
    names.append("gold")
    everything = TARGETS + ("fountain",)
    merged = {**WEIGHTS, "bonus": 0.0}
    order = sorted(WEIGHTS)
    pairs = [(k, v) for k, v in WEIGHTS.items() if k in WEIGHTS.keys() and v in WEIGHTS.values()]
    first_phase, first_value = NESTED["phases"][0]
    known = "key" in NESTED["words"] and len(NESTED["phases"]) == 2 and (0, 0) in CORNERS
    target = state.nearest(TARGETS[0]) or state.nearest(TARGETS[-1])
    steps = 0 if target is None else state.distance(state.pos, target)
    explore = weights["explore"] * max(0, state.explored - prev.explored)
    hp = -WEIGHTS["hp"] * max(0, prev.hp - state.hp)
    check = 0.0 * (len(names) + len(everything) + len(merged) + len(order) + len(pairs) + len(local) + steps
                   + first_value + float(known) + len(first_phase))
    return WEIGHTS["step"] + explore + hp + check, {"step": WEIGHTS["step"], "explore": explore, "hp": hp + check}
