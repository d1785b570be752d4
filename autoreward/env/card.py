"""Environment cards: what an environment family exposes to reward code and to prompts.

`Card` is the interface (docs/cards.md): make a task's env, build the `State` reward code sees from an
observation, render a State as text, judge success, name the actions, and document the State API whose names
are the critic's allow-list (`state_api`). `EnvCard` is the built-in implementation for NetHack-based families,
read from `envs/<family>.toml` (task list, goals, observation keys, family notes): seeded through NetHack's own
RNGs, step limit reported as truncation. Cards from outside the package are found by `autoreward.env.registry`.
"""

from __future__ import annotations

import functools
import inspect
import tomllib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

from autoreward.env.glyphs import GROUPS, NAMES
from autoreward.env.render import render_state
from autoreward.env.shared_code import share_game_code
from autoreward.env.state import STATE_API, State
from autoreward.env.vocabulary import SHORT_MOVES
from autoreward.env.wrappers import (
    DEATH,
    TASK_SUCCESSFUL,
    TTY_BUFFERS,
    LastSightAtEnd,
    NetHackSeeding,
    StepLimitAsTruncation,
    skip_unused_buffers,
    skip_unused_screen_descriptions,
)
from autoreward.errors import UsageError
from autoreward.paths import data_dir

# NLE warns each time a game that ended without NetHack's own end (a goal reached, a step limit) does not quit
# through NetHack's menus; it then aborts the game, which the next reset does anyway. Noise in every process that
# plays games (workers, evaluation), never a fault: not shown.
warnings.filterwarnings("ignore", message=".*smooth quitting of game failed", category=UserWarning)


@dataclass(frozen=True)
class TaskInfo:
    """One supported task: its id, its goal in words, and extra arguments for `gym.make`."""

    id: str
    family: str
    goal: str
    make_kwargs: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Card(Protocol):
    """What autoreward needs from an environment family; docs/cards.md says what each member must do.

    Everything reward code can learn about the game goes through `state()`: the critic allows exactly the
    `state_api` names on a State (with plain numpy, math and value methods), and `describe_state_api()` is what
    the designer is shown of them.
    """

    family: str
    title: str
    tasks: tuple[TaskInfo, ...]

    @property
    def state_api(self) -> frozenset[str]: ...

    def task(self, task_id: str) -> TaskInfo: ...

    def make(self, task_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env: ...

    def state(self, obs: Any, env_reward: float = 0.0, terminated: bool = False, truncated: bool = False,
              info: dict[str, Any] | None = None, step: int = 0) -> Any: ...

    def success(self, info: dict[str, Any]) -> bool: ...

    def render(self, state: Any) -> str: ...

    def action_names(self, env: gym.Env) -> list[str]: ...

    def describe_state_api(self) -> str: ...

    def describe(self, task_id: str, contract: str, example_seed: int = 0) -> str: ...


def find_task(tasks: Iterable[TaskInfo], task_id: str, family: str) -> TaskInfo:
    """The task `task_id` among `tasks`; a UsageError naming the family when it is not there."""
    for task in tasks:
        if task.id == task_id:
            return task
    raise UsageError(f"task {task_id!r} is not in the {family} card")


@dataclass(frozen=True)
class EnvCard:
    """One environment family (MiniHack navigation, MiniHack skills, NLE)."""

    family: str
    title: str
    summary: str
    notes: str
    observation_keys: tuple[str, ...]
    tasks: tuple[TaskInfo, ...]

    @property
    def state_api(self) -> frozenset[str]:
        """The names reward code may read on a NetHack State (the critic's allow-list)."""
        return STATE_API

    def task(self, task_id: str) -> TaskInfo:
        return find_task(self.tasks, task_id, self.family)

    def make(self, task_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
        """The task's environment: the card's observation keys, NetHack seeding, truncation fix, no unused buffers."""
        task = self.task(task_id)
        _register_backends()
        env = gym.make(task.id, observation_keys=self.observation_keys, disable_env_checker=True,
                       **{**task.make_kwargs, **kwargs})
        skip_unused_buffers(env, (*self.observation_keys, *(TTY_BUFFERS if "render_mode" in kwargs else ())))
        skip_unused_screen_descriptions(env)
        share_game_code(env)
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

    @staticmethod
    def render(state: State) -> str:
        """The State as text for prompts and logs (autoreward.env.render.render_state)."""
        return render_state(state)

    @staticmethod
    def action_names(env: gym.Env) -> list[str]:
        return action_names(env)

    @staticmethod
    def describe_state_api() -> str:
        return describe_state_api()

    def describe(self, task_id: str, contract: str, example_seed: int = 0) -> str:
        """Exactly what the designer is told about a task: goal, success, actions, the reward `contract` (the
        critic's, autoreward.reward.contract.describe_task), State API, an example observation."""
        return describe_card(self, task_id, contract, example_seed, summary=self.summary, notes=self.notes)


def describe_card(card: Card, task_id: str, contract: str, example_seed: int = 0, summary: str = "",
                  notes: str = "") -> str:
    """A task described from any card's members: goal, environment (`summary`), `notes`, actions, the reward
    `contract`, the card's State API, an example observation (the card's rendering of the first State)."""
    task = card.task(task_id)
    env = card.make(task_id, seed=example_seed)
    try:
        obs, info = env.reset()
        example = card.render(card.state(obs, info=info))
        names = card.action_names(env)
        base = env.unwrapped  # NLE's step limit, MiniGrid's, or gymnasium's
        limit = (getattr(base, "_max_episode_steps", None) or getattr(base, "max_steps", None)
                 or getattr(env.spec, "max_episode_steps", None))
    finally:
        env.close()
    actions = "\n".join(f"  {i}: {name}" for i, name in enumerate(names))
    facts = ["## Facts for reward design", notes.strip(), ""] if notes.strip() else []
    return "\n".join([
        f"# Task {task.id} ({card.title})",
        "",
        "## Goal",
        task.goal.strip(),
        "",
        "## Environment",
        *([summary.strip()] if summary.strip() else []),
        (f"An episode lasts at most {limit} steps. " if limit else "")
        + "Success means the game itself reports the task done (`state.success` on the last step); the task's own "
        "reward is `state.env_reward`.",
        "",
        *facts,
        f"## Actions ({len(names)}; `action` is the index)",
        actions,
        "",
        contract.strip(),
        "",
        card.describe_state_api(),
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
    """The NetHack State API as documented for the designer, generated from the State class (the critic's
    allow-list), with the map names its helpers accept."""
    lines = [document_api(State, STATE_API, "points are (x, y), x east, y south")]
    groups = "; ".join(f"'{g}' = {', '.join(parts)}" for g, parts in GROUPS.items())
    lines += [
        "",
        "Map names accepted by find/nearest/count/distance_to/path_to (or any single map character such as '>'):",
        "  " + ", ".join(repr(n) for n in NAMES),
        f"Group names: {groups}.",
    ]
    return "\n".join(lines)


def document_api(state_class: type, names: Iterable[str], note: str = "") -> str:
    """The `names` of `state_class` documented from their docstrings and signatures (properties, methods,
    static methods; plain fields by their annotation): the State API section of the designer's prompt, for any
    card's State."""
    lines = [f"## State API (`prev` and `state`; read-only{'; ' + note if note else ''})"]
    for name in sorted(names):
        member = inspect.getattr_static(state_class, name, None)
        if member is None:  # a plain field (a dataclass's, say): its annotation
            annotation = inspect.get_annotations(state_class).get(name)
            lines.append(f"- state.{name}" + (f": {annotation}" if annotation else ""))
            continue
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
    return "\n".join(lines)


@functools.cache
def card_tables() -> tuple[dict[str, Any], ...]:
    """Every `envs/*.toml` parsed, in file-name order. A table with a `card` key names another loader (e.g.
    "minigrid": autoreward.env.minigrid); the others are NetHack-based `EnvCard`s."""
    return tuple(tomllib.loads(path.read_text(encoding="utf-8")) for path in sorted(data_dir("envs").glob("*.toml")))


@functools.cache
def cards() -> tuple[EnvCard, ...]:
    """The NetHack-based environment cards of `envs/` (autoreward.env.registry.builtin_cards has all of them)."""
    loaded = []
    for raw in card_tables():
        if "card" in raw:
            continue
        tasks = tuple(TaskInfo(id=t["id"], family=raw["family"], goal=t["goal"].strip(),
                               make_kwargs=dict(t.get("make_kwargs", {}))) for t in raw["tasks"])
        loaded.append(EnvCard(family=raw["family"], title=raw["title"], summary=raw["summary"],
                              notes=raw.get("notes", ""), observation_keys=tuple(raw["observation_keys"]),
                              tasks=tasks))
    return tuple(loaded)


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
