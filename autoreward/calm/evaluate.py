"""Scores of a judge against ground-truth labels: per subgoal and overall (micro), with confusion counts.

A transition with no judgement (the LLM's answers could not be parsed) counts as predicting false for every
subgoal, and is also counted on its own (`no_judgement`), so a judge cannot look better by not answering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


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
