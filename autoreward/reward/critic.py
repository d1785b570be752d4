"""The critic: static rules (stage 1), then the sandboxed probe on real transitions (stage 2).

Stage 3 (LLM review) builds on this verdict in the synthesis loop. The verdict is the record of
DESIGN.md §2.3; its errors are written for the designer to fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from autoreward.reward.probe import Episode, ProbeLimits, collect_transitions, component_notes, run_probe
from autoreward.reward.static import check_static


@dataclass
class Verdict:
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
    issues = check_static(source)
    errors = [str(i) for i in issues if i.severity == "error"]
    warnings = [str(i) for i in issues if i.severity == "warning"]
    if errors:
        return Verdict(accepted=False, stage="static", errors=errors, warnings=warnings)
    if episodes is None:
        episodes = collect_transitions(task, n=transitions, seed=seed)
    probe = run_probe(source, episodes, limits or ProbeLimits())
    return Verdict(accepted=probe.ok, stage="probe", errors=probe.errors, warnings=warnings + probe.warnings,
                   probe_stats=probe.stats, info=probe.info)
