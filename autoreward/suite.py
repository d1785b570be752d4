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

import hashlib
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoreward.errors import TrainingError, UsageError
from autoreward.io import write_json_atomic, write_text_atomic
from autoreward.synth.executor import EVAL_SEED
from autoreward.train.worker import DEFAULT_ENVS

VARIANTS = ("sparse", "loop", "expert", "calm", "oni")

# Cheap envs (thousands of random steps/s; no MultiRoom: MiniHack recompiles its level file at every reset),
# one or two per kind of difficulty.
DEFAULT_TASKS = (
    "MiniHack-KeyRoom-S5-v0",        # keys and doors: pick up, APPLY at the locked door, stairs (has an expert)
    "MiniHack-LockedDoor-v0",        # doors: KICK a locked door open
    "MiniHack-LavaCrossingS9N1-v0",  # hazard: lava kills, one gap to find
    "MiniHack-River-Narrow-v0",      # hazard: water, crossed by pushing a boulder into it
    "MiniHack-Room-Trap-5x5-v0",     # hazard: hidden traps
    "MiniHack-Room-Monster-5x5-v0",  # hazard: a monster that attacks
    "MiniHack-MazeWalk-9x9-v0",      # maze: dark corridors, dead ends
    "MiniHack-Room-Dark-15x15-v0",   # dark room: explore to find the stairs
    "MiniHack-Corridor-R3-v0",       # dark corridors joining 3 rooms (multi-room without MultiRoom's cost)
    "MiniHack-Eat-v0",               # skill: pick up and EAT the apple
    "MiniHack-Wear-v0",              # skill: pick up and WEAR the robe
    "MiniHack-Room-15x15-v0",        # plain navigation, far stairs (has an expert)
)

EXPERT_REWARDS = {  # task -> hand-written example reward in examples/
    "MiniHack-KeyRoom-S5-v0": "minihack_keyroom_s5.py",
    "MiniHack-Room-15x15-v0": "minihack_room_15x15.py",
}

DEFAULT_SEEDS = (1, 2, 3)
DEFAULT_STEPS = 150_000
DEFAULT_OUT = "runs/suite"
DEFAULT_DOCS = "docs/benchmarks"
MARK_START, MARK_END = "<!-- suite:start -->", "<!-- suite:end -->"
SECTION = "## Task suite (`autoreward bench suite`)"
FINAL = ("done", "n/a")  # statuses a rerun keeps; "failed" and "running" cells are (re)done

Events = Callable[[str, dict[str, Any]], None]


@dataclass
class SuiteConfig:
    """What a suite runs (saved in suite.json)."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    steps: int = DEFAULT_STEPS
    seeds: list[int] = field(default_factory=lambda: list(DEFAULT_SEEDS))
    search_seed: int = 0  # the loop's search seed; its answer is then confirmed on `seeds`
    rounds: int = 2
    candidates: int = 2
    eval_episodes: int = 50
    out: str = DEFAULT_OUT
    docs: str = DEFAULT_DOCS
    jobs: int = 0  # trainings at once for sparse/expert/calm/oni; 0: default_jobs()
    device: str = "auto"
    envs: int = DEFAULT_ENVS  # envs per training: the loop's default, so sparse cells share its baselines

    def validate(self) -> SuiteConfig:
        """Check the config (UsageError naming what is wrong); returns it with duplicates removed."""
        from autoreward.env.card import card_for

        self.tasks, self.variants, self.seeds = _unique(self.tasks), _unique(self.variants), _unique(self.seeds)
        if not self.tasks:
            raise UsageError("--tasks needs at least one task")
        for task in self.tasks:
            card_for(task)  # UsageError naming close matches
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise UsageError(f"unknown variant{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                             f"use one or more of {', '.join(VARIANTS)}" if unknown else
                             f"--variants needs at least one of {', '.join(VARIANTS)}")
        if not self.seeds:
            raise UsageError("--seeds needs at least one seed")
        for name in ("steps", "eval_episodes", "rounds", "candidates", "envs"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.jobs < 0:
            raise UsageError(f"--jobs must be 0 (auto) or more, got {self.jobs}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"unknown device {self.device!r}: use auto, cpu or cuda")
        return self


def default_jobs() -> int:
    """Half the cores: each training keeps about two processes busy (the trainer and its env worker)."""
    return max(1, (os.cpu_count() or 1) // 2)


def expert_reward(task: str) -> Path | None:
    """The hand-written example reward of `task`, or None when it has none."""
    from autoreward.paths import data_dir

    name = EXPERT_REWARDS.get(task)
    return None if name is None else data_dir("examples") / name


def cell_path(out: str | Path, task: str, variant: str) -> Path:
    return Path(out) / "cells" / task / f"{variant}.json"


def cell_key(config: SuiteConfig, task: str, variant: str) -> dict[str, Any]:
    """What a cell's figures depend on: a cell with another key is redone."""
    key: dict[str, Any] = {"steps": config.steps, "seeds": list(config.seeds), "eval_episodes": config.eval_episodes,
                           "envs": config.envs}
    if variant == "loop":
        key.update(search_seed=config.search_seed, rounds=config.rounds, candidates=config.candidates)
    if variant == "expert":
        path = expert_reward(task)
        key["reward_sha256"] = None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return key


def _budget(key: dict[str, Any]) -> dict[str, Any]:
    """The key less its seeds: per-seed results with the same budget are reused when the seeds change."""
    return {k: v for k, v in key.items() if k != "seeds"}


# ----- one seed of a non-loop variant (runs in a pool process, or here when --jobs is 1) ----------------------------
def run_seed(task: str, variant: str, seed: int, steps: int, eval_episodes: int, envs: int, device: str,
             out: str, reward: str | None) -> dict[str, Any]:
    """Train and evaluate one seed of a sparse/expert/calm/oni cell; returns its figures, raises on failure."""
    start = time.perf_counter()
    if variant == "sparse":
        from autoreward.synth.baseline import run_baseline

        figures = run_baseline(task, steps, seed, envs, eval_episodes, device, str(Path(out) / "loop" / "baselines"))
        return {"seed": seed, "success_rate": figures["success_rate"], "mean_return": figures["mean_return"],
                "steps": figures["steps"], "seconds": figures["train_seconds"],
                "wall_seconds": round(time.perf_counter() - start, 1), "cached": bool(figures.get("cached")),
                "dir": figures.get("dir")}
    from autoreward.evaluate import evaluate
    from autoreward.synth import executor
    from autoreward.train.config import CalmConfig, OniConfig, TrainConfig, WorkerConfig
    from autoreward.train.ppo import configure_torch, train

    extra: dict[str, Any] = {"expert": {"reward": reward}, "calm": {"calm": CalmConfig(enabled=True)},
                             "oni": {"oni": OniConfig(intrinsic="oni:retrieval")}}[variant]
    folder = Path(out) / "runs" / task / variant / f"seed{seed}"
    configure_torch()  # this process trains
    result = train(TrainConfig(task=task, steps=steps, seed=seed, envs=envs, device=device,
                               out=str(folder / "train"), workers=WorkerConfig(spin_s=executor._SPIN_S), **extra))
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
        from autoreward.synth.executor import LocalExecutor

        pool = LocalExecutor(min(jobs, len(todo)))  # spawned processes that die with the suite
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
    from autoreward.synth.loop import iterate

    return iterate(config, **kwargs)


def _loop_config(task: str, config: SuiteConfig, out: str) -> Any:
    from autoreward.synth.store import IterateConfig

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


def cell_text(cell: dict[str, Any] | None, sparse: dict[str, Any] | None = None) -> str:
    """A table cell: "mean% ± std" (std over seeds, in points); the loop's adds its gain over sparse."""
    if cell is None:
        return "…"
    status = cell["status"]
    if status in ("n/a", "failed"):
        return status
    if status == "running":
        return f"running ({len(cell['per_seed'])}/{len(cell['seeds'])} seeds)"
    text = f"{cell['mean_success']:.0%} ± {100 * cell['std_success']:.0f}"
    if cell["variant"] == "loop":
        if sparse is not None and sparse.get("status") == "done":
            gain = cell["mean_success"] - sparse["mean_success"]
        else:
            gain = cell.get("gain")
        if gain is not None:
            text += f" ({100 * gain:+.0f} vs sparse)"
        if cell.get("answer") == "baseline":
            text += " †"
    return text


def markdown_table(config: SuiteConfig, cells: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    by = {(c["task"], c["variant"]): c for c in cells}
    seeds = ", ".join(map(str, config.seeds))
    commit = (machine["git_commit"] or "?") + (" (with local changes)" if machine["git_dirty"] else "")
    lines = [f"Evaluated success, mean ± std over seeds {seeds} ({config.steps:,} training steps per run, "
             f"{config.eval_episodes} evaluation episodes seeded apart from training, seed {EVAL_SEED}); measured "
             f"{machine['date']} at commit {commit} "
             f"on {machine['cpu_count']} CPUs{', ' + machine['gpu'] if machine['gpu'] else ''}, torch "
             f"{machine['torch']}.", "",
             "| task | " + " | ".join(config.variants) + " |",
             "|---|" + "---|" * len(config.variants)]
    for task in config.tasks:
        row = [cell_text(by.get((task, v)), by.get((task, "sparse"))) for v in config.variants]
        lines.append(f"| {task} | " + " | ".join(row) + " |")
    lines += ["", f"sparse: the task reward alone; loop: `autoreward iterate --llm offline` ({config.rounds} rounds × "
              f"{config.candidates} candidates, searched on seed {config.search_seed}, its answer retrained on the "
              "seeds above; gain in points over sparse; † the loop answered the task reward alone); expert: the "
              "hand-written example reward (n/a: none for the task); calm: + CALM subgoal bonus (offline judge); "
              "oni: + ONI intrinsic reward (`oni:retrieval`, offline labeller)."]
    failed = [c for c in cells if c["status"] == "failed"]
    for c in failed:
        lines.append(f"- {c['task']} {c['variant']} failed: {(c.get('error') or '?').splitlines()[0][:200]}")
    return "\n".join(lines) + "\n"


def write_plot(config: SuiteConfig, cells: list[dict[str, Any]], path: Path) -> None:
    """Grouped bars: evaluated success per task (groups) and variant (bars), mean with std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(c["task"], c["variant"]): c for c in cells}
    tasks, variants = config.tasks, config.variants
    width = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(tasks) + 2), 4.5))
    try:
        for i, variant in enumerate(variants):
            xs, means, stds = [], [], []
            for j, task in enumerate(tasks):
                cell = by.get((task, variant))
                x = j - 0.4 + width * (i + 0.5)
                if cell is not None and cell["status"] == "done":
                    xs.append(x)
                    means.append(100 * cell["mean_success"])
                    stds.append(100 * cell["std_success"])
                elif cell is not None and cell["status"] in ("n/a", "failed"):
                    ax.text(x, 1, cell["status"], rotation=90, ha="center", va="bottom", fontsize=6, color="grey")
            ax.bar(xs, means, width, yerr=stds, capsize=2, label=variant, color=f"C{i}")
        ax.set_xticks(range(len(tasks)))
        ax.set_xticklabels([t.removeprefix("MiniHack-").removesuffix("-v0") for t in tasks], rotation=30,
                           ha="right", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("evaluated success (%)")
        ax.set_title(f"{config.steps:,} steps, seeds {', '.join(map(str, config.seeds))}, "
                     f"{config.eval_episodes} eval episodes", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)


def splice(path: Path, table: str) -> None:
    """Put `table` between the suite markers of `path` (adding the section at its end when they are missing)."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    block = f"{MARK_START}\n{table.rstrip()}\n{MARK_END}"
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(MARK_END):]
    else:
        intro = "" if SECTION in text else (
            f"\n{SECTION}\n\n```bash\n.venv/bin/autoreward bench suite   # resumable: rerun it to go on\n```\n\n"
            "Each (task, variant) cell trains PPO on every seed and evaluates the policy by the task's own success "
            "(`runs/suite/cells/` holds the per-seed figures; `docs/benchmarks/suite.json` and `suite.png` the "
            "whole suite).\n")
        text = text.rstrip("\n") + "\n" + intro + "\n" + block + "\n"
    write_text_atomic(path, text)


def machine_info() -> dict[str, Any]:
    import torch

    root = Path(__file__).resolve().parent.parent
    commit, dirty = _git(root, "rev-parse", "--short", "HEAD"), _git(root, "status", "--porcelain")
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"), "git_commit": commit, "git_dirty": bool(dirty)}


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _unique(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ----- display (the CLI's) -----------------------------------------------------------------------------------------
class SuiteReporter:
    """Turns the suite's events into rich lines: one per finished seed, cell and loop candidate."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.running: dict[tuple[str, str, Any], None] = {}  # what trains now, in the status line
        self.status: Any = None

    def __enter__(self) -> SuiteReporter:
        self.status = self.console.status("starting...")
        self.status.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.status is not None:
            self.status.stop()

    def _update(self) -> None:
        if self.status is not None:
            shown = ", ".join(f"{t.removeprefix('MiniHack-')} {v} seed {s}" for t, v, s in self.running)
            self.status.update(f"training: {shown}" if shown else "writing...")

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        from rich.markup import escape

        if event == "seed_start":
            self.running[(data["task"], data["variant"], data["seed"])] = None
        elif event in ("seed", "seed_failed"):
            self.running.pop((data["task"], data["variant"], data.get("seed")), None)
        elif event == "cell":
            cell = data["cell"]
            for key in [k for k in self.running if k[:2] == (cell["task"], cell["variant"])]:
                del self.running[key]
        self._update()
        print_ = self.console.print
        if event == "seed":
            seconds = data.get("wall_seconds") if data.get("wall_seconds") is not None else data.get("seconds")
            took = "" if seconds is None else f", {seconds:.0f} s" + (" (cached)" if data.get("cached") else "")
            print_(f"{data['task']}  {data['variant']}  seed {data['seed']}: success "
                   f"[bold]{data['success_rate']:.0%}[/bold] (return {data['mean_return']:.3f}{took})")
        elif event == "seed_failed":
            seed = "" if data.get("seed") is None else f" seed {data['seed']}"
            print_(f"[red]{data['task']}  {data['variant']}{seed} failed:[/red] {escape(data['error'][:500])}")
        elif event == "cell":
            cell = data["cell"]
            if data.get("kept"):
                print_(f"[dim]{cell['task']}  {cell['variant']}: {cell_text(cell)} (kept from an earlier run)[/dim]")
            elif cell["status"] == "done":
                print_(f"{cell['task']}  {cell['variant']}: [bold]{cell_text(cell)}[/bold]")
        elif event == "loop":
            info = data["data"]
            if data["event"] == "run":
                print_(f"{data['task']}  loop: {'resuming' if info.get('resumed') else 'run'} {info['dir']}")
            elif data["event"] == "candidate" and info.get("stage") in ("evaluated", "rejected", "failed"):
                record = info.get("record") or {}
                rate = record.get("success_rate")
                print_(f"[dim]{data['task']}  loop: candidate {info['round']}/{info['candidate']} {info['stage']}"
                       f"{'' if rate is None else f', success {rate:.0%}'}[/dim]")

    def summary(self, report: dict[str, Any], config: SuiteConfig) -> None:
        from rich.table import Table

        by = {(c["task"], c["variant"]): c for c in report["cells"]}
        table = Table(title=f"Task suite: success over seeds {', '.join(map(str, config.seeds))}, "
                            f"{config.steps:,} steps")
        table.add_column("task")
        for variant in config.variants:
            table.add_column(variant, justify="right")
        for task in config.tasks:
            table.add_row(task, *[cell_text(by.get((task, v)), by.get((task, "sparse"))) for v in config.variants])
        self.console.print(table)
        outputs = report["outputs"]
        written = [p for p in (outputs["json"], outputs["markdown"], outputs["plot"], outputs["benchmarks_md"]) if p]
        self.console.print("written: " + ", ".join(written))
        if outputs.get("plot_error"):
            self.console.print(f"[yellow]{outputs['plot_error']}[/yellow]")
