"""The report of one `autoreward train` output folder: its config and result, curves, components, evaluation."""

from __future__ import annotations

from pathlib import Path

from autoreward.report import plots
from autoreward.report.page import document, facts, image, join, section, status, tag
from autoreward.report.parts import episodes, evaluation, num, training_facts
from autoreward.synth.inspect import training_detail


def training_page(folder: str | Path) -> str:
    """The whole page of the training in `folder` (train.json and metrics.jsonl; a running one has no train.json)."""
    detail = training_detail(folder)
    config, result = detail["config"] or {}, detail["result"]
    state = "running (no train.json yet)" if result is None else \
        "finished" if result.get("stopped_reason") is None else "stopped"
    header = facts([("folder", detail["dir"]), ("status", status(state.split(" ")[0])),
                    ("task", config.get("task")), ("reward", config.get("reward") or "task reward alone"),
                    ("budget", None if not config.get("steps") else f"{int(config['steps']):,} steps"),
                    ("seed", config.get("seed")),
                    ("stopped because", None if result is None else result.get("stopped_reason")),
                    ("training time", None if result is None else f"{num(result.get('seconds'), 4)} s, "
                                                                 f"{num(result.get('sps'), 4)} steps/s"),
                    *training_facts(detail["metrics"])])
    figures = [("learning curve", plots.learning_curves({"training": detail["metrics"]})),
               ("reward components", plots.components(detail["metrics"])),
               ("evaluation outcomes", plots.outcomes(detail["eval"]))]
    shown = [join([tag("h3", title), image(uri, title)]) for title, uri in figures if uri is not None]
    body = [tag("h1", f"autoreward training: {config.get('task') or Path(detail['dir']).name}"), header,
            section("Plots", join(shown) if shown else tag("p", "no rollout recorded yet", cls="muted"), "plots"),
            section("Evaluation", join([evaluation(detail["eval"]), episodes(detail["trajectories"])]), "evaluation")]
    return document(f"autoreward report: {Path(detail['dir']).name}", join(body))
