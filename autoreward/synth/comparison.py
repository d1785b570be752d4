"""Facts computed by code across candidates: the best against the task reward alone, and lessons (what each
structural change did to success). Both analyzers and the refining designer read them (`format_comparison`).
"""

from __future__ import annotations

from typing import Any

from autoreward.synth.evidence import SIGNIFICANCE, judge, percent, points
from autoreward.synth.records import Lesson
from autoreward.synth.structure import describe_changes


def lessons(records: list[dict[str, Any]]) -> list[Lesson]:
    """For each evaluated candidate designed from an evaluated parent: what its changes did to success.

    `records` are CandidateRecord dicts; a lesson is {"candidate", "parent", "changes", "success",
    "parent_success", "effect", "text"}, e.g. "success fell from 36% to 0% when explore removed (1/1 vs 0/1)".
    """
    by_name = {f"{r['round']}/{r['candidate']}": r for r in records}
    out = []
    for record in records:
        parent = by_name.get(record.get("parent") or "")
        if record.get("status") != "evaluated" or parent is None or parent.get("status") != "evaluated" or \
                record is parent or not record.get("changes"):
            continue
        before, after = parent["success_rate"] or 0.0, record["success_rate"] or 0.0
        verb = "rose" if after > before else "fell" if after < before else "stayed"
        span = f"from {percent(before)} to {percent(after)}" if verb != "stayed" else f"at {percent(after)}"
        name = f"{record['round']}/{record['candidate']}"
        out.append({"candidate": name, "parent": record["parent"], "changes": list(record["changes"]),
                    "success": after, "parent_success": before, "effect": round(after - before, 4),
                    "text": f"success {verb} {span} with {describe_changes(record['changes'])} "
                            f"({name} vs {record['parent']})"})
    return out


def compare(best: dict[str, Any], baseline: dict[str, Any] | None, round_best: dict[str, Any] | None,
            r: int, *, episodes: int, significance: float = SIGNIFICANCE) -> list[str]:
    """Lines that put the best candidate against the task reward alone and say whether round `r` helped; a higher
    success within episode noise (synth.evidence, over `episodes` each) is said to be so, not called a win."""
    lines = []
    name = f"{best['round']}/{best['candidate']}"
    if baseline is not None and baseline.get("success_rate") is not None:
        gain = (best["success_rate"] or 0.0) - baseline["success_rate"]
        evidence = judge([best["success_rate"] or 0.0], [baseline["success_rate"]], episodes, significance)
        verdict = "beats" if evidence["clear"] else "is within episode noise of" if evidence["higher"] else \
            "ties with" if gain == 0 else "is worse than"
        lines.append(f"the best reward so far ({name}, success {percent(best['success_rate'] or 0.0)}) {verdict} the "
                     f"task reward alone (success {percent(baseline['success_rate'])}): {points(gain)} points")
    if round_best is not None and (round_best["round"], round_best["candidate"]) != (best["round"], best["candidate"]):
        lines.append(f"round {r} made things worse: its best ({round_best['round']}/{round_best['candidate']}, "
                     f"success {percent(round_best['success_rate'] or 0.0)}) is below {name} "
                     f"({percent(best['success_rate'] or 0.0)}); round {r + 1} starts again from {name}")
    return lines



def format_comparison(comparison: list[str], found: list[Lesson]) -> str:
    """The comparison lines and lessons as the prompt text of analyzer.txt and designer_refine.txt."""
    lines = [f"- {line}" for line in comparison] + [f"- {lesson['text']}" for lesson in found]
    return "\n".join(lines) if lines else "- (nothing to compare yet)"


