"""The probe's child process: runs reward code on recorded transitions, locked down, and reports JSON.

Started by `autoreward.reward.probe` as `python -I -m autoreward.reward.sandbox DIR` inside a fresh session,
with resource limits set before exec (CPU, memory, file size, core dumps). Here it reads its inputs, then
shuts the remaining doors before any reward code runs: no network (a new network namespace where the OS
allows it, and an audit hook that refuses sockets), no new processes, no file writes, no new imports.
Everything it learns goes to DIR/result.json, opened before the doors close.
"""

from __future__ import annotations

import errno
import io
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.linalg
import numpy.ma

from autoreward.reward.contract import (
    ContractViolation,
    RewardCallTimeout,
    call_with_budget,
    install_call_timer,
    validate_result,
)
from autoreward.reward.loader import load_reward
from autoreward.reward.walls import apply_landlock, isolate_network, readable_roots

_BLOCKED_EVENT_PREFIXES = ("socket.", "subprocess.", "os.system", "os.exec", "os.fork", "os.forkpty",
                           "os.posix_spawn", "os.spawn", "os.kill", "os.killpg", "os.remove", "os.rename",
                           "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.symlink",
                           "os.link", "os.putenv", "os.unsetenv", "os.chdir", "shutil.", "ctypes.", "pty.",
                           "sys._getframe", "sys.settrace", "sys.setprofile", "object.__setattr__",
                           "code.__new__", "function.__new__", "marshal.", "pickle.find_class", "urllib.",
                           "http.", "ftplib.", "smtplib.", "webbrowser.", "glob.", "winreg.", "mmap.",
                           "resource.setrlimit", "signal.", "sqlite3.", "exec", "compile")


def isolate() -> str:
    """Raise the OS walls that need nothing from the file system any more; say which hold."""
    network = isolate_network()
    landlock = apply_landlock(writable=[], readable=readable_roots())
    return " + ".join([network or "no network namespace (not allowed here)",
                       (landlock or "no Landlock (not available here)").split(" (")[0], "audit hook"])


class _Lockdown:
    """Set while the reward module is being loaded: compiling and executing its code is allowed then."""

    loading = False


def install_audit_hook(readable_roots: tuple[str, ...]) -> None:
    """Refuse process, network, file and dynamic-code events from here on (defence in depth).

    Reading stays possible only below `readable_roots` (the Python installation), so that numpy can still
    import a submodule lazily; importing anything outside numpy that is not loaded yet is refused. Code may
    be compiled and executed only while `_Lockdown.loading` (loading the reward module itself).
    """
    loaded = set(sys.modules)
    dynamic_code = ("exec", "compile")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode = str(args[0]), args[1] if len(args) > 1 else "r"
            flags = args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & 0o3)
            if writing or not path.startswith(readable_roots):
                raise PermissionError(f"sandbox: opening {path!r} is not allowed")
        elif event == "import":
            name = str(args[0])
            if name not in loaded and not name.startswith("numpy"):
                raise ImportError(f"sandbox: importing {name!r} is not allowed")
        elif event in dynamic_code and _Lockdown.loading:
            return
        elif event.startswith(_BLOCKED_EVENT_PREFIXES):
            raise PermissionError(f"sandbox: {event} is not allowed")

    sys.addaudithook(hook)


def _fingerprint(state: Any) -> bytes:
    """What reward code must not change in a State: the NetHack map and position, or any other card's pickle."""
    chars = getattr(state, "chars", None)
    if isinstance(chars, np.ndarray) and hasattr(state, "pos"):
        return chars.tobytes() + repr(state.pos).encode()
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def run_episodes(fn: Any, episodes: list[tuple[list[Any], list[int]]], call_timeout: float,
                 repeat_for_determinism: bool = True) -> dict[str, Any]:
    """Call the reward on every transition (memory reset per episode); collect errors and statistics."""
    errors: list[str] = []
    times: list[float] = []
    totals: list[float] = []
    components: dict[str, list[float]] = {}
    outputs: list[list[tuple[float, dict[str, float]]]] = []
    n_calls = 0
    for e, (states, actions) in enumerate(episodes):
        memory: dict[str, Any] = {}
        episode_out = []
        for t, action in enumerate(actions):
            prev, state = states[t], states[t + 1]
            before = (_fingerprint(prev), _fingerprint(state), action)
            start = time.perf_counter()
            try:
                result = call_with_budget(fn, prev, action, state, memory, call_timeout)
            except (RewardCallTimeout, Exception) as exc:  # noqa: BLE001 - any failure is reported to the designer
                errors.append(f"episode {e} step {t}: {_call_failure(exc, call_timeout)}")
                return _report(errors, times, totals, components, n_calls)
            times.append(time.perf_counter() - start)
            n_calls += 1
            if (_fingerprint(prev), _fingerprint(state), action) != before:
                errors.append(f"episode {e} step {t}: the reward modified its inputs (prev/state)")
                return _report(errors, times, totals, components, n_calls)
            try:
                total, parts = validate_result(result)
            except ContractViolation as exc:
                errors.append(f"episode {e} step {t}: {exc}")
                return _report(errors, times, totals, components, n_calls)
            totals.append(total)
            for name in set(components) | set(parts):
                components.setdefault(name, [0.0] * (len(totals) - 1)).append(parts.get(name, 0.0))
            episode_out.append((total, parts))
        outputs.append(episode_out)

    if repeat_for_determinism and not errors:
        errors += _check_determinism(fn, episodes, outputs, call_timeout)
    return _report(errors, times, totals, components, n_calls)


def _call_failure(exc: BaseException, call_timeout: float) -> str:
    """What a failed reward call tells the designer: the cause, and what to do about it where it is known."""
    if isinstance(exc, RewardCallTimeout):
        return f"a single call ran over {call_timeout:.2f} s (infinite loop or too much work per step)"
    if isinstance(exc, MemoryError):
        return "the reward ran out of memory (allocates without bound)"
    if isinstance(exc, RecursionError):
        return "unbounded recursion"
    if isinstance(exc, PermissionError | ImportError):
        return f"the reward tried to leave its sandbox: {_text(exc)}"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "the reward wrote more bytes of output than the probe allows; reward code must not print or write"
    if isinstance(exc, ValueError) and "read-only" in _text(exc):
        return f"the reward tried to modify its input State ({_text(exc)}); copy arrays before changing them"
    return f"raised {type(exc).__name__}: {_text(exc)}"


def _text(exc: BaseException, limit: int = 300) -> str:
    """An exception's message, cut to `limit` characters: reward code writes it, so it may be any size."""
    text = str(exc)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _check_determinism(fn: Any, episodes: list[tuple[list[Any], list[int]]],
                       outputs: list[list[tuple[float, dict[str, float]]]], call_timeout: float) -> list[str]:
    for e, (states, actions) in enumerate(episodes):
        memory: dict[str, Any] = {}
        for t, action in enumerate(actions):
            try:
                again = validate_result(call_with_budget(fn, states[t], action, states[t + 1], memory,
                                                         call_timeout))
            except RewardCallTimeout:
                return [f"episode {e} step {t}: the repeated call ran over {call_timeout:.2f} s"]
            except Exception as exc:  # noqa: BLE001
                return [f"episode {e} step {t}: the repeated call raised {type(exc).__name__}: {exc} "
                        "(the reward is not deterministic)"]
            if again != outputs[e][t]:
                return [f"episode {e} step {t}: equal inputs gave {again[0]:.6g} then {outputs[e][t][0]:.6g}: "
                        "the reward is not deterministic (no randomness; state only in `memory`)"]
    return []


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {}
    return {"mean": float(arr.mean()), "std": float(arr.std()), "min": float(arr.min()), "max": float(arr.max()),
            "nonzero": float(np.count_nonzero(arr) / arr.size)}


def _report(errors: list[str], times: list[float], totals: list[float], components: dict[str, list[float]],
            n_calls: int) -> dict[str, Any]:
    # Constant components are judged by the parent from these statistics (probe.component_notes).
    t = np.asarray(times) if times else np.zeros(1)
    return {
        "errors": errors,
        "warnings": [],
        "stats": {
            "calls": n_calls,
            "call_time_mean_us": float(t.mean() * 1e6),
            "call_time_p99_us": float(np.percentile(t, 99) * 1e6),
            "call_time_max_us": float(t.max() * 1e6),
            "total": _stats(totals),
            "components": {name: _stats(values) for name, values in sorted(components.items())},
        },
        "values": {"total": totals, "components": components},  # per transition, in episode order
    }


def load_for_probe(source: str, enforce_contract: bool, state_api: frozenset[str] | None = None
                   ) -> tuple[Any, dict[str, Any] | None]:
    """Load the reward function under the audit hook, checked against the card's `state_api`; (fn, None) or
    (None, report)."""
    _Lockdown.loading = True
    try:
        if enforce_contract:
            return load_reward(source, "reward.py", state_api=state_api), None
        # Tests of the sandbox itself: full builtins, so that only the process-level walls hold the code.
        namespace: dict[str, Any] = {"__name__": "autoreward_reward"}
        exec(compile(source, "reward.py", "exec"), namespace)  # the sandbox under test
        return namespace["compute_reward"], None
    except BaseException as exc:  # noqa: BLE001 - reported to the designer
        return None, {"errors": [f"loading failed: {type(exc).__name__}: {exc}"], "warnings": [], "stats": {}}
    finally:
        _Lockdown.loading = False


def _preload() -> None:
    """Run once what numpy sets up lazily (imports are refused once the audit hook is in; numpy.linalg and
    numpy.ma are imported at the top for the same reason)."""
    np.percentile(np.arange(3.0), 99)
    np.median(np.arange(3.0))


def main(workdir: str) -> int:
    work = Path(workdir)
    config = json.loads((work / "config.json").read_text())
    source = (work / "reward.py").read_text(encoding="utf-8")
    sys.path[:] = config.get("sys_path") or sys.path  # the parent's: a plugin card's State class unpickles below
    with open(work / "transitions.pkl", "rb") as handle:
        episodes = pickle.load(handle)
    result_file = open(work / "result.json", "w", encoding="utf-8")  # noqa: SIM115 - kept open past the lockdown

    network = isolate()
    install_call_timer(float(config["call_timeout"]))
    _preload()
    install_audit_hook(readable_roots=(sys.prefix, sys.base_prefix, str(Path(np.__file__).parent)))
    sys.stdout = sys.stderr = io.StringIO()  # reward code has no output channel
    api = config.get("state_api")
    fn, report = load_for_probe(source, bool(config.get("enforce_contract", True)),
                                None if api is None else frozenset(api))
    if fn is not None:
        try:
            report = run_episodes(fn, episodes, float(config["call_timeout"]))
        except MemoryError:
            raise  # the parent names the memory limit (stderr is gone: reward code has no output channel)
        except Exception as exc:  # noqa: BLE001 - what escaped the checks is the reward's doing: say what it was
            report = {"errors": [f"the probe failed on the reward's results: {type(exc).__name__}: "
                                 f"{_text(exc)}"], "warnings": [], "stats": {}}
    assert report is not None
    report["network_isolation"] = network
    try:
        text = json.dumps(report, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"errors": [f"the probe report could not be written: {exc}"], "warnings": [],
                           "stats": {}, "network_isolation": network})
    result_file.write(text)
    result_file.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
