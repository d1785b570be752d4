"""The command line: exit codes 0 (ok) / 1 (rejected, failed) / 2 (usage), JSON output for scripts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autoreward.cli import main
from autoreward.paths import default_out
from autoreward.reward.contract import CONTRACT_TEXT, describe_task
from tests.common import ROOT

EXAMPLE = str(ROOT / "examples" / "minihack_keyroom_s5.py")
HOSTILE = str(ROOT / "tests" / "rewards" / "hostile" / "import_os.py")


def test_envs_lists_and_shows(capsys):
    assert main(["envs"]) == 0
    assert "MiniHack-KeyRoom-S5-v0" in capsys.readouterr().out
    assert main(["envs", "show", "MiniHack-KeyRoom-S5-v0"]) == 0
    shown = capsys.readouterr().out
    assert shown == describe_task("MiniHack-KeyRoom-S5-v0")  # exactly, unwrapped
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


def test_usage_errors_exit_2(tmp_path, monkeypatch):
    for argv in (["check"], ["eval", "--episodes", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "MiniHack-Room-5x5-v0"]) == 2  # no --reward
    assert main(["eval", "--task", "MiniHack-Room-5x5-v0", "--policy", "missing.zip"]) == 2
    assert list(tmp_path.iterdir()) == []  # no output folder for a refused command


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--task", "T", "--task-coef", "nan"], "argument --task-coef: must be a finite number, got nan"),
    (["train", "--task", "T", "--intrinsic-coef", "1e999"], "must be a finite number, got 1e999"),
    (["train", "--task", "T", "--seed", "-3"], "argument --seed: a seed is 0 to 2147483647, got -3"),
    (["iterate", "T", "--seed", "4294967296"], "a seed is 0 to 2147483647"),
    (["bench", "suite", "--seeds", "1", "-1"], "argument --seeds: a seed is 0"),
    (["train", "--task", "T", "--seed", "abc"], "argument --seed: not a whole number: 'abc'"),
    (["train", "--task", "T", "--steps", "1.5"], "argument --steps: not a whole number: '1.5'"),
    (["train", "--task", "T", "--eval-episodes", "-1"], "argument --eval-episodes: must be 0 or more, got -1"),
    (["train", "--task", "T", "--env-workers", "-2"], "argument --env-workers: -1 (auto), 0 or a number"),
    (["iterate", "T", "--llm-timeout", "0"], "argument --llm-timeout: must be more than 0, got 0"),
    (["iterate", "T", "--max-llm-cost", "-1"], "argument --max-llm-cost: must be 0 or more"),
    (["iterate", "T", "--repairs", "-1"], "argument --repairs: must be 0 or more"),
    (["calm", "dataset", "--task", "T", "--episodes", "1", "--epsilon", "2"], "argument --epsilon: a share is 0 to 1"),
    (["serve", "--port", "70000"], "argument --port: a port is 0 to 65535, got 70000"),
])
def test_values_no_command_can_use_are_refused_by_name(argv, message, tmp_path, monkeypatch, capsys):
    # before, NaN or a negative seed reached torch or numpy and stopped the run with a traceback (exit 1)
    monkeypatch.chdir(tmp_path)  # were one accepted, its command would write here, not into the checkout
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_eval_refuses_files_that_are_not_policies(tmp_path, capsys):
    (tmp_path / "reward.py").write_text("x = 1\n")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("notes.txt", "not a policy")
    for name, message in (("reward.py", "not a zip file"), ("other.zip", "it lacks data, policy.pth")):
        out = tmp_path / f"out-{name}"
        assert main(["eval", "--task", "MiniHack-Room-5x5-v0", "--policy", str(tmp_path / name),
                     "--out", str(out)]) == 2
        assert message in " ".join(capsys.readouterr().err.split())
        assert not out.exists()


def test_check_prints_info_lines_apart_from_warnings(capsys):
    milestone = str(ROOT / "tests" / "rewards" / "benign" / "milestone_only.py")
    assert main(["check", milestone, "--task", "MiniHack-KeyRoom-S5-v0", "--transitions", "200"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "info component 'goal' is 0 on all" in out and "warning" not in out
    assert main(["check", milestone, "--task", "MiniHack-KeyRoom-S5-v0", "--transitions", "200", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["warnings"] == [] and any("'goal'" in line for line in verdict["info"])


def test_check_shows_untrusted_text_without_terminal_escapes(tmp_path, capsys):
    reward = tmp_path / "escapes.py"  # its error message reaches the terminal: ESC sequences, markup, a bell
    reward.write_text('def compute_reward(prev, action, state, memory):\n'
                      '    raise ValueError("\\x1b]0;pwned\\x07\\x1b[2J[bold]gone[/bold]")\n')
    assert main(["check", str(reward), "--task", "MiniHack-KeyRoom-S5-v0", "--transitions", "50"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned" in " ".join(out.split()) and "[bold]gone[/bold]" in out


def test_default_out_names_folders_by_command_task_and_time(tmp_path):
    first = default_out("train", "MiniHack-KeyRoom-S5-v0", runs=tmp_path)
    assert re.fullmatch(r"train-keyroom-s5-v0-\d{8}-\d{6}", first.name) and first.parent == tmp_path
    first.mkdir()
    second = default_out("train", "MiniHack-KeyRoom-S5-v0", runs=tmp_path)
    assert second != first and not second.exists()  # the same second: a suffix, never a shared folder


def test_train_and_eval_default_to_folders_under_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "MiniHack-Room-5x5-v0", "--reward", "none", "--steps", "64", "--envs", "2",
                 "--eval-episodes", "1", "--env-workers", "0"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    [trained] = (tmp_path / "runs").glob("train-room-5x5-v0-*")
    assert f"writing to runs/{trained.name}" in out
    assert (trained / "policy.zip").is_file() and (trained / "train.json").is_file()
    assert (trained / "eval.json").is_file()
    assert main(["eval", "--task", "MiniHack-Room-5x5-v0", "--policy", str(trained), "--episodes", "1",
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["episodes"] == 1  # stdout stays JSON; the folder is said on stderr
    [evaluated] = (tmp_path / "runs").glob("eval-room-5x5-v0-*")
    assert evaluated.name in captured.err and (evaluated / "eval.json").is_file()
    # the trained policy joins CALM's dataset rotation (explorer, random, trained)
    data = tmp_path / "d.jsonl"
    assert main(["calm", "dataset", "--task", "MiniHack-Room-5x5-v0", "--episodes", "3", "--all", "--policy",
                 str(trained), "--out", str(data)]) == 0
    assert {json.loads(line)["policy"] for line in data.read_text().splitlines()} == {"explorer", "random", "trained"}
    assert main(["calm", "dataset", "--task", "MiniHack-KeyRoom-S5-v0", "--episodes", "1", "--policy", str(trained),
                 "--out", str(data)]) == 2  # a Room policy does not fit KeyRoom's actions


def test_calm_dataset_defaults_to_a_folder_under_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["calm", "dataset", "--task", "MiniHack-Room-5x5-v0", "--episodes", "4", "--seed", "3"]) == 0
    [dataset] = (tmp_path / "runs").glob("calm-dataset-room-5x5-v0-*/dataset.jsonl")
    assert dataset.stat().st_size > 0
    assert f"runs/{dataset.parent.name}/dataset.jsonl" in " ".join(capsys.readouterr().out.split())


def _fake_run(root: Path, task: str, age_s: float) -> Path:
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"config": {"task": task, "llm": "offline"}, "status": "finished"}))
    stamp = time.time() - age_s
    os.utime(root / "run.json", (stamp, stamp))
    return root


def test_inspect_without_a_run_shows_the_latest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["inspect"]) == 2
    assert "no run under 'runs'" in capsys.readouterr().err
    _fake_run(tmp_path / "runs" / "20260101-000000-room-offline", "MiniHack-Room-5x5-v0", age_s=60)
    newest = _fake_run(tmp_path / "runs" / "20250101-000000-keyroom-offline", "MiniHack-KeyRoom-S5-v0", age_s=1)
    (tmp_path / "runs" / "train-room-5x5-v0-20270101-000000").mkdir()  # newer, but no run.json: not a run
    assert main(["inspect", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dir"] == str(Path("runs") / newest.name)
    assert main(["inspect"]) == 0
    assert "MiniHack-KeyRoom-S5-v0" in capsys.readouterr().out
    folder = newest / "rounds" / "0" / "candidates" / "0"
    folder.mkdir(parents=True)
    (folder / "verdict.json").write_text(json.dumps({"accepted": True, "stage": "review", "errors": [],
                                                     "warnings": ["w1"], "info": ["a milestone note"]}))
    assert main(["inspect", "--candidate", "0/0"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "warning w1" in shown and "info a milestone note" in shown
    elsewhere = _fake_run(tmp_path / "other" / "a-run", "MiniHack-Room-5x5-v0", age_s=0)
    assert main(["inspect", "--runs", str(tmp_path / "other"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dir"] == str(elsewhere)


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
