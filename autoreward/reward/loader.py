"""Loading reward code: static rules first, then execution with safe builtins only, then its data frozen.

Reward code gets nothing beyond the contract's allow-lists (autoreward.reward.contract): its builtins are
`SAFE_BUILTIN_NAMES`, its imports `ALLOWED_MODULES`, and the audit wall refuses anything else while it loads.
"""

from __future__ import annotations

import builtins
import types
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.errors import RewardCodeError
from autoreward.reward.contract import ALLOWED_MODULES, ENTRY_POINT, SAFE_BUILTIN_NAMES, RewardFn
from autoreward.reward.static import check_static
from autoreward.reward.walls import AUDIT_WALL


def safe_builtins() -> dict[str, Any]:
    """The `__builtins__` of reward code: the allow-list plus an import that admits only math and numpy."""
    allowed = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES if hasattr(builtins, name)}
    allowed["__import__"] = _guarded_import
    return allowed


def _guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0):
    # Also reached by numpy's C code, which imports its own submodules lazily through the builtins of the
    # calling frame, here reward code's: those are let through; anything else reward code can't name.
    if level == 0 and (name in ALLOWED_MODULES or name == "__future__" or name.startswith("numpy.")):
        return builtins.__import__(name, globals, locals, fromlist, level)
    raise ImportError(f"reward code may import only {', '.join(ALLOWED_MODULES)}, not {name!r}")


def load_reward(source: str, filename: str = "reward.py", state_api: frozenset[str] | None = None) -> RewardFn:
    """Statically check `source` (against the card's `state_api`; default NetHack's), execute it with safe
    builtins only, and return its `compute_reward`.

    Raises RewardCodeError with the critic's messages when the code breaks the contract.
    """
    source = source.removeprefix("\ufeff")  # a byte order mark, as some editors save UTF-8 (Python skips it too)
    errors = [str(issue) for issue in check_static(source, state_api) if issue.severity == "error"]
    if errors:
        raise RewardCodeError(f"{filename} breaks the reward contract:\n  " + "\n  ".join(errors))
    namespace: dict[str, Any] = {"__builtins__": safe_builtins(), "__name__": "autoreward_reward"}
    AUDIT_WALL.clear()
    try:
        code = compile(source, filename, "exec")
        with AUDIT_WALL.armed(allow_code=True):  # the module may define things and do nothing else
            exec(code, namespace)  # checked code, safe builtins only
    except Exception as exc:
        if AUDIT_WALL.violation:
            raise RewardCodeError(f"{filename} tried to leave its sandbox while loading: "
                                  f"{AUDIT_WALL.violation} was refused") from exc
        raise RewardCodeError(f"{filename} failed while loading: {type(exc).__name__}: {exc}") from exc
    if AUDIT_WALL.violation:
        raise RewardCodeError(f"{filename} tried to leave its sandbox while loading: {AUDIT_WALL.violation} was "
                              "refused")
    freeze_module(namespace)
    return namespace[ENTRY_POINT]


def freeze_module(namespace: dict[str, Any]) -> None:
    """Make the module-level data of executed reward code unchangeable, in place: no state survives a call
    except `memory`.

    Lists become tuples, sets frozensets and dicts read-only mappings (`types.MappingProxyType`) of frozen
    values, recursively, so that a write through any alias (`d = TABLE; d["k"] = 1`, a helper's parameter)
    raises TypeError or AttributeError. Reads keep working (`TABLE["k"]`, `.get`, `.items()`, `dict(TABLE)`,
    `list(LIST)`, `LIST + (1,)`, `in`, `len`). Functions and modules stay as they are (the static rules
    admit only immutable constants as parameter defaults).
    """
    for name, value in list(namespace.items()):
        if not name.startswith("__") and not isinstance(value, (types.FunctionType, types.ModuleType, type)):
            namespace[name] = freeze_value(value)  # not __builtins__, __name__, __doc__


def freeze_value(value: Any) -> Any:
    """An unchangeable equivalent of a data value (containers are rebuilt, everything else returned as is)."""
    if isinstance(value, (dict, types.MappingProxyType)):
        return types.MappingProxyType({key: freeze_value(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze_value(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze_value(item) for item in value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.flags.writeable = False
        return value
    return value


def load_reward_file(path: str | Path) -> RewardFn:
    """`load_reward` of a file's text, named by the file in messages."""
    path = Path(path)
    return load_reward(path.read_text(encoding="utf-8"), path.name)
