"""`autoreward bench train`: training steps/s, split into env, reward, inference and update time, beside plain SB3.

Our run is `autoreward train` itself (its stages from autoreward.train.ppo), with two probes added: a wrapper
that clocks how long the trainer waits for its envs, and a callback that clocks rollouts against the whole run
(the rest is PPO's update). The env workers clock their own CPU time, with the reward's and the policy
observation's shares. The plain run is what a user writes with stable-baselines3 alone: `make_vec_env(...,
vec_env_cls=SubprocVecEnv)` over the card's env with the same reward function in a plain wrapper, and
`MultiInputPolicy` on the raw observation, with the same PPO settings, the same envs and steps.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv, VecEnvWrapper

from autoreward.bench.suite_report import machine_info
from autoreward.env.registry import card_for
from autoreward.reward.loader import load_reward
from autoreward.train import ppo
from autoreward.train.build import build_envs, build_model
from autoreward.train.config import TrainConfig
from autoreward.train.overlap import OverlappedPPO
from autoreward.train.vec import WorkerVecEnv


class TimedVecEnv(VecEnvWrapper):
    """Clocks the trainer's wait for its envs: from handing out the actions to having the results."""

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.env_s = 0.0
        self._sent = 0.0

    def reset(self) -> Any:
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        self._sent = time.perf_counter()
        self.venv.step_async(actions)

    def step_wait(self) -> Any:
        result = self.venv.step_wait()
        self.env_s += time.perf_counter() - self._sent
        return result


class PhaseClock(BaseCallback):
    """Clocks rollouts (collecting steps) and the whole learning run; reads the workers' clocks at its end."""

    def __init__(self, workers: WorkerVecEnv | None) -> None:
        super().__init__()
        self.workers = workers
        self.rollout_s = 0.0
        self.learn_s = 0.0
        self.worker_times: dict[str, float] = {}
        self._started = self._rollout = 0.0

    def _on_training_start(self) -> None:
        self._started = time.perf_counter()

    def _on_rollout_start(self) -> None:
        self._rollout = time.perf_counter()

    def _on_rollout_end(self) -> None:
        self.rollout_s += time.perf_counter() - self._rollout

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.learn_s = time.perf_counter() - self._started
        if self.workers is not None:  # before the envs are closed
            self.worker_times = self.workers.timings()


def run_ours(config: TrainConfig) -> dict[str, Any]:
    """`autoreward train` with `config`, clocked: steps/s and where the wall time and the workers' CPU time went.

    Its stages are called one by one (not `ppo.train`) to put the clock between the envs and the model."""
    resolved = ppo.resolve(config)
    metrics_path = ppo.prepare_out(resolved.out)
    envs = build_envs(resolved.config, resolved.source, resolved.subgoals, resolved.out)
    workers = envs.venv if isinstance(envs.venv, WorkerVecEnv) else None
    timed = TimedVecEnv(envs.venv)
    envs.venv = timed
    try:
        model = build_model(resolved.config, timed, resolved.device)
    except BaseException:
        envs.close()
        raise
    clock = PhaseClock(workers)
    outcome = ppo.run(model, envs, resolved.config, metrics_path, callbacks=[clock])
    if outcome.stopped:
        raise RuntimeError(f"the benchmark's training stopped: {outcome.stopped}")
    steps = int(model.num_timesteps)
    # an overlapped update (autoreward.train.overlap) is joined as a rollout ends: the wait is the update's
    waited = model.update_wait_seconds if isinstance(model, OverlappedPPO) else 0.0
    wall = {"env_wait": timed.env_s, "inference": clock.rollout_s - timed.env_s - waited,
            "update": clock.learn_s - clock.rollout_s + waited}
    figures: dict[str, Any] = {
        "sps": round(steps / outcome.seconds, 1), "steps": steps, "seconds": round(outcome.seconds, 2),
        "envs": config.envs, "workers": len(workers.workers) if workers else 0,
        "wall_us_per_step": {name: round(s / steps * 1e6, 1) for name, s in wall.items()},
        "wall_share": {name: round(s / clock.learn_s, 3) for name, s in wall.items()},
        "overlap": isinstance(model, OverlappedPPO),
    }
    if isinstance(model, OverlappedPPO):  # the update's own time, in its thread, most of it beside the rollouts
        figures["update_thread_us_per_step"] = round(model.update_seconds / steps * 1e6, 1)
    if clock.worker_times:
        t = clock.worker_times
        cpu = {"env": t["step_s"] - t["reward_s"] - t["observation_s"], "reward": t["reward_s"],
               "observation": t["observation_s"]}
        figures["worker_cpu_us_per_step"] = {name: round(s / max(1.0, t["steps"]) * 1e6, 1) for name, s in cpu.items()}
    return figures


class PlainReward(gym.Wrapper):
    """A reward function on the card's env the way a user wires it up: State in, total out, added to the reward."""

    def __init__(self, env: gym.Env, task: str, source: str | None) -> None:
        super().__init__(env)
        self.card = card_for(task)
        self.fn = None if source is None else load_reward(source, state_api=self.card.state_api)
        self._prev: Any = None
        self._memory: dict[Any, Any] = {}
        self._steps = 0

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        self._prev, self._memory, self._steps = self.card.state(obs), {}, 0
        return obs, info

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        if self.fn is not None:
            state = self.card.state(obs, reward, terminated, truncated, info, self._steps)
            total, _ = self.fn(self._prev, int(action), state, self._memory)
            reward, self._prev = reward + float(total), state
        return obs, reward, terminated, truncated, info


def _plain_env(task: str, source: str | None) -> gym.Env:
    return PlainReward(card_for(task).make(task), task, source)


def run_plain(config: TrainConfig) -> dict[str, Any]:
    """The same training as a plain stable-baselines3 script: SubprocVecEnv, MultiInputPolicy, torch's own threads."""
    source = config.reward_source()
    torch.set_num_threads(os.cpu_count() or 1)  # what a script that never sets it gets
    venv = make_vec_env(functools.partial(_plain_env, config.task, source), n_envs=config.envs, seed=config.seed,
                        vec_env_cls=SubprocVecEnv)
    p = config.ppo
    n_steps = max(8, min(p.n_steps, config.steps // config.envs))
    try:
        model = PPO("MultiInputPolicy", venv, n_steps=n_steps, batch_size=min(p.batch_size, n_steps * config.envs),
                    n_epochs=p.n_epochs, learning_rate=p.learning_rate, gamma=p.gamma, gae_lambda=p.gae_lambda,
                    clip_range=p.clip_range, ent_coef=p.ent_coef, vf_coef=p.vf_coef, max_grad_norm=p.max_grad_norm,
                    seed=config.seed, device=ppo.resolve_device(config.device), verbose=0)
        start = time.perf_counter()
        model.learn(total_timesteps=config.steps)
        seconds = time.perf_counter() - start
    finally:
        venv.close()
    return {"sps": round(model.num_timesteps / seconds, 1), "steps": int(model.num_timesteps),
            "seconds": round(seconds, 2), "envs": config.envs, "processes": config.envs}


def bench_train(config: TrainConfig, plain: bool = True) -> dict[str, Any]:
    """Ours, then (unless `plain` is False) plain SB3 on the same task, reward, envs and steps; their ratio."""
    ppo.configure_torch()
    result: dict[str, Any] = {"task": config.task, "reward": config.reward, "device": ppo.resolve_device(config.device),
                              "machine": machine_info(), "autoreward": run_ours(config)}
    if plain:
        result["plain_sb3"] = run_plain(config)
        result["ratio"] = round(result["autoreward"]["sps"] / result["plain_sb3"]["sps"], 2)
    return result
