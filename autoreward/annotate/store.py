"""The annotation server's label store: one SQLite file (WAL), one row per (task, prompt version, model, item).

`seq` is the change cursor: a row gets a new, higher `seq` whenever its status changes (the row is replaced),
so `since(task, ..., cursor)` returns every label that became known after `cursor`, oldest first. Every write is
one committed transaction under the store's lock, and the one connection is only used under that lock, so a
reader never sees a label before it is committed, and commits happen in `seq` order.

    store = LabelStore("labels.sqlite")
    key = label_key("helpful", "3f1c9a0b2d4e", "offline", "You kill the newt!")
    store.add_pending([PendingItem(key, "helpful", "3f1c9a0b2d4e", "offline", '"You kill the newt!"')])
    store.set_labels({key: True})
    store.since("helpful", "3f1c9a0b2d4e", "offline", cursor=0)    # [LabelRow(..., status="labeled")]
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PENDING, LABELED, UNLABELED = "pending", "labeled", "unlabeled"
_SQL_VARIABLES = 500  # keys per `IN (...)` query, well below SQLite's limit

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS labels (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        task TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        model TEXT NOT NULL,
        item_json TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'labeled', 'unlabeled')),
        label_json TEXT,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS labels_scope ON labels (task, prompt_version, model, status, seq)",
)
_COLUMNS = "seq, key, task, prompt_version, model, item_json, status, label_json, reason, attempts"


def canonical_json(value: Any) -> str:
    """The one JSON text of a value (sorted keys, no spaces): equal items, and only those, share it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def label_key(task: str, prompt_version: str, model: str, item: Any) -> str:
    """sha256 (hex) of the task, prompt version, model and item: the identity of a label."""
    text = canonical_json({"task": task, "prompt_version": prompt_version, "model": model, "item": item})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PendingItem:
    """An item to store as pending (not labelled yet)."""

    key: str
    task: str
    prompt_version: str
    model: str
    item_json: str


@dataclass(frozen=True)
class LabelRow:
    """One stored row; `label` is the decoded label (None unless status is 'labeled')."""

    seq: int
    key: str
    task: str
    prompt_version: str
    model: str
    item_json: str
    status: str
    label: Any
    reason: str | None
    attempts: int

    @property
    def item(self) -> Any:
        return json.loads(self.item_json)


def _row(values: Sequence[Any]) -> LabelRow:
    seq, key, task, version, model, item_json, status, label_json, reason, attempts = values
    label = json.loads(label_json) if label_json is not None else None
    return LabelRow(seq, key, task, version, model, item_json, status, label, reason, attempts)


def _chunks(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), _SQL_VARIABLES):
        yield keys[start : start + _SQL_VARIABLES]


class LabelStore:
    """Labels on SQLite (WAL, synchronous=NORMAL) behind one lock; safe to share between threads."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._transaction(write=True) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r})"

    def _transaction(self, write: bool = False) -> _Transaction:
        if self._conn is None:
            raise sqlite3.ProgrammingError(f"{self!r} is closed")
        return _Transaction(self._conn, self._lock, "BEGIN IMMEDIATE" if write else "BEGIN")

    def close(self) -> None:
        """Close the connection (idempotent); later calls raise sqlite3.ProgrammingError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ----- reads --------------------------------------------------------------------------------------
    def lookup(self, keys: Sequence[str]) -> dict[str, LabelRow]:
        """The stored rows of `keys` (missing keys are absent from the result)."""
        found: dict[str, LabelRow] = {}
        with self._transaction() as conn:
            for chunk in _chunks(list(dict.fromkeys(keys))):
                marks = ",".join("?" * len(chunk))
                for values in conn.execute(f"SELECT {_COLUMNS} FROM labels WHERE key IN ({marks})", chunk):
                    found[values[1]] = _row(values)
        return found

    def since(self, task: str, prompt_version: str, model: str, cursor: int, limit: int = 1000) -> list[LabelRow]:
        """Labels and unlabeled verdicts of one scope with seq > cursor, oldest first (at most `limit`)."""
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM labels WHERE task = ? AND prompt_version = ? AND model = ? "
                "AND status IN ('labeled', 'unlabeled') AND seq > ? ORDER BY seq LIMIT ?",
                (task, prompt_version, model, cursor, limit),
            ).fetchall()
        return [_row(values) for values in rows]

    def pending(self, task: str, prompt_version: str, model: str) -> list[LabelRow]:
        """Rows of one scope still waiting for a label (to queue them again at start-up), oldest first."""
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM labels WHERE task = ? AND prompt_version = ? AND model = ? "
                "AND status = 'pending' ORDER BY seq",
                (task, prompt_version, model),
            ).fetchall()
        return [_row(values) for values in rows]

    def counts(self, task: str, prompt_version: str, model: str) -> dict[str, int]:
        """Rows of one scope by status: {'pending': n, 'labeled': n, 'unlabeled': n}."""
        result = dict.fromkeys((PENDING, LABELED, UNLABELED), 0)
        with self._transaction() as conn:
            for status, count in conn.execute(
                "SELECT status, COUNT(*) FROM labels WHERE task = ? AND prompt_version = ? AND model = ? "
                "GROUP BY status",
                (task, prompt_version, model),
            ):
                result[status] = count
        return result

    def last_seq(self) -> int:
        """The highest seq given so far (0 for an empty store)."""
        with self._transaction() as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'labels'").fetchone()
        return int(row[0]) if row else 0

    # ----- writes (each one committed transaction) ----------------------------------------------------
    def add_pending(self, items: Sequence[PendingItem]) -> None:
        """Store new items as pending; items already stored (in any status) are left as they are."""
        now = time.time()
        with self._transaction(write=True) as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO labels (key, task, prompt_version, model, item_json, status, created, updated) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                [(i.key, i.task, i.prompt_version, i.model, i.item_json, now, now) for i in items],
            )

    def set_labels(self, labels: Mapping[str, Any]) -> None:
        """Record labels {key: label} of stored items; each changed row gets a new seq."""
        self._settle({key: (LABELED, canonical_json(label), None) for key, label in labels.items()})

    def set_unlabeled(self, reasons: Mapping[str, str]) -> None:
        """Record that items {key: reason} could not be labelled; each changed row gets a new seq."""
        self._settle({key: (UNLABELED, None, reason) for key, reason in reasons.items()})

    def add_attempts(self, keys: Sequence[str]) -> None:
        """Count one more unparseable answer for each pending key (not a label change: seq is kept)."""
        with self._transaction(write=True) as conn:
            conn.executemany(
                "UPDATE labels SET attempts = attempts + 1, updated = ? WHERE key = ? AND status = 'pending'",
                [(time.time(), key) for key in keys],
            )

    def _settle(self, outcomes: Mapping[str, tuple[str, str | None, str | None]]) -> None:
        """Replace each row with its outcome; the replacement takes a new seq, so `since` sees the change."""
        if not outcomes:
            return
        now = time.time()
        with self._transaction(write=True) as conn:
            for key, (status, label_json, reason) in outcomes.items():
                old = conn.execute(
                    "SELECT task, prompt_version, model, item_json, attempts, created, status, label_json, reason "
                    "FROM labels WHERE key = ?",
                    (key,),
                ).fetchone()
                if old is None:
                    raise KeyError(f"no stored item with key {key}")
                if tuple(old[6:9]) == (status, label_json, reason):
                    continue  # nothing new to announce
                conn.execute("DELETE FROM labels WHERE key = ?", (key,))
                conn.execute(
                    "INSERT INTO labels (key, task, prompt_version, model, item_json, status, label_json, reason, "
                    "attempts, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, *old[:4], status, label_json, reason, old[4], old[5], now),
                )


class _Transaction:
    """`with` block: take the lock and BEGIN (IMMEDIATE for writes: no lock upgrade races with other processes);
    COMMIT on success, ROLLBACK on error; release the lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock, begin: str) -> None:
        self._conn, self._lock, self._begin = conn, lock, begin

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._conn.execute(self._begin)
        except BaseException:
            self._lock.release()
            raise
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._lock.release()
