"""The offline designer's reading of a task: its phases, hazards and needs, from the task's goal text.

A recipe lists the things the task is about (stairs, key, locked door, an item to pick up and use, an altar,
hazards, darkness) in the order they are done; `default_weights` gives each component its starting number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Components the offline designer knows how to write; refinement may add the optional ones.
KNOWN_COMPONENTS = ("approach", "key", "door", "pickup", "reach", "command", "goal", "explore", "bridge", "death",
                     "hp", "dither")
ADDABLE = {"explore": 0.01, "death": 0.2, "hp": 0.05, "dither": 0.01, "approach": 0.05, "goal": 1.0}
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
    if {"closed door", "locked door"} & set(names) or ("door" in text and re.search(r"\b(locked|unlock|kick)", text)):
        phases.append(Phase("door", "locked door" if "locked door" in names else "closed door", "opened"))
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
    # the goal's target: NetHack's stairs, or a MiniGrid task's goal square or ball (named as a mention)
    goal_target = "stairs down" if "stairs" in text else next((n for n in ("goal", "ball") if n in names), "")
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


def round_weight(value: float) -> float:
    """Four significant digits: readable constants in the generated code."""
    return float(f"{value:.4g}") if value else 0.0



#: The sub-goals paid once, when their phase completes (the analyzer reads "never paid" for these).
MILESTONES = ("key", "door", "pickup", "reach", "command", "bridge")
