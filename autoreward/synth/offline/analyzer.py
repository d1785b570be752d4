"""The offline analyzer: rules that read a candidate's summary for failure causes, unwanted behaviour and edits.

The edits are the ones the offline designer can apply (scale, drop, add, set of its components); the LLM
analyzer falls back to these rules when its answer is not the JSON asked for.
"""

from __future__ import annotations

import json
from typing import Any

from autoreward.synth.offline.recipe import MILESTONES
from autoreward.synth.records import Analysis, ComponentStats, DesignContext, Edit, Lesson, Summary
from autoreward.synth.requests import analysis_messages, format_messages
from autoreward.synth.summary import analysis_markdown

PROTECTED = ("goal",)  # never dropped: a reward must pay for the goal
# A death costs the task what a timeout costs (nothing): a penalty near the goal's size teaches standing still.
DEATH_WEIGHT = 0.2
OFFLINE_SOURCE = "offline rules (no LLM)"


class OfflineAnalyzer:
    """The Analyzer role by rules (`offline_analysis`); it records the request an LLM would have been sent."""

    def analyze(self, summary: Summary, ctx: DesignContext, found: list[Lesson] | None = None,
                comparison: list[str] | None = None) -> Analysis:
        """Causes, unwanted behaviour and edits for a summary, with the code-computed facts carried along."""
        found, comparison = list(found or []), list(comparison or [])
        prompt = format_messages(analysis_messages(summary, ctx, found, comparison))
        causes, unwanted, edits = offline_analysis(summary, ctx.baseline)
        text = analysis_markdown(summary, causes, unwanted, edits, source=OFFLINE_SOURCE, comparison=comparison,
                                 found=found)
        return Analysis(causes, unwanted, edits, text, prompt=prompt, response=offline_answer(causes, unwanted, edits),
                        lessons=found, comparison=comparison)


def offline_answer(causes: list[str], unwanted: list[str], edits: list[Edit]) -> str:
    """The rules' findings as the JSON an LLM analyzer would have answered (response.md of the analysis)."""
    body = json.dumps({"causes": causes, "unwanted": unwanted, "edits": edits}, indent=1)
    return f"# offline analyzer (rule-based, no LLM)\n\n```json\n{body}\n```\n"


def _cause_kind(cause: str) -> str:
    """Group an evaluator outcome: lava, water, monster, other death, stuck, timeout, other."""
    text = cause.lower()
    if text.startswith("death"):
        if "lava" in text or "burn" in text:
            return "lava"
        if "drown" in text or "water" in text:
            return "water"
        if "monster" in text or "killed" in text or "poison" in text:
            return "monster"
        return "death"
    return text if text in ("stuck", "timeout") else "other"


def offline_analysis(summary: Summary, baseline: dict[str, Any] | None = None
                     ) -> tuple[list[str], list[str], list[Edit]]:
    """The rules: failure causes, what the reward encourages that the task does not want, and edits.

    With the baseline's figures (the task reward alone), a reward that does worse than no shaping is told so
    and its shaping is weakened."""
    causes: list[str] = []
    unwanted: list[str] = []
    edits: list[Edit] = []
    kinds = _failure_causes(summary, causes)
    _failure_edits(summary, kinds, unwanted, edits)
    _shaping_findings(summary, baseline, causes, unwanted, edits)
    return causes, unwanted, _merge(edits)


def _success(summary: Summary) -> float | None:
    """The evaluated success rate, else the training's final one."""
    success = (summary.get("evaluation") or {}).get("success_rate")
    return (summary.get("training") or {}).get("success_rate_final") if success is None else success


def _failure_causes(summary: Summary, causes: list[str]) -> dict[str, int]:
    """Append the causes (missing data, an early stop, outcomes, sub-goals never paid); the outcomes by kind."""
    episodes = (summary.get("evaluation") or {}).get("episodes") or 0
    training = summary.get("training") or {}
    for item in summary.get("missing", []):
        causes.append(f"missing data: {item}")
    if training.get("stopped"):
        causes.append(f"training stopped early: {training['stopped']}")
    for cause, count in sorted((summary.get("failure_causes") or {}).items(), key=lambda kv: -kv[1]):
        share = f"{count}/{episodes} episodes" if episodes else f"{count} episodes"
        causes.append(f"{share} ended as '{cause}'")
    kinds: dict[str, int] = {}
    for cause, count in (summary.get("failure_causes") or {}).items():
        kinds[_cause_kind(cause)] = kinds.get(_cause_kind(cause), 0) + count
    for name in summary.get("never_triggered", []):
        if name in MILESTONES:
            causes.append(f"component '{name}' never paid during training: the policy never reached that sub-goal")
        elif name == "approach":
            causes.append("component 'approach' was always 0: the target was never seen")
    return kinds


def _failure_edits(summary: Summary, kinds: dict[str, int], unwanted: list[str], edits: list[Edit]) -> None:
    """Edits against the main failure kinds (deaths, timeouts) and against no success at all."""
    episodes = (summary.get("evaluation") or {}).get("episodes") or 0
    threshold = max(1, int(0.2 * episodes)) if episodes else 1
    if kinds.get("lava", 0) >= threshold or kinds.get("water", 0) >= threshold:
        what = "lava" if kinds.get("lava", 0) >= kinds.get("water", 0) else "water"
        edits.append({"op": "add", "component": "death", "weight": DEATH_WEIGHT,
                      "reason": f"deaths in {what} are a main failure cause: penalise dying a little"})
    if kinds.get("monster", 0) + kinds.get("death", 0) >= threshold:
        edits.append({"op": "add", "component": "death", "weight": DEATH_WEIGHT,
                      "reason": "deaths are a main failure cause: penalise dying a little"})
        edits.append({"op": "add", "component": "hp", "weight": 0.05, "reason": "penalise hit points lost"})
    if kinds.get("stuck", 0) + kinds.get("timeout", 0) >= threshold:
        unwanted.append("the policy runs out of time (stuck in place or dithering between cells)")
        edits.append({"op": "add", "component": "dither", "weight": 0.01,
                      "reason": "timeouts and stuck episodes: penalise stepping straight back"})
        edits.append({"op": "add", "component": "explore", "weight": 0.01,
                      "reason": "timeouts and stuck episodes: reward new cells"})
    success = _success(summary)
    if success is not None and success == 0:
        edits.append({"op": "add", "component": "explore", "weight": 0.02,
                      "reason": "no success at all: strengthen exploration"})


def _shaping_findings(summary: Summary, baseline: dict[str, Any] | None, causes: list[str], unwanted: list[str],
                      edits: list[Edit]) -> None:
    """What the shaping itself does wrong: worse than no shaping, one component dominant, constant or farmed."""
    components = summary.get("components") or {}
    success = _success(summary)
    base = (baseline or {}).get("success_rate")
    if base is not None and success is not None and success < base:
        causes.append(f"the shaping does worse than the task reward alone ({success:.0%} against {base:.0%}): "
                      "it leads the policy away from what the sparse reward finds")
        for name in ("approach", "explore"):
            if name in components:
                edits.append({"op": "scale", "component": name, "factor": 0.5,
                              "reason": "below the task reward alone: weaken the shaping"})
    dominant = summary.get("dominant_component")
    if dominant and dominant["component"] not in PROTECTED and (success is None or success < 0.9):
        share = dominant["share"]
        factor = round(min(0.5, max(0.25, (1 - share) / share)), 3)  # towards half the mass, gently
        unwanted.append(f"component '{dominant['component']}' carries {share:.0%} of the reward mass and drowns the "
                        "others")
        edits.append({"op": "scale", "component": dominant["component"], "factor": factor,
                      "reason": f"it dominates the reward ({share:.0%} of the mass)"})
    for name in summary.get("constant_components", []):
        stats = components[name]
        if stats["min"] != 0.0 and name not in PROTECTED:
            unwanted.append(f"component '{name}' is the constant {stats['min']:g} on every step: it teaches nothing")
            edits.append({"op": "drop", "component": name, "reason": "constant on every step"})
    for flag in summary.get("flags", []):
        if "reward rose" in flag or "collects shaping" in flag:
            unwanted.append(flag)
            rising = _most_risen(components)
            if rising and rising not in PROTECTED:
                edits.append({"op": "scale", "component": rising, "factor": 0.5,
                              "reason": "its reward rose most while success did not: possibly farmed"})
            edits.append({"op": "scale", "component": "goal", "factor": 2.0,
                          "reason": "make completing the task worth more than the shaping"})


def _most_risen(components: dict[str, ComponentStats]) -> str | None:
    best, rise = None, 0.0
    for name, stats in components.items():
        series = [v for v in stats["mean_series"] if v is not None]
        if len(series) >= 2 and series[-1] - series[0] > rise:
            best, rise = name, series[-1] - series[0]
    return best


def _merge(edits: list[Edit]) -> list[Edit]:
    """One edit per (op, component): the first keeps its numbers, later reasons are appended."""
    merged: dict[tuple[str, str], Edit] = {}
    for edit in edits:
        key = (edit["op"], edit["component"])
        if key in merged:
            merged[key]["reason"] += "; " + edit["reason"]
        else:
            merged[key] = Edit(**edit)
    return list(merged.values())
