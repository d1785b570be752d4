"""What `IntrinsicReward.step_wait` costs per vectorised step, per model, on recorded message streams.

Messages are recorded once from random play of a real task, then replayed through a VecEnv that does nothing
else, so the time measured is the wrapper's alone: counting, scoring (cached), submitting new messages, and the
model refreshes as labels arrive (labelled at once by the offline lexicon, whose own time is not counted). A
second pass over the same stream measures the steady state: every message seen and labelled, no refreshes.
Returns numbers; prints nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from autoreward.annotate import lexicon
from autoreward.env.info import MESSAGE, TASK_REWARD
from autoreward.env.registry import card_for
from autoreward.intrinsic.labels import DictLabelSource, Item
from autoreward.intrinsic.messages import MessageInfo
from autoreward.intrinsic.reward import IntrinsicConfig, IntrinsicReward, make_model


@dataclass
class MessageStream:
    """Per step, each env's message and done flag (recorded from random play)."""

    task: str
    messages: list[list[str]]
    dones: list[list[bool]]

    @property
    def n_envs(self) -> int:
        return len(self.messages[0])


def record_stream(task: str, n_envs: int = 8, steps: int = 4096, seed: int = 0) -> MessageStream:
    """Random play of `task` in `n_envs` envs for `steps` vectorised steps: the messages they showed."""
    envs = [MessageInfo(card_for(task).make(task, seed=seed + k)) for k in range(n_envs)]
    rng = np.random.default_rng(seed)
    for env in envs:
        env.reset()
    messages, dones = [], []
    for _ in range(steps):
        row, ended = [], []
        for env in envs:
            _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
            row.append(info[MESSAGE])
            ended.append(bool(terminated or truncated))
            if terminated or truncated:
                env.reset()
        messages.append(row)
        dones.append(ended)
    for env in envs:
        env.close()
    return MessageStream(task, messages, dones)


class _ReplayVecEnv(VecEnv):
    """Replays a MessageStream (observations are zeros): the cheapest possible env under the wrapper."""

    def __init__(self, stream: MessageStream) -> None:
        super().__init__(stream.n_envs, gym.spaces.Box(0, 1, (1,)), gym.spaces.Discrete(2))
        self.stream, self.t = stream, 0
        self._obs = np.zeros((stream.n_envs, 1), dtype=np.float32)

    def reset(self) -> np.ndarray:
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        pass

    def step_wait(self) -> Any:
        t = self.t % len(self.stream.messages)
        self.t += 1
        infos = [{MESSAGE: m, TASK_REWARD: 0.0} for m in self.stream.messages[t]]
        return self._obs, np.zeros(self.num_envs, dtype=np.float32), np.array(self.stream.dones[t]), infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [None] * self.num_envs

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        pass

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        return [None] * self.num_envs

    def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
        return [False] * self.num_envs


class _TimedLexicon:
    """The offline lexicon as an instant labeller; its own time is kept apart (a server would spend it)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, item: Item) -> Any:
        start = time.perf_counter()
        label = lexicon.helpful(item) if isinstance(item, str) else lexicon.prefer(*item)
        self.seconds += time.perf_counter() - start
        return label


def _warm_up_torch() -> None:
    """One tiny training run, so torch's first-use costs (paid by PPO before any label arrives) are not counted."""
    model = make_model("classification")
    model.update({"You kill the newt!": True, "It's a wall.": False})


def _replay_seconds(venv: VecEnv, steps: int) -> float:
    actions = np.zeros(venv.num_envs, dtype=np.int64)
    venv.reset()
    start = time.perf_counter()
    for _ in range(steps):
        venv.step_async(actions)
        venv.step_wait()
    return time.perf_counter() - start


def bench_intrinsic(stream: MessageStream, model: str, update_every: int = 256, seed: int = 0) -> dict[str, Any]:
    """Per-vec-step cost of the wrapper with `model` on `stream` (labels from the offline lexicon, at once)."""
    _warm_up_torch()
    steps = len(stream.messages)
    bare = _replay_seconds(_ReplayVecEnv(stream), steps)
    config = IntrinsicConfig(model=model, update_every=update_every, seed=seed)
    intrinsic = make_model(model, config)
    labeller = _TimedLexicon()
    wrapper = IntrinsicReward(_ReplayVecEnv(stream), intrinsic, DictLabelSource(intrinsic.task, labeller=labeller),
                              config)
    wrapped = _replay_seconds(wrapper, steps) - labeller.seconds
    refresh, refreshes = wrapper.stats.refresh_seconds, wrapper.stats.refreshes
    steady = _replay_seconds(wrapper, steps) - (wrapper.stats.refresh_seconds - refresh)

    def per_vec_step_us(seconds: float) -> float:
        return round((seconds - bare) / steps * 1e6, 1)

    return {
        "task": stream.task, "model": model, "envs": stream.n_envs, "vec_steps": steps,
        "distinct_messages": wrapper.stats.messages, "items_submitted": wrapper.stats.submitted,
        "labels": wrapper.stats.labels, "refreshes": refreshes,
        "first_pass_us_per_vec_step": per_vec_step_us(wrapped),
        "first_pass_without_refreshes_us_per_vec_step": per_vec_step_us(wrapped - refresh),
        "refresh_ms_mean": round(refresh / max(1, refreshes) * 1e3, 2),
        "steady_us_per_vec_step": per_vec_step_us(steady),
    }
