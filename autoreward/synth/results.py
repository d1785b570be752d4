"""What a candidate's training gave: its figures recorded, or copied from an identical twin, and its progress."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from autoreward.synth.jobs import RetryableJobError
from autoreward.synth.records import training_success
from autoreward.synth.store import CandidateRecord, RunStore

RETRY = "retryable: `autoreward iterate --resume RUN_DIR` trains it again"


def gain(record: CandidateRecord, baseline: dict[str, Any] | None) -> float | None:
    """Success above the task reward alone (same seed and budget); None while the baseline is not known."""
    if baseline is None or record.success_rate is None:
        return None
    return round(record.success_rate - baseline["success_rate"], 4)


def record_training(store: RunStore, record: CandidateRecord, future: Future,
                    baseline: dict[str, Any] | None = None) -> None:
    """The figures of a finished training (or why it failed) into the candidate's record."""
    try:
        figures = future.result()
    except RetryableJobError as exc:  # its machine failed, not its code: the run goes on, a resume retries it
        record.status, record.retryable = "failed", True
        record.reason = f"training lost with its machine ({RETRY}): {exc}"
    except Exception as exc:  # noqa: BLE001 - a crashed worker: the candidate failed, the run goes on
        record.status, record.reason = "failed", f"training crashed: {type(exc).__name__}: {exc}"
    else:
        record.node_id, record.hostname = figures.get("node_id"), figures.get("hostname")
        record.steps, record.train_seconds, record.sps = figures["steps"], figures["train_seconds"], figures["sps"]
        if figures.get("stopped_reason"):
            record.status, record.reason = "failed", f"training stopped: {figures['stopped_reason']}"
        else:
            record.status = "evaluated"
            record.success_rate, record.mean_return = figures["success_rate"], figures["mean_return"]
            record.gain = gain(record, baseline)
    store.write_candidate(record)


def reuse_twin(store: RunStore, record: CandidateRecord) -> bool:
    """A reward identical to one already evaluated in this run is not trained again: its results are copied.

    Same code, task, seed and budget give the same training; the offline designer repeats a reward it has
    no edits for. The copy says where it came from (`duplicate_of`).
    """
    folder = store.candidate_dir(record.round, record.candidate)
    code = (folder / "reward.py").read_bytes()
    for twin in store.candidates():
        source = store.candidate_dir(twin.round, twin.candidate)
        if twin.status != "evaluated" or twin.duplicate_of or source == folder or \
                (source / "reward.py").read_bytes() != code:
            continue
        shutil.rmtree(folder / "train", ignore_errors=True)
        shutil.copytree(source / "train", folder / "train", ignore=shutil.ignore_patterns("policy.zip"))
        for name in ("eval.json", "trajectories.jsonl"):
            shutil.copyfile(source / name, folder / name)
        record.status, record.duplicate_of = "evaluated", f"{twin.round}/{twin.candidate}"
        record.success_rate, record.mean_return, record.steps = twin.success_rate, twin.mean_return, twin.steps
        record.train_seconds, record.sps = 0.0, twin.sps
        store.write_candidate(record)
        return True
    return False



def training_progress(folder: Path) -> dict[str, Any]:
    """Steps done, and the success rate over the last episodes ended (records.training_success) with their number,
    from the last line of a running training's metrics.jsonl."""
    path = folder / "train" / "metrics.jsonl"
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4096))
            last = handle.read().splitlines()[-1]
        record = json.loads(last)
    except (OSError, IndexError, ValueError):
        return {"done": 0}
    return {"done": int(record.get("steps", 0)), "success_rate": training_success(record),
            "episodes": record.get("recent_episodes"), "sps": record.get("sps")}
