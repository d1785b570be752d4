"""What a task suite runs: its tasks and variants, budgets and seeds, and the key of each cell (a cell whose key
changed is redone). `autoreward.bench.suite` runs it; `autoreward.bench.suite_report` writes and shows it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoreward.env.registry import card_for
from autoreward.errors import UsageError
from autoreward.paths import data_dir
from autoreward.train.config import DEFAULT_ENVS

VARIANTS = ("sparse", "loop", "expert", "calm", "oni")

# Cheap envs (thousands of random steps/s; no MultiRoom: MiniHack recompiles its level file at every reset),
# one or two per kind of difficulty.
DEFAULT_TASKS = (
    "MiniHack-KeyRoom-S5-v0",        # keys and doors: pick up, APPLY at the locked door, stairs (has an expert)
    "MiniHack-LockedDoor-v0",        # doors: KICK a locked door open
    "MiniHack-LavaCrossingS9N1-v0",  # hazard: lava kills, one gap to find
    "MiniHack-River-Narrow-v0",      # hazard: water, crossed by pushing a boulder into it
    "MiniHack-Room-Trap-5x5-v0",     # hazard: hidden traps
    "MiniHack-Room-Monster-5x5-v0",  # hazard: a monster that attacks
    "MiniHack-MazeWalk-9x9-v0",      # maze: dark corridors, dead ends
    "MiniHack-Room-Dark-15x15-v0",   # dark room: explore to find the stairs
    "MiniHack-Corridor-R3-v0",       # dark corridors joining 3 rooms (multi-room without MultiRoom's cost)
    "MiniHack-Eat-v0",               # skill: pick up and EAT the apple
    "MiniHack-Wear-v0",              # skill: pick up and WEAR the robe
    "MiniHack-Room-15x15-v0",        # plain navigation, far stairs (has an expert)
)

EXPERT_REWARDS = {  # task -> hand-written example reward in examples/
    "MiniHack-KeyRoom-S5-v0": "minihack_keyroom_s5.py",
    "MiniHack-Room-15x15-v0": "minihack_room_15x15.py",
}

DEFAULT_SEEDS = (1, 2, 3)
DEFAULT_STEPS = 150_000
DEFAULT_OUT = "runs/suite"
DEFAULT_DOCS = "docs/benchmarks"
MARK_START, MARK_END = "<!-- suite:start -->", "<!-- suite:end -->"
SECTION = "## Task suite (`autoreward bench suite`)"
FINAL = ("done", "n/a")  # statuses a rerun keeps; "failed" and "running" cells are (re)done

Events = Callable[[str, dict[str, Any]], None]


@dataclass
class SuiteConfig:
    """What a suite runs (saved in suite.json)."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    steps: int = DEFAULT_STEPS
    seeds: list[int] = field(default_factory=lambda: list(DEFAULT_SEEDS))
    search_seed: int = 0  # the loop's search seed; its answer is then confirmed on `seeds`
    rounds: int = 2
    candidates: int = 2
    eval_episodes: int = 50
    out: str = DEFAULT_OUT
    docs: str = DEFAULT_DOCS
    jobs: int = 0  # trainings at once for sparse/expert/calm/oni; 0: default_jobs()
    device: str = "auto"
    envs: int = DEFAULT_ENVS  # envs per training: the loop's default, so sparse cells share its baselines

    def validate(self) -> SuiteConfig:
        """Check the config (UsageError naming what is wrong); returns it with duplicates removed."""
        self.tasks, self.variants, self.seeds = unique(self.tasks), unique(self.variants), unique(self.seeds)
        if not self.tasks:
            raise UsageError("--tasks needs at least one task")
        for task in self.tasks:
            card_for(task)  # UsageError naming close matches
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise UsageError(f"unknown variant{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                             f"use one or more of {', '.join(VARIANTS)}" if unknown else
                             f"--variants needs at least one of {', '.join(VARIANTS)}")
        if not self.seeds:
            raise UsageError("--seeds needs at least one seed")
        for name in ("steps", "eval_episodes", "rounds", "candidates", "envs"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.jobs < 0:
            raise UsageError(f"--jobs must be 0 (auto) or more, got {self.jobs}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"unknown device {self.device!r}: use auto, cpu or cuda")
        return self


def default_jobs() -> int:
    """Half the cores: each training keeps about two processes busy (the trainer and its env worker)."""
    return max(1, (os.cpu_count() or 1) // 2)


def expert_reward(task: str) -> Path | None:
    """The hand-written example reward of `task`, or None when it has none."""
    name = EXPERT_REWARDS.get(task)
    return None if name is None else data_dir("examples") / name


def cell_path(out: str | Path, task: str, variant: str) -> Path:
    return Path(out) / "cells" / task / f"{variant}.json"


def cell_key(config: SuiteConfig, task: str, variant: str) -> dict[str, Any]:
    """What a cell's figures depend on: a cell with another key is redone."""
    key: dict[str, Any] = {"steps": config.steps, "seeds": list(config.seeds), "eval_episodes": config.eval_episodes,
                           "envs": config.envs}
    if variant == "loop":
        key.update(search_seed=config.search_seed, rounds=config.rounds, candidates=config.candidates)
    if variant == "expert":
        path = expert_reward(task)
        key["reward_sha256"] = None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return key


def unique(items: list[Any]) -> list[Any]:
    """`items` without repeats, in their order."""
    return list(dict.fromkeys(items))
