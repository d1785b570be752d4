"""The LLM path of the loop, end to end through litellm and a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

from autoreward.io import read_jsonl
from autoreward.synth.loop import RunStopped, iterate
from autoreward.synth.store import IterateConfig
from tests.common import EXAMPLE as EXAMPLE_PATH

TASK = "MiniHack-KeyRoom-S5-v0"
EXAMPLE = EXAMPLE_PATH.read_text()

SYNTAX_ERROR = "Here is the reward:\n```python\ndef compute_reward(prev, action, state, memory)\n" \
               "    return 0.0, {}\n```"
FORBIDDEN_IMPORT = "```python\nimport os\n\ndef compute_reward(prev, action, state, memory):\n" \
                   "    return 0.0, {'zero': 0.0}\n```"
NO_CODE = "You should reward the agent for picking up the key, opening the door and reaching the stairs."
VALID = f"Fixed version:\n\n```python\n{EXAMPLE}```\nIt pays for each phase once."
REVIEW = '{"accepted": true, "errors": [], "warnings": ["check the milestone scale"]}'
ANALYSIS = '{"causes": ["timeout"], "unwanted": [], "edits": [{"action": "strengthen_exploration"}]}'


def _config(out: Path, url: str, **extra) -> IterateConfig:
    settings = dict(task=TASK, llm="openai/test-model", llm_api_base=url, llm_timeout_s=1.0, rounds=1, candidates=1,
                    repairs=3, steps=1024, eval_episodes=2, probe_transitions=200, workers=1, out=str(out),
                    confirm_seeds=0)
    return IterateConfig(**{**settings, **extra})


def test_llm_run_repairs_bad_answers_retries_and_replays_from_cache(llm_server, tmp_path):
    llm_server.script([SYNTAX_ERROR, FORBIDDEN_IMPORT, NO_CODE, {"status": 429}, {"delay": 3, "text": VALID},
                       VALID, REVIEW, ANALYSIS])
    store = iterate(_config(tmp_path, llm_server.url))
    [record] = store.candidates()
    assert record.status == "evaluated" and record.attempts == 4, record.reason
    assert record.success_rate is not None
    folder = store.candidate_dir(0, 0)
    assert (folder / "reward.py").read_text().strip() == EXAMPLE.strip()
    responses = (folder / "response.md").read_text()
    assert NO_CODE in responses and "import os" in responses
    prompts = (folder / "prompt.md").read_text()
    assert "line 1" in prompts or "SyntaxError" in prompts or "syntax" in prompts.lower()  # the error went back
    assert "os" in prompts and "import" in prompts
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["accepted"] and verdict["stage"] == "review"
    assert "check the milestone scale" in " ".join(verdict["warnings"])
    calls = read_jsonl(store.calls_path)
    roles = [c["role"] for c in calls]
    assert roles.count("review") == 1 and roles.count("analyzer") == 1
    errors = [c["error"] for c in calls if c["error"]]
    assert len(errors) == 2  # the 429 and the timeout, each retried
    assert len(llm_server.requests) == 8
    answer = json.loads((store.root / "best" / "summary.json").read_text())  # against the task reward alone
    assert (store.root / "best" / "reward.py").is_file() == (answer["answer"] == "candidate")
    assert (store.round_dir(0) / "analysis.md").is_file()

    # The same inputs again: every answer comes from the cache, the server is not asked.
    asked = len(llm_server.requests)
    again = iterate(_config(tmp_path, llm_server.url))
    assert len(llm_server.requests) == asked
    replay = read_jsonl(again.calls_path)
    assert replay and all(c["cached"] for c in replay)
    assert (again.candidate_dir(0, 0) / "reward.py").read_text() == (folder / "reward.py").read_text()


def test_llm_budget_stops_the_run_saved_and_resumable(llm_server, tmp_path):
    llm_server.script([VALID, REVIEW, ANALYSIS])
    try:
        iterate(_config(tmp_path, llm_server.url, max_llm_calls=1))
    except RunStopped as exc:
        assert "--resume" in str(exc)
    else:
        raise AssertionError("the budget did not stop the run")
    [root] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert json.loads((root / "run.json").read_text())["status"] == "budget"
    store = iterate(resume=root, budget={"max_llm_calls": 10})
    assert store.read_run()["status"] == "finished"
    assert [c.status for c in store.candidates()] == ["evaluated"]


def test_rejected_credentials_stop_the_run_at_once(llm_server, tmp_path):
    llm_server.script([{"status": 401}])
    try:
        iterate(_config(tmp_path, llm_server.url, candidates=2))
    except RunStopped as exc:
        assert "credentials" in str(exc) and "--resume" in str(exc)
    else:
        raise AssertionError("bad credentials did not stop the run")
    assert len(llm_server.requests) == 1  # not retried, and no second candidate asked
    [root] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert json.loads((root / "run.json").read_text())["status"] == "stopped"


def test_a_run_whose_candidates_all_fail_answers_the_task_reward_alone_and_exits_1(llm_server, tmp_path, capsys):
    from autoreward.cli import main

    llm_server.script([NO_CODE])
    code = main(["iterate", TASK, "--llm", "openai/test-model", "--llm-api-base", llm_server.url, "--rounds", "1",
                 "--candidates", "1", "--repairs", "0", "--steps", "1024", "--eval-episodes", "2", "--workers", "1",
                 "--confirm-seeds", "0", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and "no candidate was trained and evaluated" in out
    assert "no reward beat the task reward alone" in out
    [run] = [p for p in tmp_path.iterdir() if (p / "run.json").is_file()]
    answer = json.loads((run / "best" / "summary.json").read_text())
    assert answer["answer"] == "baseline" and not (run / "best" / "reward.py").exists()
