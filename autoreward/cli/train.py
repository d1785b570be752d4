"""`autoreward train`, `eval` and `bench env`: PPO with a reward, a policy's evaluation, env stepping cost."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from autoreward.bench.env import bench_env
from autoreward.cli.common import console, default_out, err_console, escape, existing_file, recent_success
from autoreward.cli.envs import print_verdict
from autoreward.cli.tasks import resolve_task
from autoreward.env.registry import source_of
from autoreward.errors import UsageError
from autoreward.evaluate import evaluate
from autoreward.llm.providers import require_credentials
from autoreward.reward.critic import check
from autoreward.train import ppo
from autoreward.train.config import (
    EVAL_SEED,
    AnnotatorConfig,
    CalmConfig,
    OniConfig,
    PPOConfig,
    TrainConfig,
    WorkerConfig,
)


def cmd_train(args: argparse.Namespace) -> int:
    reward = _train_reward(args)
    if reward and not args.skip_check and not _critic_accepts(reward, args.task):
        err_console.print("[red]the reward was rejected; not training[/red] (--skip-check trains anyway)")
        return 1
    default_out(args, "train")
    config = _train_config(args, reward)
    if not args.json:
        console.print(f"training {args.task} with {_training_what(args, reward)} for {args.steps} steps -> {args.out}")
    ppo.configure_torch()  # this process trains
    with _train_progress(args) as update:
        result = ppo.train(config, progress=update)  # through the module: tests replace it
    summary: dict[str, Any] = {"train": dataclasses.asdict(result)}
    if not result.ok:
        err_console.print(f"[red]training stopped:[/red] {escape(result.stopped_reason or '')}")
    elif args.eval_episodes > 0:
        summary["eval"] = _evaluate_trained(args, result.policy)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_trained(result, summary.get("eval"))
    return 0 if result.ok else 1

def _train_reward(args: argparse.Namespace) -> str | None:
    """The reward file to train with (None: the task reward alone), after the checks of the options that need no
    training: the task, CALM's options, credentials for --llm."""

    args.task = resolve_task(args)
    if args.reward is None and args.intrinsic is None and not args.calm:
        raise UsageError("--reward is required: a reward file, or `none` for the task's own sparse reward")
    if not args.calm and (args.subgoals is not None or args.calm_coef is not None):
        raise UsageError("--subgoals and --calm-coef set CALM's reward: add --calm")
    if args.calm_coef is not None and not (args.calm_coef >= 0 and math.isfinite(args.calm_coef)):
        raise UsageError(f"--calm-coef must be a finite number >= 0, got {args.calm_coef}")
    reward = None if args.reward in (None, "none", "None") else str(existing_file(args.reward, "reward file"))
    if (args.intrinsic or args.calm) and (args.annotator is None or (args.calm and not args.subgoals)):
        require_credentials(args.llm, args.llm_api_base)  # labels, judgements or subgoals come from --llm here
    return reward

def _critic_accepts(reward: str, task: str) -> bool:
    """Run the critic on the reward file; print its verdict when it rejects the reward."""
    with console.status("checking the reward (static rules, sandboxed probe)..."):
        verdict = check(Path(reward).read_text(encoding="utf-8"), task)
    if not verdict.accepted:
        print_verdict(verdict)
    return verdict.accepted

def _train_config(args: argparse.Namespace, reward: str | None) -> TrainConfig:
    """The TrainConfig of `autoreward train`'s options (the rest keep TrainConfig's defaults)."""
    return TrainConfig(
        task=args.task, reward=reward, steps=args.steps, seed=args.seed, envs=args.envs, device=args.device,
        out=args.out, task_coef=args.task_coef, card=source_of(args.task),
        ppo=PPOConfig(overlap=not args.serial_update),
        workers=WorkerConfig(count=args.env_workers, reward_memory_mb=args.reward_memory_mb),
        oni=OniConfig(intrinsic=args.intrinsic, coef=args.intrinsic_coef, count_exponent=args.count_exponent),
        calm=CalmConfig(enabled=args.calm, subgoals=args.subgoals, coef=args.calm_coef),
        annotator=AnnotatorConfig(url=args.annotator,
                                  token=args.annotator_token or os.environ.get("AUTOREWARD_ANNOTATE_TOKEN"),
                                  llm=args.llm, api_base=args.llm_api_base, labels_db=args.labels_db))

def _training_what(args: argparse.Namespace, reward: str | None) -> str:
    """What the run trains with, in words."""
    what = "the task reward alone" if reward is None else reward
    if args.intrinsic:
        what += f" + intrinsic {args.intrinsic} (labels from {args.annotator or f'a local server, {args.llm}'})"
    if args.calm:
        what += f" + CALM subgoals (judged by {args.annotator or f'a local server, {args.llm}'})"
    return what

@contextmanager
def _train_progress(args: argparse.Namespace) -> Iterator[Callable[[int, int, dict[str, Any] | None], None]]:
    """A progress bar (none with --json) and the `progress` callback of train() that moves it."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, disable=args.json) as progress:
        bar = progress.add_task("train", total=args.steps, info="")

        def update(done: int, total: int, record: dict[str, Any] | None) -> None:
            info = ""
            if record:
                info = f"{record['sps']:.0f} steps/s" + recent_success(record.get("recent_success_rate"),
                                                                      record.get("recent_episodes"))
            progress.update(bar, completed=min(done, total), info=info)

        yield update

def _evaluate_trained(args: argparse.Namespace, policy: str | None) -> dict[str, Any]:
    with console.status(f"evaluating {args.eval_episodes} episodes..."):
        evaluation = evaluate(args.task, policy, episodes=args.eval_episodes, seed=EVAL_SEED, out=args.out)
    return {k: v for k, v in evaluation.to_dict().items() if k != "outcomes"}

def _print_trained(result: Any, evaluation: dict[str, Any] | None) -> None:
    console.print(f"trained {result.steps:,} steps in {result.seconds:.0f} s ({result.sps:.0f} steps/s) on "
                  f"{result.device}; policy: {result.policy}")
    if evaluation is not None:
        e = evaluation
        console.print(f"[bold]evaluated success: {e['success_rate']:.1%}[/bold] over {e['episodes']} episodes "
                      f"(mean task return {e['mean_return']:.3f}); failures: {e['failure_causes'] or 'none'}")

# ----- eval -------------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    args.task = resolve_task(args)
    policy = Path(args.policy) / "policy.zip" if Path(args.policy).is_dir() else Path(args.policy)
    existing_file(str(policy), "policy")
    default_out(args, "eval")
    with console.status(f"evaluating {args.episodes} episodes...") if not args.json else nullcontext():
        result = evaluate(args.task, args.policy, episodes=args.episodes, seed=args.seed, out=args.out,
                          greedy=args.greedy)
    data = {k: v for k, v in result.to_dict().items() if k != "outcomes"}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        console.print(f"[bold]success {result.success_rate:.1%}[/bold] over {result.episodes} episodes; mean task "
                      f"return {result.mean_return:.3f}; episode length {result.episode_length['mean']:.0f} "
                      f"(min {result.episode_length['min']}, max {result.episode_length['max']})")
        for cause, count in result.failure_causes.items():
            console.print(f"  {count:4d}  {escape(cause)}")
        console.print(f"written: {Path(args.out) / 'eval.json'}, {Path(args.out) / 'trajectories.jsonl'}")
    return 0

# ----- bench ------------------------------------------------------------------------------------------
def cmd_bench_env(args: argparse.Namespace) -> int:
    existing_file(args.reward, "reward file")
    with console.status("benchmarking...") if not args.json else nullcontext():
        result = bench_env(args.task, args.reward, steps=args.steps, seed=args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        console.print(f"bare env: {result['raw_sps']:.0f} steps/s; with State + reward: {result['reward_sps']:.0f} "
                      f"steps/s; overhead {result['overhead']:.1%}")
    return 0
