#!/usr/bin/env python
"""Benchmark: does a training setting learn as well per step? Evaluated success along training, per seed.

Trains with the example reward under each named setting (the old defaults: 8 envs x 128 steps in one worker;
serial, 2026-12-02's: 32 envs x 32 steps, workers per core; join50, 2026-12-03's: 64 envs x 16 steps, workers
per core, the update overlapped with the first half of the next rollout; the new: the same joined at 3/4;
slim: the new with half-width first layers), saves the policy at every checkpoint and evaluates
it on the task's own success (seeded games, apart from training's). Training results do not depend on the
machine's load (the rollouts are synchronous and seeded, an overlapped update is joined at a fixed step);
steps/s does, so it is measured separately (`autoreward bench train`) and success at equal wall-clock is read
off these curves at steps = steps/s x seconds. Writes runs/bench/learning.json.

    .venv/bin/python scripts/bench_learning.py [--steps 150000] [--seeds 0 1 2] [--episodes 50]
        [--checkpoints 25000 50000 100000] [--settings old new]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from autoreward.evaluate import evaluate
from autoreward.train import ppo
from autoreward.train.config import EVAL_SEED, NetworkConfig, PPOConfig, TrainConfig, WorkerConfig

TASK = "MiniHack-KeyRoom-S5-v0"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "minihack_keyroom_s5.py")
SETTINGS: dict[str, dict[str, Any]] = {
    # before issue 15
    "old": {"envs": 8, "ppo": PPOConfig(n_steps=128, overlap=False), "workers": WorkerConfig(count=1)},
    # 2026-12-02's: 32 envs x 32 steps, workers per core, plain PPO's update schedule
    "serial": {"envs": 32, "ppo": PPOConfig(n_steps=32, overlap=False)},
    "new": {},  # today's defaults
    # the extractor's two first layers half as wide (crop 128 -> 64, map 64 -> 32): half the update's products
    # 2026-12-03's: the update joined halfway into the next rollout (the new joins at 3/4: more time to finish
    # beside it, more steps acted one update behind)
    "join50": {"ppo": PPOConfig(join_at=0.5)},
    "slim": {"network": NetworkConfig(crop_features=64, map_features=32)},
}


class Checkpoints(BaseCallback):
    """Saves the policy when training passes each of `marks` (in steps)."""

    def __init__(self, marks: list[int], folder: Path) -> None:
        super().__init__()
        self.marks, self.folder, self.saved = sorted(marks), folder, {}

    def _on_step(self) -> bool:
        while self.marks and self.num_timesteps >= self.marks[0]:
            path = self.folder / f"policy-{self.marks[0]}.zip"
            self.model.save(path)
            self.saved[self.marks.pop(0)] = path
        return True


def train_with_checkpoints(config: TrainConfig, marks: list[int]) -> dict[int, Path]:
    """Train as `autoreward train` does, saving the policy at each mark and at the end."""
    saver = Checkpoints(marks, Path(config.out))
    result = ppo.train(config, callbacks=[saver])
    if not result.ok or result.policy is None:
        raise SystemExit(f"training stopped: {result.stopped_reason}")
    return {**saver.saved, result.steps: Path(result.policy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[10_000, 20_000, 30_000, 50_000, 100_000])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench" / "learning"))
    args = parser.parse_args()
    ppo.configure_torch()
    results: list[dict[str, Any]] = []
    for name in args.settings:
        for seed in args.seeds:
            out = Path(args.out) / f"{name}-seed{seed}"
            config = TrainConfig(task=TASK, reward=EXAMPLE, steps=args.steps, seed=seed, out=str(out),
                                 **SETTINGS[name])
            for steps, policy in sorted(train_with_checkpoints(config, args.checkpoints).items()):
                result = evaluate(TASK, policy, episodes=args.episodes, seed=EVAL_SEED)
                results.append({"setting": name, "seed": seed, "steps": steps, "success_rate": result.success_rate})
                print(json.dumps(results[-1]), flush=True)
    path = Path(args.out).parent / "learning.json"
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
