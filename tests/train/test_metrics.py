"""Per-rollout metrics: component statistics and shares, outcomes, and contract checks on components."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoreward.cli.common import recent_success
from autoreward.train.metrics import RECENT_EPISODES, RolloutMetrics


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


def test_progress_success_is_over_the_last_episodes_across_rollouts():
    """A rollout that ends 2 episodes says little alone: the recent rate spans rollouts, up to RECENT_EPISODES."""
    metrics = RolloutMetrics(4, None)
    assert metrics.summary(0)["recent_success_rate"] is None and metrics.summary(0)["recent_episodes"] == 0
    ends = np.array([True, True, True, True])
    metrics.add_step([_info({}, end=0)] * 4, ends)  # 4 failures
    first = metrics.summary(4)
    assert (first["success_rate"], first["recent_success_rate"], first["recent_episodes"]) == (0.0, 0.0, 4)
    metrics.add_step([_info({}, end=2)] * 2 + [_info({})] * 2, np.array([True, True, False, False]))
    second = metrics.summary(8)
    assert second["success_rate"] == 1.0  # this rollout's 2 episodes
    # and the 4 before
    assert second["recent_success_rate"] == pytest.approx(2 / 6, abs=1e-6) and second["recent_episodes"] == 6
    for _ in range(RECENT_EPISODES // 4):  # enough successes to push every failure out of the window
        metrics.add_step([_info({}, end=2)] * 4, ends)
    late = metrics.summary(1000)
    assert late["recent_episodes"] == RECENT_EPISODES and late["recent_success_rate"] == 1.0
    assert recent_success(late["recent_success_rate"], late["recent_episodes"]) == \
        f", success 100% of the last {RECENT_EPISODES} episodes"
    assert recent_success(1.0, 1) == ", success 100% of the last 1 episode"
    assert recent_success(None, 0) == "" and recent_success(0.5, 0) == ""


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
