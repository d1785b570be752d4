"""Environment cards: what each environment family exposes to reward code and to prompts.

A card is read from `envs/<family>.toml` (task list, goals, observation keys, family notes) and knows how to
make a task's environment (seeded through NetHack's own RNGs, step limit reported as truncation), build the
`State` of an observation, render it as text, judge success, and describe all of that to the designer.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import tomllib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from autoreward.env.glyphs import GROUPS, NAMES
from autoreward.env.render import render_state
from autoreward.env.state import STATE_API, State
from autoreward.env.vocabulary import SHORT_MOVES
from autoreward.env.wrappers import (
    DEATH,
    TASK_SUCCESSFUL,
    LastSightAtEnd,
    NetHackSeeding,
    StepLimitAsTruncation,
    skip_unused_screen_descriptions,
)
from autoreward.errors import UsageError
from autoreward.paths import data_dir


@dataclass(frozen=True)
class TaskInfo:
    """One supported task: its gymnasium id, its goal in words, and extra arguments for `gym.make`."""

    id: str
    family: str
    goal: str
    make_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnvCard:
    """One environment family (MiniHack navigation, MiniHack skills, NLE)."""

    family: str
    title: str
    summary: str
    notes: str
    observation_keys: tuple[str, ...]
    tasks: tuple[TaskInfo, ...]

    def task(self, task_id: str) -> TaskInfo:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise UsageError(f"task {task_id!r} is not in the {self.family} card")

    def make(self, task_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
        """The task's environment: the card's observation keys, NetHack seeding, truncation fix, no unused buffers."""
        task = self.task(task_id)
        _register_backends()
        env = gym.make(task.id, observation_keys=self.observation_keys, disable_env_checker=True,
                       **{**task.make_kwargs, **kwargs})
        skip_unused_screen_descriptions(env)
        return StepLimitAsTruncation(LastSightAtEnd(NetHackSeeding(env, seed)))

    @staticmethod
    def state(obs: dict[str, Any], env_reward: float = 0.0, terminated: bool = False,
              truncated: bool = False, info: dict[str, Any] | None = None, step: int = 0) -> State:
        """The State of one observation (after a reset, or after a step with its reward and info)."""
        end_status = int((info or {}).get("end_status", 0))
        return State.copy_from(obs, env_reward=float(env_reward), done=bool(terminated or truncated),
                               success=end_status == TASK_SUCCESSFUL, died=end_status == DEATH, step=int(step))

    @staticmethod
    def success(info: dict[str, Any]) -> bool:
        """The task's own success: NLE's end status TASK_SUCCESSFUL (never `reward == 1`)."""
        return int(info.get("end_status", 0)) == TASK_SUCCESSFUL

    def describe(self, task_id: str, contract: str, example_seed: int = 0) -> str:
        """Exactly what the designer is told about a task: goal, success, actions, the reward `contract` (the
        critic's, autoreward.reward.contract.describe_task), State API, an example observation."""
        task = self.task(task_id)
        env = self.make(task_id, seed=example_seed)
        try:
            obs, _ = env.reset()
            example = render_state(self.state(obs))
            names = action_names(env)
            limit = getattr(env.unwrapped, "_max_episode_steps", None)
        finally:
            env.close()
        actions = "\n".join(f"  {i}: {name}" for i, name in enumerate(names))
        return "\n".join([
            f"# Task {task.id} ({self.title})",
            "",
            "## Goal",
            task.goal.strip(),
            "",
            "## Environment",
            self.summary.strip(),
            f"An episode lasts at most {limit} steps. Success means the game itself reports the task done "
            "(`state.success` on the last step); the task's own reward is `state.env_reward`.",
            "",
            "## Facts for reward design",
            self.notes.strip(),
            "",
            f"## Actions ({len(names)}; `action` is the index)",
            actions,
            "",
            contract.strip(),
            "",
            describe_state_api(),
            "",
            "## Example observation (first step, rendered as text)",
            example,
        ]) + "\n"


def action_names(env: gym.Env) -> list[str]:
    """Readable names of the environment's actions, in action-index order ('north', 'pickup', 'apply')."""
    names = []
    for action in env.unwrapped.actions:
        name = getattr(action, "name", str(action)).lower()
        kind = type(action).__name__
        if kind.startswith("Compass"):
            name = SHORT_MOVES.get(name, name)
            if kind.endswith("Longer"):
                name = f"far {name}"
        names.append(name)
    return names


def describe_state_api() -> str:
    """The State API as documented for the designer, generated from the State class (the critic's allow-list)."""
    lines = ["## State API (`prev` and `state`; read-only; points are (x, y), x east, y south)"]
    for name in sorted(STATE_API):
        member = inspect.getattr_static(State, name)
        if isinstance(member, property):
            doc, signature = inspect.getdoc(member.fget) or "", ""
            returns = inspect.signature(member.fget).return_annotation
            signature = f" -> {returns}" if returns is not inspect.Signature.empty else ""
        elif isinstance(member, staticmethod):
            doc = inspect.getdoc(member.__func__) or ""
            signature = str(inspect.signature(member.__func__))
        elif callable(member):
            doc = inspect.getdoc(member) or ""
            params = list(inspect.signature(member).parameters.values())[1:]
            signature = str(inspect.signature(member).replace(parameters=params))
        else:
            continue
        signature = signature.replace("'", "")  # annotations are strings here (postponed evaluation)
        doc = "\n  ".join(line for line in doc.splitlines() if line.strip())  # longer docs: indented under their item
        lines.append(f"- state.{name}{signature}: {doc}".rstrip(": "))
    groups = "; ".join(f"'{g}' = {', '.join(parts)}" for g, parts in GROUPS.items())
    lines += [
        "",
        "Map names accepted by find/nearest/count/distance_to/path_to (or any single map character such as '>'):",
        "  " + ", ".join(repr(n) for n in NAMES),
        f"Group names: {groups}.",
    ]
    return "\n".join(lines)


@functools.cache
def cards() -> tuple[EnvCard, ...]:
    """All environment cards in `envs/`, in file-name order."""
    loaded = []
    for path in sorted(data_dir("envs").glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        tasks = tuple(TaskInfo(id=t["id"], family=raw["family"], goal=t["goal"].strip(),
                               make_kwargs=dict(t.get("make_kwargs", {}))) for t in raw["tasks"])
        loaded.append(EnvCard(family=raw["family"], title=raw["title"], summary=raw["summary"],
                              notes=raw.get("notes", ""), observation_keys=tuple(raw["observation_keys"]),
                              tasks=tasks))
    return tuple(loaded)


def card_for(task_id: str) -> EnvCard:
    """The card that supports `task_id`; a UsageError naming close matches when none does."""
    for card in cards():
        if any(task.id == task_id for task in card.tasks):
            return card
    known = [task.id for card in cards() for task in card.tasks]
    close = difflib.get_close_matches(task_id, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else " Run `autoreward envs` for the list."
    raise UsageError(f"unknown task {task_id!r}.{hint}")


def make_env(task_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
    """Shortcut: the card's environment for a task."""
    return card_for(task_id).make(task_id, seed=seed, **kwargs)


@functools.cache
def _register_backends() -> None:
    """Register our MiniGrid size shims, once (NLE and MiniHack register theirs when env.wrappers imports them)."""
    for name in ("LavaCrossingS9N1", "LavaCrossingS9N2", "LavaCrossingS9N3", "LavaCrossingS11N5",
                 "SimpleCrossingS9N1", "SimpleCrossingS9N2", "SimpleCrossingS9N3", "SimpleCrossingS11N5"):
        shim = f"autoreward/MiniGrid-{name}-v0"
        if shim not in gym.registry:
            gym.register(shim, entry_point=_minigrid_without_size, kwargs={"env_name": f"MiniGrid-{name}-v0"})


def _minigrid_without_size(env_name: str, width: int | None = None, height: int | None = None,
                           **kwargs: Any) -> gym.Env:
    """MiniHack passes width/height to every MiniGrid env; the Crossing envs take a grid size and refuse them."""
    return gym.make(env_name, **kwargs)
