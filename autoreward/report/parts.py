"""Pieces of a report page that runs and trainings share: numbers, the evaluation, the evaluated episodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from autoreward.report.page import Html, facts, join, tag, text_block
from autoreward.synth.evidence import percent
from autoreward.synth.records import training_success
from autoreward.train.config import RECENT_EPISODES

EPISODES_SHOWN = 3  # evaluation episodes rendered per candidate (evaluate() keeps 3 by default)


def pct(value: float | None) -> str:
    """A rate as a percentage, with a decimal where whole points would hide a gap (synth.evidence.percent)."""
    return "–" if value is None else percent(float(value))


def num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{float(value):.{digits}g}"


def duration(started: str | None, ended: str | None) -> str | None:
    """How long from `started` to `ended` (ISO times), or "running since ..." without an end."""
    if not started:
        return None
    if not ended:
        return f"no end recorded (started {started})"
    try:
        seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):  # a hand-edited time, or one with a time zone and one without
        return f"{started} to {ended} (not both ISO times of one kind)"
    return f"{seconds / 60:.1f} min ({started} to {ended})"


def evaluation(digest: Mapping[str, Any] | None) -> Html:
    """The evaluation's figures in a line (or that there is none yet)."""
    if not digest:
        return tag("p", "not evaluated", cls="muted")
    causes = ", ".join(f"{k} {v}" for k, v in (digest.get("failure_causes") or {}).items()) or "none"
    length = (digest.get("episode_length") or {}).get("mean")
    return facts([("evaluated success", f"{pct(digest.get('success_rate'))} of {digest.get('episodes')} episodes"),
                  ("mean task return", num(digest.get("mean_return"))),
                  ("mean episode length", num(length, 4)), ("failures", causes)])


def episodes(trajectories: Sequence[Mapping[str, Any]]) -> Html:
    """The first evaluation episodes: outcome and length, the final map, and the step-by-step log (folded)."""
    if not trajectories:
        return Html("")
    parts = []
    for episode in trajectories[:EPISODES_SHOWN]:
        title = (f"episode {episode.get('episode')}: {episode.get('outcome')}, {episode.get('length')} steps"
                 + (" (success)" if episode.get("success") else ""))
        steps = "\n".join(str(line) for line in episode.get("steps") or [])
        parts.append(tag("div", join([tag("h4", title), text_block(episode.get("final") or ""),
                                      tag("details", join([tag("summary", "steps"), text_block(steps)]))])))
    return join([tag("h3", "evaluation episodes"), *parts])


def training_facts(metrics: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    """Steps trained, throughput and the success at the end, from a training's metrics (none: nothing)."""
    if not metrics:
        return []
    last = metrics[-1]
    sps = [float(m["sps"]) for m in metrics if m.get("sps") is not None]
    return [("steps trained", f"{int(last.get('steps') or 0):,} in {len(metrics)} rollouts"),
            ("steps/s (mean over rollouts)", num(sum(sps) / len(sps), 4) if sps else None),
            (f"success at the end (last {RECENT_EPISODES} training episodes)", pct(training_success(last))),
            ("stopped", last.get("stopped"))]


def anchor(name: str) -> str:
    """The id of a candidate's section: `R/K` as cand-R-K."""
    return "cand-" + name.replace("/", "-")


def link(name: str) -> Html:
    return tag("a", name, href=f"#{anchor(name)}")

