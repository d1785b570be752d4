"""`autoreward bench suite`: every (task, variant) cell of the task suite, over seeds."""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from contextlib import nullcontext

from autoreward.bench.suite import run_suite
from autoreward.bench.suite_config import SuiteConfig
from autoreward.bench.suite_report import SuiteReporter
from autoreward.bench.train import bench_train
from autoreward.cli.common import console, existing_file, given
from autoreward.train.config import PPOConfig, TrainConfig, WorkerConfig


def cmd_bench_suite(args: argparse.Namespace) -> int:
    config = SuiteConfig(**given(tasks=args.tasks, variants=args.variants), steps=args.steps, seeds=args.seeds,
                         search_seed=args.search_seed, rounds=args.rounds, candidates=args.candidates,
                         eval_episodes=args.eval_episodes, out=args.out, docs=args.docs, jobs=args.jobs,
                         device=args.device).validate()
    console.print(f"suite: {len(config.tasks)} tasks x {', '.join(config.variants)}, seeds "
                  f"{' '.join(map(str, config.seeds))}, {config.steps:,} steps -> {config.out}")
    with SuiteReporter(console) as reporter:
        report = run_suite(config, on_event=reporter)
    reporter.summary(report, config)
    return 1 if report["failed"] else 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    if args.reward:
        existing_file(args.reward, "reward file")
    with tempfile.TemporaryDirectory(prefix="autoreward-bench-") as tmp:
        config = TrainConfig(task=args.task, reward=args.reward, steps=args.steps, seed=args.seed, envs=args.envs,
                             device=args.device, out=args.out or tmp, workers=WorkerConfig(count=args.env_workers),
                             ppo=PPOConfig(n_steps=args.n_steps, overlap=not args.serial_update))
        with console.status("benchmarking training...") if not args.json else nullcontext():
            result = bench_train(config, plain=not args.no_plain)
    result["command"] = _command(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    ours = result["autoreward"]
    console.print(f"autoreward: {ours['sps']:,.0f} steps/s ({ours['envs']} envs in {ours['workers']} workers, "
                  f"{result['device']})")
    wall = ", ".join(f"{name} {share:.0%}" for name, share in ours["wall_share"].items())
    console.print(f"  trainer's wall time: {wall}")
    if "update_thread_us_per_step" in ours:
        console.print(f"  PPO's update, overlapped with the next rollout: {ours['update_thread_us_per_step']:.0f} us "
                      "per step in its thread")
    if "worker_cpu_us_per_step" in ours:
        cpu = ", ".join(f"{name} {us:.0f} us" for name, us in ours["worker_cpu_us_per_step"].items())
        console.print(f"  env workers' CPU time per step: {cpu}")
    if "plain_sb3" in result:
        console.print(f"plain SB3 (SubprocVecEnv, MultiInputPolicy): {result['plain_sb3']['sps']:,.0f} steps/s; "
                      f"ratio {result['ratio']:.2f}x")
    return 0


def _command(args: argparse.Namespace) -> str:
    """The command that reproduces this benchmark (what docs/benchmarks.md records beside the figures)."""
    words = ["autoreward", "bench", "train", "--task", args.task, *(["--reward", args.reward] if args.reward else []),
             "--steps", str(args.steps), "--envs", str(args.envs), "--n-steps", str(args.n_steps),
             "--device", args.device]
    return shlex.join(words + (["--env-workers", str(args.env_workers)] if args.env_workers != -1 else [])
                      + (["--serial-update"] if args.serial_update else []) + (["--no-plain"] if args.no_plain else []))
