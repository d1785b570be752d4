"""The run directory: where every prompt, response, reward, verdict, metric and analysis lands.

    runs/<run_id>/run.json                         config, versions, status
    runs/<run_id>/rounds/<r>/candidates/<k>/       prompt.md response.md reward.py verdict.json candidate.json
                                                   train/ (metrics.jsonl, policy.zip) eval.json trajectories.jsonl
    runs/<run_id>/rounds/<r>/analysis.md, summary.json
    runs/<run_id>/best/reward.py, summary.json
    runs/<run_id>/llm/calls.jsonl, cache.sqlite
    runs/<run_id>/.lock                            held (flock) by the process running the run

Every file is written atomically; `candidate.json` records how far a candidate got, which is what resuming reads.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_type_hints

from autoreward.errors import UsageError
from autoreward.io import (
    check_shape,
    printable,
    read_json,
    read_jsonl,
    refuse_links_leaving,
    write_json_atomic,
    write_text_atomic,
)
from autoreward.paths import task_slug
from autoreward.synth.evidence import SIGNIFICANCE
from autoreward.synth.records import BestSoFar, Summary
from autoreward.train.config import DEFAULT_ENVS

#: Candidate statuses. A candidate in a final status is never redone on resume, except a `retryable` failure.
FINAL = ("rejected", "failed", "evaluated")
#: Where trainings run: this machine's process pool, or a Ray cluster (synth.ray_executor).
EXECUTORS = ("local", "ray")


@dataclass
class IterateConfig:
    """Everything `autoreward iterate` depends on (saved in run.json; `--resume` reads it back)."""

    task: str
    description: str | None = None  # the task text; default: the env card's goal
    llm: str = "offline"  # a litellm model string, or "offline" for the rule-based roles
    rounds: int = 3
    candidates: int = 2  # per round
    steps: int = 150_000  # training steps per candidate
    eval_episodes: int = 50
    repairs: int = 2  # designer repairs after a rejection, per candidate
    seed: int = 0
    device: str = "auto"
    out: str = "runs"
    workers: int = 0  # trainings at once with the local executor: 0 = min(candidates, CPU cores)
    executor: str = "local"  # local | ray (EXECUTORS)
    ray_address: str | None = None  # with executor ray: "auto", HOST:PORT, or None (RAY_ADDRESS, else a local Ray)
    gpus_per_candidate: float = 0.0  # with executor ray: each training's num_gpus (fractions share a GPU)
    train_envs: int = DEFAULT_ENVS
    probe_transitions: int = 256
    confirm_seeds: int = 3  # the top candidates and the baseline are retrained on this many fresh seeds (0: off)
    confirm_top: int = 2  # how many of the best candidates are confirmed
    confirm_seed_list: list[int] = field(default_factory=list)  # those seeds; empty: seed+1 .. seed+confirm_seeds
    # a reward's higher success is a gain only at this one-sided p-value or below (synth.evidence; 1: any gain)
    significance: float = SIGNIFICANCE
    baselines: str | None = None  # cache of task-reward-alone trainings shared by runs; None: <out>/baselines
    max_llm_calls: int | None = None
    max_llm_cost: float | None = None  # USD
    llm_api_base: str | None = None
    llm_timeout_s: float = 60.0
    # Where the task's card comes from when it is not built in (autoreward.env.registry.source_of): a plugin's
    # module:attr and import folder, or a custom level's whole text, so that resuming rebuilds the same task.
    card: dict[str, Any] | None = None

    @property
    def seeds_to_confirm(self) -> list[int]:
        if self.confirm_seed_list:
            return list(self.confirm_seed_list)
        return [self.seed + 1 + i for i in range(self.confirm_seeds)]

    @property
    def baseline_cache(self) -> str:
        return self.baselines or str(Path(self.out) / "baselines")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IterateConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class CandidateRecord:
    """How far one candidate got and what it reached (candidate.json)."""

    round: int
    candidate: int
    status: str = "new"  # new | accepted | rejected | failed | evaluated
    reason: str | None = None  # why rejected or failed
    attempts: int = 0  # designer calls (1 + repairs)
    success_rate: float | None = None
    mean_return: float | None = None
    steps: int | None = None
    train_seconds: float | None = None
    sps: float | None = None
    duplicate_of: str | None = None  # "R/K": same code as that candidate, whose results were reused
    llm_calls: int = 0  # LLM calls made to design, repair and review it (cache hits not counted)
    llm_cost: float = 0.0  # USD
    warnings: list[str] = field(default_factory=list)
    parent: str | None = None  # "R/K": the candidate this one was designed from (None: from the task alone)
    structure: list[str] = field(default_factory=list)  # its components and distance kind (synth.structure)
    changes: list[str] = field(default_factory=list)  # how its structure differs from the parent's
    gain: float | None = None  # success_rate minus the baseline's (task reward alone), same seed and budget
    retryable: bool = False  # failed because its machine failed (a Ray node died), not its code: resume retries it
    node_id: str | None = None  # the Ray node that trained it (None: the local process pool)
    hostname: str | None = None  # the machine that trained it

    @property
    def name(self) -> str:
        return f"{self.round}/{self.candidate}"

    @property
    def final(self) -> bool:
        return self.status in FINAL and not self.retryable

    @classmethod
    def read(cls, path: Path, r: int, k: int) -> CandidateRecord:
        """The candidate.json of candidate `r/k`; fields an older version did not write take their defaults. A
        damaged one (not JSON, a field of the wrong type, another candidate's record) is a UsageError."""
        data = read_json(path) or {}
        check_shape(data, get_type_hints(cls), str(path))
        if (data.get("round", r), data.get("candidate", k)) != (r, k):
            raise UsageError(f"{path} is the record of candidate {data.get('round', r)}/{data.get('candidate', k)}, "
                             f"not {r}/{k}: the file is damaged")
        return cls(**{"round": r, "candidate": k, **{f.name: data[f.name] for f in fields(cls) if f.name in data}})

    def rank_key(self) -> tuple[float, float, float]:
        """Selection order: evaluated task success, then mean task return, then fewer steps (never the reward)."""
        return (self.success_rate or 0.0, self.mean_return if self.mean_return is not None else -1e9,
                -(self.steps or 0))


class RunStore:
    """Paths and atomic reads/writes of one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def create(cls, config: IterateConfig) -> RunStore:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        task = task_slug(config.task)
        base = Path(config.out) / f"{stamp}-{task}-{'offline' if config.llm == 'offline' else 'llm'}"
        root, n = base, 1
        while root.exists():
            n += 1
            root = base.with_name(f"{base.name}-{n}")
        root.mkdir(parents=True)
        return cls(root)

    @classmethod
    def open(cls, root: str | Path) -> RunStore:
        store = cls(root)
        if not (store.root / "run.json").is_file():
            raise UsageError(f"{str(root)!r} is not a run directory (no run.json)")
        refuse_links_leaving(store.root)
        return store

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's lock while the block runs: a second `iterate` on this run (a resume while it still
        runs) is refused, naming the holder, instead of both writing it. The OS drops the lock if we die."""
        handle = open(self.root / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 (held for the block)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = printable(handle.read(200).strip()) or "another process"
                raise UsageError(f"{self.root} is being run by {holder}: wait for it to end (or stop it) before "
                                 "resuming it") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
            handle.flush()
            yield
        finally:
            handle.close()

    # ----- run --------------------------------------------------------------------------------------
    def read_run(self) -> dict[str, Any]:
        """run.json; a damaged one (not JSON, no config, a value of the wrong type) is a UsageError naming it."""
        path = self.root / "run.json"
        run = read_json(path)
        if run is None:
            raise UsageError(f"{str(self.root)!r} is not a run directory (no run.json)")
        check_shape(run, {"config": dict, "status": str | None, "started": str | None, "ended": str | None,
                          "resumed": int}, str(path))
        if "task" not in run.get("config", {}):
            raise UsageError(f"{path} has no config with a task: the file is damaged")
        check_shape(run["config"], get_type_hints(IterateConfig), f"{path}: config")
        return run

    def write_run(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.root / "run.json", data)

    def config(self) -> IterateConfig:
        return IterateConfig.from_dict(self.read_run()["config"])

    @property
    def calls_path(self) -> Path:
        return self.root / "llm" / "calls.jsonl"

    # ----- candidates -------------------------------------------------------------------------------
    def round_dir(self, r: int) -> Path:
        return self.root / "rounds" / str(r)

    def candidate_dir(self, r: int, k: int) -> Path:
        return self.round_dir(r) / "candidates" / str(k)

    def read_candidate(self, r: int, k: int) -> CandidateRecord:
        path = self.candidate_dir(r, k) / "candidate.json"
        if not path.is_file():
            return CandidateRecord(round=r, candidate=k)
        return CandidateRecord.read(path, r, k)

    def write_candidate(self, record: CandidateRecord) -> None:
        write_json_atomic(self.candidate_dir(record.round, record.candidate) / "candidate.json", asdict(record))

    def candidates(self) -> list[CandidateRecord]:
        """Every candidate recorded so far, in (round, candidate) order (folders not named by numbers, which the
        loop never writes, are left out)."""
        found = []
        paths = [p for p in (self.root / "rounds").glob("*/candidates/*/candidate.json")
                 if p.parts[-4].isdecimal() and p.parts[-2].isdecimal()]
        for path in sorted(paths, key=lambda p: (int(p.parts[-4]), int(p.parts[-2]))):
            found.append(self.read_candidate(int(path.parts[-4]), int(path.parts[-2])))
        return found

    def llm_totals(self) -> tuple[int, float]:
        """Real (not cached) LLM calls and their cost so far, from llm/calls.jsonl."""
        if not self.calls_path.is_file():
            return 0, 0.0
        calls = [c for c in read_jsonl(self.calls_path) if not c.get("cached") and not c.get("error")]
        return len(calls), sum(float(c.get("cost") or 0.0) for c in calls)

    def write_text(self, relative: str | Path, text: str) -> None:
        write_text_atomic(self.root / relative, text)

    def save_best(self, record: CandidateRecord, summary: Summary) -> None:
        """Copy the winner's reward into best/ with its figures."""
        source = self.candidate_dir(record.round, record.candidate)
        best = self.root / "best"
        best.mkdir(exist_ok=True)
        tmp = best / ".reward.py.tmp"
        shutil.copyfile(source / "reward.py", tmp)
        tmp.replace(best / "reward.py")
        write_json_atomic(best / "summary.json", BestSoFar(round=record.round, candidate=record.candidate,
                                                           success_rate=record.success_rate,
                                                           mean_return=record.mean_return, steps=record.steps,
                                                           summary=summary))
