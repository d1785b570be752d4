"""The `train` command: PPO on a task with a reward file, ONI's intrinsic reward or CALM's, then an evaluation.

Its option defaults are read from autoreward.train.config, where each is written once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from autoreward.cli import EVAL_SEED, _default_out, _existing_file, _print_verdict, console, err_console
from autoreward.errors import UsageError
from autoreward.train.config import AnnotatorConfig, CalmConfig, OniConfig, TrainConfig, WorkerConfig


def add_commands(sub: Any, positive: Callable[[str], int]) -> None:
    """Register `train` on the CLI's subparsers; its defaults are TrainConfig's and its sections'."""
    train = sub.add_parser("train", help="train a PPO policy with a reward file (or the task reward alone)")
    train.add_argument("--task", required=True)
    train.add_argument("--reward", help="reward file, or `none` for the task's own sparse reward (the default "
                                        "with --intrinsic or --calm)")
    train.add_argument("--steps", type=positive, default=TrainConfig.steps, help="default %(default)s")
    train.add_argument("--seed", type=int, default=TrainConfig.seed, help="default %(default)s")
    train.add_argument("--envs", type=positive, default=TrainConfig.envs,
                       help="parallel environments (default %(default)s)")
    train.add_argument("--env-workers", type=int, default=WorkerConfig.count,
                       help="walled processes running the envs and the reward code: -1 auto (cores - 1, at least "
                            "1); 0 inside the trainer, only with --reward none (default %(default)s)")
    train.add_argument("--reward-memory-mb", type=positive, default=WorkerConfig.reward_memory_mb,
                       help="memory reward code may hold per env worker, above the envs' own (default "
                            "%(default)s); over it, training stops with the reason")
    train.add_argument("--device", default=TrainConfig.device, choices=["auto", "cpu", "cuda"],
                       help="default %(default)s")
    train.add_argument("--task-coef", type=float, default=TrainConfig.task_coef,
                       help="c_ext, weight of the task reward (default 1; with --intrinsic ONI's 10, or 0.1 on "
                            "score tasks)")
    oni = train.add_argument_group("ONI intrinsic reward (LLM labels of the message line; docs/annotation.md)")
    oni.add_argument("--intrinsic", metavar="oni:MODEL", default=OniConfig.intrinsic,
                     help="oni:retrieval (label table) | oni:classification (n-gram MLP) | oni:ranking "
                          "(Bradley-Terry on pairs)")
    oni.add_argument("--intrinsic-coef", type=float, default=OniConfig.coef, help="c_int (default %(default)s, ONI)")
    oni.add_argument("--count-exponent", type=float, default=OniConfig.count_exponent,
                     help="beta: the N-th sight of a message in an episode pays 1/N^beta (default %(default)s, ONI)")
    oni.add_argument("--annotator", metavar="URL", default=AnnotatorConfig.url,
                     help="annotation server (default: start one in this process)")
    oni.add_argument("--annotator-token", default=AnnotatorConfig.token,
                     help="bearer token for --annotator (default: $AUTOREWARD_ANNOTATE_TOKEN)")
    oni.add_argument("--llm", default=AnnotatorConfig.llm,
                     help="labeller of the server started here: offline (lexicon) or a litellm model "
                          "(default %(default)s)")
    oni.add_argument("--llm-api-base", default=AnnotatorConfig.api_base,
                     help="OpenAI-compatible server URL for --llm")
    oni.add_argument("--labels-db", default=AnnotatorConfig.labels_db,
                     help="label store of the server started here (default OUT/labels.sqlite)")
    calm = train.add_argument_group("CALM auxiliary reward (subgoals judged on the annotation server)")
    calm.add_argument("--calm", action="store_true", default=CalmConfig.enabled,
                      help="pay a bonus the first time in an episode each subgoal is achieved (judged by --llm)")
    calm.add_argument("--subgoals", default=CalmConfig.subgoals,
                      help="';'-separated subgoals, e.g. 'pick up the key;open the door' (default: the task's "
                           "decomposition, by --llm)")
    calm.add_argument("--calm-coef", type=float, default=CalmConfig.coef,
                      help="bonus per subgoal (default 0.5 x the task reward's weight)")
    train.add_argument("--eval-episodes", type=int, default=50, help="evaluate after training (0: skip)")
    train.add_argument("--skip-check", action="store_true", help="do not run the critic before training")
    train.add_argument("--out", help="output folder (metrics.jsonl, policy.zip, eval.json; default "
                                     "runs/train-<task>-<time>)")
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    train.set_defaults(handler=cmd_train)



def cmd_train(args: argparse.Namespace) -> int:
    from autoreward.train.ppo import configure_torch, train

    reward = _train_reward(args)
    if reward and not args.skip_check and not _critic_accepts(reward, args.task):
        err_console.print("[red]the reward was rejected; not training[/red] (--skip-check trains anyway)")
        return 1
    _default_out(args, "train")
    config = _train_config(args, reward)
    if not args.json:
        console.print(f"training {args.task} with {_training_what(args, reward)} for {args.steps} steps -> {args.out}")
    configure_torch()  # this process trains
    with _train_progress(args) as update:
        result = train(config, progress=update)
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
    from autoreward.env.card import card_for

    card_for(args.task)
    if args.reward is None and args.intrinsic is None and not args.calm:
        raise UsageError("--reward is required: a reward file, or `none` for the task's own sparse reward")
    if not args.calm and (args.subgoals is not None or args.calm_coef is not None):
        raise UsageError("--subgoals and --calm-coef set CALM's reward: add --calm")
    if args.calm_coef is not None and not (args.calm_coef >= 0 and math.isfinite(args.calm_coef)):
        raise UsageError(f"--calm-coef must be a finite number >= 0, got {args.calm_coef}")
    reward = None if args.reward in (None, "none", "None") else str(_existing_file(args.reward, "reward file"))
    if (args.intrinsic or args.calm) and (args.annotator is None or (args.calm and not args.subgoals)):
        from autoreward.llm.providers import require_credentials

        require_credentials(args.llm, args.llm_api_base)  # labels, judgements or subgoals come from --llm here
    return reward


def _critic_accepts(reward: str, task: str) -> bool:
    """Run the critic on the reward file; print its verdict when it rejects the reward."""
    from autoreward.reward.critic import check

    with console.status("checking the reward (static rules, sandboxed probe)..."):
        verdict = check(Path(reward).read_text(encoding="utf-8"), task)
    if not verdict.accepted:
        _print_verdict(verdict)
    return verdict.accepted


def _train_config(args: argparse.Namespace, reward: str | None) -> TrainConfig:
    """The TrainConfig of `autoreward train`'s options (the rest keep TrainConfig's defaults)."""
    return TrainConfig(
        task=args.task, reward=reward, steps=args.steps, seed=args.seed, envs=args.envs, device=args.device,
        out=args.out, task_coef=args.task_coef,
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
                rate = record.get("success_rate")
                info = f"{record['sps']:.0f} steps/s" + (f", success {rate:.0%}" if rate is not None else "")
            progress.update(bar, completed=min(done, total), info=info)

        yield update


def _evaluate_trained(args: argparse.Namespace, policy: str | None) -> dict[str, Any]:
    from autoreward.evaluate import evaluate

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
