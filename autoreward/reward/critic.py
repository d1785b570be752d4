"""The critic: static rules (stage 1), the sandboxed probe on real transitions (stage 2), a review (stage 3).

`critique` is the one entry, called by `autoreward check` and by the synthesis loop: stages 1 and 2 always,
stage 3 when a `Reviewer` is given (`reward.review`: by rules or by an LLM). It stops at the first stage that
finds errors; the verdict's errors are written for the designer to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from autoreward.env.registry import card_for
from autoreward.llm.base import LLMAuthError, LLMBudgetExceeded, LLMError
from autoreward.reward.probe import Episode, ProbeLimits, collect_transitions, component_notes, run_probe
from autoreward.reward.review import Review, Reviewer
from autoreward.reward.static import check_static


@dataclass
class Verdict:
    """The critic's decision (verdict.json): the last stage that ran, its errors and warnings, the probe's figures."""

    accepted: bool
    stage: str  # "static" | "probe" | "review": the last stage that ran
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    probe_stats: dict[str, Any] = field(default_factory=dict)
    # Facts that are no defect, e.g. a milestone that random play never reaches (0 on every probe transition).
    # Not given, they are read from probe_stats, so a verdict rebuilt from another keeps the probe's.
    info: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.info and self.probe_stats:
            self.info = component_notes(self.probe_stats)[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(source: str, task: str, *, transitions: int = 256, seed: int = 0,
          limits: ProbeLimits | None = None, episodes: list[Episode] | None = None) -> Verdict:
    """Run stages 1 and 2 on reward source for `task`; stop at the first stage that finds errors."""
    state_api = card_for(task).state_api
    issues = check_static(source, state_api)
    errors = [str(i) for i in issues if i.severity == "error"]
    warnings = [str(i) for i in issues if i.severity == "warning"]
    if errors:
        return Verdict(accepted=False, stage="static", errors=errors, warnings=warnings)
    if episodes is None:
        episodes = collect_transitions(task, n=transitions, seed=seed)
    probe = run_probe(source, episodes, limits or ProbeLimits(), state_api=state_api)
    return Verdict(accepted=probe.ok, stage="probe", errors=probe.errors, warnings=warnings + probe.warnings,
                   probe_stats=probe.stats, info=probe.info)


@dataclass
class Critique:
    """What `critique` found: the verdict, and stage 3's exchange (review.md) when the review ran."""

    verdict: Verdict
    review: Review | None = None


def critique(source: str, task: str, *, reviewer: Reviewer | None = None, task_text: str | None = None,
             transitions: int = 256, seed: int = 0, limits: ProbeLimits | None = None,
             episodes: list[Episode] | None = None, on_stage: Callable[[str], None] | None = None) -> Critique:
    """Stages 1 and 2 (`check`), then stage 3 by `reviewer` on an accepted reward (goal: `task_text`, default the
    env card's). A review whose LLM call fails is skipped with a warning: it is advice on top of stages 1-2;
    a spent budget or refused credentials stop the caller. `on_stage("reviewing")` is called before stage 3."""
    verdict = check(source, task, transitions=transitions, seed=seed, limits=limits, episodes=episodes)
    if reviewer is None or not verdict.accepted:
        return Critique(verdict)
    if on_stage is not None:
        on_stage("reviewing")
    text = task_text if task_text is not None else card_for(task).task(task).goal
    try:
        opinion = reviewer.review(source, task, text, verdict.probe_stats, seed)
    except (LLMBudgetExceeded, LLMAuthError):
        raise
    except LLMError as exc:
        verdict.warnings.append(f"review skipped: LLM call failed: {exc}")
        return Critique(verdict)
    return Critique(Verdict(accepted=opinion.accepted, stage="review", errors=opinion.errors,
                            warnings=verdict.warnings + opinion.warnings, probe_stats=verdict.probe_stats,
                            info=verdict.info + opinion.info), opinion)
