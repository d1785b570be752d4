"""What a training run trains on and with: the vectorised env with its wrappers (`build_envs`), the PPO model
(`build_model`).

`build_envs` owns the whole order, from the bottom up:

    each env (autoreward.train.envs.make_env):  card env -> ShapedReward | TaskRewardInfo -> [MessageInfo]
                                                -> [TransitionInfo] -> PolicyObservation
    the vectorised env:                          WorkerVecEnv (walled workers) | DummyVecEnv (no reward code)
                                                 (+ a watchdog on the workers) -> [IntrinsicReward] -> [CalmReward]

with one annotation server (given, or started here) for ONI's labels and CALM's judgements.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from autoreward.annotate.client import AnnotationClient
from autoreward.calm.reward import CalmReward
from autoreward.calm.subgoals import Subgoal
from autoreward.env.registry import card_for
from autoreward.errors import RewardCodeError, UsageError
from autoreward.train.calm_setup import attach_calm
from autoreward.train.config import MIN_ENVS_PER_WORKER, SPIN_S, TrainConfig
from autoreward.train.envs import make_env
from autoreward.train.features import MiniGridExtractor, NetHackExtractor
from autoreward.train.oni import annotation_server, attach_intrinsic, task_coef
from autoreward.train.overlap import OverlappedPPO
from autoreward.train.policy import MINIGRID, policy_of
from autoreward.train.vec import WorkerError, WorkerVecEnv

NO_WORKERS = "no reward code: envs in the trainer process"  # the isolation record of envs in the trainer
TENSORBOARD_DIR = "tensorboard"  # event files, in the output folder, when tensorboard is installed


def env_factory(config: TrainConfig, rank: int, reward_source: str | None,
                subgoals: Sequence[Any] | None = None) -> Callable[[], gym.Env]:
    """A picklable builder of env `rank` (plain arguments only: a worker unpickles it without importing torch)."""
    return functools.partial(make_env, config.task, config.seed * 10_000 + rank, reward_source, task_coef(config),
                             config.workers.reward_call_timeout_s, config.network.crop, config.oni.enabled, subgoals,
                             config.card)


def training_cores(config: TrainConfig) -> int:
    """The cores this training may use: `workers.cores`, or all of the machine's."""
    return config.workers.cores if config.workers.cores > 0 else os.cpu_count() or 1


def env_workers(config: TrainConfig) -> int:
    """How many walled processes run the envs: by default one per core, with at least MIN_ENVS_PER_WORKER envs
    each. The trainer sleeps while the workers step, and they sleep while it infers and updates, so they take
    turns on the cores. Reward code runs only in workers (autoreward.train.worker); without reward code
    `workers.count=0` keeps the envs in this process."""
    count = config.workers.count
    if count == 0 and config.reward is not None:
        raise UsageError("reward code runs only in walled env worker processes: use --env-workers 1 or more "
                         "(or -1, the default)")
    if count > 0:
        return min(count, config.envs)
    if count == 0:
        return 0
    return max(1, min(training_cores(config), config.envs // MIN_ENVS_PER_WORKER))


def spin_seconds(config: TrainConfig, workers: int) -> float:
    """How long a waiting side polls before it sleeps: SPIN_S when the trainer and every worker have a core of
    their own; else 0, because a side that polls takes the core from the side it waits for."""
    if config.workers.spin_s >= 0:
        return config.workers.spin_s
    return SPIN_S if workers + 1 <= training_cores(config) else 0.0


class Watchdog:
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


@dataclass
class TrainingEnvs:
    """The env to train on (`venv`, the outermost wrapper) and what came with it; `close()` stops all of it."""
    venv: VecEnv
    isolation: list[str]  # the walls around reward code that held (worker 0's)
    stack: ExitStack = field(default_factory=ExitStack)  # envs, annotation server and clients, in start order
    watchdog: Watchdog | None = None  # on the env workers; None for envs in the trainer process
    oni_client: AnnotationClient | None = None
    calm: CalmReward | None = None
    calm_client: AnnotationClient | None = None
    subgoals: list[Subgoal] | None = None

    def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        self.stack.close()

    def annotation(self) -> dict[str, Any] | None:
        """What the annotation clients did: ONI's at the top level, CALM's (and its reward's stats) under "calm"."""
        client, calm_client = self.oni_client, self.calm_client
        if client is None and calm_client is None:
            return None
        annotation = {} if client is None else {"labels": len(client.snapshot()[1]), **client.stats.to_dict()}
        if calm_client is not None:
            assert self.calm is not None
            annotation["calm"] = {"subgoals": [s.name for s in self.subgoals or ()],
                                  "labels": len(calm_client.snapshot()[1]), **calm_client.stats.to_dict(),
                                  "reward": self.calm.stats.to_dict()}
        return annotation


def build_envs(config: TrainConfig, reward_source: str | None, subgoals: list[Subgoal] | None,
               out: Path) -> TrainingEnvs:
    """The vectorised env to train on, with every wrapper in its place (the order: this module's docstring).

    `config` as `autoreward.train.ppo.resolve` left it; `reward_source` is the reward file's code (run only in the
    walled workers), `subgoals` CALM's (None: no CALM). A worker whose reward fails to load is a RewardCodeError.
    On any failure what was started is stopped again.
    """
    factories = [env_factory(config, rank, reward_source, subgoals) for rank in range(config.envs)]
    workers = env_workers(config)
    if workers:
        try:
            venv: VecEnv = WorkerVecEnv(factories, workers, spin_s=spin_seconds(config, workers),
                                        memory_bytes=config.workers.reward_memory_mb << 20, nice=config.workers.nice)
        except WorkerError as exc:  # e.g. the reward failed to load in the worker
            raise RewardCodeError(str(exc)) from exc
        envs = TrainingEnvs(venv, venv.isolation, subgoals=subgoals)
    else:
        envs = TrainingEnvs(DummyVecEnv(factories), [NO_WORKERS], subgoals=subgoals)
    envs.stack.callback(close_venv, envs.venv)
    if workers:
        envs.watchdog = Watchdog(envs.venv, config.workers.step_timeout_s)
    try:
        if config.oni.enabled or subgoals is not None:
            server = annotation_server(config.annotator, out, envs.stack)  # one server for ONI's and CALM's labels
            if config.oni.enabled:
                envs.venv, envs.oni_client = attach_intrinsic(envs.venv, config, server, envs.stack)
            if subgoals is not None:
                envs.calm, envs.calm_client = attach_calm(envs.venv, config, subgoals, server, envs.stack)
                envs.venv = envs.calm
    except BaseException:
        envs.close()
        raise
    return envs


def build_model(config: TrainConfig, venv: VecEnv, device: str) -> PPO:
    """PPO on `venv` with `config.ppo` and the policy of `config.network`, on `device` (cpu or cuda).

    PPO learns in whole rollouts of n_steps per env: a budget smaller than one rollout shrinks the rollout.
    With `ppo.overlap` each update runs while the next rollout is collected (autoreward.train.overlap). With
    tensorboard installed, SB3 also writes TensorBoard event files to `<out>/tensorboard/` (see `tensorboard_dir`).
    """
    ppo = config.ppo
    n_steps = max(8, min(ppo.n_steps, config.steps // config.envs))
    batch_size = min(ppo.batch_size, n_steps * config.envs)
    algorithm, schedule = (OverlappedPPO, {"join_at": ppo.join_at}) if ppo.overlap else (PPO, {})
    return algorithm(
        "MultiInputPolicy", venv, n_steps=n_steps, batch_size=batch_size, n_epochs=ppo.n_epochs,
        learning_rate=ppo.learning_rate, gamma=ppo.gamma, gae_lambda=ppo.gae_lambda, clip_range=ppo.clip_range,
        ent_coef=ppo.ent_coef, vf_coef=ppo.vf_coef, max_grad_norm=ppo.max_grad_norm, seed=config.seed,
        device=device, verbose=0, policy_kwargs=policy_kwargs(config), tensorboard_log=tensorboard_dir(config),
        **schedule,
    )


def tensorboard_dir(config: TrainConfig) -> str | None:
    """Where TensorBoard event files go: `<out>/tensorboard` when tensorboard is importable (the optional
    `autoreward[tensorboard]` extra), else None (nothing is written)."""
    if importlib.util.find_spec("tensorboard") is None:
        return None
    return str(Path(config.out) / TENSORBOARD_DIR)


def policy_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The policy network of `config.network`: the card's feature extractor (NetHack's, or MiniGrid's for a card
    with `policy = "minigrid"`), then the pi and vf heads."""
    network = config.network
    if policy_of(card_for(config.task)) == MINIGRID:
        extractor: dict[str, Any] = {"features_extractor_class": MiniGridExtractor,
                                     "features_extractor_kwargs": {"conv_channels": (16, 32), "grid_features": 128,
                                                                   "stats_features": 16}}
    else:
        extractor = {"features_extractor_class": NetHackExtractor,
                     "features_extractor_kwargs": {"embed_dim": network.embed_dim,
                                                   "crop_features": network.crop_features,
                                                   "map_features": network.map_features}}
    return {**extractor,
            # SB3's Adam settings (eps 1e-5), fused into one kernel: the optimizer step was a sixth of the update
            "optimizer_kwargs": {"eps": 1e-5, "fused": True},
            "net_arch": {"pi": list(network.pi_layers), "vf": list(network.vf_layers)}}


def close_venv(venv: VecEnv) -> None:
    """Close `venv`; workers that cannot be told to stop (dead pipes) are killed."""
    try:
        venv.close()
    except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
        for process in getattr(venv, "processes", []):  # subprocess.Popen objects (WorkerVecEnv.processes)
            if process.poll() is None:
                process.kill()
