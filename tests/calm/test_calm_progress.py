"""`calm eval` and `calm dataset` stopped half-way: partial results on disk, a resume that does not ask again,
and progress (done/total, LLM calls, failures, time left) on the console (on stderr with --json).

The LLM is litellm talking to the local OpenAI-compatible server of tests/llm_server.py; each run of `calm eval`
gets a fresh LLM response cache, so only the judgements file can spare a rerun its requests.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from autoreward.calm.dataset import read_dataset, write_dataset
from autoreward.calm.judge import judge_prompt, prompt_version
from autoreward.calm.judgements import JudgementStore, default_path, transition_hash
from autoreward.calm.subgoals import subgoals_from_dicts
from autoreward.cli import main
from autoreward.env.registry import card_for
from tests.common import SHIPPED

KEYROOM, ROOM = "MiniHack-KeyRoom-S5-v0", "MiniHack-Room-5x5-v0"
MODEL = "openai/test-model"
NOT_JSON = 1  # the record the server answers out of schema (twice: no judgement)
FLIPPED = 4  # the record whose pick_up_key the server gets wrong
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _records(count: int = 6) -> list[dict]:
    return read_dataset(SHIPPED)[:count]


def _answers(records: list[dict]):
    """A server step answering each record's judgement request from its labels (see NOT_JSON and FLIPPED)."""
    goal = card_for(KEYROOM).task(KEYROOM).goal
    by_prompt = {}
    for index, record in enumerate(records):
        labels = dict(record["labels"])
        if index == FLIPPED:
            labels["pick_up_key"] = not labels["pick_up_key"]
        answer = "I am not sure." if index == NOT_JSON else json.dumps(labels)
        by_prompt[judge_prompt(record["text"], subgoals_from_dicts(record["subgoals"]), goal)] = answer
    return lambda request: by_prompt.get(request["messages"][0]["content"], "unknown request")


def _eval(monkeypatch, tmp_path: Path, server, data: Path, out: Path, cache: str, *extra: str) -> int:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / cache))  # a fresh LLM response cache for each run
    return main(["calm", "eval", "--dataset", str(data), "--llm", MODEL, "--llm-api-base", server.url,
                 "--out", str(out), *extra])


def _figures(report: dict) -> dict:
    return {k: report[k] for k in ("transitions", "no_judgement", "subgoals", "overall", "judgements")}


def test_calm_eval_interrupted_half_way_resumes_without_asking_again(tmp_path: Path, monkeypatch, capsys,
                                                                    llm_server) -> None:
    from autoreward.llm.client import LiteLLMClient

    records = _records()
    data = tmp_path / "data.jsonl"
    write_dataset(data, records)
    llm_server.script([_answers(records)])

    # an uninterrupted run: 7 requests (the record answered out of schema is asked twice)
    full_out = tmp_path / "full" / "report.json"
    assert _eval(monkeypatch, tmp_path, llm_server, data, full_out, "cache-full") == 0
    assert len(llm_server.requests) == 7
    full = json.loads(full_out.read_text())
    assert full["partial"] is False and full["no_judgement"] == 1 and full["overall"]["fp"] == 1
    capsys.readouterr()

    # Ctrl-C while the 5th call waits for the model, i.e. during record 3: records 0-2 are judged
    real, calls = LiteLLMClient.complete, []

    def interrupted(self, messages, role, **params):
        calls.append(role)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(self, messages, role, **params)

    monkeypatch.setattr(LiteLLMClient, "complete", interrupted)
    out = tmp_path / "run" / "report.json"
    before = len(llm_server.requests)
    assert _eval(monkeypatch, tmp_path, llm_server, data, out, "cache-1") == 130
    assert len(llm_server.requests) - before == 4
    kept = out.with_name("report.judgements.jsonl")
    assert [json.loads(line)["judgement"] is None for line in kept.read_text().splitlines()] == [False, True, False]
    partial = json.loads(out.read_text())
    assert partial["partial"] is True and partial["transitions"] == 3 and partial["dataset_transitions"] == 6
    assert partial["pending"] == [3, 4, 5] and partial["no_judgement"] == 1 and partial["judgements"][3:] == [None] * 3
    assert partial["overall"]["tp"] + partial["overall"]["fn"] == sum(
        sum(r["labels"].values()) for r in records[:3])
    err = capsys.readouterr().err
    assert "interrupted" in err and "after judging 3 of 6" in err and "run the same command again" in err
    monkeypatch.setattr(LiteLLMClient, "complete", real)
    with open(kept, "a", encoding="utf-8") as handle:  # a kill while a line was being written
        handle.write('{"task": "MiniHack-KeyRoom-S5-v0", "mod')

    # the rerun, with an empty response cache, asks only for records 3-5
    before = len(llm_server.requests)
    assert _eval(monkeypatch, tmp_path, llm_server, data, out, "cache-2", "--json") == 0
    asked = [r["messages"][0]["content"] for r in llm_server.requests[before:]]
    assert len(asked) == 3 and all(records[i]["text"] in prompt for i, prompt in zip((3, 4, 5), asked, strict=True))
    report = json.loads(capsys.readouterr().out)
    assert report["partial"] is False and report["resumed"] == 3 and report["llm_calls"]["calls"] == 3
    assert _figures(json.loads(out.read_text())) == _figures(full)
    assert len(JudgementStore(kept, "openai/test-model", prompt_version())) == 6

    # a third run finds every judgement: no request at all
    before = len(llm_server.requests)
    assert _eval(monkeypatch, tmp_path, llm_server, data, out, "cache-3") == 0
    assert len(llm_server.requests) == before
    assert "6 of 6 transitions already judged" in capsys.readouterr().out


def test_calm_eval_stopped_by_an_llm_error_keeps_what_was_judged(tmp_path: Path, monkeypatch, capsys,
                                                                 llm_server) -> None:
    records = _records(4)
    data = tmp_path / "data.jsonl"
    write_dataset(data, records)
    answers = _answers(records)
    served = []

    def then_refused(request):  # answers 3 requests (records 0 and 1), then refuses the key
        served.append(request)
        return answers(request) if len(served) <= 3 else {"status": 401}

    llm_server.script([then_refused])
    out = tmp_path / "report.json"
    assert _eval(monkeypatch, tmp_path, llm_server, data, out, "cache-1") == 1
    err = capsys.readouterr().err
    assert "stopped by an LLM error" in err and "after judging 2 of 4" in err and "credentials" in err
    assert json.loads(out.read_text())["pending"] == [2, 3]
    llm_server.script([answers])
    before = len(llm_server.requests)
    assert _eval(monkeypatch, tmp_path, llm_server, data, out, "cache-2") == 0
    assert len(llm_server.requests) - before == 2
    report = json.loads(out.read_text())
    assert report["resumed"] == 2 and report["transitions"] == 4 and "pending" not in report


def test_calm_eval_shows_progress_on_the_console_and_on_stderr_with_json(tmp_path: Path, monkeypatch,
                                                                         capsys, llm_server) -> None:
    import autoreward.cli.calm

    records = _records(3)
    data = tmp_path / "data.jsonl"
    write_dataset(data, records)
    llm_server.script([_answers(records)])
    screens = {name: io.StringIO() for name in ("console", "err_console")}
    for name, screen in screens.items():
        monkeypatch.setattr(autoreward.cli.calm, name, Console(file=screen, force_terminal=True, width=220))

    assert _eval(monkeypatch, tmp_path, llm_server, data, tmp_path / "a.json", "cache") == 0
    shown = ANSI.sub("", screens["console"].getvalue())
    assert "judging (openai/test-model)" in shown and "0/3" in shown and "ETA" in shown
    assert "3/3 calls 4, failed 2, no judgement 1" in shown  # record 1: two answers out of schema
    assert "overall (micro)" in shown

    # --json: stdout holds the JSON only, the bar goes to stderr; the same answers now come from the cache
    screens["console"].truncate(0)
    assert _eval(monkeypatch, tmp_path, llm_server, data, tmp_path / "b.json", "cache", "--json") == 0
    assert json.loads(capsys.readouterr().out)["transitions"] == 3
    assert "/3" not in screens["console"].getvalue()
    assert "3/3 calls 4 (4 cached), failed 2, no judgement 1" in ANSI.sub("", screens["err_console"].getvalue())


def test_judgement_store_reuses_only_the_same_question(tmp_path: Path) -> None:
    records = _records(2)
    path = default_path(tmp_path / "data.jsonl")
    assert path == tmp_path / "data.judgements.jsonl"
    assert default_path(tmp_path / "data.jsonl", tmp_path / "out" / "r.json") == tmp_path / "out" / "r.judgements.jsonl"
    store = JudgementStore(path, MODEL, "v1")
    store.add(records[0], {"pick_up_key": True, "open_door": False, "reach_stairs": False})
    store.add(records[1], None)
    again = JudgementStore(path, MODEL, "v1")
    assert again.get(records[0]) == (True, {"pick_up_key": True, "open_door": False, "reach_stairs": False})
    assert again.get(records[1]) == (True, None)  # no judgement is an outcome
    assert JudgementStore(path, "openai/other-model", "v1").get(records[0]) == (False, None)
    assert JudgementStore(path, MODEL, "v2").get(records[0]) == (False, None)
    other_goals = {**records[0], "subgoals": records[0]["subgoals"][:2]}
    assert transition_hash(other_goals) != transition_hash(records[0])
    assert again.get(other_goals) == (False, None)
    # a line cut off by a kill is skipped, and the next line starts on its own
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"task": "x", "model": "openai/te')
    cut = JudgementStore(path, MODEL, "v1")
    assert cut.skipped == 1 and len(cut) == 2
    cut.add(other_goals, None)
    assert len(JudgementStore(path, MODEL, "v1")) == 3


def test_calm_dataset_interrupted_keeps_the_whole_episodes(tmp_path: Path, monkeypatch, capsys) -> None:
    import autoreward.calm.dataset as dataset

    real, played = dataset._episode, []

    def stopped_in_the_third(*args, **kwargs):
        played.append(1)
        if len(played) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "_episode", stopped_in_the_third)
    partial = tmp_path / "partial.jsonl"
    assert main(["calm", "dataset", "--task", ROOM, "--episodes", "5", "--seed", "1", "--out", str(partial),
                 "--json"]) == 130
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["partial"] is True and summary["episodes"] == 2 and summary["records"] > 0
    assert "after 2 of 5 episodes" in captured.err
    monkeypatch.setattr(dataset, "_episode", real)
    whole = tmp_path / "two.jsonl"
    assert main(["calm", "dataset", "--task", ROOM, "--episodes", "2", "--seed", "1", "--out", str(whole),
                 "--json"]) == 0
    assert partial.read_text() == whole.read_text()


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_calm_eval_offline_keeps_no_judgements_file(tmp_path: Path, capsys, json_flag: list[str]) -> None:
    data = tmp_path / "data.jsonl"
    write_dataset(data, _records(3))
    assert main(["calm", "eval", "--dataset", str(data), "--out", str(tmp_path / "r.json"), *json_flag]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["partial"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl", "r.json"]
