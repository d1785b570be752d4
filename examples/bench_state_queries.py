"""A reward that asks State several questions on every step: what `autoreward bench train` prices the reward path with.

Each step reads the nearest key, every door, the move distance to the stairs, the inventory and the message;
the reward itself is a small exploration bonus (a new cell, once per episode) and a bonus for holding the key.
"""


def compute_reward(prev, action, state, memory):
    seen = memory.setdefault("seen", set())
    key = state.nearest("(")
    doors = state.find("+")
    stairs = state.distance_to(">")
    holding = state.has_item("key") or any("key" in item for item in state.inventory)
    message = state.message
    new_cell = state.pos not in seen
    seen.add(state.pos)
    explore = 0.01 if new_cell else 0.0
    held = 0.05 if holding and not memory.get("held") else 0.0
    memory["held"] = memory.get("held") or holding
    near = 0.001 if (key is not None or doors or stairs is not None or "door" in message) else 0.0
    return explore + held + near, {"explore": explore, "key": held, "near": near}
