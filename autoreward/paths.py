"""Where the project's data folders (`envs/`, `prompts/`, `examples/`) are, in a checkout or an installed wheel."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from autoreward.errors import UsageError

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder `name` at the repository root (checkout, editable install) or inside the wheel (`_data/`)."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} not found next to the autoreward package")


#: Starts a module as `python -m` would, after putting the starting process's package root first on sys.path.
_BOOTSTRAP = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
              "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def module_command(module: str, *args: str) -> list[str]:
    """The command line of an isolated child (`python -I`, no environment variables, no user site) that runs our
    `module` from the same checkout as this process.

    `python -I -m module` would import whichever autoreward the site path holds (an editable install of another
    checkout, say), not this one: walled children (env workers, the probe sandbox, the level helper) must run the
    code of the process that checks and trains, or a plugin card's module (docs/cards.md) could meet another
    version of the package there. The module name stays on the command line (`ps` shows it).
    """
    return [sys.executable, "-I", "-c", _BOOTSTRAP, str(_PACKAGE.parent), module, *args]


RUNS = "runs"  # where commands write when no --out is given


def task_slug(task: str) -> str:
    """A task id as a folder name part: MiniHack-KeyRoom-S5-v0 -> keyroom-s5-v0 (as `iterate` names its runs)."""
    return task.replace("MiniHack-", "").replace("NetHack", "nh-").lower()


def default_out(command: str, task: str, runs: str | Path = RUNS) -> Path:
    """A new output folder for `command` on `task`: runs/<command>-<task>-<UTC time>, with -2, -3 ... if taken.

    e.g. runs/train-keyroom-s5-v0-20261201-183000. Nothing is created.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(runs) / f"{command}-{task_slug(task)}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def latest_run(runs: str | Path = RUNS) -> Path:
    """The newest run under `runs`: the folder whose run.json changed last (an `iterate` run, resumed or not)."""
    root = Path(runs)
    found = [p for p in root.glob("*/run.json") if p.is_file()] if root.is_dir() else []
    if not found:
        raise UsageError(f"no run under {str(root)!r} (no folder with a run.json): give a run folder, or "
                         "--runs DIR where the runs are")
    return max(found, key=lambda p: (p.stat().st_mtime_ns, p.parent.name)).parent
