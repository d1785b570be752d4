"""A persistent response cache, so that rerunning (or resuming) a run replays LLM answers for free.

Entries live in one SQLite file (WAL mode), keyed by the sha256 of the canonical JSON of (model, messages, params),
so several processes of a run can read and write it at once. Each call opens its own short-lived connection, which
makes a `ResponseCache` safe to share between threads and to pickle into worker processes.

    cache = ResponseCache(run_dir / "llm" / "cache.sqlite")
    key = cache_key("openai/gpt-4o-mini", messages, {"temperature": 0.2})
    hit = cache.get(key)            # Completion with cached=True and cost 0.0, or None
    cache.put(key, completion)
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from autoreward.llm.base import Completion, Messages

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(model: str, messages: Messages, params: Mapping[str, Any]) -> str:
    """The sha256 (hex) of the canonical JSON of a request: equal requests, and only those, share a key."""
    canonical = json.dumps(
        {"model": model, "messages": messages, "params": dict(params)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """LLM answers stored in a SQLite file; `get` returns what `put` stored, marked as a free cache hit."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection in WAL mode, committed on success and always closed."""
        with closing(sqlite3.connect(self.path, timeout=self.busy_timeout_s)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with conn:  # one transaction: commit, or roll back on error
                yield conn

    def get(self, key: str) -> Completion | None:
        """The stored answer for `key` with `cached=True` and `cost=0.0` (it costs nothing now), or None."""
        with self._connect() as conn:
            row = conn.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        fields = json.loads(row[0])
        known = {name: fields[name] for name in Completion.__dataclass_fields__ if name in fields}
        return Completion(**{**known, "cost": 0.0, "latency_s": 0.0, "cached": True})

    def put(self, key: str, completion: Completion) -> None:
        """Store (or replace) the answer for `key`; the original cost and latency are kept for the record."""
        record = {**completion.to_dict(), "cached": False}
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO responses (key, model, completion, created) VALUES (?, ?, ?, ?)",
                (key, completion.model, json.dumps(record, ensure_ascii=False), time.time()),
            )

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
