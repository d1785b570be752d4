"""Your own tasks on the command line: a plugin card (--card, or an installed entry point), listed, shown,
checked and trained on, with its own State behind every wall (probe sandbox, env workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from autoreward.cli import main
from tests.common import ROOT
from tests.plugins.toy_card import NETHACK_ONLY, TASK

CARD = ["--card", "tests.plugins.toy_card:ToyCard"]
TOY_REWARD = str(ROOT / "tests" / "plugins" / "toy_reward.py")
DUNDER = """
def compute_reward(prev, action, state, memory):
    return 0.0, {"x": float(len(state.__dict__))}
"""


def test_a_plugin_card_is_listed_and_shown(capsys):
    assert main(["envs", *CARD]) == 0
    listed = capsys.readouterr().out
    assert TASK in listed and "plugin" in listed and "MiniHack-KeyRoom-S5-v0" in listed
    assert main(["envs", "show", *CARD]) == 0
    shown = capsys.readouterr().out
    assert f"# Task {TASK}" in shown and "state.distance" in shown and "state.path_to" not in shown
    assert "agent at (" in shown  # the card's own rendering of the example observation
    assert main(["envs", "show", TASK, "--card", "tests.plugins.toy_card:Nope"]) == 2


def test_the_critic_checks_reward_code_against_the_plugins_state(tmp_path, capsys):
    for name, source, message in (("nethack.py", NETHACK_ONLY, "`.path_to` is not part of the documented API"),
                                  ("dunder.py", DUNDER, "dunder attribute `.__dict__`")):
        (tmp_path / name).write_text(source)
        assert main(["check", str(tmp_path / name), *CARD, "--json"]) == 1
        verdict = json.loads(capsys.readouterr().out)
        assert verdict["stage"] == "static" and any(message in e for e in verdict["errors"]), verdict
    # the toy's own API passes both stages: the sandbox unpickles ToyState and loads the code against its names
    assert main(["check", TOY_REWARD, *CARD, "--json", "--transitions", "64"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["accepted"] and verdict["stage"] == "probe" and verdict["probe_stats"]["calls"] >= 64
    assert verdict["probe_stats"]["components"]["progress"]["nonzero"] > 0


def test_training_on_a_plugin_card_runs_its_reward_in_the_walled_workers(tmp_path, capsys):
    out = tmp_path / "train"
    assert main(["train", *CARD, "--reward", TOY_REWARD, "--steps", "256", "--envs", "4", "--env-workers", "1",
                 "--eval-episodes", "2", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train"]["stopped_reason"] is None and result["train"]["steps"] >= 256
    assert result["eval"]["episodes"] == 2
    record = json.loads((out / "train.json").read_text())
    assert "audit hook armed around every reward call" in record["result"]["isolation"]  # in a walled worker
    recorded = record["config"]
    assert recorded["task"] == TASK and recorded["card"]["ref"] == "tests.plugins.toy_card:ToyCard"
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("progress" in (m.get("components") or {}) for m in metrics), metrics[-1]  # the plugin's reward ran
    assert main(["eval", *CARD, "--policy", str(out), "--episodes", "2", "--out", str(tmp_path / "eval"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["task"] == TASK


def test_an_installed_entry_point_is_found_without_card(tmp_path):
    """A distribution that declares `[autoreward.cards]` is listed and served by task id alone."""
    info = tmp_path / "toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[autoreward.cards]\ntoy = tests.plugins.toy_card:ToyCard\n"
                                           "broken = tests.plugins.toy_card:Nope\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    listed = subprocess.run([sys.executable, "-m", "autoreward.cli", "envs"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert TASK in listed.stdout and "plugin toy" in listed.stdout
    assert "plugin broken" in listed.stderr and "failed to load" in listed.stderr
    shown = subprocess.run([sys.executable, "-m", "autoreward.cli", "envs", "show", TASK], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0 and "state.distance" in shown.stdout, shown.stderr[-2000:]
