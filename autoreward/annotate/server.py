"""The annotation server's HTTP API (docs/annotation.md): FastAPI over an `Annotator`, run by uvicorn.

    serve(ServeConfig(port=8000, llm="offline", db="labels.sqlite"))    # blocks (the `autoreward serve` command)

    server = BackgroundServer(ServeConfig(port=0, db=str(tmp / "labels.sqlite")))
    url = server.start()     # http://127.0.0.1:<free port>, in a thread of this process (the trainer, tests)
    ...
    server.stop()

Requests are checked before they reach the annotator: a bearer token when one is set (401, constant-time
compare), the body size (413, from Content-Length and from the bytes actually received), then the request's
shape and limits (422, or 400 for an unknown task), each with a `{"detail": "..."}` saying what was wrong.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict

from autoreward.annotate.labellers import Labeller, LLMLabeller, OfflineLabeller
from autoreward.annotate.metrics import Metrics
from autoreward.annotate.registry import UnknownTask
from autoreward.annotate.service import Annotator
from autoreward.annotate.store import LabelStore
from autoreward.annotate.tasks import Task
from autoreward.errors import UsageError
from autoreward.llm.client import LiteLLMClient

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_ENV = "AUTOREWARD_ANNOTATE_TOKEN"
PATHS = ("/v1/annotate", "/v1/labels", "/healthz", "/metrics")
MAX_LABELS_LIMIT = 10_000
MAX_SEQ = 2**63 - 1  # SQLite's largest INTEGER: a larger `since` cannot be bound to a query

_log = logging.getLogger(__name__)


class ServerError(UsageError):
    """The annotation server could not start (a database path, a port or a labeller that cannot be used): exit 2."""


@dataclass
class ServeConfig:
    """Settings of one annotation server (`autoreward serve`, or one a trainer starts in its process)."""

    host: str = "127.0.0.1"
    port: int = 8000  # 0: a free port (BackgroundServer reports it)
    llm: str = "offline"  # the labeller: offline (lexicon) or a litellm model
    db: str = "labels.sqlite"
    token: str | None = None  # bearer token every request must carry
    batch_size: int = 16  # items per labeller call
    max_concurrency: int = 4  # labeller calls at once
    max_items: int = 256  # per request
    max_text: int = 512  # characters per text
    max_body: int = 256 * 1024  # bytes per request body
    offline_delay_s: float = 0.0  # per offline call: stands in for a slow LLM (tests, benchmarks)
    api_base: str | None = None  # OpenAI-compatible server for the litellm model
    batch_wait_s: float = 0.02  # how long a batch waits to fill up
    llm_timeout_s: float = 60.0
    llm_retries: int = 4  # the LLM client's retries of transient errors, per call
    llm_backoff_s: float = 1.0


class AnnotateRequest(BaseModel):
    """Body of POST /v1/annotate; items are checked by their task (`Task.check_item`)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    items: list[Any]


def make_labeller(config: ServeConfig) -> Labeller:
    """The offline lexicon, or a litellm client (no response cache: the label store is the cache, and a cache
    would replay an unparseable answer to its retry)."""
    if config.llm.strip().lower() == OfflineLabeller.model:
        return OfflineLabeller(config.offline_delay_s)
    llm = LiteLLMClient(config.llm.strip(), api_base=config.api_base, timeout_s=config.llm_timeout_s,
                        retries=config.llm_retries, backoff_s=config.llm_backoff_s, cache=None)
    return LLMLabeller(llm, max_workers=config.max_concurrency)


def create_app(config: ServeConfig, labeller: Labeller | None = None) -> FastAPI:
    """The API over a new `Annotator` (started and stopped with the app's lifespan) and its own metrics."""
    labeller = labeller if labeller is not None else make_labeller(config)
    metrics = Metrics.create()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            annotator = Annotator(open_store(config.db), labeller, batch_size=config.batch_size,
                                  max_concurrency=config.max_concurrency, batch_wait_s=config.batch_wait_s,
                                  metrics=metrics)
            await annotator.start()
        except Exception as exc:
            app.state.startup_error = exc
            raise
        app.state.annotator = annotator
        _log.info("annotating with %s into %s", labeller.model, config.db)
        try:
            yield
        finally:
            await annotator.close()

    app = FastAPI(title="autoreward annotation server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.config, app.state.metrics, app.state.labeller, app.state.startup_error = config, metrics, labeller, None
    app.add_exception_handler(RequestValidationError, _validation_error)
    _add_routes(app, config)
    app.add_middleware(_BodyLimit, max_body=config.max_body)
    if config.token:
        app.add_middleware(_BearerAuth, token=config.token)
    app.add_middleware(_CountRequests, metrics=metrics)
    return app


def _add_routes(app: FastAPI, config: ServeConfig) -> None:
    def annotator() -> Annotator:
        return app.state.annotator

    def task_or_400(name: str) -> Task:
        try:
            return annotator().task(name)
        except UnknownTask as exc:
            raise HTTPException(400, str(exc)) from None

    @app.post("/v1/annotate")
    async def annotate(body: AnnotateRequest) -> Response:
        task = task_or_400(body.task)
        if not 1 <= len(body.items) <= config.max_items:
            raise HTTPException(422, f"items: give 1 to {config.max_items} items, got {len(body.items)}")
        items = [_checked(task, index, item, config.max_text) for index, item in enumerate(body.items)]
        results = await annotator().annotate(task.name, items)
        return JSONResponse({"results": [result.to_dict() for result in results], "cursor": annotator().cursor})

    @app.get("/v1/labels")
    async def labels(task: str, since: int = Query(0, ge=0, le=MAX_SEQ),
                     limit: int = Query(1000, ge=1, le=MAX_LABELS_LIMIT)) -> Response:
        name = task_or_400(task).name
        rows = await annotator().labels_since(name, since, limit)
        records = []
        for row in rows:
            record = {"id": row.key, "item": row.item, "status": row.status, "label": row.label, "seq": row.seq}
            if row.reason is not None:
                record["reason"] = row.reason
            records.append(record)
        return JSONResponse({"labels": records, "cursor": rows[-1].seq if rows else since})

    @app.get("/healthz")
    async def healthz() -> Response:
        service = annotator()
        return JSONResponse({"status": "ok", "model": service.model, "tasks": sorted(service.tasks),
                             "queue": service.queue_depth, "labels": await service.label_count()})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _checked(task: Task, index: int, item: Any, max_text: int) -> Any:
    try:
        return task.check_item(item, max_text)
    except ValueError as exc:
        raise HTTPException(422, f"items[{index}]: {exc}") from None


async def _validation_error(request: Request, exc: Exception) -> Response:
    """Pydantic's error list as one readable `detail` string."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            problems.append("the body is not valid JSON")
            continue
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


# ----- ASGI middleware (plain ASGI: no per-request task overhead) ----------------------------------------
async def _send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start_headers + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


class _BodyLimit:
    """413 for a body over `max_body` bytes: by its Content-Length at once, else while it is received."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _send_json(send, 413, f"request body over {self.max_body} bytes")
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise HTTPException(413, f"request body over {self.max_body} bytes")
            return message

        await self.app(scope, limited, send)


class _BearerAuth:
    """401 for any request without `Authorization: Bearer <token>` (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = _header(scope, b"authorization") or b""
            if not hmac.compare_digest(given, self.expected):
                await _send_json(send, 401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)


class _CountRequests:
    """Counts HTTP requests by path (the API's, else 'other') and status code, and times them by path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, noting)
        finally:
            path = scope.get("path", "")
            path = path if path in PATHS else "other"
            self.metrics.requests.labels(path=path, code=str(status[0])).inc()
            self.metrics.request_seconds.labels(path=path).observe(time.perf_counter() - start)


# ----- running it -------------------------------------------------------------------------------------
def open_store(path: str) -> LabelStore:
    """The label store at `path`, or ServerError saying why it cannot be used (a directory, not a database, ...)."""
    try:
        return LabelStore(path)
    except (sqlite3.Error, OSError) as exc:
        raise ServerError(f"the annotation server did not start: cannot use {path} as the label store: {exc}") from None


def _preflight(config: ServeConfig) -> socket.socket:
    """Check the store and bind the port before uvicorn runs, so that either failing is one clear ServerError
    (uvicorn would log a traceback, or its own one line, and exit with code 3); returns the bound socket."""
    open_store(config.db).close()
    sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart reuses the port
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"the annotation server did not start: cannot listen on {config.host}:{config.port}: "
                          f"{exc.strerror or exc}") from None
    return sock


def _uvicorn_config(app: FastAPI, config: ServeConfig, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, access_log=False,
                          lifespan="on", timeout_graceful_shutdown=5)


def serve(config: ServeConfig, log_level: str = "info") -> None:
    """Run the server until interrupted (SIGINT/SIGTERM); queued items stay pending in the store."""
    sock = _preflight(config)
    server = uvicorn.Server(_uvicorn_config(create_app(config), config, log_level))
    with suppress(SystemExit), sock:  # uvicorn exits (code 3) if the app's start-up fails
        server.run(sockets=[sock])
    if not server.started:
        raise ServerError(f"the annotation server did not start on {config.host}:{config.port} (see the log above)")


class BackgroundServer:
    """An annotation server in a daemon thread of this process; `start()` returns its URL once it answers."""

    def __init__(self, config: ServeConfig, labeller: Labeller | None = None, log_level: str = "warning") -> None:
        self.config = config
        self.app = create_app(config, labeller)
        self._server = uvicorn.Server(_uvicorn_config(self.app, config, log_level))
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url: str | None = None

    @property
    def annotator(self) -> Annotator:
        """The running annotator (for tests and the trainer's statistics)."""
        return self.app.state.annotator

    def start(self, timeout_s: float = 30.0) -> str:
        """Start serving and return the base URL (with the bound port when the config's port is 0)."""
        self._socket = _preflight(self.config)
        self._thread = threading.Thread(target=self._run, name="annotate-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                error = self.app.state.startup_error
                raise ServerError(f"the annotation server did not start on {self.config.host}:{self.config.port}"
                                  + (f": {type(error).__name__}: {error}" if error else ""))
            time.sleep(0.005)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.config.host}:{port}"
        return self.url

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket] if self._socket else None)
        except SystemExit as exc:  # uvicorn exits when it cannot start (port taken, lifespan failed)
            _log.error("the annotation server stopped at start-up (exit code %s)", exc.code)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop serving (workers stopped, store closed); idempotent."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                _log.warning("the annotation server thread did not stop within %.0f s", timeout_s)
            self._thread = None
        if self._socket is not None:
            self._socket.close()  # (uvicorn closed it if it served; not if it failed at start-up)
            self._socket = None

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
