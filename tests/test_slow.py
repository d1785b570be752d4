"""Long tests (pytest -m slow; CI runs them after the default suite): the example reward beats the sparse
baseline on MiniHack-KeyRoom-S5-v0 with the acceptance budget of 150k steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoreward.evaluate import evaluate
from autoreward.train.ppo import TrainConfig, train

TASK = "MiniHack-KeyRoom-S5-v0"
EXAMPLE = str(Path(__file__).parent.parent / "examples" / "minihack_keyroom_s5.py")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_example_reward_beats_the_sparse_baseline(tmp_path):
    rates = {}
    for name, reward in (("example", EXAMPLE), ("sparse", None)):
        result = train(TrainConfig(task=TASK, reward=reward, steps=150_000, seed=0, out=str(tmp_path / name)))
        assert result.ok, result.stopped_reason
        rates[name] = evaluate(TASK, result.policy, episodes=50, seed=1000).success_rate
    assert rates["example"] >= 0.5, rates
    assert rates["example"] >= rates["sparse"] + 0.3, rates
