"""The run's answer: the bar it must beat (the task reward alone), the confirmation on fresh seeds, and
best/summary.json, which hands back a reward only when it clearly beats no shaping (synth.evidence).
"""

from __future__ import annotations

import json
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from autoreward.io import write_json_atomic
from autoreward.synth.baseline import MESSAGE_NONE_BEAT, NAME, submit_baseline
from autoreward.synth.evidence import Evidence, judge, percent, points
from autoreward.synth.executor import Executor, training_job
from autoreward.synth.jobs import RetryableJobError
from autoreward.synth.records import (
    BaselineEvent,
    ConfirmedEvent,
    ConfirmEvent,
    Events,
    RunSummary,
    Summary,
)
from autoreward.synth.store import CandidateRecord, IterateConfig, RunStore
from autoreward.synth.summary import build_summary


class Baseline:
    """The task reward alone on the run's seed and budget: trained beside round 0 (or read from the run or the
    shared cache), waited for before round 0's analysis; `figures` is None until then."""

    def __init__(self, figures: dict[str, Any] | None = None, future: Future | None = None) -> None:
        self.figures, self.future = figures, future

    def poll(self, store: RunStore, emit: Events) -> None:
        """Take the figures if the training has finished, without waiting."""
        if self.future is not None and self.future.done():
            self.wait(store, emit)

    def wait(self, store: RunStore, emit: Events) -> None:
        if self.future is None:
            return
        figures = self.future.result()  # a baseline that cannot be trained stops the run (saved, resumable)
        self.future = None
        self.figures = {k: figures.get(k) for k in ("success_rate", "mean_return", "steps", "train_seconds", "sps",
                                                    "cached", "dir")}
        write_json_atomic(store.root / "baseline.json", self.figures)
        emit("baseline", BaselineEvent(**self.figures))


def start_baseline(store: RunStore, config: IterateConfig, pool: Executor, emit: Events) -> Baseline:
    path = store.root / "baseline.json"
    if path.is_file():
        figures = json.loads(path.read_text(encoding="utf-8"))
        emit("baseline", figures)
        return Baseline(figures)
    emit("baseline", BaselineEvent(stage="training", steps=config.steps))
    return Baseline(future=submit_baseline(pool, config.task, config.steps, config.seed, config.train_envs,
                                           config.eval_episodes, config.device, config.baseline_cache))


def _top_candidates(store: RunStore, n: int) -> list[CandidateRecord]:
    """The n best evaluated candidates (rank_key), each reward once (a reused twin is its original)."""
    evaluated = [c for c in store.candidates() if c.status == "evaluated" and not c.duplicate_of]
    return sorted(evaluated, key=CandidateRecord.rank_key, reverse=True)[:n]


def confirm(store: RunStore, config: IterateConfig, pool: Executor, emit: Events) -> dict[str, Any]:
    """Retrain the top candidates and the baseline on fresh seeds; each finished training is kept (resumable).

    Returns {"seeds", "entries": [{"name", "round", "candidate", "per_seed", "mean_success", "mean_return"}]},
    the baseline first."""
    seeds = config.seeds_to_confirm
    top = _top_candidates(store, config.confirm_top)
    entries = [{"name": NAME, "round": None, "candidate": None}] + [
        {"name": c.name, "round": c.round, "candidate": c.candidate} for c in top]
    results: dict[tuple[str, int], dict[str, Any]] = {}
    running: dict[Future, tuple[str, int, Path]] = {}
    for entry in entries:
        for seed in seeds:
            folder = store.root / "confirm" / entry["name"].replace("/", "-") / f"seed-{seed}"
            if (folder / "result.json").is_file():
                results[(entry["name"], seed)] = json.loads((folder / "result.json").read_text(encoding="utf-8"))
                continue
            if entry["name"] == NAME:
                future = submit_baseline(pool, config.task, config.steps, seed, config.train_envs,
                                         config.eval_episodes, config.device, config.baseline_cache)
            else:
                reward = store.candidate_dir(entry["round"], entry["candidate"]) / "reward.py"
                future = pool.run(training_job(config.task, reward, folder, config.steps, seed, config.train_envs,
                                               config.device, config.eval_episodes,
                                               label=f"confirm {entry['name']} seed {seed}"))
            running[future] = (entry["name"], seed, folder)
    total = len(results) + len(running)
    emit("confirm", ConfirmEvent(seeds=seeds, entries=[e["name"] for e in entries], done=len(results), total=total))
    pending = set(running)
    while pending:
        done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
        for future in done:
            name, seed, folder = running[future]
            results[(name, seed)] = result = _confirmation_result(name, seed, future)
            if not result.get("retryable"):  # a lost node's training is left for `--resume` to run again
                write_json_atomic(folder / "result.json", result)
            emit("confirmed", ConfirmedEvent(name=name, done=len(results), total=total, **result))  # result: seed, ...
    for entry in entries:
        per_seed = [results[(entry["name"], seed)] for seed in seeds]
        entry["per_seed"] = per_seed
        entry["mean_success"] = round(sum(p["success_rate"] for p in per_seed) / len(per_seed), 4)
        entry["mean_return"] = round(sum(p["mean_return"] for p in per_seed) / len(per_seed), 4)
    confirmation = {"seeds": seeds, "steps": config.steps, "eval_episodes": config.eval_episodes, "entries": entries}
    write_json_atomic(store.root / "confirm" / "summary.json", confirmation)
    return confirmation


def _confirmation_result(name: str, seed: int, future: Future) -> dict[str, Any]:
    """One confirmation training's figures; a candidate whose training crashed or stopped counts as 0 success."""
    try:
        figures = future.result()
    except Exception as exc:
        if name == NAME:
            raise  # the baseline is the bar: without it nothing can be confirmed
        return {"seed": seed, "success_rate": 0.0, "mean_return": 0.0, "error": f"{type(exc).__name__}: {exc}",
                "retryable": isinstance(exc, RetryableJobError)}
    if figures.get("stopped_reason") or figures.get("success_rate") is None:
        return {"seed": seed, "success_rate": 0.0, "mean_return": 0.0,
                "error": f"training stopped: {figures.get('stopped_reason') or 'no evaluation'}"}
    return {"seed": seed, "success_rate": figures["success_rate"], "mean_return": figures["mean_return"],
            "steps": figures.get("steps"), "node_id": figures.get("node_id"), "hostname": figures.get("hostname")}


def choose_answer(store: RunStore, best: CandidateRecord | None, baseline: dict[str, Any] | None,
                  confirmation: dict[str, Any] | None) -> RunSummary:
    """The run's answer: the best reward (by mean success, then mean return) only when its success is clearly
    above the task reward alone's (over the confirmation seeds when there are any, else on the run's seed): higher,
    and not by episode noise (synth.evidence: a one-sided Fisher exact test at `significance`). Otherwise the
    answer is the baseline, whatever the returns. Written to best/summary.json."""
    config = store.config()
    evidence: Evidence | None = None
    if confirmation is not None:
        entries = confirmation["entries"]
        base = {"success_rate": entries[0]["mean_success"], "mean_return": entries[0]["mean_return"]}
        rewards = entries[1:]
        top = max(rewards, key=lambda e: (e["mean_success"], e["mean_return"])) if rewards else None
        if top is not None:
            evidence = judge([p["success_rate"] for p in top["per_seed"]],
                             [p["success_rate"] for p in entries[0]["per_seed"]],
                             confirmation.get("eval_episodes") or config.eval_episodes, config.significance)
        chosen = top if top is not None and evidence is not None and evidence["clear"] else entries[0]
        success, mean_return = chosen["mean_success"], chosen["mean_return"]
        record = None if chosen["name"] == NAME else store.read_candidate(chosen["round"], chosen["candidate"])
        seeds = confirmation["seeds"]
        where = f" over seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    else:
        base = {"success_rate": (baseline or {}).get("success_rate") or 0.0,
                "mean_return": (baseline or {}).get("mean_return") or 0.0}
        if best is not None:
            evidence = judge([best.success_rate or 0.0], [base["success_rate"]], config.eval_episodes,
                             config.significance)
        top = None
        record = best if evidence is not None and evidence["clear"] else None
        success = record.success_rate if record else base["success_rate"]
        mean_return = record.mean_return if record else base["mean_return"]
        where = f" on seed {config.seed}"
    gain = round((success or 0.0) - base["success_rate"], 4)
    folder = store.root / "best"
    folder.mkdir(exist_ok=True)
    summary = (best_summary(store, record) or {}) if record is not None else {}
    if record is not None:
        store.save_best(record, summary)
        message = (f"reward {record.name} beats the task reward alone: success {percent(success)} against "
                   f"{percent(base['success_rate'])} ({points(gain)} points){where}{_odds(evidence)}")
    else:
        (folder / "reward.py").unlink(missing_ok=True)  # never hand back a reward that did not beat no reward
        runner_up = "" if best is None else f"; the best reward, {best.name}, reached {percent(best.success_rate)} " \
                                              "on its search seed"
        if confirmation is not None and top is not None:  # the reward that came closest where the answer is chosen
            runner_up = f"; the best reward there, {top['name']}, reached {percent(top['mean_success'])}"
        noise = (f", within episode noise{_odds(evidence)}; more --eval-episodes or --confirm-seeds would tell"
                 if evidence is not None and evidence["higher"] else "")
        message = f"{MESSAGE_NONE_BEAT}: it reached {percent(base['success_rate'])}{where}{runner_up}{noise}"
    answer = RunSummary(answer="candidate" if record else "baseline",
                        round=record.round if record else None, candidate=record.candidate if record else None,
                        success_rate=success, mean_return=mean_return, baseline=base, gain=gain,
                        message=message, confirmation=confirmation, evidence=evidence, steps=config.steps,
                        reward=str(folder / "reward.py") if record else None,
                        summary=summary)
    write_json_atomic(folder / "summary.json", answer)
    return answer


def _odds(evidence: Evidence | None) -> str:
    """The evidence in a few words: " (p = 0.003 by a one-sided Fisher exact test, 150 against 150 episodes;
    a gain needs p <= 0.05)"."""
    if evidence is None:
        return ""
    n1, n2 = evidence["episodes"]
    return (f" (p = {evidence['p_value']:.2g} by a one-sided Fisher exact test, {n1} against {n2} episodes; "
            f"a gain needs p <= {evidence['significance']:g})")


def best_summary(store: RunStore, best: CandidateRecord | None) -> Summary | None:
    """The code-built summary of a candidate's folder, with its figures under "candidate"."""
    if best is None:
        return None
    folder = store.candidate_dir(best.round, best.candidate)
    summary = build_summary(folder)
    summary["candidate"] = {"round": best.round, "candidate": best.candidate, "success_rate": best.success_rate,
                            "mean_return": best.mean_return}
    return summary

