"""The `autoreward` command line: envs, check, train, eval, bench, iterate, inspect, report, serve, calm.

Exit codes: 0 done (or accepted), 1 rejected or failed (the reason is printed), 2 usage error, 130 interrupted.
Library code prints nothing; everything users see is printed by these modules, with rich. The parser
(`cli.parser`) is light; a command's module (`cli.envs`, `cli.train`, ...) is imported when it runs.
"""

from __future__ import annotations

import importlib
import sys

from autoreward.cli.common import err_console, escape
from autoreward.cli.parser import build_parser
from autoreward.errors import AutorewardError


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (errors of ours are printed, never raised)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    if isinstance(handler, str):  # "module:function": the command's module is loaded only now
        module, _, name = handler.partition(":")
        handler = getattr(importlib.import_module(module), name)
    try:
        return handler(args)
    except AutorewardError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/yellow]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
