"""The offline designer: a rule-based Designer that composes reward code from the documented State API.

It reads the task text into a recipe (`offline.recipe`), proposes the round's candidates (the base design,
then one structural change each, skipping structures already trained and changes the lessons advise against),
and writes each with the code generator (`offline.compose`). Refinement reads the numbers back from the best
code's `WEIGHTS` dict (as an LLM would read the code) and applies the analysis' edits (`offline.edits`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autoreward.synth.offline.compose import compose
from autoreward.synth.offline.edits import apply_edits, vary
from autoreward.synth.offline.recipe import ADDABLE, KNOWN_COMPONENTS, Recipe, default_weights, recipe_for
from autoreward.synth.records import Design, DesignContext, Edit
from autoreward.synth.requests import design_messages, format_messages, repair_messages
from autoreward.synth.structure import ACTIONS, STRAIGHT, changes, describe_changes, read_weights, structure_of

OFFLINE_MARK = "# offline designer (rule-based, no LLM)"


class OfflineDesigner:
    """The Designer role by rules; each answer records the request an LLM would have been sent."""

    def design(self, ctx: DesignContext) -> Design:
        """A first-round candidate (no best code yet) or a refinement of the best code and its analysis."""
        recipe = recipe_for(ctx.task, ctx.task_text)
        plans = proposals(ctx, recipe)
        if ctx.candidate < len(plans):
            plan = plans[ctx.candidate]
        else:  # more candidates than structural changes: rescale the weights of the first proposal
            weights, varied = vary(plans[0].weights, recipe, ctx.candidate, ctx.seed)
            plan = Plan(weights, plans[0].distance, [*plans[0].notes, "no structural change left to try", *varied])
        code = compose(recipe, plan.weights, plan.distance)
        return Design(prompt=format_messages(design_messages(ctx)),
                      response=_offline_response(recipe, plan.weights, plan.notes, code), code=code)

    def repair(self, ctx: DesignContext, code: str, errors: list[str]) -> Design:
        """Fix code the critic rejected: regenerate it from the recipe; if that is what failed, fall back to a
        minimal reward (goal approach and goal only)."""
        recipe = recipe_for(ctx.task, ctx.task_text)
        known = {k: v for k, v in (read_weights(code) or {}).items() if k in KNOWN_COMPONENTS}
        distance = distance_of(code)
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
        return Design(prompt=format_messages(repair_messages(ctx, code, errors)),
                      response=_offline_response(recipe, weights_used, notes, new), code=new, error=error)


@dataclass
class Plan:
    """One offline candidate before it is written: its weights (their keys are its components), distance kind."""

    weights: dict[str, float]
    distance: str  # "path" | "actions" | "straight" (how approach measures distance)
    notes: list[str]

    def structure(self, recipe: Recipe) -> list[str]:
        return sorted(structure_of(compose(recipe, self.weights, self.distance)))


def proposals(ctx: DesignContext, recipe: Recipe) -> list[Plan]:
    """The round's candidates in order: the base design (the recipe's, or the best code with the analysis'
    edits), then one structural change each (from `toggles`), skipping structures trained in earlier rounds
    and changes that an earlier round showed to lower success."""
    if ctx.best_code is None:
        distance = first_distance(ctx.card_text)
        parent = Plan(default_weights(recipe), distance, [f"the recipe's design: approach by {distance} distance"
                                                          if recipe.has_targets else "the recipe's design"])
        first = parent
    else:
        weights = read_weights(ctx.best_code)
        notes = [f"refined from {ctx.parent or 'the best reward so far'}"]
        if weights is None:
            weights = default_weights(recipe)
            notes.append("the best code has no readable WEIGHTS dict: started again from the recipe's weights")
        weights = {k: v for k, v in weights.items() if k in KNOWN_COMPONENTS}
        parent = Plan(weights, distance_of(ctx.best_code), list(notes))
        edits, ruled_out = _edits_the_lessons_allow(ctx, weights)
        edited, applied = apply_edits(weights, edits, recipe)
        first = Plan(edited, parent.distance, notes + ruled_out +
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


def _edits_the_lessons_allow(ctx: DesignContext, weights: dict[str, float]) -> tuple[list[Edit], list[str]]:
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


#: The distance a structural change tries instead of the current one.
_OTHER_DISTANCE = {"path": "straight", "straight": "path", "actions": "path"}


def first_distance(card_text: str) -> str:
    """The first design's distance: "actions" where the card's State API offers `actions_to` (it counts the
    turns a MiniGrid agent needs, so every useful action pays), else "path". Read from the card's text, as an
    LLM would read the API it is shown."""
    return "actions" if "actions_to(" in card_text else "path"


def distance_of(code: str) -> str:
    """The distance kind a reward file measures (what refinement and repair keep)."""
    features = structure_of(code)
    return "actions" if ACTIONS in features else "straight" if STRAIGHT in features else "path"


def toggles(recipe: Recipe, parent: Plan) -> list[tuple[str, Callable[[Plan], Plan]]]:
    """The structural changes worth trying for this task, most relevant first (read from the task text)."""
    def flip(name: str) -> tuple[str, Callable[[Plan], Plan]]:
        def apply(plan: Plan) -> Plan:
            weights = dict(plan.weights)
            if name in weights:
                del weights[name]
            else:
                weights[name] = ADDABLE[name]
            return Plan(weights, plan.distance, [])
        return (f"{'remove' if name in parent.weights else 'add'} {name}", apply)

    def distance(plan: Plan) -> Plan:
        return Plan(dict(plan.weights), _OTHER_DISTANCE[plan.distance], [])

    out: list[tuple[str, Callable[[Plan], Plan]]] = []
    if recipe.has_targets:
        if "approach" in parent.weights:
            out.append((f"approach by {_OTHER_DISTANCE[parent.distance]} distance", distance))
        out.append(flip("approach"))
    out.insert(0 if recipe.explore else len(out), flip("explore"))
    if recipe.hazards:
        out.append(flip("death"))
    if {"monster", "trap"} & set(recipe.hazards):
        out.append(flip("hp"))
    out.append(flip("dither"))
    return out



def _normalise(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def _offline_response(recipe: Recipe, weights: dict[str, float], notes: list[str], code: str) -> str:
    phases = " -> ".join(f"{p.component}: {p.describe()}" for p in recipe.phases)
    lines = [f"{OFFLINE_MARK}: components {', '.join(weights)}",
             f"Phases: {phases}.",
             *(f"- {note}" for note in notes),
             "", "```python", code.rstrip(), "```", ""]
    return "\n".join(lines)

