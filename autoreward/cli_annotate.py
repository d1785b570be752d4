"""The `serve` command: the annotation server that labels NetHack messages for intrinsic rewards."""

from __future__ import annotations

import argparse
import ipaddress
import os
from typing import Any

from rich.markup import escape

TOKEN_ENV = "AUTOREWARD_ANNOTATE_TOKEN"  # the same name as autoreward.annotate.server.TOKEN_ENV (not imported: slow)


def add_commands(sub: Any, positive: Any) -> None:
    """Register `serve` on the CLI's subparsers."""
    serve = sub.add_parser("serve", help="run the annotation server: LLM (or offline) labels of game messages, "
                                         "batched and stored (docs/annotation.md)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument("--llm", default="offline",
                       help="labeller: `offline` (the rule-based lexicon, default) or a litellm model "
                            "(openai/gpt-4o-mini, hosted_vllm/..., ollama/...)")
    serve.add_argument("--db", default="labels.sqlite", help="label store, SQLite (default labels.sqlite)")
    serve.add_argument("--token", default=None,
                       help=f"bearer token every request must carry (default: ${TOKEN_ENV}; none: no check)")
    serve.add_argument("--llm-api-base", default=None,
                       help="base URL of an OpenAI-compatible server for --llm (or AUTOREWARD_LLM_API_BASE)")
    serve.add_argument("--batch-size", type=positive, default=16, help="items per LLM call (default 16)")
    serve.add_argument("--concurrency", type=positive, default=4, help="LLM calls at once (default 4)")
    serve.add_argument("--offline-delay-ms", type=float, default=0.0,
                       help="with --llm offline: wait this long per call, standing in for a slow LLM (benchmarks)")
    serve.set_defaults(handler=cmd_serve)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    from autoreward.annotate.server import ServeConfig, serve
    from autoreward.cli import console, err_console

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if args.offline_delay_ms < 0:
        err_console.print("[red]error:[/red] --offline-delay-ms must be at least 0")
        return 2
    from autoreward.llm.providers import require_credentials

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
    serve(config)
    return 0
