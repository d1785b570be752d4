#!/usr/bin/env python
"""Benchmark: rewards for KeyRoom against the sparse baseline (same steps, same seeds), plus env overhead.
Variants: the example reward file, CALM's subgoal reward (--calm), the sparse task reward. Prints a markdown
table for docs/benchmarks.md and writes runs/bench/keyroom-VARIANTS.json.

    .venv/bin/python scripts/bench_keyroom.py [--steps 150000] [--seeds 0 1 2] [--episodes 100]
        [--variants example sparse] [--jobs 1]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TASK = "MiniHack-KeyRoom-S5-v0"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "minihack_keyroom_s5.py")
VARIANTS = {"example": ["--reward", EXAMPLE], "sparse": ["--reward", "none"], "calm": ["--calm"]}


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
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["example", "sparse"])
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each then shares the cores: slower)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench"))
    args = parser.parse_args()
    out = Path(args.out)
    results: dict = {"task": TASK, "steps": args.steps, "episodes": args.episodes, "runs": [],
                     "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version()}}
    results["jobs"] = args.jobs

    def run(name: str, seed: int) -> dict:
        start = time.time()
        summary = autoreward("train", "--task", TASK, *VARIANTS[name], "--steps", str(args.steps),
                             "--seed", str(seed), "--eval-episodes", str(args.episodes),
                             "--out", str(out / f"keyroom-{name}-s{seed}"))
        record = {"reward": name, "seed": seed, "train_sps": summary["train"]["sps"],
                  "train_seconds": summary["train"]["seconds"], "success": summary["eval"]["success_rate"],
                  "mean_return": summary["eval"]["mean_return"], "wall_seconds": round(time.time() - start, 1)}
        print(json.dumps(record), flush=True)
        return record

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = [pool.submit(run, name, seed) for seed in args.seeds for name in args.variants]
        results["runs"] = [future.result() for future in runs]
    if "example" in args.variants:
        results["env_overhead"] = [autoreward("bench", "env", "--task", TASK, "--reward", EXAMPLE) for _ in range(3)]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"keyroom-{'-'.join(args.variants)}.json").write_text(json.dumps(results, indent=2))

    print(f"\n| reward | seed | evaluated success ({args.episodes} episodes) | mean task return | training steps/s |")
    print("|---|---|---|---|---|")
    for run in results["runs"]:
        print(f"| {run['reward']} | {run['seed']} | {run['success']:.0%} | {run['mean_return']:.3f} | "
              f"{run['train_sps']:.0f} |")
    for name in args.variants:
        rates = [r["success"] for r in results["runs"] if r["reward"] == name]
        print(f"| **{name}** | mean | **{statistics.mean(rates):.0%}** | | |")
    for bench in results.get("env_overhead", []):
        print(f"env: bare {bench['raw_sps']:.0f} steps/s, with State + example reward {bench['reward_sps']:.0f} "
              f"steps/s, overhead {bench['overhead']:.1%}")


if __name__ == "__main__":
    main()
