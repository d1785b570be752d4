"""PPO training on a task with an optional reward function (stable-baselines3), CleanRL-style config.

    r_train = task_coef * r_task + total(reward_fn)        (see autoreward.train.shaping)
            [+ c_int * r_intrinsic(message) / N(message)^beta, with --intrinsic: see autoreward.train.oni]
            [+ calm_coef per subgoal first achieved in the episode, with --calm: see autoreward.calm.reward]

Environments run in worker subprocesses (autoreward.train.vec), which load the reward code themselves. The run writes
`metrics.jsonl` (one record per rollout), `policy.zip` and `train.json` to the output folder. A reward that
fails stops training with the reason recorded; a worker that stops responding is killed by a watchdog.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from autoreward.env.card import card_for
from autoreward.errors import RewardCodeError, UsageError
from autoreward.intrinsic.reward import IntrinsicConfig
from autoreward.io import write_json_atomic
from autoreward.reward.static import check_static
from autoreward.train.calm_setup import attach_calm, calm_coef, resolve_subgoals
from autoreward.train.envs import make_env
from autoreward.train.features import NetHackExtractor
from autoreward.train.metrics import RolloutMetrics
from autoreward.train.oni import annotation_server, attach_intrinsic, default_task_coef, parse_intrinsic
from autoreward.train.vec import WorkerError, WorkerVecEnv
from autoreward.train.worker import DEFAULT_ENVS, REWARD_MEMORY_MB, SPIN_S


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved in train.json)."""

    task: str
    reward: str | None = None  # path of a reward file; None trains on the task reward alone
    steps: int = 150_000
    seed: int = 0
    envs: int = DEFAULT_ENVS  # several envs per worker share the hand-off cost (docs/benchmarks.md)
    device: str = "auto"  # auto | cpu | cuda
    out: str = "runs/train"
    env_workers: int = -1  # walled processes running the envs: -1 auto (see env_workers()); 0 (in this
    # process) only without reward code
    worker_spin_s: float = SPIN_S  # how long trainer and workers poll before sleeping; 0 when cores are shared
    reward_memory_mb: int = REWARD_MEMORY_MB  # what reward code may hold per worker, above the envs' own use
    task_coef: float | None = None  # weight of the task reward; None: 1, or ONI's value with an intrinsic reward
    reward_call_timeout_s: float = 1.0  # one reward call longer than this stops training
    worker_timeout_s: float = 120.0  # an env step that takes longer than this means a hung worker
    crop: int = 9
    # ONI intrinsic reward from LLM labels of the message line (autoreward.train.oni); None: off
    intrinsic: str | None = None  # oni:retrieval | oni:classification | oni:ranking
    intrinsic_coef: float = IntrinsicConfig.coef  # c_int (ONI: 0.4)
    count_exponent: float = IntrinsicConfig.beta  # beta: the N-th sight in an episode pays 1/N^beta (ONI: 3)
    annotator: str | None = None  # URL of an annotation server; None: start one in this process
    annotator_token: str | None = None
    llm: str = "offline"  # the labeller of a server started here: offline (lexicon) or a litellm model
    llm_api_base: str | None = None
    labels_db: str | None = None  # that server's label store; None: <out>/labels.sqlite
    # CALM auxiliary reward: subgoals judged on the annotation server (autoreward.calm.reward); False: off
    calm: bool = False
    subgoals: str | None = None  # ';'-separated; None: the task's decomposition (offline, or by `llm`)
    calm_coef: float | None = None  # bonus per subgoal; None: 0.5 * task_coef (calm.reward.COEF_SHARE)
    # PPO hyper-parameters
    n_steps: int = 128  # per env, per rollout (8 envs: 1,024 transitions per update)
    batch_size: int = 256
    n_epochs: int = 4
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    # network
    embed_dim: int = 8
    pi_layers: list[int] = field(default_factory=list)  # heads straight on the features: fewer ops per step
    vf_layers: list[int] = field(default_factory=list)
    # Threads for torch in the trainer: the env workers need the other cores, and this small network does not
    # gain from more (on a 2-core machine 2 threads ran training at a quarter of the speed).
    torch_threads: int = 1

    def reward_source(self) -> str | None:
        if self.reward is None:
            return None
        path = Path(self.reward)
        if not path.is_file():
            raise UsageError(f"reward file {self.reward!r} not found")
        return path.read_text(encoding="utf-8")


@dataclass
class TrainResult:
    task: str
    steps: int
    seconds: float
    sps: float
    stopped_reason: str | None  # None: finished the budget
    device: str
    out: str
    policy: str | None
    metrics: str
    last_rollout: dict[str, Any] = field(default_factory=dict)
    # what the annotation clients did: ONI's at the top level, CALM's under "calm" (with its wrapper's stats)
    annotation: dict[str, Any] | None = None
    isolation: list[str] = field(default_factory=list)  # the walls around reward code that held (worker 0's)

    @property
    def ok(self) -> bool:
        return self.stopped_reason is None


def _env_factory(config: TrainConfig, rank: int, reward_source: str | None,
                 subgoals: Sequence[Any] | None = None) -> Callable[[], gym.Env]:
    """A picklable builder of env `rank` (plain arguments only: a worker unpickles it without importing torch)."""
    return functools.partial(make_env, config.task, config.seed * 10_000 + rank, reward_source, config.task_coef,
                             config.reward_call_timeout_s, config.crop, config.intrinsic is not None, subgoals)


def env_workers(config: TrainConfig) -> int:
    """How many walled processes run the envs: by default one per core the trainer does not need, at least one.
    Reward code runs only there (autoreward.train.worker); without reward code `env_workers=0` keeps the envs
    in this process."""
    if config.env_workers == 0 and config.reward is not None:
        raise UsageError("reward code runs only in walled env worker processes: use --env-workers 1 or more "
                         "(or -1, the default)")
    if config.env_workers > 0:
        return min(config.env_workers, config.envs)
    if config.env_workers == 0:
        return 0
    cores = os.cpu_count() or 1
    return max(1, min(config.envs, cores - 1))


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA device (is a CUDA build installed?)")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


class _Watchdog:
    """Kills the env workers when a rollout step makes no progress for `timeout` seconds (a hung reward)."""

    def __init__(self, venv: VecEnv, timeout: float) -> None:
        self.venv, self.timeout = venv, timeout
        self.last_progress = time.monotonic()
        self.active = False
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autoreward-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            if self.active and time.monotonic() - self.last_progress > self.timeout:
                self.fired = True
                for process in getattr(self.venv, "processes", []):
                    process.kill()
                return

    def stop(self) -> None:
        self._stop.set()


class _TrainingCallback(BaseCallback):
    def __init__(self, metrics: RolloutMetrics, watchdog: _Watchdog | None, total: int,
                 progress: Callable[[int, int, dict[str, Any] | None], None] | None) -> None:
        super().__init__()
        self.metrics, self.watchdog, self.total, self.progress = metrics, watchdog, total, progress
        self.last: dict[str, Any] = {}

    def _on_rollout_start(self) -> None:
        if self.watchdog:
            self.watchdog.last_progress = time.monotonic()
            self.watchdog.active = True

    def _on_step(self) -> bool:
        if self.watchdog:
            self.watchdog.last_progress = time.monotonic()
        self.metrics.add_step(self.locals["infos"], self.locals["dones"])
        return self.metrics.error is None

    def _on_rollout_end(self) -> None:
        if self.watchdog:
            self.watchdog.active = False
        values = self.model.logger.name_to_value
        extra = {key.split("/")[-1]: round(float(v), 6) for key, v in values.items() if key.startswith("train/")}
        self.last = self.metrics.summary(self.num_timesteps, extra or None)
        if self.progress:
            self.progress(self.num_timesteps, self.total, self.last)


def train(config: TrainConfig,
          progress: Callable[[int, int, dict[str, Any] | None], None] | None = None) -> TrainResult:
    """Train PPO as configured; never raises for a failing reward (see TrainResult.stopped_reason)."""
    card_for(config.task)  # unknown task: UsageError before anything starts
    if config.intrinsic is not None:
        parse_intrinsic(config.intrinsic)
    if config.task_coef is None:
        config = dataclasses.replace(config, task_coef=default_task_coef(config.task, config.intrinsic is not None))
    if config.calm and config.calm_coef is None:
        config = dataclasses.replace(config, calm_coef=calm_coef(config))
    source = config.reward_source()
    if source is not None:  # contract errors surface here; the code itself runs only in the walled workers
        errors = [str(issue) for issue in check_static(source) if issue.severity == "error"]
        if errors:
            name = Path(config.reward or "reward.py").name
            raise RewardCodeError(f"{name} breaks the reward contract:\n  " + "\n  ".join(errors))
    subgoals = resolve_subgoals(config) if config.calm else None
    device = resolve_device(config.device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    metrics_path.unlink(missing_ok=True)
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    torch.distributions.Distribution.set_default_validate_args(False)  # checks cost time at batch size 2

    # PPO learns in whole rollouts of n_steps per env: a budget smaller than one rollout shrinks the rollout.
    n_steps = max(8, min(config.n_steps, config.steps // config.envs))
    batch_size = min(config.batch_size, n_steps * config.envs)
    factories = [_env_factory(config, rank, source, subgoals) for rank in range(config.envs)]
    workers = env_workers(config)
    stack = ExitStack()  # what training starts and must stop: envs, annotation server and client
    if workers:
        try:
            venv: VecEnv = WorkerVecEnv(factories, workers, spin_s=config.worker_spin_s,
                                        memory_bytes=config.reward_memory_mb << 20)
        except WorkerError as exc:  # e.g. the reward failed to load in the worker
            raise RewardCodeError(str(exc)) from exc
        isolation = venv.isolation
    else:
        venv = DummyVecEnv(factories)
        isolation = ["no reward code: envs in the trainer process"]
    stack.callback(_close, venv)
    watchdog = _Watchdog(venv, config.worker_timeout_s) if workers else None
    client = calm = calm_client = None
    if config.intrinsic is not None or subgoals is not None:
        try:
            server = annotation_server(config, out, stack)  # one server for ONI's and CALM's labels
            if config.intrinsic is not None:
                venv, client = attach_intrinsic(venv, config, out, stack, server)
            if subgoals is not None:
                calm, calm_client = attach_calm(venv, config, subgoals, server, stack)
                venv = calm
        except BaseException:
            stack.close()
            raise
    metrics = RolloutMetrics(config.envs, metrics_path)
    model = PPO(
        "MultiInputPolicy", venv, n_steps=n_steps, batch_size=batch_size, n_epochs=config.n_epochs,
        learning_rate=config.learning_rate, gamma=config.gamma, gae_lambda=config.gae_lambda,
        clip_range=config.clip_range, ent_coef=config.ent_coef, vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm, seed=config.seed, device=device, verbose=0,
        policy_kwargs={"features_extractor_class": NetHackExtractor,
                       "features_extractor_kwargs": {"embed_dim": config.embed_dim},
                       "net_arch": {"pi": list(config.pi_layers), "vf": list(config.vf_layers)}},
    )
    callback = _TrainingCallback(metrics, watchdog, config.steps, progress)
    stopped: str | None = None
    interrupted = False
    start = time.perf_counter()
    try:
        model.learn(total_timesteps=config.steps, callback=callback, progress_bar=False)
        if metrics.error:
            stopped = f"reward function failed: {metrics.error}"
    except (WorkerError, EOFError, BrokenPipeError, ConnectionResetError) as exc:
        stopped = ("an environment worker stopped responding and was killed after "
                   f"{config.worker_timeout_s:g} s (a reward call hung?)" if watchdog and watchdog.fired
                   else str(exc) if isinstance(exc, WorkerError)
                   else f"an environment worker died ({type(exc).__name__}): the reward may have crashed it")
    except KeyboardInterrupt:  # save what was learned, then let the caller see the interrupt
        stopped, interrupted = "interrupted", True
    finally:
        if watchdog:
            watchdog.stop()
        stack.close()
    seconds = time.perf_counter() - start
    if stopped:  # the unfinished rollout's record says why training stopped
        callback.last = metrics.summary(model.num_timesteps, {"stopped": stopped})
    policy_path = out / "policy.zip"
    model.save(policy_path)
    result = TrainResult(
        task=config.task, steps=int(model.num_timesteps), seconds=round(seconds, 2),
        sps=round(model.num_timesteps / max(seconds, 1e-9), 1), stopped_reason=stopped, device=device,
        out=str(out), policy=str(policy_path), metrics=str(metrics_path), last_rollout=callback.last,
        annotation=_annotation(client, calm, calm_client, subgoals), isolation=isolation,
    )
    write_json_atomic(out / "train.json", {"config": dataclasses.asdict(config), "result": dataclasses.asdict(result),
                                           "versions": _versions()})
    if interrupted:
        raise KeyboardInterrupt
    return result


def _annotation(client: Any, calm: Any, calm_client: Any, subgoals: Sequence[Any] | None) -> dict[str, Any] | None:
    """What the annotation clients did: ONI's at the top level, CALM's (and its reward's stats) under "calm"."""
    if client is None and calm_client is None:
        return None
    annotation = {} if client is None else {"labels": len(client.snapshot()[1]), **client.stats.to_dict()}
    if calm_client is not None:
        annotation["calm"] = {"subgoals": [s.name for s in subgoals or ()], "labels": len(calm_client.snapshot()[1]),
                              **calm_client.stats.to_dict(), "reward": calm.stats.to_dict()}
    return annotation


def _close(venv: VecEnv) -> None:
    try:
        venv.close()
    except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
        for process in getattr(venv, "processes", []):
            if process.is_alive():
                process.kill()


def _versions() -> dict[str, str]:
    import nle
    import stable_baselines3

    from autoreward import __version__

    return {"autoreward": __version__, "torch": torch.__version__, "stable_baselines3": stable_baselines3.__version__,
            "nle": getattr(nle, "__version__", "?"), "numpy": np.__version__}
