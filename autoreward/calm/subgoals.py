"""Task decomposition: a task broken into 2-6 short, checkable subgoals, by an LLM (cached) or by rules.

With an LLM, `prompts/calm_decompose.txt` asks for strict JSON `{"subgoals": [{"name", "description"}]}`,
validated strictly (one retry, then `DecompositionError`); the result is stored per (task, model, prompt
version) in a small JSON file, so it is reused without the LLM. Offline, the task family gives the list
(KeyRoom: pick_up_key, open_door, reach_stairs; Wear: pick_up_item, wear_item; ...), whose names are the
ones `ground_truth` can check.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from autoreward.calm.ask import ask_json
from autoreward.env.card import card_for
from autoreward.errors import AutorewardError, UsageError
from autoreward.io import write_json_atomic
from autoreward.llm.base import LLM
from autoreward.llm.client import default_cache_path as llm_cache_path
from autoreward.llm.prompts import load_template, render

TEMPLATE = "calm_decompose"
MIN_SUBGOALS, MAX_SUBGOALS = 2, 6
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
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


# ----- LLM decomposition ----------------------------------------------------------------------------------
def prompt_version() -> str:
    """Short hash of the decomposition template: part of the cache key."""
    return hashlib.sha256(load_template(TEMPLATE).encode("utf-8")).hexdigest()[:12]


def decompose_prompt(task: str, task_text: str, environment: str) -> str:
    """The decomposition request for a task (its id, goal text and the env card's description)."""
    return render(TEMPLATE, task=task, task_text=task_text.strip(), environment=environment.strip(),
                  min_count=str(MIN_SUBGOALS), max_count=str(MAX_SUBGOALS))


def check_decomposition(data: dict[str, Any]) -> list[Subgoal]:
    """Subgoals from a decoded answer; ValueError saying what is wrong when it is not exactly the schema."""
    if set(data) != {"subgoals"}:
        raise ValueError(f'expected exactly one key "subgoals", got {sorted(data)}')
    items = data["subgoals"]
    if not isinstance(items, list) or not MIN_SUBGOALS <= len(items) <= MAX_SUBGOALS:
        raise ValueError(f'"subgoals" must be a list of {MIN_SUBGOALS} to {MAX_SUBGOALS} objects')
    subgoals: list[Subgoal] = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or set(item) != {"name", "description"}:
            raise ValueError(f'subgoal {i}: expected an object with exactly "name" and "description"')
        name, description = item["name"], item["description"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"subgoal {i}: name {name!r} is not snake_case (a-z, 0-9, _; at most 48 characters)")
        if not isinstance(description, str) or not description.strip():
            raise ValueError(f"subgoal {i}: the description must be a non-empty text")
        if any(s.name == name for s in subgoals):
            raise ValueError(f"subgoal name {name!r} appears twice")
        subgoals.append(Subgoal(name, description.strip()))
    return subgoals


_EXAMPLE = '{"subgoals": [{"name": "pick_up_key", "description": "The key appears in the inventory."}, ...]}'


@runtime_checkable
class Decomposer(Protocol):
    """Breaks a task into subgoals."""

    def decompose(self, task: str, task_text: str, environment: str) -> list[Subgoal]:
        """The subgoals of `task` (goal `task_text`; `environment`: the env card's summary)."""
        ...


class OfflineDecomposer:
    """The Decomposer by rules (`offline_decompose`): the task family gives the list."""

    def decompose(self, task: str, task_text: str, environment: str = "") -> list[Subgoal]:
        return offline_decompose(task, task_text)


class LLMDecomposer:
    """The Decomposer asked of an LLM, stored per (task, model, prompt version, goal text) in `cache_path`."""

    def __init__(self, llm: LLM, cache_path: str | Path | None = None) -> None:
        self.llm, self.cache_path = llm, cache_path

    def decompose(self, task: str, task_text: str, environment: str) -> list[Subgoal]:
        key = f"{task}|{self.llm.model}|{prompt_version()}|{hashlib.sha256(task_text.encode()).hexdigest()[:12]}"
        cached = _read_cache(self.cache_path).get(key)
        if cached is not None:
            return subgoals_from_dicts(cached)
        prompt = decompose_prompt(task, task_text, environment)
        subgoals, reason = ask_json(self.llm, prompt, check_decomposition, role="calm_decompose", example=_EXAMPLE)
        if subgoals is None:
            raise DecompositionError(f"{self.llm.model} gave no valid decomposition of {task} after a retry: {reason}")
        if self.cache_path is not None:
            _write_cache(self.cache_path, key, subgoals)
        return subgoals


def decomposer_for(llm: LLM | None, cache_path: str | Path | None = None) -> Decomposer:
    """The offline rules without an LLM, else the (cached) LLM decomposition."""
    return OfflineDecomposer() if llm is None else LLMDecomposer(llm, cache_path)


def decompose(task: str, card: Any = None, llm: LLM | None = None, cache_path: str | Path | None = None,
              task_text: str | None = None) -> list[Subgoal]:
    """The task's subgoals: offline rules without an LLM; with one, the cached or freshly asked decomposition.

    `card` is the task's EnvCard (default: looked up); `task_text` overrides its goal text.
    """
    card = card if card is not None else card_for(task)
    text = task_text if task_text is not None else card.task(task).goal
    return decomposer_for(llm, cache_path).decompose(task, text, card.summary)


def _read_cache(path: str | Path | None) -> dict[str, Any]:
    if path is None or not Path(path).is_file():
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # an unreadable cache costs a call, not the run
    return data if isinstance(data, dict) else {}


def _write_cache(path: str | Path, key: str, subgoals: list[Subgoal]) -> None:
    data = _read_cache(path)
    data[key] = [s.to_dict() for s in subgoals]
    write_json_atomic(path, data)


def default_cache_path() -> Path:
    """Where decompositions are kept without a run directory: next to the LLM response cache."""
    return llm_cache_path().parent / "calm_subgoals.json"
