"""The evaluator: a trained policy's success by the task's own criterion, on fixed seeds.

Writes `eval.json` (success rate, returns, episode lengths, failure causes) and `trajectories.jsonl` (a few
episodes rendered as compact text, for the analyzer). The task's own reward is what is reported as return;
no reward function is involved. Actions are sampled from the policy, as in training (a memoryless greedy
policy tends to loop between two cells; `greedy=True` measures that instead). The games and the sampling
are seeded: the same policy, seed and episode count give the same result.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO

from autoreward.env.card import EnvCard, action_names
from autoreward.env.registry import card_for
from autoreward.env.render import compact_step, render_state
from autoreward.env.state import State
from autoreward.env.wrappers import DEATH
from autoreward.errors import UsageError
from autoreward.io import write_json_atomic, write_text_atomic
from autoreward.train.observation import PolicyObservation
from autoreward.train.policy import NETHACK, policy_observation, policy_of

STUCK_WINDOW = 30  # a timed-out episode whose last STUCK_WINDOW steps visited <= STUCK_CELLS cells was stuck
STUCK_CELLS = 3


@dataclass
class EpisodeOutcome:
    episode: int
    success: bool
    task_return: float
    length: int
    outcome: str  # "success" | "death: ..." | "timeout" | "stuck" | "ended"


@dataclass
class EvalResult:
    task: str
    policy: str
    episodes: int
    seed: int
    greedy: bool
    success_rate: float
    mean_return: float
    std_return: float
    episode_length: dict[str, float]
    failure_causes: dict[str, int]
    outcomes: list[EpisodeOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_policy(path: str | Path, device: str = "cpu") -> PPO:
    """The PPO policy `autoreward train` saved (a policy.zip, or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "policy.zip"
    if not path.is_file():
        raise UsageError(f"no policy at {str(path)!r} (expected a policy.zip written by `autoreward train`)")
    if not zipfile.is_zipfile(path):
        raise UsageError(f"{str(path)!r} is not a policy: not a zip file (expected a policy.zip written by "
                         "`autoreward train`)")
    with zipfile.ZipFile(path) as archive:
        missing = {"data", "policy.pth"} - set(archive.namelist())
    if missing:
        raise UsageError(f"{str(path)!r} is not a policy `autoreward train` wrote: it lacks "
                         f"{', '.join(sorted(missing))}")
    try:
        return PPO.load(path, device=device)
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:  # a damaged file
        raise UsageError(f"{str(path)!r} is not a policy `autoreward train` wrote, or it is damaged: "
                         f"{type(exc).__name__}: {exc}") from exc


class SampledPolicy:
    """A trained policy that samples its actions as in training (the trained member of CALM's dataset rotation)."""

    def __init__(self, path: str | Path, seed: int) -> None:
        self.path, self.seed = path, seed
        self.model = load_policy(path)

    def wrap(self, env: gym.Env, task: str) -> gym.Env:
        """The env with the observations the policy was trained on; UsageError when they or the actions differ."""
        env = PolicyObservation(env)
        if self.model.observation_space != env.observation_space or self.model.action_space != env.action_space:
            env.close()
            raise UsageError(f"the policy {str(self.path)!r} does not fit {task} (other observations or actions)")
        torch.manual_seed(self.seed)
        return env

    def reset(self) -> None:
        pass

    def act(self, state: Any, obs: Any) -> int:
        action, _ = self.model.predict(obs, deterministic=False)
        return int(action)


def evaluate(task: str, policy: str | Path, episodes: int = 50, seed: int = 0, out: str | Path | None = None,
             trajectories: int = 3, greedy: bool = False, crop: int = 9) -> EvalResult:
    """Play `episodes` episodes of `task` with the policy; episode i is always the same game for a seed."""
    if episodes < 1:
        raise UsageError("--episodes must be at least 1")
    card = card_for(task)
    model = load_policy(policy)
    torch.manual_seed(seed)  # action sampling
    env = policy_observation(card, card.make(task, seed=seed), crop=crop)
    if model.observation_space != env.observation_space or model.action_space != env.action_space:
        env.close()
        raise UsageError(f"the policy {str(policy)!r} does not fit {task}: it was trained on other observations or "
                         "actions (another task, or an older autoreward); train it again")
    nethack = policy_of(card) == NETHACK
    names = action_names(env) if nethack else card.action_names(env)
    reading = _nethack_reading() if nethack else _card_reading(card)
    outcomes: list[EpisodeOutcome] = []
    rendered: list[dict[str, Any]] = []
    try:
        for episode in range(episodes):
            outcome, lines, final = _play(env, card, reading, model, episode, names, greedy,
                                          keep=episode < trajectories)
            outcomes.append(outcome)
            if episode < trajectories:
                rendered.append({"episode": episode, "success": outcome.success, "outcome": outcome.outcome,
                                 "length": outcome.length, "steps": lines, "final": final})
    finally:
        env.close()
    returns = np.array([o.task_return for o in outcomes])
    lengths = np.array([o.length for o in outcomes])
    result = EvalResult(
        task=task, policy=str(policy), episodes=episodes, seed=seed, greedy=greedy,
        success_rate=round(float(np.mean([o.success for o in outcomes])), 6),
        mean_return=round(float(returns.mean()), 6), std_return=round(float(returns.std()), 6),
        episode_length={"mean": round(float(lengths.mean()), 3), "min": int(lengths.min()), "max": int(lengths.max())},
        failure_causes=dict(Counter(o.outcome for o in outcomes if not o.success).most_common()),
        outcomes=outcomes,
    )
    if out is not None:
        out = Path(out)
        write_json_atomic(out / "eval.json", result.to_dict())
        write_text_atomic(out / "trajectories.jsonl", "".join(json.dumps(r) + "\n" for r in rendered))
    return result


@dataclass(frozen=True)
class _Reading:
    """How one kind of card's episode is read: its States, their step lines and final text, and how it died."""

    state: Any  # a card's `state(obs, env_reward, terminated, truncated, info, step)`, on the raw observation
    compact: Any  # (prev State | None, action name | None, State) -> one line
    render: Any  # State -> text
    death: Any  # (env, the last State before the end, the final State) -> what killed the agent


def _nethack_reading() -> _Reading:
    """NLE's States (the NetHack cards' `EnvCard.state`), NetHack's step lines and rendering, and how NetHack
    says it died; also for a plugin card over NLE whose own State differs (the policy sees NLE's observation)."""
    return _Reading(EnvCard.state, compact_step, render_state, lambda env, seen, last: _death_cause(env, seen))


def _card_reading(card: Any) -> _Reading:
    """A card whose observations are not NetHack's (MiniGrid): its own States, `card.compact_step` when it has one
    (else the first line of `card.render`), and `card.death_cause(final State)` when it has one (else "died")."""
    compact = getattr(card, "compact_step", None) or (
        lambda prev, name, state: f"{name or 'start'}: {card.render(state).splitlines()[0]}")
    death = getattr(card, "death_cause", None)
    return _Reading(card.state, compact, card.render, lambda env, seen, last: death(last) if death else "died")


def _play(env: Any, card: Any, reading: _Reading, model: Any, episode: int, names: list[str], greedy: bool,
          keep: bool, max_lines: int = 60) -> tuple[EpisodeOutcome, list[str], str]:
    """One episode: its outcome, its compact step lines (when kept) and the final State rendered."""
    obs, info = env.reset()
    prev = reading.state(env.raw, info=info)
    lines = [reading.compact(None, None, prev)] if keep else []
    positions = [getattr(prev, "pos", None)]
    prev_seen = prev
    total, steps = 0.0, 0
    terminated = truncated = False
    while not (terminated or truncated):
        action, _ = model.predict(obs, deterministic=greedy)
        obs, reward, terminated, truncated, info = env.step(int(action))
        steps += 1
        total += float(reward)
        state = reading.state(env.raw, float(reward), terminated, truncated, info, steps)
        positions.append(getattr(state, "pos", None))
        if not getattr(state, "done", False):
            prev_seen = state  # the last State before the end: what surrounded the agent
        if keep:
            lines.append(reading.compact(prev, names[int(action)], state))
        prev = state
    success = card.success(info)
    outcome = "success" if success else _failure_cause(
        info, truncated, positions, reading.death(env, prev_seen, prev) if getattr(prev, "died", False) else "")
    if keep and len(lines) > max_lines:  # keep the start and the end of long episodes
        lines = [*lines[:10], f"... {len(lines) - max_lines} steps omitted ...", *lines[-(max_lines - 10):]]
    final = reading.render(prev) if keep else ""
    return EpisodeOutcome(episode, success, round(total, 6), steps, outcome), lines, final


_HOW_DIED = {"DIED": "killed", "BURNING": "burned (lava)", "DROWNING": "drowned", "POISONED": "poisoned",
             "STARVING": "starved", "STONING": "turned to stone", "CRUSHING": "crushed", "DISSOLVED": "dissolved",
             "TURNED_SLIME": "turned to slime"}


def _death_cause(env: Any, last: State) -> str:
    """How NetHack says the game ended, plus the monster next to the agent when it was killed."""
    how = env.unwrapped.nethack.how_done()
    cause = _HOW_DIED.get(getattr(how, "name", ""), str(getattr(how, "name", how)).lower())
    if cause == "killed":
        monster = last.nearest("monster")
        if monster is not None and last.distance(last.pos, monster) <= 1:
            cause += f" by a monster ('{last.char_at(*monster)}')"
    return cause


def _failure_cause(info: dict[str, Any], truncated: bool, positions: list[tuple[int, int]], death: str) -> str:
    if int(info.get("end_status", 0)) == DEATH:
        return f"death: {death}"
    if truncated:
        recent = positions[-STUCK_WINDOW:]
        return "stuck" if len(set(recent)) <= STUCK_CELLS else "timeout"
    return "ended"
