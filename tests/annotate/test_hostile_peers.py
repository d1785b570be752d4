"""The annotation server and its client against careless or hostile peers: bodies a JSON library can hand over but
SQLite or UTF-8 cannot take, cursors past SQLite's range, replies of the wrong shape, ports and databases that
cannot be used. A real server on 127.0.0.1 (or a fake one that answers what a test tells it) in a thread."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from autoreward.annotate.client import AnnotationClient
from autoreward.annotate.server import BackgroundServer, ServeConfig, ServerError
from autoreward.errors import UsageError
from tests.common import ROOT, wait_until

NEWT = "You kill the newt!"


@pytest.fixture
def server(tmp_path) -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0, db=str(tmp_path / "labels.sqlite"))) as running:
        yield running


def post_raw(url: str, body: bytes) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=10) as client:
        return client.post("/v1/annotate", content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("body", [
    rb'{"task": "helpful", "items": ["a \ud800 b"]}',
    rb'{"task": "pairs", "items": [["fine", "\udc00"]]}',
    rb'{"task": "calm", "items": [["key \ud800", "text", "a;b"]]}',
], ids=["helpful", "pairs", "calm-key"])
def test_a_lone_surrogate_is_refused_with_a_422(server, body):
    """`\\ud800` is valid JSON but no UTF-8 text: it used to reach the key's sha256 and answer 500."""
    response = post_raw(server.url, body)
    assert response.status_code == 422, response.text
    assert "surrogate" in response.json()["detail"] and response.json()["detail"].startswith("items[0]")
    ok = post_raw(server.url, json.dumps({"task": "helpful", "items": ["a \u0000 b \U0001f600"]}).encode())
    assert ok.status_code == 200  # NUL and real astral characters are fine texts


def test_an_unknown_task_name_is_cut_in_the_400(server):
    """The detail quotes what the client sent: 100 kB of task name is not sent back whole."""
    response = post_raw(server.url, json.dumps({"task": "x" * 100_000, "items": []}).encode())
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert len(detail) < 200 and detail.startswith("unknown task 'xxx") and "..." in detail and "helpful" in detail
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert "'nope';" in client.get("/v1/labels", params={"task": "nope"}).json()["detail"]


def test_a_cursor_past_sqlite_integers_is_a_422(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.get("/v1/labels", params={"task": "helpful", "since": 2**63})
        assert response.status_code == 422 and "since" in response.json()["detail"]
        top = client.get("/v1/labels", params={"task": "helpful", "since": 2**63 - 1})
        assert top.status_code == 200 and top.json() == {"labels": [], "cursor": 2**63 - 1}


# ----- the client against replies of the wrong shape ------------------------------------------------------
class _Fake(BaseHTTPRequestHandler):
    replies: ClassVar[dict[str, tuple[int, bytes]]] = {}  # by method, set by the test (a subclass each)

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, method: str) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status, body = self.replies[method]
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self._reply("POST")

    def do_GET(self) -> None:
        self._reply("GET")


@pytest.fixture
def fake() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    """(url, replies): a server that answers POST and GET with replies['POST'] / replies['GET']."""
    replies: dict[str, tuple[int, bytes]] = {}
    handler = type("Handler", (_Fake,), {"replies": replies})
    http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_address[1]}", replies
    http.shutdown()
    http.server_close()


PENDING = b'{"results": [{"id": "k", "status": "pending", "label": null}], "cursor": 0}'
NO_LABELS = b'{"labels": [], "cursor": 0}'
NEWT_LABEL = json.dumps({"labels": [{"id": "k", "item": NEWT, "status": "labeled", "label": True, "seq": 1}],
                         "cursor": 1}).encode()


@pytest.mark.parametrize(("post", "get"), [
    ((200, b'{"results": 5, "cursor": 0}'), (200, NO_LABELS)),
    ((200, b'{"results": [1], "cursor": 0}'), (200, NO_LABELS)),
    ((200, b"[1]"), (200, b"[1]")),
    ((200, PENDING), (200, b'{"labels": null, "cursor": 0}')),
    ((200, PENDING), (200, b'{"labels": [{"item": 5, "status": "labeled", "label": true}], "cursor": 1}')),
    ((200, PENDING), (200, b'{"labels": [], "cursor": null}')),
    ((200, PENDING), (401, b'{"detail": "missing or wrong bearer token"}')),
], ids=["results-int", "results-of-ints", "top-level-list", "labels-null", "item-int", "cursor-null", "labels-401"])
def test_the_client_survives_replies_of_the_wrong_shape(fake, post, get):
    """Garbage (or a refused poll) counts as a failed exchange: the client's thread used to die of it, silently,
    and the trainer got no label again."""
    url, replies = fake
    replies.update(POST=post, GET=get)
    with AnnotationClient(url, "helpful", poll_interval_s=0.02, backoff_max_s=0.05) as client:
        client.submit([NEWT])
        wait_until(lambda: client.stats.errors >= 2, timeout_s=5)
        assert client._thread is not None and client._thread.is_alive()
        replies.update(POST=(200, PENDING), GET=(200, NEWT_LABEL))  # the server comes to its senses
        wait_until(lambda: client.snapshot()[1].get(NEWT) is True, timeout_s=5)


# ----- the client's requests -----------------------------------------------------------------------------
def test_an_unencodable_item_does_not_hold_up_the_others(server):
    """A text with a lone surrogate cannot be sent as UTF-8: it is refused at once, and the items after it are
    still sent (it used to fail every request it went in, for ever)."""
    with AnnotationClient(server.url, "helpful", poll_interval_s=0.02) as client:
        client.submit(["bad \ud800 text", NEWT])
        wait_until(lambda: client.snapshot()[1].get(NEWT) is True, timeout_s=5)
        assert client.stats.refused == 1 and client.waiting == 0


def test_requests_stay_under_the_body_limit_in_bytes(server):
    """256 texts of 500 three-byte characters (1,500 bytes each, well within 512 characters) in one submit: the
    client used to count characters, sent 390 KB and had all 256 refused with a 413."""
    texts = [f"{i} " + "\u2713" * 500 for i in range(256)]
    with AnnotationClient(server.url, "helpful", poll_interval_s=0.02) as client:
        client.submit(texts)
        wait_until(lambda: len(client.snapshot()[1]) == len(texts), timeout_s=10)
        assert client.stats.refused == 0 and client.stats.requests >= 2


# ----- start-up: a port or a database that cannot be used ------------------------------------------------
@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_background_server_on_a_taken_port_says_so(taken_port, tmp_path):
    with pytest.raises(ServerError, match=f"cannot listen on 127.0.0.1:{taken_port}: .*in use") as raised:
        BackgroundServer(ServeConfig(port=taken_port, db=str(tmp_path / "labels.sqlite"))).start()
    assert isinstance(raised.value, UsageError)


def _serve(*args: str, cwd: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "autoreward.cli", "serve", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"})


@pytest.mark.parametrize(("make", "expect"), [
    (lambda path: path.mkdir(), "cannot use .*labels.sqlite as the label store: unable to open database file"),
    (lambda path: path.write_bytes(b"not a database " * 100), "as the label store: file is not a database"),
], ids=["directory", "corrupt"])
def test_serve_with_an_unusable_db_exits_2_saying_why(tmp_path, make, expect):
    """It used to print uvicorn's traceback of the lifespan and exit with uvicorn's code 3."""
    make(tmp_path / "labels.sqlite")
    done = _serve("--port", "0", "--db", str(tmp_path / "labels.sqlite"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and re.search(expect, done.stderr), done.stderr


def test_serve_on_a_taken_port_exits_2_saying_why(tmp_path, taken_port):
    done = _serve("--port", str(taken_port), "--db", str(tmp_path / "labels.sqlite"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{taken_port}" in done.stderr and "in use" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
