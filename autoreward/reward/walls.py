"""Walls around untrusted reward code while it runs: a language-level one per call, OS-level ones per process.

- `AUDIT_WALL`: one PEP 578 audit hook per process, *armed* only while reward code runs on the arming thread.
  Armed, it refuses every audited event that is not on a short allow-list (opening files, sockets, new
  processes, ctypes, imports, dynamic code, reflection...) and records the first attempt, which the caller
  checks after the call: reward code that catches the refusal is stopped all the same.
- `apply_os_walls`: for a process that runs reward code (an env worker): an empty network namespace, Landlock
  rules (writes only below the given folders, no program execution, no TCP, no signals out of the process's
  domain), an address-space cap, no core dumps, a file-size cap, and no new privileges. Each wall that the
  OS refuses is reported, never silently assumed.
- `clean_environment`: the environment a reward process starts with: no API keys, tokens or proxies.

The threat model and what each wall does and does not stop: docs/security.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

#: Audited events reward code may cause while armed (all are reads of already-loaded state, without I/O).
#: None so far: every audited event of CPython (https://docs.python.org/3/library/audit_events.html) is I/O,
#: a process or network operation, an import, dynamic code or reflection, none of which reward code needs.
ALLOWED_EVENTS: frozenset[str] = frozenset()

#: Environment variables a reward process keeps (everything else, API keys included, is dropped).
_KEPT_VARIABLES = ("LANG", "LC_ALL", "TZ")


def clean_environment(tmpdir: str, home: str | None = None) -> dict[str, str]:
    """Only what Python and NLE need: no API keys, tokens, cloud credentials or proxies reach reward code."""
    env = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
    env.update({"PATH": os.defpath, "HOME": home or tmpdir, "TMPDIR": tmpdir, "LANG": env.get("LANG", "C.UTF-8"),
                "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


_CREDENTIAL_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH")
_CREDENTIAL_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "GCP_", "OPENAI_", "ANTHROPIC_", "HF_", "HUGGING")


def is_credential(name: str) -> bool:
    """Whether an environment variable looks like a credential (API keys, tokens, cloud settings)."""
    upper = name.upper()
    return any(marker in upper for marker in _CREDENTIAL_MARKERS) or upper.startswith(_CREDENTIAL_PREFIXES)


def drop_credentials() -> list[str]:
    """Remove credential-like variables from this process's environment; their names, for the record."""
    names = sorted(name for name in os.environ if is_credential(name))
    for name in names:
        del os.environ[name]
    return names


class AuditWall:
    """A process-wide audit hook that refuses what reward code must not do, but only while it is armed."""

    def __init__(self) -> None:
        self._armed = 0  # thread id of the thread running reward code; 0 when none
        self._allow_code = False  # loading the reward module: compiling and executing it is its job
        self.installed = False
        self.violation: str | None = None  # the first refused event since the last `clear()`

    def install(self) -> None:
        """Add the hook (once per process; audit hooks cannot be removed)."""
        if not self.installed:
            sys.addaudithook(self._hook)
            self.installed = True

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self._armed != threading.get_ident():  # the fast path: not inside reward code
            return
        if event in ALLOWED_EVENTS or (self._allow_code and event in ("compile", "exec")):
            return
        if self.violation is None:
            self.violation = f"{event}{_describe_args(args)}"
        raise PermissionError(f"reward code may not do {event!r} (sandbox)")

    @contextlib.contextmanager
    def armed(self, allow_code: bool = False) -> Iterator[None]:
        """Arm the wall for the current thread while the block runs (the reward call, or loading its module)."""
        self.install()
        self._allow_code = allow_code
        self._armed = threading.get_ident()
        try:
            yield
        finally:
            self._armed = 0
            self._allow_code = False

    def arm(self) -> None:
        """The hot path's version of `armed()`: arm for this thread (the caller must `disarm()` in a finally)."""
        self._armed = threading.get_ident()

    def disarm(self) -> None:
        self._armed = 0

    def clear(self) -> None:
        self.violation = None


AUDIT_WALL = AuditWall()


def _describe_args(args: tuple[Any, ...]) -> str:
    try:
        text = ", ".join(repr(a) for a in args[:2])
    except Exception:  # noqa: BLE001 - an argument whose repr fails: say nothing about it
        return ""
    return f" ({text[:200]})" if text else ""


# ----- OS-level walls --------------------------------------------------------------------------------------

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1

# Landlock (Linux >= 5.13): system call numbers are the same on x86_64 and aarch64 (asm-generic).
_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_WRITES_V1 = sum(1 << bit for bit in range(4, 13))  # remove dir/file, make char/dir/reg/sock/fifo/block/sym
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def isolate_network() -> str | None:
    """Move this (single-threaded) process into an empty network namespace; None when the OS refuses."""
    try:
        libc = _libc()
        if libc.unshare(_CLONE_NEWNET) == 0:
            return "network namespace (no interfaces)"
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:  # unprivileged: a user namespace first
            return "network namespace (no interfaces, in a user namespace)"
    except (OSError, AttributeError):
        pass
    return None


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is unavailable (old kernel, disabled, not Linux)."""
    calls = _SYS_LANDLOCK.get(platform.machine())
    if calls is None or not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(calls[0], None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def apply_landlock(writable: Sequence[str], readable: Sequence[str]) -> str | None:
    """Restrict this thread and its future children: read only below `readable` and `writable`, write only below
    `writable`, execute no program, and (ABI >= 4 / 6) no TCP, no abstract sockets or signals out of its domain.

    Applies to the calling thread only (Landlock's rule): call it while the process has one thread.
    Returns a description, or None when Landlock is unavailable.
    """
    abi = landlock_abi()
    if abi < 1:
        return None
    sys_create, sys_add, sys_restrict = _SYS_LANDLOCK[platform.machine()]
    writes = _FS_WRITE_FILE | _FS_WRITES_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    reads = _FS_READ_FILE | _FS_READ_DIR
    attr = _RulesetAttr(handled_access_fs=writes | reads | _FS_EXECUTE,
                        handled_access_net=(_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
                        scoped=(_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    libc = _libc()
    ruleset = libc.syscall(sys_create, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        return None
    try:
        for paths, access in ((readable, reads), (writable, reads | writes)):
            for path in paths:
                if not os.path.exists(path):
                    continue
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    allowed = access if os.path.isdir(path) else access & (_FS_READ_FILE | _FS_WRITE_FILE
                                                                            | (_FS_TRUNCATE if abi >= 3 else 0))
                    rule = _PathBeneathAttr(allowed_access=allowed, parent_fd=fd)
                    if libc.syscall(sys_add, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule({path!r}) failed")
                finally:
                    os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return None
        if libc.syscall(sys_restrict, ruleset, 0) != 0:
            return None
    finally:
        os.close(ruleset)
    extra = (", no TCP" if abi >= 4 else "") + (", no signals out of the sandbox" if abi >= 6 else "")
    return f"Landlock ABI {abi} (reads below the Python installation, writes below the worker's temp folder, " \
           f"no program execution{extra})"


def readable_roots() -> list[str]:
    """What a reward process must still read after its walls are up: the Python installation and libraries."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr/lib", "/usr/lib64", "/lib", "/lib64",
             "/usr/local/lib", "/dev/null", "/dev/urandom", "/proc/self"}
    roots.update(path for path in sys.path if path and os.path.isdir(path))
    return sorted(roots)


def limit_memory(extra_bytes: int) -> int:
    """Cap this process's address space at its current size plus `extra_bytes`; returns the cap in bytes."""
    cap = _address_space_bytes() + int(extra_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def _address_space_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def die_with_parent() -> None:
    """Ask the kernel to kill this process when the process that started it exits (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)


def apply_os_walls(writable: Sequence[str], file_size_bytes: int = 64 << 20) -> list[str]:
    """The OS-level walls that need no knowledge of memory use yet (call before building envs); what holds."""
    held = ["clean environment (no credentials)"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_bytes, file_size_bytes))
    held.append(f"files at most {file_size_bytes >> 20} MiB, no core dumps")
    network = isolate_network()
    held.append(network or "no network namespace (not allowed here)")
    landlock = apply_landlock(writable, readable_roots())
    held.append(landlock or "no Landlock (not available here)")
    return held
