"""One question to an LLM with a strict JSON answer: parsed with `json` only, asked once more if malformed.

A retry repeats the conversation with the bad answer and a correction, so it is a new request: the LLM
client's response cache would replay the same malformed answer to an identical one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from autoreward.llm.answers import json_object
from autoreward.llm.base import LLM, Messages
from autoreward.llm.prompts import render

T = TypeVar("T")


def ask_json(llm: LLM, prompt: str, validate: Callable[[dict[str, Any]], T], role: str,
             example: str, retries: int = 1) -> tuple[T | None, str | None]:
    """(value, None) from the first answer that `validate` accepts, else (None, reason) after `retries` retries.

    `validate` gets the answer's JSON object and raises ValueError (with a reason) when it is out of schema;
    `example` shows the expected shape in the correction message.
    """
    messages: Messages = [{"role": "user", "content": prompt}]
    reason = "no answer"
    for attempt in range(retries + 1):
        answer = llm.complete(messages, role=role).text
        data = json_object(answer)
        if data is None:
            reason = f"no JSON object in the answer: {answer.strip()[:200]!r}"
        else:
            try:
                return validate(data), None
            except ValueError as exc:
                reason = str(exc)
        if attempt < retries:
            messages = [*messages, {"role": "assistant", "content": answer},
                        {"role": "user", "content": render("calm_retry", reason=reason, example=example)}]
    return None, reason
