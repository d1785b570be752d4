"""Where the intrinsic reward's labels come from: the `LabelSource` protocol and an in-memory source for tests.

The annotation client (`autoreward.annotate.client.AnnotationClient`) implements `LabelSource` over HTTP; the
intrinsic reward only ever sees this protocol, so it never touches the network and never waits for a label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

ONI_COEF = 0.4  # c_int, ONI's weight of the intrinsic reward
ONI_BETA = 3.0  # the N-th sight of a message in an episode pays 1/N^beta (ONI)

#: One thing to label. helpful: a message; pairs: (message_a, message_b); calm: (key, text, subgoals).
Item = str | tuple[str, ...]

HELPFUL, PAIRS, CALM = "helpful", "pairs", "calm"
TASKS = (HELPFUL, PAIRS, CALM)


@runtime_checkable
class LabelSource(Protocol):
    """Labels for one task. helpful: True/False; pairs: 1 (first shows more progress), 2 (second), 0 (tie);
    calm: {subgoal name: achieved}."""

    task: str

    def submit(self, items: Sequence[Item]) -> None:
        """Ask for labels of `items`; returns at once; repeats are allowed (and ignored by the source)."""
        ...

    def snapshot(self) -> tuple[int, Mapping[Item, Any]]:
        """(version, labels so far); the version grows whenever the labels change."""
        ...


class DictLabelSource:
    """An in-memory `LabelSource`: labels given up front, added later, or made at once by a `labeller`.

    `submitted` records every item asked for, in order, repeats included (what a test checks).
    """

    def __init__(self, task: str, labels: Mapping[Item, Any] | None = None,
                 labeller: Callable[[Item], Any] | None = None) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown labelling task {task!r}: use one of {', '.join(TASKS)}")
        self.task = task
        self.labeller = labeller
        self.submitted: list[Item] = []
        self._labels: dict[Item, Any] = dict(labels or {})
        self._version = 1 if self._labels else 0

    def submit(self, items: Sequence[Item]) -> None:
        """Record the items; with a labeller, label the new ones at once."""
        self.submitted.extend(items)
        if self.labeller is not None:
            fresh = {item: self.labeller(item) for item in items if item not in self._labels}
            if fresh:
                self.add(fresh)

    def add(self, labels: Mapping[Item, Any]) -> None:
        """Add or change labels (as an annotation server's answers arriving)."""
        self._labels.update(labels)
        self._version += 1

    def snapshot(self) -> tuple[int, Mapping[Item, Any]]:
        return self._version, dict(self._labels)


#: Another name for a source whose labels are fixed up front.
StaticLabels = DictLabelSource
