"""The labelling tasks the annotation server serves by name: the built-in ones, and any a caller registers."""

from __future__ import annotations

from collections.abc import Iterable

from autoreward.annotate.calm_task import CALM
from autoreward.annotate.tasks import HELPFUL, PAIRS, Task
from autoreward.errors import UsageError


class UnknownTask(UsageError):
    """A task name that is not registered; the message lists the known ones."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        shown = repr(name[:60]) + ("..." if len(name) > 60 else "")  # whatever a client sent: cut, quoted
        super().__init__(f"unknown task {shown}; known tasks: {', '.join(sorted(known))}")


TASKS: dict[str, Task] = {task.name: task for task in (HELPFUL, PAIRS, CALM)}


def register(task: Task) -> Task:
    """Add (or replace) a task in the registry; returns it."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task `name`, or UnknownTask naming the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(name, TASKS) from None

