"""Judgements kept on disk as they come, so that a stopped `calm eval` keeps its work and a rerun resumes it.

A judgements file holds one JSON line per judged transition, appended as soon as the judge has answered:
    {"task": ..., "model": ..., "prompt_version": ..., "transition": "<hash>", "judgement": {name: bool} | null}
`transition` is a hash of what the judge is shown (task, subgoals, rendered text), so a line is reused for the
same question only: same task, model, prompt version and transition (equal transitions of a dataset share one).
`null` is "no judgement" (two answers out of schema): an outcome, not asked again. Lines of other models or
prompts may share the file; a line cut off by a kill is skipped (and its transition judged again).

    store = JudgementStore(path, model="openai/gpt-4o-mini", prompt_version=prompt_version())
    found, judgement = store.get(record)    # (False, None) when not judged yet
    store.add(record, judgement)             # appended at once
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

Judgement = dict[str, bool]


def transition_hash(record: dict[str, Any]) -> str:
    """A hash of what a judge sees of a dataset record: its task, subgoals (names and descriptions) and text."""
    shown = {"task": record["task"], "text": record["text"],
             "subgoals": [[s["name"], s["description"]] for s in record["subgoals"]]}
    canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def default_path(dataset: str | Path, out: str | Path | None = None) -> Path:
    """Where `calm eval` keeps judgements: beside its report (`--out`), else beside the dataset.

    report.json -> report.judgements.jsonl; dataset.jsonl -> dataset.judgements.jsonl.
    """
    base = Path(out if out is not None else dataset)
    return base.with_name(f"{base.stem}.judgements.jsonl")


class JudgementStore:
    """The judgements of one model and prompt version found in a file, and the ones added to it since."""

    def __init__(self, path: str | Path, model: str, prompt_version: str) -> None:
        self.path = Path(path)
        self.model, self.prompt_version = model, prompt_version
        self._judged: dict[tuple[str, str], Judgement | None] = {}
        self.skipped = 0  # lines that could not be read (cut off, or not a judgement)
        self._load()

    def __len__(self) -> int:
        return len(self._judged)

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                mine = entry["model"] == self.model and entry["prompt_version"] == self.prompt_version
                judgement = entry["judgement"]
                if judgement is not None and not (isinstance(judgement, dict)
                                                  and all(isinstance(v, bool) for v in judgement.values())):
                    raise ValueError("not a judgement")
                key = (str(entry["task"]), str(entry["transition"]))
            except (ValueError, KeyError, TypeError):
                self.skipped += 1
                continue
            if mine:
                self._judged[key] = judgement
        if data and not data.endswith(b"\n"):  # a line cut off by a kill: the next one starts on its own line
            with open(self.path, "ab") as handle:
                handle.write(b"\n")

    def get(self, record: dict[str, Any]) -> tuple[bool, Judgement | None]:
        """(True, judgement) when `record`'s transition is judged (judgement None: no judgement), else (False, None)."""
        key = (record["task"], transition_hash(record))
        if key in self._judged:
            return True, self._judged[key]
        return False, None

    def add(self, record: dict[str, Any], judgement: Judgement | None) -> None:
        """Keep `record`'s judgement: appended to the file (one write, flushed) before this returns."""
        task, transition = record["task"], transition_hash(record)
        line = json.dumps({"task": task, "model": self.model, "prompt_version": self.prompt_version,
                           "transition": transition, "judgement": judgement}, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
        self._judged[(task, transition)] = judgement
