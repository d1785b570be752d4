"""Per-rollout training metrics (`metrics.jsonl`): throughput, task outcome, and per-component reward stats.

Also the place where reward components are checked against the contract (in bulk, in the trainer's
process): a non-numeric or non-finite component, or a total that is not their sum, stops training.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.env.info import END_STATUS, REWARD_COMPONENTS, REWARD_ERROR, REWARD_TOTAL, TASK_REWARD
from autoreward.env.wrappers import TASK_SUCCESSFUL
from autoreward.io import append_jsonl
from autoreward.train.config import RECENT_EPISODES


class RolloutMetrics:
    """Accumulates per-step infos of a vectorised env and summarises them once per rollout."""

    def __init__(self, n_envs: int, path: Path | None) -> None:
        self.path = path
        self.n_envs = n_envs
        self._episode_return = np.zeros(n_envs)
        self._episode_length = np.zeros(n_envs, dtype=np.int64)
        self.error: str | None = None
        self.rollouts = 0
        self._recent: deque[bool] = deque(maxlen=RECENT_EPISODES)  # the last episodes' successes, across rollouts
        self.reset_rollout()

    def reset_rollout(self) -> None:
        self._components: dict[str, list[float]] = defaultdict(list)
        self._totals: list[float] = []
        self._returns: list[float] = []
        self._lengths: list[int] = []
        self._successes: list[bool] = []
        self._steps = 0
        self._started = time.perf_counter()

    def add_step(self, infos: list[dict[str, Any]], dones: np.ndarray) -> None:
        """Record one vectorised step; sets `error` when the reward function failed or broke the contract."""
        self._steps += len(infos)
        self._episode_return += [info.get(TASK_REWARD, 0.0) for info in infos]
        self._episode_length += 1
        for info in infos:
            if REWARD_ERROR in info and self.error is None:
                self.error = info[REWARD_ERROR]
            components = info.get(REWARD_COMPONENTS)
            if components is not None:
                self._add_components(components, info.get(REWARD_TOTAL, 0.0))
        for i in np.flatnonzero(dones):
            self._returns.append(float(self._episode_return[i]))
            self._lengths.append(int(self._episode_length[i]))
            self._successes.append(int(infos[i].get(END_STATUS, 0)) == TASK_SUCCESSFUL)
            self._recent.append(self._successes[-1])
            self._episode_return[i] = 0.0
            self._episode_length[i] = 0

    def _add_components(self, components: Any, reported_total: float) -> None:
        if not isinstance(components, dict):
            self.error = self.error or f"reward components must be a dict, got {type(components).__name__}"
            return
        total = 0.0
        store = self._components
        for name, value in components.items():  # runs for every env on every step: plain floats take the short way
            if type(value) is not float or type(name) is not str:
                if (not isinstance(name, str) or isinstance(value, bool)
                        or not isinstance(value, (int, float, np.number))):
                    self.error = self.error or (f"reward component {name!r} is {value!r}: names must be str, "
                                                "values floats")
                    return
                value = float(value)
            if value - value != 0.0:  # NaN or infinity
                self.error = self.error or f"reward component {name!r} is {value} (must be finite)"
                return
            store[name].append(value)
            total += value
        if abs(total - reported_total) > 1e-6 * max(1.0, abs(total)):
            self.error = self.error or (f"the reward total {reported_total:.6g} is not the sum of its components "
                                        f"({total:.6g})")
            return
        self._totals.append(total)

    def summary(self, num_timesteps: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """This rollout's record; writes it to metrics.jsonl and starts the next rollout."""
        elapsed = max(1e-9, time.perf_counter() - self._started)
        record: dict[str, Any] = {
            "rollout": self.rollouts,
            "steps": int(num_timesteps),
            "sps": round(self._steps / elapsed, 1),
            "episodes": len(self._returns),
            "task_return_mean": _mean(self._returns),
            "success_rate": _mean([float(s) for s in self._successes]),
            # over the last RECENT_EPISODES episodes ended, whichever rollouts they ended in: what progress shows
            "recent_episodes": len(self._recent),
            "recent_success_rate": _mean([float(s) for s in self._recent]),
            "episode_length_mean": _mean([float(n) for n in self._lengths]),
        }
        if self._totals:
            record["reward_total"] = _stats(self._totals)
            mass = {name: float(np.abs(values).sum()) for name, values in self._components.items()}
            all_mass = sum(mass.values()) or 1.0
            record["components"] = {
                name: {**_stats(values), "share": round(mass[name] / all_mass, 4)}
                for name, values in sorted(self._components.items())
            }
        if extra:
            record.update(extra)
        if self.path is not None:
            append_jsonl(self.path, record)
        self.rollouts += 1
        self.reset_rollout()
        return record


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """A rollout's record as TensorBoard scalars: the task's outcome, throughput, the reward total and each
    component's mean and share (tags under autoreward/; figures the rollout did not have are left out)."""
    found = {f"autoreward/{key}": record.get(key) for key in ("success_rate", "recent_success_rate",
                                                               "task_return_mean", "episode_length_mean", "sps")}
    found["autoreward/reward_total_mean"] = (record.get("reward_total") or {}).get("mean")
    for name, stats in (record.get("components") or {}).items():
        found[f"autoreward/components/{name}/mean"] = stats.get("mean")
        found[f"autoreward/components/{name}/share"] = stats.get("share")
    return {tag: float(value) for tag, value in found.items() if value is not None}


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 6) if values else None


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(arr.mean()), 6), "min": round(float(arr.min()), 6), "max": round(float(arr.max()), 6)}
