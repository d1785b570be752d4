"""The annotation server's label store: one SQLite file (WAL), one row per (task, prompt version, model, item).

`seq` is the change cursor: a row gets a new, higher `seq` whenever its status changes (the row is replaced),
so `since(task, ..., cursor)` returns every label that became known after `cursor`, oldest first. Every write is
one committed transaction on the one write connection, under the store's write lock, so commits happen in `seq`
order; reads use a connection per thread (WAL: readers never wait for the writer), and see only committed rows.
`apply` commits many changes in one transaction (the server's writer thread groups the writes of many requests).

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
from dataclasses import dataclass, field
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


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # made once: per call
# `json.dumps` with these options would build a new encoder each time, most of its cost for a short text


def canonical_json(value: Any) -> str:
    """The one JSON text of a value (sorted keys, no spaces): equal items, and only those, share it."""
    return _CANONICAL.encode(value)


def label_key(task: str, prompt_version: str, model: str, item: Any) -> str:
    """sha256 (hex) of the task, prompt version, model and item: the identity of a label."""
    return KeyScope(task, prompt_version, model).key(canonical_json(item))


class KeyScope:
    """`label_key` for many items of one task, prompt version and model: the canonical JSON of
    {"item", "model", "prompt_version", "task"} is the item's own canonical JSON between a fixed prefix and
    suffix (keys sort in that order), so each item is encoded once and only hashed here."""

    def __init__(self, task: str, prompt_version: str, model: str) -> None:
        rest = canonical_json({"model": model, "prompt_version": prompt_version, "task": task})
        self._prefix, self._suffix = '{"item":', "," + rest[1:]

    def key(self, item_json: str) -> str:
        """The label key of the item whose canonical JSON is `item_json`."""
        return hashlib.sha256(f"{self._prefix}{item_json}{self._suffix}".encode()).hexdigest()


@dataclass(frozen=True)
class PendingItem:
    """An item to store as pending (not labelled yet)."""

    key: str
    task: str
    prompt_version: str
    model: str
    item_json: str


@dataclass(frozen=True)
class Change:
    """Writes committed together: new pending items, labels {key: label}, give-ups {key: reason}, and keys
    whose answer could not be parsed once more."""

    pending: Sequence[PendingItem] = ()
    labels: Mapping[str, Any] = field(default_factory=dict)
    unlabeled: Mapping[str, str] = field(default_factory=dict)
    attempts: Sequence[str] = ()


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
    """Labels on SQLite (WAL, synchronous=NORMAL); safe to share between threads: one write connection behind
    a lock, one read connection per thread."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()  # the write connection's
        self._readers_lock = threading.Lock()
        self._readers: dict[int, sqlite3.Connection] = {}  # by thread id
        self._closed = False
        self._conn = self._connect()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._transaction(write=True) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self._busy_timeout_s, check_same_thread=False, isolation_level=None)

    def _transaction(self, write: bool = False) -> _Transaction:
        if self._closed:
            raise sqlite3.ProgrammingError(f"{self!r} is closed")
        if write:
            return _Transaction(self._conn, self._lock, "BEGIN IMMEDIATE")
        with self._readers_lock:
            conn = self._readers.get(threading.get_ident())
            if conn is None:
                conn = self._readers[threading.get_ident()] = self._connect()
        return _Transaction(conn, None, "BEGIN")

    def close(self) -> None:
        """Close the connections (idempotent); later calls raise sqlite3.ProgrammingError."""
        with self._lock, self._readers_lock:
            if not self._closed:
                self._closed = True
                for conn in [self._conn, *self._readers.values()]:
                    conn.close()
                self._readers.clear()

    # ----- reads --------------------------------------------------------------------------------------
    def lookup(self, keys: Sequence[str]) -> dict[str, LabelRow]:
        """The stored rows of `keys` (missing keys are absent from the result)."""
        return self.lookup_at(keys)[0]

    def lookup_at(self, keys: Sequence[str]) -> tuple[dict[str, LabelRow], int]:
        """The stored rows of `keys`, and the last seq, read together (one snapshot)."""
        found: dict[str, LabelRow] = {}
        with self._transaction() as conn:
            for chunk in _chunks(list(dict.fromkeys(keys))):
                marks = ",".join("?" * len(chunk))
                for values in conn.execute(f"SELECT {_COLUMNS} FROM labels WHERE key IN ({marks})", chunk):
                    found[values[1]] = _row(values)
            return found, _last_seq(conn)

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
            return _last_seq(conn)

    # ----- writes (each one committed transaction) ----------------------------------------------------
    def apply(self, changes: Sequence[Change]) -> int:
        """Commit `changes` in one transaction, in order (all or none); returns the last seq after it."""
        with self._transaction(write=True) as conn:
            for change in changes:
                _add_pending(conn, change.pending)
                _settle(conn, {key: (LABELED, canonical_json(label), None) for key, label in change.labels.items()})
                _settle(conn, {key: (UNLABELED, None, reason) for key, reason in change.unlabeled.items()})
                _add_attempts(conn, change.attempts)
            return _last_seq(conn)

    def add_pending(self, items: Sequence[PendingItem]) -> None:
        """Store new items as pending; items already stored (in any status) are left as they are."""
        self.apply([Change(pending=items)])

    def set_labels(self, labels: Mapping[str, Any]) -> None:
        """Record labels {key: label} of stored items; each changed row gets a new seq."""
        self.apply([Change(labels=labels)])

    def set_unlabeled(self, reasons: Mapping[str, str]) -> None:
        """Record that items {key: reason} could not be labelled; each changed row gets a new seq."""
        self.apply([Change(unlabeled=reasons)])

    def add_attempts(self, keys: Sequence[str]) -> None:
        """Count one more unparseable answer for each pending key (not a label change: seq is kept)."""
        self.apply([Change(attempts=keys)])


def _last_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'labels'").fetchone()
    return int(row[0]) if row else 0


def _add_pending(conn: sqlite3.Connection, items: Sequence[PendingItem]) -> None:
    now = time.time()
    conn.executemany(
        "INSERT OR IGNORE INTO labels (key, task, prompt_version, model, item_json, status, created, updated) "
        "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
        [(i.key, i.task, i.prompt_version, i.model, i.item_json, now, now) for i in items],
    )


def _add_attempts(conn: sqlite3.Connection, keys: Sequence[str]) -> None:
    conn.executemany(
        "UPDATE labels SET attempts = attempts + 1, updated = ? WHERE key = ? AND status = 'pending'",
        [(time.time(), key) for key in keys],
    )


def _settle(conn: sqlite3.Connection, outcomes: Mapping[str, tuple[str, str | None, str | None]]) -> None:
    """Replace each row with its outcome; the replacement takes a new seq, so `since` sees the change."""
    now = time.time()
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
    """`with` block: take the lock (writes) and BEGIN (IMMEDIATE for writes: no lock upgrade races with other
    processes); COMMIT on success, ROLLBACK on error; release the lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock | None, begin: str) -> None:
        self._conn, self._lock, self._begin = conn, lock, begin

    def __enter__(self) -> sqlite3.Connection:
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._conn.execute(self._begin)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            if self._lock is not None:
                self._lock.release()
