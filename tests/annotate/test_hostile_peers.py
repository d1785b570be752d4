"""The annotation server and its client against careless or hostile peers: bodies a JSON library can hand over but
SQLite or UTF-8 cannot take, cursors past SQLite's range, replies of the wrong shape, ports and databases that
cannot be used. A real server on 127.0.0.1 (or a fake one that answers what a test tells it) in a thread."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from autoreward.annotate.server import BackgroundServer, ServeConfig


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


def test_a_cursor_past_sqlite_integers_is_a_422(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.get("/v1/labels", params={"task": "helpful", "since": 2**63})
        assert response.status_code == 422 and "since" in response.json()["detail"]
        top = client.get("/v1/labels", params={"task": "helpful", "since": 2**63 - 1})
        assert top.status_code == 200 and top.json() == {"labels": [], "cursor": 2**63 - 1}
