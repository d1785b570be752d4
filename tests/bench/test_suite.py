"""`autoreward bench suite`: real tiny trainings of one task; outputs, resumption, redo on a new budget, failures."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from autoreward.bench import suite, suite_config, suite_report
from autoreward.bench.suite import SuiteConfig, cell_path, run_suite
from autoreward.cli import main
from autoreward.synth.store import IterateConfig
from tests.common import ROOT

TASK = "MiniHack-Room-5x5-v0"
TINY = dict(tasks=[TASK], steps=512, eval_episodes=2, jobs=1)
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def _config(tmp_path: Path, **options) -> SuiteConfig:
    return SuiteConfig(out=str(tmp_path / "out"), docs=str(tmp_path / "docs"), **{**TINY, **options})


def _cell(tmp_path: Path, variant: str) -> dict:
    return json.loads(cell_path(tmp_path / "out", TASK, variant).read_text())


@pytest.fixture
def counted(monkeypatch):
    """Counts the seeds the suite trains (the real trainings still run)."""
    calls: list[tuple[str, int, int]] = []
    real = suite.run_seed

    def run_seed(task, variant, seed, steps, *rest):
        calls.append((variant, seed, steps))
        return real(task, variant, seed, steps, *rest)

    monkeypatch.setattr(suite, "run_seed", run_seed)
    return calls


@pytest.mark.slow  # ~30-50 s on a 2-core VM: the default run stays under 10 minutes; CI runs it
def test_suite_writes_table_json_plot_and_resumes(tmp_path, counted, capsys):
    before = BENCHMARKS_MD.read_bytes() if BENCHMARKS_MD.is_file() else None
    events: list[tuple[str, dict]] = []
    config = _config(tmp_path, variants=["sparse", "expert", "oni"], seeds=[1, 2])
    report = run_suite(config, on_event=lambda e, d: events.append((e, d)))
    assert report["failed"] == 0
    assert sorted(counted) == [("oni", 1, 512), ("oni", 2, 512), ("sparse", 1, 512), ("sparse", 2, 512)]

    sparse, oni, expert = (_cell(tmp_path, v) for v in ("sparse", "oni", "expert"))
    assert expert["status"] == "n/a" and expert["per_seed"] == []  # no hand-written reward for Room-5x5
    for cell in (sparse, oni):
        assert cell["status"] == "done" and cell["steps"] == 512 and cell["seeds"] == [1, 2]
        assert [p["seed"] for p in cell["per_seed"]] == [1, 2]
        rates = [p["success_rate"] for p in cell["per_seed"]]
        assert all(0 <= r <= 1 for r in rates) and all(p["steps"] >= 512 for p in cell["per_seed"])
        assert cell["mean_success"] == pytest.approx(sum(rates) / 2)
        assert cell["std_success"] == pytest.approx(abs(rates[0] - rates[1]) / 2 ** 0.5, abs=1e-5)
    # sparse trainings are the loop's own baselines: in its cache folder
    assert all(Path(p["dir"]).parent == tmp_path / "out" / "loop" / "baselines" for p in sparse["per_seed"])
    assert all((Path(p["dir"]) / "eval.json").is_file() for p in oni["per_seed"])
    assert [d["seed"] for e, d in events if e == "seed"] == [1, 2, 1, 2]

    docs = tmp_path / "docs"
    data = json.loads((docs / "suite.json").read_text())
    assert data["config"]["steps"] == 512 and len(data["cells"]) == 3
    assert {"cpu_count", "python", "torch", "date", "git_commit"} <= set(data["machine"])
    table = (docs / "suite.md").read_text()
    assert "512 training steps" in table and "seeds 1, 2" in table and "2 evaluation episodes" in table
    assert data["machine"]["date"] in table and "| task | sparse | expert | oni |" in table
    assert re.search(rf"\| {TASK} \| \d+% ± \d+ \| n/a \| \d+% ± \d+ \|", table), table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert data["outputs"]["plot"] is None and "matplotlib" in data["outputs"]["plot_error"]
    else:
        assert (docs / "suite.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (BENCHMARKS_MD.read_bytes() if BENCHMARKS_MD.is_file() else None) == before  # not the default docs

    # a rerun (through the CLI) keeps every finished cell: nothing trained, no cell file rewritten
    mtimes = {v: cell_path(tmp_path / "out", TASK, v).stat().st_mtime_ns for v in ("sparse", "expert", "oni")}
    counted.clear()
    args = ["bench", "suite", "--tasks", TASK, "--variants", "sparse", "expert", "oni", "--seeds", "1", "2",
            "--steps", "512", "--eval-episodes", "2", "--jobs", "1", "--out", str(tmp_path / "out"),
            "--docs", str(docs)]
    capsys.readouterr()
    assert main(args) == 0
    shown = capsys.readouterr().out
    assert counted == [] and "kept from an earlier run" in shown and "Task suite" in shown
    assert {v: cell_path(tmp_path / "out", TASK, v).stat().st_mtime_ns for v in mtimes} == mtimes

    # a suite killed mid-cell: only the missing seed is trained
    partial = dict(oni, status="running", per_seed=oni["per_seed"][:1])
    cell_path(tmp_path / "out", TASK, "oni").write_text(json.dumps(partial))
    run_suite(config)
    assert counted == [("oni", 2, 512)]
    resumed = _cell(tmp_path, "oni")
    assert resumed["status"] == "done" and resumed["per_seed"][0] == oni["per_seed"][0]

    # another budget redoes the cell
    counted.clear()
    run_suite(_config(tmp_path, variants=["sparse"], seeds=[1, 2], steps=768))
    assert sorted(counted) == [("sparse", 1, 768), ("sparse", 2, 768)]
    redone = _cell(tmp_path, "sparse")
    assert redone["steps"] == 768 and redone["key"]["steps"] == 768 and redone["status"] == "done"
    assert not any(p["cached"] for p in redone["per_seed"])


def test_failing_variant_is_recorded_and_the_suite_goes_on(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import os\n\n\ndef compute_reward(prev, action, state, memory):\n    return 0.0, {}\n")
    monkeypatch.setitem(suite_config.EXPERT_REWARDS, TASK, str(broken))  # an absolute path stays itself under examples/
    args = ["bench", "suite", "--tasks", TASK, "--variants", "expert", "sparse", "--seeds", "1", "2", "--steps",
            "512", "--eval-episodes", "2", "--jobs", "2", "--out", str(tmp_path / "out"), "--docs",
            str(tmp_path / "docs")]
    assert main(args) == 1  # a failed cell: exit 1, after the rest ran (2 trainings at once, in pool processes)
    shown = capsys.readouterr().out
    expert, sparse = _cell(tmp_path, "expert"), _cell(tmp_path, "sparse")
    assert expert["status"] == "failed" and "RewardCodeError" in expert["error"] and "seed 2" in expert["error"]
    assert sorted(f["seed"] for f in expert["failures"]) == [1, 2] and "failed" in shown
    assert sparse["status"] == "done" and [p["seed"] for p in sparse["per_seed"]] == [1, 2]
    table = (tmp_path / "docs" / "suite.md").read_text()
    assert f"| {TASK} | failed | " in table and "expert failed: seed 1: RewardCodeError" in table
    # a failed cell is tried again on a rerun (it may have been a passing fault); the done one is kept
    events: list[tuple[str, dict]] = []
    report = run_suite(_config(tmp_path, variants=["expert", "sparse"], seeds=[1, 2]),
                       on_event=lambda e, d: events.append((e, d)))
    assert report["failed"] == 1 and _cell(tmp_path, "sparse") == sparse
    assert [(e, d["variant"]) for e, d in events if e in ("seed", "seed_failed")] == [("seed_failed", "expert")] * 2


def test_unknown_tasks_and_variants_are_usage_errors(tmp_path, capsys):
    common = ["--out", str(tmp_path / "out"), "--docs", str(tmp_path / "docs")]
    assert main(["bench", "suite", "--tasks", "MiniHack-Nope-v0", *common]) == 2
    assert "unknown task 'MiniHack-Nope-v0'" in capsys.readouterr().err
    assert main(["bench", "suite", "--tasks", TASK, "--variants", "sparse", "bogus", *common]) == 2
    assert "unknown variant 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "docs").exists()
    assert all(suite_config.expert_reward(task).is_file() for task in suite_config.EXPERT_REWARDS)
    SuiteConfig().validate()  # the default tasks all exist


def _summary(answer_entry: str) -> dict:
    """best/summary.json as the loop writes it, with a candidate answer whose confirmation differs from the
    baseline's (so reading the wrong entry shows)."""
    def entry(name: str, rates: list[float]) -> dict:
        return {"name": name, "per_seed": [{"seed": s, "success_rate": r, "mean_return": r - 0.1}
                                           for s, r in zip([1, 2], rates, strict=True)],
                "mean_success": sum(rates) / 2, "mean_return": sum(rates) / 2 - 0.1}

    return {"answer": "candidate", "round": 0, "candidate": 1, "success_rate": 0.75, "mean_return": 0.65,
            "baseline": {"success_rate": 0.25, "mean_return": 0.15}, "gain": 0.5, "message": "1 beat the baseline",
            "confirmation": {"seeds": [1, 2], "entries": [entry("baseline", [0.0, 0.5]), entry("0/0", [0.0, 0.0]),
                                                          entry(answer_entry, [1.0, 0.5])]}}


def test_loop_cell_records_its_run_and_resumes_it(tmp_path, monkeypatch):
    """The loop cell's bookkeeping, with a stand-in for `iterate` (the real one: the next test)."""
    calls: list[dict] = []
    run_dir = tmp_path / "out" / "loop" / "run-1"

    def fake_iterate(config=None, *, resume=None, on_event=None):
        calls.append({"config": config, "resume": resume})
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text(json.dumps({"status": "running"}))
        on_event("run", {"dir": str(run_dir), "resumed": resume is not None})
        if len(calls) == 1:
            raise KeyboardInterrupt  # the suite is killed while the loop runs
        (run_dir / "best").mkdir(exist_ok=True)
        (run_dir / "best" / "summary.json").write_text(json.dumps(_summary("0/1")))
        (run_dir / "run.json").write_text(json.dumps({"status": "finished"}))
        return SimpleNamespace(root=run_dir)

    monkeypatch.setattr(suite, "_iterate", fake_iterate)
    monkeypatch.setattr(suite, "_loop_config", lambda task, config, out: ("config", task, out))
    config = _config(tmp_path, variants=["loop"], seeds=[1, 2], rounds=1, candidates=1)
    with pytest.raises(KeyboardInterrupt):
        run_suite(config)
    cell = _cell(tmp_path, "loop")
    assert cell["status"] == "running" and cell["run_dir"] == str(run_dir)
    assert calls[0] == {"config": ("config", TASK, str(tmp_path / "out" / "loop")), "resume": None}

    run_suite(config)
    assert calls[1] == {"config": None, "resume": str(run_dir)}  # resumed, not started again
    cell = _cell(tmp_path, "loop")
    assert cell["status"] == "done" and cell["answer"] == "candidate" and cell["gain"] == 0.5
    assert [(p["seed"], p["success_rate"]) for p in cell["per_seed"]] == [(1, 1.0), (2, 0.5)]  # the answer's entry
    assert cell["mean_success"] == 0.75
    assert "75% ± 35 (+50 vs sparse)" in (tmp_path / "docs" / "suite.md").read_text()

    run_suite(config)  # done: iterate is not called again
    assert len(calls) == 2
    run_suite(_config(tmp_path, variants=["loop"], seeds=[1, 2], rounds=2, candidates=1))  # another key: new run
    assert calls[2]["resume"] is None and len(calls) == 3


def test_loop_cell_reads_the_real_runs_confirmation(tmp_path):
    if "confirm_seed_list" not in {f.name for f in dataclasses.fields(IterateConfig)}:
        pytest.skip("the loop cannot confirm its answer over seeds yet (IterateConfig.confirm_seed_list)")
    run_suite(_config(tmp_path, variants=["sparse"], seeds=[1]))
    sparse = _cell(tmp_path, "sparse")
    baseline = Path(sparse["per_seed"][0]["dir"]) / "baseline.json"
    trained = baseline.stat().st_mtime_ns
    run_suite(_config(tmp_path, variants=["sparse", "loop"], seeds=[1], rounds=1, candidates=1))
    cell = _cell(tmp_path, "loop")
    assert cell["status"] == "done", cell["error"]
    summary = json.loads((Path(cell["run_dir"]) / "best" / "summary.json").read_text())
    name = "baseline" if summary["answer"] == "baseline" else f"{summary['round']}/{summary['candidate']}"
    entry = next(e for e in summary["confirmation"]["entries"] if e["name"] == name)
    assert cell["answer"] == summary["answer"] and cell["gain"] == summary["gain"]
    assert [(p["seed"], p["success_rate"]) for p in cell["per_seed"]] == \
        [(p["seed"], p["success_rate"]) for p in entry["per_seed"]] and cell["seeds"] == [1]
    assert baseline.stat().st_mtime_ns == trained  # the loop's confirmation reused the sparse cell's training
    assert _cell(tmp_path, "sparse") == sparse


def test_default_docs_splice_the_table_into_benchmarks_md(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --docs, docs/benchmarks, relative to here: not the repo's docs
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "benchmarks.md").write_text("# Benchmarks\n\n## Other\n\ntext\n")
    config = SuiteConfig(tasks=[TASK], variants=["expert"], steps=512, eval_episodes=2, out="out")
    report = run_suite(config)  # expert is n/a on Room-5x5: nothing to train
    assert report["outputs"]["benchmarks_md"] == str(Path("docs") / "benchmarks.md")
    text = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert text.startswith("# Benchmarks\n\n## Other\n\ntext\n\n## Task suite (`autoreward bench suite`)")
    assert text.count(suite_config.MARK_START) == 1 and text.rstrip().endswith(suite_config.MARK_END)
    assert f"| {TASK} | n/a |" in text.split(suite_config.MARK_START)[1]
    # a later table replaces the one between the markers; the rest of the file stays
    suite_report.splice(tmp_path / "docs" / "benchmarks.md", "| new table |\n")
    again = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert again.count(suite_config.MARK_START) == 1 and "| new table |" in again and f"| {TASK} | n/a |" not in again
    assert again.split(suite_config.MARK_START)[0] == text.split(suite_config.MARK_START)[0]
    assert (tmp_path / "docs" / "benchmarks" / "suite.json").is_file()
