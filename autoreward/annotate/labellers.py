"""Labellers: what answers a batch of items for the annotator, an LLM (through litellm) or the offline lexicon.

Both keep their work off the event loop: the LLM's calls run on a pool of the labeller's own threads, the
lexicon on a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from autoreward.annotate.tasks import Item, Task
from autoreward.llm.base import LLM

OFFLINE_MODEL = "offline"


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
        return await asyncio.to_thread(task.offline_answer, items)  # the lexicon's work stays off the event loop

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
