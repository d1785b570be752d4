"""The suite's outputs and display: the markdown table, the plot, the splice into docs/benchmarks.md, the
machine it ran on, and the CLI's rich lines for its events."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from rich.markup import escape
from rich.table import Table

from autoreward.bench.suite_config import MARK_END, MARK_START, SECTION, SuiteConfig
from autoreward.io import printable, write_text_atomic
from autoreward.synth.executor import EVAL_SEED


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
    """The machine and commit the figures were measured on."""
    root = Path(__file__).resolve().parents[2]
    commit, dirty = _git(root, "rev-parse", "--short", "HEAD"), _git(root, "status", "--porcelain")
    return {"cpu_count": os.cpu_count(), "cpu": _cpu_name(), "python": platform.python_version(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"), "git_commit": commit, "git_dirty": bool(dirty)}


def _cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


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
            error = escape(printable(data["error"][:500]))
            print_(f"[red]{data['task']}  {data['variant']}{seed} failed:[/red] {error}")
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
