"""The reward-function contract: what reward code may use, what it is shown, and how its calls are checked.

The allow-lists here are the single source of truth: the designer is shown them (`CONTRACT_TEXT`, the env
card's State API), the static critic enforces them, and `reward.loader.load_reward` executes code with nothing
more.
"""

from __future__ import annotations

import atexit
import math
import re
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from autoreward.env.registry import card_for
from autoreward.env.state import STATE_API

RewardFn = Callable[[Any, int, Any, dict], tuple[float, dict[str, float]]]

ENTRY_POINT = "compute_reward"
ENTRY_ARITY = 4  # (prev, action, state, memory)
MAX_COMPONENTS = 64
#: The largest magnitude of a total or component: finite is not enough, since the trainer keeps rewards as float32
#: (3.4e38 at most) and PPO's value loss squares returns; no shaped reward needs more.
MAX_MAGNITUDE = 1e6
#: What a component name may be: it becomes a metric key, a plot label, a line in terminals, reports and prompts,
#: so a short plain name; no control characters (terminal escapes), markup or newlines.
COMPONENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .:/+()-]{0,63}")

#: The modules reward code may import, under any name (`import math as m`: the alias is checked as a name).
ALLOWED_MODULES: tuple[str, ...] = ("math", "numpy")
#: `from __future__ import ...` features reward code may use: `annotations` only makes annotations strings
#: that are never evaluated.
FUTURE_FEATURES: frozenset[str] = frozenset({"annotations"})

#: Builtins available to reward code: pure functions and types, no I/O, no reflection.
SAFE_BUILTIN_NAMES: frozenset[str] = frozenset({
    "abs", "all", "any", "bool", "chr", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int",
    "isinstance", "iter", "len", "list", "map", "max", "min", "next", "ord", "pow", "range", "reversed", "round",
    "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "Exception", "ArithmeticError", "IndexError", "KeyError", "LookupError", "TypeError", "ValueError",
    "ZeroDivisionError", "StopIteration", "True", "False", "None",
})

#: Builtins and names refused outright, with the reason shown to the designer.
FORBIDDEN_NAMES: dict[str, str] = {
    **{name: "it runs arbitrary code" for name in ("eval", "exec", "compile", "__import__", "breakpoint")},
    **{name: "it reads or changes objects by reflection" for name in (
        "getattr", "setattr", "delattr", "hasattr", "globals", "locals", "vars", "dir", "type", "object",
        "super", "classmethod", "staticmethod", "property", "memoryview", "id", "hash", "callable",
        "__builtins__", "__loader__", "__spec__")},
    **{name: "reward code does no I/O" for name in ("open", "input", "print", "help", "exit", "quit")},
}

#: numpy names reward code may use (everything else in numpy, e.g. file I/O and np.random, is refused).
NUMPY_API: frozenset[str] = frozenset({
    "abs", "absolute", "all", "any", "arange", "argmax", "argmin", "argsort", "argwhere", "around", "array",
    "array_equal", "asarray", "bool_", "ceil", "clip", "concatenate", "count_nonzero", "cumsum", "diff", "dot",
    "e", "exp", "flatnonzero", "float32", "float64", "floor", "full", "hstack", "hypot", "inf", "int16",
    "int32", "int64", "isfinite", "isin", "isnan", "linalg", "log", "log1p", "logical_and", "logical_not",
    "logical_or", "max", "maximum", "mean", "median", "min", "minimum", "nan", "ndarray", "nonzero", "norm",
    "ones", "ones_like", "pi", "prod", "round", "sign", "sort", "sqrt", "square", "stack", "std", "sum", "tanh",
    "uint8", "unique", "vstack", "where", "zeros", "zeros_like",
})

#: math names reward code may use: the whole math module (pure functions and constants).
MATH_API: frozenset[str] = frozenset(name for name in dir(math) if not name.startswith("_"))

#: Methods and attributes of plain values (dict, list, tuple, set, str, numbers, numpy arrays) that are safe.
VALUE_API: frozenset[str] = frozenset({
    # dict / list / set / tuple
    "get", "items", "keys", "values", "setdefault", "pop", "popitem", "update", "append", "extend", "insert",
    "remove", "clear", "copy", "add", "discard", "union", "intersection", "difference", "issubset",
    "issuperset", "index", "count", "sort", "reverse",
    # str
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "splitlines", "startswith", "endswith", "replace",
    "find", "rfind", "join", "isdigit", "isalpha", "isspace", "casefold",
    # numbers and numpy arrays
    "real", "imag", "is_integer", "shape", "size", "ndim", "dtype", "sum", "mean", "max", "min", "any", "all",
    "argmax", "argmin", "astype", "reshape", "ravel", "flatten", "tolist", "item", "nonzero", "clip", "std",
    "T", "cumsum",
})

#: Every attribute name reward code may read on the NetHack cards (their State API with the rest).
ALLOWED_ATTRIBUTES: frozenset[str] = STATE_API | NUMPY_API | MATH_API | VALUE_API


def allowed_attributes(state_api: frozenset[str] | None = None) -> frozenset[str]:
    """Every attribute name reward code may read: a card's State API (default NetHack's) with numpy, math and
    plain value methods. A card's own State is checked exactly as strictly against its own names."""
    return ALLOWED_ATTRIBUTES if state_api is None or state_api is STATE_API else (
        state_api | NUMPY_API | MATH_API | VALUE_API)


def task_state_api(task: str) -> frozenset[str]:
    """The State API of the card that serves `task`: the names the critic lets reward code read for it."""
    return card_for(task).state_api

CONTRACT_TEXT = f"""
## Reward function contract
Write one Python file that defines

    def compute_reward(prev, action, state, memory):
        ...
        return total, components

- `prev`, `state`: the State before and after the step (API below); `action`: the action index (int);
  `memory`: a dict that lives for one episode (empty at reset) for counters and visited sets.
- Return `(total, components)`: `components` is a dict of named float terms (e.g. {{"progress": 0.1,
  "key_pickup": 1.0}}) and `total` equals their sum. Every value must be a finite float, at most {MAX_MAGNITUDE:g}
  in magnitude. Names are short (at most
  64 ASCII letters, digits, spaces or `_ - . : / + ( )`), at most {MAX_COMPONENTS} of them.
- The task's own sparse reward (`state.env_reward`) is added by the trainer: do not add it yourself.
- Allowed imports: `import math`, `import numpy as np`, `from math import sqrt`, `from __future__ import annotations`
  (numpy functions: {", ".join(sorted(NUMPY_API))}).
- Allowed builtins: {", ".join(sorted(SAFE_BUILTIN_NAMES - {"True", "False", "None"}))}.
- At module level: imports, constants and function definitions only (helper functions are fine).
- Not allowed: other imports, file/network/process access, print, eval/exec, reflection (getattr, type,
  dunder or underscore attributes), str.format, global statements, changing module-level values, classes.
- Keep it fast (well under a millisecond per call) and deterministic (no randomness).
"""


def describe_task(task: str, example_seed: int = 0) -> str:
    """Exactly what the designer is told about a task: its card's description with this contract in it."""
    return card_for(task).describe(task, CONTRACT_TEXT, example_seed)


class ContractViolation(Exception):
    """A reward call returned something the contract does not allow (message is for the designer)."""


def validate_result(result: Any, tolerance: float = 1e-6) -> tuple[float, dict[str, float]]:
    """Check one return value against the contract and return it as (float, {str: float})."""
    if type(result) is not tuple or len(result) != 2:
        raise ContractViolation(
            f"compute_reward must return a tuple (total, components), got {type(result).__name__}")
    total, components = result
    if type(components) is not dict:
        raise ContractViolation(f"components must be a dict of name -> float, got {type(components).__name__}")
    if len(components) > MAX_COMPONENTS:
        raise ContractViolation(f"components has {len(components)} entries; keep it to a few named terms")
    clean = {}
    expected = 0.0
    for name, value in components.items():
        if type(name) is not str or name not in _CHECKED_NAMES:  # str subclasses hash alike: check the type too
            _check_name(name)
        value = _number(value, f"component {name!r}")
        clean[name] = value
        expected += value
    total = _number(total, "total")
    if abs(total - expected) > tolerance * max(1.0, abs(expected)):
        raise ContractViolation(f"total {total:.6g} is not the sum of the components ({expected:.6g})")
    return total, clean


#: Names already found valid in this process (a reward uses a few, every step): each is checked once.
_CHECKED_NAMES: set[str] = set()


def _check_name(name: Any) -> None:
    if type(name) is not str:
        raise ContractViolation(f"component names must be str, got {type(name).__name__}")
    if COMPONENT_NAME.fullmatch(name) is None:
        shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
        raise ContractViolation(f"component name {shown} ({len(name)} characters) is not a short plain name: use "
                                "at most 64 ASCII letters, digits, spaces or `_ - . : / + ( )`, starting with a "
                                "letter, digit or `_`")
    if len(_CHECKED_NAMES) < 4096:
        _CHECKED_NAMES.add(name)


def _number(value: Any, what: str) -> float:
    kind = type(value)
    if kind is not float and (kind is bool or not isinstance(value, (int, float, np.integer, np.floating))):
        raise ContractViolation(f"{what} must be a float, got {kind.__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int past float's range (10 ** 400)
        raise ContractViolation(f"{what} is an integer too large for a float (must be finite)") from None
    if value - value != 0.0:  # NaN or infinity
        raise ContractViolation(f"{what} is {value} (must be finite)")
    if abs(value) > MAX_MAGNITUDE:
        raise ContractViolation(f"{what} is {value:.6g}: keep every value within {MAX_MAGNITUDE:g} of 0 (the "
                                "trainer keeps rewards as float32 and squares returns); scale the reward down")
    return value


class RewardCallTimeout(BaseException):
    """A reward call ran past its budget (a BaseException, so `except Exception` in reward code can't eat it)."""


class _CallTimer:
    """A periodic SIGALRM that interrupts a reward call running past its budget.

    Arming a one-shot timer around every call costs two system calls (~2 us, a tenth of an env step); instead
    one interval timer ticks a few times per budget, and each call only stamps its start time.
    """

    def __init__(self) -> None:
        self.started = 0.0  # perf_counter() at the start of the running call; 0 when none runs
        self.budget = math.inf
        self.users = 0
        self.exit_hook = False
        self.previous_handler: Any = signal.SIG_DFL

    def handle(self, signum: int, frame: Any) -> None:
        if self.started and time.perf_counter() - self.started > self.budget:
            self.started = 0.0
            raise RewardCallTimeout


CALL_TIMER = _CallTimer()


def install_call_timer(budget_s: float) -> bool:
    """Start interrupting reward calls longer than `budget_s`; False off the main thread, where it can't."""
    if threading.current_thread() is not threading.main_thread():
        return False
    CALL_TIMER.budget = min(CALL_TIMER.budget, budget_s) if CALL_TIMER.users else budget_s
    CALL_TIMER.users += 1
    if not CALL_TIMER.exit_hook:  # never leave a ticking timer behind: SIGALRM's default action kills the process
        atexit.register(_stop_timer)
        CALL_TIMER.exit_hook = True
    if CALL_TIMER.users == 1:
        CALL_TIMER.previous_handler = signal.getsignal(signal.SIGALRM)
    signal.signal(signal.SIGALRM, CALL_TIMER.handle)
    signal.siginterrupt(signal.SIGALRM, False)  # system calls in progress resume instead of failing
    period = max(0.005, CALL_TIMER.budget / 4)
    signal.setitimer(signal.ITIMER_REAL, period, period)
    return True


def remove_call_timer() -> None:
    """Undo one `install_call_timer`; the interval timer stops with the last user."""
    CALL_TIMER.users = max(0, CALL_TIMER.users - 1)
    if CALL_TIMER.users == 0:
        _stop_timer()


def _stop_timer() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, CALL_TIMER.previous_handler or signal.SIG_DFL)
    CALL_TIMER.users, CALL_TIMER.budget = 0, math.inf


def call_with_budget(fn: RewardFn, prev: Any, action: int, state: Any, memory: dict, budget_s: float) -> Any:
    """Call the reward function; raise RewardCallTimeout if it runs over `budget_s` seconds.

    After `install_call_timer` a runaway call is interrupted; every call is also judged after it returns, timer
    or not: an interrupt that reward code swallowed (a `return` in `finally`) must not make a late call count.
    """
    timer = CALL_TIMER
    timer.started = start = time.perf_counter()
    try:
        result = fn(prev, action, state, memory)
    finally:
        timer.started = 0.0
    if time.perf_counter() - start > budget_s:
        raise RewardCallTimeout
    return result
