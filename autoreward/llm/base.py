"""The one interface every LLM role uses, its record of a call, and the errors it raises.

`None` in place of an `LLM` means the offline (rule-based) implementation of a role: there is no fake LLM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from autoreward.errors import AutorewardError

Messages = list[dict[str, str]]  # OpenAI chat format: [{"role": "system"|"user"|"assistant", "content": ...}]


@dataclass
class Completion:
    """One answer of an LLM, with what it cost (a cache hit costs nothing and says so)."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0  # USD, as litellm prices it (0 when unknown)
    latency_s: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LLM(Protocol):
    """What roles call. `role` names the caller (designer, review, analyzer, ...) for the call log."""

    model: str

    def complete(self, messages: Messages, role: str, **params: Any) -> Completion: ...


class LLMError(AutorewardError):
    """An LLM call failed for good (bad credentials, unknown model, retries exhausted)."""


class LLMAuthError(LLMError):
    """The provider refused the credentials: no later call can succeed, so a run stops (saved, resumable)."""


class LLMBudgetExceeded(LLMError):
    """The run's LLM budget (calls or cost) is spent: the run stops cleanly, saved and resumable."""
