"""Critic stage 3: review a reward that passed the static rules and the probe, before training on it.

A `Reviewer` gets plain fields (the code, the task and its text, the probe's statistics, a seed) and answers a
`Review`. `RuleReviewer` decides by the offline rules (`reward.review_rules`); `LLMReviewer` runs the same
rules, then asks an LLM for a checklist review as strict JSON (critic_review.txt). The rules' errors are
measured facts and stand whatever the LLM answers; an answer that is not the JSON asked for is a warning
("review unparseable") and the rules decide alone. Both record the request (rendered by the caller's
`ReviewRequest`: the templates live above this layer).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from autoreward.llm.base import LLM, Messages
from autoreward.reward.extract import extract_json
from autoreward.reward.review_rules import Findings, rule_review

#: The critic_review template's fields (task, task_text, code, probe_stats, checks) -> (messages, their markdown).
ReviewRequest = Callable[..., tuple[Messages, str]]


@dataclass
class Review:
    """Stage 3's answer: accepted or not, why, and the exchange (review.md)."""

    accepted: bool
    errors: list[str]
    warnings: list[str]
    prompt: str
    response: str
    info: list[str] = field(default_factory=list)  # facts that are no defect (a milestone random play never reaches)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Reviewer(Protocol):
    """The critic's third stage: judges a reward that passed stages 1 and 2."""

    def review(self, code: str, task: str, task_text: str, probe_stats: dict, seed: int = 0) -> Review:
        """The review of `code` for `task` (goal `task_text`), given the probe's statistics."""
        ...


class RuleReviewer:
    """The Reviewer by the offline rules alone; it records the request an LLM would have been sent."""

    def __init__(self, request: ReviewRequest) -> None:
        self.request = request

    def review(self, code: str, task: str, task_text: str, probe_stats: dict, seed: int = 0) -> Review:
        findings = rule_review(code, task, task_text, probe_stats or {}, seed=seed)
        _, prompt = _ask(self.request, code, task, task_text, probe_stats, findings)
        answer = {"accepted": not findings.errors, "errors": findings.errors, "warnings": findings.warnings,
                  "info": findings.info}
        response = f"# offline critic review (rule-based, no LLM)\n\n```json\n{json.dumps(answer, indent=1)}\n```\n"
        return Review(not findings.errors, list(findings.errors), list(findings.warnings), prompt, response,
                      list(findings.info))


class LLMReviewer:
    """The Reviewer asked of an LLM (role "review") on top of the offline rules' measured findings."""

    def __init__(self, llm: LLM, request: ReviewRequest) -> None:
        self.llm, self.request = llm, request

    def review(self, code: str, task: str, task_text: str, probe_stats: dict, seed: int = 0) -> Review:
        findings = rule_review(code, task, task_text, probe_stats or {}, seed=seed)
        messages, prompt = _ask(self.request, code, task, task_text, probe_stats, findings)
        completion = self.llm.complete(messages, role="review")
        parsed = _parse_review(completion.text)
        errors, warnings = list(findings.errors), list(findings.warnings)
        if parsed is None:
            warnings.append("review unparseable: the LLM's answer was not the JSON asked for; the offline rules "
                            f"decided ({'accepted' if not errors else 'rejected'})")
            return Review(not errors, errors, warnings, prompt, completion.text, list(findings.info))
        accepted, llm_errors, llm_warnings = parsed
        errors += [e for e in llm_errors if e not in errors]
        warnings += [w for w in llm_warnings if w not in warnings]
        if accepted and findings.errors:
            warnings.append("the LLM accepted the reward, but the rules' measured errors stand")
        if not accepted and not errors:
            errors.append("the LLM review rejected the reward without naming an error")
        return Review(accepted and not errors, errors, warnings, prompt, completion.text, list(findings.info))


def _ask(request: ReviewRequest, code: str, task: str, task_text: str, probe_stats: dict,
         findings: Findings) -> tuple[Messages, str]:
    return request(task=task, task_text=task_text.strip(), code=code.strip(),
                   probe_stats=format_probe_stats(probe_stats or {}), checks=findings.text())


def _parse_review(text: str) -> tuple[bool, list[str], list[str]] | None:
    data = extract_json(text)
    if data is None or not isinstance(data.get("accepted"), bool):
        return None
    errors, warnings = data.get("errors", []), data.get("warnings", [])
    if not isinstance(errors, list) or not isinstance(warnings, list):
        return None
    return data["accepted"], [str(e) for e in errors], [str(w) for w in warnings]


def format_probe_stats(stats: dict) -> str:
    """The probe's per-component statistics as lines for the review prompt."""
    components = stats.get("components") or {}
    if not components:
        return "(no probe statistics)"
    # No timings here: they vary run to run, and the prompt is the cache key of a replayable run.
    lines = [f"{stats.get('calls', '?')} calls"]
    for name, s in components.items():
        lines.append(f"- {name}: mean {s.get('mean', 0):.4g}, std {s.get('std', 0):.4g}, min {s.get('min', 0):.4g}, "
                     f"max {s.get('max', 0):.4g}, nonzero {s.get('nonzero', 0):.2%}" + _constancy(s))
    return "\n".join(lines)


def _constancy(stats: dict[str, float]) -> str:
    """What a component that never varies on random play means: a milestone not reached, or a useless constant."""
    if not stats or stats.get("min") != stats.get("max"):
        return ""
    if stats.get("min") == 0.0:
        return " (0 on every random-play step: a milestone random play does not reach; expected, keep it)"
    return " (constant on every step: it teaches nothing)"
