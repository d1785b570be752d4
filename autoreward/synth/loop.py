"""`autoreward iterate`: rounds of K candidates, each designed -> checked (with repairs) -> trained -> evaluated.

Designing and checking run here, one candidate after another (LLM calls are I/O; the probe is its own
process); trainings of a round run in parallel through an executor. After a round the best candidate so
far (by evaluated task success, then mean task return, never by its own reward) is analysed, and its code,
figures and analysis are what the next round's designer reads. Everything lands in the run directory
(`autoreward.synth.store`); a run that stops (Ctrl-C, a kill, the LLM budget) resumes where it stopped.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoreward import __version__
from autoreward.env.card import card_for
from autoreward.errors import UsageError
from autoreward.io import write_json_atomic
from autoreward.llm.base import LLM, LLMAuthError, LLMBudgetExceeded, LLMError
from autoreward.llm.client import make_llm
from autoreward.reward.contract import CONTRACT_TEXT
from autoreward.reward.critic import Verdict, check
from autoreward.synth.analyzer import Analysis, analyze, build_summary, compare, lessons
from autoreward.synth.baseline import MESSAGE_NONE_BEAT, NAME, run_baseline
from autoreward.synth.designer import Design, DesignContext, design, repair
from autoreward.synth.executor import Executor, LocalExecutor, default_workers, train_and_evaluate
from autoreward.synth.review import review
from autoreward.synth.store import CandidateRecord, IterateConfig, RunStore
from autoreward.synth.structure import changes, structure_of

Events = Callable[[str, dict[str, Any]], None]  # (event name, data): the CLI turns these into progress


class RunStopped(Exception):
    """The run stopped before its end (budget spent); it is saved and `--resume` continues it."""


def iterate(config: IterateConfig | None = None, *, resume: str | Path | None = None,
            budget: dict[str, Any] | None = None, on_event: Events | None = None,
            executor: Executor | None = None) -> RunStore:
    """Run (or resume) the synthesis loop; returns the run's store. Raises RunStopped when the budget ends it.

    `budget` ({"max_llm_calls": ..., "max_llm_cost": ...}) replaces a resumed run's LLM limits, so a run
    stopped by its budget can go on with a larger one.
    """
    emit = on_event or (lambda event, data: None)
    if resume is not None:
        store = RunStore.open(resume)
        run = store.read_run()
        run["config"].update({k: v for k, v in (budget or {}).items() if v is not None})
        config = IterateConfig.from_dict(run["config"])
    else:
        if config is None:
            raise UsageError("iterate needs a config for a new run, or resume=RUN_DIR")
        _validate(config)
        store = RunStore.create(config)
        run = {"config": asdict(config), "versions": _versions(), "started": _now(), "status": "running"}
    card = card_for(config.task)
    run.update(status="running", resumed=run.get("resumed", -1) + 1 if resume is not None else 0)
    store.write_run(run)
    emit("run", {"dir": str(store.root), "config": asdict(config), "resumed": resume is not None})
    llm = make_llm(config.llm, run_dir=store.root, cache_path=Path(config.out) / "llm-cache.sqlite",
                   api_base=config.llm_api_base, timeout_s=config.llm_timeout_s,
                   max_calls=config.max_llm_calls, max_cost=config.max_llm_cost)
    task_text = config.description or card.task(config.task).goal.strip()
    card_text = card.describe(config.task, CONTRACT_TEXT)
    pool = executor or LocalExecutor(config.workers or default_workers(config.candidates))
    status = "running"
    try:
        best: CandidateRecord | None = None
        analysis: Analysis | None = None
        baseline = _start_baseline(store, config, pool, emit)
        for r in range(config.rounds):
            tried = [c.structure for c in store.candidates() if c.round < r and c.status in ("evaluated", "failed")]
            context = dict(task=config.task, task_text=task_text, card_text=card_text, round=r,
                           best_code=_read(store, best, "reward.py"), best_summary=_best_summary(store, best),
                           analysis=analysis, parent=None if best is None else best.name, tried=tried,
                           baseline=baseline.figures)
            emit("round", {"round": r, "rounds": config.rounds})
            records = _run_round(store, config, context, llm, pool, emit, baseline)
            round_best = _select(records)
            best = _select([*([best] if best else []), *records])  # on a tie the earlier best stays
            if best is not None:
                summary = _best_summary(store, best) or {}
                store.save_best(best, summary)
                comparison = compare(asdict(best), baseline.figures, None if round_best is None else asdict(round_best),
                                     r)
                found = lessons([asdict(c) for c in store.candidates()])
                analysis = _analyse_round(store, r, best, summary, {**context, "baseline": baseline.figures}, llm,
                                          found, comparison)
            write_json_atomic(store.round_dir(r) / "summary.json", {
                "round": r, "candidates": [asdict(c) for c in records], "baseline": baseline.figures,
                "best": None if best is None else {"round": best.round, "candidate": best.candidate,
                                                   "success_rate": best.success_rate, "gain": best.gain}})
            emit("round_done", {"round": r, "best": None if best is None else asdict(best),
                                "baseline": baseline.figures})
        baseline.wait(store, emit)
        confirmation = _confirm(store, config, pool, emit) if config.confirm_seeds > 0 else None
        answer = _answer(store, best, baseline.figures, confirmation)
        emit("answer", answer)
        status = "finished"
    except LLMAuthError as exc:
        status = "stopped"
        raise RunStopped(f"{exc} The run is saved: `autoreward iterate --resume {store.root}` continues it.") from exc
    except LLMBudgetExceeded as exc:
        status = "budget"
        raise RunStopped(f"{exc} The run is saved: `autoreward iterate --resume {store.root} --max-llm-calls N "
                         "--max-llm-cost USD` continues it with larger limits.") from exc
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except Exception:
        status = "failed"  # a bug or a broken environment: the run is saved and can be resumed once fixed
        raise
    finally:
        pool.shutdown(cancel=status != "finished")
        run.update(status=status, ended=_now())
        store.write_run(run)
        emit("end", {"status": status, "dir": str(store.root)})
    return store


def _run_round(store: RunStore, config: IterateConfig, context: dict[str, Any], llm: LLM | None,
               pool: Executor, emit: Events, baseline: _Baseline) -> list[CandidateRecord]:
    """Design and check every candidate of the round, train the accepted ones in parallel, record all.

    The round ends when its trainings and the baseline's have finished, so that each record's gain over the
    baseline is known before the analysis reads it."""
    r = context["round"]
    records = [store.read_candidate(r, k) for k in range(config.candidates)]
    running: dict[Future, CandidateRecord] = {}
    for record in records:
        if record.final:
            emit("candidate", {"round": r, "candidate": record.candidate, "stage": "done (resumed)",
                               "record": asdict(record)})
            continue
        if record.status != "accepted":
            ctx = DesignContext(candidate=record.candidate, seed=config.seed * 1000 + r * 100 + record.candidate,
                                **context)
            _design_and_check(store, config, ctx, record, llm, emit)
            _record_structure(store, record, records)
        if record.status == "accepted" and _reuse_twin(store, record):
            emit("candidate", {"round": r, "candidate": record.candidate, "stage": record.status,
                               "record": asdict(record)})
        elif record.status == "accepted":
            out = store.candidate_dir(r, record.candidate)
            emit("candidate", {"round": r, "candidate": record.candidate, "stage": "training",
                               "train_dir": str(out / "train"), "steps": config.steps})
            future = pool.submit(train_and_evaluate, config.task, str(out / "reward.py"), str(out), config.steps,
                                 config.seed, config.train_envs, config.device, config.eval_episodes)
            running[future] = record
    pending = set(running)
    while pending:
        done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
        baseline.poll(store, emit)
        for future in done:
            record = running[future]
            _record_training(store, record, future, baseline.figures)
            emit("candidate", {"round": r, "candidate": record.candidate, "stage": record.status,
                               "record": asdict(record)})
        for future in pending:
            emit("training", {"round": r, "candidate": running[future].candidate, "steps": config.steps,
                              **_training_progress(store.candidate_dir(r, running[future].candidate))})
    baseline.wait(store, emit)
    for record in records:  # those that finished before the baseline did
        if record.status == "evaluated" and record.gain != _gain(record, baseline.figures):
            record.gain = _gain(record, baseline.figures)
            store.write_candidate(record)
    return records


def _gain(record: CandidateRecord, baseline: dict[str, Any] | None) -> float | None:
    """Success above the task reward alone (same seed and budget); None while the baseline is not known."""
    if baseline is None or record.success_rate is None:
        return None
    return round(record.success_rate - baseline["success_rate"], 4)


def _record_structure(store: RunStore, record: CandidateRecord, siblings: list[CandidateRecord]) -> None:
    """Its structure, and how that differs from its parent's: the best so far, or in round 0 candidate 0/0
    (the other first-round candidates are read as variations of it)."""
    folder = store.candidate_dir(record.round, record.candidate)
    if not (folder / "reward.py").is_file():
        return
    record.structure = structure_of((folder / "reward.py").read_text(encoding="utf-8"))
    if record.parent is None and record.round == 0 and record.candidate > 0:
        record.parent = "0/0"
    parent = next((c for c in [*store.candidates(), *siblings] if c.name == record.parent and c.structure), None)
    record.changes = changes(parent.structure, record.structure) if parent is not None else []
    store.write_candidate(record)


def _design_and_check(store: RunStore, config: IterateConfig, ctx: DesignContext, record: CandidateRecord,
                      llm: LLM | None, emit: Events) -> None:
    """Design, then critic stages 1-3, repairing up to `config.repairs` times; leaves record accepted/rejected."""
    folder = store.candidate_dir(ctx.round, ctx.candidate)
    prompts, responses = [], []
    code: str | None = None
    errors: list[str] = []
    verdict: Verdict | None = None
    calls_before, cost_before = store.llm_totals()
    record.parent = ctx.parent
    for attempt in range(config.repairs + 1):
        stage = "designing" if attempt == 0 else f"repair {attempt}"
        emit("candidate", {"round": ctx.round, "candidate": ctx.candidate, "stage": stage})
        try:
            made: Design = design(ctx, llm) if attempt == 0 else repair(ctx, code or "", errors, llm)
        except (LLMBudgetExceeded, LLMAuthError):
            raise
        except LLMError as exc:
            record.status, record.reason = "failed", f"LLM call failed: {exc}"
            break
        record.attempts = attempt + 1
        prompts.append(f"# attempt {attempt + 1} ({'design' if attempt == 0 else 'repair'})\n\n{made.prompt}")
        responses.append(f"# attempt {attempt + 1}\n\n{made.response}")
        store.write_text(folder.relative_to(store.root) / "prompt.md", "\n\n".join(prompts) + "\n")
        store.write_text(folder.relative_to(store.root) / "response.md", "\n\n".join(responses) + "\n")
        if made.code is None:
            errors = [made.error or "the response contains no Python code defining compute_reward(prev, action, "
                      "state, memory): answer with one ```python block"]
            verdict = Verdict(accepted=False, stage="extract", errors=errors)
            continue
        code = made.code
        store.write_text(folder.relative_to(store.root) / "reward.py", code)
        emit("candidate", {"round": ctx.round, "candidate": ctx.candidate, "stage": "checking"})
        verdict = check(code, config.task, transitions=config.probe_transitions, seed=ctx.seed)
        if verdict.accepted:
            emit("candidate", {"round": ctx.round, "candidate": ctx.candidate, "stage": "reviewing"})
            try:
                opinion = review(code, ctx, verdict.probe_stats, llm)
            except (LLMBudgetExceeded, LLMAuthError):
                raise
            except LLMError as exc:  # the review is advice on top of stages 1-2: record that it was missing
                verdict.warnings.append(f"review skipped: LLM call failed: {exc}")
            else:
                store.write_text(folder.relative_to(store.root) / "review.md",
                                 f"{opinion.prompt}\n\n---\n\n{opinion.response}\n")
                verdict = Verdict(accepted=opinion.accepted, stage="review",
                                  errors=opinion.errors, warnings=verdict.warnings + opinion.warnings,
                                  probe_stats=verdict.probe_stats, info=verdict.info + opinion.info)
        write_json_atomic(folder / "verdict.json", verdict.to_dict())
        if verdict.accepted:
            record.status, record.reason, record.warnings = "accepted", None, verdict.warnings
            break
        errors = verdict.errors
    else:
        record.status = "rejected"
        record.reason = f"rejected after {record.attempts} attempt(s) at stage {verdict.stage if verdict else '?'}: " \
                        + "; ".join(errors)[:500]
    if verdict is not None and record.status != "accepted" and not (folder / "verdict.json").is_file():
        write_json_atomic(folder / "verdict.json", verdict.to_dict())
    calls_after, cost_after = store.llm_totals()
    record.llm_calls, record.llm_cost = calls_after - calls_before, round(cost_after - cost_before, 6)
    store.write_candidate(record)
    if record.status != "accepted":
        emit("candidate", {"round": ctx.round, "candidate": ctx.candidate, "stage": record.status,
                           "record": asdict(record)})


def _record_training(store: RunStore, record: CandidateRecord, future: Future,
                     baseline: dict[str, Any] | None = None) -> None:
    try:
        figures = future.result()
    except Exception as exc:  # noqa: BLE001 - a crashed worker: the candidate failed, the run goes on
        record.status, record.reason = "failed", f"training crashed: {type(exc).__name__}: {exc}"
    else:
        record.steps, record.train_seconds, record.sps = figures["steps"], figures["train_seconds"], figures["sps"]
        if figures.get("stopped_reason"):
            record.status, record.reason = "failed", f"training stopped: {figures['stopped_reason']}"
        else:
            record.status = "evaluated"
            record.success_rate, record.mean_return = figures["success_rate"], figures["mean_return"]
            record.gain = _gain(record, baseline)
    store.write_candidate(record)


def _reuse_twin(store: RunStore, record: CandidateRecord) -> bool:
    """A reward identical to one already evaluated in this run is not trained again: its results are copied.

    Same code, task, seed and budget give the same training; the offline designer repeats a reward it has
    no edits for. The copy says where it came from (`duplicate_of`).
    """
    folder = store.candidate_dir(record.round, record.candidate)
    code = (folder / "reward.py").read_bytes()
    for twin in store.candidates():
        source = store.candidate_dir(twin.round, twin.candidate)
        if twin.status != "evaluated" or twin.duplicate_of or source == folder or \
                (source / "reward.py").read_bytes() != code:
            continue
        shutil.rmtree(folder / "train", ignore_errors=True)
        shutil.copytree(source / "train", folder / "train", ignore=shutil.ignore_patterns("policy.zip"))
        for name in ("eval.json", "trajectories.jsonl"):
            shutil.copyfile(source / name, folder / name)
        record.status, record.duplicate_of = "evaluated", f"{twin.round}/{twin.candidate}"
        record.success_rate, record.mean_return, record.steps = twin.success_rate, twin.mean_return, twin.steps
        record.train_seconds, record.sps = 0.0, twin.sps
        store.write_candidate(record)
        return True
    return False


class _Baseline:
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
        emit("baseline", self.figures)


def _start_baseline(store: RunStore, config: IterateConfig, pool: Executor, emit: Events) -> _Baseline:
    path = store.root / "baseline.json"
    if path.is_file():
        figures = json.loads(path.read_text(encoding="utf-8"))
        emit("baseline", figures)
        return _Baseline(figures)
    emit("baseline", {"stage": "training", "steps": config.steps})
    return _Baseline(future=pool.submit(run_baseline, config.task, config.steps, config.seed, config.train_envs,
                                        config.eval_episodes, config.device, config.baseline_cache))


def _top_candidates(store: RunStore, n: int) -> list[CandidateRecord]:
    """The n best evaluated candidates (rank_key), each reward once (a reused twin is its original)."""
    evaluated = [c for c in store.candidates() if c.status == "evaluated" and not c.duplicate_of]
    return sorted(evaluated, key=CandidateRecord.rank_key, reverse=True)[:n]


def _confirm(store: RunStore, config: IterateConfig, pool: Executor, emit: Events) -> dict[str, Any]:
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
                future = pool.submit(run_baseline, config.task, config.steps, seed, config.train_envs,
                                     config.eval_episodes, config.device, config.baseline_cache)
            else:
                reward = store.candidate_dir(entry["round"], entry["candidate"]) / "reward.py"
                future = pool.submit(train_and_evaluate, config.task, str(reward), str(folder), config.steps, seed,
                                     config.train_envs, config.device, config.eval_episodes)
            running[future] = (entry["name"], seed, folder)
    total = len(results) + len(running)
    emit("confirm", {"seeds": seeds, "entries": [e["name"] for e in entries], "done": len(results), "total": total})
    pending = set(running)
    while pending:
        done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
        for future in done:
            name, seed, folder = running[future]
            results[(name, seed)] = result = _confirmation_result(name, seed, future)
            write_json_atomic(folder / "result.json", result)
            emit("confirmed", {"name": name, "seed": seed, "done": len(results), "total": total, **result})
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
        return {"seed": seed, "success_rate": 0.0, "mean_return": 0.0, "error": f"{type(exc).__name__}: {exc}"}
    if figures.get("stopped_reason") or figures.get("success_rate") is None:
        return {"seed": seed, "success_rate": 0.0, "mean_return": 0.0,
                "error": f"training stopped: {figures.get('stopped_reason') or 'no evaluation'}"}
    return {"seed": seed, "success_rate": figures["success_rate"], "mean_return": figures["mean_return"],
            "steps": figures.get("steps")}


def _answer(store: RunStore, best: CandidateRecord | None, baseline: dict[str, Any] | None,
            confirmation: dict[str, Any] | None) -> dict[str, Any]:
    """The run's answer: the best reward (by mean success, then mean return) only when its success is above the
    task reward alone's (over the confirmation seeds when there are any, else on the run's seed): equal success
    is no gain, whatever the returns, so the answer is then the baseline. Written to best/summary.json."""
    if confirmation is not None:
        entries = confirmation["entries"]
        base = {"success_rate": entries[0]["mean_success"], "mean_return": entries[0]["mean_return"]}
        rewards = entries[1:]
        top = max(rewards, key=lambda e: (e["mean_success"], e["mean_return"])) if rewards else None
        chosen = top if top is not None and top["mean_success"] > base["success_rate"] else entries[0]
        success, mean_return = chosen["mean_success"], chosen["mean_return"]
        record = None if chosen["name"] == NAME else store.read_candidate(chosen["round"], chosen["candidate"])
        where = f" over seeds {', '.join(map(str, confirmation['seeds']))}"
    else:
        base = {"success_rate": (baseline or {}).get("success_rate") or 0.0,
                "mean_return": (baseline or {}).get("mean_return") or 0.0}
        beats = best is not None and (best.success_rate or 0.0) > base["success_rate"]
        record = best if beats else None
        success = record.success_rate if record else base["success_rate"]
        mean_return = record.mean_return if record else base["mean_return"]
        where = f" on seed {store.config().seed}"
    gain = round((success or 0.0) - base["success_rate"], 4)
    folder = store.root / "best"
    folder.mkdir(exist_ok=True)
    summary = (_best_summary(store, record) or {}) if record is not None else {}
    if record is not None:
        store.save_best(record, summary)
        message = (f"reward {record.name} beats the task reward alone: success {success:.0%} against "
                   f"{base['success_rate']:.0%} ({100 * gain:+.0f} points){where}")
    else:
        (folder / "reward.py").unlink(missing_ok=True)  # never hand back a reward that did not beat no reward
        runner_up = "" if best is None else f"; the best reward, {best.name}, reached {best.success_rate:.0%} on " \
                                              "its search seed"
        message = f"{MESSAGE_NONE_BEAT}: it reached {base['success_rate']:.0%}{where}{runner_up}"
    answer = {"answer": "candidate" if record else "baseline",
              "round": record.round if record else None, "candidate": record.candidate if record else None,
              "success_rate": success, "mean_return": mean_return, "baseline": base, "gain": gain,
              "message": message, "confirmation": confirmation, "steps": store.config().steps,
              "reward": str(folder / "reward.py") if record else None,
              "summary": summary}
    write_json_atomic(folder / "summary.json", answer)
    return answer


def _select(records: list[CandidateRecord]) -> CandidateRecord | None:
    """The best evaluated candidate (CandidateRecord.rank_key); the first one listed wins a tie."""
    evaluated = [c for c in records if c.status == "evaluated"]
    return max(evaluated, key=CandidateRecord.rank_key) if evaluated else None


def _analyse_round(store: RunStore, r: int, best: CandidateRecord, summary: dict[str, Any],
                   context: dict[str, Any], llm: LLM | None, found: list[dict], comparison: list[str]
                   ) -> Analysis | None:
    """The analysis of the best candidate so far, which the next round's designer reads (analysis.md)."""
    path = store.round_dir(r) / "analysis.json"
    if path.is_file():  # resumed after the analysis was written
        return Analysis(**json.loads(path.read_text(encoding="utf-8")))
    ctx = DesignContext(candidate=best.candidate, seed=0, **{**context, "round": r})
    try:
        analysis = analyze(summary, ctx, llm, found, comparison)
    except (LLMBudgetExceeded, LLMAuthError):
        raise
    except LLMError as exc:
        store.write_text(Path("rounds") / str(r) / "analysis.md", f"(analysis failed: {exc})\n")
        return None
    store.write_text(Path("rounds") / str(r) / "analysis.md",
                     f"# Analysis of round {best.round} candidate {best.candidate}\n\n{analysis.text}\n")
    write_json_atomic(path, analysis.to_dict())
    return analysis


def _best_summary(store: RunStore, best: CandidateRecord | None) -> dict[str, Any] | None:
    if best is None:
        return None
    folder = store.candidate_dir(best.round, best.candidate)
    summary = build_summary(folder)
    summary["candidate"] = {"round": best.round, "candidate": best.candidate, "success_rate": best.success_rate,
                            "mean_return": best.mean_return}
    return summary


def _read(store: RunStore, best: CandidateRecord | None, name: str) -> str | None:
    if best is None:
        return None
    return (store.candidate_dir(best.round, best.candidate) / name).read_text(encoding="utf-8")


def _training_progress(folder: Path) -> dict[str, Any]:
    """Steps done and the latest success rate, from the last line of a running training's metrics.jsonl."""
    path = folder / "train" / "metrics.jsonl"
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4096))
            last = handle.read().splitlines()[-1]
        record = json.loads(last)
    except (OSError, IndexError, ValueError):
        return {"done": 0}
    return {"done": int(record.get("steps", 0)), "success_rate": record.get("success_rate"),
            "sps": record.get("sps")}


def _validate(config: IterateConfig) -> None:
    card_for(config.task)
    for name in ("rounds", "candidates", "steps", "eval_episodes"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if config.repairs < 0:
        raise UsageError("--repairs must be 0 or more")


def _versions() -> dict[str, str]:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    from autoreward.llm.prompts import PROMPT_VERSION

    return {"autoreward": __version__, "python": platform.python_version(), "git": sha or "unknown",
            "prompts": PROMPT_VERSION}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

