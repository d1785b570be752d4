"""Labelling tasks: what an item is, how a batch of items is asked, and how the answer is parsed, strictly.

A task is a prompt template (`prompts/annotate_<task>.txt`, fields `count` and `items`) plus per-task functions:
`check_item` (validate one item of a request), `format_item` (its line in the prompt's numbered list),
`parse_label` (one value of the answer, or ValueError) and `offline` (the lexicon's label). Its prompt version
is a short hash of the template, part of every label's key. A batch is asked in one call; the answer must hold a
JSON object `{"1": <label>, "2": <label>, ...}`; anything missing or out of schema leaves that item unparsed.

A task may carry context in its items (e.g. CALM's list of subgoals, `annotate.calm_task`) and format it in
`format_item`, or subclass `Task` to render the prompt differently; `annotate.registry` holds the served ones.
Hooks a subclass may override: `identity` (what of an item a label's key and de-duplication use; default the
item), `batch_group` (items of one labeller call share it; default one group), `check_label` (the parser, given
the item). `annotate.calm_task.CalmTask` ("calm") uses all of them: its items are
`[transition key, rendered text, subgoals]`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from autoreward.annotate import lexicon
from autoreward.llm.answers import json_object
from autoreward.llm.prompts import load_template, render

Item = Any  # a JSON value: helpful -> str, pairs -> [str, str], calm -> [key, text, subgoals]
Label = Any  # a JSON value: helpful -> bool, pairs -> 0 | 1 | 2, calm -> {subgoal name: bool}


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


# ----- the built-in tasks -------------------------------------------------------------------------------
def check_text(value: Any, max_text: int) -> str:
    """`value` if it is a text of at most `max_text` characters that UTF-8 can encode (JSON's `\\ud800` is a
    lone surrogate: no key, store or answer could take it)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a text, got {type(value).__name__}")
    if len(value) > max_text:
        raise ValueError(f"text of {len(value)} characters, at most {max_text} allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"a lone surrogate (\\u{ord(value[exc.start]):04x}) at character {exc.start}: not a "
                         "Unicode text") from None
    return value


def _check_pair(value: Any, max_text: int) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError("expected a pair of texts [a, b]")
    return [check_text(text, max_text) for text in value]


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
    check_item=check_text,
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
