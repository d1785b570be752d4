"""Pull the reward code and JSON answers out of LLM responses, which come with prose, fences and repeats.

Models answer in many shapes: a ```python block with prose around it, several blocks (helpers first, then
the function), a block whose closing fence was cut off, bare code without a fence, a draft followed by a
corrected version. `extract_code` keeps one file that defines `compute_reward` once (the last definition),
with its helpers and constants; `extract_json` finds the first JSON object in an answer.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from autoreward.llm.answers import DECODE_ERRORS, MAX_STARTS
from autoreward.reward.contract import ENTRY_POINT
from autoreward.reward.syntax import parse_code

_FENCE = re.compile(r"^\s*```+\s*([\w+.-]*)\s*$")
_NOT_PYTHON = frozenset({"json", "bash", "sh", "shell", "console", "text", "txt", "yaml", "yml", "toml", "diff",
                         "markdown", "md", "output"})
MAX_TRIES = 40  # start and end lines tried when cutting bare code out of prose
MAX_SPAN = 65_536  # characters a Python-style dict in an answer may span (a verdict or an analysis is far shorter)
MAX_LITERAL_STARTS = 64  # `{` positions tried as a Python-style dict (a scan in Python each), of the MAX_STARTS
_DEFINES_ENTRY = re.compile(rf"^\s*def\s+{ENTRY_POINT}\s*\(", re.MULTILINE)
_CODE_START = re.compile(  # a line that can open a Python file: import, def, decorator, assignment, comment, docstring
    r"^(import |from \w[\w.]* import |def |@|[A-Za-z_]\w*\s*(:[^=]+)?=[^=]|#|\"\"\"|''')")


@dataclass
class _Block:
    language: str
    text: str


def _fenced_blocks(response: str) -> list[_Block]:
    """Fenced blocks in order; an unterminated last fence runs to the end of the response."""
    blocks: list[_Block] = []
    lines = response.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        language, body = match.group(1).lower(), []
        i += 1
        while i < len(lines):
            inner = _FENCE.match(lines[i])
            if inner:
                if not inner.group(1):
                    i += 1  # a plain fence closes the block
                break  # a fence with a language opens the next block: this one was left unterminated
            body.append(lines[i])
            i += 1
        blocks.append(_Block(language, textwrap.dedent("\n".join(body)).strip("\n")))
    return blocks


def _is_helper_only(source: str) -> bool:
    """Python that defines things (imports, constants, functions) and does nothing else: a helper block."""
    try:
        tree = parse_code(source, max_depth=None)
    except SyntaxError:
        return False
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.AnnAssign)
    body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return bool(body) and all(isinstance(s, allowed) for s in body)


def _unfenced_code(response: str) -> str | None:
    """Bare code inside prose: from the first code-looking line, the longest stretch that parses."""
    lines = response.splitlines()
    entry = next((i for i, line in enumerate(lines) if _DEFINES_ENTRY.match(line)), None)
    if entry is None:
        return None
    starts = [i for i in range(entry + 1) if _CODE_START.match(lines[i])][:MAX_TRIES]
    for start in starts:
        for end in range(len(lines), max(entry, len(lines) - MAX_TRIES), -1):  # bounded: prose is a few lines
            chunk = "\n".join(lines[start:end]).strip("\n")
            try:
                parse_code(chunk, max_depth=None)
            except SyntaxError:
                continue
            if _DEFINES_ENTRY.search(chunk):
                return chunk
    return "\n".join(lines[entry:]).strip("\n")  # let the critic report the syntax error


def _trim_to_parse(source: str) -> str:
    """An unterminated block may end in prose: drop trailing lines until the code parses (if that helps)."""
    try:
        parse_code(source, max_depth=None)
        return source
    except SyntaxError:
        pass
    lines = source.splitlines()
    for end in range(len(lines) - 1, 0, -1):
        chunk = "\n".join(lines[:end]).rstrip()
        if not _DEFINES_ENTRY.search(chunk):
            break
        try:
            parse_code(chunk, max_depth=None)
        except SyntaxError:
            continue
        return chunk
    return source


def _keep_last_definitions(source: str) -> str:
    """Drop earlier top-level definitions of a function defined again later (a repeated draft)."""
    try:
        tree = parse_code(source, max_depth=None)
    except SyntaxError:
        return source
    last: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            last[node.name] = node
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and last[node.name] is not node:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            drop.append((first, node.end_lineno or node.lineno))
    if not drop:
        return source
    lines = source.splitlines()
    kept = [line for n, line in enumerate(lines, start=1) if not any(a <= n <= b for a, b in drop)]
    return re.sub(r"\n{3,}", "\n\n\n", "\n".join(kept)).strip("\n")


def extract_code(response: str) -> str | None:
    """The reward file in an LLM response: one `compute_reward` with its helpers, or None when there is none.

    Among fenced blocks, the last one that defines compute_reward wins, joined with the helper-only Python
    blocks before it; without fences, the bare code in the text. A function defined twice keeps its last
    definition.
    """
    blocks = [b for b in _fenced_blocks(response) if b.language not in _NOT_PYTHON]
    chosen = max((i for i, b in enumerate(blocks) if _DEFINES_ENTRY.search(b.text)), default=None)
    if chosen is None:
        code = _unfenced_code(response)
        if code is None:
            return None
        return _keep_last_definitions(code) + "\n"
    helpers = [b.text for b in blocks[:chosen] if not _DEFINES_ENTRY.search(b.text) and _is_helper_only(b.text)]
    code = "\n\n\n".join([*helpers, _trim_to_parse(blocks[chosen].text)])
    return _keep_last_definitions(code) + "\n"


def _balanced(text: str, start: int) -> str | None:
    """The {...} span starting at `start`, counting braces outside string literals."""
    depth, quote, escaped = 0, "", False
    for i in range(start, min(len(text), start + MAX_SPAN)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


def extract_json(response: str) -> dict[str, Any] | None:
    """The first JSON object in a response (in a fence or bare); a Python-style dict is accepted too."""
    decoder = json.JSONDecoder()
    fenced = [b.text for b in _fenced_blocks(response) if b.language in ("json", "")]
    for text in [*fenced, response]:
        for tries, match in enumerate(re.finditer(r"\{", text)):
            if tries == MAX_STARTS:
                break
            try:
                value, _ = decoder.raw_decode(text, match.start())
            except DECODE_ERRORS:
                span = _balanced(text, match.start()) if tries < MAX_LITERAL_STARTS else None
                try:
                    value = ast.literal_eval(span) if span else None
                except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                    value = None
            if isinstance(value, dict):
                return value
    return None
