"""The designer role: writes reward code for a task, repairs it after the critic, refines it after training.

With an LLM, each call renders a template from `prompts/` and extracts the code from the answer. Without
one (`llm=None`), a rule-based designer composes the code from the documented State API: it reads the task
text for the things the task is about (stairs, key, locked door, an item to pick up and use, an altar,
hazards, darkness), orders them into phases, and writes potential-based shaping towards the current
phase's target plus milestones paid once. Its numbers live in a top-level `WEIGHTS` dict, which refinement
reads back from the best code (as an LLM would read the code) and adjusts from the analysis' edits.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from autoreward.llm.base import LLM
from autoreward.llm.prompts import load_template, render
from autoreward.synth.extract import extract_code
from autoreward.synth.structure import STRAIGHT, changes, describe_changes, read_weights, structure_of

if TYPE_CHECKING:
    from autoreward.synth.analyzer import Analysis

OFFLINE_MARK = "# offline designer (rule-based, no LLM)"


@dataclass
class DesignContext:
    """What the designer knows when it writes one candidate."""

    task: str
    task_text: str  # the task's goal in words
    card_text: str  # `card_for(task).describe(task)`: goal, actions, contract, State API, an example
    round: int
    candidate: int
    seed: int
    best_code: str | None = None  # refinement: the best reward so far ...
    best_summary: dict | None = None  # ... its code-built summary (analyzer.build_summary) ...
    analysis: Analysis | None = None  # ... and the analysis of its run
    parent: str | None = None  # "R/K" of the best code
    tried: list[list[str]] = field(default_factory=list)  # structures trained in earlier rounds (synth.structure)
    baseline: dict | None = None  # the task reward alone: {"success_rate", "mean_return"}, same seed and budget

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["analysis"] = self.analysis.to_dict() if self.analysis is not None else None
        return data


@dataclass
class Design:
    """One designer answer: what was asked, what came back, the code in it (None when there was none)."""

    prompt: str
    response: str
    code: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----- prompts --------------------------------------------------------------------------------------------
_VARIATIONS = (  # candidates of a round differ in structure (what they pay), not only in weights
    "Write the design you judge best.",
    "Use a different structure from candidate 1: e.g. approach measured along walkable cells "
    "(state.path_to(target, avoid=(...))) instead of straight-line distance, or the other way round.",
    "Try a minimal structure: the goal and milestones paid once, no dense approach term.",
    "Emphasise exploration of unseen cells and avoiding what kills the agent.",
)


def variation_text(ctx: DesignContext) -> str:
    """A per-candidate line, so that K candidates (and their cached LLM requests) differ."""
    hint = _VARIATIONS[ctx.candidate % len(_VARIATIONS)]
    return f"Candidate {ctx.candidate + 1} of round {ctx.round} (seed {ctx.seed}): {hint}"


def messages_for(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": load_template("system").strip()}, {"role": "user", "content": user}]


def format_messages(messages: list[dict[str, str]]) -> str:
    """The messages as the markdown recorded in prompt.md."""
    return "\n\n".join(f"## {m['role']}\n\n{m['content'].strip()}" for m in messages) + "\n"


def _design_prompt(ctx: DesignContext) -> tuple[list[dict[str, str]], str]:
    """The rendered request for a first-round design, or for a refinement when there is a best code."""
    if ctx.best_code is None:
        return messages_for(render("designer", card=ctx.card_text.strip(), variation=variation_text(ctx))), "designer"
    from autoreward.synth.analyzer import format_comparison, format_component_stats, format_evaluation

    summary = ctx.best_summary or {}
    analysis = ctx.analysis.text.strip() if ctx.analysis is not None else "(no analysis)"
    comparison = format_comparison(ctx.analysis.comparison, ctx.analysis.lessons) if ctx.analysis is not None \
        else "- (nothing to compare yet)"
    user = render("designer_refine", card=ctx.card_text.strip(), best_code=ctx.best_code.strip(),
                  best_stats=format_component_stats(summary), best_eval=format_evaluation(summary),
                  comparison=comparison, analysis=analysis, variation=variation_text(ctx))
    return messages_for(user), "designer"


def _ask(llm: LLM, messages: list[dict[str, str]], role: str) -> Design:
    completion = llm.complete(messages, role=role)
    code = extract_code(completion.text)
    error = None if code is not None else "the answer holds no Python code that defines compute_reward"
    return Design(prompt=format_messages(messages), response=completion.text, code=code, error=error)


def design(ctx: DesignContext, llm: LLM | None) -> Design:
    """A first-round candidate (no best code yet) or a refinement of the best code and its analysis."""
    messages, role = _design_prompt(ctx)
    if llm is not None:
        return _ask(llm, messages, role)
    recipe = recipe_for(ctx.task, ctx.task_text)
    plans = proposals(ctx, recipe)
    if ctx.candidate < len(plans):
        plan = plans[ctx.candidate]
    else:  # more candidates than structural changes: rescale the weights of the first proposal
        weights, varied = vary(plans[0].weights, recipe, ctx.candidate, ctx.seed)
        plan = Plan(weights, plans[0].distance, [*plans[0].notes, "no structural change left to try", *varied])
    code = compose(recipe, plan.weights, plan.distance)
    return Design(prompt=format_messages(messages), response=_offline_response(recipe, plan.weights, plan.notes, code),
                  code=code)


@dataclass
class Plan:
    """One offline candidate before it is written: its weights (their keys are its components), distance kind."""

    weights: dict[str, float]
    distance: str  # "path" | "straight" (how approach measures distance)
    notes: list[str]

    def structure(self, recipe: Recipe) -> list[str]:
        return sorted(structure_of(compose(recipe, self.weights, self.distance)))


def proposals(ctx: DesignContext, recipe: Recipe) -> list[Plan]:
    """The round's candidates in order: the base design (the recipe's, or the best code with the analysis'
    edits), then one structural change each (from `toggles`), skipping structures trained in earlier rounds
    and changes that an earlier round showed to lower success."""
    if ctx.best_code is None:
        parent = Plan(default_weights(recipe), "path", ["the recipe's design: approach by path distance"
                                                        if recipe.has_targets else "the recipe's design"])
        first = parent
    else:
        weights = read_weights(ctx.best_code)
        notes = [f"refined from {ctx.parent or 'the best reward so far'}"]
        if weights is None:
            weights = default_weights(recipe)
            notes.append("the best code has no readable WEIGHTS dict: started again from the recipe's weights")
        weights = {k: v for k, v in weights.items() if k in _KNOWN_COMPONENTS}
        distance = "straight" if STRAIGHT in structure_of(ctx.best_code) else "path"
        parent = Plan(weights, distance, list(notes))
        edits, ruled_out = _edits_the_lessons_allow(ctx, weights)
        edited, applied = apply_edits(weights, edits, recipe)
        first = Plan(edited, distance, notes + ruled_out +
                     (applied or ["the analysis asked for no edit the rules can make"]))
    tried = [sorted(t) for t in ctx.tried]  # structures compare as sorted lists
    hurt = _hurtful_changes(ctx)
    plans = [first]
    if ctx.best_code is not None and first.weights == parent.weights:
        plans = []  # the edits changed nothing: every slot goes to a structural change
    seen = [p.structure(recipe) for p in plans]
    skipped: list[str] = []
    parent_structure = parent.structure(recipe)
    for label, change in toggles(recipe, parent):
        plan = change(parent)
        structure = plan.structure(recipe)
        delta = changes(parent_structure, structure)
        if not delta or structure in seen:
            continue
        if structure in tried:
            continue
        bad = [d for d in delta if d in hurt]
        if bad:
            skipped.append(f"skipped: {label} ({hurt[bad[0]]})")
            continue
        plan.notes.append(f"structural change from {ctx.parent or 'the recipe'}: {describe_changes(delta)}")
        plans.append(plan)
        seen.append(structure)
    plans = plans or [first]
    for plan in plans:  # every candidate of the round says what the lessons ruled out
        plan.notes += skipped
    return plans


def _hurtful_changes(ctx: DesignContext) -> dict[str, str]:
    """Changes the analysis' lessons advise against: one that lowered success when a candidate made it alone,
    and the undoing of one that raised it (explore removed helped: adding it back is not tried)."""
    lessons = ctx.analysis.lessons if ctx.analysis is not None else []
    hurt: dict[str, str] = {}
    for lesson in lessons:
        if len(lesson.get("changes", [])) != 1 or not lesson.get("effect"):
            continue
        change = lesson["changes"][0]
        hurt[change if lesson["effect"] < 0 else _inverse(change)] = lesson["text"]
    return hurt


def _edits_the_lessons_allow(ctx: DesignContext, weights: dict[str, float]) -> tuple[list[dict], list[str]]:
    """The analysis' edits less those that add or drop a component against the lessons; notes on those skipped."""
    hurt = _hurtful_changes(ctx)
    kept, notes = [], []
    for edit in ctx.analysis.edits if ctx.analysis is not None else []:
        name, op = str(edit.get("component", "")), str(edit.get("op", "")).lower()
        change = f"+{name}" if op in ("add", "set") and name not in weights else \
            f"-{name}" if op == "drop" and name in weights else None
        if change in hurt:
            notes.append(f"edit skipped: {op} {name} ({hurt[change]})")
        else:
            kept.append(edit)
    return kept, notes


def _inverse(change: str) -> str:
    """'+x' <-> '-x'; 'distance: a -> b' -> 'distance: b -> a'."""
    if change[:1] in "+-":
        return ("-" if change[0] == "+" else "+") + change[1:]
    before, _, after = change.removeprefix("distance: ").partition(" -> ")
    return f"distance: {after} -> {before}"


def toggles(recipe: Recipe, parent: Plan) -> list[tuple[str, Callable[[Plan], Plan]]]:
    """The structural changes worth trying for this task, most relevant first (read from the task text)."""
    def flip(name: str) -> tuple[str, Callable[[Plan], Plan]]:
        def apply(plan: Plan) -> Plan:
            weights = dict(plan.weights)
            if name in weights:
                del weights[name]
            else:
                weights[name] = _ADDABLE[name]
            return Plan(weights, plan.distance, [])
        return (f"{'remove' if name in parent.weights else 'add'} {name}", apply)

    def distance(plan: Plan) -> Plan:
        return Plan(dict(plan.weights), "straight" if plan.distance == "path" else "path", [])

    out: list[tuple[str, Callable[[Plan], Plan]]] = []
    if recipe.has_targets:
        if "approach" in parent.weights:
            out.append((f"approach by {'straight' if parent.distance == 'path' else 'path'} distance", distance))
        out.append(flip("approach"))
    out.insert(0 if recipe.explore else len(out), flip("explore"))
    if recipe.hazards:
        out.append(flip("death"))
    if {"monster", "trap"} & set(recipe.hazards):
        out.append(flip("hp"))
    out.append(flip("dither"))
    return out


def repair(ctx: DesignContext, code: str, errors: list[str], llm: LLM | None) -> Design:
    """Fix code the critic rejected. Offline: regenerate from the recipe; if that is what failed, fall back
    to a minimal reward (goal approach and goal only)."""
    user = render("designer_repair", card=ctx.card_text.strip(), code=code.strip(),
                  errors="\n".join(f"- {e}" for e in errors) or "- (none given)")
    messages = messages_for(user)
    if llm is not None:
        return _ask(llm, messages, "repair")
    recipe = recipe_for(ctx.task, ctx.task_text)
    known = {k: v for k, v in (read_weights(code) or {}).items() if k in _KNOWN_COMPONENTS}
    distance = "straight" if STRAIGHT in structure_of(code) else "path"
    regenerated = compose(recipe, {**default_weights(recipe), **known}, distance)  # the code's numbers and kind
    minimal = compose(recipe.minimal(), default_weights(recipe.minimal()))
    error = None
    if _normalise(code) == _normalise(minimal):
        notes, new = ["the minimal safe reward itself was rejected: nothing left to try"], minimal
        error = "the minimal reward was rejected too: the offline designer has nothing left to try"
    elif _normalise(regenerated) not in (_normalise(code), _normalise(minimal)):
        notes, new = ["regenerated the code from the recipe (the rejected code was not the recipe's)"], regenerated
    else:
        notes, new = ["the recipe's code was rejected: fell back to the minimal safe reward (goal approach and "
                      "goal bonus only)"], minimal
    notes.append("critic errors: " + "; ".join(errors[:3]) if errors else "no critic errors were given")
    weights_used = read_weights(new) or {}
    return Design(prompt=format_messages(messages),
                  response=_offline_response(recipe, weights_used, notes, new), code=new, error=error)


def _normalise(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def _offline_response(recipe: Recipe, weights: dict[str, float], notes: list[str], code: str) -> str:
    phases = " -> ".join(f"{p.component}: {p.describe()}" for p in recipe.phases)
    lines = [f"{OFFLINE_MARK}: components {', '.join(weights)}",
             f"Phases: {phases}.",
             *(f"- {note}" for note in notes),
             "", "```python", code.rstrip(), "```", ""]
    return "\n".join(lines)


# ----- the recipe: what the task is about ---------------------------------------------------------------------
#: Components the offline designer knows how to write; refinement may add the optional ones.
_KNOWN_COMPONENTS = ("approach", "key", "door", "pickup", "reach", "command", "goal", "explore", "bridge", "death",
                     "hp", "dither")
_ADDABLE = {"explore": 0.01, "death": 0.2, "hp": 0.05, "dither": 0.01, "approach": 0.05, "goal": 1.0}
_ITEMS = ("food", "armor", "weapon", "amulet", "ring", "wand", "scroll", "potion", "tool", "spellbook", "gem")
_PLACES = ("altar", "sink", "fountain", "throne")
_VERBS = {  # the verb in the task text -> words of the question NetHack asks when the command starts
    "eat": ("want to eat", "eat it?"), "wear": ("want to wear",), "wield": ("want to wield",),
    "put on": ("want to put on",), "zap": ("want to zap",), "read": ("want to read",),
    "pray": ("want to pray",), "quaff": ("drink from", "want to drink"),
}
_MENTION = re.compile(r"(?:(\w+)\s+)?\('([a-z ]+)',\s*'(.{1,2}?)'\)")


@dataclass(frozen=True)
class Phase:
    """One sub-goal: the component paid once when it completes, its target on the map, how it shows."""

    component: str
    target: str  # map name approached during the phase ('' when there is nothing to walk to)
    test: str  # "pickup" | "opened" | "reached" | "success"
    words: tuple[str, ...] = ()  # pickup: words of the item's inventory line

    def describe(self) -> str:
        if self.test == "success":
            return f"reach {self.target} (task success)" if self.target else "task success"
        what = {"pickup": "pick up", "opened": "open", "reached": "stand on"}[self.test]
        return f"{what} {self.target}"


@dataclass(frozen=True)
class Recipe:
    """What the offline designer read from the task text."""

    task: str
    phases: tuple[Phase, ...]
    command_words: tuple[str, ...] = ()  # the question of the command that uses the item
    hazards: tuple[str, ...] = ()  # lava, water, monster, trap
    explore: bool = False  # the goal may be out of sight
    bridge: bool = False  # boulders fill water

    @property
    def has_targets(self) -> bool:
        return any(p.target for p in self.phases)

    def minimal(self) -> Recipe:
        """Only the goal: the fallback when the full recipe's code is rejected."""
        return Recipe(task=self.task, phases=(self.phases[-1],))


def recipe_for(task: str, task_text: str) -> Recipe:
    """Read the phases, hazards and needs of a task from its goal text (e.g. "Pick up the key ('key', '(')")."""
    text = " ".join(task_text.lower().split())
    mentions = [(noun or "", name) for noun, name, _ in _MENTION.findall(text)]
    names = [name for _, name in mentions]
    phases: list[Phase] = []
    if "key" in names:
        phases.append(Phase("key", "key", "pickup", ("key",)))
    if "closed door" in names or ("door" in text and re.search(r"\b(locked|unlock|kick)", text)):
        phases.append(Phase("door", "closed door", "opened"))
    verb = next((v for v in _VERBS if re.search(rf"\b{v}\b", text)), None)
    item = next(((noun, name) for noun, name in mentions if name in _ITEMS), None)
    if item is not None:
        noun, name = item
        words = tuple(dict.fromkeys(w for w in (noun, name) if w and w not in ("the", "a", "an", "food")))
        if "pick up" in text or verb in ("wear", "wield", "put on", "zap", "read"):
            phases.append(Phase("pickup", name, "pickup", words or (name,)))
        else:
            phases.append(Phase("reach", name, "reached"))
    place = next((name for name in names if name in _PLACES), None)
    if place is not None:
        phases.append(Phase("reach", place, "reached"))
    goal_target = "stairs down" if "stairs" in text else ""
    phases.append(Phase("goal", goal_target, "success"))
    hazards = tuple(h for h, pattern in (("lava", r"\blava\b"), ("water", r"\b(water|river)\b"),
                                         ("monster", r"\bmonsters?\b"), ("trap", r"\btraps?\b"))
                    if re.search(pattern, text))
    explore = bool(re.search(r"\b(dark|explore|corridors?|maze|rooms|find|out of sight)\b", text))
    bridge = "boulder" in names and "water" in hazards
    return Recipe(task=task, phases=tuple(phases), command_words=_VERBS.get(verb, ()) if item or place else (),
                  hazards=hazards, explore=explore, bridge=bridge)


def default_weights(recipe: Recipe) -> dict[str, float]:
    """The recipe's starting numbers: 0.05 per cell of approach, milestones about 1, goal 1."""
    weights: dict[str, float] = {}
    if recipe.has_targets:
        weights["approach"] = 0.05
    for phase in recipe.phases[:-1]:
        weights[phase.component] = {"key": 1.0, "door": 1.0}.get(phase.component, 0.5)
    if recipe.command_words:
        weights["command"] = 0.2
    weights["goal"] = 1.0
    if recipe.explore:
        weights["explore"] = 0.01
    if recipe.bridge:
        weights["bridge"] = 0.5
    # No death penalty by default: the task pays a death like a timeout (nothing), and a penalty taught the
    # policy to stand still instead of crossing (LavaCrossing: success 4% -> 0% while episodes grew longer);
    # path distance walks around the hazards instead. "death" stays a structural change to try.
    if {"monster", "trap"} & set(recipe.hazards):
        weights["hp"] = 0.05
    return weights


def _round(value: float) -> float:
    """Four significant digits: readable constants in the generated code."""
    return float(f"{value:.4g}") if value else 0.0


_MILESTONES = ("key", "door", "pickup", "reach", "command", "bridge")
_VARIANTS: tuple[dict[str, float], ...] = (  # candidate k >= 1 starts from variant (k - 1) % len
    {"approach": 2.0, "explore": 2.0},
    {"approach": 0.6, "goal": 2.0, "milestones": 0.5},
    {"milestones": 2.0, "penalties": 2.0, "explore": 0.5},
)


def vary(weights: dict[str, float], recipe: Recipe, candidate: int, seed: int) -> tuple[dict[str, float], list[str]]:
    """Candidate 0 keeps the weights; candidate k >= 1 rescales groups of them (deterministic in k and seed)."""
    weights = dict(weights)
    if candidate <= 0:
        return weights, []
    variant = _VARIANTS[(candidate - 1) % len(_VARIANTS)]
    rng = random.Random(f"autoreward:{seed}:{candidate}")
    notes = []
    for group, factor in variant.items():
        names = {"milestones": _MILESTONES, "penalties": ("death", "hp", "dither")}.get(group, (group,))
        for name in names:
            if name == "explore" and name not in weights and factor > 1 and recipe.has_targets:
                weights[name] = _ADDABLE[name]
                notes.append(f"variant: added explore {weights[name]:g}")
            elif name in weights:
                weights[name] = _round(weights[name] * factor)
                notes.append(f"variant: {name} x{factor:g}")
    jitter = 2 ** rng.uniform(-0.3, 0.3)  # and every shaping weight by a seed-dependent factor
    for name in weights:
        if name not in ("goal", "death"):
            weights[name] = _round(weights[name] * jitter)
    notes.append(f"variant: shaping weights x{jitter:.3g} (seed {seed}, candidate {candidate})")
    return weights, notes


# ----- reading and editing weights -------------------------------------------------------------------------------
def apply_edits(weights: dict[str, float], edits: list[dict], recipe: Recipe) -> tuple[dict[str, float], list[str]]:
    """Apply the analysis' edits that rules can make (scale, drop, add, set); say what was done and skipped."""
    notes = [f"ignored component {name!r}: the offline designer has no recipe for it"
             for name in weights if name not in _KNOWN_COMPONENTS]
    weights = {k: v for k, v in weights.items() if k in _KNOWN_COMPONENTS}
    for edit in edits:
        if not isinstance(edit, dict):
            continue
        op, name = str(edit.get("op", "")).lower(), str(edit.get("component", ""))
        reason = f" ({edit['reason']})" if edit.get("reason") else ""
        if op == "scale" and name in weights:
            factor = _number(edit.get("factor"), 1.0)
            weights[name] = _round(min(10.0, max(1e-4, weights[name] * factor)))
            notes.append(f"edit: {name} x{factor:g} -> {weights[name]:g}{reason}")
        elif op == "drop" and name in weights:
            if name == "goal":
                notes.append("edit skipped: kept the goal term (a reward must pay for the task's goal)")
                continue
            del weights[name]
            notes.append(f"edit: dropped {name}{reason}")
        elif op in ("add", "set") and name in _KNOWN_COMPONENTS and (name != "approach" or recipe.has_targets):
            if op == "add" and name in weights:
                factor = _number(edit.get("factor"), 2.0)
                weights[name] = _round(min(10.0, weights[name] * factor))
                notes.append(f"edit: {name} already present, x{factor:g} -> {weights[name]:g}{reason}")
            elif name in _ADDABLE or name in weights:
                weights[name] = _round(min(10.0, max(1e-4, _number(edit.get("weight"), _ADDABLE.get(name, 1.0)))))
                notes.append(f"edit: {op} {name} = {weights[name]:g}{reason}")
            else:
                notes.append(f"edit skipped: {op} {name}: not part of this task's recipe")
        else:
            notes.append(f"edit skipped: the offline designer cannot {op or 'apply'} {name or 'this'}{reason}")
    return weights, notes


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) and number > 0 else default


# ----- composing the code ----------------------------------------------------------------------------------------
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
}
_DISTANCE_WORDS = {"straight": "straight-line move distance",
                   "path": "number of moves along known cells (around walls and hazards)"}

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
    weights = {k: _round(float(v)) for k, v in weights.items() if k in _KNOWN_COMPONENTS}
    weights.setdefault("goal", 1.0)
    if not recipe.has_targets:
        weights.pop("approach", None)
    rows = "\n".join(f"    {(p.component, p.target, p.test, p.words)!r},".replace("'", '"') for p in recipe.phases)
    phases = "; ".join(f"{p.component}: {p.describe()}" for p in recipe.phases)
    path = distance == "path"
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
