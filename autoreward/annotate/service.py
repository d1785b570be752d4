"""The asynchronous annotator: answers from the store at once, labels the rest in batches in the background.

    annotator = Annotator(LabelStore("labels.sqlite"), OfflineLabeller())
    await annotator.start()                     # queues again what the store still has pending
    results = await annotator.annotate("helpful", ["You kill the newt!"])   # [Result(id, "pending", None)]
    ... await annotator.labels_since("helpful", cursor=0) ...             # the label, once it is committed
    await annotator.close()                     # stops the workers, closes the store

`annotate` never waits for the labeller: known items are answered from memory or the store (cache hits), new
ones are stored as pending and queued, and items already queued or in flight are not queued twice. The event
loop does no blocking work: writes go to the store's writer thread (`annotate.writer`, one transaction for all
the writes waiting), labelling and parsing run on threads, `/v1/labels` reads on a small thread pool, and
settled labels are kept in a bounded in-memory table (`cache_size`), so a repeated item costs a dict lookup;
only items in neither that table nor the queue are read from the store, by primary key. A dispatcher forms
batches of up to `batch_size` items of one task (waiting at most `batch_wait_s` to fill one) and runs at most
`max_concurrency` labeller calls at once. Answers are parsed strictly: an item the answer does not label goes
back to the queue once, then is recorded `unlabeled` with the reason. A call that fails (after the LLM
client's own retries) labels nothing: its items stay pending in the store, and are queued again when a client
asks for them or when the server restarts. A failure never becomes a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from autoreward.annotate.labellers import Labeller
from autoreward.annotate.metrics import Metrics
from autoreward.annotate.registry import TASKS, UnknownTask
from autoreward.annotate.store import (
    LABELED,
    PENDING,
    UNLABELED,
    Change,
    KeyScope,
    LabelRow,
    LabelStore,
    PendingItem,
    canonical_json,
)
from autoreward.annotate.tasks import Item, ParsedAnswer, Task
from autoreward.annotate.writer import StoreWriter

PARSE_ATTEMPTS = 2  # answers an item may fail to be parsed from: the first one and one retry
CACHE_SIZE = 200_000  # settled labels kept in memory (the rest are read from the store when asked for)
STORE_READERS = 2  # threads reading the store for requests

_log = logging.getLogger(__name__)


def _log_failure(future: Future[int]) -> None:
    """A pending row that could not be stored: its label will fail to be stored too, and the item be asked
    for again."""
    if not future.cancelled() and future.exception() is not None:
        _log.error("storing pending items failed: %s", future.exception())


@dataclass(frozen=True)
class Result:
    """The answer about one item of an `annotate` request."""

    id: str
    status: str  # labeled | pending | unlabeled
    label: Any = None
    reason: str | None = None

    @classmethod
    def from_row(cls, row: LabelRow) -> Result:
        return cls(row.key, row.status, row.label, row.reason)

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "status": self.status, "label": self.label}
        if self.reason is not None:
            data["reason"] = self.reason
        return data


@dataclass
class _Entry:
    """An item in the queue (or in flight)."""

    key: str
    item: Item
    attempts: int = 0  # answers it was not parsed from so far


class Annotator:
    """Labels items of the registered tasks in the background; owns (and closes) its store and labeller."""

    def __init__(
        self,
        store: LabelStore,
        labeller: Labeller,
        *,
        tasks: Mapping[str, Task] | None = None,
        batch_size: int = 16,
        max_concurrency: int = 4,
        batch_wait_s: float = 0.02,
        metrics: Metrics | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        if batch_size < 1 or max_concurrency < 1 or cache_size < 0:
            raise ValueError("batch_size and max_concurrency must be at least 1, cache_size at least 0")
        self.store = store
        self.labeller = labeller
        self.tasks = dict(tasks if tasks is not None else TASKS)
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.batch_wait_s = batch_wait_s
        self.metrics = metrics if metrics is not None else Metrics.create()
        self.metrics.queue_depth.set_function(lambda: self.queue_depth)
        self.metrics.in_flight.set_function(lambda: self.in_flight)
        self._queues: dict[str, deque[_Entry]] = {name: deque() for name in self.tasks}
        self._waiting: set[str] = set()  # keys queued or in flight
        self._in_flight = 0
        self._added: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self._turn = 0  # round-robin over tasks
        self._scopes = {name: KeyScope(name, task.prompt_version, self.model) for name, task in self.tasks.items()}
        self._known: OrderedDict[str, Result] = OrderedDict()  # settled labels, least recently asked first
        self.cache_size = cache_size
        self.cursor = 0  # the store's last seq as of this annotator's latest read or write
        self._writer: StoreWriter | None = None
        self._readers: ThreadPoolExecutor | None = None

    @property
    def model(self) -> str:
        return self.labeller.model

    @property
    def queue_depth(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def task(self, name: str) -> Task:
        """A task this annotator serves (UnknownTask otherwise)."""
        task = self.tasks.get(name)
        if task is None:
            raise UnknownTask(name, self.tasks)
        return task

    def key(self, task: Task, item: Item) -> str:
        """The store key of an item's label (`store.label_key` of its identity, this prompt and model)."""
        return self._scopes[task.name].key(canonical_json(task.identity(item)))

    # ----- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the dispatcher, after queueing again the store's pending items of this prompt and model."""
        self._added, self._slots = asyncio.Event(), asyncio.Semaphore(self.max_concurrency)
        self._writer = StoreWriter(self.store)
        self._readers = ThreadPoolExecutor(max_workers=STORE_READERS, thread_name_prefix="annotate-store-read")
        self.cursor = self.store.last_seq()
        for task in self.tasks.values():
            rows = self.store.pending(task.name, task.prompt_version, self.model)
            self._enqueue(task, [_Entry(row.key, row.item, row.attempts) for row in rows])
            if rows:
                _log.info("queued %d pending %s items again", len(rows), task.name)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="annotate-dispatcher")

    async def close(self) -> None:
        """Stop the dispatcher and cancel calls in flight (their items stay pending), then close the store."""
        running = [self._dispatcher, *self._batches] if self._dispatcher else list(self._batches)
        for job in running:
            job.cancel()
        for job in running:
            with contextlib.suppress(asyncio.CancelledError):
                await job
        self._dispatcher = None
        if self._writer is not None:
            self._writer.close()  # commits what was written before
        if self._readers is not None:
            self._readers.shutdown(wait=True, cancel_futures=True)
        self.labeller.close()
        self.store.close()

    # ----- requests -----------------------------------------------------------------------------------
    async def annotate(self, task_name: str, items: Sequence[Item]) -> list[Result]:
        """One result per item, at once: known labels, or pending (stored and queued now unless already waiting)."""
        task = self.task(task_name)
        keys = [self.key(task, item) for item in items]
        known, rows = self._settled(keys)
        results, fresh, requeue = [], {}, {}
        for key, item in zip(keys, items, strict=True):
            row = rows.get(key)
            result = known.get(key)
            if result is None and row is not None and row.status in (LABELED, UNLABELED):
                result = known[key] = self._remember(Result.from_row(row))
            if result is not None:
                results.append(result)
                continue
            if key not in self._waiting and key not in fresh:
                (requeue if row is not None else fresh)[key] = _Entry(key, item, row.attempts if row else 0)
            results.append(Result(key, PENDING))
        self.metrics.cache_hits.inc(len(items) - sum(result.status == PENDING for result in results))
        self._enqueue(task, list(requeue.values()))
        self._store_pending(task, list(fresh.values()))
        return results

    def _settled(self, keys: Sequence[str]) -> tuple[dict[str, Result], dict[str, LabelRow]]:
        """The labels of `keys` known in memory, and the stored rows of the others that are not waiting: a few
        reads by primary key, done here (a thread hop would cost more than the read; WAL readers never wait
        for the writer)."""
        known = {key: result for key in keys if (result := self._recall(key)) is not None}
        unsure = [key for key in dict.fromkeys(keys) if key not in known and key not in self._waiting]
        if not unsure:
            return known, {}
        rows, seq = self.store.lookup_at(unsure)
        self.cursor = max(self.cursor, seq)
        return known, rows

    def _store_pending(self, task: Task, entries: list[_Entry]) -> None:
        """Queue new items, and their pending rows for the next commit (before their labels, which come later
        through the same writer). A crash before that commit loses them; clients send again what they still
        wait for after a reconnect."""
        if not entries:
            return
        assert self._writer is not None, "Annotator.start() was not called"
        version = task.prompt_version
        pending = [PendingItem(e.key, task.name, version, self.model, canonical_json(e.item)) for e in entries]
        self._writer.submit(Change(pending=pending)).add_done_callback(_log_failure)
        self._enqueue(task, entries)

    def _recall(self, key: str) -> Result | None:
        known = self._known.get(key)
        if known is not None:
            self._known.move_to_end(key)
        return known

    def _remember(self, result: Result) -> Result:
        """Keep a settled label in memory (forgetting the least recently asked beyond `cache_size`)."""
        if self.cache_size:
            self._known[result.id] = result
            if len(self._known) > self.cache_size:
                self._known.popitem(last=False)
        return result

    async def _read(self, function: Any, *args: Any) -> Any:
        assert self._readers is not None, "Annotator.start() was not called"
        return await asyncio.get_running_loop().run_in_executor(self._readers, function, *args)

    async def labels_since(self, task_name: str, cursor: int, limit: int = 1000) -> list[LabelRow]:
        """Labels and unlabeled verdicts of this prompt and model committed after `cursor`, oldest first."""
        task = self.task(task_name)
        return await self._read(self.store.since, task.name, task.prompt_version, self.model, cursor, limit)

    async def label_count(self) -> int:
        """Labelled items of this prompt and model, all tasks together."""
        counts = [await self._read(self.store.counts, t.name, t.prompt_version, self.model)
                  for t in self.tasks.values()]
        return sum(count[LABELED] for count in counts)

    # ----- the queue and the workers ------------------------------------------------------------------
    def _enqueue(self, task: Task, entries: Sequence[_Entry]) -> None:
        if not entries:
            return
        self._waiting.update(entry.key for entry in entries)  # (committed as pending before they are queued)
        self._queues[task.name].extend(entries)
        if self._added is not None:
            self._added.set()

    async def _dispatch(self) -> None:
        """Form batches and start labeller calls, at most `max_concurrency` at once."""
        assert self._slots is not None
        while True:
            await self._slots.acquire()
            try:
                name = await self._next_task()
                batch = await self._take_batch(name)
            except BaseException:
                self._slots.release()
                raise
            job = asyncio.create_task(self._run_batch(self.tasks[name], batch), name=f"annotate-{name}")
            self._batches.add(job)
            job.add_done_callback(self._batches.discard)

    async def _next_task(self) -> str:
        """The next task with queued items (round-robin), waiting until there is one."""
        assert self._added is not None
        names = list(self._queues)
        while True:
            for offset in range(len(names)):
                name = names[(self._turn + offset) % len(names)]
                if self._queues[name]:
                    self._turn = (self._turn + offset + 1) % len(names)
                    return name
            self._added.clear()
            await self._added.wait()

    async def _take_batch(self, name: str) -> list[_Entry]:
        """Up to `batch_size` queued items of task `name` in the first one's batch group, waiting at most
        `batch_wait_s` for a full batch."""
        assert self._added is not None
        queue = self._queues[name]
        deadline = time.monotonic() + self.batch_wait_s
        while len(queue) < self.batch_size and (left := deadline - time.monotonic()) > 0:
            self._added.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._added.wait(), left)
        task = self.tasks[name]
        group = task.batch_group(queue[0].item)
        batch, others = [], []
        while queue and len(batch) < self.batch_size:
            entry = queue.popleft()
            (batch if task.batch_group(entry.item) == group else others).append(entry)
        queue.extendleft(reversed(others))  # other groups keep their place for the next batch
        return batch

    async def _run_batch(self, task: Task, batch: list[_Entry]) -> None:
        """One labeller call for `batch`; its outcome goes to the store before anyone can see it."""
        assert self._slots is not None
        try:
            answer = await self._call(task, batch)
            if answer is None:
                self._release(batch)
                return
            parsed = await asyncio.to_thread(task.parse, answer, len(batch), [entry.item for entry in batch])
            await self._record(task, batch, parsed)
        except Exception:  # noqa: BLE001 - a store failure: nothing announced; the items may be asked for again
            _log.exception("annotating a batch of %d %s items failed", len(batch), task.name)
            self._release(batch)
        finally:
            self._slots.release()

    async def _call(self, task: Task, batch: list[_Entry]) -> str | None:
        """The labeller's answer, or None if the call failed (counted as an llm error)."""
        self._in_flight += 1
        start = time.perf_counter()
        try:
            answer = await self.labeller.answer(task, [entry.item for entry in batch])
        except Exception as exc:  # noqa: BLE001 - any failure of the call: no label, items stay pending
            self.metrics.errors.labels(kind="llm").inc()
            _log.warning("labeller %s failed on %d %s items: %s", self.model, len(batch), task.name, exc)
            return None
        finally:
            self._in_flight -= 1
            self.metrics.llm_latency.observe(time.perf_counter() - start)
        self.metrics.llm_calls.inc()
        self.metrics.batch_size.observe(len(batch))
        return answer

    async def _record(self, task: Task, batch: list[_Entry], parsed: ParsedAnswer) -> None:
        """Commit labels and give-ups, count one more attempt for the rest and queue them again; a label is
        answered (from memory) only once it is committed."""
        labels = {batch[index].key: label for index, label in parsed.labels.items()}
        retry, give_up = [], {}
        for index, reason in parsed.reasons.items():
            entry = batch[index]
            entry.attempts += 1
            if entry.attempts >= PARSE_ATTEMPTS:
                give_up[entry.key] = reason
            else:
                retry.append(entry)
        if parsed.reasons:
            self.metrics.errors.labels(kind="parse").inc(len(parsed.reasons))
            _log.info("%s: %d of %d %s items unparsed (%s)", self.model, len(parsed.reasons), len(batch), task.name,
                      next(iter(parsed.reasons.values())))
        assert self._writer is not None
        change = Change(labels=labels, unlabeled=give_up, attempts=[entry.key for entry in retry])
        self.cursor = max(self.cursor, await self._writer.write(change))
        self.metrics.labels_stored.inc(len(labels))
        for key, label in labels.items():  # as the store gives it back (JSON), not as parsed
            self._remember(Result(key, LABELED, json.loads(canonical_json(label))))
        for key, reason in give_up.items():
            self._remember(Result(key, UNLABELED, None, reason))
        self._waiting.difference_update([*labels, *give_up])
        self._queues[task.name].extend(retry)
        if retry and self._added is not None:
            self._added.set()

    def _release(self, batch: list[_Entry]) -> None:
        """Forget that these items wait (they stay pending in the store): a later request queues them again."""
        self._waiting.difference_update(entry.key for entry in batch)

