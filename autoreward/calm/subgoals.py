"""Subgoals: a task broken into 2-6 short, checkable subgoals; the record, its parsing, and the offline rules.

`autoreward.calm.decompose` asks for them: with an LLM, `prompts/calm_decompose.txt` asks for strict JSON
`{"subgoals": [{"name", "description"}]}`, validated strictly (one retry, then `DecompositionError`), stored
per (task, model, prompt version) in a small JSON file, so it is reused without the LLM. Offline, the task
family gives the list (KeyRoom: pick_up_key, open_door, reach_stairs; Wear: pick_up_item, wear_item; ...),
whose names are the ones `ground_truth` can check.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from autoreward.errors import AutorewardError, UsageError

MIN_SUBGOALS, MAX_SUBGOALS = 2, 6
SUBGOAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_SKILLS = ("eat", "wear", "wield", "puton", "zap", "read")
_ARTICLES = frozenset({"a", "an", "the"})


class DecompositionError(AutorewardError):
    """The LLM's decomposition could not be parsed, even after one retry."""


@dataclass(frozen=True)
class Subgoal:
    """One subgoal: a snake_case name (a key of every judgement) and a short checkable description."""

    name: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def task_kind(task: str) -> str:
    """The family of a task id: 'keyroom', a skill ('eat', 'wear', ...), 'pray', 'sink', 'closeddoor',
    'lockeddoor', 'multiroom', 'river', 'lava', or 'navigate' (reach the stairs)."""
    name = task.lower().removeprefix("minihack-").split("-", 1)[0]
    if name in ("keyroom", *_SKILLS, "pray", "sink", "closeddoor", "lockeddoor", "multiroom", "river"):
        return name
    if name.startswith("lavacrossing"):
        return "lava"
    return "navigate"


def subgoals_from_dicts(items: list[dict[str, Any]]) -> list[Subgoal]:
    """Subgoals from their JSON form (as stored in datasets and caches)."""
    return [Subgoal(str(item["name"]), str(item["description"])) for item in items]


# ----- offline rules --------------------------------------------------------------------------------------
_OBJECT = re.compile(r"\b(?:eat|wear|wield|put on|zap|read|pick up)\s+the\s+([a-z][a-z ]*?)\s*\(", re.IGNORECASE)
_STAIRS = Subgoal("reach_stairs", "The agent reaches the staircase down ('>').")
_DOOR = Subgoal("open_door", "A closed door next to the agent becomes open (or broken).")
_USE = {  # skill family -> (name, description with {obj} for the task's object)
    "eat": ("eat_item", "The agent eats the {obj}."),
    "wear": ("wear_item", "The agent wears the {obj}: its inventory line then says (being worn)."),
    "wield": ("wield_item", "The agent wields the {obj}: its inventory line then says (weapon in hand)."),
    "puton": ("put_on_item", "The agent puts on the {obj}."),
    "zap": ("zap_item", "The agent zaps the {obj}."),
    "read": ("read_item", "The agent reads the {obj}."),
}


def task_object(task_text: str) -> str | None:
    """The head noun of the object a skill task's goal names ('apple', 'robe', 'amulet' of life saving)."""
    match = _OBJECT.search(task_text)
    if match is None:
        return None
    return match.group(1).split(" of ")[0].split()[-1].lower()


def offline_decompose(task: str, task_text: str = "") -> list[Subgoal]:
    """The rule-based decomposition of a task, from its family and goal text."""
    kind = task_kind(task)
    if kind == "keyroom":
        return [Subgoal("pick_up_key", "The agent picks up the key: it appears in the inventory."),
                Subgoal("open_door", "The locked door is unlocked and opened (with the key applied next to it)."),
                _STAIRS]
    if kind in _USE:
        obj = task_object(task_text) or "item"
        name, description = _USE[kind]
        picks = "pick up" in task_text.lower() or kind != "eat"  # an apple can be eaten from the floor
        pick = Subgoal("pick_up_item", f"The agent picks up the {obj}: it appears in the inventory.")
        return [*([pick] if picks else []), Subgoal(name, description.format(obj=obj))]
    if kind in ("pray", "sink"):
        feature = "altar" if kind == "pray" else "sink"
        act = Subgoal("pray", "The agent prays.") if kind == "pray" else Subgoal(
            "quaff_from_sink", "The agent drinks from the sink.")
        return [Subgoal(f"reach_{feature}", f"The agent stands on the {feature}."), act]
    if kind in ("closeddoor", "lockeddoor", "multiroom"):
        return [_DOOR, _STAIRS]
    if kind == "river":
        return [Subgoal("cross_river", "No water is left between the agent and the stairs down."), _STAIRS]
    if kind == "lava":
        return [Subgoal("cross_lava", "No lava is left between the agent and the stairs down."), _STAIRS]
    return [_STAIRS]


def parse_subgoals(text: str) -> list[Subgoal]:
    """User-given subgoals, ';'-separated ("pick up the key;open the door"); names are the words in
    snake_case without articles ("pick_up_key"), descriptions the text as given."""
    subgoals, seen = [], set()
    for part in text.split(";"):
        description = part.strip()
        if not description:
            continue
        words = [w for w in re.findall(r"[a-z0-9]+", description.lower()) if w not in _ARTICLES]
        name = "_".join(words)[:48].strip("_")
        if not name or not name[0].isalpha():
            raise UsageError(f"subgoal {description!r}: start it with a word (names are made from the words)")
        if name in seen:
            raise UsageError(f"subgoal {description!r} repeats the name {name!r}")
        seen.add(name)
        subgoals.append(Subgoal(name, description))
    if not subgoals:
        raise UsageError(f"no subgoals in {text!r}: give them separated by ';', e.g. 'pick up the key;open the door'")
    return subgoals
