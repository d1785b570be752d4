"""The evaluator: the task's own success on fixed seeds, failure causes, trajectories; identical results twice."""

from __future__ import annotations

import json

import pytest

from autoreward.errors import UsageError
from autoreward.evaluate import _failure_cause, evaluate
from autoreward.train.config import PPOConfig, TrainConfig, WorkerConfig
from autoreward.train.ppo import train

TASK = "MiniHack-Room-5x5-v0"


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    out = tmp_path_factory.mktemp("policy")
    train(TrainConfig(task=TASK, reward=None, steps=256, envs=2, out=str(out),
                      ppo=PPOConfig(n_steps=128, batch_size=64, n_epochs=1), workers=WorkerConfig(count=0)))
    return out / "policy.zip"


def test_evaluation_on_fixed_seeds_is_identical_twice(policy, tmp_path):
    first = evaluate(TASK, policy, episodes=4, seed=3, out=tmp_path / "a", trajectories=2)
    second = evaluate(TASK, policy, episodes=4, seed=3, out=tmp_path / "b", trajectories=2)
    assert first.to_dict() | {"policy": ""} == second.to_dict() | {"policy": ""}
    assert (tmp_path / "a" / "trajectories.jsonl").read_text() == (tmp_path / "b" / "trajectories.jsonl").read_text()


def test_evaluation_writes_the_record_and_trajectories(policy, tmp_path):
    result = evaluate(TASK, policy, episodes=3, seed=0, out=tmp_path, trajectories=2)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["episodes"] == 3 and 0.0 <= saved["success_rate"] <= 1.0
    assert set(saved["episode_length"]) == {"mean", "min", "max"}
    assert sum(saved["failure_causes"].values()) == round(3 * (1 - saved["success_rate"]))
    assert all(o["outcome"] in ("success", "timeout", "stuck") or o["outcome"].startswith("death")
               for o in saved["outcomes"])
    lines = (tmp_path / "trajectories.jsonl").read_text().splitlines()
    assert len(lines) == 2
    episode = json.loads(lines[0])
    assert episode["steps"][0].startswith("t=0") and "Map (9x9" in episode["final"]
    assert result.success_rate == saved["success_rate"]


def test_failure_causes():
    assert _failure_cause({"end_status": 1}, False, [], "burned (lava)") == "death: burned (lava)"
    assert _failure_cause({"end_status": 0}, True, [(1, 1)] * 40, "") == "stuck"
    assert _failure_cause({"end_status": 0}, True, [(i, 1) for i in range(40)], "") == "timeout"


def test_death_in_lava_is_named(tmp_path):
    task = "MiniHack-LavaCrossingS9N1-v0"
    train(TrainConfig(task=task, reward=None, steps=64, envs=2, out=str(tmp_path),
                      ppo=PPOConfig(n_steps=32, batch_size=32, n_epochs=1), workers=WorkerConfig(count=0)))
    result = evaluate(task, tmp_path / "policy.zip", episodes=6, seed=0)
    assert "death: burned (lava)" in result.failure_causes


def test_death_in_minigrid_lava_is_named_by_the_card(tmp_path):
    task = "MiniGrid-LavaCrossingS9N1-v0"
    train(TrainConfig(task=task, reward=None, steps=64, envs=2, out=str(tmp_path),
                      ppo=PPOConfig(n_steps=32, batch_size=32, n_epochs=1), workers=WorkerConfig(count=0)))
    result = evaluate(task, tmp_path / "policy.zip", episodes=10, seed=0)
    assert "death: lava" in result.failure_causes and "death: died" not in result.failure_causes


def test_policy_must_fit_the_task(policy, tmp_path):
    with pytest.raises(UsageError, match="does not fit"):
        evaluate("MiniHack-KeyRoom-S5-v0", policy, episodes=1, out=tmp_path)
    with pytest.raises(UsageError, match="no policy"):
        evaluate(TASK, tmp_path / "missing.zip", episodes=1)
