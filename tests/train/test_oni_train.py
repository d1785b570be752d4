"""Training with an ONI intrinsic reward end to end: real annotation server on 127.0.0.1, real client, real PPO.

Also the client on its own against a server that is down, comes up, dies and comes back.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autoreward.annotate.client import AnnotationClient
from autoreward.annotate.server import BackgroundServer, ServeConfig
from autoreward.errors import UsageError
from autoreward.io import read_jsonl
from autoreward.train.config import AnnotatorConfig, OniConfig, PPOConfig, TrainConfig, WorkerConfig
from autoreward.train.ppo import train
from tests.common import EXAMPLE

TASK = "MiniHack-KeyRoom-S5-v0"
TINY = {"task": TASK, "envs": 2, "ppo": PPOConfig(n_steps=128, batch_size=64, n_epochs=1),
        "workers": WorkerConfig(count=0)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stored_labels(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT key, label_json FROM labels WHERE status = 'labeled'").fetchall())


def _serve(port: int, db: Path, *extra: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "autoreward.cli", "serve", "--port", str(port), "--db", str(db),
                                *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, headers={"Authorization": "Bearer t0k"})
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the annotation server did not start")


@pytest.mark.parametrize("model", ["retrieval", "classification", "ranking"])
def test_training_with_each_intrinsic_model_and_an_in_process_server(tmp_path, model):
    result = train(TrainConfig(oni=OniConfig(f"oni:{model}"), steps=2048, out=str(tmp_path), **TINY))
    assert result.ok, result.stopped_reason
    assert result.annotation["labels"] > 0 and result.annotation["errors"] == 0  # labels flowed during training
    records = read_jsonl(tmp_path / "metrics.jsonl")
    for record in records:
        assert set(record["components"]) == {"task", "intrinsic"}
    assert any(r["components"]["intrinsic"]["max"] > 0 for r in records)  # labelled messages paid
    assert _stored_labels(tmp_path / "labels.sqlite")  # and were kept by the server
    assert (tmp_path / "policy.zip").is_file()


def test_intrinsic_reward_adds_to_a_reward_file(tmp_path):
    example = str(EXAMPLE)
    result = train(TrainConfig(reward=example, oni=OniConfig("oni:retrieval"), steps=1024, out=str(tmp_path),
                               **{**TINY, "workers": WorkerConfig(count=1)}))
    assert result.ok
    record = read_jsonl(tmp_path / "metrics.jsonl")[-1]
    assert set(record["components"]) == {"approach", "milestone", "task", "intrinsic"}


def test_unknown_intrinsic_model_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="oni:retrieval"):
        train(TrainConfig(oni=OniConfig("oni:telepathy"), steps=256, out=str(tmp_path), **TINY))


def test_client_keeps_going_while_the_server_is_down_and_catches_up_when_it_comes(tmp_path):
    port = _free_port()
    client = AnnotationClient(f"http://127.0.0.1:{port}", "helpful", poll_interval_s=0.05, backoff_max_s=0.2)
    with client:
        client.submit(["You kill the newt!", "It's a wall."])
        time.sleep(0.5)
        assert client.snapshot()[1] == {} and client.stats.errors > 0  # nothing yet, and it did not block us
        with BackgroundServer(ServeConfig(port=port, db=str(tmp_path / "labels.sqlite"))):
            deadline = time.monotonic() + 10
            while len(client.snapshot()[1]) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert client.snapshot()[1] == {"You kill the newt!": True, "It's a wall.": False}
        assert client.stats.reconnects >= 1 and client.waiting == 0


def _started_clients(monkeypatch: pytest.MonkeyPatch) -> list[AnnotationClient]:
    """The AnnotationClients started from now on (a trainer's own), to watch what they saw."""
    started: list[AnnotationClient] = []
    start = AnnotationClient.start

    def recording_start(self: AnnotationClient) -> AnnotationClient:
        started.append(self)
        return start(self)

    monkeypatch.setattr(AnnotationClient, "start", recording_start)
    return started


def _wait_for(condition: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.05)


def test_server_killed_mid_training_keeps_its_labels_and_the_trainer_finishes(tmp_path, monkeypatch):
    """The server dies mid-training and comes back: nothing it stored is lost, and the trainer finishes.

    Each event asserted is waited for (with a deadline), not timed: the client's failed requests while the server
    is down, then its reconnect; and the trainer's last rollout waits for that reconnect, so that a fast training
    cannot finish before the client has seen the server come back."""
    port, db = _free_port(), tmp_path / "labels.sqlite"
    clients = _started_clients(monkeypatch)
    reconnected = threading.Event()

    def hold_the_last_rollout(done: int, total: int, record: dict[str, Any] | None) -> None:
        if done >= total:
            reconnected.wait(120)

    server = _serve(port, db, "--token", "t0k", "--offline-delay-ms", "20")
    results = {}
    config = TrainConfig(oni=OniConfig("oni:retrieval"), steps=6144, out=str(tmp_path / "train"),
                         annotator=AnnotatorConfig(url=f"http://127.0.0.1:{port}", token="t0k"), **TINY)
    trainer = threading.Thread(target=lambda: results.setdefault("result", train(config, hold_the_last_rollout)))
    trainer.start()
    try:
        _wait_for(lambda: db.exists() and _stored_labels(db), "labels in the server's store")
        server.kill()  # no clean shutdown
        server.wait()
        before = _stored_labels(db)
        assert before
        _wait_for(lambda: clients and clients[0].stats.errors >= 1, "the trainer's client to find the server down")
        server = _serve(port, db, "--token", "t0k", "--offline-delay-ms", "20")
        _wait_for(lambda: clients[0].stats.reconnects >= 1, "the trainer's client to reconnect")
    finally:
        reconnected.set()
        trainer.join(120)
        server.kill()
        server.wait()
    assert not trainer.is_alive()
    result = results["result"]
    assert result.ok and result.steps >= 6144
    assert before <= _stored_labels(db)  # nothing stored was lost
    assert result.annotation["errors"] >= 1 and result.annotation["reconnects"] >= 1  # it saw the outage


def test_client_asks_again_for_items_whose_llm_call_failed(tmp_path, llm_server):
    """A failed LLM call leaves items pending on the server; the client's periodic re-send gets them labelled."""
    llm_server.script([{"status": 500}, {"status": 500}, '{"1": true}'])  # both tries of the first call fail
    config = ServeConfig(port=0, db=str(tmp_path / "labels.sqlite"), llm="test-model", api_base=llm_server.url,
                         llm_retries=1, llm_backoff_s=0.01, llm_timeout_s=5.0)
    server = BackgroundServer(config)
    try:
        with AnnotationClient(server.start(), "helpful", poll_interval_s=0.05, resend_after_s=0.3) as client:
            client.submit(["You kill the newt!"])
            deadline = time.monotonic() + 20
            while not client.snapshot()[1] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.snapshot()[1] == {"You kill the newt!": True}
    finally:
        server.stop()
    assert len(llm_server.requests) == 3  # no label came from the failures


def test_client_sends_items_submitted_close_together_in_few_requests(tmp_path):
    messages = [f"You kill the newt number {n}!" for n in range(40)]
    server = BackgroundServer(ServeConfig(port=0, db=str(tmp_path / "labels.sqlite")))
    try:
        with AnnotationClient(server.start(), "helpful", poll_interval_s=0.05, send_interval_s=0.2) as client:
            start = time.monotonic()
            for message in messages:  # one item per env step, as a trainer submits them
                client.submit([message])
                time.sleep(0.005)
            submitting = time.monotonic() - start
            deadline = time.monotonic() + 10
            while len(client.snapshot()[1]) < len(messages) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        server.stop()
    assert len(client.snapshot()[1]) == len(messages) and client.stats.submitted == len(messages)
    assert client.stats.requests <= submitting / 0.2 + 2  # a request per 0.2 s, not one per item
