#!/usr/bin/env python
"""Benchmark: what a reward costs per env step in the env's own process, the way a training's worker runs it.

N envs of the task (each wrapped in the training's ShapedReward and policy observation) are stepped in turn with
seeded random actions, so each step meets caches the other envs have cooled, as in an env worker holding many
envs. Prints microseconds per step for the whole step and for the reward (State building + the call + its check,
ShapedReward.reward_seconds). Alternate runs of two versions to compare them: the VM's speed drifts.

    .venv/bin/python scripts/bench_reward_path.py [--reward examples/bench_state_queries.py] [--envs 32] [--steps 6400]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from autoreward.env.registry import card_for
from autoreward.reward.loader import load_reward_file
from autoreward.train.policy import policy_observation
from autoreward.train.shaping import ShapedReward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="MiniHack-KeyRoom-S5-v0")
    parser.add_argument("--reward", default="examples/bench_state_queries.py")
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6400, help="steps in all, over the envs")
    args = parser.parse_args()
    card, fn = card_for(args.task), load_reward_file(args.reward)
    shaped = [ShapedReward(card.make(args.task, seed=i), fn) for i in range(args.envs)]
    envs = [policy_observation(card, env) for env in shaped]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while steps < args.steps:
        for env in envs:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            steps += 1
            if terminated or truncated:
                env.reset()
    elapsed = time.perf_counter() - start
    reward = sum(env.reward_seconds for env in shaped)
    print(f"{args.envs} envs, {steps} steps: {elapsed / steps * 1e6:.1f} µs per step, of which the reward "
          f"{reward / steps * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
