"""Jobs without a shared filesystem (ship, run on the node, place on the driver), the local executor's jobs, and
how a retryable failure is recorded and resumed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest

from autoreward.synth.executor import LocalExecutor
from autoreward.synth.jobs import WORK_PREFIX, Job, RetryableJobError, place, run_shipped, settle, ship, sweep_abandoned
from autoreward.synth.results import record_training
from autoreward.synth.store import CandidateRecord, IterateConfig, RunStore


def shout(source: str, out: str, times: int) -> dict:
    """A job: reads `source`, writes its text shouted `times` times under `out`; where it read it from."""
    text = Path(source).read_text()
    (Path(out) / "deep").mkdir(parents=True)
    (Path(out) / "loud.txt").write_text(text.upper() * times)
    (Path(out) / "deep" / "bytes.bin").write_bytes(bytes(range(256)))
    return {"read_from": source, "length": len(text)}


def test_a_shipped_job_reads_its_inputs_bytes_and_its_files_come_back(tmp_path):
    source = tmp_path / "driver" / "reward.py"
    source.parent.mkdir()
    source.write_text("hello ")
    out = tmp_path / "run" / "cand"
    shipped = ship(Job(fn=shout, kwargs={"source": str(source), "out": str(out), "times": 2},
                       inputs=("source",), output="out", label="cand 0/1"))
    source.unlink()  # the node cannot see the driver's files: it has the bytes
    figures, files = run_shipped(shipped)
    assert figures["length"] == 6 and figures["read_from"] != str(source)
    assert not Path(figures["read_from"]).exists()  # the node's temporary folder is gone
    assert files == {"loud.txt": b"HELLO HELLO ", "deep/bytes.bin": bytes(range(256))}
    assert not out.exists()  # nothing written on the driver until it places the files

    place(files, out)
    assert (out / "loud.txt").read_bytes() == b"HELLO HELLO " and (out / "deep" / "bytes.bin").stat().st_size == 256
    assert sorted(p.name for p in out.parent.iterdir()) == ["cand"]  # no staging folder left


def test_placing_into_a_folder_keeps_its_files_and_replaces_what_the_job_wrote(tmp_path):
    out = tmp_path / "cand"
    (out / "train").mkdir(parents=True)
    (out / "reward.py").write_text("# the loop's file\n")
    (out / "train" / "stale.txt").write_text("from an earlier attempt")
    place({"train/metrics.jsonl": b"{}\n", "eval.json": b"{}"}, out)
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == \
        {"reward.py", "train/metrics.jsonl", "eval.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cand"]
    with pytest.raises(ValueError, match="outside"):
        place({"../escape.txt": b"x"}, out)
    assert not (tmp_path / "escape.txt").exists()


def test_the_local_executor_runs_a_job_in_place_then_its_last_step(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("ab")
    pool = LocalExecutor(1)
    try:
        future = pool.run(Job(fn=shout, kwargs={"source": str(source), "out": str(tmp_path / "o"), "times": 1},
                              inputs=("source",), output="out", then=lambda f: {**f, "kept": True}))
        figures = future.result(timeout=120)
    finally:
        pool.shutdown()
    assert figures["read_from"] == str(source) and figures["kept"] is True  # same filesystem: no shipping
    assert (figures["node_id"], figures["hostname"]) == (None, socket.gethostname())
    assert (tmp_path / "o" / "loud.txt").read_text() == "AB"


def test_settle_passes_on_the_step_error():
    source: Future = Future()
    settled = settle(source, lambda done: done.result() + 1)
    source.set_exception(RetryableJobError("node gone"))
    with pytest.raises(RetryableJobError):
        settled.result(timeout=1)


def test_a_lost_training_is_a_retryable_failure_that_resume_does_not_take_as_final(tmp_path):
    store = RunStore.create(IterateConfig(task="MiniHack-Room-5x5-v0", out=str(tmp_path)))
    record = CandidateRecord(0, 0, status="accepted")
    lost: Future = Future()
    lost.set_exception(RetryableJobError("WorkerCrashedError: the worker died"))
    record_training(store, record, lost)
    saved = store.read_candidate(0, 0)
    assert (saved.status, saved.retryable, saved.final) == ("failed", True, False)
    assert "--resume" in saved.reason and "WorkerCrashedError" in saved.reason
    crashed: Future = Future()
    crashed.set_exception(ValueError("bad reward"))
    record_training(store, CandidateRecord(0, 1, status="accepted"), crashed)
    assert store.read_candidate(0, 1).final and not store.read_candidate(0, 1).retryable


def test_the_work_folders_of_killed_jobs_are_swept_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    abandoned = tmp_path / f"{WORK_PREFIX}{dead.pid}-candidate-0-0-x1"
    live = tmp_path / f"{WORK_PREFIX}{os.getpid()}-candidate-0-1-x2"
    other = tmp_path / "autoreward-worker-x3"  # not a job's folder
    for folder in (abandoned, live, other):
        (folder / "inputs").mkdir(parents=True)
    assert sweep_abandoned(tmp_path) == [abandoned]
    assert not abandoned.exists() and live.is_dir() and other.is_dir()
