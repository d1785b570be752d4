"""The synthesis loop end to end (offline roles, real critic, real tiny trainings), resume after a kill, inspect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from autoreward.cli import main
from autoreward.synth.loop import _select, iterate
from autoreward.synth.offline.designer import OfflineDesigner
from autoreward.synth.store import CandidateRecord, IterateConfig, RunStore
from tests.common import KEYROOM, TINY_ITERATE

TASK = KEYROOM
TINY = TINY_ITERATE


def _files(store: RunStore, r: int, k: int) -> set[str]:
    folder = store.candidate_dir(r, k)
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_offline_run_records_every_stage(finished_run):
    store = finished_run
    run = store.read_run()
    assert run["status"] == "finished" and run["config"]["llm"] == "offline"
    assert run["versions"]["prompts"] and run["versions"]["autoreward"]
    records = store.candidates()
    assert [(c.round, c.candidate) for c in records] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for c in records:
        assert c.status == "evaluated", c.reason
        assert {"prompt.md", "response.md", "reward.py", "verdict.json", "candidate.json", "eval.json",
                "trajectories.jsonl", "train/metrics.jsonl", "train/policy.zip"} <= _files(store, c.round, c.candidate)
        assert "offline" in (store.candidate_dir(c.round, c.candidate) / "response.md").read_text()
        assert json.loads((store.candidate_dir(c.round, c.candidate) / "verdict.json").read_text())["accepted"]
    # round 1 was designed from round 0's best and its analysis
    assert (store.round_dir(0) / "analysis.md").is_file() and (store.round_dir(1) / "summary.json").is_file()
    assert "Refine" in (store.candidate_dir(1, 0) / "prompt.md").read_text() or \
        "best" in (store.candidate_dir(1, 0) / "prompt.md").read_text().lower()
    # the baseline (task reward alone) was trained on the run's seed and budget, and every record is relative to it
    baseline = json.loads((store.root / "baseline.json").read_text())
    assert baseline["steps"] >= TINY["steps"] and 0.0 <= baseline["success_rate"] <= 1.0
    for c in records:
        assert c.gain == pytest.approx(c.success_rate - baseline["success_rate"])
        assert c.structure and (c.parent is None) == ((c.round, c.candidate) == (0, 0))
    # confirmation: the top candidate and the baseline on seeds 1 and 2; the answer is the best mean, ties to baseline
    best = json.loads((store.root / "best" / "summary.json").read_text())
    confirmation = best["confirmation"]
    assert confirmation["seeds"] == [1, 2] and confirmation["entries"][0]["name"] == "baseline"
    assert len(confirmation["entries"]) == 2
    for entry in confirmation["entries"]:
        assert [p["seed"] for p in entry["per_seed"]] == [1, 2]
        assert entry["mean_success"] == pytest.approx(sum(p["success_rate"] for p in entry["per_seed"]) / 2)
    top = max(confirmation["entries"], key=lambda e: (e["mean_success"], e["mean_return"]))
    assert best["success_rate"] == top["mean_success"]
    assert best["gain"] == pytest.approx(top["mean_success"] - confirmation["entries"][0]["mean_success"])
    # a reward is the answer only when its success is clearly above the task reward alone's (synth.evidence):
    # equal success (0% each at this budget, say) is no gain, whatever the returns, nor is a gap within noise
    evidence = best["evidence"]
    assert evidence["episodes"] == [2 * confirmation["eval_episodes"]] * 2
    if not evidence["clear"]:
        assert best["answer"] == "baseline" and not (store.root / "best" / "reward.py").exists()
        assert "no reward beat the task reward alone" in best["message"]
    else:
        assert best["answer"] == "candidate" and f"{best['round']}/{best['candidate']}" == top["name"]
        assert (store.root / "best" / "reward.py").read_text() == \
            (store.candidate_dir(best["round"], best["candidate"]) / "reward.py").read_text()
    assert {"baseline", "confirm", "confirmed", "answer"} <= {e for e, _ in store.events}
    stages = {d.get("stage") for e, d in store.events if e == "candidate"}
    assert {"designing", "checking", "reviewing", "training", "evaluated"} <= stages


def test_check_gives_the_verdict_the_loop_recorded(finished_run, capsys):
    """One critic entry: `autoreward check --llm offline` on candidate 0/0 (seed 0) decides as the loop did."""
    folder = finished_run.candidate_dir(0, 0)
    recorded = json.loads((folder / "verdict.json").read_text())
    assert main(["check", str(folder / "reward.py"), "--task", TASK, "--transitions", str(TINY["probe_transitions"]),
                 "--seed", "0", "--llm", "offline", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    for key in ("accepted", "stage", "errors", "warnings", "info"):
        assert checked[key] == recorded[key], key
    assert checked["stage"] == "review"
    assert checked["probe_stats"]["components"] == recorded["probe_stats"]["components"]


def test_selection_is_by_task_success_then_return_never_reward():
    a = CandidateRecord(0, 0, status="evaluated", success_rate=0.5, mean_return=0.1, steps=100)
    b = CandidateRecord(0, 1, status="evaluated", success_rate=0.5, mean_return=0.4, steps=100)
    c = CandidateRecord(1, 0, status="evaluated", success_rate=0.2, mean_return=0.9, steps=100)
    failed = CandidateRecord(1, 1, status="failed", success_rate=None)
    assert _select([a, b, c, failed]) is b
    same_as_b = CandidateRecord(2, 0, status="evaluated", success_rate=0.5, mean_return=0.4, steps=100)
    assert _select([b, same_as_b]) is b and _select([same_as_b, b]) is same_as_b  # a tie keeps the first
    assert _select([failed]) is None


def test_inspect_shows_every_candidate(finished_run, capsys):
    root = str(finished_run.root)
    assert main(["inspect", root, "--json"]) == 0
    overview = json.loads(capsys.readouterr().out)
    assert len(overview["candidates"]) == 4 and overview["status"] == "finished"
    best = json.loads((finished_run.root / "best" / "summary.json").read_text())
    assert overview["best"]["answer"] == best["answer"] and overview["best"]["gain"] == best["gain"]
    assert overview["best"]["evidence"] == best["evidence"] and overview["best"]["evidence"]["p_value"] is not None
    assert overview["baseline"]["success_rate"] is not None and overview["confirmation"]["seeds"] == [1, 2]
    assert main(["inspect", root]) == 0
    table = capsys.readouterr().out
    assert all(f"{r}/{k}" in table for r in (0, 1) for k in (0, 1))
    assert "base" in table and "pts" in table and "task reward alone" in table  # relative to the baseline
    assert main(["inspect", root, "--candidate", "1/0", "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert "def compute_reward" in detail["code"] and detail["verdict"]["stage"] == "review"
    assert main(["inspect", root, "--diff", "0/0", "1/1"]) == 0
    assert "0/0/reward.py" in capsys.readouterr().out
    assert main(["inspect", root, "--candidate", "7/7"]) == 2


@pytest.mark.slow  # ~30-50 s on a 2-core VM: the default run stays under 10 minutes; CI runs it
def test_killed_run_resumes_without_redoing_finished_candidates(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "autoreward.cli", "iterate", TASK, "--rounds", "2", "--candidates", "2",
           "--steps", "1024", "--eval-episodes", "2", "--workers", "1", "--confirm-seeds", "1", "--out", str(out)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        finished: list[Path] = []
        while time.time() < deadline and not finished:  # kill as soon as one candidate is evaluated
            time.sleep(0.5)
            finished = [p for p in out.glob("*/rounds/*/candidates/*/candidate.json")
                        if json.loads(p.read_text())["status"] == "evaluated"]
            assert process.poll() is None, "the run ended before it could be killed"
        assert finished, "no candidate finished in time"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    root = finished[0].parents[4]
    kept = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished}
    kept_eval = {p.parent / "eval.json": (p.parent / "eval.json").stat().st_mtime_ns for p in finished}
    assert json.loads((root / "run.json").read_text())["status"] == "running"  # killed: never marked finished

    store = iterate(resume=root)
    assert store.read_run()["status"] == "finished" and store.read_run()["resumed"] == 1
    assert all(c.status == "evaluated" for c in store.candidates()) and len(store.candidates()) == 4
    for path, (mtime, data) in kept.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == data  # finished candidates untouched
    for path, mtime in kept_eval.items():
        assert path.stat().st_mtime_ns == mtime
    time.sleep(1)  # no worker of the killed run is still writing
    assert not [p for p in root.rglob("*") if p.name.startswith(".") and p.suffix == ".tmp"]


def test_iterate_usage_errors(tmp_path, capsys):
    assert main(["iterate"]) == 2
    assert main(["iterate", "NoSuchTask-v0", "--out", str(tmp_path)]) == 2
    assert main(["iterate", TASK, "--resume", str(tmp_path)]) == 2
    assert main(["iterate", "--resume", str(tmp_path)]) == 2  # not a run directory
    assert "run.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # a value no run can use is refused by the parser, by name
        main(["iterate", TASK, "--executor", "ray", "--gpus-per-candidate", "-1", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "--gpus-per-candidate" in capsys.readouterr().err


def test_a_reward_identical_to_an_evaluated_one_is_not_trained_again(tmp_path, monkeypatch):
    """The offline designer repeats a reward it has no edits for; the loop reuses the twin's results."""
    import autoreward.synth.loop as loop

    first = {}
    original_roles = loop.roles_for

    class SameDesigner(OfflineDesigner):
        def design(self, ctx):
            made = super().design(ctx) if not first else first["design"]
            first.setdefault("design", made)
            return made

    monkeypatch.setattr(loop, "roles_for", lambda llm: replace(original_roles(llm), designer=SameDesigner()))
    store = iterate(IterateConfig(task=TASK, rounds=2, candidates=1, out=str(tmp_path), confirm_seeds=0, **TINY))
    original, twin = store.candidates()
    assert original.status == twin.status == "evaluated"
    assert twin.duplicate_of == "0/0" and original.duplicate_of is None
    assert (twin.success_rate, twin.mean_return) == (original.success_rate, original.mean_return)
    folder = store.candidate_dir(1, 0)
    assert (folder / "eval.json").read_bytes() == (store.candidate_dir(0, 0) / "eval.json").read_bytes()
    assert not (folder / "train" / "policy.zip").exists()  # nothing trained
    best = json.loads((store.round_dir(1) / "summary.json").read_text())["best"]
    assert (best["round"], best["candidate"]) == (0, 0)  # a tie keeps the earlier candidate
    # a second run of the same task, budget and seed reuses the first run's baseline
    events: list[tuple[str, dict]] = []
    again = iterate(IterateConfig(task=TASK, rounds=1, candidates=1, out=str(tmp_path), confirm_seeds=0, **TINY),
                    on_event=lambda e, d: events.append((e, d)))
    reused = json.loads((again.root / "baseline.json").read_text())
    assert reused["cached"] is True and reused["success_rate"] == \
        json.loads((store.root / "baseline.json").read_text())["success_rate"]


def _answer_store(tmp_path: Path, successes: dict[str, float]) -> RunStore:
    store = RunStore.create(IterateConfig(task=TASK, out=str(tmp_path)))
    store.write_run({"config": {"task": TASK, "out": str(tmp_path), "steps": 1000, "seed": 0}})
    for name, success in successes.items():
        r, k = map(int, name.split("/"))
        store.write_text(f"rounds/{r}/candidates/{k}/reward.py", f"# reward {name}\n")
        store.write_candidate(CandidateRecord(r, k, status="evaluated", success_rate=success, mean_return=success))
    return store


def _entry(name: str, successes: list[float]) -> dict:
    r, k = (None, None) if name == "baseline" else map(int, name.split("/"))
    return {"name": name, "round": r, "candidate": k,
            "per_seed": [{"seed": i + 1, "success_rate": s, "mean_return": s} for i, s in enumerate(successes)],
            "mean_success": sum(successes) / len(successes), "mean_return": sum(successes) / len(successes)}


def test_the_answer_is_the_task_reward_alone_unless_a_reward_beats_it(tmp_path):
    from autoreward.synth.answer import choose_answer as _answer

    store = _answer_store(tmp_path / "a", {"0/0": 0.9, "0/1": 0.4})
    (store.root / "best").mkdir()
    (store.root / "best" / "reward.py").write_text("# an earlier round's best\n")
    tie = {"seeds": [1, 2], "entries": [_entry("baseline", [0.5, 0.5]), _entry("0/0", [0.6, 0.4])]}
    answer = _answer(store, store.read_candidate(0, 0), {"success_rate": 0.1, "mean_return": 0.1}, tie)
    assert answer["answer"] == "baseline" and answer["gain"] == 0.0  # a tie is not a win
    returns = {"seeds": [1, 2], "entries": [_entry("baseline", [0.5, 0.5]),
                                            {**_entry("0/0", [0.6, 0.4]), "mean_return": 0.9}]}
    assert _answer(store, None, None, returns)["answer"] == "baseline"  # nor is a higher return at equal success
    assert "no reward beat the task reward alone" in answer["message"]
    # the closest reward is named with its figure where the answer was chosen, not its search seed's 90%
    assert answer["message"].endswith("it reached 50% over seeds 1, 2; the best reward there, 0/0, reached 50%")
    one_seed = {"seeds": [1], "entries": [_entry("baseline", [0.5]), _entry("0/0", [0.25])]}
    assert "it reached 50% over seed 1; the best reward there, 0/0, reached 25%" in \
        _answer(store, store.read_candidate(0, 0), None, one_seed)["message"]
    assert not (store.root / "best" / "reward.py").exists()  # nothing worse than no shaping is handed back

    win = {"seeds": [1, 2], "entries": [_entry("baseline", [0.5, 0.5]), _entry("0/0", [0.6, 0.4]),
                                        _entry("0/1", [0.7, 0.6])]}
    answer = _answer(store, store.read_candidate(0, 0), None, win)
    assert (answer["answer"], answer["round"], answer["candidate"]) == ("candidate", 0, 1)  # by mean over seeds
    assert answer["gain"] == pytest.approx(0.15) and "+15 points" in answer["message"]
    assert (store.root / "best" / "reward.py").read_text() == "# reward 0/1\n"
    assert json.loads((store.root / "best" / "summary.json").read_text())["confirmation"] == win

    # without confirmation: the search seed decides, against the baseline trained on it
    store = _answer_store(tmp_path / "b", {"0/0": 0.3})
    worse = _answer(store, store.read_candidate(0, 0), {"success_rate": 0.86, "mean_return": 0.8}, None)
    assert worse["answer"] == "baseline" and worse["gain"] == 0.0 and worse["success_rate"] == 0.86
    same = _answer(store, store.read_candidate(0, 0), {"success_rate": 0.3, "mean_return": -5.0}, None)
    assert same["answer"] == "baseline"
    better = _answer(store, store.read_candidate(0, 0), {"success_rate": 0.1, "mean_return": 0.0}, None)
    assert better["answer"] == "candidate" and better["gain"] == pytest.approx(0.2)


def test_a_gain_within_episode_noise_hands_back_no_reward(tmp_path):
    """2 successes in 150 episodes against 1 is higher but no evidence: the answer stays the task reward alone,
    and the message says why; a clear gain on the same seeds is handed back with its p-value."""
    from autoreward.synth.answer import choose_answer as _answer

    store = _answer_store(tmp_path / "a", {"0/0": 0.04, "0/1": 0.02})
    noise = {"seeds": [1, 2, 3], "eval_episodes": 50,
             "entries": [_entry("baseline", [0.02, 0.0, 0.0]), _entry("0/0", [0.04, 0.0, 0.0])]}
    answer = _answer(store, store.read_candidate(0, 0), None, noise)
    assert answer["answer"] == "baseline" and answer["gain"] == 0.0
    assert not (store.root / "best" / "reward.py").exists()
    assert answer["evidence"]["successes"] == [2, 1] and answer["evidence"]["episodes"] == [150, 150]
    assert answer["evidence"]["p_value"] == pytest.approx(0.5, abs=1e-3) and not answer["evidence"]["clear"]
    assert answer["message"] == ("no reward beat the task reward alone: it reached 0.7% over seeds 1, 2, 3; the best "
                                 "reward there, 0/0, reached 1.3%, within episode noise (p = 0.5 by a one-sided "
                                 "Fisher exact test, 150 against 150 episodes; a gain needs p <= 0.05); more "
                                 "--eval-episodes or --confirm-seeds would tell")
    clear = {**noise, "entries": [_entry("baseline", [0.02, 0.0, 0.0]), _entry("0/1", [0.3, 0.2, 0.24])]}
    answer = _answer(store, store.read_candidate(0, 0), None, clear)
    assert (answer["answer"], answer["candidate"]) == ("candidate", 1) and answer["evidence"]["clear"]
    assert answer["message"].startswith("reward 0/1 beats the task reward alone: success 24.7% against 0.7% "
                                        "(+24 points) over seeds 1, 2, 3 (p = ")
    # the episodes come from the confirmation's own record; an older record without them falls back to the run's
    assert _answer(store, None, None, {k: v for k, v in clear.items() if k != "eval_episodes"})["evidence"][
        "episodes"] == [150, 150]

    # the threshold is the run's (IterateConfig.significance): at 1.0 any higher success counts, noise included
    loose = RunStore.create(IterateConfig(task=TASK, out=str(tmp_path / "b"), significance=1.0))
    loose.write_run({"config": {"task": TASK, "out": str(tmp_path / "b"), "steps": 1000, "seed": 0,
                                "significance": 1.0}})
    loose.write_text("rounds/0/candidates/0/reward.py", "# reward 0/0\n")
    loose.write_candidate(CandidateRecord(0, 0, status="evaluated", success_rate=0.04, mean_return=0.0))
    assert _answer(loose, loose.read_candidate(0, 0), None, noise)["answer"] == "candidate"
    # without confirmation the search seed's episodes decide, the same way
    assert _answer(loose, loose.read_candidate(0, 0), {"success_rate": 0.02, "mean_return": 0.0}, None)[
        "answer"] == "candidate"
    assert _answer(store, store.read_candidate(0, 0), {"success_rate": 0.02, "mean_return": 0.0}, None)[
        "answer"] == "baseline"


def test_a_run_that_is_still_running_is_not_resumed_twice(finished_run, capsys):
    """Two processes writing one run would interleave its records: the second is refused, naming the first."""
    root = finished_run.root
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom autoreward.synth.store import RunStore\n"
        f"with RunStore({str(root)!r}).locked():\n    print('held', flush=True)\n    time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (root / "run.json").read_bytes()
        assert main(["iterate", "--resume", str(root)]) == 2
        assert f"process {holder.pid} on " in capsys.readouterr().err
        assert (root / "run.json").read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
    with RunStore.open(root).locked():  # the OS dropped a dead holder's lock: the run can be resumed
        assert f"process {os.getpid()} " in (root / ".lock").read_text()
