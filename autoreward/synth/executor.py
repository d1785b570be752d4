"""Where candidate trainings run: an executor interface, a local process pool, and the job they run.

The loop builds `Job`s (`synth.jobs`: a function, its arguments, the files it reads and the folder it writes)
and only calls `run(job) -> Future` and `shutdown(cancel)`. `LocalExecutor` runs them in a process pool on this
machine; `synth.ray_executor.RayExecutor` runs them as Ray tasks on a cluster with no shared filesystem.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from autoreward.env.registry import source_of
from autoreward.evaluate import evaluate
from autoreward.reward.walls import drop_credentials
from autoreward.synth.jobs import Figures, Job, settle
from autoreward.synth.summary import build_summary
from autoreward.train.config import EVAL_SEED, MIN_ENVS_PER_WORKER, TrainConfig, WorkerConfig
from autoreward.train.ppo import configure_torch, train


class Executor(Protocol):
    def run(self, job: Job) -> Future: ...

    def shutdown(self, cancel: bool = False) -> None: ...


class LocalExecutor:
    """A pool of `workers` processes (spawned, so each has its own torch and signal handlers)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        # Trainings at once share the cores: each one's env workers (and whether they poll) follow its share.
        cores = max(1, (os.cpu_count() or 1) // self.workers)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_worker_init, initargs=(cores,))

    def run(self, job: Job) -> Future:
        """The job in a pool process, on this filesystem: its output folder is written where it is."""
        future = self._pool.submit(run_here, job.fn, job.kwargs)
        return future if job.then is None else settle(future, lambda done: job.then(done.result()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Any function in a pool process (the benchmark suite's seeds)."""
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


_CORES = 0  # the cores this process's trainings may use (0: all of the machine's); set by set_share
_SPIN_S = -1.0  # how long their trainer and env workers poll before sleeping (-1: auto, from the cores)


def set_share(cores: int, spin_s: float = -1.0) -> None:
    """What this process's trainings may use: how many cores (their env workers follow it, one per core) and,
    when the cores are not what they seem (a Ray node that declares more CPUs than it has), no polling."""
    global _SPIN_S, _CORES
    _CORES, _SPIN_S = cores, spin_s


def _worker_init(cores: int = 0) -> None:
    """Die with the run: a killed loop must not leave trainings writing into a run that is being resumed.

    Candidates call no LLM: their processes drop the run's credentials (the env workers that run reward code
    start with none at all, autoreward.train.vec)."""
    set_share(cores)
    drop_credentials()
    if hasattr(signal, "SIGKILL") and os.uname().sysname == "Linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the loop's to handle: it terminates the pool


def run_here(fn: Callable[..., Figures], kwargs: dict[str, Any], node_id: str | None = None) -> Figures:
    """A job's function, with where it ran (`node_id`: the Ray node, None outside Ray; `hostname`)."""
    return {**fn(**kwargs), "node_id": node_id, "hostname": socket.gethostname()}


def training_job(task: str, reward: str | Path | None, out: str | Path, steps: int, seed: int, envs: int,
                 device: str, eval_episodes: int, label: str,
                 then: Callable[[Figures], Figures] | None = None) -> Job:
    """`train_and_evaluate` as a job: it reads the reward file and writes `out`. It keeps its env workers (one per
    core, MIN_ENVS_PER_WORKER envs or more each) and its trainer busy: that many cores."""
    cpus = max(1, envs // MIN_ENVS_PER_WORKER) + 1
    return Job(fn=train_and_evaluate, inputs=("reward",), output="out", cpus=cpus, label=label, then=then,
               kwargs={"task": task, "reward": None if reward is None else str(reward), "out": str(out),
                       "steps": steps, "seed": seed, "envs": envs, "device": device, "eval_episodes": eval_episodes,
                       "card": source_of(task)})  # a plugin card or custom level: the job carries its source


def train_and_evaluate(task: str, reward: str | None, out: str, steps: int, seed: int, envs: int, device: str,
                       eval_episodes: int, card: dict[str, Any] | None = None) -> Figures:
    """One candidate's training and evaluation, in a worker process; returns the figures the loop records.
    `card`: the source of a card that is not built in (autoreward.env.registry), rebuilt in this process."""
    out_dir = Path(out)
    configure_torch()  # this process trains
    workers = WorkerConfig(cores=_CORES, spin_s=_SPIN_S)
    result = train(TrainConfig(task=task, reward=reward, steps=steps, seed=seed, envs=envs, device=device,
                               out=str(out_dir / "train"), workers=workers, card=card))
    figures: dict[str, Any] = {"steps": result.steps, "train_seconds": round(result.seconds, 1),
                               "sps": round(result.sps, 1), "stopped_reason": result.stopped_reason}
    if not result.ok or result.policy is None:
        return figures
    evaluation = evaluate(task, result.policy, episodes=eval_episodes, seed=EVAL_SEED, out=out_dir)
    figures.update(success_rate=evaluation.success_rate, mean_return=evaluation.mean_return,
                   summary=build_summary(out_dir))
    return figures
