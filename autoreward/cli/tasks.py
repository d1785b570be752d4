"""The task a command works on: a built-in task id, a plugin card (`--card`), or a custom level (`--des-file`).

Every command that takes a task resolves it here first, so that the card is registered in this process
(autoreward.env.registry) and its source is ready for the configs that record it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autoreward.env.custom import check_level, check_level_plays, level_source
from autoreward.env.registry import card_for, card_from_reference, use_card
from autoreward.errors import UsageError


def resolve_task(args: argparse.Namespace, task: str | None = None) -> str:
    """The task id the options name, with its card registered; a UsageError saying what is missing or wrong.

    `task`: the id given (positional or --task), default `args.task`. A custom level is compiled and played once
    here (a broken des file stops the command before anything is trained)."""
    task = task if task is not None else getattr(args, "task", None)
    ref, des = getattr(args, "card", None), getattr(args, "des_file", None)
    if ref and des:
        raise UsageError("--card and --des-file each name a task's card: give one of them")
    if des:
        return _level_task(args, des, task)
    if getattr(args, "max_steps", None) is not None or getattr(args, "actions", None) is not None:
        raise UsageError("--max-steps and --actions belong to a custom level: add --des-file LEVEL.des")
    if ref:
        card = card_from_reference(ref)
        if task:
            card.task(task)  # UsageError when the card has no such task
            return task
        if len(card.tasks) == 1:
            return card.tasks[0].id
        raise UsageError(f"card {ref!r} has {len(card.tasks)} tasks: choose one with --task "
                         f"({', '.join(t.id for t in card.tasks)})")
    if not task:
        raise UsageError("name a task: a task id (`autoreward envs` lists them), --card MODULE:ATTR, or "
                         "--des-file LEVEL.des --description TEXT")
    card_for(task)
    return task


def _level_task(args: argparse.Namespace, des: str, task: str | None) -> str:
    if task:
        raise UsageError("--des-file makes a task of its own: drop the task id")
    path = Path(des)
    if not path.is_file():
        raise UsageError(f"des file {des!r} not found")
    text = path.read_text(encoding="latin-1")
    source = level_source(text, path.name, getattr(args, "description", None) or "",
                          getattr(args, "max_steps", None), getattr(args, "actions", None) or "nav")
    check_level(text, path.name)
    card = use_card(source)
    assert card is not None
    check_level_plays(card, path.name)
    return card.tasks[0].id
