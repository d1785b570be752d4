"""The asynchronous annotator: answers from the store at once, labels the rest in batches in the background.

    annotator = Annotator(LabelStore("labels.sqlite"), OfflineLabeller())
    await annotator.start()                     # queues again what the store still has pending
    results = await annotator.annotate("helpful", ["You kill the newt!"])   # [Result(id, "pending", None)]
    ... annotator.labels_since("helpful", cursor=0) ...                   # the label, once it is committed
    await annotator.close()                     # stops the workers, closes the store

`annotate` never waits for the labeller: known items are answered from the store (cache hits), new ones are
stored as pending and queued, and items already queued or in flight are not queued twice. A dispatcher forms
batches of up to `batch_size` items of one task (waiting at most `batch_wait_s` to fill one) and runs at most
`max_concurrency` labeller calls at once. Answers are parsed strictly: an item the answer does not label goes
back to the queue once, then is recorded `unlabeled` with the reason. A call that fails (after the LLM
client's own retries) labels nothing: its items stay pending in the store, and are queued again when a client
asks for them or when the server restarts. A failure never becomes a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from autoreward.annotate.metrics import Metrics
from autoreward.annotate.registry import TASKS, UnknownTask
from autoreward.annotate.store import LABELED, PENDING, UNLABELED, LabelRow, LabelStore, PendingItem, canonical_json
from autoreward.annotate.store import label_key as make_key
from autoreward.annotate.tasks import Item, ParsedAnswer, Task
from autoreward.llm.base import LLM

PARSE_ATTEMPTS = 2  # answers an item may fail to be parsed from: the first one and one retry
OFFLINE_MODEL = "offline"

_log = logging.getLogger(__name__)


class Labeller(Protocol):
    """Answers one batch of a task with the text an LLM would write; `model` is part of every label's key."""

    model: str

    async def answer(self, task: Task, items: Sequence[Item]) -> str: ...

    def close(self) -> None: ...


class OfflineLabeller:
    """The lexicon as a labeller, with an optional delay per call standing in for a slow LLM (tests, benchmarks)."""

    model = OFFLINE_MODEL

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0  # batches answered
        self.items = 0  # items answered

    async def answer(self, task: Task, items: Sequence[Item]) -> str:
        self.calls += 1
        self.items += len(items)
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        return task.offline_answer(items)

    def close(self) -> None:
        pass


class LLMLabeller:
    """An `LLM` (sync `complete`) as a labeller: one user message per batch, run on a pool of its own threads.

    Its own pool (not `asyncio.to_thread`'s) so that shutting down never waits for a call still in flight.
    """

    def __init__(self, llm: LLM, max_workers: int = 4) -> None:
        self.llm = llm
        self.model = llm.model
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="annotate-llm")

    async def answer(self, task: Task, items: Sequence[Item]) -> str:
        messages = [{"role": "user", "content": task.prompt(items)}]
        call = functools.partial(self.llm.complete, messages, role="annotate")
        completion = await asyncio.get_running_loop().run_in_executor(self._pool, call)
        return completion.text

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


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
    ) -> None:
        if batch_size < 1 or max_concurrency < 1:
            raise ValueError("batch_size and max_concurrency must be at least 1")
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
            raise UnknownTask(f"unknown task {name!r}; known tasks: {', '.join(sorted(self.tasks))}")
        return task

    def key(self, task: Task, item: Item) -> str:
        return make_key(task.name, task.prompt_version, self.model, task.identity(item))

    # ----- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the dispatcher, after queueing again the store's pending items of this prompt and model."""
        self._added, self._slots = asyncio.Event(), asyncio.Semaphore(self.max_concurrency)
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
        self.labeller.close()
        self.store.close()

    # ----- requests -----------------------------------------------------------------------------------
    async def annotate(self, task_name: str, items: Sequence[Item]) -> list[Result]:
        """One result per item, at once: stored labels, or pending (queued now unless already waiting)."""
        task = self.task(task_name)
        keys = [self.key(task, item) for item in items]
        rows = self.store.lookup(keys)
        results, fresh, requeue = [], {}, {}
        for key, item in zip(keys, items, strict=True):
            row = rows.get(key)
            if row is not None and row.status in (LABELED, UNLABELED):
                results.append(Result.from_row(row))
                continue
            if key not in self._waiting:
                (requeue if row is not None else fresh)[key] = _Entry(key, item, row.attempts if row else 0)
            results.append(Result(key, PENDING))
        self.metrics.cache_hits.inc(len(items) - sum(result.status == PENDING for result in results))
        version = task.prompt_version
        self.store.add_pending(
            [PendingItem(e.key, task.name, version, self.model, canonical_json(e.item)) for e in fresh.values()]
        )
        self._enqueue(task, [*requeue.values(), *fresh.values()])
        return results

    def labels_since(self, task_name: str, cursor: int, limit: int = 1000) -> list[LabelRow]:
        """Labels and unlabeled verdicts of this prompt and model committed after `cursor`, oldest first."""
        task = self.task(task_name)
        return self.store.since(task.name, task.prompt_version, self.model, cursor, limit)

    def label_count(self) -> int:
        """Labelled items of this prompt and model, all tasks together."""
        return sum(self.store.counts(t.name, t.prompt_version, self.model)[LABELED] for t in self.tasks.values())

    # ----- the queue and the workers ------------------------------------------------------------------
    def _enqueue(self, task: Task, entries: Sequence[_Entry]) -> None:
        if not entries:
            return
        self._waiting.update(entry.key for entry in entries)
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
            self._record(task, batch, task.parse(answer, len(batch), [entry.item for entry in batch]))
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

    def _record(self, task: Task, batch: list[_Entry], parsed: ParsedAnswer) -> None:
        """Commit labels and give-ups, count one more attempt for the rest and queue them again."""
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
        self.store.set_labels(labels)
        self.metrics.labels_stored.inc(len(labels))
        self.store.set_unlabeled(give_up)
        self.store.add_attempts([entry.key for entry in retry])
        self._waiting.difference_update([*labels, *give_up])
        self._queues[task.name].extend(retry)
        if retry and self._added is not None:
            self._added.set()

    def _release(self, batch: list[_Entry]) -> None:
        """Forget that these items wait (they stay pending in the store): a later request queues them again."""
        self._waiting.difference_update(entry.key for entry in batch)
