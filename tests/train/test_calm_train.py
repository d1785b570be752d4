"""CALM's auxiliary subgoal reward: the server's `calm` task, the reward wrapper, and training end to end."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import httpx
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from autoreward.annotate import calm_task
from autoreward.annotate.server import BackgroundServer, ServeConfig
from autoreward.calm import judge
from autoreward.calm.reward import CalmReward, subgoal_field
from autoreward.calm.subgoals import Subgoal
from autoreward.intrinsic.labels import DictLabelSource
from autoreward.io import read_jsonl
from autoreward.train.config import CalmConfig, OniConfig, PPOConfig, TrainConfig, WorkerConfig
from autoreward.train.ppo import train
from tests.common import EXAMPLE

SUBGOALS = [Subgoal("pick_up_key", "The key appears in the inventory."),
            Subgoal("open_door", "A door next to the agent opens.")]
FIELD = subgoal_field(SUBGOALS)
TINY = {"task": "MiniHack-KeyRoom-S5-v0", "envs": 2, "ppo": PPOConfig(n_steps=128, batch_size=64, n_epochs=1),
        "workers": WorkerConfig(count=0)}
CALM_ON = CalmConfig(enabled=True)


def _text(action: str, message: str, gained: str = "(none)") -> str:
    return (f"Action: {action} (key ,)\nMoved: no\nMessage before: (none)\nMessage after: {message}\n"
            f"Inventory gained: {gained}\nInventory lost: (none)\nStatus change: (none)\n")


KEY_TEXT = _text("pickup", "f - a key.", "f - a key")
WALL_TEXT = _text("east", "It's a wall.")


@pytest.fixture
def server(tmp_path):
    """Start a server (offline unless told) on a free port; yields a function returning an httpx client."""
    running: list[BackgroundServer] = []

    def _start(**settings: Any) -> httpx.Client:
        started = BackgroundServer(ServeConfig(port=0, db=str(tmp_path / "labels.sqlite"), **settings))
        running.append(started)
        return httpx.Client(base_url=started.start(), timeout=10)

    yield _start
    for started in running:
        started.stop()


def _poll(client: httpx.Client, want: int) -> list[dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 20
    while len(records) < want and time.monotonic() < deadline:
        for record in client.get("/v1/labels", params={"task": "calm"}).json()["labels"]:
            records[record["id"]] = record
        time.sleep(0.02)
    return list(records.values())


def test_calm_prompt_version_is_the_batch_templates_hash():
    assert calm_task.CALM.prompt_version == judge.prompt_version(judge.BATCH_TEMPLATE)
    prompt = calm_task.CALM.prompt([["k1", KEY_TEXT, FIELD], ["k2", WALL_TEXT, FIELD]])
    assert "Step 2:\n" + WALL_TEXT in prompt and "- open_door: A door next to the agent opens." in prompt


def test_server_judges_offline_and_deduplicates_by_canonical_key(server, tmp_path):
    client = server()
    other_text = KEY_TEXT.replace("f - a key", "g - a key")  # same key, a text of another episode
    items = [["k1", KEY_TEXT, FIELD], ["k1", other_text, FIELD], ["k2", WALL_TEXT, FIELD]]
    results = client.post("/v1/annotate", json={"task": "calm", "items": items}).json()["results"]
    assert results[0]["id"] == results[1]["id"] != results[2]["id"]
    labels = {record["item"][0]: record["label"] for record in _poll(client, 2)}
    assert labels == {"k1": {"pick_up_key": True, "open_door": False},
                      "k2": {"pick_up_key": False, "open_door": False}}
    again = client.post("/v1/annotate", json={"task": "calm", "items": [["k1", "a third text", FIELD]]}).json()
    assert again["results"][0]["status"] == "labeled" and again["results"][0]["id"] == results[0]["id"]
    with sqlite3.connect(tmp_path / "labels.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM labels WHERE task = 'calm'").fetchone() == (2,)
    bad = client.post("/v1/annotate", json={"task": "calm", "items": [["k", "text", "Not A Name"]]})
    assert bad.status_code == 422 and "snake_case" in bad.json()["detail"]


def test_llm_answers_are_parsed_strictly(server, llm_server):
    llm_server.script(["{not json", '{"1": {"pick_up_key": true}}'])  # malformed, then a name missing
    client = server(llm="test-model", api_base=llm_server.url, llm_retries=1, llm_backoff_s=0.01, llm_timeout_s=5.0)
    client.post("/v1/annotate", json={"task": "calm", "items": [["k1", KEY_TEXT, FIELD]]})
    (record,) = _poll(client, 1)
    assert record["status"] == "unlabeled" and record["label"] is None and "open_door" in record["reason"]
    llm_server.script(['{"1": {"pick_up_key": true, "open_door": false}}'])
    client.post("/v1/annotate", json={"task": "calm", "items": [["k2", KEY_TEXT, FIELD]]})
    labeled = [r for r in _poll(client, 2) if r["item"][0] == "k2"]
    assert labeled[0]["label"] == {"pick_up_key": True, "open_door": False}
    assert KEY_TEXT in llm_server.requests[-1]["messages"][-1]["content"]


class _Scripted(gym.Env):
    """Steps through (key, text) pairs as TransitionInfo would report them; the episode ends after the last."""

    observation_space = gym.spaces.Box(0, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, steps: list[tuple[str, str]]) -> None:
        self.steps, self.t = steps, 0

    def reset(self, **kwargs: Any):  # type: ignore[override]
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):  # type: ignore[override]
        key, text = self.steps[self.t]
        self.t += 1
        info = {"calm_key": key, "calm_text": text, "task_reward": 0.0}
        return np.zeros(1, np.float32), 0.0, self.t == len(self.steps), False, info


def _run(wrapper: CalmReward, steps: int) -> list[float]:
    wrapper.reset()
    paid = []
    for _ in range(steps):
        _, rewards, _, infos = wrapper.step(np.zeros(1, dtype=np.int64))
        assert infos[0]["reward_components"]["calm"] == rewards[0] == infos[0]["reward_total"]
        paid.append(float(rewards[0]))
    return paid


def test_calm_reward_pays_each_subgoal_once_per_episode():
    script = [("move", WALL_TEXT), ("key", KEY_TEXT), ("key", KEY_TEXT), ("door", "opened"), ("door", "opened")]
    judged = {"move": {"pick_up_key": False, "open_door": False}, "key": {"pick_up_key": True, "open_door": False},
              "door": {"pick_up_key": False, "open_door": True}}
    source = DictLabelSource("calm", {(key, text, FIELD): judged[key] for key, text in script})
    wrapper = CalmReward(DummyVecEnv([lambda: _Scripted(script)]), source, SUBGOALS, coef=0.5, update_every=1)
    wrapper.refresh()
    assert _run(wrapper, 10) == [0.0, 0.5, 0.0, 0.5, 0.0] * 2  # again in the second episode
    assert source.submitted == [("move", WALL_TEXT, FIELD), ("key", KEY_TEXT, FIELD), ("door", "opened", FIELD)]
    assert wrapper.stats.paid == 4 and wrapper.stats.predicted == 0


def test_unjudged_transitions_pay_nothing_until_the_distilled_model_knows():
    source = DictLabelSource("calm")
    script = [("move", WALL_TEXT), ("key", KEY_TEXT), ("key2", KEY_TEXT)]
    wrapper = CalmReward(DummyVecEnv([lambda: _Scripted(script)]), source, SUBGOALS, coef=1.0, update_every=1)
    assert _run(wrapper, 3) == [0.0, 0.0, 0.0]  # nothing judged, nothing trained
    source.add({("move", WALL_TEXT, FIELD): {"pick_up_key": False, "open_door": False},
                ("key", KEY_TEXT, FIELD): {"pick_up_key": True, "open_door": False}})
    wrapper.refresh()
    assert wrapper.achieved("key2") == {"pick_up_key": True, "open_door": False}  # predicted from its text
    assert _run(wrapper, 3) == [0.0, 1.0, 0.0]
    assert wrapper.stats.predicted == 0 and wrapper.stats.judged == 2


def _stored(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT task, COUNT(*) FROM labels WHERE status = 'labeled' GROUP BY task"))


def test_training_with_calm_and_an_in_process_server(tmp_path):
    result = train(TrainConfig(calm=CALM_ON, steps=2048, out=str(tmp_path), **TINY))
    assert result.ok, result.stopped_reason
    calm = result.annotation["calm"]
    assert calm["subgoals"] == ["pick_up_key", "open_door", "reach_stairs"]
    assert calm["labels"] > 0 and calm["errors"] == 0 and calm["reward"]["keys"] > 0
    for record in read_jsonl(tmp_path / "metrics.jsonl"):
        assert set(record["components"]) == {"task", "calm"}
    assert _stored(tmp_path / "labels.sqlite")["calm"] > 0
    saved = json.loads((tmp_path / "train.json").read_text())["config"]
    assert saved["calm"]["enabled"] and saved["calm"]["coef"] == pytest.approx(0.5)  # filled in: 0.5 x task_coef 1
    assert saved["task_coef"] == 1.0


def test_training_with_calm_and_oni_shares_one_server(tmp_path):
    result = train(TrainConfig(calm=CALM_ON, oni=OniConfig("oni:retrieval"), steps=2048, out=str(tmp_path), **TINY))
    assert result.ok, result.stopped_reason
    assert result.annotation["labels"] > 0 and result.annotation["calm"]["labels"] > 0
    for record in read_jsonl(tmp_path / "metrics.jsonl"):
        assert set(record["components"]) == {"task", "intrinsic", "calm"}
    assert set(_stored(tmp_path / "labels.sqlite")) == {"helpful", "calm"}


def test_calm_adds_to_a_reward_file(tmp_path):
    example = str(EXAMPLE)
    result = train(TrainConfig(reward=example, calm=CALM_ON, steps=1024, out=str(tmp_path),
                               **{**TINY, "workers": WorkerConfig(count=1)}))
    assert result.ok, result.stopped_reason
    for record in read_jsonl(tmp_path / "metrics.jsonl"):
        assert set(record["components"]) == {"approach", "milestone", "task", "calm"}

def test_transition_info_reports_the_key_every_step_and_the_text_once():
    from autoreward.calm.transition import TransitionInfo, build, key
    from autoreward.env.registry import card_for
    from autoreward.env.state import State

    env = TransitionInfo(card_for(TINY["task"]).make(TINY["task"], seed=3), SUBGOALS)
    obs, _ = env.reset()
    prev, texts, rng = State.copy_from(obs), {}, np.random.default_rng(0)
    for _ in range(40):
        action = int(rng.integers(env.action_space.n))
        obs, _, terminated, truncated, info = env.step(action)
        state = State.copy_from(obs, done=terminated or truncated)
        full = build(prev, env._names[action], env._typed[action], state)
        assert info["calm_key"] == key(full, SUBGOALS)  # the light build gives the same key
        assert ("calm_text" in info) == (info["calm_key"] not in texts)
        texts.setdefault(info["calm_key"], info.get("calm_text"))
        prev = state
        if terminated or truncated:
            obs, _ = env.reset()
            prev = State.copy_from(obs)
    env.close()
    assert len(texts) > 1


def test_without_map_keeps_what_changed_and_drops_the_crops():
    from autoreward.calm.transition import without_map

    text = (KEY_TEXT + "Map before (9x9 around you):\n  . @ .\nMap after:\n  . @ .\nLegend: . floor, @ you\n"
            "Objects before: key adjacent east\nObjects after: (none in sight)\nEpisode ended after this action.")
    short = without_map(text)
    assert short == KEY_TEXT + ("Objects before: key adjacent east\nObjects after: (none in sight)\n"
                                "Episode ended after this action.")


def test_distilled_model_learns_a_rare_subgoal():
    from autoreward.calm.reward import SubgoalModel

    walls = [_text(direction, f"It's a wall number {n}.") for n in range(60) for direction in ("east", "west")]
    keys = [_text("pickup", f"{letter} - a key.", f"{letter} - a key") for letter in "fgh"]
    judged = {text: {"pick_up_key": False, "open_door": False} for text in walls}
    judged.update({text: {"pick_up_key": True, "open_door": False} for text in keys})
    model = SubgoalModel(["pick_up_key", "open_door"], seed=0)
    assert model.predict(keys[0]) == {"pick_up_key": False, "open_door": False} and not model.trained
    assert model.update(judged) and not model.update(dict(judged))  # the same judgements: no refit
    assert model.predict(_text("pickup", "j - a key.", "j - a key")) == {"pick_up_key": True, "open_door": False}
    assert model.predict(_text("north", "It's a wall.")) == {"pick_up_key": False, "open_door": False}


@pytest.mark.parametrize(("args", "message"), [
    (["--reward", "none", "--subgoals", "pick up the key"], "add --calm"),
    (["--calm", "--calm-coef", "-1"], "--calm-coef must be"),
    (["--calm", "--subgoals", ";;"], "no subgoals"),
])
def test_train_calm_usage_errors_exit_2_before_training(tmp_path, capsys, args, message):
    from autoreward.cli import main

    assert main(["train", "--task", TINY["task"], "--steps", "256", "--out", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_train_calm_from_the_command_line(tmp_path, capsys):
    from autoreward.cli import main

    out = tmp_path / "out"
    assert main(["train", "--task", TINY["task"], "--calm", "--subgoals", "pick up the key;open the door",
                 "--calm-coef", "0.5", "--steps", "512", "--eval-episodes", "0", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train"]["annotation"]["calm"]["subgoals"] == ["pick_up_key", "open_door"]
    saved = TrainConfig.from_dict(json.loads((out / "train.json").read_text())["config"])
    assert saved.calm == CalmConfig(enabled=True, subgoals="pick up the key;open the door", coef=0.5)
