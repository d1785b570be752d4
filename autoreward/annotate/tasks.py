"""Labelling tasks: what an item is, how a batch of items is asked, and how the answer is parsed, strictly.

A task is a prompt template (`prompts/annotate_<task>.txt`, fields `count` and `items`) plus per-task functions:
`check_item` (validate one item of a request), `format_item` (its line in the prompt's numbered list),
`parse_label` (one value of the answer, or ValueError) and `offline` (the lexicon's label). Its prompt version
is a short hash of the template, part of every label's key. A batch is asked in one call; the answer must hold a
JSON object `{"1": <label>, "2": <label>, ...}`; anything missing or out of schema leaves that item unparsed.

The registry is open: `register(Task(...))` adds a task (a later one may carry context in its items, e.g. CALM's
list of subgoals, and format it in `format_item`, or subclass `Task` to render the prompt differently).
Hooks a subclass may override: `identity` (what of an item a label's key and de-duplication use; default the
item), `batch_group` (items of one labeller call share it; default one group), `check_label` (the parser, given
the item). `CalmTask` ("calm") uses all of them: its items are `[transition key, rendered text, subgoals]`.
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

Item = Any  # a JSON value: helpful -> str, pairs -> [str, str], calm -> [key, text, subgoals]
Label = Any  # a JSON value: helpful -> bool, pairs -> 0 | 1 | 2, calm -> {subgoal name: bool}
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

    def identity(self, item: Item) -> Any:
        """What of an item identifies its label (the store key, de-duplication): by default the item itself."""
        return item

    def batch_group(self, item: Item) -> Any:
        """Items asked in one labeller call share this value (by default all items of the task do)."""
        return None

    def check_label(self, value: Any, item: Item) -> Label:
        """One value of the answer about `item` -> its label; ValueError if out of schema."""
        return self.parse_label(value)

    def prompt(self, items: Sequence[Item]) -> str:
        """The prompt that asks for the labels of `items` (a numbered list, from 1)."""
        lines = "\n".join(f"{number}. {self.format_item(item)}" for number, item in enumerate(items, 1))
        return render(self.template, count=str(len(items)), items=lines)

    def parse(self, answer: str, count: int, items: Sequence[Item] | None = None) -> ParsedAnswer:
        """Labels of a batch of `count` items (`items` when the parser needs them) from an answer, with json only;
        never a guess for a bad value."""
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
                labels[index] = self.check_label(data[number], items[index] if items is not None else None)
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


# ----- calm: which subgoals one transition achieved (autoreward.calm) ---------------------------------------
CALM_MAX_TRANSITION = 8192  # characters of a rendered transition (max_text applies to the key and the subgoals)


def parse_subgoal_field(field: str) -> list[Any]:
    """'a;b: what b means' -> [Subgoal('a', 'a'), Subgoal('b', 'what b means')] (a name alone describes itself)."""
    from autoreward.calm.subgoals import Subgoal

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
    _check_text(key, max_text)
    _check_text(text, CALM_MAX_TRANSITION)
    _check_text(field, max_text)
    names = [s.name for s in parse_subgoal_field(field)]
    if not all(re.fullmatch(r"[a-z][a-z0-9_]{0,47}", name) for name in names) or len(set(names)) != len(names):
        raise ValueError(f"subgoals must be distinct snake_case names joined by ';', got {field[:80]!r}")
    return [key, text, field]


def _calm_offline(item: Sequence[str]) -> dict[str, bool]:
    from autoreward.calm.offline import offline_judge

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
        from autoreward.calm.judge import check_judgement

        if item is None:
            raise ValueError("a calm judgement needs its item")
        return check_judgement(value, [s.name for s in parse_subgoal_field(item[2])])

    def prompt(self, items: Sequence[Item]) -> str:
        from autoreward.calm.judge import batch_prompt

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
register(CALM)
