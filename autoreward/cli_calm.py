"""The `calm` commands: a task's subgoals, a labelled transition dataset, and a judge's scores on it."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from autoreward.errors import UsageError


def add_commands(sub: Any, positive: Any) -> None:
    """Register `calm subgoals`, `calm dataset` and `calm eval` on the CLI's subparsers."""
    calm = sub.add_parser("calm", help="CALM: subgoals, labelled transitions, LLM or offline judges and their scores")
    calm_sub = calm.add_subparsers(title="calm commands", metavar="WHAT")

    goals = calm_sub.add_parser("subgoals", help="break a task into subgoals (LLM, cached; or offline rules)")
    goals.add_argument("--task", required=True, help="task id, e.g. MiniHack-KeyRoom-S5-v0")
    _llm_flags(goals)
    goals.add_argument("--cache", help="decomposition cache (default: next to the LLM cache)")
    goals.add_argument("--json", action="store_true", help="print JSON")
    goals.set_defaults(handler=cmd_subgoals)

    data = calm_sub.add_parser("dataset", help="roll out a task and label every step's subgoals from the game state")
    data.add_argument("--task", required=True)
    data.add_argument("--episodes", type=positive, required=True)
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--out", help="JSONL file to write (default runs/calm-dataset-<task>-<time>/dataset.jsonl)")
    data.add_argument("--policy", help="a trained policy.zip (or its folder) to roll out besides the scripted "
                                       "explorer and the random policy")
    data.add_argument("--subgoals", help="';'-separated subgoals (default: the offline decomposition), e.g. "
                                         "'pick up the key;open the door'")
    data.add_argument("--negatives", type=float, default=2.0, help="negatives kept per positive (default 2)")
    data.add_argument("--all", action="store_true", help="keep every step (no balancing)")
    data.add_argument("--epsilon", type=float, default=0.25, help="random-action rate of the explorer (0.25)")
    data.add_argument("--json", action="store_true", help="print a JSON summary")
    data.set_defaults(handler=cmd_dataset)

    ev = calm_sub.add_parser("eval", help="judge a dataset's transitions (LLM or offline) and score the judge")
    ev.add_argument("--dataset", required=True, help="JSONL file written by `calm dataset`")
    _llm_flags(ev)
    ev.add_argument("--out", help="write the report (and every judgement) to this JSON file")
    ev.add_argument("--judgements", help="JSON lines file keeping the LLM's judgements as they come, read back by a "
                                         "rerun, which asks only for the others (default: beside --out, else "
                                         "beside the dataset: NAME.judgements.jsonl)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(handler=cmd_eval)
    calm.set_defaults(handler=lambda args: _usage(calm))


def _llm_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llm", default="offline", help="litellm model (openai/gpt-4o-mini, hosted_vllm/..., ...) "
                                                         "or `offline` for the rules (default)")
    parser.add_argument("--llm-api-base", help="base URL of an OpenAI-compatible server (or AUTOREWARD_LLM_API_BASE)")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _progress(disable: bool = False, to_stderr: bool = False, info: bool = False) -> Progress:
    """A bar with done/total, the task's `info` field (with `info`), time left and time spent; on stderr with
    `to_stderr` (--json keeps stdout for the JSON)."""
    from autoreward.cli import console, err_console

    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}")]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    columns += [TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn()]
    return Progress(*columns, console=err_console if to_stderr else console, disable=disable, transient=True)


def cmd_subgoals(args: argparse.Namespace) -> int:
    from autoreward.calm.subgoals import decompose, default_cache_path
    from autoreward.cli import console
    from autoreward.env.card import card_for
    from autoreward.llm.client import make_llm
    from autoreward.llm.providers import require_credentials

    card = card_for(args.task)
    require_credentials(args.llm, args.llm_api_base)
    llm = make_llm(args.llm, api_base=args.llm_api_base)
    with console.status(f"asking {args.llm} for subgoals...") if llm is not None and not args.json else _null():
        subgoals = decompose(args.task, card, llm, cache_path=args.cache or default_cache_path())
    if args.json:
        print(json.dumps({"task": args.task, "llm": args.llm, "subgoals": [s.to_dict() for s in subgoals]}, indent=2))
        return 0
    console.print(f"[bold]{escape(args.task)}[/bold] subgoals ({escape(args.llm)}):")
    for number, subgoal in enumerate(subgoals, 1):
        console.print(f"  {number}. [cyan]{escape(subgoal.name)}[/cyan]: {escape(subgoal.description)}")
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from autoreward.calm.dataset import Interrupted, collect, positives, write_dataset
    from autoreward.calm.subgoals import decompose, parse_subgoals
    from autoreward.cli import console, err_console
    from autoreward.env.card import card_for
    from autoreward.evaluate import SampledPolicy

    card = card_for(args.task)
    subgoals = parse_subgoals(args.subgoals) if args.subgoals else decompose(args.task, card)
    if args.negatives < 0 or not 0 <= args.epsilon <= 1:
        raise UsageError("--negatives must be >= 0 and --epsilon between 0 and 1")
    if args.out is None:
        from autoreward.paths import default_out

        args.out = str(default_out("calm-dataset", args.task) / "dataset.jsonl")
        (err_console if args.json else console).print(f"no --out given: writing to {escape(args.out)}")
    interrupted: Interrupted | None = None
    with _progress(to_stderr=args.json) as progress:
        bar = progress.add_task(f"rolling out {args.task}", total=args.episodes)
        try:
            trained = SampledPolicy(args.policy, args.seed) if args.policy else None
            records = collect(args.task, args.episodes, args.seed, subgoals, trained=trained,
                              balance=not args.all, negatives_per_positive=args.negatives, epsilon=args.epsilon,
                              progress=lambda done, total: progress.update(bar, completed=done))
        except Interrupted as exc:
            interrupted, records = exc, exc.records
    counts = positives(records)
    if not any(counts.values()):
        if interrupted is not None:
            err_console.print(f"[yellow]interrupted[/yellow] after {interrupted.episodes} of {args.episodes} "
                              "episodes, with no subgoal achieved: nothing written")
            return 130
        err_console.print(f"[red]no step achieved a subgoal in {args.episodes} episodes[/red]; nothing written "
                          "(try more episodes)")
        return 1
    write_dataset(args.out, records)
    summary = {"out": args.out, "records": len(records), "positives": counts,
               "negatives": sum(not any(r["labels"].values()) for r in records),
               "subgoals": [s.to_dict() for s in subgoals]}
    if interrupted is not None:
        summary.update(partial=True, episodes=interrupted.episodes)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        found = ", ".join(f"{escape(n)} {c}" for n, c in counts.items())
        console.print(f"wrote {len(records)} transitions to {escape(args.out)}: positives {found}; negatives "
                      f"{summary['negatives']}")
    if interrupted is not None:
        err_console.print(f"[yellow]interrupted[/yellow] after {interrupted.episodes} of {args.episodes} episodes: "
                          f"the dataset holds those (as `--episodes {interrupted.episodes}` would make it)")
        return 130
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from autoreward.calm.dataset import read_dataset
    from autoreward.calm.evaluate import CallCounter, Evaluation
    from autoreward.calm.judge import judge, offline_judge, prompt_version
    from autoreward.calm.judgements import JudgementStore, default_path
    from autoreward.calm.subgoals import subgoals_from_dicts
    from autoreward.cli import console, err_console
    from autoreward.io import write_json_atomic
    from autoreward.llm.base import LLMError
    from autoreward.llm.client import make_llm
    from autoreward.llm.providers import require_credentials

    require_credentials(args.llm, args.llm_api_base)
    records = read_dataset(args.dataset)
    if not records:
        raise UsageError(f"dataset {args.dataset!r} holds no records")
    llm = make_llm(args.llm, api_base=args.llm_api_base)
    say = err_console if args.json else console
    counter, store, bad = None, None, [0]
    if llm is None:
        def judge_one(record: dict[str, Any]) -> dict[str, bool] | None:
            return offline_judge(record["text"], subgoals_from_dicts(record["subgoals"]))
    else:
        counter = CallCounter(llm)
        store = JudgementStore(args.judgements or default_path(args.dataset, args.out), llm.model, prompt_version())
        try:
            store.path.parent.mkdir(parents=True, exist_ok=True)
            store.path.touch()
        except OSError as exc:
            raise UsageError(f"cannot keep judgements in {str(store.path)!r} ({exc}): give --judgements FILE "
                             "(or --out) somewhere writable") from None

        def judge_one(record: dict[str, Any]) -> dict[str, bool] | None:
            before = counter.calls
            judgement = judge(record["text"], subgoals_from_dicts(record["subgoals"]), counter,
                              task=_goal(record["task"]))
            bad[0] += counter.calls - before - (judgement is not None)  # answers out of schema
            return judgement
    evaluation = Evaluation(records, judge_one, store)
    total = len(records)
    if store is not None and evaluation.resumed:
        say.print(f"resuming: {evaluation.resumed} of {total} transitions already judged by {escape(llm.model)} "
                  f"in {escape(str(store.path))}")

    def info() -> str:
        if counter is None:
            return ""
        missing = sum(j is None for j, done in zip(evaluation.judgements, evaluation.judged, strict=True) if done)
        cached = f" ({counter.cached} cached)" if counter.cached else ""
        return f"calls {counter.calls}{cached}, failed {counter.errors + bad[0]}, no judgement {missing}"

    stopped: BaseException | None = None
    with _progress(False, to_stderr=args.json, info=True) as progress:
        bar = progress.add_task(f"judging ({args.llm})", total=total, completed=evaluation.done, info=info())
        try:
            evaluation.run(on_judged=lambda index, judgement: progress.update(bar, advance=1, info=info()))
        except (KeyboardInterrupt, LLMError) as exc:
            stopped = exc
    report: dict[str, Any] = {"dataset": args.dataset, "judge": args.llm, "prompt_version": prompt_version(),
                              "partial": not evaluation.complete, "dataset_transitions": total,
                              **evaluation.report().to_dict()}
    if store is not None and counter is not None:
        report.update(judgements_file=str(store.path), resumed=evaluation.resumed,
                      llm_calls={"calls": counter.calls, "cached": counter.cached,
                                 "failed": counter.errors + bad[0]})
    if args.out and evaluation.done:
        pending = [i for i, done in enumerate(evaluation.judged) if not done]
        write_json_atomic(args.out, {**report, "judgements": evaluation.judgements,
                                     **({"pending": pending} if pending else {})})
    if args.json:
        print(json.dumps(report, indent=2))
    elif evaluation.done:
        console.print(_table(report))
    if stopped is not None:
        why = "interrupted" if isinstance(stopped, KeyboardInterrupt) else "stopped by an LLM error"
        left = total - evaluation.done
        message = f"[yellow]{why}[/yellow] after judging {evaluation.done} of {total} transitions"
        if evaluation.done:
            message += " (the figures above are over those only" + (f"; partial report: {escape(args.out)}"
                                                                     if args.out else "") + ")"
        if store is not None:
            message += (f". The judgements are kept in {escape(str(store.path))}: run the same command again to "
                        f"judge the other {left} only.")
        err_console.print(message)
        if isinstance(stopped, KeyboardInterrupt):
            return 130
        raise stopped
    if not args.json:
        kept = (f"; judgements: {escape(str(store.path))}" + (f" ({evaluation.resumed} from an earlier run)"
                                                              if evaluation.resumed else "")) if store else ""
        console.print(f"{report['transitions']} transitions, no judgement for {report['no_judgement']} (counted "
                      "as all false)" + (f"; report: {escape(args.out)}" if args.out else "") + kept)
    return 0


@functools.cache
def _goal(task: str) -> str:
    from autoreward.env.card import card_for

    return card_for(task).task(task).goal


def _table(report: dict[str, Any]) -> Table:
    title = f"CALM judge {report['judge']} on {Path(report['dataset']).name}"
    if report.get("partial"):
        title += f" (partial: {report['transitions']} of {report['dataset_transitions']} transitions judged)"
    table = Table(title=escape(title))
    table.add_column("subgoal", no_wrap=True)
    for column in ("pos.", "accuracy", "precision", "recall", "F1", "tp", "fp", "fn", "tn"):
        table.add_column(column, justify="right")
    rows = [*report["subgoals"].items(), ("overall (micro)", report["overall"])]
    for name, m in rows:
        table.add_row(escape(name), str(m["positives"]), *(f"{m[k]:.3f}" for k in ("accuracy", "precision", "recall",
                                                                                    "f1")),
                      *(str(m[k]) for k in ("tp", "fp", "fn", "tn")), end_section=name == rows[-2][0])
    return table


def _null() -> Any:
    from contextlib import nullcontext

    return nullcontext()
