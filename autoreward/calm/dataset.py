"""Labelled transitions for scoring CALM judges: rollouts of a task, each step labelled by the ground truth.

Episodes rotate over the data-collection policies: the scripted explorer (`autoreward.calm.explorer`,
epsilon-greedy, it reaches the subgoals), a uniform random policy (detours, idle commands), and a trained
SB3 policy when one is given. Every step is rendered and labelled; with `balance`, all positive steps (any
subgoal achieved) are kept and the negatives are sampled (fixed seed) to `negatives_per_positive` times
their number. Records are JSON objects, one per line:
{task, subgoals: [{name, description}], text, key, labels: {name: bool}, episode, step, action, policy}.

Stopped by Ctrl-C, `collect` raises `Interrupted` with the records of the whole episodes played so far, as
`collect` with that many episodes returns them (the games, the policies and the balancing are seeded).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from autoreward.calm.explorer import ScriptedExplorer
from autoreward.calm.ground_truth import check_available, labels
from autoreward.calm.subgoals import Subgoal
from autoreward.calm.transition import build, key, render, typed_key
from autoreward.env.card import action_names
from autoreward.env.registry import card_for
from autoreward.errors import UsageError
from autoreward.io import write_text_atomic

Progress = Callable[[int, int], None]
RECORD_FIELDS = ("task", "subgoals", "text", "key", "labels", "episode", "step", "action", "policy")


class Interrupted(KeyboardInterrupt):
    """`collect` stopped by the user after `episodes` whole episodes; `records`: theirs, balanced as asked."""

    def __init__(self, records: list[dict[str, Any]], episodes: int) -> None:
        super().__init__(f"interrupted after {episodes} episodes")
        self.records, self.episodes = records, episodes


class _Random:
    """Uniform random actions (seeded)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.rng = n, np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, state: Any, obs: Any) -> int:
        return int(self.rng.integers(self.n))


class _Scripted:
    def __init__(self, explorer: ScriptedExplorer) -> None:
        self.explorer = explorer

    def reset(self) -> None:
        self.explorer.reset()

    def act(self, state: Any, obs: Any) -> int:
        return self.explorer.act(state)


class TrainedPolicy(Protocol):
    """A trained policy that joins the rotation (e.g. `autoreward.evaluate.SampledPolicy`): it wraps the env in
    the observations it was trained on (UsageError when it does not fit the task) and acts on them."""

    def wrap(self, env: gym.Env, task: str) -> gym.Env: ...

    def reset(self) -> None: ...

    def act(self, state: Any, obs: Any) -> int: ...


def collect(task: str, episodes: int, seed: int, subgoals: Sequence[Subgoal], trained: TrainedPolicy | None = None,
            balance: bool = True, negatives_per_positive: float = 2.0, epsilon: float = 0.25,
            progress: Progress | None = None) -> list[dict[str, Any]]:
    """Labelled transition records of `episodes` episodes of `task` (see the module docstring)."""
    if episodes < 1:
        raise UsageError("--episodes must be at least 1")
    check_available(subgoals)
    card = card_for(task)
    env = card.make(task, seed=seed)
    policies: dict[str, Any] = {}
    if trained is not None:
        env = trained.wrap(env, task)
        policies["trained"] = trained
    names = action_names(env)
    codes = [int(a) for a in env.unwrapped.actions]
    policies = {"explorer": _Scripted(ScriptedExplorer(task, names, codes, seed=seed, epsilon=epsilon)),
                "random": _Random(len(names), seed), **policies}
    order = list(policies)
    records: list[dict[str, Any]] = []
    done = 0
    try:  # NLE's "smooth quitting" warning at some game ends is silenced where cards are defined (env.card)
        for episode in range(episodes):
            kind = order[episode % len(order)]
            records += _episode(env, card, task, episode, kind, policies[kind], names, codes, subgoals)
            done = episode + 1
            if progress is not None:
                progress(done, episodes)
    except KeyboardInterrupt:
        raise Interrupted(balanced(records, negatives_per_positive, seed) if balance else records,
                          done) from None
    finally:
        env.close()
    return balanced(records, negatives_per_positive, seed) if balance else records


def _episode(env: Any, card: Any, task: str, episode: int, kind: str, policy: Any, names: list[str],
             codes: list[int], subgoals: Sequence[Subgoal]) -> list[dict[str, Any]]:
    """One episode's records, every step rendered and labelled."""
    obs, info = env.reset()
    raw = getattr(env, "raw", None) or obs
    prev = card.state(raw, info=info)
    policy.reset()
    goals = [s.to_dict() for s in subgoals]
    records, step, done = [], 0, False
    while not done:
        action = policy.act(prev, obs)
        obs, reward, terminated, truncated, info = env.step(action)
        step += 1
        raw = getattr(env, "raw", None) or obs
        state = card.state(raw, reward, terminated, truncated, info, step)
        transition = build(prev, names[action], typed_key(codes[action]), state)
        records.append({"task": task, "subgoals": goals, "text": render(transition), "key": key(transition, subgoals),
                        "labels": labels(prev, state, task, subgoals), "episode": episode, "step": step,
                        "action": names[action], "policy": kind})
        prev, done = state, terminated or truncated
    return records


def balanced(records: list[dict[str, Any]], negatives_per_positive: float, seed: int) -> list[dict[str, Any]]:
    """All records with a positive label, and a seeded sample of the others (that many per positive)."""
    positives = [i for i, r in enumerate(records) if any(r["labels"].values())]
    negatives = [i for i, r in enumerate(records) if not any(r["labels"].values())]
    wanted = min(len(negatives), round(negatives_per_positive * len(positives)))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(negatives), size=wanted, replace=False).tolist() if wanted else []
    keep = sorted(positives + [negatives[i] for i in chosen])
    return [records[i] for i in keep]


def write_dataset(path: str | Path, records: Sequence[dict[str, Any]]) -> None:
    """Write records as JSON lines, atomically."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def read_dataset(path: str | Path) -> list[dict[str, Any]]:
    """Records of a dataset file; UsageError naming the line when one is not a record."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"dataset {str(path)!r} not found")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{path}:{number}: not JSON ({exc})") from None
        missing = [f for f in RECORD_FIELDS if not isinstance(record, dict) or f not in record]
        if missing:
            raise UsageError(f"{path}:{number}: not a CALM record (missing {', '.join(missing)})")
        records.append(record)
    return records


def positives(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many records are positive for each subgoal."""
    counts: dict[str, int] = {}
    for record in records:
        for name, value in record["labels"].items():
            counts[name] = counts.get(name, 0) + int(bool(value))
    return counts
