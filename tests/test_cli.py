"""The command line: exit codes 0 (ok) / 1 (rejected, failed) / 2 (usage), JSON output for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autoreward.cli import main
from autoreward.env.card import card_for
from autoreward.reward.contract import CONTRACT_TEXT

ROOT = Path(__file__).parent.parent
EXAMPLE = str(ROOT / "examples" / "minihack_keyroom_s5.py")
HOSTILE = str(ROOT / "tests" / "rewards" / "hostile" / "import_os.py")


def test_envs_lists_and_shows(capsys):
    assert main(["envs"]) == 0
    assert "MiniHack-KeyRoom-S5-v0" in capsys.readouterr().out
    assert main(["envs", "show", "MiniHack-KeyRoom-S5-v0"]) == 0
    shown = capsys.readouterr().out
    assert shown == card_for("MiniHack-KeyRoom-S5-v0").describe("MiniHack-KeyRoom-S5-v0")  # exactly, unwrapped
    assert CONTRACT_TEXT.strip() in shown and "state.nearest" in shown
    assert main(["envs", "show", "MiniHack-Nope-v0"]) == 2


def test_check_exit_codes(capsys):
    assert main(["check", EXAMPLE, "--task", "MiniHack-KeyRoom-S5-v0", "--json", "--transitions", "200"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["accepted"] and verdict["stage"] == "probe" and verdict["probe_stats"]["calls"] >= 200
    assert main(["check", HOSTILE, "--task", "MiniHack-KeyRoom-S5-v0", "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert not verdict["accepted"] and verdict["stage"] == "static"
    assert any("import os" in e for e in verdict["errors"])
    assert main(["check", "missing.py", "--task", "MiniHack-KeyRoom-S5-v0"]) == 2
    assert main(["check", EXAMPLE, "--task", "MiniHack-Nope-v0"]) == 2


def test_usage_errors_exit_2():
    for argv in (["check"], ["train", "--task", "MiniHack-Room-5x5-v0"], ["eval", "--episodes", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


def test_train_refuses_a_rejected_reward(tmp_path):
    assert main(["train", "--task", "MiniHack-KeyRoom-S5-v0", "--reward", HOSTILE, "--steps", "64",
                 "--out", str(tmp_path)]) == 1
    assert not (tmp_path / "policy.zip").exists()


def test_train_then_eval_through_the_console_script(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "autoreward.cli", "train", "--task", "MiniHack-Room-5x5-v0", "--reward", "none",
         "--steps", "256", "--eval-episodes", "2", "--env-workers", "0", "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["train"]["steps"] >= 256 and summary["eval"]["episodes"] == 2
    assert (out / "eval.json").is_file() and (out / "metrics.jsonl").is_file()
    assert main(["eval", "--task", "MiniHack-Room-5x5-v0", "--policy", str(out), "--episodes", "2",
                 "--out", str(tmp_path / "eval")]) == 0


def test_bench_env_prints_json(capsys):
    assert main(["bench", "env", "--task", "MiniHack-KeyRoom-S5-v0", "--reward", EXAMPLE, "--steps", "400",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"raw_sps", "reward_sps", "overhead"} and result["raw_sps"] > 0
