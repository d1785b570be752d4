"""A scriptable OpenAI-compatible chat server on 127.0.0.1, for testing real litellm calls without a network.

    server = ScriptedLLMServer().start()
    server.script(["first answer", {"status": 429}, {"delay": 2.0, "text": "late"}, lambda req: "echo"])
    ... LiteLLMClient("openai/test-model", api_base=server.url, api_key="sk-test") ...
    server.requests    # every JSON body received, in order (server.headers: their headers, names lower-cased)
    server.stop()

Each request to `POST /v1/chat/completions` (or `/chat/completions`) consumes the next step of the script:
    "text" or {"text": "...", "usage": {...}}   a chat.completion with that text and token usage
    {"status": 429 | 500 | 401 | ..., "message": "..."}   an OpenAI-shaped error reply with that HTTP status
    {"delay": seconds, ...}                    sleep first (to outlast a client timeout), then reply as the rest says
    fn(request_json) -> step                   decide from the request
When the script is exhausted the LAST STEP REPEATS (so `script(["ok"])` answers any number of calls and
`script([{"status": 500}])` fails forever); with an empty script every request gets a 500.
A 401 reply echoes the bearer key in its message, as OpenAI does, so tests can check that clients do not leak it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = str | dict[str, Any] | Callable[[dict[str, Any]], Any]
_PATHS = ("/v1/chat/completions", "/chat/completions")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


class ScriptedLLMServer:
    """An HTTP server in a daemon thread answering chat completions from a script; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # of each request, names lower-cased
        self._steps: list[Step] = []
        self._next = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients use, ending in /v1."""
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, steps: list[Step]) -> ScriptedLLMServer:
        """Replace the script (and restart it from its first step); received requests are kept."""
        with self._lock:
            self._steps = list(steps)
            self._next = 0
        return self

    def start(self) -> ScriptedLLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="llm-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; handlers still sleeping in a delay step wake up and give up."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _take(self) -> Step | None:
        with self._lock:
            if not self._steps:
                return None
            step = self._steps[min(self._next, len(self._steps) - 1)]
            self._next += 1
            return step

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if handler.path.split("?")[0] not in _PATHS:
            self._send(handler, 404, _error(404, f"no route {handler.path}"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(handler, 400, _error(400, "the body is not JSON"))
            return
        with self._lock:
            self.requests.append(body)
            self.headers.append({name.lower(): value for name, value in handler.headers.items()})
        step = self._take()
        if step is None:
            self._send(handler, 500, _error(500, "the test server has no script"))
            return
        if callable(step):
            step = step(body)
        if isinstance(step, dict) and "delay" in step:
            if self._stopping.wait(float(step["delay"])):
                return
            step = {k: v for k, v in step.items() if k != "delay"} or "late"
        if isinstance(step, dict) and "status" in step:
            status = int(step["status"])
            message = step.get("message") or f"scripted error {status}"
            if status == 401:
                key = handler.headers.get("Authorization", "").removeprefix("Bearer ")
                message = step.get("message") or f"Incorrect API key provided: {key}."
            self._send(handler, status, _error(status, message))
            return
        text = step if isinstance(step, str) else str(step.get("text", ""))
        usage = step.get("usage") if isinstance(step, dict) else None
        self._send(handler, 200, _completion(body, text, usage))

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass


def _words(value: Any) -> int:
    return len(str(value).split())


def _error(status: int, message: str) -> dict[str, Any]:
    code = "invalid_api_key" if status == 401 else None
    return {"error": {"message": message, "type": _ERROR_TYPES.get(status, "api_error"), "param": None, "code": code}}


def _completion(request: dict[str, Any], text: str, usage: dict[str, int] | None) -> dict[str, Any]:
    """A chat.completion reply; token counts are word counts unless the step gives `usage`."""
    prompt_tokens = sum(_words(m.get("content", "")) for m in request.get("messages", []))
    usage = usage or {"prompt_tokens": prompt_tokens, "completion_tokens": _words(text)}
    usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
    return {
        "id": f"chatcmpl-test-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "test-model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage,
    }
