"""The annotation server (docs/annotation.md): a real server on 127.0.0.1 in a thread, real HTTP requests.

The offline labeller (lexicon) drives most tests; the LLM path goes through litellm to the scripted
OpenAI-compatible server of tests/llm_server.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from autoreward.annotate import registry, tasks
from autoreward.annotate.labellers import OfflineLabeller
from autoreward.annotate.server import BackgroundServer, ServeConfig, ServerError
from autoreward.annotate.service import Annotator
from autoreward.annotate.store import LabelStore, PendingItem, label_key

MESSAGES = ["You find a hidden door.", "It's a wall.", "You kill the newt!", "The jackal bites!", "Never mind."]
TOKEN = "s3cret-token"
DEADLINE_S = 5.0

Start = Callable[..., tuple[BackgroundServer, httpx.Client]]


@pytest.fixture
def start(tmp_path) -> Iterator[Start]:
    """Start servers on free ports of 127.0.0.1 sharing tmp_path/labels.sqlite; all stopped at the end."""
    running: list[tuple[BackgroundServer, httpx.Client]] = []

    def _start(labeller: Any = None, headers: dict[str, str] | None = None, **settings: Any):
        config = ServeConfig(port=0, db=str(tmp_path / "labels.sqlite"), **settings)
        server = BackgroundServer(config, labeller)
        url = server.start()
        client = httpx.Client(base_url=url, timeout=10, headers=headers or {})
        running.append((server, client))
        return server, client

    yield _start
    for server, client in running:
        client.close()
        server.stop()


def annotate(client: httpx.Client, items: list[Any], task: str = "helpful") -> dict[str, Any]:
    response = client.post("/v1/annotate", json={"task": task, "items": items})
    assert response.status_code == 200, response.text
    return response.json()


def poll_labels(client: httpx.Client, want: int, task: str = "helpful", since: int = 0) -> tuple[dict, int]:
    """Poll /v1/labels with the cursor until `want` records arrived (or the deadline); returns them by item."""
    records: dict[Any, dict[str, Any]] = {}
    deadline = time.monotonic() + DEADLINE_S
    while len(records) < want and time.monotonic() < deadline:
        body = client.get("/v1/labels", params={"task": task, "since": since}).json()
        for record in body["labels"]:
            item = record["item"]
            records[tuple(item) if isinstance(item, list) else item] = record
        if body["cursor"] == since:
            time.sleep(0.01)
        since = body["cursor"]
    return records, since


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text `text`."""
    suffix = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
    for line in text.splitlines():
        if line.startswith(name + suffix + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{suffix}")


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# ----- tasks: prompts and strict parsing ----------------------------------------------------------------
def test_prompt_lists_items_and_versions_differ():
    prompt = tasks.HELPFUL.prompt(['He said "hi"', "It's a wall."])
    assert '1. "He said \\"hi\\""' in prompt and "2. \"It's a wall.\"" in prompt and "all 2 messages" in prompt
    pairs = tasks.PAIRS.prompt([["You kill the newt!", "It's a wall."]])
    assert '1. A: "You kill the newt!"\n   B: "It\'s a wall."' in pairs
    assert re.fullmatch(r"[0-9a-f]{12}", tasks.HELPFUL.prompt_version)
    assert tasks.HELPFUL.prompt_version != tasks.PAIRS.prompt_version


def test_parse_is_strict_per_item():
    parsed = tasks.HELPFUL.parse('Sure!\n```json\n{"1": true, "2": "yes", "3": 1, "5": false}\n```', 4)
    assert parsed.labels == {0: True}
    assert set(parsed.reasons) == {1, 2, 3}
    assert "expected true or false" in parsed.reasons[1] and "no value for item 4" in parsed.reasons[3]
    pairs = tasks.PAIRS.parse('{"1": 1, "2": 0, "3": 2, "4": true, "5": 3, "6": "1"}', 6)
    assert pairs.labels == {0: 1, 1: 0, 2: 2} and set(pairs.reasons) == {3, 4, 5}


def test_parse_finds_json_in_prose_and_rejects_non_json():
    assert tasks.HELPFUL.parse('Here you go: {"1": false} - done', 1).labels == {0: False}
    for answer in ["I cannot help with that.", "{'1': True}", "[true]", ""]:
        parsed = tasks.HELPFUL.parse(answer, 2)
        assert parsed.labels == {} and "no JSON object" in parsed.reasons[0]


def test_importing_the_server_stays_light():
    code = ("import sys, autoreward.annotate.server, autoreward.cli.annotate, autoreward.cli.parser; "
            "print(sorted(m for m in ('torch', 'nle', 'litellm', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_unknown_task_names_the_known_ones():
    with pytest.raises(registry.UnknownTask, match="calm, helpful, pairs"):
        registry.get_task("telepathy")


# ----- the HTTP API -------------------------------------------------------------------------------------
def test_labels_arrive_after_pending_through_the_cursor(start):
    _, client = start(offline_delay_s=0.05)
    body = annotate(client, MESSAGES)
    assert [r["status"] for r in body["results"]] == ["pending"] * len(MESSAGES)
    assert all(r["label"] is None and re.fullmatch(r"[0-9a-f]{64}", r["id"]) for r in body["results"])
    records, cursor = poll_labels(client, len(MESSAGES))
    assert {item: r["label"] for item, r in records.items()} == {
        "You find a hidden door.": True, "It's a wall.": False, "You kill the newt!": True,
        "The jackal bites!": False, "Never mind.": False}
    assert {r["id"] for r in records.values()} == {r["id"] for r in body["results"]}
    assert cursor == max(r["seq"] for r in records.values())
    assert client.get("/v1/labels", params={"task": "helpful", "since": cursor}).json() == {"labels": [],
                                                                                           "cursor": cursor}
    again = annotate(client, MESSAGES[:2])["results"]  # now answered from the store
    assert [(r["status"], r["label"]) for r in again] == [("labeled", True), ("labeled", False)]
    assert client.get("/v1/labels", params={"task": "helpful", "since": 0, "limit": 2}).json()["cursor"] < cursor


def test_repeated_items_are_labelled_once(start):
    labeller = OfflineLabeller(delay_s=0.3)
    _, client = start(labeller=labeller, batch_size=4)
    unique = [f"You kill the newt {i}!" for i in range(10)]
    for start_at in range(0, 100, 25):  # 100 items, 10 distinct, sent while the first ones are in flight
        annotate(client, [unique[i % 10] for i in range(start_at, start_at + 25)])
    records, _ = poll_labels(client, 10)
    assert len(records) == 10 and all(r["label"] is True for r in records.values())
    annotate(client, unique)
    assert labeller.items == 10
    assert labeller.calls == 3  # batches of 4, 4 and 2
    text = client.get("/metrics").text
    assert metric(text, "autoreward_annotate_cache_hits_total") >= 10  # more if a request came after the labels
    assert metric(text, "autoreward_annotate_llm_calls_total") == 3


def test_pairs_task(start):
    _, client = start()
    pairs = [["You kill the newt!", "It's a wall."], ["It's a wall.", "You find a hidden passage."],
             ["Never mind.", "It's a wall."]]
    annotate(client, pairs, task="pairs")
    records, _ = poll_labels(client, 3, task="pairs")
    assert {item: r["label"] for item, r in records.items()} == {tuple(pairs[0]): 1, tuple(pairs[1]): 2,
                                                                 tuple(pairs[2]): 0}
    assert client.get("/v1/labels", params={"task": "helpful"}).json()["labels"] == []


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"task": "telepathy", "items": ["x"]}, 400, "known tasks: calm, helpful, pairs"),
        ({"task": "helpful", "items": []}, 422, "give 1 to 256 items, got 0"),
        ({"task": "helpful", "items": ["x"] * 257}, 422, "give 1 to 256 items, got 257"),
        ({"task": "helpful", "items": ["x" * 513]}, 422, "items[0]: text of 513 characters, at most 512"),
        ({"task": "helpful", "items": "You kill the newt!"}, 422, "items: Input should be a valid list"),
        ({"task": "helpful", "items": [["a", "b"]]}, 422, "items[0]: expected a text, got list"),
        ({"task": "pairs", "items": [["a", "b", "c"]]}, 422, "items[0]: expected a pair of texts"),
        ({"task": "pairs", "items": [["a", 3]]}, 422, "items[0]: expected a text, got int"),
        ({"items": ["x"]}, 422, "task: Field required"),
        ({"task": "helpful", "items": ["x"], "extra": 1}, 422, "extra: Extra inputs are not permitted"),
    ],
)
def test_bad_requests_get_a_clear_4xx(start, body, status, detail):
    _, client = start()
    response = client.post("/v1/annotate", json=body)
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_non_json_oversize_bodies_and_bad_queries_then_still_healthy(start):
    server, client = start()
    response = client.post("/v1/annotate", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json() == {"detail": "the body is not valid JSON"}
    big = json.dumps({"task": "helpful", "items": ["x" * 500] * 600}).encode()
    assert len(big) > server.config.max_body
    assert client.post("/v1/annotate", content=big, headers={"content-type": "application/json"}).status_code == 413
    chunked = client.post("/v1/annotate", content=iter([big[i:i + 8192] for i in range(0, len(big), 8192)]),
                          headers={"content-type": "application/json"})  # no Content-Length: counted as it comes
    assert chunked.status_code == 413 and "body over 262144 bytes" in chunked.json()["detail"]
    assert client.get("/v1/labels", params={"task": "nope"}).status_code == 400
    assert client.get("/v1/labels", params={"task": "helpful", "since": -1}).status_code == 422
    assert client.get("/v1/labels").status_code == 422
    health = client.get("/healthz").json()
    assert health == {"status": "ok", "model": "offline", "tasks": ["calm", "helpful", "pairs"], "queue": 0,
                      "labels": 0}
    annotate(client, MESSAGES[:1])
    assert poll_labels(client, 1)[0]
    metrics = client.get("/metrics").text
    assert metric(metrics, "autoreward_annotate_requests_total", path="/v1/annotate", code="413") == 2
    assert metric(metrics, "autoreward_annotate_requests_total", path="/v1/annotate", code="422") == 1


def test_token_is_required_everywhere_when_set(start, monkeypatch):
    server, client = start(token=TOKEN)
    for path in ("/healthz", "/metrics", "/v1/labels?task=helpful"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": TOKEN}).status_code == 401
    refused = client.post("/v1/annotate", json={"task": "helpful", "items": ["x"]})
    assert refused.status_code == 401 and refused.json() == {"detail": "missing or wrong bearer token"}
    assert refused.headers["www-authenticate"] == "Bearer"
    authorised = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        assert authorised.get("/healthz").status_code == 200
        assert authorised.post("/v1/annotate", json={"task": "helpful", "items": ["x"]}).status_code == 200
        assert metric(authorised.get("/metrics").text, "autoreward_annotate_requests_total", path="/healthz",
                      code="401") == 3
    finally:
        authorised.close()


def test_restart_keeps_labels_and_labels_what_was_pending(start, tmp_path):
    first, client = start(offline_delay_s=0.3, batch_size=2, max_concurrency=1)
    annotate(client, MESSAGES[:2])
    before, _ = poll_labels(client, 2)
    annotate(client, MESSAGES[2:])  # 3 items: one batch of 2 in flight, 1 queued when the server stops
    wait_until(lambda: first.annotator.in_flight == 1)
    first.stop()
    with sqlite3.connect(tmp_path / "labels.sqlite") as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM labels GROUP BY status").fetchall())
    assert statuses == {"labeled": 2, "pending": 3}

    labeller = OfflineLabeller()
    _, client = start(labeller=labeller)  # nobody asks again: the pending rows are queued at start-up
    after, _ = poll_labels(client, 5)
    assert set(after) == set(MESSAGES)
    assert {item: after[item]["seq"] for item in before} == {item: r["seq"] for item, r in before.items()}
    assert labeller.items == 3
    assert client.get("/healthz").json()["labels"] == 5


def test_a_server_that_cannot_start_says_why(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ServerError, match="did not start"):
        BackgroundServer(ServeConfig(port=0, db=str(tmp_path / "dir.sqlite"))).start()


def test_a_changed_prompt_does_not_see_old_labels(tmp_path):
    """Same model and db, another prompt version: the old labels are not returned, the items are asked again."""

    async def run(task: tasks.Task) -> tuple[list[str], list[str], int]:
        labeller = OfflineLabeller()
        annotator = Annotator(LabelStore(tmp_path / "labels.sqlite"), labeller, tasks={"helpful": task})
        await annotator.start()
        statuses = [r.status for r in await annotator.annotate("helpful", MESSAGES[:2])]
        for _ in range(500):
            if len(await annotator.labels_since("helpful", 0)) == 2:
                break
            await asyncio.sleep(0.01)
        stored = [row.item for row in await annotator.labels_since("helpful", 0)]
        await annotator.close()
        return statuses, stored, labeller.items

    assert asyncio.run(run(tasks.HELPFUL)) == (["pending"] * 2, MESSAGES[:2], 2)
    assert asyncio.run(run(tasks.HELPFUL)) == (["labeled"] * 2, MESSAGES[:2], 0)
    other = dataclasses.replace(tasks.HELPFUL, template="annotate_pairs")  # stands in for an edited template
    assert other.prompt_version != tasks.HELPFUL.prompt_version
    assert asyncio.run(run(other)) == (["pending"] * 2, MESSAGES[:2], 2)


def test_store_bumps_seq_on_every_label_change(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    keys = [label_key("helpful", "v1", "m", text) for text in ("a", "b")]
    store.add_pending([PendingItem(key, "helpful", "v1", "m", json.dumps(text)) for key, text in zip(keys, "ab")])  # noqa: B905
    assert store.since("helpful", "v1", "m", 0) == [] and len(store.pending("helpful", "v1", "m")) == 2
    store.set_labels({keys[1]: True})
    store.set_unlabeled({keys[0]: "no JSON object"})
    rows = store.since("helpful", "v1", "m", 0)
    assert [(r.item, r.status, r.label, r.reason) for r in rows] == [("b", "labeled", True, None),
                                                                     ("a", "unlabeled", None, "no JSON object")]
    assert rows[0].seq > 2 and rows[1].seq > rows[0].seq
    store.set_labels({keys[1]: True})  # no change: no new seq
    assert store.since("helpful", "v1", "m", rows[1].seq) == []
    store.set_labels({keys[1]: False})
    assert [r.label for r in store.since("helpful", "v1", "m", rows[1].seq)] == [False]
    assert store.since("helpful", "v2", "m", 0) == [] and store.since("helpful", "v1", "other", 0) == []
    assert store.counts("helpful", "v1", "m") == {"pending": 0, "labeled": 1, "unlabeled": 1}
    store.close()


# ----- the LLM path (litellm against the scripted server) ------------------------------------------------
@pytest.fixture(scope="module")
def litellm_loaded() -> None:
    """Import litellm once for this module (seconds), outside the tests' own time."""
    from autoreward.llm.providers import import_litellm

    import_litellm()


def llm_settings(llm_server, model: str = "test-model") -> dict[str, Any]:
    return {"llm": model, "api_base": llm_server.url, "llm_retries": 1, "llm_backoff_s": 0.01,
            "llm_timeout_s": 5.0}


def answer_all(label: Any) -> Callable[[dict[str, Any]], str]:
    """A scripted LLM step that labels every numbered item of the prompt with `label`."""

    def step(request: dict[str, Any]) -> str:
        prompt = request["messages"][-1]["content"]
        count = len(re.findall(r"^\d+\. ", prompt, flags=re.MULTILINE))
        return json.dumps({str(number): label for number in range(1, count + 1)})

    return step


def test_llm_batch_answer_becomes_labels(start, llm_server, litellm_loaded):
    llm_server.script([answer_all(True)])
    _, client = start(**llm_settings(llm_server))
    assert client.get("/healthz").json()["model"] == "openai/test-model"
    annotate(client, MESSAGES)
    records, _ = poll_labels(client, len(MESSAGES))
    assert {r["label"] for r in records.values()} == {True}
    (request,) = llm_server.requests
    prompt = request["messages"][-1]["content"]
    assert all(json.dumps(text) in prompt for text in MESSAGES)
    assert request["model"] == "test-model"


def test_llm_nonsense_is_retried_once_then_unlabeled(start, llm_server, litellm_loaded):
    llm_server.script(["I would rather not say."])
    _, client = start(**llm_settings(llm_server))
    annotate(client, MESSAGES[:3])
    records, _ = poll_labels(client, 3)
    assert {r["status"] for r in records.values()} == {"unlabeled"}
    assert all(r["label"] is None and "no JSON object" in r["reason"] for r in records.values())
    assert len(llm_server.requests) == 2  # the first answer and one retry
    again = annotate(client, MESSAGES[:3])["results"]
    assert {r["status"] for r in again} == {"unlabeled"} and len(llm_server.requests) == 2
    text = client.get("/metrics").text
    assert metric(text, "autoreward_annotate_errors_total", kind="parse") == 6
    assert metric(text, "autoreward_annotate_labels_stored_total") == 0


def test_llm_partial_answer_labels_what_it_can(start, llm_server, litellm_loaded):
    llm_server.script(['{"1": true, "2": "maybe"}', '{"1": false}'])
    _, client = start(**llm_settings(llm_server))
    annotate(client, MESSAGES[:2])
    records, _ = poll_labels(client, 2)
    assert records[MESSAGES[0]]["label"] is True
    assert records[MESSAGES[1]]["status"] == "labeled" and records[MESSAGES[1]]["label"] is False  # the retry


def test_llm_errors_never_become_labels(start, llm_server, litellm_loaded):
    llm_server.script([{"status": 500}])
    _, client = start(**llm_settings(llm_server))
    annotate(client, MESSAGES[:2])
    wait_until(lambda: metric(client.get("/metrics").text, "autoreward_annotate_errors_total", kind="llm") == 1)
    assert len(llm_server.requests) == 2  # the client's own retry, then the call failed
    assert client.get("/v1/labels", params={"task": "helpful"}).json()["labels"] == []
    assert [r["status"] for r in annotate(client, MESSAGES[:2])["results"]] == ["pending"] * 2
    llm_server.script([answer_all(False)])  # the provider recovers; asking again queued the items again
    records, _ = poll_labels(client, 2)
    assert {r["label"] for r in records.values()} == {False}
    assert metric(client.get("/metrics").text, "autoreward_annotate_labels_stored_total") == 2


def test_another_model_on_the_same_db_sees_none_of_the_labels(start, llm_server, litellm_loaded):
    llm_server.script([answer_all(True)])
    first, client = start(**llm_settings(llm_server, "model-a"))
    annotate(client, MESSAGES[:2])
    assert len(poll_labels(client, 2)[0]) == 2
    first.stop()
    _, client = start(**llm_settings(llm_server, "model-b"))
    assert client.get("/v1/labels", params={"task": "helpful"}).json()["labels"] == []
    assert client.get("/healthz").json()["labels"] == 0
    assert [r["status"] for r in annotate(client, MESSAGES[:2])["results"]] == ["pending"] * 2
    assert len(poll_labels(client, 2)[0]) == 2
    assert [r["model"] for r in llm_server.requests] == ["model-a", "model-b"]


def test_metrics_text_names_every_metric(start):
    _, client = start()
    annotate(client, MESSAGES[:1])
    poll_labels(client, 1)
    text = client.get("/metrics").text
    for name in ("queue_depth", "in_flight", "batch_size_bucket", "llm_calls_total", "llm_latency_seconds_bucket",
                 "cache_hits_total", "labels_stored_total", "errors_total", "requests_total",
                 "request_seconds_bucket"):
        assert f"autoreward_annotate_{name}" in text
    assert metric(text, "autoreward_annotate_labels_stored_total") == 1
    assert metric(text, "autoreward_annotate_request_seconds_count", path="/v1/annotate") == 1
