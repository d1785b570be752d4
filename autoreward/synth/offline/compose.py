"""The offline designer's code generator: a reward file from a recipe, its weights and a distance kind.

The code is potential-based shaping towards the current phase's target plus milestones paid once; only the
sections of the components in the weights are written, so two weight sets with the same keys give the same
structure. Its numbers live in a top-level `WEIGHTS` dict that refinement reads back.
"""

from __future__ import annotations

from autoreward.synth.offline.recipe import KNOWN_COMPONENTS, Recipe, round_weight

_HEADER = '''"""Reward for {task}, composed by autoreward's offline designer (rule-based, no LLM).

Phases, in order: {phases}.
Potential-based: "approach" pays the change of minus the {distance_words} to the current phase's target,
and each milestone is paid once, when its phase completes, so walking back and forth earns nothing.
"""

WEIGHTS = {weights}
FAR = {far}  # moves assumed while a target has not been seen{far_note}
# One row per phase: (component paid when it completes, map name of its target, how completion shows, item words)
PHASES = (
{phase_rows}
)
'''

_TARGETS = '''

def remember_targets(state, memory):
    """Remember each phase's target cell once seen: targets do not move, and the agent hides what it stands on."""
    targets = memory["targets"]
    for i, phase in enumerate(PHASES):
        if phase[1] and targets[i] is None:
            targets[i] = state.nearest(phase[1])
'''

_APPROACH = '''

def approach_potential(state, memory):
    """Minus the {distance_words} to the current phase's target (unseen: the last known earlier one; else FAR)."""
    phase = memory["phase"]
    if not PHASES[phase][1]:
        return 0.0
    spot = None
    for i in range(phase, -1, -1):
        if memory["targets"][i] is not None:
            spot = memory["targets"][i]
            break
    if spot is None:
        return -WEIGHTS["approach"] * FAR
{measure}
    return -WEIGHTS["approach"] * min(moves, FAR)
'''
_MEASURE = {
    "straight": "    moves = state.distance(state.pos, spot)",
    "path": ("    moves = state.path_to(spot, avoid=AVOID)  # along known cells, around walls and AVOID\n"
             "    if moves is None:  # no known way there yet\n"
             "        moves = FAR"),
    "actions": ("    moves = state.actions_to(spot, avoid=AVOID)  # turns, steps and door toggles, around AVOID\n"
                "    if moves is None:  # no way there yet\n"
                "        moves = FAR"),
}
_DISTANCE_WORDS = {"straight": "straight-line move distance",
                   "path": "number of moves along known cells (around walls and hazards)",
                   "actions": "number of actions (turns, moves, door toggles)"}
#: The distance kinds that walk around hazards and may find no way (FAR then).
_SEARCHED = ("path", "actions")

_DONE_HEAD = '''

def phase_done(prev, state, memory):
    """Whether the current phase completed on this step."""
    phase = memory["phase"]
    test, words = PHASES[phase][2], PHASES[phase][3]'''
_DONE_TESTS = {
    "pickup": '''
    if test == "pickup":  # a new inventory line names the item
        gained = set(state.inventory) - set(prev.inventory)
        return any(word in line.lower() for line in gained for word in words)''',
    "opened": '''
    if test == "opened":  # the remembered door cell shows no closed door any more
        spot = memory["targets"][phase]
        return spot is not None and state.at(spot[0], spot[1]) != "closed door"''',
    "reached": '''
    if test == "reached":  # standing on the remembered target
        return memory["targets"][phase] == state.pos''',
}
_DONE_TAIL = '''
    return bool(state.success)
'''


def avoided(recipe: Recipe) -> tuple[str, ...]:
    """What path distance walks around: the deadly hazards of the task (water is the way across a bridge task)."""
    return tuple(h for h in ("lava", "water", "trap") if h in recipe.hazards and not (h == "water" and recipe.bridge))


def compose(recipe: Recipe, weights: dict[str, float], distance: str = "path") -> str:
    """The reward file for a recipe, its weights (only the sections of the components in `weights`) and the
    distance the approach term measures ("path": moves along known cells avoiding hazards, or "straight")."""
    if distance not in _MEASURE:
        raise ValueError(f"distance must be one of {', '.join(_MEASURE)}, got {distance!r}")
    weights = {k: round_weight(float(v)) for k, v in weights.items() if k in KNOWN_COMPONENTS}
    weights.setdefault("goal", 1.0)
    if not recipe.has_targets:
        weights.pop("approach", None)
    rows = "\n".join(f"    {(p.component, p.target, p.test, p.words)!r},".replace("'", '"') for p in recipe.phases)
    phases = "; ".join(f"{p.component}: {p.describe()}" for p in recipe.phases)
    path = distance in _SEARCHED
    parts = [_HEADER.format(task=recipe.task, phases=phases, weights=_dict_literal(weights), phase_rows=rows,
                            distance_words=_DISTANCE_WORDS[distance], far=60 if path else 20,
                            far_note=", or has no known way to it" if path else "")]
    if path and "approach" in weights:
        avoid = repr(avoided(recipe)).replace("'", '"')
        parts.append(f"AVOID = {avoid}  # path distance walks around these\n")
    if recipe.command_words and "command" in weights:
        words = repr(recipe.command_words).replace("'", '"')
        parts.append(f"COMMAND_WORDS = {words}  # the question asked when the command starts\n")
    parts.append(_TARGETS)
    if "approach" in weights:
        parts.append(_APPROACH.format(distance_words=_DISTANCE_WORDS[distance], measure=_MEASURE[distance]))
    tests = sorted({p.test for p in recipe.phases[:-1]})
    parts.append(_DONE_HEAD + "".join(_DONE_TESTS[t] for t in tests if t in _DONE_TESTS) + _DONE_TAIL)
    parts.append(_compute(recipe, weights))
    return "".join(parts)


def _dict_literal(weights: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in weights.items()).replace("'", '"') + "}"


def _compute(recipe: Recipe, weights: dict[str, float]) -> str:
    init = ['        memory["targets"] = [None] * len(PHASES)', '        memory["phase"] = 0',
            "        remember_targets(prev, memory)"]
    if "approach" in weights:
        init.append('        memory["potential"] = approach_potential(prev, memory)')
    if "explore" in weights:
        init.append('        memory["visited"] = {prev.pos}')
    if "command" in weights and recipe.command_words:
        init.append('        memory["asked"] = False')
    body = ["    components = {name: 0.0 for name in WEIGHTS}",
            "    if state.success:",
            '        components["goal"] = WEIGHTS["goal"]']
    if "death" in weights:
        body += ["    if state.died:",
                 '        components["death"] = -WEIGHTS["death"]']
    body += ["    if state.done:  # the last step: judge the outcome (success, death), not the map",
             "        return sum(components.values()), components",
             "    remember_targets(state, memory)",
             '    phase = memory["phase"]',
             "    if phase < len(PHASES) - 1 and phase_done(prev, state, memory):  # the last phase is the goal",
             "        if PHASES[phase][0] in components:",
             "            components[PHASES[phase][0]] = WEIGHTS[PHASES[phase][0]]",
             '        memory["phase"] = phase + 1']
    if "approach" in weights:
        body += ["    value = approach_potential(state, memory)",
                 '    components["approach"] = value - memory["potential"]',
                 '    memory["potential"] = value']
    if "command" in weights and recipe.command_words:
        body += ['    if not memory["asked"] and any(word in state.message.lower() for word in COMMAND_WORDS):',
                 '        memory["asked"] = True  # paid once: starting the command that uses the item',
                 '        components["command"] = WEIGHTS["command"]']
    if "explore" in weights:
        body += ['    if state.pos not in memory["visited"]:  # each cell pays once per episode',
                 '        memory["visited"].add(state.pos)',
                 '        components["explore"] = WEIGHTS["explore"]']
    if "bridge" in weights:
        body += ['    filled = state.count("water") < prev.count("water")',
                 '    if filled and state.count("boulder") < prev.count("boulder"):',
                 '        components["bridge"] = WEIGHTS["bridge"]  # a boulder filled a water cell']
    if "dither" in weights:
        body += ['    if state.pos != prev.pos and state.pos == memory.get("before"):  # stepped straight back',
                 '        components["dither"] = -WEIGHTS["dither"]',
                 '    memory["before"] = prev.pos']
    if "hp" in weights:
        body.append('    components["hp"] = -WEIGHTS["hp"] * max(0, prev.hp - state.hp)')
    body.append("    return sum(components.values()), components")
    return ("\n\ndef compute_reward(prev, action, state, memory):\n"
            "    if not memory:  # the first step of an episode\n" + "\n".join(init) + "\n" + "\n".join(body) + "\n")
