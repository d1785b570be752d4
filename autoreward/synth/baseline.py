"""The task reward alone, trained and evaluated exactly like a candidate: the bar every reward must clear.

A baseline depends only on (task, steps, seed, envs, evaluation episodes), so it is trained once and kept in a
cache folder shared by runs (`<out>/baselines/<key>/`): a second run of the same task, budget and seed reuses it.
A training is written into a temporary folder and renamed into place when it finished, so a killed run never
leaves a half baseline that a later run would take for a finished one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autoreward.io import write_json_atomic
from autoreward.synth.executor import train_and_evaluate

NAME = "baseline"  # how the task reward alone is named wherever candidates are listed ("R/K" for candidates)
MESSAGE_NONE_BEAT = "no reward beat the task reward alone"


@dataclass(frozen=True)
class BaselineKey:
    """What a baseline's training and evaluation depend on."""

    task: str
    steps: int
    seed: int
    envs: int
    eval_episodes: int

    @property
    def folder_name(self) -> str:
        task = re.sub(r"[^A-Za-z0-9._-]+", "_", self.task)
        return f"{task}-{self.steps}steps-seed{self.seed}-{self.envs}envs-{self.eval_episodes}ep"


def baseline_dir(cache_root: str | Path, key: BaselineKey) -> Path:
    return Path(cache_root) / key.folder_name


def read_baseline(cache_root: str | Path, key: BaselineKey) -> dict[str, Any] | None:
    """The figures of a finished baseline in the cache, or None when there is none."""
    path = baseline_dir(cache_root, key) / "baseline.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("key") == asdict(key) else None


def run_baseline(task: str, steps: int, seed: int, envs: int, eval_episodes: int, device: str,
                 cache_root: str) -> dict[str, Any]:
    """Train and evaluate the task reward alone once per key (or read the cached figures); returns the figures.

    Runs in an executor process like `train_and_evaluate`; the figures carry `cached` (reused or not) and `dir`.
    """
    key = BaselineKey(task, steps, seed, envs, eval_episodes)
    found = read_baseline(cache_root, key)
    folder = baseline_dir(cache_root, key)
    if found is not None:
        return {**found, "cached": True, "dir": str(folder)}
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    figures = train_and_evaluate(task, None, str(tmp), steps, seed, envs, device, eval_episodes)
    if figures.get("stopped_reason") or figures.get("success_rate") is None:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"the baseline training of {task} (seed {seed}) stopped: "
                           f"{figures.get('stopped_reason') or 'no evaluation'}")
    record = {"key": asdict(key), **{k: figures[k] for k in ("success_rate", "mean_return", "steps",
                                                            "train_seconds", "sps")}}
    write_json_atomic(tmp / "baseline.json", record)
    try:
        tmp.rename(folder)
    except OSError:  # another run finished the same baseline first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        found = read_baseline(cache_root, key)
        if found is not None:
            return {**found, "cached": True, "dir": str(folder)}
        raise
    return {**record, "cached": False, "dir": str(folder)}
