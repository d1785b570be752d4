"""Per-rollout metrics: component statistics and shares, outcomes, and contract checks on components."""

from __future__ import annotations

import json

import numpy as np

from autoreward.train.metrics import RolloutMetrics


def _info(components, total=None, task=0.0, end=0):
    info = {"task_reward": task, "end_status": end, "reward_components": components}
    info["reward_total"] = sum(components.values()) if total is None else total
    return info


def test_summary_has_component_stats_shares_and_outcomes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    metrics = RolloutMetrics(2, path)
    metrics.add_step([_info({"a": 1.0, "b": -1.0}), _info({"a": 3.0, "b": 0.0})], np.array([False, False]))
    metrics.add_step([_info({"a": 0.0, "b": 0.0}, task=1.0, end=2), _info({"a": 0.0, "b": 0.0})],
                     np.array([True, False]))
    record = metrics.summary(4)
    assert metrics.error is None
    assert record["components"]["a"] == {"mean": 1.0, "min": 0.0, "max": 3.0, "share": 0.8}
    assert record["components"]["b"]["share"] == 0.2
    assert record["episodes"] == 1 and record["success_rate"] == 1.0 and record["task_return_mean"] == 1.0
    assert record["episode_length_mean"] == 2.0
    assert json.loads(path.read_text().splitlines()[0])["steps"] == 4


def test_contract_violations_in_components_are_errors():
    for bad, message in [({"a": float("nan")}, "must be finite"), ({"a": float("-inf")}, "must be finite"),
                         ({"a": np.float32("inf")}, "must be finite"), ({"a": "x"}, "values floats"),
                         ({"a": True}, "values floats"), ({1: 1.0}, "names must be str"),
                         ([1.0], "must be a dict")]:
        metrics = RolloutMetrics(1, None)
        info = {"task_reward": 0.0, "reward_components": bad, "reward_total": 0.0}
        metrics.add_step([info], np.array([False]))
        assert metrics.error and message in metrics.error, (bad, metrics.error)
    metrics = RolloutMetrics(1, None)
    metrics.add_step([_info({"a": 1.0}, total=2.0)], np.array([False]))
    assert "not the sum" in metrics.error
    metrics = RolloutMetrics(1, None)  # numbers that are not Python floats are taken as floats
    metrics.add_step([_info({"a": np.float32(0.5), "b": 2}, total=2.5)], np.array([False]))
    assert metrics.error is None


def test_reward_errors_from_workers_are_kept():
    metrics = RolloutMetrics(1, None)
    metrics.add_step([{"task_reward": 0.0, "reward_error": "boom"}], np.array([False]))
    assert metrics.error == "boom"
