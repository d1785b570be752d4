"""MiniHack tasks that compile a new level at every reset train behind the walls (autoreward.train.levels)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from minihack import base

from autoreward.train.config import PPOConfig, TrainConfig, WorkerConfig
from autoreward.train.levels import check_request
from autoreward.train.ppo import train

LAVA = "MiniHack-LavaCrossingS9N1-v0"
REWARD = '''
def compute_reward(prev, action, state, memory):
    moves = state.path_to("stairs down", avoid=("lava",))
    return (1.0 if state.success else 0.0), {"goal": 1.0 if state.success else 0.0,
                                             "seen_path": 0.0 if moves is None else 0.0}
'''


def test_the_level_helper_runs_only_minihacks_script_on_the_workers_own_folders(tmp_path):
    vardir = tmp_path / "nle"
    vardir.mkdir()
    (vardir / "mylevel.des").write_text("MAZE")
    good = [base.PATCH_SCRIPT, str(vardir), base.HACKDIR, base.LIB_DIR, str(vardir / "mylevel.des")]
    assert check_request(good, [str(vardir)])[1] == os.path.realpath(vardir)
    bad = {
        "another program": ["/bin/sh", *good[1:]],
        "a folder that is no env's": [good[0], str(tmp_path), *good[2:]],
        "another hack dir": [good[0], good[1], str(tmp_path), *good[3:]],
        "a file outside": [*good[:4], "/etc/passwd"],
        "a .des outside": [*good[:4], str(tmp_path / "x.des")],
        "an escape by ..": [*good[:4], str(vardir / ".." / "x.des")],
        "too few arguments": good[:4],
        "not strings": [*good[:4], 5],
    }
    for why, args in bad.items():
        with pytest.raises(ValueError):
            check_request(args, [str(vardir)])
            pytest.fail(why)
    with pytest.raises(ValueError):
        check_request("rm -rf /", [str(vardir)])


def test_lava_crossing_trains_with_reward_code_in_walled_workers(tmp_path):
    """LavaCrossing writes and compiles its level at every reset (bash, lev_comp): training must get past resets."""
    reward = tmp_path / "reward.py"
    reward.write_text(REWARD)
    result = train(TrainConfig(task=LAVA, reward=str(reward), steps=512, envs=2, out=str(tmp_path / "out"),
                               ppo=PPOConfig(n_steps=128, batch_size=64), workers=WorkerConfig(count=1)))
    assert result.ok, result.stopped_reason
    episodes = sum(json.loads(line).get("episodes", 0) for line in Path(result.metrics).read_text().splitlines())
    assert episodes >= 2  # several resets happened behind the walls
    assert any("levels compiled" in wall for wall in result.isolation), result.isolation
    if not any("Landlock" in wall for wall in result.isolation):
        pytest.skip(f"Landlock is not available here, so this did not test the walls: {result.isolation}")
