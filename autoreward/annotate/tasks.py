"""Labelling tasks: what an item is, how a batch of items is asked, and how the answer is parsed, strictly.

A task is a prompt template (`prompts/annotate_<task>.txt`, fields `count` and `items`) plus per-task functions:
`check_item` (validate one item of a request), `format_item` (its line in the prompt's numbered list),
`parse_label` (one value of the answer, or ValueError) and `offline` (the lexicon's label). Its prompt version
is a short hash of the template, part of every label's key. A batch is asked in one call; the answer must hold a
JSON object `{"1": <label>, "2": <label>, ...}`; anything missing or out of schema leaves that item unparsed.

The registry is open: `register(Task(...))` adds a task (a later one may carry context in its items, e.g. CALM's
list of subgoals, and format it in `format_item`, or subclass `Task` to render the prompt differently).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autoreward.annotate import lexicon
from autoreward.errors import UsageError
from autoreward.synth.prompts import load_template, render

Item = Any  # a JSON value: helpful -> str, pairs -> [str, str]
Label = Any  # a JSON value: helpful -> bool, pairs -> 0 | 1 | 2
_FENCED = re.compile(r"```[\w+-]*\s*\n?(.*?)```", re.DOTALL)


class UnknownTask(UsageError):
    """A task name that is not registered; the message lists the known ones."""


@dataclass(frozen=True)
class ParsedAnswer:
    """What one answer said about a batch: labels by item index (0-based), and why the others are missing."""

    labels: dict[int, Label] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One labelling task; see the module docstring."""

    name: str
    template: str  # prompt template name (prompts/<template>.txt)
    check_item: Callable[[Any, int], Item]  # (raw item, max text length) -> canonical item; ValueError if bad
    format_item: Callable[[Item], str]
    parse_label: Callable[[Any], Label]  # one value of the answer -> label; ValueError if out of schema
    offline: Callable[[Item], Label]

    @functools.cached_property
    def prompt_version(self) -> str:
        """Short sha256 of the template text: a changed prompt never mixes its labels with the old ones."""
        return hashlib.sha256(load_template(self.template).encode("utf-8")).hexdigest()[:12]

    def prompt(self, items: Sequence[Item]) -> str:
        """The prompt that asks for the labels of `items` (a numbered list, from 1)."""
        lines = "\n".join(f"{number}. {self.format_item(item)}" for number, item in enumerate(items, 1))
        return render(self.template, count=str(len(items)), items=lines)

    def parse(self, answer: str, count: int) -> ParsedAnswer:
        """Labels of a batch of `count` items from an answer, with json only; never a guess for a bad value."""
        data = json_object(answer)
        if data is None:
            reason = f"no JSON object in the answer: {answer.strip()[:200]!r}"
            return ParsedAnswer(reasons=dict.fromkeys(range(count), reason))
        labels, reasons = {}, {}
        for index in range(count):
            number = str(index + 1)
            if number not in data:
                reasons[index] = f"the answer has no value for item {number}"
                continue
            try:
                labels[index] = self.parse_label(data[number])
            except ValueError as exc:
                reasons[index] = f"item {number}: {exc}"
        return ParsedAnswer(labels, reasons)

    def offline_answer(self, items: Sequence[Item]) -> str:
        """The answer the offline lexicon gives, in the same JSON shape an LLM must use."""
        return json.dumps({str(number): self.offline(item) for number, item in enumerate(items, 1)})


def json_object(answer: str) -> dict[str, Any] | None:
    """The first JSON object in an answer: the whole text, a ```json fence, or embedded in prose (json only)."""
    decoder = json.JSONDecoder()
    for text in [answer, *_FENCED.findall(answer)]:
        start = text.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                return value
            start = text.find("{", start + 1)
    return None


# ----- the built-in tasks -------------------------------------------------------------------------------
def _check_text(value: Any, max_text: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a text, got {type(value).__name__}")
    if len(value) > max_text:
        raise ValueError(f"text of {len(value)} characters, at most {max_text} allowed")
    return value


def _check_pair(value: Any, max_text: int) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError("expected a pair of texts [a, b]")
    return [_check_text(text, max_text) for text in value]


def _parse_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {json.dumps(value)[:50]}")
    return value


def _parse_choice(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1, 2):
        raise ValueError(f"expected 1, 2 or 0, got {json.dumps(value)[:50]}")
    return value


def _format_pair(pair: Sequence[str]) -> str:
    return f"A: {json.dumps(pair[0], ensure_ascii=False)}\n   B: {json.dumps(pair[1], ensure_ascii=False)}"


HELPFUL = Task(
    name="helpful",
    template="annotate_helpful",
    check_item=_check_text,
    format_item=lambda text: json.dumps(text, ensure_ascii=False),
    parse_label=_parse_bool,
    offline=lexicon.helpful,
)
PAIRS = Task(
    name="pairs",
    template="annotate_pairs",
    check_item=_check_pair,
    format_item=_format_pair,
    parse_label=_parse_choice,
    offline=lambda pair: lexicon.prefer(pair[0], pair[1]),
)

TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add (or replace) a task in the registry; returns it."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task `name`, or UnknownTask naming the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None


def task_names() -> list[str]:
    return sorted(TASKS)


register(HELPFUL)
register(PAIRS)
