"""MiniGrid on the command line: listed, shown, checked, trained on (its reward in the walled workers), evaluated
with the card's own trajectories, iterated on by the offline loop; ONI and CALM refused with a reason."""

from __future__ import annotations

import json

from autoreward.cli import main
from autoreward.synth.loop import iterate
from autoreward.synth.store import IterateConfig
from tests.common import TINY_ITERATE

TASK = "MiniGrid-DoorKey-5x5-v0"
REWARD = """
def compute_reward(prev, action, state, memory):
    before, after = prev.path_to("key"), state.path_to("key")
    progress = 0.0 if before is None or after is None or state.carrying else 0.05 * (before - after)
    return progress, {"progress": progress}
"""
NETHACK = """
def compute_reward(prev, action, state, memory):
    return 0.0, {"hp": float(state.hp - prev.hp)}
"""


def test_minigrid_is_listed_and_shown(capsys):
    assert main(["envs"]) == 0
    listed = capsys.readouterr().out
    assert "MiniGrid-DoorKey-8x8-v0" in listed and "MiniGrid-LavaCrossingS9N1-v0" in listed
    assert main(["envs", "show", "MiniGrid-DoorKey-8x8-v0"]) == 0
    shown = capsys.readouterr().out
    assert "# Task MiniGrid-DoorKey-8x8-v0 (MiniGrid)" in shown and "state.path_to" in shown
    assert "Mission: use the key to open the door" in shown and "5: toggle" in shown and "state.message" not in shown


def test_check_train_and_eval_on_minigrid(tmp_path, capsys):
    (tmp_path / "nethack.py").write_text(NETHACK)
    assert main(["check", str(tmp_path / "nethack.py"), "--task", TASK, "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["stage"] == "static" and any("`.hp` is not part" in e for e in verdict["errors"])
    (tmp_path / "reward.py").write_text(REWARD)
    assert main(["check", str(tmp_path / "reward.py"), "--task", TASK, "--json", "--transitions", "64"]) == 0
    assert json.loads(capsys.readouterr().out)["probe_stats"]["components"]["progress"]["nonzero"] > 0
    out = tmp_path / "train"
    assert main(["train", "--task", TASK, "--reward", str(tmp_path / "reward.py"), "--steps", "256", "--envs", "4",
                 "--env-workers", "1", "--eval-episodes", "2", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train"]["stopped_reason"] is None and result["eval"]["episodes"] == 2
    assert "audit hook armed around every reward call" in result["train"]["isolation"]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("progress" in (m.get("components") or {}) for m in metrics)
    assert main(["eval", "--task", TASK, "--policy", str(out), "--episodes", "2", "--out", str(tmp_path / "eval"),
                 "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["task"] == TASK and evaluated["episodes"] == 2
    trajectory = json.loads((tmp_path / "eval" / "trajectories.jsonl").read_text().splitlines()[0])
    assert trajectory["steps"][0].startswith("start: at (") and "Mission:" in trajectory["final"]
    assert set(evaluated["failure_causes"]) <= {"stuck", "timeout"}


def test_oni_and_calm_are_refused_on_minigrid(tmp_path, capsys):
    assert main(["train", "--task", TASK, "--intrinsic", "oni:retrieval", "--steps", "64",
                 "--out", str(tmp_path / "oni")]) == 2
    assert main(["train", "--task", TASK, "--calm", "--steps", "64", "--out", str(tmp_path / "calm")]) == 2
    assert main(["calm", "subgoals", "--task", TASK]) == 2
    assert " ".join(capsys.readouterr().err.split()).count("does not work on the minigrid card") == 3


def test_the_offline_loop_runs_on_minigrid(tmp_path):
    store = iterate(IterateConfig(task=TASK, rounds=1, candidates=1, out=str(tmp_path), confirm_seeds=0,
                                  **TINY_ITERATE))
    candidate = store.root / "rounds" / "0" / "candidates" / "0"
    assert (candidate / "eval.json").is_file() and (store.root / "rounds" / "0" / "analysis.json").is_file()
    code = (candidate / "reward.py").read_text()
    # the first design is accepted by all three stages as written (the review's scripted play loads it against
    # MiniGrid's State API, actions_to included): no repair, no fallback to a goal-only recipe
    assert "state.actions_to(spot" in code and '"key", "key", "pickup"' in code and '"goal", "goal", "success"' in code
    verdict = json.loads((candidate / "verdict.json").read_text())
    assert verdict["accepted"] and verdict["stage"] == "review", verdict
    assert json.loads((candidate / "candidate.json").read_text())["attempts"] == 1
