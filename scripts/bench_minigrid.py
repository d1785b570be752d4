#!/usr/bin/env python
"""Benchmark (issue 17 part 3): on a MiniGrid task, does the offline designer's reward beat the task's sparse
reward at equal steps? Trains PPO on both for each seed and evaluates each policy by the task's own success
(seeded games, apart from training's). Writes <out>/minigrid.json and prints one line per run.

The shaped reward is, by default, the offline designer's first-round candidate for the task (what
`autoreward iterate TASK --llm offline` trains first), checked by the critic's stages 1-2 before use; with
`--reward FILE` any reward file (e.g. a run's `best/reward.py`, the loop's confirmed answer) is used instead.

    .venv/bin/python scripts/bench_minigrid.py [--task MiniGrid-DoorKey-8x8-v0] [--steps 150000] [--seeds 1 2 3]
        [--episodes 50] [--envs 32] [--reward FILE] [--out runs/bench/minigrid]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from autoreward.env.registry import card_for
from autoreward.evaluate import evaluate
from autoreward.reward.contract import describe_task
from autoreward.reward.critic import check
from autoreward.synth.offline.designer import OfflineDesigner
from autoreward.synth.records import DesignContext
from autoreward.train import ppo
from autoreward.train.config import EVAL_SEED, TrainConfig


def offline_reward(task: str, out: Path) -> Path:
    """The offline designer's first candidate for `task`, accepted by the critic (stages 1-2), saved in `out`."""
    card = card_for(task)
    ctx = DesignContext(task=task, task_text=card.task(task).goal.strip(), card_text=describe_task(task), round=1,
                        candidate=0, seed=0)
    code = OfflineDesigner().design(ctx).code
    verdict = check(code, task)
    if not verdict.accepted:
        raise SystemExit(f"the critic rejected the offline reward: {verdict.errors}")
    path = out / "reward.py"
    path.write_text(code, encoding="utf-8")
    return path


def run_one(task: str, reward: Path | None, seed: int, steps: int, envs: int, episodes: int,
            out: Path) -> dict[str, Any]:
    """Train one policy and evaluate it by the task's success."""
    name = f"{'shaped' if reward else 'sparse'}-seed{seed}"
    start = time.perf_counter()
    result = ppo.train(TrainConfig(task=task, reward=None if reward is None else str(reward), steps=steps, seed=seed,
                                   envs=envs, out=str(out / name)))
    seconds = time.perf_counter() - start
    evaluated = evaluate(task, out / name, episodes=episodes, seed=EVAL_SEED + seed, out=out / name)
    return {"run": name, "reward": "shaped" if reward else "sparse", "seed": seed, "steps": result.steps,
            "train_seconds": round(seconds, 1), "success_rate": evaluated.success_rate,
            "mean_return": evaluated.mean_return, "stopped_reason": result.stopped_reason}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="MiniGrid-DoorKey-8x8-v0")
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--reward", type=Path, default=None, help="reward file (default: the offline designer's)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/minigrid"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    reward = args.reward or offline_reward(args.task, args.out)
    rows = []
    for seed in args.seeds:
        for shaped in (reward, None):
            row = run_one(args.task, shaped, seed, args.steps, args.envs, args.episodes, args.out)
            rows.append(row)
            print(json.dumps(row), flush=True)
            (args.out / "minigrid.json").write_text(json.dumps({
                "task": args.task, "steps": args.steps, "episodes": args.episodes, "envs": args.envs,
                "reward": str(reward), "machine": f"{platform.machine()} {platform.processor()}",
                "date": time.strftime("%Y-%m-%d"), "runs": rows}, indent=1))
    for kind in ("shaped", "sparse"):
        mine = [r["success_rate"] for r in rows if r["reward"] == kind]
        print(f"{kind}: success {', '.join(f'{s:.0%}' for s in mine)}; mean {sum(mine) / len(mine):.0%}")


if __name__ == "__main__":
    main()
