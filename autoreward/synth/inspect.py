"""`autoreward inspect` and `autoreward report`: what a run (or one training) did, as plain records.

The one reader of the run layout (autoreward.synth.store) for people: the CLI prints these records as tables or
JSON, and the HTML report (autoreward.report) draws its plots from the same records. Files that are missing
(a run still going, or interrupted) are None or empty, never an error.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, get_type_hints

from autoreward.env.registry import card_for
from autoreward.errors import UsageError
from autoreward.io import Shape, check_shape, read_json, refuse_links_leaving
from autoreward.reward.critic import Verdict
from autoreward.synth.records import read_best
from autoreward.synth.store import RunStore

#: The types of the records' keys that people are shown: a file whose values differ is named as damaged.
EVAL_SHAPE: Shape = {"episodes": int, "success_rate": float, "mean_return": float,
                     "episode_length": {"mean": float | None}, "failure_causes": dict[str, int]}
BASELINE_SHAPE: Shape = {"success_rate": float | None, "mean_return": float | None, "steps": int | None,
                         "train_seconds": float | None, "sps": float | None}
CONFIRM_SHAPE: Shape = {"seeds": list[int], "steps": int, "eval_episodes": int, "entries": [{
    "name": str, "mean_success": float, "mean_return": float,
    "per_seed": [{"seed": int, "success_rate": float, "mean_return": float, "error": str}]}]}
TRAIN_SHAPE: Shape = {"config": dict | None, "result": dict | None, "versions": dict | None}
METRICS_SHAPE: Shape = {"steps": int, "sps": float | None, "success_rate": float | None,
                        "task_return_mean": float | None, "components": dict[str, dict[str, float | None]]}
EPISODE_SHAPE: Shape = {"episode": int | None, "length": int | None, "outcome": str | None, "steps": list,
                        "final": str | None}
CALL_SHAPE: Shape = {"prompt_tokens": int | None, "completion_tokens": int | None, "cost": float | None}


def run_overview(root: str | Path) -> dict[str, Any]:
    """The run's config and status, every candidate's record and LLM cost, and the best candidate."""
    store = RunStore.open(root)
    run = store.read_run()
    calls = read_records(store.calls_path, CALL_SHAPE)
    best = read_best(store.root / "best" / "summary.json")
    config = run.get("config") or {}
    return {
        "dir": str(store.root), "status": run.get("status"), "config": config,
        "task_text": config.get("description") or _goal(config.get("task")),
        "started": run.get("started"), "ended": run.get("ended"),
        "candidates": [asdict(c) for c in store.candidates()],
        "best": None if best is None else {k: best.get(k) for k in ("answer", "round", "candidate", "success_rate",
                                                                   "mean_return", "baseline", "gain", "evidence",
                                                                   "message")},
        "baseline": _json(store.root / "baseline.json", BASELINE_SHAPE),
        "confirmation": _json(store.root / "confirm" / "summary.json", CONFIRM_SHAPE),
        "llm": {"calls": sum(1 for c in calls if not c.get("cached")),
                "cached": sum(1 for c in calls if c.get("cached")),
                "tokens": sum(int(c.get("prompt_tokens") or 0) + int(c.get("completion_tokens") or 0)
                              for c in calls if not c.get("cached")),
                "cost": round(sum(float(c.get("cost") or 0.0) for c in calls), 6)},
    }


def candidate_detail(root: str | Path, which: str) -> dict[str, Any]:
    """One candidate (`R/K`): its record, code and the diff from its parent's, verdict and review, evaluation,
    evaluated episodes, training metrics (one record per rollout) and the analysis of its round."""
    store = RunStore.open(root)
    r, k = parse_candidate(which)
    folder = store.candidate_dir(r, k)
    if not folder.is_dir():
        raise UsageError(f"no candidate {which} in {root}")
    record = store.read_candidate(r, k)
    code = _text(folder / "reward.py")
    parent_code = None
    if record.parent:
        try:
            pr, pk = parse_candidate(record.parent)
        except UsageError:
            raise UsageError(f"{folder / 'candidate.json'}: parent {record.parent!r} is no ROUND/CANDIDATE: the file "
                             "is damaged") from None
        parent_code = _text(store.candidate_dir(pr, pk) / "reward.py")
    return {
        "record": asdict(record),
        "code": code,
        "parent_diff": None if code is None or parent_code is None else
        code_diff(parent_code, code, f"{record.parent}/reward.py", f"{which}/reward.py"),
        "verdict": _json(folder / "verdict.json", get_type_hints(Verdict)),
        "review": _text(folder / "review.md"),
        "eval": _eval_digest(folder / "eval.json"),
        "trajectories": read_records(folder / "trajectories.jsonl", EPISODE_SHAPE),
        "metrics": read_records(folder / "train" / "metrics.jsonl", METRICS_SHAPE),
        "analysis": _text(store.round_dir(r) / "analysis.md"),
    }


def training_detail(folder: str | Path) -> dict[str, Any]:
    """An `autoreward train` output folder: its config and result (train.json, None while it runs), metrics,
    and the evaluation with its episodes when it was evaluated."""
    folder = Path(folder)
    if not is_training_dir(folder):
        raise UsageError(f"{str(folder)!r} is neither a run directory (run.json) nor a training folder "
                         "(train.json or metrics.jsonl)")
    refuse_links_leaving(folder)
    saved = _json(folder / "train.json", TRAIN_SHAPE) or {}
    return {"dir": str(folder), "config": saved.get("config"), "result": saved.get("result"),
            "versions": saved.get("versions"), "metrics": read_records(folder / "metrics.jsonl", METRICS_SHAPE),
            "eval": _eval_digest(folder / "eval.json"),
            "trajectories": read_records(folder / "trajectories.jsonl", EPISODE_SHAPE)}


def is_training_dir(folder: str | Path) -> bool:
    """Whether `folder` is a training's output (train.json or metrics.jsonl) rather than a run (run.json)."""
    folder = Path(folder)
    return not (folder / "run.json").is_file() and any((folder / n).is_file() for n in ("train.json", "metrics.jsonl"))


def diff_candidates(root: str | Path, a: str, b: str) -> str:
    """A unified diff of two candidates' reward files."""
    store = RunStore.open(root)
    texts = []
    for which in (a, b):
        r, k = parse_candidate(which)
        code = _text(store.candidate_dir(r, k) / "reward.py")
        if code is None:
            raise UsageError(f"candidate {which} has no reward.py in {root}")
        texts.append(code)
    return code_diff(texts[0], texts[1], f"{a}/reward.py", f"{b}/reward.py")


def code_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two reward files ("" when they are the same)."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=old_name, tofile=new_name))


def parse_candidate(text: str) -> tuple[int, int]:
    try:
        r, k = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"a candidate is written ROUND/CANDIDATE, e.g. 0/1 (got {text!r})") from None
    return r, k


def read_records(path: Path, shape: Shape | None = None) -> list[dict[str, Any]]:
    """The records of a JSONL file; [] when it is missing. A last line still being written is left out; any other
    line that is not a JSON object (of `shape`, when given) is a UsageError naming the file and the line."""
    if not path.is_file():
        return []
    records = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    for number, line in enumerate(lines):
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as exc:
            if number == len(lines) - 1 and not line.endswith("\n"):
                break  # a writer's append in progress
            raise UsageError(f"{path}, line {number + 1}, is not JSON ({exc.msg}): the file is damaged") from exc
        if record is not None and not isinstance(record, dict):
            raise UsageError(f"{path}, line {number + 1}, is not a JSON object: the file is damaged")
        if record is not None:
            check_shape(record, shape or {}, f"{path}, line {number + 1}")
            records.append(record)
    return records


def _goal(task: str | None) -> str | None:
    """The env card's goal for `task` (what the designer was told when the run gave no task text)."""
    if not task:
        return None
    try:
        return card_for(task).task(task).goal.strip()
    except UsageError:
        return None


def _json(path: Path, shape: Shape) -> dict[str, Any] | None:
    """The JSON object in `path` (None when missing), checked against `shape`: a damaged one is a UsageError."""
    data = read_json(path)
    if data is not None:
        check_shape(data, shape, str(path))
    return data


def _text(path: Path) -> str | None:
    """The text in `path` (bytes that are not UTF-8 shown as U+FFFD), or None when there is no such file."""
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def _eval_digest(path: Path) -> dict[str, Any] | None:
    data = _json(path, EVAL_SHAPE)
    if data is None:
        return None
    return {k: data.get(k) for k in ("episodes", "success_rate", "mean_return", "episode_length", "failure_causes")}
