"""Where candidate trainings run: an executor interface, a local process pool, and the job they run.

The loop only calls `submit(fn, *args) -> Future` and `shutdown(cancel)`; a Ray executor can implement the same
two methods (`ray.remote(fn).remote(*args)` wrapped in a Future) without touching the loop.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from autoreward.evaluate import evaluate
from autoreward.reward.walls import drop_credentials
from autoreward.synth.summary import build_summary
from autoreward.train.config import EVAL_SEED, TrainConfig, WorkerConfig
from autoreward.train.ppo import configure_torch, train


class Executor(Protocol):
    def submit(self, fn: Callable[..., Any], *args: Any) -> Future: ...

    def shutdown(self, cancel: bool = False) -> None: ...


class LocalExecutor:
    """A pool of `workers` processes (spawned, so each has its own torch and signal handlers)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        # Trainings at once share the cores: each one's env workers (and whether they poll) follow its share.
        cores = max(1, (os.cpu_count() or 1) // self.workers)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_worker_init, initargs=(cores,))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for process in list(getattr(self._pool, "_processes", {}).values()):  # stop trainings in progress
                if process.is_alive():
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def default_workers(candidates: int) -> int:
    """At most as many trainings at once as cores (each training keeps about one core busy)."""
    return max(1, min(candidates, os.cpu_count() or 1))


_CORES = 0  # the cores each training of this pool may use (0: all); set in each pool process by _worker_init


def _worker_init(cores: int = 0) -> None:
    """Die with the run: a killed loop must not leave trainings writing into a run that is being resumed.

    Candidates call no LLM: their processes drop the run's credentials (the env workers that run reward code
    start with none at all, autoreward.train.vec)."""
    global _CORES
    _CORES = cores
    drop_credentials()
    if hasattr(signal, "SIGKILL") and os.uname().sysname == "Linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the loop's to handle: it terminates the pool


def train_and_evaluate(task: str, reward: str, out: str, steps: int, seed: int, envs: int, device: str,
                       eval_episodes: int) -> dict[str, Any]:
    """One candidate's training and evaluation, in a worker process; returns the figures the loop records."""
    out_dir = Path(out)
    configure_torch()  # this process trains
    result = train(TrainConfig(task=task, reward=reward, steps=steps, seed=seed, envs=envs, device=device,
                               out=str(out_dir / "train"), workers=WorkerConfig(cores=_CORES)))
    figures: dict[str, Any] = {"steps": result.steps, "train_seconds": round(result.seconds, 1),
                               "sps": round(result.sps, 1), "stopped_reason": result.stopped_reason}
    if not result.ok or result.policy is None:
        return figures
    evaluation = evaluate(task, result.policy, episodes=eval_episodes, seed=EVAL_SEED, out=out_dir)
    figures.update(success_rate=evaluation.success_rate, mean_return=evaluation.mean_return,
                   summary=build_summary(out_dir))
    return figures
