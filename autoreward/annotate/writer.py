"""The label store's writer thread: the event loop hands it changes and awaits their commit, never SQLite.

    writer = StoreWriter(store)
    seq = await writer.write(Change(labels={...}))      # resumes once the change is committed
    writer.submit(Change(pending=[...]))                # queued; committed before any later change
    writer.close()

Changes that arrive while a commit runs go into the next transaction together (group commit): under many
clients a burst of requests costs one commit, not one each. A change that fails (a store error) fails only
its own `write`: the group is then applied again one change at a time. A `write` cancelled before its
change is applied (its request went away) is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from autoreward.annotate.store import Change, LabelStore

MAX_GROUP = 256  # changes per transaction at most

_log = logging.getLogger(__name__)


class StoreWriter:
    """Commits `Change`s to a `LabelStore` on a thread of its own, in the order they were written."""

    def __init__(self, store: LabelStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[tuple[Change, Future[int]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="annotate-store-writer", daemon=True)
        self._thread.start()

    def submit(self, change: Change) -> Future[int]:
        """Queue `change` for the next commit; the future gives the store's last seq after it."""
        if not self._thread.is_alive():
            raise RuntimeError("the store writer is closed")
        future: Future[int] = Future()
        self._queue.put((change, future))
        return future

    async def write(self, change: Change) -> int:
        """Commit `change` (with whatever else is waiting) and wait for it; returns the last seq after it."""
        return await asyncio.wrap_future(self.submit(change))

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit what was written so far, then stop the thread (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            group, stop = self._next_group()
            if group:
                self._commit(group)
            if stop:
                self._refuse_rest()
                return

    def _refuse_rest(self) -> None:
        """Fail writes that came after close() (nothing will commit them)."""
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return
            if entry is not None and entry[1].set_running_or_notify_cancel():
                entry[1].set_exception(RuntimeError("the store writer is closed"))

    def _next_group(self) -> tuple[list[tuple[Change, Future[int]]], bool]:
        """The next changes to commit together (waiting for the first), and whether close() was asked."""
        group: list[tuple[Change, Future[int]]] = []
        entry = self._queue.get()
        while entry is not None:
            if entry[1].set_running_or_notify_cancel():  # False: its request was cancelled; skip it
                group.append(entry)
            if len(group) >= MAX_GROUP:
                return group, False
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return group, False
        return group, True

    def _commit(self, group: list[tuple[Change, Future[int]]]) -> None:
        try:
            seq = self.store.apply([change for change, _ in group])
        except Exception:  # noqa: BLE001 - find which change failed: each on its own
            if len(group) > 1:
                _log.warning("a group of %d store writes failed; applying them one by one", len(group))
            for change, future in group:
                try:
                    future.set_result(self.store.apply([change]))
                except Exception as exc:  # noqa: BLE001 - the failure goes to that change's writer
                    future.set_exception(exc)
            return
        for _, future in group:
            future.set_result(seq)
