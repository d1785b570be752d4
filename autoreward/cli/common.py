"""What every command shares: the consoles (everything users see is printed through them) and small helpers."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape as escape_markup

from autoreward.errors import UsageError
from autoreward.io import printable
from autoreward.paths import default_out as new_out_folder

TOKEN_ENV = "AUTOREWARD_ANNOTATE_TOKEN"  # the annotation server's bearer token, when --token is not given

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def escape(text: str) -> str:
    """Untrusted text made safe to print: rich markup escaped, control characters shown as `\\xNN`."""
    return escape_markup(printable(text))


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (not None): the rest keep the defaults of the config they are passed to."""
    return {name: value for name, value in options.items() if value is not None}


def recent_success(rate: float | None, episodes: int | None) -> str:
    """A training's success while it runs, with the episodes it is over: ", success 40% of the last 100 episodes"
    (none ended yet: "")."""
    if rate is None or not episodes:
        return ""
    return f", success {rate:.0%} of the last {episodes} episode{'s' if episodes != 1 else ''}"


def existing_file(path: str, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} {path!r} not found")
    return p

def default_out(args: argparse.Namespace, command: str) -> None:
    """Without --out, write to a new folder under runs/ named by command, task and time, and say which."""
    if args.out is not None:
        return
    args.out = str(new_out_folder(command, args.task))
    (err_console if args.json else console).print(f"no --out given: writing to {escape(args.out)}")
