"""`autoreward bench suite`: every (task, variant) cell of a task suite, over seeds, resumable.

Variants (each trained for the same steps on the same seeds, evaluated on games seeded apart from training):

    sparse  the task reward alone (`autoreward.synth.baseline`, in the loop's own baseline cache, so the loop's
            confirmation of the baseline and this cell are the same trainings)
    loop    `autoreward iterate --llm offline`, searched on one seed, its answer confirmed on the suite's seeds
    expert  the hand-written example reward of the task (`examples/`); "n/a" for tasks without one
    calm    the task reward + CALM's subgoal bonus (`--calm`, offline judge)
    oni     the task reward + ONI's intrinsic reward (`--intrinsic oni:retrieval`, offline labeller)

Layout under `out` (default runs/suite):

    cells/<task>/<variant>.json     one cell: status, key (steps, seeds, ...), per-seed figures, mean, std
    runs/<task>/<variant>/seed<S>/  trainings and evaluations of expert, calm and oni
    loop/                           the loop's runs (loop/<run>/) and the baseline cache (loop/baselines/)

A cell is written as each of its seeds finishes, so a killed suite redoes only the missing seeds; a finished
cell whose key (steps, seeds, evaluation episodes, ...) matches is never recomputed, one with another key is
redone (reusing per-seed results whose budget matches). A loop cell records its run directory as soon as the
run starts; a later suite resumes that run (`iterate(resume=...)`) instead of starting a new one.

After every finished cell the results are written to `docs` (default docs/benchmarks): suite.json, suite.md
and suite.png; with the default folder the table is also spliced into docs/benchmarks.md between the
`<!-- suite:start -->` and `<!-- suite:end -->` lines. Library code: it prints nothing (`SuiteReporter` is
the CLI's display of the events).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoreward.bench.suite_config import (
    DEFAULT_DOCS,
    FINAL,
    Events,
    SuiteConfig,
    cell_key,
    cell_path,
    default_jobs,
    expert_reward,
)
from autoreward.bench.suite_report import machine_info, markdown_table, splice, write_plot
from autoreward.errors import TrainingError
from autoreward.evaluate import evaluate
from autoreward.io import write_json_atomic, write_text_atomic
from autoreward.synth import executor
from autoreward.synth.baseline import run_baseline
from autoreward.synth.executor import EVAL_SEED, LocalExecutor
from autoreward.synth.loop import iterate
from autoreward.synth.store import IterateConfig
from autoreward.train.config import CalmConfig, OniConfig, TrainConfig, WorkerConfig
from autoreward.train.ppo import configure_torch, train


def _budget(key: dict[str, Any]) -> dict[str, Any]:
    """The key less its seeds: per-seed results with the same budget are reused when the seeds change."""
    return {k: v for k, v in key.items() if k != "seeds"}


# ----- one seed of a non-loop variant (runs in a pool process, or here when --jobs is 1) ----------------------------
def run_seed(task: str, variant: str, seed: int, steps: int, eval_episodes: int, envs: int, device: str,
             out: str, reward: str | None) -> dict[str, Any]:
    """Train and evaluate one seed of a sparse/expert/calm/oni cell; returns its figures, raises on failure."""
    start = time.perf_counter()
    if variant == "sparse":
        figures = run_baseline(task, steps, seed, envs, eval_episodes, device, str(Path(out) / "loop" / "baselines"))
        return {"seed": seed, "success_rate": figures["success_rate"], "mean_return": figures["mean_return"],
                "steps": figures["steps"], "seconds": figures["train_seconds"],
                "wall_seconds": round(time.perf_counter() - start, 1), "cached": bool(figures.get("cached")),
                "dir": figures.get("dir")}
    extra: dict[str, Any] = {"expert": {"reward": reward}, "calm": {"calm": CalmConfig(enabled=True)},
                             "oni": {"oni": OniConfig(intrinsic="oni:retrieval")}}[variant]
    folder = Path(out) / "runs" / task / variant / f"seed{seed}"
    configure_torch()  # this process trains
    result = train(TrainConfig(task=task, steps=steps, seed=seed, envs=envs, device=device,
                               out=str(folder / "train"),
                               workers=WorkerConfig(cores=executor._CORES, spin_s=executor._SPIN_S), **extra))
    if not result.ok or result.policy is None:
        raise TrainingError(f"training stopped: {result.stopped_reason or 'no policy'}")
    evaluation = evaluate(task, result.policy, episodes=eval_episodes, seed=EVAL_SEED, out=folder)
    return {"seed": seed, "success_rate": evaluation.success_rate, "mean_return": evaluation.mean_return,
            "steps": result.steps, "seconds": round(result.seconds, 1),
            "wall_seconds": round(time.perf_counter() - start, 1), "cached": False, "dir": str(folder)}


# ----- the suite ---------------------------------------------------------------------------------------------------
class _Suite:
    def __init__(self, config: SuiteConfig, emit: Events) -> None:
        self.config, self.emit = config, emit
        self.out, self.docs = Path(config.out), Path(config.docs)
        self.cells: dict[tuple[str, str], dict[str, Any]] = {}
        self.machine: dict[str, Any] | None = None  # found once (git, torch); the date is each write's
        for task in config.tasks:  # what earlier suites left with the same key shows in the table from the start
            for variant in config.variants:
                old = _read(cell_path(self.out, task, variant))
                if old is not None and old.get("key") == cell_key(config, task, variant):
                    self.cells[(task, variant)] = old

    # cells -------------------------------------------------------------------------------------------------------
    def _new_cell(self, task: str, variant: str, status: str, **extra: Any) -> dict[str, Any]:
        c = self.config
        return {"task": task, "variant": variant, "status": status, "key": cell_key(c, task, variant),
                "steps": c.steps, "seeds": list(c.seeds), "eval_episodes": c.eval_episodes, "per_seed": [],
                "failures": [], "mean_success": None, "std_success": None, "mean_return": None, "error": None,
                "updated": _now(), **extra}

    def _save(self, cell: dict[str, Any]) -> None:
        cell["updated"] = _now()
        self.cells[(cell["task"], cell["variant"])] = cell
        write_json_atomic(cell_path(self.out, cell["task"], cell["variant"]), cell)

    def _finish(self, cell: dict[str, Any]) -> None:
        """Figures over the seeds, status, then the cell and every output are written."""
        order = {s: i for i, s in enumerate(self.config.seeds)}
        for name in ("per_seed", "failures"):
            cell[name].sort(key=lambda p: order.get(p.get("seed"), len(order)))
        _figures(cell)
        if cell["failures"]:
            cell["status"] = "failed"
            cell["error"] = "; ".join(f"seed {f['seed']}: {f['error']}" if f.get("seed") is not None else f["error"]
                                      for f in cell["failures"])
        else:
            cell["status"], cell["error"] = "done", None
        self._save(cell)
        self.emit("cell", {"cell": cell, "kept": False})
        self.write_outputs()

    def _prepare(self, task: str, variant: str) -> dict[str, Any] | None:
        """The cell to work on with its missing seeds, or None when it is final (kept, or n/a)."""
        key = cell_key(self.config, task, variant)
        if variant == "expert" and expert_reward(task) is None:
            old = _read(cell_path(self.out, task, variant))
            kept = old is not None and old.get("key") == key and old.get("status") == "n/a"
            if kept:
                self.cells[(task, variant)] = old
            else:
                self._save(self._new_cell(task, variant, "n/a", error="no hand-written reward for this task"))
            self.emit("cell", {"cell": self.cells[(task, variant)], "kept": kept})
            return None
        old = _read(cell_path(self.out, task, variant))
        if old is not None and old.get("key") == key and old.get("status") in FINAL:
            self.cells[(task, variant)] = old
            self.emit("cell", {"cell": old, "kept": True})
            return None
        cell = self._new_cell(task, variant, "running")
        if old is not None and variant != "loop" and _budget(old.get("key") or {}) == _budget(key):
            cell["per_seed"] = [p for p in old.get("per_seed", []) if p.get("seed") in self.config.seeds]
        if variant == "loop" and old is not None and old.get("key") == key:
            cell["run_dir"] = old.get("run_dir")
        return cell

    # non-loop variants -------------------------------------------------------------------------------------------
    def run_plain(self, task: str, variants: list[str]) -> None:
        c = self.config
        todo: list[tuple[dict[str, Any], int]] = []
        for variant in variants:
            cell = self._prepare(task, variant)
            if cell is None:
                continue
            done = {p["seed"] for p in cell["per_seed"]}
            missing = [s for s in c.seeds if s not in done]
            if not missing:
                self._finish(cell)
                continue
            self._save(cell)
            todo += [(cell, seed) for seed in missing]
        if not todo:
            return
        waiting = {id(cell): sum(1 for other, _ in todo if other is cell) for cell, _ in todo}

        def args(cell: dict[str, Any], seed: int) -> tuple[Any, ...]:
            reward = expert_reward(task) if cell["variant"] == "expert" else None
            return (task, cell["variant"], seed, c.steps, c.eval_episodes, c.envs, c.device, str(self.out),
                    None if reward is None else str(reward))

        def record(cell: dict[str, Any], seed: int, figures: dict[str, Any] | None,
                   error: BaseException | None) -> None:
            if error is None and figures is not None:
                cell["per_seed"].append(figures)
                self.emit("seed", {"task": task, "variant": cell["variant"], **figures})
            else:
                message = f"{type(error).__name__}: {error}"
                cell["failures"].append({"seed": seed, "error": message})
                self.emit("seed_failed", {"task": task, "variant": cell["variant"], "seed": seed, "error": message})
            waiting[id(cell)] -= 1
            if waiting[id(cell)]:
                self._save(cell)  # a killed suite keeps this seed
            else:
                self._finish(cell)

        jobs = c.jobs or default_jobs()
        if jobs <= 1 or len(todo) == 1:
            for cell, seed in todo:
                self.emit("seed_start", {"task": task, "variant": cell["variant"], "seed": seed})
                try:
                    figures = run_seed(*args(cell, seed))
                except Exception as exc:  # noqa: BLE001 - recorded; the suite goes on (Ctrl-C stops it)
                    record(cell, seed, None, exc)
                else:
                    record(cell, seed, figures, None)
            return
        self._run_in_pool(task, todo, args, record, min(jobs, len(todo)))

    def _run_in_pool(self, task: str, todo: list[tuple[dict[str, Any], int]], args: Callable[..., tuple[Any, ...]],
                     record: Callable[..., None], jobs: int) -> None:
        """`run_seed` of every (cell, seed) in `todo` in `jobs` spawned processes that die with the suite."""
        pool = LocalExecutor(jobs)
        finished = False
        try:
            running: dict[Future, tuple[dict[str, Any], int]] = {}
            for cell, seed in todo:
                self.emit("seed_start", {"task": task, "variant": cell["variant"], "seed": seed})
                running[pool.submit(run_seed, *args(cell, seed))] = (cell, seed)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    cell, seed = running.pop(future)
                    error = future.exception()
                    record(cell, seed, None if error else future.result(), error)
            finished = True
        finally:
            pool.shutdown(cancel=not finished)

    # loop --------------------------------------------------------------------------------------------------------
    def run_loop(self, task: str) -> None:
        cell = self._prepare(task, "loop")
        if cell is None:
            return
        c = self.config
        run_dir = cell.get("run_dir")
        self._save(cell)
        self.emit("seed_start", {"task": task, "variant": "loop", "seed": c.search_seed})

        def on_event(event: str, data: dict[str, Any]) -> None:
            if event == "run":
                cell["run_dir"] = data["dir"]
                self._save(cell)  # from now on a killed suite resumes this run
            self.emit("loop", {"task": task, "event": event, "data": data})

        start = time.perf_counter()
        try:
            if run_dir and _run_finished(Path(run_dir)):
                root = Path(run_dir)
            elif run_dir and (Path(run_dir) / "run.json").is_file():
                root = Path(_iterate(resume=run_dir, on_event=on_event).root)
            else:
                root = Path(_iterate(_loop_config(task, c, str(self.out / "loop")), on_event=on_event).root)
            cell["run_dir"] = str(root)
            cell.update(_loop_figures(root), seconds=round(time.perf_counter() - start, 1))
        except Exception as exc:  # noqa: BLE001 - recorded (the run dir stays, to resume); the suite goes on
            cell["failures"] = [{"seed": None, "error": f"{type(exc).__name__}: {exc}"}]
            self.emit("seed_failed", {"task": task, "variant": "loop", "seed": None,
                                      "error": cell["failures"][0]["error"]})
        else:
            for figures in cell["per_seed"]:
                self.emit("seed", {"task": task, "variant": "loop", **figures})
        self._finish(cell)

    # outputs -----------------------------------------------------------------------------------------------------
    def ordered_cells(self) -> list[dict[str, Any]]:
        return [self.cells[(t, v)] for t in self.config.tasks for v in self.config.variants if (t, v) in self.cells]

    def write_outputs(self) -> dict[str, Any]:
        self.docs.mkdir(parents=True, exist_ok=True)
        self.machine = {**(self.machine or machine_info()), "date": datetime.now(UTC).strftime("%Y-%m-%d")}
        machine = self.machine
        cells = self.ordered_cells()
        markdown = markdown_table(self.config, cells, machine)
        write_text_atomic(self.docs / "suite.md", markdown)
        plot, plot_error = self.docs / "suite.png", None
        try:
            write_plot(self.config, cells, plot)
        except ImportError as exc:
            plot, plot_error = None, f"no plot: {exc} (pip install matplotlib)"
        spliced = None
        if self.docs.resolve() == Path(DEFAULT_DOCS).resolve():
            spliced = self.docs.parent / "benchmarks.md"
            splice(spliced, markdown)
        outputs = {"json": str(self.docs / "suite.json"), "markdown": str(self.docs / "suite.md"),
                   "plot": None if plot is None else str(plot), "plot_error": plot_error,
                   "benchmarks_md": None if spliced is None else str(spliced)}
        write_json_atomic(self.docs / "suite.json", {"config": asdict(self.config), "machine": machine,
                                                     "updated": _now(), "outputs": outputs, "cells": cells})
        self.emit("written", outputs)
        return outputs


def run_suite(config: SuiteConfig, on_event: Events | None = None) -> dict[str, Any]:
    """Run (or resume) every cell of the suite; returns {"cells", "outputs", "failed"}. Raises only for bad
    input (UsageError) and interrupts: a failing cell is recorded and the suite goes on."""
    config.validate()
    suite = _Suite(config, on_event or (lambda event, data: None))
    plain = [v for v in config.variants if v != "loop"]
    for task in config.tasks:
        suite.run_plain(task, plain)  # sparse first: the loop's confirmation then finds its baselines trained
        if "loop" in config.variants:
            suite.run_loop(task)
    outputs = suite.write_outputs()
    cells = suite.ordered_cells()
    return {"cells": cells, "outputs": outputs, "failed": sum(1 for c in cells if c["status"] == "failed")}


# ----- the loop ----------------------------------------------------------------------------------------------------
def _iterate(config: Any = None, **kwargs: Any) -> Any:
    return iterate(config, **kwargs)


def _loop_config(task: str, config: SuiteConfig, out: str) -> Any:
    try:
        return IterateConfig(task=task, llm="offline", rounds=config.rounds, candidates=config.candidates,
                             steps=config.steps, seed=config.search_seed, eval_episodes=config.eval_episodes,
                             device=config.device, train_envs=config.envs, out=out,
                             confirm_seeds=len(config.seeds), confirm_seed_list=list(config.seeds))
    except TypeError as exc:
        raise TrainingError("this autoreward's loop cannot confirm its answer over seeds "
                            f"(IterateConfig has no confirm_seeds/confirm_seed_list): {exc}") from exc


def _run_finished(root: Path) -> bool:
    run = _read(root / "run.json")
    return bool(run and run.get("status") == "finished" and (root / "best" / "summary.json").is_file())


def _loop_figures(root: Path) -> dict[str, Any]:
    """The loop cell's figures: the confirmation entry of the run's answer in best/summary.json."""
    summary = _read(root / "best" / "summary.json")
    if summary is None:
        raise TrainingError(f"the loop run {root} has no best/summary.json")
    answer = summary.get("answer")
    name = "baseline" if answer == "baseline" else f"{summary.get('round')}/{summary.get('candidate')}"
    confirmation = summary.get("confirmation") or {}
    entry = next((e for e in confirmation.get("entries") or [] if e.get("name") == name), None)
    if entry is None:
        raise TrainingError(f"{root / 'best' / 'summary.json'} has no confirmation of its answer {name!r}")
    per_seed = [{"seed": p["seed"], "success_rate": p["success_rate"], "mean_return": p["mean_return"],
                 "steps": p.get("steps"), "seconds": None} for p in entry.get("per_seed") or []]
    return {"per_seed": per_seed, "answer": answer, "answer_name": name, "gain": summary.get("gain"),
            "round": summary.get("round"), "candidate": summary.get("candidate"), "message": summary.get("message"),
            "baseline": summary.get("baseline"), "confirmation_seeds": confirmation.get("seeds")}


# ----- figures and outputs -----------------------------------------------------------------------------------------
def _figures(cell: dict[str, Any]) -> None:
    rates = [float(p["success_rate"]) for p in cell["per_seed"]]
    returns = [float(p["mean_return"]) for p in cell["per_seed"]]
    cell["mean_success"] = round(statistics.fmean(rates), 6) if rates else None
    cell["std_success"] = round(statistics.stdev(rates), 6) if len(rates) > 1 else (0.0 if rates else None)
    cell["mean_return"] = round(statistics.fmean(returns), 6) if returns else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


