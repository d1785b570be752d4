"""The LLM designer: writes reward code for a task, repairs it after the critic, refines it after training.

Each call renders a template from `prompts/` (`synth.requests`) and extracts the code from the answer. The
rule-based designer that needs no LLM is `synth.offline.designer.OfflineDesigner`.
"""

from __future__ import annotations

from autoreward.llm.base import LLM, Messages
from autoreward.reward.extract import extract_code
from autoreward.synth.records import Design, DesignContext
from autoreward.synth.requests import design_messages, format_messages, repair_messages


class LLMDesigner:
    """The Designer role asked of an LLM (roles "designer" and "repair")."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def design(self, ctx: DesignContext) -> Design:
        """A first-round candidate (no best code yet) or a refinement of the best code and its analysis."""
        return self._ask(design_messages(ctx), "designer")

    def repair(self, ctx: DesignContext, code: str, errors: list[str]) -> Design:
        """Code the critic rejected, sent back with its errors."""
        return self._ask(repair_messages(ctx, code, errors), "repair")

    def _ask(self, messages: Messages, role: str) -> Design:
        completion = self.llm.complete(messages, role=role)
        code = extract_code(completion.text)
        error = None if code is not None else "the answer holds no Python code that defines compute_reward"
        return Design(prompt=format_messages(messages), response=completion.text, code=code, error=error)
