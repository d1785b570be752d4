"""The run's LLM budget: real calls and their cost, counted from the run's `calls.jsonl` (shared by processes)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from autoreward.llm.base import LLMBudgetExceeded


def _is_billed(record: dict[str, Any]) -> bool:
    """A logged attempt that counts against the budget: a real call that succeeded, or failed but was billed."""
    if record.get("cached"):
        return False
    return record.get("error") is None or float(record.get("cost") or 0.0) > 0.0


class Budget:
    """Limits on a run's real LLM calls and their cost, counted from the run's `calls.jsonl`.

    The file is read at construction and then tailed, so a resumed run and concurrent processes of one run see the
    same totals (processes racing at the limit may overshoot it by one call each). Calls logged elsewhere, or with
    no file at all, are counted through `record`.
    """

    def __init__(
        self, max_calls: int | None = None, max_cost: float | None = None, calls_path: str | Path | None = None
    ) -> None:
        self.max_calls = max_calls
        self.max_cost = max_cost
        self.calls_path = Path(calls_path) if calls_path is not None else None
        self._lock = threading.Lock()
        self._offset = 0  # bytes of calls_path already counted
        self._file_calls, self._file_cost = 0, 0.0
        self._own_calls, self._own_cost = 0, 0.0
        self._refresh()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        """Count the complete lines appended to calls_path since the last look (by any process)."""
        if self.calls_path is None:
            return
        with self._lock:
            try:
                with open(self.calls_path, "rb") as handle:
                    size = handle.seek(0, os.SEEK_END)
                    if size < self._offset:  # the file was replaced or truncated: count it again
                        self._offset, self._file_calls, self._file_cost = 0, 0, 0.0
                    handle.seek(self._offset)
                    data = handle.read()
            except FileNotFoundError:
                return
            end = data.rfind(b"\n") + 1  # a line still being written is counted next time
            for line in data[:end].splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and _is_billed(record):
                    self._file_calls += 1
                    self._file_cost += float(record.get("cost") or 0.0)
            self._offset += end

    def record(self, cost: float) -> None:
        """Count one real call that is not logged to `calls_path` (no file, or another one)."""
        with self._lock:
            self._own_calls += 1
            self._own_cost += float(cost)

    def spent(self) -> dict[str, Any]:
        """What the run has spent so far and its limits: {calls, cost, max_calls, max_cost}."""
        self._refresh()
        with self._lock:
            calls, cost = self._file_calls + self._own_calls, self._file_cost + self._own_cost
        return {"calls": calls, "cost": cost, "max_calls": self.max_calls, "max_cost": self.max_cost}

    def check(self) -> None:
        """Raise `LLMBudgetExceeded` if another real call would go past a limit."""
        spent = self.spent()
        where = f" (logged in {self.calls_path})" if self.calls_path is not None else ""
        if self.max_calls is not None and spent["calls"] >= self.max_calls:
            raise LLMBudgetExceeded(
                f"LLM budget spent: {spent['calls']} real calls made, the limit is max_calls={self.max_calls}"
                f"{where}. The run stops here; resume it with a larger call limit to go on (cached answers are free)."
            )
        if self.max_cost is not None and spent["cost"] >= self.max_cost:
            raise LLMBudgetExceeded(
                f"LLM budget spent: ${spent['cost']:.4f} used, the limit is max_cost=${self.max_cost:.4f}{where}. "
                "The run stops here; resume it with a larger cost limit to go on (cached answers are free)."
            )
