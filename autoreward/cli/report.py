"""`autoreward report`: write a run's (or a training's) self-contained HTML page, and open it if asked."""

from __future__ import annotations

import argparse
import webbrowser

from autoreward.cli.common import console, escape
from autoreward.paths import latest_run
from autoreward.report.build import write_report


def cmd_report(args: argparse.Namespace) -> int:
    """Write the page; print where it is (and its size), open it with --open."""
    if args.run is None:
        args.run = str(latest_run(args.runs))
        console.print(f"latest run under {escape(args.runs)}: {escape(args.run)}")
    path = write_report(args.run, args.out)
    console.print(f"written: {escape(str(path))} ({path.stat().st_size / 1024:.0f} KiB)")
    if args.open:
        webbrowser.open(path.resolve().as_uri())
    return 0
