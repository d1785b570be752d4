"""The `autoreward` command line: envs, check, train, eval, bench, iterate, inspect.

Exit codes: 0 done (or accepted), 1 rejected or failed (the reason is printed), 2 usage error.
Library code prints nothing; everything users see is printed here, with rich.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autoreward.errors import AutorewardError, UsageError

EVAL_SEED = 1000  # evaluation games are seeded apart from training games (seeds 0..)

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except AutorewardError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/yellow]")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoreward", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    envs = sub.add_parser("envs", help="list the supported tasks, or show what the designer is told about one")
    envs.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    envs.add_argument("task", nargs="?", help="task id (with `show`)")
    envs.set_defaults(handler=_cmd_envs)

    check = sub.add_parser("check", help="check a reward file: static rules, a sandboxed probe (and a review)")
    check.add_argument("reward", help="path of the reward file")
    check.add_argument("--task", required=True, help="task id, e.g. MiniHack-KeyRoom-S5-v0")
    check.add_argument("--transitions", type=_positive, default=256, help="probe transitions (default 256)")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--llm", help="also run stage 3, the review: `offline` for the rules (scripted play), or a "
                                     "litellm model for the rules and the model's checklist (default: stages 1-2)")
    check.add_argument("--llm-api-base", help="base URL of an OpenAI-compatible server (or AUTOREWARD_LLM_API_BASE)")
    check.add_argument("--description", help="the task in words for the review (default: the env card's goal)")
    check.add_argument("--json", action="store_true", help="print the verdict as JSON")
    check.set_defaults(handler=_cmd_check)

    from autoreward.cli_train import add_commands as add_train_commands

    add_train_commands(sub, _positive)

    ev = sub.add_parser("eval", help="evaluate a trained policy by the task's own success")
    ev.add_argument("--task", required=True)
    ev.add_argument("--policy", required=True, help="policy.zip (or the training output folder)")
    ev.add_argument("--episodes", type=_positive, default=50)
    ev.add_argument("--seed", type=int, default=EVAL_SEED,
                    help=f"evaluation seed (default {EVAL_SEED}, apart from training seeds)")
    ev.add_argument("--greedy", action="store_true", help="take the most likely action instead of sampling")
    ev.add_argument("--out", help="output folder (eval.json, trajectories.jsonl; default runs/eval-<task>-<time>)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=_cmd_eval)

    _add_bench_parser(sub)

    from autoreward.cli_synth import add_commands

    add_commands(sub, _positive)
    from autoreward.cli_annotate import add_commands as add_annotate_commands

    add_annotate_commands(sub, _positive)
    from autoreward.cli_calm import add_commands as add_calm_commands

    add_calm_commands(sub, _positive)
    return parser


def _add_bench_parser(sub: Any) -> None:
    """`autoreward bench env` and `autoreward bench suite`."""
    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(title="benchmarks", metavar="WHAT")
    bench_env = bench_sub.add_parser("env", help="env steps/s bare and with State building + a reward function")
    bench_env.add_argument("--task", required=True)
    bench_env.add_argument("--reward", required=True)
    bench_env.add_argument("--steps", type=_positive, default=40_000)
    bench_env.add_argument("--seed", type=int, default=0)
    bench_env.add_argument("--json", action="store_true")
    bench_env.set_defaults(handler=_cmd_bench_env)
    suite = bench_sub.add_parser("suite", help="every (task, variant) cell of a task suite over seeds: table, JSON, "
                                               "plot (resumable: rerun it to go on)")
    suite.add_argument("--tasks", nargs="+", help="task ids (default: the suite's 12 tasks, autoreward.bench.suite)")
    suite.add_argument("--variants", nargs="+", help="sparse loop expert calm oni (default: all)")
    suite.add_argument("--steps", type=_positive, default=150_000, help="training steps per run (default 150000)")
    suite.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="training seeds (default 1 2 3)")
    suite.add_argument("--search-seed", type=int, default=0, help="the loop's search seed (default 0)")
    suite.add_argument("--rounds", type=_positive, default=2, help="loop rounds (default 2)")
    suite.add_argument("--candidates", type=_positive, default=2, help="loop candidates per round (default 2)")
    suite.add_argument("--eval-episodes", type=_positive, default=50)
    suite.add_argument("--out", default="runs/suite", help="cells and trainings (default runs/suite)")
    suite.add_argument("--docs", default="docs/benchmarks", help="suite.json/.md/.png (default docs/benchmarks, "
                                                                 "which also updates docs/benchmarks.md)")
    suite.add_argument("--jobs", type=int, default=0, help="trainings at once (default 0: half the cores)")
    suite.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    suite.set_defaults(handler=_cmd_bench_suite)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (not None): the rest keep the defaults of the config they are passed to."""
    return {name: value for name, value in options.items() if value is not None}


def _existing_file(path: str, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} {path!r} not found")
    return p


def _default_out(args: argparse.Namespace, command: str) -> None:
    """Without --out, write to a new folder under runs/ named by command, task and time, and say which."""
    if args.out is not None:
        return
    from autoreward.paths import default_out

    args.out = str(default_out(command, args.task))
    (err_console if args.json else console).print(f"no --out given: writing to {escape(args.out)}")


# ----- envs -------------------------------------------------------------------------------------------
def _cmd_envs(args: argparse.Namespace) -> int:
    from autoreward.env.card import cards
    from autoreward.reward.contract import describe_task

    if args.action == "show":
        if not args.task:
            raise UsageError("usage: autoreward envs show TASK")
        sys.stdout.write(describe_task(args.task))  # verbatim: no wrapping, no markup
        return 0
    table = Table(title="Supported tasks", show_lines=False)
    table.add_column("task")
    table.add_column("family")
    table.add_column("goal")
    for card in cards():
        for task in card.tasks:
            table.add_row(task.id, card.family, escape(task.goal.replace("\n", " ")))
    console.print(table)
    return 0


# ----- check ------------------------------------------------------------------------------------------
def _cmd_check(args: argparse.Namespace) -> int:
    # Imported here: the critic pulls in the environments, which `autoreward --help` does not need.
    from autoreward.env.card import card_for
    from autoreward.llm.client import make_llm
    from autoreward.llm.providers import require_credentials
    from autoreward.reward.critic import critique
    from autoreward.synth.roles import reviewer_for

    path = _existing_file(args.reward, "reward file")
    card_for(args.task)
    reviewer = None
    if args.llm is not None:
        require_credentials(args.llm, args.llm_api_base)
        reviewer = reviewer_for(make_llm(args.llm, api_base=args.llm_api_base))
    stages = "static rules, then the sandboxed probe" + (", then the review" if reviewer is not None else "")
    with console.status(f"checking ({stages})...") if not args.json else nullcontext():
        verdict = critique(path.read_text(encoding="utf-8"), args.task, reviewer=reviewer, task_text=args.description,
                           transitions=args.transitions, seed=args.seed).verdict
    if args.json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        _print_verdict(verdict)
    return 0 if verdict.accepted else 1


def _print_verdict(verdict: Any) -> None:
    status = "[green]accepted[/green]" if verdict.accepted else "[red]rejected[/red]"
    console.print(f"{status} (last stage: {verdict.stage})")
    for error in verdict.errors:
        console.print(f"  [red]error[/red] {escape(error)}")
    for warning in verdict.warnings:
        console.print(f"  [yellow]warning[/yellow] {escape(warning)}")
    for line in verdict.info:
        console.print(f"  [cyan]info[/cyan] {escape(line)}")
    stats = verdict.probe_stats
    if stats.get("calls"):
        console.print(f"  probe: {stats['calls']} calls, {stats['call_time_mean_us']:.0f} us mean, "
                      f"{stats['call_time_max_us']:.0f} us max; isolation: {stats.get('network_isolation', '?')}")
        for name, s in stats.get("components", {}).items():
            console.print(f"    {escape(name)}: mean {s['mean']:.4g}, min {s['min']:.4g}, max {s['max']:.4g}, "
                          f"nonzero {s['nonzero']:.0%}")


# ----- eval -------------------------------------------------------------------------------------------
def _cmd_eval(args: argparse.Namespace) -> int:
    from autoreward.env.card import card_for
    from autoreward.evaluate import evaluate

    card_for(args.task)
    policy = Path(args.policy) / "policy.zip" if Path(args.policy).is_dir() else Path(args.policy)
    _existing_file(str(policy), "policy")
    _default_out(args, "eval")
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
def _cmd_bench_env(args: argparse.Namespace) -> int:
    from autoreward.bench.env import bench_env

    _existing_file(args.reward, "reward file")
    with console.status("benchmarking...") if not args.json else nullcontext():
        result = bench_env(args.task, args.reward, steps=args.steps, seed=args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        console.print(f"bare env: {result['raw_sps']:.0f} steps/s; with State + reward: {result['reward_sps']:.0f} "
                      f"steps/s; overhead {result['overhead']:.1%}")
    return 0


def _cmd_bench_suite(args: argparse.Namespace) -> int:
    from autoreward.bench.suite import run_suite
    from autoreward.bench.suite_config import SuiteConfig
    from autoreward.bench.suite_report import SuiteReporter

    config = SuiteConfig(**_given(tasks=args.tasks, variants=args.variants), steps=args.steps, seeds=args.seeds,
                         search_seed=args.search_seed, rounds=args.rounds, candidates=args.candidates,
                         eval_episodes=args.eval_episodes, out=args.out, docs=args.docs, jobs=args.jobs,
                         device=args.device).validate()
    console.print(f"suite: {len(config.tasks)} tasks x {', '.join(config.variants)}, seeds "
                  f"{' '.join(map(str, config.seeds))}, {config.steps:,} steps -> {config.out}")
    with SuiteReporter(console) as reporter:
        report = run_suite(config, on_event=reporter)
    reporter.summary(report, config)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
