"""Hand-written reward for MiniHack-KeyRoom-S5-v0: the expert baseline that synthesised rewards are compared to.

Potential-based shaping (Ng et al., 1999). The potential is the current phase (0: fetch the key, 1: open the
door, 2: reach the stairs) times a milestone value, minus the move distance to that phase's target; the
reward is the change of potential, so walking back and forth earns nothing and phases cannot be farmed.
The targets do not move, so they are looked up once and remembered: the key ('(') and the locked door ('+')
at the start, the stairs ('>') once the open door reveals them (until then the door is the target).
"""

MILESTONE = 1.0  # potential gained per phase completed (key picked up, door opened)
PER_CELL = 0.05  # potential gained per cell closer to the current target
FAR = 20  # distance assumed while the target has not been seen
SYMBOL = ("(", "+", ">")  # the target of each phase: key, locked door, stairs down


def potential(state, phase, targets):
    """MILESTONE per phase reached, minus PER_CELL per move to the phase's target (or to the door)."""
    if targets[phase] is None:
        targets[phase] = state.nearest(SYMBOL[phase])
    spot = targets[phase] or targets[1]
    if spot is None:
        return MILESTONE * phase - PER_CELL * FAR
    x, y = state.pos
    return MILESTONE * phase - PER_CELL * min(max(abs(x - spot[0]), abs(y - spot[1])), FAR)


def compute_reward(prev, action, state, memory):
    if not memory:  # first step of the episode
        memory["targets"] = [None, prev.nearest("+"), None]
        memory["phase"] = 0
        memory["potential"] = potential(prev, 0, memory["targets"])
    targets = memory["targets"]
    old_phase = phase = memory["phase"]
    if phase == 0 and state.message and "key" in state.message and state.has_item("key"):  # "f - a skeleton key."
        phase = 1
    elif phase == 1 and targets[1] is not None and state.char_at(*targets[1]) != "+":  # the door opened
        phase = 2
    value = potential(state, phase, targets)
    milestone = MILESTONE * (phase - old_phase)
    approach = value - memory["potential"] - milestone
    memory["phase"], memory["potential"] = phase, value
    return milestone + approach, {"milestone": milestone, "approach": approach}
