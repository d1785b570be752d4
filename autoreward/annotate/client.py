"""Clients of the annotation server (docs/annotation.md): an async one, and a background one for the trainer.

`AsyncAnnotationClient` is a thin typed wrapper of the HTTP API. `AnnotationClient` runs it on its own
event loop in a daemon thread and keeps a local copy of the labels: `submit()` and `snapshot()` return at
once, so the training loop never waits for the network or the LLM. When the server is down the copy stays
usable, the client retries with exponential backoff (as it does when the server answers nonsense or refuses a
poll: its thread never ends before `close()`), and after a reconnect it sends again every item it still
waits for (a restarted server may have lost its queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

Item = str | tuple[str, ...]  # helpful: one text; pairs: (text_a, text_b); calm: (key, text, subgoals)
MAX_ITEMS = 256  # per request, as the server allows
MAX_REQUEST_BYTES = 192 * 1024  # bytes of encoded items per request: below the server's 256 KiB body limit


def _wire(item: Item) -> Any:
    return item if isinstance(item, str) else list(item)


def _local(item: Any) -> Item:
    """An item as the server sends it back (a text, or a JSON list) in its hashable local form."""
    return item if isinstance(item, str) else tuple(str(part) for part in item)


def _encoded(item: Item) -> bytes:
    """An item as it goes in a request body: compact JSON in UTF-8 (UnicodeEncodeError for a lone surrogate)."""
    return json.dumps(_wire(item), ensure_ascii=False, separators=(",", ":")).encode()


def _annotate_body(task: str, items: Sequence[Item]) -> bytes:
    return b'{"task":%s,"items":[%s]}' % (_encoded(task), b",".join(_encoded(item) for item in items))


def _request_batch(sizes: Sequence[int]) -> int:
    """How many items of these encoded sizes go in the next request: at most MAX_ITEMS and MAX_REQUEST_BYTES
    (at least one). Bytes, not characters: a character takes up to 4 bytes, an escaped one 6."""
    count, total = 0, 0
    for size in sizes[:MAX_ITEMS]:
        total += size + 1
        if count and total > MAX_REQUEST_BYTES:
            break
        count += 1
    return count


class AnnotationError(RuntimeError):
    """The server refused a request (4xx other than a transient one): sending it again would not help."""


class AsyncAnnotationClient:
    """The HTTP API as coroutines; raises httpx errors for network trouble, AnnotationError for refusals."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 2.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    async def annotate(self, task: str, items: Sequence[Item]) -> list[dict[str, Any]]:
        """One result per item: {id, status: labeled|pending|unlabeled, label[, reason]}."""
        body = await self._request("POST", "/v1/annotate", content=_annotate_body(task, items),
                                   headers={"content-type": "application/json"})
        return list(body["results"])

    async def labels(self, task: str, since: int = 0, limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        """Labels (and unlabeled verdicts) known after `since`, and the cursor to pass next time."""
        body = await self._request("GET", "/v1/labels", params={"task": task, "since": since, "limit": limit})
        return list(body["labels"]), int(body["cursor"])

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", "/healthz")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        if response.status_code == 429 or response.status_code >= 500:
            response.raise_for_status()  # transient: the caller backs off and tries again
        if response.status_code >= 400:
            raise AnnotationError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


@dataclass
class ClientStats:
    """What the background client did; saved with a training run."""

    submitted: int = 0  # distinct items sent
    requests: int = 0  # annotate requests answered (items go in batches of up to MAX_ITEMS)
    labeled: int = 0
    unlabeled: int = 0  # the server gave up on them (unparseable LLM answers)
    refused: int = 0  # items in requests the server refused (4xx)
    errors: int = 0  # failed requests (server down, timeouts, 5xx)
    reconnects: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class AnnotationClient:
    """Background client for one labelling task; a `LabelSource` for the intrinsic reward (never blocks)."""

    def __init__(self, url: str, task: str, token: str | None = None, poll_interval_s: float = 0.2,
                 timeout_s: float = 2.0, backoff_max_s: float = 5.0, resend_after_s: float = 30.0,
                 send_interval_s: float = 0.1, seed: int = 0) -> None:
        self.url, self.task, self.token = url, task, token
        self.poll_interval_s, self.timeout_s, self.backoff_max_s = poll_interval_s, timeout_s, backoff_max_s
        # at least this long between exchanges: items submitted meanwhile go in one request (a trainer submits a
        # few items per step; one request per step costs ~2 ms of the trainer's CPU in client and server)
        self.send_interval_s = send_interval_s
        self.resend_after_s = resend_after_s  # ask again for items still unlabelled (the server's LLM call failed)
        self._last_resend = 0.0
        self.stats = ClientStats()
        self.connected = False
        self._labels: dict[Item, Any] = {}
        self._version = 0
        self._waiting: set[Item] = set()  # sent (or to send), not yet labelled
        self._given_up: set[Item] = set()  # unlabeled by the server, or refused: not sent again
        self._outbox: list[Item] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._cursor = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- the trainer's side (any thread, never blocks) --------------------------------------------
    def submit(self, items: Sequence[Item]) -> None:
        """Queue items for labelling; items already labelled or waiting are skipped."""
        with self._lock:
            fresh = [i for i in dict.fromkeys(items)
                     if i not in self._labels and i not in self._waiting and i not in self._given_up]
            if not fresh:
                return
            self._waiting.update(fresh)
            self._outbox.extend(fresh)
        self._notify()

    def snapshot(self) -> tuple[int, Mapping[Item, Any]]:
        """(version, labels so far); the version grows whenever a label arrives."""
        with self._lock:
            return self._version, dict(self._labels)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def start(self) -> AnnotationClient:
        self._thread = threading.Thread(target=self._run, name=f"annotate-client-{self.task}", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        self._notify()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> AnnotationClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(wake.set)

    # ----- the background loop ----------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self._last_resend = self._loop.time()
        client = AsyncAnnotationClient(self.url, self.token, self.timeout_s)
        failures = 0
        try:
            while not self._stopping.is_set():
                exchanged = self._loop.time()
                try:
                    await self._exchange(client)
                except Exception as exc:  # noqa: BLE001 - down, timed out, 5xx, a refused poll, garbage: never
                    failures += 1  # end the thread (the trainer would get no label again), back off and retry
                    self.stats.errors += 1
                    if failures == 1:
                        log.warning("annotation server %s unreachable or answering nonsense (%s: %s); training goes "
                                    "on with %d labels", self.url, type(exc).__name__, str(exc)[:300],
                                    len(self._labels))
                    self.connected = False
                    await self._sleep(self._backoff(failures))
                    continue
                if failures:
                    self.stats.reconnects += 1
                    failures = 0
                    self._resend_waiting()
                    continue
                if self._loop.time() - self._last_resend > self.resend_after_s:
                    self._last_resend = self._loop.time()
                    self._resend_waiting()  # a failed LLM call leaves items pending until someone asks again
                await self._sleep(self.poll_interval_s)
                await asyncio.sleep(max(0.0, self.send_interval_s - (self._loop.time() - exchanged)))
        finally:
            await client.aclose()

    async def _exchange(self, client: AsyncAnnotationClient) -> None:
        """Send what is queued, then fetch the labels that arrived; updates the local copy."""
        with self._lock:  # what is queued now; what comes while it is sent waits for the next exchange
            queued, self._outbox = self._outbox, []
        queued, sizes = self._encodable(queued)
        while queued:
            count = _request_batch(sizes)
            batch, queued, sizes = queued[:count], queued[count:], sizes[count:]
            try:
                results = await client.annotate(self.task, batch)
            except AnnotationError as exc:
                log.warning("annotation server refused %d items: %s", len(batch), exc)
                self._drop(batch)
                self.stats.refused += len(batch)
                continue
            except BaseException:
                with self._lock:  # not sent: keep them for the next try
                    self._outbox[:0] = batch + queued
                raise
            self.stats.submitted += len(batch)
            self.stats.requests += 1
            self._record([{**r, "item": item} for r, item in zip(results, batch, strict=True)])
        while True:
            records, cursor = await client.labels(self.task, self._cursor)
            self.connected = True
            self._record(records)
            if cursor <= self._cursor or not records:
                self._cursor = max(self._cursor, cursor)
                break
            self._cursor = cursor

    def _record(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            for record in records:
                item = _local(record["item"])
                status = record.get("status")
                if status == "labeled":
                    if self._labels.get(item, object()) != record["label"]:
                        self._labels[item] = record["label"]
                        self._version += 1
                        self.stats.labeled += 1
                    self._waiting.discard(item)
                elif status == "unlabeled" and item not in self._given_up:
                    self.stats.unlabeled += 1
                    self._given_up.add(item)
                    self._waiting.discard(item)

    def _encodable(self, items: list[Item]) -> tuple[list[Item], list[int]]:
        """The items UTF-8 can encode, with their encoded sizes; the others (a lone surrogate in a text) are
        refused here: sent, they would fail every request they went in."""
        kept, sizes, bad = [], [], []
        for item in items:
            try:
                sizes.append(len(_encoded(item)))
            except UnicodeEncodeError:
                bad.append(item)
                continue
            kept.append(item)
        if bad:
            log.warning("%d items are not Unicode texts (a lone surrogate) and cannot be sent, e.g. %s", len(bad),
                        ascii(bad[0])[:200])
            self._drop(bad)
            self.stats.refused += len(bad)
        return kept, sizes

    def _drop(self, items: list[Item]) -> None:
        with self._lock:
            self._waiting.difference_update(items)
            self._given_up.update(items)

    def _resend_waiting(self) -> None:
        """Ask again for everything still waiting: after a reconnect (a restarted server may have lost its queue),
        and every `resend_after_s` (a failed LLM call leaves items pending on the server until asked again)."""
        with self._lock:
            queued = set(self._outbox)
            self._outbox.extend(item for item in self._waiting if item not in queued)

    def _backoff(self, failures: int) -> float:
        return min(self.backoff_max_s, 0.1 * 2 ** min(failures, 10)) * (0.5 + self._rng.random() / 2)

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()
