"""Reading structured answers out of LLM text: the one strict JSON-object finder (json only, never eval)."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCED = re.compile(r"```[\w+-]*\s*\n?(.*?)```", re.DOTALL)
#: `{` positions tried per text (code quoted before the object has braces of its own): bounds the work on junk.
MAX_STARTS = 1_000
#: A JSON error the decoder can raise besides JSONDecodeError: nesting deeper than Python's recursion limit.
DECODE_ERRORS = (json.JSONDecodeError, RecursionError)


def json_object(answer: str) -> dict[str, Any] | None:
    """The first JSON object in an answer: the whole text, a ```json fence, or embedded in prose (json only)."""
    decoder = json.JSONDecoder()
    for text in [answer, *_FENCED.findall(answer)]:
        start, tries = text.find("{"), 0
        while start != -1 and tries < MAX_STARTS:
            try:
                value, _ = decoder.raw_decode(text, start)
            except DECODE_ERRORS:
                value = None
            if isinstance(value, dict):
                return value
            start, tries = text.find("{", start + 1), tries + 1
    return None
