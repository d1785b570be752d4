"""The litellm client against a local scripted OpenAI-compatible server: retries, errors, cache, budget, logging."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import socket
import time
from pathlib import Path

import pytest

from autoreward.io import append_jsonl, read_jsonl
from autoreward.llm.base import Completion, LLMBudgetExceeded, LLMError
from autoreward.llm.cache import ResponseCache, cache_key
from autoreward.llm.client import Budget, LiteLLMClient, make_llm

MODEL = "openai/test-model"
KEY = "sk-test"
ASK = [{"role": "system", "content": "You write rewards."}, {"role": "user", "content": "hello there"}]


@pytest.fixture
def client_for(llm_server, tmp_path):
    """Build clients on the test server with tiny backoff; calls go to tmp_path/calls.jsonl."""

    def build(**overrides) -> LiteLLMClient:
        kwargs = {
            "api_base": llm_server.url,
            "api_key": KEY,
            "timeout_s": 5.0,
            "retries": 3,
            "backoff_s": 0.01,
            "calls_path": tmp_path / "calls.jsonl",
        }
        kwargs.update(overrides)
        return LiteLLMClient(kwargs.pop("model", MODEL), **kwargs)

    return build


def calls(tmp_path: Path) -> list[dict]:
    return read_jsonl(tmp_path / "calls.jsonl")


def test_plain_completion_returns_text_usage_and_logs_the_call(llm_server, client_for, tmp_path):
    llm_server.script([{"text": "def reward(obs): return 1.0", "usage": {"prompt_tokens": 11, "completion_tokens": 7}}])
    answer = client_for().complete(ASK, role="designer", temperature=0.3)
    assert answer == Completion(
        text="def reward(obs): return 1.0",
        model=MODEL,
        prompt_tokens=11,
        completion_tokens=7,
        cost=0.0,  # litellm has no price for a local model
        latency_s=answer.latency_s,
        cached=False,
    )
    assert 0.0 < answer.latency_s < 5.0
    (request,) = llm_server.requests
    assert request["model"] == "test-model"
    assert request["messages"] == ASK
    assert request["temperature"] == 0.3
    assert llm_server.headers[0]["authorization"] == f"Bearer {KEY}"
    (line,) = calls(tmp_path)
    assert line["role"] == "designer"
    assert line["model"] == MODEL
    assert (line["prompt_tokens"], line["completion_tokens"], line["cost"]) == (11, 7, 0.0)
    assert (line["cached"], line["attempt"], line["error"]) == (False, 1, None)
    assert line["latency_s"] > 0 and line["time"].endswith("+00:00")


def test_word_count_usage_and_params_reach_the_server(llm_server, client_for):
    llm_server.script([lambda request: f"temperature was {request['temperature']}"])
    client = client_for(params={"temperature": 0.1, "max_tokens": 50})
    assert client.complete(ASK, role="r").text == "temperature was 0.1"
    answer = client.complete(ASK, role="r", temperature=0.9)
    assert answer.text == "temperature was 0.9"
    assert (answer.prompt_tokens, answer.completion_tokens) == (5, 3)  # word counts
    assert [r["max_tokens"] for r in llm_server.requests] == [50, 50]


@pytest.mark.parametrize(
    ("failure", "error_name"),
    [({"status": 429}, "RateLimitError"), ({"status": 500}, "InternalServerError"), ({"status": 503}, "HTTP 503")],
)
def test_transient_errors_are_retried(llm_server, client_for, tmp_path, failure, error_name):
    llm_server.script([failure, failure, "finally"])
    assert client_for().complete(ASK, role="designer").text == "finally"
    assert len(llm_server.requests) == 3  # no hidden retries inside litellm or the openai client
    lines = calls(tmp_path)
    assert [line["attempt"] for line in lines] == [1, 2, 3]
    assert all(error_name in line["error"] for line in lines[:2])
    assert lines[2]["error"] is None


def test_a_timeout_is_retried(llm_server, client_for, tmp_path):
    llm_server.script([{"delay": 4.0, "text": "too late"}, "in time"])
    start = time.monotonic()
    answer = client_for(timeout_s=1.0).complete(ASK, role="designer")
    elapsed = time.monotonic() - start
    assert answer.text == "in time"
    assert 1.0 <= elapsed < 4.0
    first, second = calls(tmp_path)
    assert "Timeout" in first["error"] and first["latency_s"] >= 1.0
    assert (second["attempt"], second["error"]) == (2, None)


def test_bad_credentials_fail_at_once_without_leaking_the_key(llm_server, client_for, tmp_path, monkeypatch):
    secret = "sk-proj-abcdef123456"
    llm_server.script([{"status": 401}, "never reached"])
    with pytest.raises(LLMError) as caught:
        client_for(api_key=secret).complete(ASK, role="designer")
    message = str(caught.value)
    assert "credentials" in message and "OPENAI_API_KEY" in message
    assert secret not in message and "abcdef" not in message
    assert len(llm_server.requests) == 1  # not retried
    assert llm_server.headers[0]["authorization"] == f"Bearer {secret}"  # the server did echo it back...
    log = (tmp_path / "calls.jsonl").read_text()
    assert "401" in log and secret not in log and "abcdef" not in log  # ...but neither the error nor the log does


@pytest.mark.parametrize("status", [400, 404])
def test_refused_requests_are_not_retried(llm_server, client_for, status):
    llm_server.script([{"status": status, "message": "no such thing"}, "never reached"])
    with pytest.raises(LLMError, match="not retried") as caught:
        client_for().complete(ASK, role="designer")
    assert not isinstance(caught.value, LLMBudgetExceeded)
    assert len(llm_server.requests) == 1


def test_retries_exhausted_raise(llm_server, client_for, tmp_path):
    llm_server.script([{"status": 500}])  # repeats forever
    with pytest.raises(LLMError, match=r"giving up after 3 attempts.*InternalServerError"):
        client_for(retries=2).complete(ASK, role="designer")
    assert len(llm_server.requests) == 3
    assert [line["attempt"] for line in calls(tmp_path)] == [1, 2, 3]
    assert all(line["error"] for line in calls(tmp_path))


def test_a_server_that_is_not_listening_is_named_as_such(client_for, tmp_path):
    # litellm reports a refused connection as "InternalServerError (HTTP 500)": no server answered anything
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with pytest.raises(LLMError) as failure:
        client_for(api_base=url, retries=1).complete(ASK, role="designer")
    assert f"no connection to {url}: ConnectionRefusedError" in str(failure.value)
    assert "HTTP 500" not in str(failure.value)


def test_identical_call_is_served_from_cache_and_changes_miss(llm_server, client_for, tmp_path):
    llm_server.script([lambda request: f"answer {len(llm_server.requests)}"])
    cache = ResponseCache(tmp_path / "cache.sqlite")
    client = client_for(cache=cache)
    first = client.complete(ASK, role="designer", temperature=0.2)
    again = client.complete(ASK, role="review", temperature=0.2)
    assert first.text == again.text == "answer 1"
    assert (first.cached, again.cached) == (False, True)
    assert again.cost == 0.0 and (again.prompt_tokens, again.completion_tokens) == (first.prompt_tokens, 2)
    assert len(llm_server.requests) == 1
    hit = calls(tmp_path)[-1]
    assert (hit["role"], hit["cached"], hit["attempt"], hit["cost"]) == ("review", True, 0, 0.0)

    other_message = [*ASK[:1], {"role": "user", "content": "hello again"}]
    assert client.complete(ASK, role="designer", temperature=0.7).text == "answer 2"
    assert client.complete(other_message, role="designer", temperature=0.2).text == "answer 3"
    assert client_for(model="openai/other-model", cache=cache).complete(ASK, role="d", temperature=0.2).text == (
        "answer 4"
    )
    assert len(llm_server.requests) == 4 and len(cache) == 4


def test_cache_persists_across_instances(llm_server, client_for, tmp_path):
    path = tmp_path / "llm" / "cache.sqlite"
    llm_server.script(["remembered"])
    client_for(cache=ResponseCache(path)).complete(ASK, role="designer")
    reopened = ResponseCache(path)
    stored = reopened.get(cache_key(MODEL, ASK, {}))
    assert stored is not None and stored.text == "remembered" and stored.cached
    assert client_for(cache=reopened).complete(ASK, role="designer").cached
    assert len(llm_server.requests) == 1
    assert reopened.get(cache_key(MODEL, ASK, {"temperature": 0})) is None


def _fill_cache(path: str, worker: int) -> None:
    cache = ResponseCache(path)
    for i in range(60):
        text = f"{worker}-{i}"
        cache.put(cache_key(MODEL, [{"role": "user", "content": text}], {}), Completion(text, MODEL))


def test_cache_is_shared_by_concurrent_processes(tmp_path):
    path = str(tmp_path / "cache.sqlite")
    ResponseCache(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_fill_cache, args=(path, worker)) for worker in range(2)]
    for process in workers:
        process.start()
    _fill_cache(path, 2)
    for process in workers:
        process.join(timeout=30)
    assert [process.exitcode for process in workers] == [0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 180
    hit = cache.get(cache_key(MODEL, [{"role": "user", "content": "1-59"}], {}))
    assert hit is not None and hit.text == "1-59"


def test_cache_key_is_canonical():
    base = cache_key(MODEL, ASK, {"temperature": 0.2, "max_tokens": 10})
    assert base == cache_key(MODEL, [dict(m) for m in ASK], {"max_tokens": 10, "temperature": 0.2})
    assert len(base) == 64
    assert base != cache_key(MODEL, ASK, {"temperature": 0.3, "max_tokens": 10})
    assert base != cache_key("openai/other", ASK, {"temperature": 0.2, "max_tokens": 10})
    assert base != cache_key(MODEL, ASK[1:], {"temperature": 0.2, "max_tokens": 10})


def test_call_budget_stops_real_calls_but_not_cached_ones(llm_server, client_for, tmp_path):
    llm_server.script([{"status": 429}, lambda request: request["messages"][-1]["content"].upper()])
    budget = Budget(max_calls=2, calls_path=tmp_path / "calls.jsonl")
    client = client_for(budget=budget, cache=ResponseCache(tmp_path / "cache.sqlite"))
    ask = lambda text: client.complete([{"role": "user", "content": text}], role="designer")  # noqa: E731
    assert ask("one").text == "ONE"  # after a 429: the failed attempt is not counted
    assert ask("two").text == "TWO"
    assert budget.spent()["calls"] == 2
    with pytest.raises(LLMBudgetExceeded, match=r"max_calls=2.*resume it with a larger call limit"):
        ask("three")
    assert len(llm_server.requests) == 3  # the refused call never reached the server
    assert ask("one").cached  # a cached answer is still free
    assert budget.spent() == {"calls": 2, "cost": 0.0, "max_calls": 2, "max_cost": None}


def test_budget_resumes_from_calls_file_and_follows_other_processes(tmp_path):
    path = tmp_path / "llm" / "calls.jsonl"
    base = {"role": "designer", "model": MODEL, "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 0.1}
    append_jsonl(path, {**base, "cost": 0.25, "cached": False, "attempt": 1, "error": None})
    append_jsonl(path, {**base, "cost": 0.0, "cached": False, "attempt": 1, "error": "RateLimitError (HTTP 429)"})
    append_jsonl(path, {**base, "cost": 0.5, "cached": False, "attempt": 2, "error": None})
    append_jsonl(path, {**base, "cost": 0.0, "cached": True, "attempt": 0, "error": None})
    budget = Budget(max_calls=3, max_cost=1.0, calls_path=path)
    assert budget.spent() == {"calls": 2, "cost": 0.75, "max_calls": 3, "max_cost": 1.0}
    budget.check()  # below both limits

    with open(path, "a", encoding="utf-8") as handle:  # another process logs a call; half a line is not yet counted
        handle.write(json.dumps({**base, "cost": 0.25, "cached": False, "attempt": 1, "error": None}) + "\n")
        handle.write('{"cost": 5.0, "cach')
    assert budget.spent()["calls"] == 3
    with pytest.raises(LLMBudgetExceeded, match=r"max_calls=3"):
        budget.check()
    cost_only = pickle.loads(pickle.dumps(Budget(max_cost=1.0, calls_path=path)))
    with pytest.raises(LLMBudgetExceeded, match=r"\$1\.0000 used.*max_cost=\$1\.0000.*larger cost limit"):
        cost_only.check()
    assert Budget(calls_path=tmp_path / "missing.jsonl").spent()["calls"] == 0


def test_budget_without_a_file_counts_in_memory(llm_server, client_for):
    llm_server.script(["ok"])
    budget = Budget(max_calls=1)
    client = client_for(budget=budget, calls_path=None)
    client.complete(ASK, role="designer")
    assert budget.spent()["calls"] == 1
    with pytest.raises(LLMBudgetExceeded):
        client.complete(ASK, role="designer")


def test_make_llm_offline_is_none():
    assert make_llm("offline") is None
    assert make_llm("OFFLINE") is None
    assert make_llm(None) is None


def test_make_llm_uses_run_dir_and_the_base_url_from_the_environment(llm_server, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOREWARD_LLM_API_BASE", llm_server.url)
    monkeypatch.delenv("AUTOREWARD_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm_server.script(["from env"])
    llm = make_llm("Qwen/Qwen2.5-7B-Instruct", run_dir=tmp_path, max_calls=5, backoff_s=0.01)
    assert isinstance(llm, LiteLLMClient)
    assert llm.model == "openai/Qwen/Qwen2.5-7B-Instruct"  # no known provider prefix: sent as is
    assert llm.complete(ASK, role="designer").text == "from env"
    assert llm_server.requests[0]["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert llm_server.headers[0]["authorization"] == "Bearer no-key"  # a local server needs no key
    assert (tmp_path / "llm" / "cache.sqlite").is_file()
    assert [line["role"] for line in read_jsonl(tmp_path / "llm" / "calls.jsonl")] == ["designer"]
    assert llm.budget is not None and llm.budget.spent()["calls"] == 1


def test_model_prefix_rules(llm_server):
    assert LiteLLMClient("test-model", api_base=llm_server.url).model == "openai/test-model"
    assert LiteLLMClient("hosted_vllm/my-model", api_base=llm_server.url).model == "hosted_vllm/my-model"
    assert LiteLLMClient("anthropic/claude-x").model == "anthropic/claude-x"


def test_params_the_client_owns_are_rejected(client_for):
    with pytest.raises(ValueError, match="stream"):
        client_for().complete(ASK, role="designer", stream=True)
    with pytest.raises(ValueError, match="timeout"):
        client_for(params={"timeout": 3})


def test_priced_model_costs_money_and_the_cost_budget_stops(llm_server, client_for, tmp_path):
    usage = {"prompt_tokens": 100_000, "completion_tokens": 100_000}
    llm_server.script([{"text": "priced", "usage": usage}])
    budget = Budget(max_cost=0.01, calls_path=tmp_path / "calls.jsonl")
    client = client_for(model="openai/gpt-4o-mini", budget=budget)  # priced from litellm's bundled cost map
    answer = client.complete(ASK, role="designer")
    assert 0.01 < answer.cost < 1.0
    assert calls(tmp_path)[0]["cost"] == answer.cost
    with pytest.raises(LLMBudgetExceeded, match="max_cost"):
        client.complete(ASK, role="review")
    assert len(llm_server.requests) == 1


def test_an_unusable_cache_degrades_to_calls(llm_server, client_for, tmp_path, caplog):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    (tmp_path / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    llm_server.script(["still answered"])
    with caplog.at_level("WARNING", logger="autoreward.llm.client"):
        assert client_for(cache=cache).complete(ASK, role="designer").text == "still answered"
    assert "unreadable" in caplog.text and "not written" in caplog.text


def test_make_llm_without_run_dir_uses_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    llm = make_llm("openai/gpt-4o-mini", max_calls=3)
    assert isinstance(llm, LiteLLMClient)
    assert llm.cache is not None and llm.cache.path == tmp_path / "autoreward" / "llm.sqlite"
    assert llm.calls_path is None and llm.budget is not None and llm.budget.spent()["max_calls"] == 3
