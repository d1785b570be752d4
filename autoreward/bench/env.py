"""`autoreward bench env`: what State building and a reward function cost on top of the bare environment."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from autoreward.env.registry import card_for
from autoreward.reward.loader import load_reward_file
from autoreward.train.shaping import ShapedReward


def _run_chunk(env: gym.Env, actions: list[int]) -> float:
    """Seconds to play `actions` from a fresh episode (resetting whenever an episode ends)."""
    env.reset()
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return time.perf_counter() - start


def bench_env(task: str, reward: str | Path, steps: int = 40_000, seed: int = 0, chunks: int = 100) -> dict[str, Any]:
    """Random-policy steps/s of the bare env and of the same env with State building + the reward function.

    Both modes drive one environment instance (the shaped one through the wrapper, the bare one directly
    underneath it) with the same pre-drawn random actions, in many short alternating chunks, so that machine
    noise and instance differences fall on both alike. overhead = median over chunk pairs of
    (shaped time / bare time) - 1: the median ignores the pairs that a noisy neighbour slowed down.
    """
    card = card_for(task)
    shaped = ShapedReward(card.make(task, seed=seed), load_reward_file(reward))
    bare = shaped.env
    rng = np.random.default_rng(seed)
    per_chunk = max(1, steps // (2 * chunks))
    bare_times, shaped_times = [], []
    try:
        for _ in range(chunks):
            actions = rng.integers(bare.action_space.n, size=per_chunk).tolist()
            bare_times.append(_run_chunk(bare, actions))
            shaped_times.append(_run_chunk(shaped, actions))
            if shaped.error:
                raise RuntimeError(shaped.error)
    finally:
        shaped.close()
    n = per_chunk * chunks
    ratio = float(np.median(np.array(shaped_times) / np.array(bare_times)))
    return {"task": task, "reward": str(reward), "steps": 2 * n, "raw_sps": round(n / sum(bare_times), 1),
            "reward_sps": round(n / sum(shaped_times), 1), "overhead": round(ratio - 1.0, 4)}
