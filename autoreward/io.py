"""Small file helpers: atomic writes (temp file + rename) and JSON lines, so a crash never leaves half a file, and
reading JSON records back with a check of their shape, so a damaged file is named instead of crashing a reader."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from autoreward.errors import UsageError

#: What `check_shape` checks a record against: each key's type hint, a nested shape (a dict) or a list of
#: records of one shape (a list holding that shape).
Shape = Mapping[str, Any]


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON record as a line (a single write, so concurrent appenders do not interleave)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=_jsonable) + "\n")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_json(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when there is no such file. A file that is not a JSON object (cut short,
    empty, hand-edited) is a UsageError naming it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not JSON ({getattr(exc, 'msg', exc)}): the file is damaged") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path} holds a JSON {type(data).__name__}, not an object: the file is damaged")
    return data


def refuse_links_leaving(root: str | Path) -> None:
    """A UsageError naming the first symbolic link under `root` that points outside it: autoreward never writes
    links, and a reader (inspect, report, resume) following one would show or append to a file elsewhere."""
    root = Path(root).resolve()
    for folder, dirs, files in os.walk(root):  # followlinks=False: a linked folder is named here, never entered
        for name in sorted(dirs + files):
            path = Path(folder, name)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise UsageError(f"{path} is a link to {printable(os.readlink(path))}, outside {root}: autoreward "
                                 "never writes links, so the folder was changed by hand; remove the link to read it")


def check_shape(data: Mapping[str, Any], shape: Shape, where: str) -> None:
    """A UsageError naming `where` and the key when a key of `shape` that `data` has holds a value of another
    type (keys `data` lacks, and keys `shape` does not name, are left to the reader)."""
    for key, hint in shape.items():
        if key not in data:
            continue
        value, at = data[key], f"{where}: {key}"
        if isinstance(hint, Mapping):
            _need(isinstance(value, dict), value, "an object", at)
            check_shape(value, hint, at)
        elif isinstance(hint, list):
            _need(isinstance(value, list) and all(isinstance(v, dict) for v in value), value, "a list of objects", at)
            for i, item in enumerate(value):
                check_shape(item, hint[0], f"{at}[{i}]")
        else:
            _need(_conforms(value, hint), value, getattr(hint, "__name__", None) or str(hint), at)


def _need(ok: bool, value: Any, what: str, at: str) -> None:
    if not ok:
        raise UsageError(f"{printable(at)} is {printable(repr(value)[:60])}, not {what}: the file is damaged")


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON value has the type `hint` (float takes an int; bool is no number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if hint is None or hint is type(None):
        return value is None
    if hint in (int, float):
        return isinstance(value, (int, float) if hint is float else int) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and (not args or all(_conforms(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict) and (not args or all(_conforms(v, args[1]) for v in value.values()))
    if typing.is_typeddict(hint) or dataclasses.is_dataclass(hint):  # a record: its keys are not checked here
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: C0 and C1 control characters but tab and newline: a terminal acts on them (ESC starts colour, cursor and
#: title sequences), and reward code, LLM answers and game text are untrusted.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if code not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """`text` with its control characters (but tab and newline) shown as `\\xNN`: safe to write to a terminal."""
    return text.translate(_CONTROL)
