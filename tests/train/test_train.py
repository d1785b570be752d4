"""The trainer: a tiny real PPO run writes metrics with component stats; failing rewards stop it with a reason."""

from __future__ import annotations

import json

import pytest

from autoreward.errors import RewardCodeError, UsageError
from autoreward.io import read_jsonl
from autoreward.train.config import PPOConfig, TrainConfig, WorkerConfig
from autoreward.train.ppo import train
from tests.common import EXAMPLE as EXAMPLE_PATH

EXAMPLE = str(EXAMPLE_PATH)
TINY = {"task": "MiniHack-KeyRoom-S5-v0", "steps": 512, "envs": 2,
        "ppo": PPOConfig(n_steps=128, batch_size=64, n_epochs=1)}
ONE_WORKER = WorkerConfig(count=1)


def test_tiny_training_run_writes_component_stats(tmp_path):
    result = train(TrainConfig(reward=EXAMPLE, out=str(tmp_path), workers=ONE_WORKER, **TINY))
    assert result.ok and result.steps >= 512
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert len(records) == 2
    for record in records:
        assert record["sps"] > 0 and "success_rate" in record and "task_return_mean" in record
        assert set(record["components"]) == {"approach", "milestone"}
        for stats in record["components"].values():
            assert set(stats) == {"mean", "min", "max", "share"}
        assert sum(s["share"] for s in record["components"].values()) == pytest.approx(1.0, abs=1e-3)
    assert (tmp_path / "policy.zip").is_file()
    saved = json.loads((tmp_path / "train.json").read_text())
    assert saved["config"]["reward"] == EXAMPLE and saved["result"]["stopped_reason"] is None


def test_sparse_baseline_trains_on_the_task_reward(tmp_path):
    result = train(TrainConfig(reward=None, out=str(tmp_path), workers=WorkerConfig(count=0), **TINY))
    assert result.ok
    record = read_jsonl(tmp_path / "metrics.jsonl")[-1]
    assert "components" not in record and "task_return_mean" in record


@pytest.mark.parametrize("body,reason", [
    ("    if state.step == 20:\n        raise ValueError('bad state')\n    return 0.0, {}\n", "ValueError"),
    ("    v = float('inf') if state.step == 20 else 0.0\n    return v, {'v': v}\n", "must be finite"),
    ("    while state.step == 20:\n        pass\n    return 0.0, {}\n", "per-call budget"),
])
def test_failing_reward_stops_training_with_a_reason(tmp_path, body, reason):
    reward = tmp_path / "reward.py"
    reward.write_text("def compute_reward(prev, action, state, memory):\n" + body)
    config = TrainConfig(reward=str(reward), out=str(tmp_path / "out"),
                         workers=WorkerConfig(count=1, reward_call_timeout_s=0.5), **{**TINY, "steps": 4096})
    result = train(config)
    assert not result.ok and reason in result.stopped_reason
    assert result.steps < 4096
    assert json.loads((tmp_path / "out" / "train.json").read_text())["result"]["stopped_reason"]


def test_bad_inputs_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="unknown task"):
        train(TrainConfig(task="MiniHack-Nope-v0", out=str(tmp_path)))
    with pytest.raises(UsageError, match="not found"):
        train(TrainConfig(task="MiniHack-Room-5x5-v0", reward="missing.py", out=str(tmp_path)))
    broken = tmp_path / "broken.py"
    broken.write_text("import os\n")
    with pytest.raises(RewardCodeError, match="import os"):
        train(TrainConfig(task="MiniHack-Room-5x5-v0", reward=str(broken), out=str(tmp_path)))


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_puts_the_policy_on_the_gpu_and_saves_a_portable_policy(tmp_path):
    from autoreward.evaluate import evaluate, load_policy

    result = train(TrainConfig(reward=EXAMPLE, out=str(tmp_path), device="cuda", workers=ONE_WORKER, **TINY))
    assert result.ok and result.device == "cuda"
    assert result.last_rollout["components"]  # the reward reached the trainer from the env workers
    model = load_policy(tmp_path / "policy.zip", device="cpu")  # trained on the GPU, evaluated anywhere
    assert next(model.policy.parameters()).device.type == "cpu"
    report = evaluate("MiniHack-KeyRoom-S5-v0", tmp_path / "policy.zip", episodes=2, seed=1000)
    assert 0.0 <= report.success_rate <= 1.0
