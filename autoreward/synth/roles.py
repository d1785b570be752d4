"""The synthesis loop's roles as protocols, and the one place that picks their implementations.

Each role has an offline implementation (rules, `synth.offline` and `reward.review.RuleReviewer`) and an LLM
one (`synth.designer`, `synth.analyzer`, `reward.review.LLMReviewer`); `roles_for(llm)` picks them once, so
no role asks "is there an LLM?" itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from autoreward.llm.base import LLM
from autoreward.reward.review import LLMReviewer, Reviewer, RuleReviewer
from autoreward.synth.analyzer import LLMAnalyzer
from autoreward.synth.designer import LLMDesigner
from autoreward.synth.offline.analyzer import OfflineAnalyzer
from autoreward.synth.offline.designer import OfflineDesigner
from autoreward.synth.records import Analysis, Design, DesignContext, Lesson, Summary
from autoreward.synth.requests import review_request

__all__ = ["Analyzer", "Designer", "Reviewer", "Roles", "reviewer_for", "roles_for"]


@runtime_checkable
class Designer(Protocol):
    """Writes one candidate's reward code, and repairs code the critic rejected."""

    def design(self, ctx: DesignContext) -> Design:
        """A first-round candidate (no best code yet) or a refinement of the best code and its analysis."""
        ...

    def repair(self, ctx: DesignContext, code: str, errors: list[str]) -> Design:
        """A fix of `code` for the critic's `errors`."""
        ...


@runtime_checkable
class Analyzer(Protocol):
    """Reads a trained candidate's summary and says why it went as it did and what to change."""

    def analyze(self, summary: Summary, ctx: DesignContext, found: list[Lesson] | None = None,
                comparison: list[str] | None = None) -> Analysis:
        """The analysis; `found` (lessons) and `comparison` are facts computed by code, carried to the designer."""
        ...


@dataclass(frozen=True)
class Roles:
    """The implementations one run uses."""

    designer: Designer
    reviewer: Reviewer
    analyzer: Analyzer


def reviewer_for(llm: LLM | None) -> Reviewer:
    """The critic's stage 3: the rules alone without an LLM, the rules and the LLM's checklist with one."""
    return RuleReviewer(review_request) if llm is None else LLMReviewer(llm, review_request)


def roles_for(llm: LLM | None) -> Roles:
    """The offline roles when `llm` is None (`--llm offline`), else the roles that ask `llm`."""
    if llm is None:
        return Roles(OfflineDesigner(), reviewer_for(None), OfflineAnalyzer())
    return Roles(LLMDesigner(llm), reviewer_for(llm), LLMAnalyzer(llm))
