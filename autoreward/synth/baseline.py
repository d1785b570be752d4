"""The task reward alone, trained and evaluated exactly like a candidate: the bar every reward must clear.

A baseline depends only on (task, steps, seed, envs, evaluation episodes, and a plugin card's code), so it is
trained once and kept in a cache folder shared by runs (`<out>/baselines/<key>/`): a second run of the same task,
budget and seed reuses it. A training is written into a temporary folder and renamed into place when it
finished, so a killed run never leaves a half baseline that a later run would take for a finished one. The cache
is read and written by the driver (the process running the loop) only: on a cluster the training's files come
back first (`synth.jobs`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from autoreward.env.registry import card_fingerprint, source_of
from autoreward.io import write_json_atomic
from autoreward.synth.executor import Executor, train_and_evaluate, training_job

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
    card: str = ""  # a plugin card's code digest (`card_fingerprint`): an edited plugin is another baseline

    @classmethod
    def of(cls, task: str, steps: int, seed: int, envs: int, eval_episodes: int) -> BaselineKey:
        """The key of a baseline training of `task` as this process's card for it stands now."""
        return cls(task, steps, seed, envs, eval_episodes, card_fingerprint(task))

    @property
    def folder_name(self) -> str:
        task = re.sub(r"[^A-Za-z0-9._-]+", "_", self.task)
        card = f"-card{self.card}" if self.card else ""
        return f"{task}{card}-{self.steps}steps-seed{self.seed}-{self.envs}envs-{self.eval_episodes}ep"


def baseline_dir(cache_root: str | Path, key: BaselineKey) -> Path:
    return Path(cache_root) / key.folder_name


def read_baseline(cache_root: str | Path, key: BaselineKey) -> dict[str, Any] | None:
    """The figures of a finished baseline in the cache, or None when there is none."""
    path = baseline_dir(cache_root, key) / "baseline.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("key"), dict):
        return None
    return data if {"card": "", **data["key"]} == asdict(key) else None  # records before `card` had none


def submit_baseline(pool: Executor, task: str, steps: int, seed: int, envs: int, eval_episodes: int, device: str,
                    cache_root: str) -> Future:
    """The baseline's figures as a Future: read from the cache here, or trained by `pool` into a temporary
    folder of the cache that this process (the driver) then keeps (`keep_baseline`).

    The figures carry `cached` (reused or not) and `dir`; the cache lives on the driver, so a cluster's nodes
    need not see it."""
    key = BaselineKey.of(task, steps, seed, envs, eval_episodes)
    found = read_baseline(cache_root, key)
    if found is not None:
        done: Future = Future()
        done.set_result({**found, "cached": True, "dir": str(baseline_dir(cache_root, key))})
        return done
    tmp = _temporary(cache_root, key)
    return pool.run(training_job(task, None, tmp, steps, seed, envs, device, eval_episodes,
                                 label=f"baseline seed {seed}", then=partial(keep_baseline, cache_root, key, tmp)))


def run_baseline(task: str, steps: int, seed: int, envs: int, eval_episodes: int, device: str,
                 cache_root: str) -> dict[str, Any]:
    """Train and evaluate the task reward alone once per key (or read the cached figures), in this process."""
    key = BaselineKey.of(task, steps, seed, envs, eval_episodes)
    found = read_baseline(cache_root, key)
    if found is not None:
        return {**found, "cached": True, "dir": str(baseline_dir(cache_root, key))}
    tmp = _temporary(cache_root, key)
    return keep_baseline(cache_root, key, tmp, train_and_evaluate(task, None, str(tmp), steps, seed, envs, device,
                                                                  eval_episodes, source_of(task)))


def _temporary(cache_root: str, key: BaselineKey) -> Path:
    """A fresh temporary folder name beside the baseline's (a dot name: never read as a finished baseline)."""
    folder = baseline_dir(cache_root, key)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def keep_baseline(cache_root: str, key: BaselineKey, tmp: Path, figures: dict[str, Any]) -> dict[str, Any]:
    """Check a finished baseline training in `tmp`, record its figures and rename it into the cache; the figures
    with `cached` and `dir`. A training that stopped raises (the baseline is the bar: none, no run)."""
    folder = baseline_dir(cache_root, key)
    if figures.get("stopped_reason") or figures.get("success_rate") is None:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"the baseline training of {key.task} (seed {key.seed}) stopped: "
                           f"{figures.get('stopped_reason') or 'no evaluation'}")
    record = {"key": asdict(key), **{k: figures[k] for k in ("success_rate", "mean_return", "steps",
                                                            "train_seconds", "sps")}}
    write_json_atomic(tmp / "baseline.json", record)
    try:
        tmp.rename(folder)
    except OSError:  # another run finished the same baseline first (keep theirs), or the folder is not one
        found = read_baseline(cache_root, key)
        if found is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return {**found, "cached": True, "dir": str(folder)}
        if not folder.exists():
            raise
        folder.rename(folder.with_name(f".{folder.name}.stale-{uuid.uuid4().hex[:8]}"))  # kept, never read again
        tmp.rename(folder)
    return {**record, "cached": False, "dir": str(folder), "node_id": figures.get("node_id"),
            "hostname": figures.get("hostname")}
