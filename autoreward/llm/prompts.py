"""Prompt templates: plain-text files in `prompts/` with named `{fields}`, filled strictly.

Templates are data, not code, so that a run records exactly what each role was asked and a prompt can be
improved without touching the roles. Filling is strict both ways: a template field with no value, or a
value for a field the template does not have, is an error (a silent blank in a prompt is a silent bug).
`PROMPT_VERSION` hashes every template, so a run's record says which prompts produced it.
"""

from __future__ import annotations

import functools
import hashlib
import string

from autoreward.errors import AutorewardError
from autoreward.paths import data_dir


class PromptError(AutorewardError):
    """A template is missing, or the fields given do not match the fields it names."""


def _prompts_dir():
    return data_dir("prompts")


@functools.cache
def load_template(name: str) -> str:
    """The text of `prompts/<name>.txt`."""
    path = _prompts_dir() / f"{name}.txt"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in _prompts_dir().glob("*.txt")))
        raise PromptError(f"no prompt template {name!r} ({path}); templates: {known}")
    return path.read_text(encoding="utf-8")


def template_fields(name: str) -> set[str]:
    """The named fields of a template (`{field}`; literal braces are written `{{` and `}}`)."""
    fields = set()
    for _, field, spec, conversion in string.Formatter().parse(load_template(name)):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise PromptError(f"template {name!r}: field {{{field}}} must be a plain name (no index, format spec "
                              "or conversion); write literal braces as {{ and }}")
        fields.add(field)
    return fields


def render(name: str, **fields: str) -> str:
    """Fill template `name` with `fields`; every template field must be given, and no other."""
    wanted = template_fields(name)
    missing, unknown = sorted(wanted - set(fields)), sorted(set(fields) - wanted)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing field(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown field(s) {', '.join(unknown)}")
        raise PromptError(f"template {name!r}: {'; '.join(problems)} (it takes: {', '.join(sorted(wanted))})")
    return string.Formatter().vformat(load_template(name), (), {k: str(v) for k, v in fields.items()})


def _version() -> str:
    digest = hashlib.sha256()
    for path in sorted(_prompts_dir().glob("*.txt")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


#: Short hash of every template's name and text: changes whenever a template changes.
PROMPT_VERSION: str = _version()
