"""The records that cross the synthesis modules, one definition each, and how they are read from a run.

Dict-shaped records (the code-built summary, edits, lessons, progress events, best/summary.json) are
TypedDicts: they are JSON as written in `runs/` and as shown in prompts, so the layout stays byte for byte
what old runs hold. Records with behaviour (the design context, a design, an analysis) are dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict, get_type_hints

from autoreward.errors import UsageError
from autoreward.io import check_shape, read_json


# ----- the analyzer's inputs: the code-built summary, lessons, edits ---------------------------------------------
class ComponentStats(TypedDict):
    """One reward component over training (`summary["components"][name]`)."""

    mean_series: list[float | None]
    final_mean: float | None
    final_share: float | None
    min: float
    max: float
    constant: bool


class Summary(TypedDict, total=False):
    """`build_summary`'s output: a candidate's training, evaluation and failed episodes, for prompts and rules.

    The loop adds "candidate" ({"round", "candidate", "success_rate", "mean_return"}) for the best one."""

    missing: list[str]  # files that were absent or unreadable
    flags: list[str]  # e.g. "reward rose while success fell"
    reward_code: str
    training: dict[str, Any] | None  # rollouts, steps, *_series, success_rate_final/max, stopped
    components: dict[str, ComponentStats]
    constant_components: list[str]
    never_triggered: list[str]
    dominant_component: dict[str, Any] | None  # {"component", "share"}
    evaluation: dict[str, Any] | None  # success_rate, mean_return, episodes, episode_length, failure_causes, greedy
    failure_causes: dict[str, int]
    failed_trajectories: list[dict[str, Any]]  # {"episode", "outcome", "length", "steps", "final"}
    candidate: dict[str, Any]


class Edit(TypedDict, total=False):
    """One change the analysis asks of the next reward: op is scale | drop | add | set."""

    op: str
    component: str
    factor: float  # scale (and add of a component already present)
    weight: float  # add, set
    reason: str


class Lesson(TypedDict):
    """What a candidate's structural changes did to success against its parent's (`comparison.lessons`)."""

    candidate: str  # "R/K"
    parent: str
    changes: list[str]
    success: float
    parent_success: float
    effect: float  # success minus the parent's
    text: str


# ----- the analysis ------------------------------------------------------------------------------------------------
@dataclass
class Analysis:
    """Why the run went as it did and what to change; `text` is the markdown the next designer reads."""

    causes: list[str]
    unwanted: list[str]
    edits: list[Edit]
    text: str
    prompt: str = ""
    response: str = ""
    lessons: list[Lesson] = field(default_factory=list)  # what structural changes did to success
    comparison: list[str] = field(default_factory=list)  # the best against the baseline and earlier rounds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, path: Path) -> Analysis:
        """An analysis.json written by `to_dict`; a damaged one (not JSON, a field missing or of the wrong type)
        is a UsageError naming it."""
        data = read_json(path) or {}
        check_shape(data, get_type_hints(cls), str(path))
        missing = [f.name for f in fields(cls) if f.name not in data and f.default is MISSING
                   and f.default_factory is MISSING]
        if missing:
            raise UsageError(f"{path} has no {', '.join(missing)}: the file is damaged")
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


# ----- the designer's inputs and answers ---------------------------------------------------------------------------
@dataclass
class DesignContext:
    """What the designer knows when it writes one candidate (and the analyzer when it reads one)."""

    task: str
    task_text: str  # the task's goal in words
    card_text: str  # `reward.contract.describe_task(task)`: goal, actions, contract, State API, an example
    round: int
    candidate: int
    seed: int
    best_code: str | None = None  # refinement: the best reward so far ...
    best_summary: Summary | None = None  # ... its code-built summary (summary.build_summary) ...
    analysis: Analysis | None = None  # ... and the analysis of its run
    parent: str | None = None  # "R/K" of the best code
    tried: list[list[str]] = field(default_factory=list)  # structures trained in earlier rounds (synth.structure)
    baseline: dict | None = None  # the task reward alone: {"success_rate", "mean_return"}, same seed and budget

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["analysis"] = self.analysis.to_dict() if self.analysis is not None else None
        return data


@dataclass
class Design:
    """One designer answer: what was asked, what came back, the code in it (None when there was none)."""

    prompt: str
    response: str
    code: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----- the loop's progress events (what `iterate(on_event=...)` receives) ------------------------------------------
Events = Callable[[str, Mapping[str, Any]], None]  # (event name, one of the records below): the CLI shows them


class RunEvent(TypedDict):
    """"run": the run started or resumed."""

    dir: str
    config: dict[str, Any]
    resumed: bool


class RoundEvent(TypedDict):
    """"round": round `round` of `rounds` starts."""

    round: int
    rounds: int


class CandidateEvent(TypedDict, total=False):
    """"candidate": a candidate reached a stage (designing, repair N, checking, reviewing, training, a status)."""

    round: int
    candidate: int
    stage: str
    record: dict[str, Any]  # its CandidateRecord, once final
    train_dir: str  # training: where it trains ...
    steps: int  # ... for how many steps


def training_success(record: Mapping[str, Any]) -> float | None:
    """A metrics.jsonl record's training success: over the last episodes ended (train.config.RECENT_EPISODES),
    or, in records written before that was kept, over the rollout's own episodes (few on long tasks)."""
    return record.get("recent_success_rate", record.get("success_rate"))


class TrainingEvent(TypedDict, total=False):
    """"training": a running training's progress, read from its metrics.jsonl."""

    round: int
    candidate: int
    steps: int
    done: int
    success_rate: float | None  # over the last `episodes` episodes ended (train.config.RECENT_EPISODES at most)
    episodes: int | None
    sps: float | None


class BaselineEvent(TypedDict, total=False):
    """"baseline": the task reward alone is training (stage, steps) or its figures are known."""

    stage: str
    steps: int
    success_rate: float | None
    mean_return: float | None
    train_seconds: float | None
    sps: float | None
    cached: bool | None
    dir: str | None


class RoundDoneEvent(TypedDict):
    """"round_done": the best candidate so far (a CandidateRecord dict) after round `round`."""

    round: int
    best: dict[str, Any] | None
    baseline: dict[str, Any] | None


class ConfirmEvent(TypedDict):
    """"confirm": the confirmation trainings start."""

    seeds: list[int]
    entries: list[str]
    done: int
    total: int


class ConfirmedEvent(TypedDict, total=False):
    """"confirmed": one confirmation training finished."""

    name: str
    seed: int
    done: int
    total: int
    success_rate: float
    mean_return: float
    steps: int | None
    error: str


class EndEvent(TypedDict):
    """"end": the run ended with `status` (finished, stopped, budget, interrupted, failed)."""

    status: str
    dir: str


# ----- the run summary: best/summary.json ------------------------------------------------------------------------
class BestSoFar(TypedDict):
    """best/summary.json while the run goes on: the best candidate so far and its summary."""

    round: int
    candidate: int
    success_rate: float | None
    mean_return: float | None
    steps: int | None
    summary: Summary


class RunSummary(TypedDict):
    """best/summary.json at the end, and the "answer" event: the reward handed back, or the baseline."""

    answer: str  # "candidate" | "baseline"
    round: int | None
    candidate: int | None
    success_rate: float | None
    mean_return: float | None
    baseline: dict[str, float]  # {"success_rate", "mean_return"} of the task reward alone
    gain: float
    message: str
    confirmation: dict[str, Any] | None  # {"seeds", "steps", "eval_episodes", "entries"}
    evidence: dict[str, Any] | None  # synth.evidence.Evidence of the best reward against the baseline; None: none
    steps: int
    reward: str | None  # path of best/reward.py when a reward is the answer
    summary: Summary | dict


#: The keys of best/summary.json that both shapes share or that readers show, and their types.
BEST_SHAPE = {"answer": str, "round": int | None, "candidate": int | None, "success_rate": float | None,
              "mean_return": float | None, "gain": float | None, "message": str, "baseline": dict | None,
              "confirmation": dict | None, "evidence": dict | None, "steps": int | None, "reward": str | None}


def read_best(path: Path) -> RunSummary | BestSoFar | None:
    """best/summary.json (either shape), or None when the run has none yet; a damaged one is a UsageError."""
    best = read_json(path)
    if best is not None:
        check_shape(best, BEST_SHAPE, str(path))
    return best  # type: ignore[return-value]

