"""The report's plots: matplotlib figures (Agg, no pyplot state) inlined as base64 PNG data URIs.

Each function takes records as `autoreward.synth.inspect` reads them and returns a data URI, or None when there
is nothing to draw. Labels come from the run (component names are the reward code's): math text is off, so a
`$` in a name is a character, not markup.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from autoreward.synth.records import training_success
from autoreward.train.config import RECENT_EPISODES

DPI = 72  # small PNGs: the page stays well under a few MB with every plot inlined
LABEL_CHARS = 40


def learning_curves(series: Mapping[str, Sequence[Mapping[str, Any]]]) -> str | None:
    """Success rate and mean task return over training steps, one line per training (`name -> metrics`)."""
    drawn = {name: rows for name, rows in series.items() if rows}
    if not drawn:
        return None
    with _style():
        figure = Figure(figsize=(10, 3.6), dpi=DPI)
        success, returns = figure.subplots(1, 2)
        for axes, key in ((success, training_success), (returns, "task_return_mean")):
            points = {name: _points(rows, key) for name, rows in drawn.items()}
            for name, (xs, ys) in points.items():
                axes.plot(xs, ys, label=_label(name), linewidth=1.3, **_markers(len(xs)))
            if not any(xs for xs, _ in points.values()):
                axes.text(0.5, 0.5, "no training episode has ended yet", transform=axes.transAxes, ha="center")
        success.set(title=f"success rate (last {RECENT_EPISODES} training episodes)", xlabel="steps",
                    ylim=(-0.03, 1.03))
        returns.set(title="task return (mean per episode)", xlabel="steps")
        _steps_axis(success, returns)
        _legend(success, len(drawn))
        return _png(figure)


def best_so_far(candidates: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | None) -> str | None:
    """Per round: each evaluated candidate's success, and the best evaluated success so far (the task reward
    alone as a line when known)."""
    evaluated = [c for c in candidates if c.get("status") == "evaluated" and c.get("success_rate") is not None]
    if not evaluated:
        return None
    rounds = sorted({int(c["round"]) for c in candidates})
    best, running = [], None
    for r in rounds:
        found = [float(c["success_rate"]) for c in evaluated if c["round"] == r]
        running = max([*found, *([running] if running is not None else [])], default=None)
        best.append(running)
    with _style():
        figure = Figure(figsize=(6, 3.2), dpi=DPI)
        axes = figure.subplots()
        axes.scatter([c["round"] for c in evaluated], [c["success_rate"] for c in evaluated], color="#999",
                     label="candidate", zorder=3)
        axes.plot(rounds, best, marker="o", color="#1f77b4", label="best so far", zorder=4)
        if baseline and baseline.get("success_rate") is not None:
            axes.axhline(float(baseline["success_rate"]), color="#d62728", linestyle="--", label="task reward alone")
        axes.set(title="evaluated success by round", xlabel="round", ylabel="success rate", ylim=(-0.03, 1.03),
                 xticks=rounds)
        axes.legend(fontsize=8)
        return _png(figure)


def components(metrics: Sequence[Mapping[str, Any]]) -> str | None:
    """One training's reward components over steps: each one's mean per step, and its share of the reward's
    absolute mass (stacked)."""
    rows = [m for m in metrics if m.get("components")]
    if not rows:
        return None
    names = sorted({name for m in rows for name in m["components"]})
    steps = [m["steps"] for m in rows]
    with _style():
        figure = Figure(figsize=(10, 3.6), dpi=DPI)
        means, shares = figure.subplots(1, 2)
        share = [[m["components"].get(name, {}).get("share") or 0.0 for m in rows] for name in names]
        for name in names:
            means.plot(steps, [m["components"].get(name, {}).get("mean") for m in rows], label=_label(name),
                       **_markers(len(rows)))
        if len(rows) > 1:
            shares.stackplot(steps, share, labels=[_label(n) for n in names])
        else:  # one rollout: a stacked bar (an area needs two points)
            bottom = 0.0
            for name, values in zip(names, share, strict=True):
                shares.bar(steps, values, bottom=bottom, label=_label(name), width=max(1.0, steps[0] * 0.1))
                bottom += values[0]
        means.set(title="reward components: mean per step", xlabel="steps")
        shares.set(title="share of the reward (|value| mass)", xlabel="steps", ylim=(0, 1))
        _steps_axis(means, shares)
        _legend(shares, len(names))
        return _png(figure)


def outcomes(evaluation: Mapping[str, Any] | None) -> str | None:
    """The evaluation's episodes by outcome: successes and each failure cause."""
    if not evaluation or not evaluation.get("episodes"):
        return None
    counts = {"success": round(float(evaluation.get("success_rate") or 0.0) * int(evaluation["episodes"]))}
    counts.update({str(k): int(v) for k, v in (evaluation.get("failure_causes") or {}).items()})
    with _style():
        figure = Figure(figsize=(6, 1.2 + 0.3 * len(counts)), dpi=DPI)
        axes = figure.subplots()
        labels = [_label(k) for k in counts]
        axes.barh(labels, list(counts.values()),
                  color=["#2ca02c" if k == "success" else "#d62728" for k in counts])
        axes.invert_yaxis()
        axes.set(title=f"evaluation: {evaluation['episodes']} episodes by outcome", xlabel="episodes")
        figure.tight_layout()
        return _png(figure)


def _points(rows: Sequence[Mapping[str, Any]], key: str | Callable[[Mapping[str, Any]], Any]
            ) -> tuple[list[float], list[float]]:
    """(steps, value) of the rollouts that had a value (a rollout with no finished episode has none); `key` names
    the value or reads it from a row."""
    read = key if callable(key) else (lambda row: row.get(key))
    values = [(row.get("steps"), read(row)) for row in rows]
    kept = [(float(steps), float(value)) for steps, value in values if steps is not None and value is not None]
    return [x for x, _ in kept], [y for _, y in kept]


def _steps_axis(*axes: Any) -> None:
    """Training steps as 50k, 100k, ... with a few ticks (full numbers run into each other)."""
    for one in axes:
        one.xaxis.set_major_formatter(EngFormatter(sep=""))
        one.xaxis.set_major_locator(MaxNLocator(6))


def _markers(points: int) -> dict[str, Any]:
    """Dots on lines of few points (one rollout alone is no line)."""
    return {"marker": "o", "markersize": 3} if points <= 30 else {}


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def _legend(axes: Any, entries: int) -> None:
    if entries:
        axes.legend(fontsize=7, ncol=1 + entries // 8, loc="best")


def _style() -> Any:
    """matplotlib settings of every plot: no math text (labels are the run's text), no TeX, small fonts."""
    return matplotlib.rc_context({"text.parse_math": False, "text.usetex": False, "font.size": 9})


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
