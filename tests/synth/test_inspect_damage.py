"""`autoreward inspect`, `report` and `iterate --resume` on damaged or hand-edited run folders: each damaged file
is named in one line (exit 2), never a traceback; a sound folder built by hand reads back whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoreward.cli import main
from autoreward.cli.common import err_console
from autoreward.errors import UsageError
from autoreward.synth.inspect import candidate_detail, run_overview
from autoreward.synth.records import Analysis
from autoreward.synth.store import CandidateRecord, IterateConfig, RunStore
from tests.common import KEYROOM

CAND = "rounds/0/candidates/0"
CONFIRM = {"seeds": [1], "steps": 64, "eval_episodes": 2, "entries": [
    {"name": "baseline", "mean_success": 0.0, "mean_return": -1.0, "per_seed": [{"seed": 1, "success_rate": 0.0,
                                                                                  "mean_return": -1.0}]}]}
FILES = {  # what a finished run writes, in miniature
    "run.json": {"config": {"task": KEYROOM, "rounds": 1, "candidates": 1, "steps": 64}, "status": "finished",
                 "started": "2026-01-01T00:00:00+00:00", "ended": "2026-01-01T00:01:00+00:00", "resumed": 0},
    f"{CAND}/candidate.json": {"round": 0, "candidate": 0, "status": "evaluated", "attempts": 1, "success_rate": 0.5,
                               "mean_return": 0.1, "steps": 64, "sps": 100.0, "llm_cost": 0.0},
    f"{CAND}/verdict.json": {"accepted": True, "stage": "review", "errors": [], "warnings": ["w"], "info": []},
    f"{CAND}/eval.json": {"episodes": 2, "success_rate": 0.5, "mean_return": 0.1, "episode_length": {"mean": 9.0},
                          "failure_causes": {"timeout": 1}},
    "baseline.json": {"success_rate": 0.0, "mean_return": -1.0, "steps": 64, "sps": 90.0},
    "confirm/summary.json": CONFIRM,
    "best/summary.json": {"answer": "baseline", "round": None, "candidate": None, "success_rate": 0.0,
                          "mean_return": -1.0, "gain": 0.0, "message": "no reward beat the task reward alone",
                          "confirmation": CONFIRM},
    "rounds/0/analysis.json": {"causes": [], "unwanted": [], "edits": [], "text": "fine"},
}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    root = tmp_path / "run"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(data), encoding="utf-8")
    (root / CAND / "reward.py").write_text("def compute_reward(prev, action, state, memory):\n    return 0.0\n")
    return root


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """Errors on one line each: the console wraps at its width (80 in tests), and paths are long."""
    monkeypatch.setattr(err_console, "width", 10_000)


def _err(capsys) -> str:
    return capsys.readouterr().err


def _edit(path: Path, key: str, value: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data[key] = value
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_sound_hand_built_run_reads_whole(run_dir, capsys):
    assert run_overview(run_dir)["candidates"][0]["success_rate"] == 0.5
    assert candidate_detail(run_dir, "0/0")["verdict"]["warnings"] == ["w"]
    assert main(["inspect", str(run_dir)]) == 0 and main(["inspect", str(run_dir), "--candidate", "0/0"]) == 0
    assert Analysis.read(run_dir / "rounds/0/analysis.json").text == "fine"


@pytest.mark.parametrize("name", list(FILES))
@pytest.mark.parametrize("text", ["", '{"round": 0, "sta', "[1, 2]", '"a string"'])
def test_a_file_cut_short_or_of_another_json_type_is_named(run_dir, capsys, name, text):
    (run_dir / name).write_text(text, encoding="utf-8")
    if name.startswith("rounds/0/analysis"):  # read when a run resumes, not by inspect
        with pytest.raises(UsageError, match=r"analysis\.json .*the file is damaged"):
            Analysis.read(run_dir / name)
        return
    codes = [main(["inspect", str(run_dir), "--json"]), main(["inspect", str(run_dir), "--candidate", "0/0"])]
    err = _err(capsys)
    assert 2 in codes and set(codes) <= {0, 2}
    assert name.split("/")[-1] in err and "the file is damaged" in err and "Traceback" not in err


@pytest.mark.parametrize("name, key, value", [
    (f"{CAND}/candidate.json", "success_rate", "0.5"), (f"{CAND}/candidate.json", "steps", "64"),
    (f"{CAND}/candidate.json", "reason", {"a": 1}), (f"{CAND}/candidate.json", "parent", 3),
    (f"{CAND}/candidate.json", "status", 3), (f"{CAND}/candidate.json", "llm_cost", None),
    (f"{CAND}/candidate.json", "success_rate", True), (f"{CAND}/eval.json", "failure_causes", [1]),
    (f"{CAND}/eval.json", "episode_length", 9), (f"{CAND}/verdict.json", "errors", "one"),
    ("baseline.json", "success_rate", "x"), ("confirm/summary.json", "seeds", 3),
    ("confirm/summary.json", "entries", {"a": 1}), ("best/summary.json", "success_rate", "x"),
    ("run.json", "config", [1]), ("run.json", "started", 5), ("rounds/0/analysis.json", "edits", "x"),
])
def test_a_value_of_the_wrong_type_is_named_with_its_key(run_dir, capsys, name, key, value):
    _edit(run_dir / name, key, value)
    if name.startswith("rounds/0/analysis"):
        with pytest.raises(UsageError, match=f"{key} is .*the file is damaged"):
            Analysis.read(run_dir / name)
        return
    assert main(["inspect", str(run_dir), "--candidate", "0/0"]) == 2 or main(["inspect", str(run_dir)]) == 2
    err = _err(capsys)
    assert f"{key} is" in err and "the file is damaged" in err


def test_a_record_in_another_candidates_folder_or_a_run_without_its_task_is_damaged(run_dir, capsys):
    _edit(run_dir / CAND / "candidate.json", "round", 5)  # resuming would write it into round 5's folder
    with pytest.raises(UsageError, match="record of candidate 5/0, not 0/0"):
        RunStore.open(run_dir).read_candidate(0, 0)
    (run_dir / CAND / "candidate.json").write_text('{"status": "evaluated"}', encoding="utf-8")
    assert RunStore.open(run_dir).read_candidate(0, 0) == CandidateRecord(round=0, candidate=0, status="evaluated")
    _edit(run_dir / "run.json", "config", {"rounds": 1})
    assert main(["iterate", "--resume", str(run_dir)]) == 2
    assert "has no config with a task" in _err(capsys)
    assert IterateConfig.from_dict(FILES["run.json"]["config"]).task == KEYROOM


def test_hand_edited_times_and_a_verdict_without_its_decision_still_show(run_dir, capsys):
    _edit(run_dir / "run.json", "ended", "2026-01-01T00:01:00")  # no time zone, unlike started
    _edit(run_dir / CAND / "verdict.json", "accepted", None)
    (run_dir / CAND / "verdict.json").write_text('{"stage": "static"}', encoding="utf-8")
    from autoreward.report.run import header
    overview = run_overview(run_dir)
    assert "2026-01-01T00:01:00" in header(overview, None)
    assert main(["inspect", str(run_dir), "--candidate", "0/0"]) == 0
    assert "rejected at stage static" in capsys.readouterr().out


def test_folders_that_are_no_round_or_candidate_are_left_out(run_dir):
    for extra in ("rounds/x/candidates/0", "rounds/0/candidates/cand-x", "rounds/99"):
        (run_dir / extra).mkdir(parents=True)
        if "candidates" in extra:
            (run_dir / extra / "candidate.json").write_text("{}", encoding="utf-8")
    assert [c.name for c in RunStore.open(run_dir).candidates()] == ["0/0"]
    assert main(["inspect", str(run_dir), "--json"]) == 0


def test_text_that_is_not_utf8_is_shown_with_replacement_characters(run_dir, capsys):
    (run_dir / CAND / "reward.py").write_bytes(b"\xff\xfe# not utf-8\n")
    (run_dir / "rounds/0/analysis.md").write_bytes(b"# analysis \xff\n")
    train = run_dir / CAND / "train"
    train.mkdir()
    (train / "metrics.jsonl").write_bytes(b'{"steps": 64, "stopped": "x\xff"}\n\xff\xfe\n')
    with pytest.raises(UsageError, match=r"metrics\.jsonl, line 2, is not JSON"):
        candidate_detail(run_dir, "0/0")
    (train / "metrics.jsonl").write_bytes(b'{"steps": 64, "stopped": "x\xff"}\n')
    detail = candidate_detail(run_dir, "0/0")
    assert detail["code"].startswith("\ufffd") and "\ufffd" in detail["analysis"]
    assert detail["metrics"] == [{"steps": 64, "stopped": "x\ufffd"}]
    assert main(["inspect", str(run_dir), "--candidate", "0/0"]) == 0


@pytest.mark.parametrize("name, line", [
    ("train/metrics.jsonl", {"steps": "64", "success_rate": 0.5}),
    ("train/metrics.jsonl", {"steps": 64, "components": [1, 2]}),
    ("train/metrics.jsonl", {"steps": 64, "components": {"key": {"mean": "x", "share": 0.5}}}),
    ("train/metrics.jsonl", {"steps": 64, "sps": "fast"}),
    ("trajectories.jsonl", {"episode": 0, "steps": 5, "final": "map"}),
])
def test_a_jsonl_record_of_the_wrong_shape_is_named_with_its_line(run_dir, capsys, name, line):
    (run_dir / CAND / name).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / CAND / name).write_text("{}\n" + json.dumps(line) + "\n", encoding="utf-8")
    assert main(["report", str(run_dir), "--out", str(run_dir / "report.html")]) == 2
    err = _err(capsys)
    assert f"{name.split('/')[-1]}, line 2: " in err and "the file is damaged" in err


def test_llm_calls_with_tokens_that_are_no_numbers_are_named(run_dir, capsys):
    (run_dir / "llm").mkdir()
    (run_dir / "llm" / "calls.jsonl").write_text('{"prompt_tokens": "x", "cost": 0.1}\n', encoding="utf-8")
    assert main(["inspect", str(run_dir)]) == 2
    assert "calls.jsonl, line 1: prompt_tokens is 'x'" in _err(capsys)


@pytest.mark.parametrize("link", ["rounds/0/analysis.md", f"{CAND}/reward.py", f"{CAND}/train/metrics.jsonl",
                                  "rounds/0/candidates/1"])
def test_a_link_out_of_the_run_folder_is_refused_and_never_followed(run_dir, tmp_path, capsys, link):
    """A link planted in a run folder (autoreward writes none) would put a file from elsewhere into a report, a
    prompt on resume, or get appended to: inspect, report and resume refuse the folder, naming the link."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("PRIVATE-KEY-TEXT\n")
    target = secret if link.endswith("/1") else secret / "key.txt"
    (run_dir / link).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / link).unlink(missing_ok=True)
    (run_dir / link).symlink_to(target)
    page = tmp_path / "page.html"
    for argv in (["inspect", str(run_dir)], ["inspect", str(run_dir), "--candidate", "0/0"],
                 ["report", str(run_dir), "--out", str(page)], ["iterate", "--resume", str(run_dir)]):
        assert main(argv) == 2, argv
        err = _err(capsys)
        assert link in err and "outside" in err and "PRIVATE-KEY-TEXT" not in err, (argv, err)
    assert not page.exists()
    assert (secret / "key.txt").read_text() == "PRIVATE-KEY-TEXT\n"


def test_a_link_that_stays_inside_the_run_folder_is_read(run_dir, capsys):
    (run_dir / "rounds/0/analysis.md").symlink_to(run_dir / CAND / "reward.py")
    assert main(["inspect", str(run_dir), "--candidate", "0/0"]) == 0
    assert "compute_reward" in capsys.readouterr().out


def test_a_training_folder_with_a_link_out_is_refused(tmp_path, capsys):
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "train.json").write_text("{}")
    (tmp_path / "elsewhere.jsonl").write_text('{"steps": 1}\n')
    (folder / "metrics.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    assert main(["inspect", str(folder)]) == 2
    assert "metrics.jsonl" in _err(capsys)
    (folder / "metrics.jsonl").unlink()
    assert main(["inspect", str(folder)]) == 0
