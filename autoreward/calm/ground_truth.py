"""Ground truth: which subgoals a step achieved, read from the game state (inventory, map categories, status,
the task's own success), never from the message text that judges read.

One detector per subgoal name of the offline decomposition (`autoreward.calm.subgoals.offline_decompose`);
a subgoal with another name (from an LLM or the user) has no ground truth: `GroundTruthUnavailable`.
NLE shows the screen before the last step when an episode ends, so a subgoal whose achievement ends the
episode (the stairs of a navigation task, the apple of Eat) is read from the task's own success; in a skill
task the skill's subgoal is exactly that success (wielding the club is not wielding the task's dagger).
Known blind spot: a feature under an object (an altar under a dropped sling) shows as the object.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from autoreward.calm.subgoals import Subgoal, task_kind, task_object
from autoreward.env.registry import card_for
from autoreward.env.state import State
from autoreward.errors import UsageError

Detector = Callable[[State, State, str], bool]
_QUANTITY = re.compile(r"^(\d+|an?|the)\s", re.IGNORECASE)
_STAIRS_KINDS = frozenset({"keyroom", "closeddoor", "lockeddoor", "multiroom", "river", "lava", "navigate"})


class GroundTruthUnavailable(UsageError):
    """A subgoal has no ground-truth detector: the dataset cannot label it."""


def _gained(prev: State, state: State) -> list[str]:
    before = set(prev.inventory)
    return [line for line in state.inventory if line not in before]


def _count(state: State) -> int:
    """Items carried, stacks counted by their quantity ('20 flint stones' is 20)."""
    total = 0
    for line in state.inventory:
        match = _QUANTITY.match(line)
        total += int(match.group(1)) if match and match.group(1).isdigit() else 1
    return total


@functools.cache
def _object_of(task: str) -> str | None:
    """The object a skill task is about ('apple'), from its goal text; None for other tasks."""
    if task_kind(task) not in ("eat", "wear", "wield", "puton", "zap", "read"):
        return None
    return task_object(card_for(task).task(task).goal)


def _own(kind: str, task: str) -> bool:
    """Whether `task` is of family `kind`: its subgoal is then exactly the task's own success."""
    return task_kind(task) == kind


def key_picked_up(prev: State, state: State, task: str) -> bool:
    """An inventory line naming a key ('a key named ...', 'a skeleton key') appeared."""
    return any(re.search(r"\bkey\b", line, re.IGNORECASE) for line in _gained(prev, state))


def item_picked_up(prev: State, state: State, task: str) -> bool:
    """The agent carries more items than before (a new line, or a larger stack): in a skill task, a line naming
    the task's object ('an apple') among them."""
    if _count(state) <= _count(prev):
        return False
    obj = _object_of(task)
    return obj is None or any(obj in line.lower() for line in _gained(prev, state))


def door_opened(prev: State, state: State, task: str) -> bool:
    """A cell that showed a closed door now shows an open door or a doorway (or the agent stands on it)."""
    opened = ("open door", "doorway")
    return any((x, y) == state.pos or state.at(x, y) in opened for x, y in prev.find("closed door"))


def stairs_reached(prev: State, state: State, task: str) -> bool:
    """The task's success in a reach-the-stairs task, or the agent moved onto a cell seen as stairs down."""
    if state.success and task_kind(task) in _STAIRS_KINDS:
        return True
    return state.pos != prev.pos and prev.at(*state.pos) == "stairs down"


def _reached(feature: str) -> Detector:
    def detector(prev: State, state: State, task: str) -> bool:
        return state.pos != prev.pos and prev.at(*state.pos) == feature

    detector.__doc__ = f"The agent moved onto a cell seen as {feature}."
    return detector


def item_eaten(prev: State, state: State, task: str) -> bool:
    """In an Eat task its success (the apple eaten); elsewhere, hunger relieved (the hunger state went down)."""
    return state.success if _own("eat", task) else state.hunger < prev.hunger


def item_worn(prev: State, state: State, task: str) -> bool:
    """In a Wear task its success; elsewhere, more inventory lines say '(being worn)' (amulets aside)."""
    def worn(s: State) -> int:
        return sum("(being worn)" in line and "amulet" not in line for line in s.inventory)
    return state.success if _own("wear", task) else worn(state) > worn(prev)


def item_wielded(prev: State, state: State, task: str) -> bool:
    """In a Wield task its success; elsewhere, a new inventory line says '(weapon in hand)' or '(... hands)'."""
    if _own("wield", task):
        return state.success
    return any("(weapon in hand" in line for line in _gained(prev, state))


def item_put_on(prev: State, state: State, task: str) -> bool:
    """In a PutOn task its success; elsewhere, a new line says '(on left hand)', '(on right hand)' or is a worn
    amulet."""
    def on(line: str) -> bool:
        return "(on left hand)" in line or "(on right hand)" in line or ("amulet" in line and "(being worn)" in line)
    return state.success if _own("puton", task) else any(on(line) for line in _gained(prev, state))


def _success_of(kind: str) -> Detector:
    def detector(prev: State, state: State, task: str) -> bool:
        return state.success and _own(kind, task)

    detector.__doc__ = f"The task's own success in a {kind} task."
    return detector


def _between(state: State, hazard: str) -> bool | None:
    """Whether a `hazard` cell lies in the rectangle between the agent and the stairs (None: no stairs seen)."""
    stairs = state.nearest("stairs down")
    if stairs is None:
        return None
    (x0, x1), (y0, y1) = sorted((state.pos[0], stairs[0])), sorted((state.pos[1], stairs[1]))
    return any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in state.find(hazard))


def _crossed(hazard: str) -> Detector:
    def detector(prev: State, state: State, task: str) -> bool:
        if not _between(prev, hazard):
            return False
        return state.success or _between(state, hazard) is False

    detector.__doc__ = (f"Some {hazard} lay between the agent and the stairs down before the step and none after "
                        "(or the step reached the goal).")
    return detector


#: Subgoal name -> detector, for every name the offline decomposition uses.
DETECTORS: dict[str, Detector] = {
    "pick_up_key": key_picked_up,
    "pick_up_item": item_picked_up,
    "open_door": door_opened,
    "reach_stairs": stairs_reached,
    "eat_item": item_eaten,
    "wear_item": item_worn,
    "wield_item": item_wielded,
    "put_on_item": item_put_on,
    "zap_item": _success_of("zap"),
    "read_item": _success_of("read"),
    "reach_altar": _reached("altar"),
    "pray": _success_of("pray"),
    "reach_sink": _reached("sink"),
    "quaff_from_sink": _success_of("sink"),
    "cross_river": _crossed("water"),
    "cross_lava": _crossed("lava"),
}


def check_available(subgoals: Sequence[Subgoal]) -> None:
    """Raise GroundTruthUnavailable naming every subgoal without a detector, and the names that have one."""
    missing = [s.name for s in subgoals if s.name not in DETECTORS]
    if missing:
        raise GroundTruthUnavailable(
            f"no ground truth for subgoal(s) {', '.join(missing)}: a dataset can only label subgoals whose "
            f"achievement is read from the game state; known names: {', '.join(DETECTORS)}")


def labels(prev: State, state: State, task: str, subgoals: Sequence[Subgoal]) -> dict[str, bool]:
    """{subgoal name: achieved on this step} from the game state."""
    check_available(subgoals)
    return {s.name: bool(DETECTORS[s.name](prev, state, task)) for s in subgoals}
