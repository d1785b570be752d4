"""`autoreward iterate`: rounds of K candidates, each designed -> checked (with repairs) -> trained -> evaluated.

Designing and checking run here, one candidate after another (LLM calls are I/O; the probe is its own
process); trainings of a round run in parallel through an executor. After a round the best candidate so
far (by evaluated task success, then mean task return, never by its own reward) is analysed, and its code,
figures and analysis are what the next round's designer reads. The roles (designer, reviewer, analyzer) are
picked once per run (`synth.roles.roles_for`). Everything lands in the run directory (`synth.store`); a run
that stops (Ctrl-C, a kill, the LLM budget) resumes where it stopped.
"""

from __future__ import annotations

import platform
import subprocess
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoreward import __version__
from autoreward.env.registry import card_for, source_of, use_card
from autoreward.errors import UsageError
from autoreward.io import write_json_atomic
from autoreward.llm.base import LLMAuthError, LLMBudgetExceeded, LLMError
from autoreward.llm.client import make_llm
from autoreward.llm.prompts import PROMPT_VERSION
from autoreward.reward.contract import describe_task
from autoreward.reward.critic import Verdict, critique
from autoreward.synth.answer import Baseline, best_summary, choose_answer, confirm, start_baseline
from autoreward.synth.comparison import compare, lessons
from autoreward.synth.executor import Executor, LocalExecutor, default_workers, training_job
from autoreward.synth.ray_executor import RayExecutor
from autoreward.synth.records import (
    Analysis,
    CandidateEvent,
    Design,
    DesignContext,
    EndEvent,
    Events,
    RoundDoneEvent,
    RoundEvent,
    RunEvent,
    TrainingEvent,
)
from autoreward.synth.results import gain, record_training, reuse_twin, training_progress
from autoreward.synth.roles import Roles, roles_for
from autoreward.synth.store import EXECUTORS, CandidateRecord, IterateConfig, RunStore
from autoreward.synth.structure import changes, structure_of

NO_CODE = ("the response contains no Python code defining compute_reward(prev, action, state, memory): answer "
           "with one ```python block")


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
    store, run, config = _open_run(config, resume, budget)
    with store.locked():
        run.update(status="running", resumed=run.get("resumed", -1) + 1 if resume is not None else 0)
        store.write_run(run)
        emit("run", RunEvent(dir=str(store.root), config=asdict(config), resumed=resume is not None))
        llm = make_llm(config.llm, run_dir=store.root, cache_path=Path(config.out) / "llm-cache.sqlite",
                       api_base=config.llm_api_base, timeout_s=config.llm_timeout_s,
                       max_calls=config.max_llm_calls, max_cost=config.max_llm_cost)
        pool = executor or _executor_for(config)
        status = "running"
        try:
            _search(store, config, roles_for(llm), pool, emit)
            status = "finished"
        except LLMAuthError as exc:
            status = "stopped"
            raise RunStopped(f"{exc} The run is saved: `autoreward iterate --resume {store.root}` continues "
                             "it.") from exc
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
            emit("end", EndEvent(status=status, dir=str(store.root)))
    return store


def _open_run(config: IterateConfig | None, resume: str | Path | None, budget: dict[str, Any] | None
              ) -> tuple[RunStore, dict[str, Any], IterateConfig]:
    """The run's store, its run.json record and its config: read back when resuming, else created."""
    if resume is not None:
        store = RunStore.open(resume)
        run = store.read_run()
        run["config"].update({k: v for k, v in (budget or {}).items() if v is not None})
        config = IterateConfig.from_dict(run["config"])
        use_card(config.card)  # a plugin card or a custom level, rebuilt from what the run recorded
        return store, run, config
    if config is None:
        raise UsageError("iterate needs a config for a new run, or resume=RUN_DIR")
    use_card(config.card)
    if config.card is None and source_of(config.task) is not None:
        config = replace(config, card=source_of(config.task))  # recorded in run.json: resuming rebuilds it
    _validate(config)
    store = RunStore.create(config)
    return store, {"config": asdict(config), "versions": _versions(), "started": _now(), "status": "running"}, config


def _executor_for(config: IterateConfig) -> Executor:
    """The run's executor: this machine's process pool, or the Ray cluster at `ray_address`."""
    if config.executor == "ray":
        return RayExecutor(address=config.ray_address, gpus=config.gpus_per_candidate)
    return LocalExecutor(config.workers or default_workers(config.candidates))


def _search(store: RunStore, config: IterateConfig, roles: Roles, pool: Executor, emit: Events) -> None:
    """The rounds, the confirmation and the answer (emitted as "answer", written to best/summary.json)."""
    card = card_for(config.task)
    card_text = describe_task(config.task)
    best: CandidateRecord | None = None
    analysis: Analysis | None = None
    baseline = start_baseline(store, config, pool, emit)
    for r in range(config.rounds):
        tried = [c.structure for c in store.candidates()
                 if c.round < r and c.status in ("evaluated", "failed") and not c.retryable]  # lost: not tried
        context = DesignContext(task=config.task, task_text=config.description or card.task(config.task).goal.strip(),
                                card_text=card_text, round=r, candidate=0, seed=0,
                                best_code=_read(store, best, "reward.py"), best_summary=best_summary(store, best),
                                analysis=analysis, parent=None if best is None else best.name, tried=tried,
                                baseline=baseline.figures)
        emit("round", RoundEvent(round=r, rounds=config.rounds))
        records = _run_round(store, config, context, roles, pool, emit, baseline)
        round_best = _select(records)
        best = _select([*([best] if best else []), *records])  # on a tie the earlier best stays
        if best is not None:
            summary = best_summary(store, best) or {}
            store.save_best(best, summary)
            comparison = compare(asdict(best), baseline.figures, None if round_best is None else asdict(round_best), r,
                                 episodes=config.eval_episodes, significance=config.significance)
            found = lessons([asdict(c) for c in store.candidates()])
            ctx = replace(context, candidate=best.candidate, baseline=baseline.figures)
            analysis = _analyse_round(store, best, summary, ctx, roles, found, comparison)
        write_json_atomic(store.round_dir(r) / "summary.json", {
            "round": r, "candidates": [asdict(c) for c in records], "baseline": baseline.figures,
            "best": None if best is None else {"round": best.round, "candidate": best.candidate,
                                               "success_rate": best.success_rate, "gain": best.gain}})
        emit("round_done", RoundDoneEvent(round=r, best=None if best is None else asdict(best),
                                          baseline=baseline.figures))
    baseline.wait(store, emit)
    confirmation = confirm(store, config, pool, emit) if config.confirm_seeds > 0 else None
    emit("answer", choose_answer(store, best, baseline.figures, confirmation))


def _run_round(store: RunStore, config: IterateConfig, context: DesignContext, roles: Roles,
               pool: Executor, emit: Events, baseline: Baseline) -> list[CandidateRecord]:
    """Design and check every candidate of the round, train the accepted ones in parallel, record all.

    The round ends when its trainings and the baseline's have finished, so that each record's gain over the
    baseline is known before the analysis reads it."""
    r = context.round
    records = [store.read_candidate(r, k) for k in range(config.candidates)]
    running: dict[Future, CandidateRecord] = {}
    for record in records:
        if record.final:
            emit("candidate", CandidateEvent(round=r, candidate=record.candidate, stage="done (resumed)",
                                             record=asdict(record)))
            continue
        if record.retryable:  # accepted, then lost with its machine: train it again
            record.status, record.reason, record.retryable = "accepted", None, False
        if record.status != "accepted":
            ctx = replace(context, candidate=record.candidate,
                          seed=config.seed * 1000 + r * 100 + record.candidate)
            _design_and_check(store, config, ctx, record, roles, emit)
            _record_structure(store, record, records)
        if record.status == "accepted" and reuse_twin(store, record):
            emit("candidate", CandidateEvent(round=r, candidate=record.candidate, stage=record.status,
                                             record=asdict(record)))
        elif record.status == "accepted":
            out = store.candidate_dir(r, record.candidate)
            emit("candidate", CandidateEvent(round=r, candidate=record.candidate, stage="training",
                                             train_dir=str(out / "train"), steps=config.steps))
            future = pool.run(training_job(config.task, out / "reward.py", out, config.steps, config.seed,
                                           config.train_envs, config.device, config.eval_episodes,
                                           label=f"candidate {r}/{record.candidate}"))
            running[future] = record
    _wait_for_trainings(store, config, r, running, emit, baseline)
    baseline.wait(store, emit)
    for record in records:  # those that finished before the baseline did
        if record.status == "evaluated" and record.gain != gain(record, baseline.figures):
            record.gain = gain(record, baseline.figures)
            store.write_candidate(record)
    return records


def _wait_for_trainings(store: RunStore, config: IterateConfig, r: int, running: dict[Future, CandidateRecord],
                        emit: Events, baseline: Baseline) -> None:
    """Record each training as it finishes; meanwhile report the others' progress and take the baseline's."""
    pending = set(running)
    while pending:
        done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
        baseline.poll(store, emit)
        for future in done:
            record = running[future]
            record_training(store, record, future, baseline.figures)
            emit("candidate", CandidateEvent(round=r, candidate=record.candidate, stage=record.status,
                                             record=asdict(record)))
        for future in pending:
            emit("training", TrainingEvent(round=r, candidate=running[future].candidate, steps=config.steps,
                                           **training_progress(store.candidate_dir(r, running[future].candidate))))


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
                      roles: Roles, emit: Events) -> None:
    """Design, then the critic's three stages, repairing up to `config.repairs` times; leaves record accepted,
    rejected or failed (the LLM call failed)."""
    folder = store.candidate_dir(ctx.round, ctx.candidate)
    exchange: list[Design] = []
    code: str | None = None
    errors: list[str] = []
    verdict: Verdict | None = None
    calls_before, cost_before = store.llm_totals()
    record.parent = ctx.parent
    for attempt in range(config.repairs + 1):
        stage = "designing" if attempt == 0 else f"repair {attempt}"
        emit("candidate", CandidateEvent(round=ctx.round, candidate=ctx.candidate, stage=stage))
        try:
            made = roles.designer.design(ctx) if attempt == 0 else roles.designer.repair(ctx, code or "", errors)
        except (LLMBudgetExceeded, LLMAuthError):
            raise
        except LLMError as exc:
            record.status, record.reason = "failed", f"LLM call failed: {exc}"
            break
        record.attempts = attempt + 1
        exchange.append(made)
        _write_exchange(store, folder, exchange)
        if made.code is None:
            errors = [made.error or NO_CODE]
            verdict = Verdict(accepted=False, stage="extract", errors=errors)
            continue
        code = made.code
        verdict = _check(store, config, ctx, code, roles, emit)
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
        emit("candidate", CandidateEvent(round=ctx.round, candidate=ctx.candidate, stage=record.status,
                                         record=asdict(record)))


def _write_exchange(store: RunStore, folder: Path, exchange: list[Design]) -> None:
    """prompt.md and response.md: every attempt's request and answer so far."""
    prompts = [f"# attempt {i + 1} ({'design' if i == 0 else 'repair'})\n\n{made.prompt}"
               for i, made in enumerate(exchange)]
    responses = [f"# attempt {i + 1}\n\n{made.response}" for i, made in enumerate(exchange)]
    store.write_text(folder.relative_to(store.root) / "prompt.md", "\n\n".join(prompts) + "\n")
    store.write_text(folder.relative_to(store.root) / "response.md", "\n\n".join(responses) + "\n")


def _check(store: RunStore, config: IterateConfig, ctx: DesignContext, code: str, roles: Roles,
           emit: Events) -> Verdict:
    """Write the code and run the critic on it (`reward.critic.critique`); review.md and verdict.json land."""
    folder = store.candidate_dir(ctx.round, ctx.candidate)
    store.write_text(folder.relative_to(store.root) / "reward.py", code)
    emit("candidate", CandidateEvent(round=ctx.round, candidate=ctx.candidate, stage="checking"))
    found = critique(code, config.task, reviewer=roles.reviewer, task_text=ctx.task_text,
                     transitions=config.probe_transitions, seed=ctx.seed,
                     on_stage=lambda stage: emit("candidate", CandidateEvent(round=ctx.round, candidate=ctx.candidate,
                                                                             stage=stage)))
    if found.review is not None:
        store.write_text(folder.relative_to(store.root) / "review.md",
                         f"{found.review.prompt}\n\n---\n\n{found.review.response}\n")
    write_json_atomic(folder / "verdict.json", found.verdict.to_dict())
    return found.verdict


def _select(records: list[CandidateRecord]) -> CandidateRecord | None:
    """The best evaluated candidate (CandidateRecord.rank_key); the first one listed wins a tie."""
    evaluated = [c for c in records if c.status == "evaluated"]
    return max(evaluated, key=CandidateRecord.rank_key) if evaluated else None


def _analyse_round(store: RunStore, best: CandidateRecord, summary: dict[str, Any], ctx: DesignContext,
                   roles: Roles, found: list, comparison: list[str]) -> Analysis | None:
    """The analysis of the best candidate so far, which the next round's designer reads (analysis.md)."""
    r = ctx.round
    path = store.round_dir(r) / "analysis.json"
    if path.is_file():  # resumed after the analysis was written
        return Analysis.read(path)
    try:
        analysis = roles.analyzer.analyze(summary, ctx, found, comparison)
    except (LLMBudgetExceeded, LLMAuthError):
        raise
    except LLMError as exc:
        store.write_text(Path("rounds") / str(r) / "analysis.md", f"(analysis failed: {exc})\n")
        return None
    store.write_text(Path("rounds") / str(r) / "analysis.md",
                     f"# Analysis of round {best.round} candidate {best.candidate}\n\n{analysis.text}\n")
    write_json_atomic(path, analysis.to_dict())
    return analysis


def _read(store: RunStore, best: CandidateRecord | None, name: str) -> str | None:
    if best is None:
        return None
    return (store.candidate_dir(best.round, best.candidate) / name).read_text(encoding="utf-8")


def _validate(config: IterateConfig) -> None:
    card_for(config.task)
    for name in ("rounds", "candidates", "steps", "eval_episodes"):
        if getattr(config, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if config.repairs < 0:
        raise UsageError("--repairs must be 0 or more")
    if config.executor not in EXECUTORS:
        raise UsageError(f"--executor must be one of {', '.join(EXECUTORS)}, not {config.executor!r}")
    if config.gpus_per_candidate < 0:
        raise UsageError("--gpus-per-candidate must be 0 or more")


def _versions() -> dict[str, str]:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return {"autoreward": __version__, "python": platform.python_version(), "git": sha or "unknown",
            "prompts": PROMPT_VERSION}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

