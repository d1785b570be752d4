"""`autoreward iterate` and `autoreward inspect`: the synthesis loop with its progress, and a run's records."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table

from autoreward.cli.common import console, err_console, escape, recent_success
from autoreward.cli.tasks import resolve_task
from autoreward.env.registry import source_of
from autoreward.errors import UsageError
from autoreward.io import printable
from autoreward.llm.providers import require_credentials
from autoreward.paths import latest_run
from autoreward.synth.inspect import candidate_detail, diff_candidates, is_training_dir, run_overview, training_detail
from autoreward.synth.records import (
    BaselineEvent,
    CandidateEvent,
    ConfirmedEvent,
    ConfirmEvent,
    RoundDoneEvent,
    RoundEvent,
    RunEvent,
    RunSummary,
    TrainingEvent,
)
from autoreward.synth.store import IterateConfig, RunStore
from autoreward.synth.structure import describe_changes


def cmd_iterate(args: argparse.Namespace) -> int:

    own = args.card or args.des_file
    if args.resume and (args.task or own):
        raise UsageError("give a TASK (or --card / --des-file) for a new run or --resume RUN_DIR, not both: a run "
                         "keeps its task's card")
    if not args.resume and not (args.task or own):
        raise UsageError("usage: autoreward iterate TASK [options] (or --card MODULE:ATTR, --des-file LEVEL.des "
                         "--description TEXT, or --resume RUN_DIR)")
    _require_credentials(args)  # first: told at once, before the task's libraries or torch are imported
    task = None if args.resume else resolve_task(args)
    config = None if args.resume else IterateConfig(
        task=task, card=source_of(task), description=args.description, llm=args.llm, rounds=args.rounds,
        candidates=args.candidates,
        steps=args.steps, train_envs=args.train_envs, eval_episodes=args.eval_episodes, repairs=args.repairs,
        seed=args.seed, device=args.device, out=args.out, workers=args.workers, max_llm_calls=args.max_llm_calls,
        max_llm_cost=args.max_llm_cost, llm_api_base=args.llm_api_base, llm_timeout_s=args.llm_timeout,
        confirm_seeds=args.confirm_seeds, confirm_top=args.confirm_top, significance=args.significance,
        baselines=args.baselines,
        executor=args.executor, ray_address=args.ray_address, gpus_per_candidate=args.gpus_per_candidate)
    if args.confirm_seeds < 0:
        raise UsageError("--confirm-seeds must be 0 or more")
    from autoreward.synth.loop import RunStopped, iterate  # torch, SB3 and the envs: only once the run can start

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console) as progress:
        shown = _RunProgress(progress)
        try:
            store = iterate(config, resume=args.resume, on_event=shown.on_event,
                            budget={"max_llm_calls": args.max_llm_calls, "max_llm_cost": args.max_llm_cost})
        except RunStopped as exc:
            err_console.print(f"[yellow]run stopped:[/yellow] {escape(str(exc))}")
            return 1
    console.print(f"run: {store.root}")
    if shown.best is None:
        console.print("[red]no candidate was trained and evaluated[/red]; see `autoreward inspect` for reasons")
    if shown.answer is None:
        return 1
    print_answer(shown.answer)
    return 0 if shown.best is not None else 1  # the baseline alone is an answer, but the loop found nothing

class _RunProgress:
    """The loop's events (`synth.records`) as progress bars and lines; keeps the best so far and the answer."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[Any, Any] = {}
        self.best: dict[str, Any] | None = None
        self.answer: RunSummary | None = None

    def on_event(self, event: str, data: Mapping[str, Any]) -> None:
        handler = getattr(self, f"_{event}", None)
        if handler is not None:
            handler(data)

    def _run(self, data: RunEvent) -> None:
        cfg = data["config"]
        self.progress.console.print(
            f"{'resuming' if data['resumed'] else 'run'} [bold]{escape(data['dir'])}[/bold]: {cfg['task']}, designer "
            f"{cfg['llm']}, {cfg['rounds']} rounds x {cfg['candidates']} candidates x {cfg['steps']:,} steps")

    def _round(self, data: RoundEvent) -> None:
        self.progress.console.print(f"[bold]round {data['round'] + 1}/{data['rounds']}[/bold]")

    def _candidate(self, data: CandidateEvent) -> None:
        key = (data["round"], data["candidate"])
        if key not in self.bars:
            self.bars[key] = self.progress.add_task(f"  candidate {key[0]}/{key[1]}", total=None, info="")
        info = data["stage"]
        record = data.get("record")
        if record and record.get("status") == "evaluated":
            info = f"success {record['success_rate']:.0%}, return {record['mean_return']:.2f}"
            if record.get("duplicate_of"):
                info += f" (same code as {record['duplicate_of']}: results reused)"
            self.progress.update(self.bars[key], total=1, completed=1)
        elif record and record.get("reason"):
            info = f"{record['status']}: {record['reason'][:90]}"
            self.progress.update(self.bars[key], total=1, completed=1)
        elif data["stage"] == "training":
            self.progress.update(self.bars[key], total=data["steps"], completed=0)
        self.progress.update(self.bars[key], info=escape(info))

    def _training(self, data: TrainingEvent) -> None:
        info = f"training {data['done']:,}/{data['steps']:,}" + (
            f", {data['sps']:.0f} steps/s" if data.get("sps") else "") + recent_success(data.get("success_rate"),
                                                                                       data.get("episodes"))
        self.progress.update(self.bars[(data["round"], data["candidate"])], total=data["steps"], completed=data["done"],
                             info=info)

    def _baseline(self, data: BaselineEvent) -> None:
        if "baseline" not in self.bars:
            self.bars["baseline"] = self.progress.add_task("  task reward alone", total=None, info="training")
        if data.get("success_rate") is not None:
            reused = " (reused)" if data.get("cached") else ""
            self.progress.update(self.bars["baseline"], total=1, completed=1,
                                 info=f"success {data['success_rate']:.0%}, return {data['mean_return']:.2f}{reused}")

    def _round_done(self, data: RoundDoneEvent) -> None:
        best = data["best"]
        if not best:
            return
        self.best = best
        gain = "" if best.get("gain") is None else f" ({100 * best['gain']:+.0f} points over the task reward alone)"
        self.progress.console.print(f"  best so far: candidate {best['round']}/{best['candidate']}, evaluated "
                                    f"success {best['success_rate']:.0%}{gain}")

    def _confirm(self, data: ConfirmEvent) -> None:
        self.progress.console.print(f"[bold]confirming[/bold] {', '.join(data['entries'])} on seeds "
                                    f"{', '.join(map(str, data['seeds']))}")
        self.bars["confirm"] = self.progress.add_task("  confirmation", total=data["total"], completed=data["done"],
                                                      info="")

    def _confirmed(self, data: ConfirmedEvent) -> None:
        info = f"{data['name']} seed {data['seed']}: success {data['success_rate']:.0%}" + (
            f" ({escape(data['error'][:60])})" if data.get("error") else "")
        self.progress.update(self.bars["confirm"], completed=data["done"], info=info)

    def _answer(self, data: RunSummary) -> None:
        self.answer = data

def _require_credentials(args: argparse.Namespace) -> None:
    """Exit 2 naming the variable to set when the run's LLM cannot be called: before the run folder exists."""
    if args.resume:
        config = RunStore.open(args.resume).read_run().get("config") or {}
        require_credentials(config.get("llm"), config.get("llm_api_base"))
    else:
        require_credentials(args.llm, args.llm_api_base)

def print_answer(answer: dict[str, Any]) -> None:
    """The run's answer against the task reward alone, with the per-seed figures of the confirmation."""

    confirmation = answer.get("confirmation")
    if confirmation:
        table = Table("reward", *[f"seed {s}" for s in confirmation["seeds"]], "mean success", "mean return",
                      title=f"confirmation: {confirmation['steps']:,} steps, {confirmation['eval_episodes']} episodes")
        for entry in confirmation["entries"]:
            name = "task reward alone" if entry["name"] == "baseline" else entry["name"]
            table.add_row(name, *[f"{p['success_rate']:.0%}" + (" (failed)" if p.get("error") else "")
                                  for p in entry["per_seed"]],
                          f"{entry['mean_success']:.1%}", f"{entry['mean_return']:.3f}")
        console.print(table)
    if answer["answer"] == "candidate":
        console.print(f"[bold green]{escape(answer['message'])}[/bold green]\n[bold]best reward: {answer['reward']}"
                      "[/bold]")
    else:
        console.print(f"[bold yellow]{escape(answer['message'])}[/bold yellow]: no reward file is handed back; "
                      "train on the task reward alone (`autoreward train --reward none`)")

def cmd_inspect(args: argparse.Namespace) -> int:

    if args.run is None:
        args.run = str(latest_run(args.runs))
        if not args.json:
            console.print(f"latest run under {escape(args.runs)}: {escape(args.run)}")
    if is_training_dir(args.run):  # an `autoreward train` folder: its records, as the report reads them
        detail = training_detail(args.run)
        result = detail["result"] or {}
        print(json.dumps(detail, indent=2) if args.json else
              f"{detail['dir']}: {len(detail['metrics'])} rollouts, {result.get('steps', 'running')} steps, "
              f"stopped: {result.get('stopped_reason')}")
    elif args.diff:
        text = diff_candidates(args.run, *args.diff)
        print(json.dumps({"diff": text}) if args.json else (printable(text) or "(identical)"))
    elif args.candidate:
        detail = candidate_detail(args.run, args.candidate)
        if args.json:
            print(json.dumps(detail, indent=2))
        else:
            _print_candidate(args.candidate, detail)
    else:
        overview = run_overview(args.run)
        if args.json:
            print(json.dumps(overview, indent=2))
        else:
            _print_overview(overview)
    return 0

def _print_candidate(which: str, detail: dict[str, Any]) -> None:
    """One candidate: its status, code, verdict, evaluation and its round's analysis."""

    record = detail["record"]
    console.print(f"[bold]candidate {which}[/bold]: {record['status']}"
                  + (f" ({escape(record['reason'])})" if record.get("reason") else ""))
    if detail["code"]:
        console.print(Syntax(printable(detail["code"]), "python", line_numbers=True))
    verdict = detail["verdict"]
    if verdict:
        console.print(f"verdict: {'accepted' if verdict.get('accepted') else 'rejected'} at stage "
                      f"{escape(str(verdict.get('stage')))}")
        for line in verdict.get("errors", []):
            console.print(f"  [red]error[/red] {escape(line)}")
        for line in verdict.get("warnings", []):
            console.print(f"  [yellow]warning[/yellow] {escape(line)}")
        for line in verdict.get("info", []):
            console.print(f"  [cyan]info[/cyan] {escape(line)}")
    if detail["eval"]:
        e = detail["eval"]
        console.print(f"evaluation: success {e['success_rate']:.1%} over {e['episodes']} episodes, mean return "
                      f"{e['mean_return']:.3f}, failures {e['failure_causes'] or 'none'}")
    if detail["analysis"]:
        console.print(escape(detail["analysis"]))

def _print_overview(overview: dict[str, Any]) -> None:
    """The run: config, LLM cost, one row per candidate (the baseline first), and the answer."""

    cfg = overview["config"] or {}
    console.print(f"[bold]{escape(overview['dir'])}[/bold]: {cfg.get('task')} with designer {cfg.get('llm')}, "
                  f"status {overview['status']}; LLM calls {overview['llm']['calls']} "
                  f"(+{overview['llm']['cached']} cached), cost ${overview['llm']['cost']:.4f}")
    table = Table("cand", "status", "tries", "success", "vs base", "return", "steps", "cost", "changes / reason")
    base = overview.get("baseline")
    if base and base.get("success_rate") is not None:
        table.add_row("base", "evaluated", "", f"{base['success_rate']:.1%}", "", f"{base['mean_return']:.3f}",
                      "" if base.get("steps") is None else f"{base['steps']:,}", "", "the task reward alone")
    for c in overview["candidates"]:
        reason = c["reason"] or (f"same code as {c['duplicate_of']}" if c.get("duplicate_of") else "")
        if not reason and c.get("parent"):
            reason = f"from {c['parent']}: {describe_changes(c.get('changes') or [])}"
        table.add_row(f"{c['round']}/{c['candidate']}", c["status"], str(c["attempts"]),
                      "" if c["success_rate"] is None else f"{c['success_rate']:.1%}",
                      "" if c.get("gain") is None else f"{100 * c['gain']:+.0f} pts",
                      "" if c["mean_return"] is None else f"{c['mean_return']:.3f}",
                      "" if c["steps"] is None else f"{c['steps']:,}", f"${c['llm_cost']:.4f}",
                      escape(reason[:60]))
    console.print(table)
    best = overview["best"]
    if best and best.get("message"):
        if overview.get("confirmation"):
            print_answer({**best, "confirmation": overview["confirmation"],
                          "reward": str(Path(overview["dir"]) / "best" / "reward.py")})
        else:
            console.print(escape(best["message"]))
    elif best:
        console.print(f"best so far: {best['round']}/{best['candidate']}, success {best['success_rate']:.1%}")
