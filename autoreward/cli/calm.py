"""`autoreward calm`: a task's subgoals, a labelled transition dataset, and a judge's scores on it."""

from __future__ import annotations

import argparse
import functools
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from autoreward.calm.dataset import Interrupted, collect, positives, read_dataset, write_dataset
from autoreward.calm.decompose import decompose, default_cache_path
from autoreward.calm.evaluate import CallCounter, Evaluation
from autoreward.calm.judge import judge, offline_judge, prompt_version
from autoreward.calm.judgements import JudgementStore, default_path
from autoreward.calm.subgoals import parse_subgoals, subgoals_from_dicts
from autoreward.cli.common import console, err_console, escape
from autoreward.cli.tasks import resolve_task
from autoreward.env.registry import card_for
from autoreward.errors import UsageError
from autoreward.evaluate import SampledPolicy
from autoreward.io import write_json_atomic
from autoreward.llm.base import LLMError
from autoreward.llm.client import make_llm
from autoreward.llm.providers import require_credentials
from autoreward.paths import default_out
from autoreward.train.policy import require_nethack


def _progress(disable: bool = False, to_stderr: bool = False, info: bool = False) -> Progress:
    """A bar with done/total, the task's `info` field (with `info`), time left and time spent; on stderr with
    `to_stderr` (--json keeps stdout for the JSON)."""

    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}")]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    columns += [TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn()]
    return Progress(*columns, console=err_console if to_stderr else console, disable=disable, transient=True)

def cmd_subgoals(args: argparse.Namespace) -> int:
    args.task = resolve_task(args)
    require_nethack(card_for(args.task), "CALM")
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
    args.task = resolve_task(args)
    require_nethack(card_for(args.task), "CALM")
    card = card_for(args.task)
    subgoals = parse_subgoals(args.subgoals) if args.subgoals else decompose(args.task, card)
    if args.negatives < 0 or not 0 <= args.epsilon <= 1:
        raise UsageError("--negatives must be >= 0 and --epsilon between 0 and 1")
    if args.out is None:
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
    require_credentials(args.llm, args.llm_api_base)
    records = read_dataset(args.dataset)
    if not records:
        raise UsageError(f"dataset {args.dataset!r} holds no records")
    llm = make_llm(args.llm, api_base=args.llm_api_base)
    judging = _Judging(args, llm)
    evaluation = Evaluation(records, judging.judge_one, judging.store)
    total = len(records)
    if judging.store is not None and evaluation.resumed:
        (err_console if args.json else console).print(
            f"resuming: {evaluation.resumed} of {total} transitions already judged by {escape(llm.model)} in "
            f"{escape(str(judging.store.path))}")
    stopped: BaseException | None = None
    with _progress(False, to_stderr=args.json, info=True) as progress:
        bar = progress.add_task(f"judging ({args.llm})", total=total, completed=evaluation.done,
                                info=judging.info(evaluation))
        try:
            evaluation.run(on_judged=lambda index, judgement: progress.update(bar, advance=1,
                                                                              info=judging.info(evaluation)))
        except (KeyboardInterrupt, LLMError) as exc:
            stopped = exc
    report = _eval_report(args, evaluation, judging)
    if args.json:
        print(json.dumps(report, indent=2))
    elif evaluation.done:
        console.print(_table(report))
    if stopped is not None:
        return _stopped(stopped, args, evaluation, judging.store)
    if not args.json:
        store = judging.store
        kept = (f"; judgements: {escape(str(store.path))}" + (f" ({evaluation.resumed} from an earlier run)"
                                                              if evaluation.resumed else "")) if store else ""
        console.print(f"{report['transitions']} transitions, no judgement for {report['no_judgement']} (counted "
                      "as all false)" + (f"; report: {escape(args.out)}" if args.out else "") + kept)
    return 0

class _Judging:
    """How `calm eval` judges one record: the offline rules, or the LLM with its calls counted and its
    judgements kept on disk as they come (so a stopped evaluation resumes)."""

    def __init__(self, args: argparse.Namespace, llm: Any) -> None:
        self.llm, self.counter, self.store, self.bad = llm, None, None, 0
        if llm is None:
            return
        self.counter = CallCounter(llm)
        self.store = JudgementStore(args.judgements or default_path(args.dataset, args.out), llm.model,
                                    prompt_version())
        try:
            self.store.path.parent.mkdir(parents=True, exist_ok=True)
            self.store.path.touch()
        except OSError as exc:
            raise UsageError(f"cannot keep judgements in {str(self.store.path)!r} ({exc}): give --judgements FILE "
                             "(or --out) somewhere writable") from None

    def judge_one(self, record: dict[str, Any]) -> dict[str, bool] | None:
        subgoals = subgoals_from_dicts(record["subgoals"])
        if self.counter is None:
            return offline_judge(record["text"], subgoals)
        before = self.counter.calls
        judgement = judge(record["text"], subgoals, self.counter, task=_goal(record["task"]))
        self.bad += self.counter.calls - before - (judgement is not None)  # answers out of schema
        return judgement

    def info(self, evaluation: Any) -> str:
        """The progress bar's calls / failures / missing judgements (nothing offline)."""
        if self.counter is None:
            return ""
        missing = sum(j is None for j, done in zip(evaluation.judgements, evaluation.judged, strict=True) if done)
        cached = f" ({self.counter.cached} cached)" if self.counter.cached else ""
        return f"calls {self.counter.calls}{cached}, failed {self.counter.errors + self.bad}, no judgement {missing}"

def _eval_report(args: argparse.Namespace, evaluation: Any, judging: _Judging) -> dict[str, Any]:
    """The scores (and, with an LLM, its calls and judgements file); written to --out once anything is judged."""
    report: dict[str, Any] = {"dataset": args.dataset, "judge": args.llm, "prompt_version": prompt_version(),
                              "partial": not evaluation.complete, "dataset_transitions": len(evaluation.judged),
                              **evaluation.report().to_dict()}
    if judging.store is not None and judging.counter is not None:
        counter = judging.counter
        report.update(judgements_file=str(judging.store.path), resumed=evaluation.resumed,
                      llm_calls={"calls": counter.calls, "cached": counter.cached,
                                 "failed": counter.errors + judging.bad})
    if args.out and evaluation.done:
        pending = [i for i, done in enumerate(evaluation.judged) if not done]
        write_json_atomic(args.out, {**report, "judgements": evaluation.judgements,
                                     **({"pending": pending} if pending else {})})
    return report

def _stopped(stopped: BaseException, args: argparse.Namespace, evaluation: Any, store: Any) -> int:
    """Say how far a stopped evaluation got and how to go on; 130 for Ctrl-C, else the LLM error again."""

    total = len(evaluation.judged)
    why = "interrupted" if isinstance(stopped, KeyboardInterrupt) else "stopped by an LLM error"
    message = f"[yellow]{why}[/yellow] after judging {evaluation.done} of {total} transitions"
    if evaluation.done:
        message += " (the figures above are over those only" + (f"; partial report: {escape(args.out)}"
                                                                 if args.out else "") + ")"
    if store is not None:
        message += (f". The judgements are kept in {escape(str(store.path))}: run the same command again to "
                    f"judge the other {total - evaluation.done} only.")
    err_console.print(message)
    if isinstance(stopped, KeyboardInterrupt):
        return 130
    raise stopped

@functools.cache
def _goal(task: str) -> str:
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
    return nullcontext()
