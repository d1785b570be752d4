"""Reading structured answers out of LLM text: the one strict JSON-object finder (json only, never eval)."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCED = re.compile(r"```[\w+-]*\s*\n?(.*?)```", re.DOTALL)


def json_object(answer: str) -> dict[str, Any] | None:
    """The first JSON object in an answer: the whole text, a ```json fence, or embedded in prose (json only)."""
    decoder = json.JSONDecoder()
    for text in [answer, *_FENCED.findall(answer)]:
        start = text.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                return value
            start = text.find("{", start + 1)
    return None
