"""The request path's helpers (issue 18): the store's writer thread, the one-encoding label keys, the in-memory
table of settled labels, and the load benchmark's report of who used the CPU."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time

import pytest

from autoreward.annotate import tasks
from autoreward.annotate.labellers import OfflineLabeller
from autoreward.annotate.service import Annotator
from autoreward.annotate.store import Change, KeyScope, LabelStore, PendingItem, label_key
from autoreward.annotate.writer import StoreWriter
from tests.common import ROOT

ITEMS = ["You kill the newt!", "naïve ünïcode ✓", {"b": [1, 2.5, None], "a": "x"}, ["msg", 3, True], ""]
MESSAGES = ["You kill the newt!", "It's a wall.", "You find a hidden door."]


def naive_key(task: str, version: str, model: str, item: object) -> str:
    """The key's definition, spelled out: sha256 of the sorted, compact JSON of all four."""
    text = json.dumps({"task": task, "prompt_version": version, "model": model, "item": item}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("item", ITEMS)
def test_one_encoding_keys_equal_the_definition(item):
    """Keys of labels stored by earlier versions stay valid: the fast key is the same sha256."""
    assert label_key("helpful", "3f1c", "gpt-x", item) == naive_key("helpful", "3f1c", "gpt-x", item)
    scope = KeyScope("calm", "v2", "offline")
    assert scope.key(json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)) == naive_key(
        "calm", "v2", "offline", item)


def pending(store: LabelStore, *texts: str) -> list[str]:
    keys = [label_key("helpful", "v1", "m", text) for text in texts]
    store.add_pending([PendingItem(key, "helpful", "v1", "m", json.dumps(text)) for key, text in zip(keys, texts)])  # noqa: B905
    return keys


def test_writes_waiting_together_commit_in_one_transaction_and_a_bad_one_fails_alone(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    keys = pending(store, *"abcdef")
    writer = StoreWriter(store)
    try:
        with store._lock:  # the writer's first commit waits here, so the rest queue up behind it
            first = writer.submit(Change(labels={keys[0]: True}))
            time.sleep(0.2)
            grouped = [writer.submit(Change(labels={key: False})) for key in keys[1:4]]
        assert len({future.result(10) for future in grouped}) == 1  # one commit: the same last seq for all
        assert first.result(10) < grouped[0].result(10)
        with store._lock:
            writer.submit(Change(labels={keys[4]: True}))  # taken alone while the lock is held
            time.sleep(0.2)
            good = writer.submit(Change(labels={keys[5]: True}))
            bad = writer.submit(Change(labels={"no-such-key": True}))
            cancelled = writer.submit(Change(unlabeled={keys[5]: "should never be stored"}))
            assert cancelled.cancel()
        assert good.result(10) > 0
        with pytest.raises(KeyError, match="no stored item"):
            bad.result(10)
    finally:
        writer.close()
    rows = store.lookup(keys)
    assert [rows[key].label for key in keys] == [True, False, False, False, True, True]
    assert rows[keys[5]].status == "labeled" and rows[keys[5]].reason is None  # the cancelled change was skipped
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(Change())
    store.close()


def test_reads_from_other_threads_see_only_committed_rows(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    [key] = pending(store, "a")
    seen: list[object] = []
    with store._transaction(write=True) as conn:  # a write under way, not committed yet
        conn.execute("UPDATE labels SET status = 'labeled', label_json = 'true' WHERE key = ?", (key,))
        reader = asyncio.run(asyncio.to_thread(store.lookup_at, [key]))
        seen.append(reader[0][key].status)
    assert seen == ["pending"] and store.lookup([key])[key].status == "labeled"
    store.close()


def test_settled_labels_beyond_the_memory_table_are_read_from_the_store(tmp_path):
    """A table of one label: the other items are answered from SQLite, the same labels, no second LLM call."""

    async def run() -> tuple[list[list[str]], int]:
        labeller = OfflineLabeller()
        annotator = Annotator(LabelStore(tmp_path / "labels.sqlite"), labeller, tasks={"helpful": tasks.HELPFUL},
                              cache_size=1)
        await annotator.start()
        try:
            rounds = [[r.status for r in await annotator.annotate("helpful", MESSAGES)]]
            for _ in range(500):
                if len(await annotator.labels_since("helpful", 0)) == 3:
                    break
                await asyncio.sleep(0.01)
            answers = [await annotator.annotate("helpful", MESSAGES) for _ in range(2)]
            rounds += [[r.status for r in answer] for answer in answers]
            assert answers[0] == answers[1] and len(annotator._known) == 1
            committed = LabelStore(tmp_path / "labels.sqlite").lookup([r.id for r in answers[0]])
            assert [committed[r.id].label for r in answers[0]] == [r.label for r in answers[0]]  # as answered
            assert annotator.cursor == max(row.seq for row in committed.values())
        finally:
            await annotator.close()
        return rounds, labeller.items

    rounds, asked = asyncio.run(run())
    assert rounds == [["pending"] * 3, ["labeled"] * 3, ["labeled"] * 3] and asked == 3


def test_load_benchmark_reports_its_own_cpu_share_with_clients_in_processes():
    """The benchmark runs its clients in 2 processes and says how busy they were (its figures are not tested)."""
    command = [sys.executable, str(ROOT / "scripts" / "bench_annotate.py"), "--items", "400", "--clients", "4",
               "--client-processes", "2", "--delay-ms", "0", "--timeout", "60"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr  # 1: latency targets missed on a busy machine, still a report
    report = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    assert report["lost"] == 0 and report["requests"] == 4 * 4  # 100 items each, 32 per request
    assert report["llm_calls"] <= report["unique_items"] and report["labeled"] == report["unique_items"]
    cpu = report["cpu"]
    assert cpu["load_generator_processes"] == 2 and 0 < cpu["load_generator_core_share"] <= 2 * cpu["cores"]
    assert isinstance(cpu["load_generator_saturated"], bool) and cpu["server_core_share"] > 0
