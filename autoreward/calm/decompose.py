"""Decomposing a task into subgoals: the `Decomposer` protocol, by rules (`OfflineDecomposer`) or asked of an
LLM (`LLMDecomposer`, strict JSON, cached per task, model, prompt version and goal text), and `decompose`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from autoreward.calm.ask import ask_json
from autoreward.calm.subgoals import (
    MAX_SUBGOALS,
    MIN_SUBGOALS,
    SUBGOAL_NAME,
    DecompositionError,
    Subgoal,
    offline_decompose,
    subgoals_from_dicts,
)
from autoreward.env.registry import card_for
from autoreward.io import write_json_atomic
from autoreward.llm.base import LLM
from autoreward.llm.client import default_cache_path as llm_cache_path
from autoreward.llm.prompts import load_template, render

TEMPLATE = "calm_decompose"


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
        if not isinstance(name, str) or not SUBGOAL_NAME.match(name):
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
