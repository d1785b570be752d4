"""`autoreward serve`: the annotation server."""

from __future__ import annotations

import argparse
import ipaddress
import os

from autoreward.annotate import server
from autoreward.annotate.server import ServeConfig
from autoreward.cli.common import TOKEN_ENV, console, err_console, escape
from autoreward.llm.providers import require_credentials


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

def cmd_serve(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if args.offline_delay_ms < 0:
        err_console.print("[red]error:[/red] --offline-delay-ms must be at least 0")
        return 2

    require_credentials(args.llm, args.llm_api_base)  # exit 2 naming the variable to set, before listening
    config = ServeConfig(host=args.host, port=args.port, llm=args.llm, db=args.db, token=token,
                         batch_size=args.batch_size, max_concurrency=args.concurrency,
                         offline_delay_s=args.offline_delay_ms / 1000.0, api_base=args.llm_api_base)
    if not _is_loopback(args.host) and token is None:
        err_console.print(f"[yellow]warning:[/yellow] listening on {escape(args.host)} without a token: anyone who "
                          f"can reach it can spend your LLM budget (set --token or ${TOKEN_ENV})")
    host = f"[{args.host}]" if ":" in args.host else args.host
    console.print(f"annotation server on http://{escape(host)}:{args.port} (labeller {escape(args.llm)}, labels in "
                  f"{escape(args.db)}{', token required' if token else ''}); Ctrl-C stops it")
    server.serve(config)  # through the module: tests replace it
    return 0
