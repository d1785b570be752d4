"""CALM's labelling task on the annotation server: which of a list of subgoals one transition achieved.

Items are `[transition key, rendered transition, subgoals joined by ';']`; labels `{subgoal name: achieved}`.
The judge's prompt, answer check and offline rules are CALM's own (autoreward.calm).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from autoreward.annotate.tasks import Item, Label, Task, check_text
from autoreward.calm.judge import batch_prompt, check_judgement
from autoreward.calm.offline import offline_judge
from autoreward.calm.subgoals import Subgoal

CALM_MAX_TRANSITION = 8192  # characters of a rendered transition (max_text applies to the key and the subgoals)


def parse_subgoal_field(field: str) -> list[Subgoal]:
    """'a;b: what b means' -> [Subgoal('a', 'a'), Subgoal('b', 'what b means')] (a name alone describes itself)."""
    subgoals = []
    for part in field.split(";"):
        name, _, description = part.partition(":")
        name = name.strip()
        subgoals.append(Subgoal(name, description.strip() or name.replace("_", " ")))
    return subgoals


def _check_calm(value: Any, max_text: int) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError("expected [transition key, transition text, subgoals joined by ';']")
    key, text, field = value
    check_text(key, max_text)
    check_text(text, CALM_MAX_TRANSITION)
    check_text(field, max_text)
    names = [s.name for s in parse_subgoal_field(field)]
    if not all(re.fullmatch(r"[a-z][a-z0-9_]{0,47}", name) for name in names) or len(set(names)) != len(names):
        raise ValueError(f"subgoals must be distinct snake_case names joined by ';', got {field[:80]!r}")
    return [key, text, field]


def _calm_offline(item: Sequence[str]) -> dict[str, bool]:
    return offline_judge(item[1], parse_subgoal_field(item[2]))


class CalmTask(Task):
    """CALM's judge on the server: item [key, text, subgoals], label {subgoal name: achieved}.

    Labels are keyed by (transition key, subgoals), never by the text (it differs in every episode); a batch
    holds items of one subgoal list and is asked with `calm.judge.batch_prompt`; answers are checked with
    `calm.judge.check_judgement` (exactly the item's subgoal names, each a real boolean).
    """

    def identity(self, item: Item) -> Any:
        return [item[0], item[2]]

    def batch_group(self, item: Item) -> Any:
        return item[2]

    def check_label(self, value: Any, item: Item) -> Label:
        if item is None:
            raise ValueError("a calm judgement needs its item")
        return check_judgement(value, [s.name for s in parse_subgoal_field(item[2])])

    def prompt(self, items: Sequence[Item]) -> str:
        return batch_prompt([item[1] for item in items], parse_subgoal_field(items[0][2]),
                            task="(stated by the subgoals below)")


def _no_bare_label(value: Any) -> Label:
    raise ValueError("a calm judgement is checked against its item's subgoals")


CALM = CalmTask(
    name="calm",
    template="calm_judge_batch",  # calm.judge.BATCH_TEMPLATE: the prompt version is its hash
    check_item=_check_calm,
    format_item=lambda item: item[1],
    parse_label=_no_bare_label,
    offline=_calm_offline,
)
