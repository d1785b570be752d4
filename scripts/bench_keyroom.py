#!/usr/bin/env python
"""Benchmark: the example KeyRoom reward against the sparse baseline (same steps, same seeds), plus env
overhead. Prints a markdown table for docs/benchmarks.md and writes runs/bench/keyroom.json.

    .venv/bin/python scripts/bench_keyroom.py [--steps 150000] [--seeds 0 1 2] [--episodes 100]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

TASK = "MiniHack-KeyRoom-S5-v0"
ROOT = Path(__file__).resolve().parent.parent
REWARDS = {"example": str(ROOT / "examples" / "minihack_keyroom_s5.py"), "sparse": "none"}


def autoreward(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "autoreward.cli", *args, "--json"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"autoreward {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench"))
    args = parser.parse_args()
    out = Path(args.out)
    results: dict = {"task": TASK, "steps": args.steps, "episodes": args.episodes, "runs": [],
                     "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version()}}
    for seed in args.seeds:
        for name, reward in REWARDS.items():
            start = time.time()
            summary = autoreward("train", "--task", TASK, "--reward", reward, "--steps", str(args.steps),
                                 "--seed", str(seed), "--eval-episodes", str(args.episodes),
                                 "--out", str(out / f"keyroom-{name}-s{seed}"))
            run = {"reward": name, "seed": seed, "train_sps": summary["train"]["sps"],
                   "train_seconds": summary["train"]["seconds"], "success": summary["eval"]["success_rate"],
                   "mean_return": summary["eval"]["mean_return"], "wall_seconds": round(time.time() - start, 1)}
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    results["env_overhead"] = [autoreward("bench", "env", "--task", TASK, "--reward", REWARDS["example"])
                               for _ in range(3)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "keyroom.json").write_text(json.dumps(results, indent=2))

    print(f"\n| reward | seed | evaluated success ({args.episodes} episodes) | mean task return | training steps/s |")
    print("|---|---|---|---|---|")
    for run in results["runs"]:
        print(f"| {run['reward']} | {run['seed']} | {run['success']:.0%} | {run['mean_return']:.3f} | "
              f"{run['train_sps']:.0f} |")
    for name in REWARDS:
        rates = [r["success"] for r in results["runs"] if r["reward"] == name]
        print(f"| **{name}** | mean | **{statistics.mean(rates):.0%}** | | |")
    for bench in results["env_overhead"]:
        print(f"env: bare {bench['raw_sps']:.0f} steps/s, with State + example reward {bench['reward_sps']:.0f} "
              f"steps/s, overhead {bench['overhead']:.1%}")


if __name__ == "__main__":
    main()
