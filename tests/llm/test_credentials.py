"""LLM credentials: every command that will call an LLM checks them before any work (exit 2 naming the variable);
a missing or refused key met later is an authentication error whatever status litellm wraps it in: no retries,
and `iterate` stops saved and resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from autoreward.cli import main
from autoreward.io import read_jsonl
from autoreward.llm.base import LLMAuthError
from autoreward.llm.client import LiteLLMClient
from autoreward.llm.providers import missing_credentials
from tests.common import SHIPPED

ROOM = "MiniHack-Room-5x5-v0"
NO_CODE = "Reward the agent for reaching the stairs."  # no code: the designer's repair makes a second call
MISSING = ("Missing credentials. Please pass an `api_key`, `workload_identity`, `admin_api_key`, or set the "
           "`OPENAI_API_KEY` or `OPENAI_ADMIN_KEY` environment variable.")
NO_KEY = "No API key provided. You need to provide your API key in an Authorization header."  # a proxy's words
ASK = [{"role": "user", "content": "hello"}]


@pytest.fixture
def no_keys(monkeypatch, tmp_path):
    """No LLM key or base URL in the environment; the working directory is an empty folder."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "AUTOREWARD_LLM_API_KEY",
                 "AUTOREWARD_LLM_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return work


def _iterate(*extra: str) -> list[str]:
    return ["iterate", ROOM, "--steps", "256", "--rounds", "1", "--candidates", "1", "--confirm-seeds", "0",
            "--eval-episodes", "1", "--workers", "1", *extra]


# ----- before any work ----------------------------------------------------------------------------------------------
def test_iterate_without_a_key_exits_2_naming_it_and_creates_no_run(no_keys, capsys):
    start = time.monotonic()
    code = main(["iterate", ROOM, "--llm", "openai/gpt-4o-mini"])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2, err
    assert "OPENAI_API_KEY" in err and "--llm-api-base" in err
    assert elapsed < 30  # in-process: litellm's import is most of it for providers without a fast path
    assert not (no_keys / "runs").exists() and list(no_keys.iterdir()) == []


def test_the_newcomer_example_exits_2_in_under_5_seconds(tmp_path):
    """The whole command, as a user types it: told at once (known providers need no litellm import for this)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("AUTOREWARD_LLM")}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autoreward.cli", "iterate", "MiniHack-Room-5x5-v0", "--llm",
                           "openai/gpt-4o-mini"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert "OPENAI_API_KEY" in done.stderr and elapsed < 5
    assert list(tmp_path.iterdir()) == []  # no run folder


def test_resuming_a_run_without_its_key_exits_2(no_keys, capsys):
    root = no_keys / "runs" / "some-run"
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"config": {"task": ROOM, "llm": "openai/gpt-4o-mini"},
                                               "status": "stopped"}))
    assert main(["iterate", "--resume", str(root)]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert sorted(p.name for p in root.iterdir()) == ["run.json"]  # nothing was started


@pytest.mark.parametrize("argv", [
    ["serve", "--llm", "openai/gpt-4o-mini", "--port", "0", "--db", "labels.sqlite"],
    ["train", "--task", ROOM, "--steps", "64", "--intrinsic", "oni:retrieval", "--llm", "openai/gpt-4o-mini"],
    ["train", "--task", ROOM, "--steps", "64", "--calm", "--llm", "openai/gpt-4o-mini"],
    ["calm", "subgoals", "--task", ROOM, "--llm", "openai/gpt-4o-mini"],
    ["calm", "eval", "--dataset", str(SHIPPED), "--llm", "openai/gpt-4o-mini"],
], ids=["serve", "train-intrinsic", "train-calm", "calm-subgoals", "calm-eval"])
def test_every_llm_command_checks_the_key_first(no_keys, capsys, monkeypatch, argv):
    import autoreward.annotate.server
    import autoreward.train.ppo

    started = []
    monkeypatch.setattr(autoreward.annotate.server, "serve", lambda config: started.append("serve"))
    monkeypatch.setattr(autoreward.train.ppo, "train", lambda config, progress=None: started.append("train"))
    assert main(argv) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert started == [] and list(no_keys.iterdir()) == []


def test_another_provider_names_its_own_variable(no_keys, capsys):
    assert main(["calm", "subgoals", "--task", ROOM, "--llm", "anthropic/claude-3-5-haiku-20241022"]) == 2
    err = capsys.readouterr().err
    assert "ANTHROPIC_API_KEY" in err and "OPENAI_API_KEY" not in err


def test_what_counts_as_credentials(no_keys, monkeypatch):
    assert missing_credentials("offline") is None and missing_credentials(None) is None
    assert "OPENAI_API_KEY" in missing_credentials("openai/gpt-4o-mini")
    assert missing_credentials("openai/gpt-4o-mini", api_base="http://127.0.0.1:9/v1") is None  # a local server
    assert missing_credentials("my-local-model", api_base="http://127.0.0.1:9/v1") is None
    for unknown in ("nosuchprovider/model", "my-local-model"):  # every call would fail: said before any work
        assert "litellm knows no provider for it" in missing_credentials(unknown)
    assert "OLLAMA_API_BASE" not in (missing_credentials("ollama/llama3") or "")  # litellm defaults to localhost
    monkeypatch.setenv("AUTOREWARD_LLM_API_BASE", "http://127.0.0.1:9/v1")
    assert missing_credentials("openai/gpt-4o-mini") is None
    monkeypatch.delenv("AUTOREWARD_LLM_API_BASE")
    monkeypatch.setenv("AUTOREWARD_LLM_API_KEY", "sk-generic-123456")  # stands in for the provider's key
    assert missing_credentials("openai/gpt-4o-mini") is None
    monkeypatch.delenv("AUTOREWARD_LLM_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123456")
    assert missing_credentials("openai/gpt-4o-mini") is None


def test_a_local_server_needs_no_key(no_keys, llm_server, capsys):
    llm_server.script([NO_CODE])
    code = main(_iterate("--llm", "openai/test-model", "--llm-api-base", llm_server.url, "--llm-timeout", "5",
                         "--max-llm-calls", "1"))
    err = capsys.readouterr().err
    assert code == 1 and "budget" in err, err  # past the credential check: it called the server, then the budget
    assert len(llm_server.requests) == 1
    assert llm_server.headers[0]["authorization"] == "Bearer no-key"
    [root] = (no_keys / "runs").glob("*/run.json")
    assert json.loads(root.read_text())["status"] == "budget"


# ----- in the middle of a run ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("message", [MISSING, NO_KEY], ids=["missing-credentials", "no-api-key"])
def test_a_missing_key_answered_as_a_500_is_not_retried(llm_server, tmp_path, message):
    llm_server.script([{"status": 500, "message": message}, "never reached"])
    client = LiteLLMClient("openai/test-model", api_base=llm_server.url, api_key="sk-test-123456", timeout_s=5,
                           backoff_s=0.01, calls_path=tmp_path / "calls.jsonl")
    with pytest.raises(LLMAuthError) as caught:
        client.complete(ASK, role="designer")
    assert len(llm_server.requests) == 1
    assert "AUTOREWARD_LLM_API_KEY" in str(caught.value) and "credentials" in str(caught.value)
    [call] = read_jsonl(tmp_path / "calls.jsonl")
    assert "500" in call["error"]


def test_a_plain_500_is_still_retried(llm_server):
    llm_server.script([{"status": 500, "message": "the model crashed"}, "fine"])
    client = LiteLLMClient("openai/test-model", api_base=llm_server.url, api_key="sk-test-123456", timeout_s=5,
                           backoff_s=0.01)
    assert client.complete(ASK, role="designer").text == "fine"
    assert len(llm_server.requests) == 2


def test_missing_credentials_mid_run_stop_it_resumable(no_keys, llm_server, capsys):
    llm_server.script([{"status": 500, "message": MISSING}])
    argv = _iterate("--llm", "openai/test-model", "--llm-api-base", llm_server.url, "--llm-timeout", "5")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "run stopped" in err and "credentials" in err and "--resume" in err
    assert "AUTOREWARD_LLM_API_KEY" in err  # the variable to set
    assert len(llm_server.requests) == 1  # not retried
    [run_json] = (no_keys / "runs").glob("*/run.json")
    assert json.loads(run_json.read_text())["status"] == "stopped"

    llm_server.script([NO_CODE])  # the key is fixed: the resumed run calls the model again
    assert main(["iterate", "--resume", str(run_json.parent), "--max-llm-calls", "1"]) == 1
    assert "budget" in capsys.readouterr().err
    assert len(llm_server.requests) == 2
    assert json.loads(run_json.read_text())["status"] == "budget"
