"""`autoreward envs` and `autoreward check`: the supported tasks, and the critic on a reward file."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from typing import Any

from rich.table import Table

from autoreward.cli.common import console, err_console, escape, existing_file
from autoreward.cli.tasks import resolve_task
from autoreward.env.registry import ENTRY_POINT_GROUP, all_cards, entry_point_errors
from autoreward.errors import UsageError
from autoreward.llm.client import make_llm
from autoreward.llm.providers import require_credentials
from autoreward.reward.contract import describe_task
from autoreward.reward.critic import critique
from autoreward.synth.roles import reviewer_for


# ----- envs -------------------------------------------------------------------------------------------
def cmd_envs(args: argparse.Namespace) -> int:
    if args.action == "show":
        if not (args.task or args.card or args.des_file):
            raise UsageError("usage: autoreward envs show TASK (or --card MODULE:ATTR, or --des-file LEVEL.des "
                             "--description TEXT)")
        sys.stdout.write(describe_task(resolve_task(args)))  # verbatim: no wrapping, no markup
        return 0
    if args.card or args.des_file:
        resolve_task(args)  # listed with the others
    table = Table(title="Supported tasks", show_lines=False)
    table.add_column("task", no_wrap=True)  # ids are what people copy: never cut
    for column in ("family", "goal", "card"):
        table.add_column(column)
    for card, where in all_cards():
        for task in card.tasks:
            table.add_row(task.id, card.family, escape(task.goal.replace("\n", " ")), escape(where))
    console.print(table)
    for card, _ in all_cards():  # a card that plays ids it does not list says which
        if getattr(card, "unlisted", None):
            console.print(f"{escape(card.title)} also plays {escape(card.unlisted)}.")
    for name, why in entry_point_errors().items():
        err_console.print(f"[yellow]plugin {escape(name)} ({ENTRY_POINT_GROUP}) failed to load:[/yellow] {escape(why)}")
    return 0

# ----- check ------------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    path = existing_file(args.reward, "reward file")
    args.task = resolve_task(args)
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
        print_verdict(verdict)
    return 0 if verdict.accepted else 1

def print_verdict(verdict: Any) -> None:
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
