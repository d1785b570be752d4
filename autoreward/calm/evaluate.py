"""Scores of a judge against ground-truth labels: per subgoal and overall (micro), with confusion counts.

A transition with no judgement (the LLM's answers could not be parsed) counts as predicting false for every
subgoal, and is also counted on its own (`no_judgement`), so a judge cannot look better by not answering.

`Evaluation` runs a judge over a dataset's records in order, keeping each judgement in a `JudgementStore` as
it comes and taking the ones already there: stopped half-way, it scores what is judged so far; run again with
the same store, it judges only the rest. `CallCounter` counts an LLM's calls for the progress display.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from autoreward.calm.judgements import JudgementStore
from autoreward.llm.base import LLM, Completion, Messages

Judgement = dict[str, bool]


@dataclass
class Confusion:
    """Confusion counts of boolean predictions against labels, and the metrics they give."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    def metrics(self) -> dict[str, Any]:
        """accuracy, precision, recall, f1 (0.0 where undefined: no predicted or no actual positives), counts."""
        total = self.tp + self.fp + self.fn + self.tn
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"accuracy": round((self.tp + self.tn) / total, 6) if total else 0.0,
                "precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6),
                "positives": self.tp + self.fn, **asdict(self)}


@dataclass
class Report:
    """A judge's scores on a dataset; `to_dict` is JSON-serialisable."""

    transitions: int
    no_judgement: int
    subgoals: dict[str, dict[str, Any]] = field(default_factory=dict)
    overall: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(records: Sequence[dict[str, Any]], judgements: Sequence[dict[str, bool] | None]) -> Report:
    """Score `judgements` (one per record, None for no judgement) against the records' labels."""
    if len(records) != len(judgements):
        raise ValueError(f"{len(records)} records but {len(judgements)} judgements")
    per: dict[str, Confusion] = {}
    overall = Confusion()
    missing = 0
    for record, judgement in zip(records, judgements, strict=True):
        missing += judgement is None
        for name, actual in record["labels"].items():
            predicted = bool(judgement.get(name, False)) if judgement is not None else False
            per.setdefault(name, Confusion()).add(predicted, bool(actual))
            overall.add(predicted, bool(actual))
    return Report(transitions=len(records), no_judgement=missing,
                  subgoals={name: c.metrics() for name, c in per.items()}, overall=overall.metrics())


class Evaluation:
    """A judge's judgements of `records`, in order; with a `store`, kept there as they come and taken from it."""

    def __init__(self, records: Sequence[dict[str, Any]], judge_one: Callable[[dict[str, Any]], Judgement | None],
                 store: JudgementStore | None = None) -> None:
        self.records, self.judge_one, self.store = list(records), judge_one, store
        self.judgements: list[Judgement | None] = [None] * len(self.records)
        self.judged = [False] * len(self.records)
        self.resumed = 0  # judgements found in the store at the start
        if store is not None:
            for index, record in enumerate(self.records):
                found, judgement = store.get(record)
                if found:
                    self.judgements[index], self.judged[index] = judgement, True
                    self.resumed += 1

    @property
    def done(self) -> int:
        return sum(self.judged)

    @property
    def complete(self) -> bool:
        return all(self.judged)

    def run(self, on_judged: Callable[[int, Judgement | None], None] | None = None) -> None:
        """Judge every record not judged yet (each kept in the store before the next is asked)."""
        for index, record in enumerate(self.records):
            if self.judged[index]:
                continue
            found, judgement = self.store.get(record) if self.store is not None else (False, None)
            if not found:  # (found: an equal transition judged earlier in this run)
                judgement = self.judge_one(record)
                if self.store is not None:
                    self.store.add(record, judgement)
            self.judgements[index], self.judged[index] = judgement, True
            if on_judged is not None:
                on_judged(index, judgement)

    def report(self) -> Report:
        """The scores over the records judged so far (all of them once `complete`)."""
        indices = [i for i, judged in enumerate(self.judged) if judged]
        return score([self.records[i] for i in indices], [self.judgements[i] for i in indices])


class CallCounter:
    """An `LLM` passing calls on to another and counting them: answered (`cached` of them from the cache), failed."""

    def __init__(self, llm: LLM) -> None:
        self.llm, self.model = llm, llm.model
        self.calls = self.cached = self.errors = 0

    def complete(self, messages: Messages, role: str, **params: Any) -> Completion:
        try:
            completion = self.llm.complete(messages, role=role, **params)
        except Exception:
            self.errors += 1
            raise
        self.calls += 1
        self.cached += bool(completion.cached)
        return completion
