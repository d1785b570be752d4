"""Long tests (pytest -m slow; CI runs them after the default suite): the example reward beats the sparse
baseline on MiniHack-KeyRoom-S5-v0 with the acceptance budget of 150k steps, and so does the offline loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoreward.evaluate import evaluate
from autoreward.train.config import TrainConfig
from autoreward.train.ppo import train
from tests.common import EXAMPLE as EXAMPLE_PATH

TASK = "MiniHack-KeyRoom-S5-v0"
EXAMPLE = str(EXAMPLE_PATH)


def _trained_success(reward: str | None, out: Path) -> float:
    result = train(TrainConfig(task=TASK, reward=reward, steps=150_000, seed=0, out=str(out)))
    assert result.ok, result.stopped_reason
    return evaluate(TASK, result.policy, episodes=50, seed=1000).success_rate


@pytest.fixture(scope="module")
def sparse_success(tmp_path_factory) -> float:
    """The sparse baseline: the task reward alone, 150k steps, seed 0, 50 evaluation episodes."""
    return _trained_success(None, tmp_path_factory.mktemp("sparse"))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_example_reward_beats_the_sparse_baseline(tmp_path, sparse_success):
    example = _trained_success(EXAMPLE, tmp_path / "example")
    assert example >= 0.5, example
    assert example >= sparse_success + 0.3, (example, sparse_success)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_offline_synthesis_beats_the_sparse_baseline(tmp_path, sparse_success):
    """The issue's acceptance run, one round shorter: the offline loop's best candidate against --reward none."""
    from autoreward.synth.loop import iterate
    from autoreward.synth.store import IterateConfig

    store = iterate(IterateConfig(task=TASK, rounds=1, candidates=2, steps=150_000, eval_episodes=50,
                                  out=str(tmp_path / "runs"), confirm_seeds=0))  # one seed: CI time
    best = max((c for c in store.candidates() if c.status == "evaluated"), key=lambda c: c.rank_key())
    assert best.success_rate >= sparse_success + 0.3, (best, sparse_success)
    answer = json.loads((store.root / "best" / "summary.json").read_text())  # against its own baseline
    assert answer["answer"] == "candidate" and answer["gain"] >= 0.3, answer
