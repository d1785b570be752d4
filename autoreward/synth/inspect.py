"""`autoreward inspect`: what a run did, as plain records (the CLI prints them as tables or JSON)."""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from autoreward.errors import UsageError
from autoreward.io import read_jsonl
from autoreward.synth.records import read_best
from autoreward.synth.store import RunStore


def run_overview(root: str | Path) -> dict[str, Any]:
    """The run's config and status, every candidate's record and LLM cost, and the best candidate."""
    store = RunStore.open(root)
    run = store.read_run()
    calls = read_jsonl(store.calls_path) if store.calls_path.is_file() else []
    best = read_best(store.root / "best" / "summary.json")
    return {
        "dir": str(store.root), "status": run.get("status"), "config": run.get("config"),
        "started": run.get("started"), "ended": run.get("ended"),
        "candidates": [asdict(c) for c in store.candidates()],
        "best": None if best is None else {k: best.get(k) for k in ("answer", "round", "candidate", "success_rate",
                                                                   "mean_return", "baseline", "gain", "message")},
        "baseline": _json(store.root / "baseline.json"),
        "confirmation": _json(store.root / "confirm" / "summary.json"),
        "llm": {"calls": sum(1 for c in calls if not c.get("cached")),
                "cached": sum(1 for c in calls if c.get("cached")),
                "cost": round(sum(float(c.get("cost") or 0.0) for c in calls), 6)},
    }


def candidate_detail(root: str | Path, which: str) -> dict[str, Any]:
    """One candidate (`R/K`): its record, code, verdict and the analysis of its round."""
    store = RunStore.open(root)
    r, k = parse_candidate(which)
    folder = store.candidate_dir(r, k)
    if not folder.is_dir():
        raise UsageError(f"no candidate {which} in {root}")
    return {
        "record": asdict(store.read_candidate(r, k)),
        "code": _text(folder / "reward.py"),
        "verdict": json.loads(_text(folder / "verdict.json") or "null"),
        "eval": _eval_digest(folder / "eval.json"),
        "analysis": _text(store.round_dir(r) / "analysis.md"),
    }


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
    return "".join(difflib.unified_diff(texts[0].splitlines(keepends=True), texts[1].splitlines(keepends=True),
                                        fromfile=f"{a}/reward.py", tofile=f"{b}/reward.py"))


def parse_candidate(text: str) -> tuple[int, int]:
    try:
        r, k = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"a candidate is written ROUND/CANDIDATE, e.g. 0/1 (got {text!r})") from None
    return r, k


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _eval_digest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: data.get(k) for k in ("episodes", "success_rate", "mean_return", "episode_length", "failure_causes")}
