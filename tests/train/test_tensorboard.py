"""TensorBoard: with tensorboard installed a tiny training writes event files holding each rollout's figures
(the same numbers as metrics.jsonl); without it nothing is written."""

from __future__ import annotations

import importlib.util

import pytest

from autoreward.io import read_jsonl
from autoreward.train import build
from autoreward.train.config import PPOConfig, TrainConfig, WorkerConfig
from autoreward.train.metrics import scalars
from autoreward.train.ppo import train
from tests.common import EXAMPLE, ROOM

# Room-5x5: random play ends episodes within a rollout, so success rate and task return have values
TINY = {"task": ROOM, "steps": 512, "envs": 2, "ppo": PPOConfig(n_steps=128, batch_size=64, n_epochs=1),
        "workers": WorkerConfig(count=1)}


def _events(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag under `folder`'s TensorBoard event files: (step, value) in order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = sorted(p.parent for p in folder.rglob("events.out.tfevents.*"))
    assert len(runs) == 1, runs
    accumulator = EventAccumulator(str(runs[0]))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_training_writes_the_rollout_figures_as_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install autoreward[tensorboard])")
    result = train(TrainConfig(reward=str(EXAMPLE), out=str(tmp_path), **TINY))
    assert result.ok, result.stopped_reason
    records = read_jsonl(tmp_path / "metrics.jsonl")
    events = _events(tmp_path / build.TENSORBOARD_DIR)
    expected = [scalars(record) for record in records]
    assert {"autoreward/success_rate", "autoreward/task_return_mean", "autoreward/reward_total_mean",
            "autoreward/components/approach/mean", "autoreward/components/approach/share",
            "autoreward/components/milestone/share"} <= set().union(*expected)
    for tag in set().union(*expected):
        logged = [(record["steps"], figures[tag]) for record, figures in zip(records, expected, strict=True)
                  if tag in figures]
        assert [step for step, _ in events[tag]] == [step for step, _ in logged], tag
        assert [value for _, value in events[tag]] == pytest.approx([value for _, value in logged], rel=1e-5), tag
    assert "train/loss" in events or "train/entropy_loss" in events  # SB3's own figures are there too


def test_without_tensorboard_nothing_is_written(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(build.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    assert build.tensorboard_dir(TrainConfig(task=ROOM, out=str(tmp_path))) is None
    result = train(TrainConfig(reward=str(EXAMPLE), out=str(tmp_path), **TINY))
    assert result.ok and not (tmp_path / build.TENSORBOARD_DIR).exists()
    assert {p.name for p in tmp_path.iterdir()} == {"metrics.jsonl", "policy.zip", "train.json"}


def test_scalars_leave_out_what_a_rollout_did_not_have():
    record = {"rollout": 0, "steps": 256, "sps": 100.0, "success_rate": None, "task_return_mean": None,
              "components": {"a$b": {"mean": 0.5, "min": 0.0, "max": 1.0, "share": 1.0}}}
    assert scalars(record) == {"autoreward/sps": 100.0, "autoreward/components/a$b/mean": 0.5,
                               "autoreward/components/a$b/share": 1.0}
    later = {**record, "success_rate": None, "recent_success_rate": 0.25, "recent_episodes": 8}
    assert scalars(later)["autoreward/recent_success_rate"] == 0.25 and "autoreward/success_rate" not in scalars(later)
