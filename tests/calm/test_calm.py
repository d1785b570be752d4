"""CALM: decomposition, strict parsing, ground truth on real transitions, datasets, scores, the LLM path.

The shipped dataset `tests/data/calm_keyroom_s5.jsonl` was made with (see tests/data/README.md)
    autoreward calm dataset --task MiniHack-KeyRoom-S5-v0 --episodes 30 --seed 5 --out tests/data/calm_keyroom_s5.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoreward.annotate.calm_task import CALM
from autoreward.calm.dataset import collect, read_dataset, write_dataset
from autoreward.calm.decompose import check_decomposition, decompose
from autoreward.calm.evaluate import score
from autoreward.calm.explorer import ScriptedExplorer
from autoreward.calm.ground_truth import GroundTruthUnavailable, labels
from autoreward.calm.judge import batch_prompt, judge, judge_prompt, offline_judge
from autoreward.calm.subgoals import DecompositionError, Subgoal, parse_subgoals, subgoals_from_dicts
from autoreward.calm.transition import build, key, render, typed_key
from autoreward.cli import main
from autoreward.env.card import action_names
from autoreward.env.registry import card_for
from autoreward.errors import UsageError
from autoreward.llm.base import Completion
from tests.common import SHIPPED

KEYROOM, EAT, ROOM = "MiniHack-KeyRoom-S5-v0", "MiniHack-Eat-v0", "MiniHack-Room-5x5-v0"
NAMES = ["pick_up_key", "open_door", "reach_stairs"]
KEY_SUBGOALS = [Subgoal(n, n.replace("_", " ")) for n in NAMES]


def names(subgoals: list[Subgoal]) -> list[str]:
    return [s.name for s in subgoals]


# ----- decomposition --------------------------------------------------------------------------------------
def test_offline_decomposition_by_family() -> None:
    assert names(decompose(KEYROOM)) == NAMES
    eat = decompose(EAT)
    assert names(eat) == ["pick_up_item", "eat_item"] and "apple" in eat[1].description
    assert names(decompose("MiniHack-Eat-Fixed-v0")) == ["eat_item"]  # "Eat the apple": it may stay on the floor
    assert names(decompose("MiniHack-Wear-v0")) == ["pick_up_item", "wear_item"]
    assert names(decompose(ROOM)) == ["reach_stairs"]
    assert names(decompose("MiniHack-MultiRoom-N2-v0")) == ["open_door", "reach_stairs"]
    assert names(decompose("MiniHack-LavaCrossingS9N1-v0")) == ["cross_lava", "reach_stairs"]


def test_parse_subgoals_makes_names_from_the_words() -> None:
    subgoals = parse_subgoals("pick up the key; Open the door ;")
    assert subgoals == [Subgoal("pick_up_key", "pick up the key"), Subgoal("open_door", "Open the door")]
    for bad in ("", " ; ", "open a door;open the door", "42 doors"):
        with pytest.raises(UsageError):
            parse_subgoals(bad)


def test_check_decomposition_is_strict() -> None:
    good = {"subgoals": [{"name": "get_key", "description": "Key in inventory."},
                         {"name": "open_door", "description": "The door is open."}]}
    assert names(check_decomposition(good)) == ["get_key", "open_door"]
    bad = [
        {"subgoals": good["subgoals"][:1]},  # too few
        {"subgoals": good["subgoals"], "reasoning": "..."},  # extra key
        {"subgoals": [{"name": "Get Key", "description": "x"}, good["subgoals"][1]]},  # not snake_case
        {"subgoals": [good["subgoals"][1], good["subgoals"][1]]},  # repeated name
        {"subgoals": [{"name": "a", "description": ""}, good["subgoals"][1]]},  # empty description
        {"subgoals": [{"name": "a", "description": "x", "extra": 1}, good["subgoals"][1]]},
    ]
    for data in bad:
        with pytest.raises(ValueError):
            check_decomposition(data)


# ----- strict judgement parsing ---------------------------------------------------------------------------
class _Says:
    """An LLM that gives the same answer to every request (the edge we cannot reach: a hosted model)."""

    model = "test/says"

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0

    def complete(self, messages, role, **params) -> Completion:
        self.calls += 1
        return Completion(text=self.text, model=self.model)


def _judged(text: str) -> dict | None:
    """What `judge` makes of an LLM that always answers `text` (asked twice when the first is out of schema)."""
    return judge("Action: east", KEY_SUBGOALS, _Says(text), task="Open the door.")


def test_judgements_accept_exactly_the_names_as_booleans() -> None:
    expected = {"pick_up_key": True, "open_door": False, "reach_stairs": False}
    valid = json.dumps(expected)
    assert _judged(valid) == expected
    assert _judged(f"```json\n{valid}\n```") == expected
    assert _judged(f"The agent took the key. {valid} That is all.") == expected
    malformed = [
        "",
        "pick_up_key: true",
        '{"pick_up_key": true, "open_door": false, "reach_stairs": false',  # cut off
        '{"pick_up_key": true, "open_door": false}',  # missing key
        '{"pick_up_key": true, "open_door": false, "reach_stairs": false, "eat": false}',  # extra key
        '{"pick_up_key": "true", "open_door": false, "reach_stairs": false}',  # string
        '{"pick_up_key": 1, "open_door": 0, "reach_stairs": 0}',  # numbers
        '{"pick_up_key": null, "open_door": false, "reach_stairs": false}',
        "{'pick_up_key': True, 'open_door': False, 'reach_stairs': False}",  # Python, not JSON
        '{"answer": {"pick_up_key": true, "open_door": false, "reach_stairs": false}}',  # wrapped
        "[true, false, false]",
    ]
    for text in malformed:
        assert _judged(text) is None, text


def test_batch_answers_keep_good_items_only() -> None:
    """The annotation server's calm task parses a batch answer: each item judged alone, bad ones left out."""
    field = ";".join(f"{s.name}: {s.description}" for s in KEY_SUBGOALS)
    items = [[f"k{i}", f"Action {i}", field] for i in range(3)]
    answer = json.dumps({"1": {"pick_up_key": True, "open_door": False, "reach_stairs": False},
                         "2": {"pick_up_key": "yes", "open_door": False, "reach_stairs": False}})
    parsed = CALM.parse(answer, 3, items)
    assert parsed.labels == {0: {"pick_up_key": True, "open_door": False, "reach_stairs": False}}
    assert set(parsed.reasons) == {1, 2}
    assert CALM.parse("no JSON here", 2, items[:2]).labels == {}
    prompt = batch_prompt(["Action: east", "Action: west"], KEY_SUBGOALS, "Open the door.")
    assert "Step 2:\nAction: west" in prompt and '"2": {"pick_up_key": false' in prompt


# ----- ground truth on real transitions -------------------------------------------------------------------
def _explorer_episode(task: str, seed: int = 0):
    """One episode of the scripted explorer (no random actions): [(prev, action name, typed key, state), ...]."""
    card = card_for(task)
    env = card.make(task, seed=seed)
    names_, codes = action_names(env), [int(a) for a in env.unwrapped.actions]
    explorer = ScriptedExplorer(task, names_, codes, seed=seed, epsilon=0.0)
    steps = []
    try:
        obs, info = env.reset()
        prev, done = card.state(obs, info=info), False
        while not done and len(steps) < 100:
            action = explorer.act(prev)
            obs, reward, terminated, truncated, info = env.step(action)
            state = card.state(obs, reward, terminated, truncated, info, len(steps) + 1)
            steps.append((prev, names_[action], typed_key(codes[action]), state))
            prev, done = state, terminated or truncated
    finally:
        env.close()
    return steps


def test_ground_truth_marks_exactly_the_steps_that_achieve_each_subgoal() -> None:
    steps = _explorer_episode(KEYROOM)
    subgoals = decompose(KEYROOM)
    truth = [labels(prev, state, KEYROOM, subgoals) for prev, _, _, state in steps]
    positive = {name: [i for i, label in enumerate(truth) if label[name]] for name in NAMES}
    first_key = next(i for i, (*_, state) in enumerate(steps) if state.has_item("key named"))
    assert positive["pick_up_key"] == [first_key] and steps[first_key][1] == "pickup"
    assert len(positive["open_door"]) == 1 and steps[positive["open_door"][0]][1] == "apply"
    assert first_key < positive["open_door"][0]
    assert positive["reach_stairs"] == [len(steps) - 1] and steps[-1][-1].success
    # the offline judge reads the same steps from their text only
    for i, (prev, action, typed, state) in enumerate(steps):
        assert offline_judge(render(build(prev, action, typed, state)), subgoals) == truth[i], i


def test_unknown_subgoal_has_no_ground_truth() -> None:
    with pytest.raises(GroundTruthUnavailable, match="find_treasure"):
        collect(KEYROOM, 1, 0, [Subgoal("find_treasure", "x")])


def test_transition_keys_repeat_across_episodes() -> None:
    records = collect(KEYROOM, 6, 0, decompose(KEYROOM), balance=False)
    by_key: dict[str, set[int]] = {}
    for record in records:
        by_key.setdefault(record["key"], set()).add(record["episode"])
    assert len(by_key) < 0.75 * len(records)
    assert any(len(episodes) > 1 for episodes in by_key.values())
    # the key names the subgoals: other subgoals, other keys
    steps = _explorer_episode(ROOM)
    transition = build(*steps[0])
    assert key(transition, KEY_SUBGOALS) != key(transition, KEY_SUBGOALS[:2])
    assert key(transition, KEY_SUBGOALS) == key(transition, KEY_SUBGOALS)


# ----- datasets -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("task", "episodes"), [(KEYROOM, 6), (EAT, 4), (ROOM, 4)])
def test_calm_dataset_command_writes_balanced_records(tmp_path: Path, capsys, task: str, episodes: int) -> None:
    out = tmp_path / "data.jsonl"
    assert main(["calm", "dataset", "--task", task, "--episodes", str(episodes), "--seed", "3", "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    records = read_dataset(out)
    assert len(records) == summary["records"] > 0
    subgoals = decompose(task)
    assert all(count > 0 for count in summary["positives"].values())
    assert set(summary["positives"]) == set(names(subgoals))
    positives = sum(any(r["labels"].values()) for r in records)
    assert summary["negatives"] == len(records) - positives <= 2 * positives
    record = records[0]
    assert set(record) == {"task", "subgoals", "text", "key", "labels", "episode", "step", "action", "policy"}
    assert record["task"] == task and subgoals_from_dicts(record["subgoals"]) == subgoals


def test_calm_dataset_refuses_subgoals_without_ground_truth(tmp_path: Path, capsys) -> None:
    code = main(["calm", "dataset", "--task", KEYROOM, "--episodes", "1", "--out", str(tmp_path / "d.jsonl"),
                 "--subgoals", "pick up the key;find the treasure"])
    assert code == 2
    assert "find_treasure" in capsys.readouterr().err
    assert not (tmp_path / "d.jsonl").exists()


# ----- scores ---------------------------------------------------------------------------------------------
def test_calm_eval_offline_on_the_shipped_dataset(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report.json"
    assert main(["calm", "eval", "--dataset", str(SHIPPED), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["judge"] == "offline" and report["no_judgement"] == 0
    assert report["transitions"] == len(read_dataset(SHIPPED))
    assert set(report["subgoals"]) == set(NAMES)
    for metrics in [*report["subgoals"].values(), report["overall"]]:
        assert {"accuracy", "precision", "recall", "f1", "tp", "fp", "fn", "tn"} <= set(metrics)
        assert metrics["f1"] > 0
        assert metrics["tp"] + metrics["fp"] + metrics["fn"] + metrics["tn"] == report["transitions"] * (
            len(NAMES) if metrics is report["overall"] else 1)
    written = json.loads(out.read_text())
    assert len(written["judgements"]) == report["transitions"]
    assert main(["calm", "eval", "--dataset", str(SHIPPED)]) == 0  # the table
    assert "overall" in capsys.readouterr().out


def test_score_counts_no_judgement_as_all_false() -> None:
    records = [{"labels": {"a": True, "b": False}}, {"labels": {"a": False, "b": True}}]
    report = score(records, [{"a": True, "b": False}, None])
    assert report.no_judgement == 1
    assert report.subgoals["a"] == {**report.subgoals["a"], "tp": 1, "fp": 0, "fn": 0, "tn": 1, "f1": 1.0}
    assert report.subgoals["b"]["fn"] == 1 and report.subgoals["b"]["recall"] == 0.0
    assert report.overall["accuracy"] == 0.75
    json.dumps(report.to_dict())


# ----- the LLM path, through litellm and a local OpenAI-compatible server -------------------------------
def _client(server):
    from autoreward.llm.client import LiteLLMClient

    return LiteLLMClient("openai/test-model", api_base=server.url, api_key="sk-test", retries=0)


def test_llm_judge_parses_valid_json_and_gives_no_judgement_after_two_bad_answers(llm_server) -> None:
    records = read_dataset(SHIPPED)[:2]
    subgoals = subgoals_from_dicts(records[0]["subgoals"])
    llm = _client(llm_server)
    llm_server.script(['Here: {"pick_up_key": true, "open_door": false, "reach_stairs": false}'])
    assert judge(records[0]["text"], subgoals, llm, task="Open the door.") == {
        "pick_up_key": True, "open_door": False, "reach_stairs": False}
    prompt = llm_server.requests[-1]["messages"][-1]["content"]
    assert prompt == judge_prompt(records[0]["text"], subgoals, "Open the door.")
    assert "- open_door: " in prompt and records[0]["text"] in prompt

    llm_server.script(['{"pick_up_key": true, "open_door": fals', '{"pick_up_key": "yes"}'])
    before = len(llm_server.requests)
    assert judge(records[1]["text"], subgoals, llm) is None
    assert len(llm_server.requests) == before + 2  # one retry, with the bad answer and a correction
    retry = llm_server.requests[-1]["messages"]
    assert retry[1] == {"role": "assistant", "content": '{"pick_up_key": true, "open_door": fals'}
    assert "could not be used" in retry[2]["content"]
    report = score(records, [{"pick_up_key": True, "open_door": False, "reach_stairs": False}, None])
    assert report.no_judgement == 1


def test_calm_eval_with_an_llm_that_never_answers_in_schema(tmp_path: Path, capsys, monkeypatch, llm_server) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = tmp_path / "two.jsonl"
    write_dataset(data, read_dataset(SHIPPED)[:2])
    llm_server.script(["I think the agent did well."])
    assert main(["calm", "eval", "--dataset", str(data), "--llm", "openai/test-model", "--llm-api-base",
                 llm_server.url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["no_judgement"] == 2 and report["overall"]["tp"] == report["overall"]["fp"] == 0
    assert len(llm_server.requests) == 4


def test_llm_decomposition_retries_once_and_is_cached(tmp_path: Path, llm_server) -> None:
    valid = {"subgoals": [{"name": "get_key", "description": "The key is in the inventory."},
                          {"name": "unlock_door", "description": "The door opens."},
                          {"name": "reach_stairs", "description": "The agent stands on '>'."}]}
    llm_server.script(["Sure! Subgoals: get the key, open the door.", json.dumps(valid)])
    cache = tmp_path / "subgoals.json"
    subgoals = decompose(KEYROOM, llm=_client(llm_server), cache_path=cache)
    assert names(subgoals) == ["get_key", "unlock_door", "reach_stairs"]
    assert len(llm_server.requests) == 2 and "Goal: Pick up the key" in llm_server.requests[0]["messages"][0]["content"]
    llm_server.script([{"status": 500}])  # the cache answers now, without the LLM
    assert decompose(KEYROOM, llm=_client(llm_server), cache_path=cache) == subgoals
    assert len(llm_server.requests) == 2
    llm_server.script(["no JSON", '{"subgoals": []}'])
    with pytest.raises(DecompositionError, match="after a retry"):
        decompose(EAT, llm=_client(llm_server), cache_path=cache)
    # subgoals that the LLM made up have no ground truth: the dataset says so
    with pytest.raises(GroundTruthUnavailable, match="get_key, unlock_door"):
        collect(KEYROOM, 1, 0, subgoals)
