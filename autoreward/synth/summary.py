"""The code-built summary of a trained candidate, and its text renderings for prompts and analysis.md.

`build_summary` is plain code over a candidate's files (training metrics, evaluation, a few evaluated
episodes): per-component time series and final shares, constant and dominant components, the failure-cause
histogram, short failed trajectories, and flags such as "reward rose while success fell" (the policy found
reward without the task: possible hacking). Both analyzers, offline and LLM, read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.synth.records import ComponentStats, Edit, Lesson, Summary, training_success
from autoreward.train.config import RECENT_EPISODES

SERIES_POINTS = 12  # time series are averaged into at most this many points
DOMINANT_SHARE = 0.75  # a component with this share of the absolute reward mass drowns the others
HACK_DROP = 0.15  # success this far below its training peak, at the end, counts as "fell"
TRAJECTORIES = 3
STEP_LINES_HEAD, STEP_LINES_TAIL, LINE_CHARS = 4, 10, 160


# ----- the code-built summary --------------------------------------------------------------------------------
def build_summary(candidate_dir: Path) -> Summary:
    """Summarise a candidate's training metrics, evaluation and trajectories; missing files are listed."""
    candidate_dir = Path(candidate_dir)
    summary: Summary = {"missing": [], "flags": []}  # no paths: the summary goes into prompts (cache keys)
    records = _read_jsonl(candidate_dir / "train" / "metrics.jsonl", summary)
    evaluation = _read_json(candidate_dir / "eval.json", summary)
    trajectories = _read_jsonl(candidate_dir / "trajectories.jsonl", summary)
    reward_file = candidate_dir / "reward.py"
    if reward_file.is_file():
        summary["reward_code"] = reward_file.read_text(encoding="utf-8")
    summary["training"] = _training(records, summary) if records else None
    summary["components"] = _components(records) if records else {}
    summary["constant_components"] = sorted(n for n, c in summary["components"].items() if c["constant"])
    summary["never_triggered"] = sorted(n for n, c in summary["components"].items()
                                        if c["constant"] and c["min"] == 0.0)
    summary["dominant_component"] = _dominant(summary["components"])
    summary["evaluation"] = _evaluation(evaluation) if evaluation else None
    summary["failure_causes"] = dict(evaluation.get("failure_causes", {})) if evaluation else {}
    summary["failed_trajectories"] = _failed(trajectories or [])
    return summary


def _read_json(path: Path, summary: Summary) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        summary["missing"].append(f"{path.name}: not found")
        return None
    except (OSError, json.JSONDecodeError) as exc:
        summary["missing"].append(f"{path.name}: unreadable ({exc})")
        return None
    return data if isinstance(data, dict) else None


def _read_jsonl(path: Path, summary: Summary) -> list[dict[str, Any]] | None:
    name = f"{path.parent.name}/{path.name}" if path.parent.name == "train" else path.name
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        summary["missing"].append(f"{name}: not found")
        return None
    records, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad += 1  # a run killed mid-write leaves a partial last line
            continue
        if isinstance(record, dict):
            records.append(record)
    if bad:
        summary["flags"].append(f"{name}: {bad} unreadable line(s) skipped")
    if not records:
        summary["missing"].append(f"{name}: empty")
        return None
    return records


def _series(values: list[float | None], points: int = SERIES_POINTS) -> list[float | None]:
    """`values` averaged into at most `points` consecutive buckets (None where a bucket has no value)."""
    if not values:
        return []
    out = []
    for bucket in np.array_split(np.arange(len(values)), min(points, len(values))):
        chunk = [values[i] for i in bucket if values[i] is not None]
        out.append(round(float(np.mean(chunk)), 6) if chunk else None)
    return out


def _tail_mean(values: list[float | None], fraction: float = 0.1) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return round(float(np.mean(present[-max(1, int(len(present) * fraction)):])), 6)


def _training(records: list[dict[str, Any]], summary: Summary) -> dict[str, Any]:
    success = [training_success(r) for r in records]  # over the last episodes ended, at each rollout
    reward = [(r.get("reward_total") or {}).get("mean") for r in records]
    training = {
        "rollouts": len(records),
        "steps": records[-1].get("steps"),
        "steps_series": _series([r.get("steps") for r in records]),
        "success_rate_series": _series(success),
        "success_rate_final": _tail_mean(success),
        "success_rate_max": max((v for v in [*_series(success), _tail_mean(success)] if v is not None), default=None),
        "reward_per_step_series": _series(reward),
        "task_return_series": _series([r.get("task_return_mean") for r in records]),
        "episode_length_series": _series([r.get("episode_length_mean") for r in records]),
    }
    stopped = next((r["stopped"] for r in reversed(records) if r.get("stopped")), None)
    if stopped:
        training["stopped"] = stopped
        summary["flags"].append(f"training stopped early: {stopped}")
    summary["flags"] += _hacking_flags(training["success_rate_series"], training["reward_per_step_series"])
    return training


def _hacking_flags(success: list[float | None], reward: list[float | None]) -> list[str]:
    """'Reward rose while success fell': success ended well below its peak while the reward kept rising."""
    pairs = [(s, r) for s, r in zip(success, reward, strict=False) if s is not None and r is not None]
    if len(pairs) < 4:
        return []
    s, r = zip(*pairs, strict=True)
    peak = int(np.argmax(s))
    flags = []
    if s[-1] <= s[peak] - HACK_DROP and r[-1] > r[peak] + 1e-3 + 0.05 * abs(r[peak]):
        flags.append(f"reward rose while success fell: success {s[peak]:.2f} -> {s[-1]:.2f} while the shaped reward "
                     f"per step went {r[peak]:.4g} -> {r[-1]:.4g} (possible reward hacking)")
    elif max(s) == 0 and r[-1] > r[0] + 1e-3 + 0.05 * abs(r[0]):
        flags.append(f"the shaped reward per step rose ({r[0]:.4g} -> {r[-1]:.4g}) while success stayed at 0: the "
                     "policy collects shaping without completing the task")
    return flags


def _components(records: list[dict[str, Any]]) -> dict[str, ComponentStats]:
    names = sorted({name for r in records for name in (r.get("components") or {})})
    out = {}
    for name in names:
        stats = [(r.get("components") or {}).get(name) for r in records]
        present = [s for s in stats if s]
        means = [s.get("mean") if s else None for s in stats]
        lo, hi = min(s.get("min", 0.0) for s in present), max(s.get("max", 0.0) for s in present)
        out[name] = {
            "mean_series": _series(means),
            "final_mean": _tail_mean(means),
            "final_share": _tail_mean([s.get("share") if s else None for s in stats]),
            "min": lo, "max": hi,
            "constant": lo == hi,
        }
    return out


def _dominant(components: dict[str, ComponentStats]) -> dict[str, Any] | None:
    if len(components) < 2:
        return None
    name, stats = max(components.items(), key=lambda item: item[1]["final_share"] or 0.0)
    share = stats["final_share"] or 0.0
    return {"component": name, "share": share} if share >= DOMINANT_SHARE else None


def _evaluation(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data.get(key) for key in ("success_rate", "mean_return", "episodes", "episode_length",
                                           "failure_causes", "greedy")}


def _failed(trajectories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A few failed episodes, each cut to its first and last steps (where it went wrong)."""
    out = []
    for episode in trajectories:
        if episode.get("success"):
            continue
        steps = [str(line)[:LINE_CHARS] for line in episode.get("steps", [])]
        if len(steps) > STEP_LINES_HEAD + STEP_LINES_TAIL:
            omitted = len(steps) - STEP_LINES_HEAD - STEP_LINES_TAIL
            steps = [*steps[:STEP_LINES_HEAD], f"... {omitted} lines omitted ...", *steps[-STEP_LINES_TAIL:]]
        out.append({"episode": episode.get("episode"), "outcome": episode.get("outcome"),
                    "length": episode.get("length"), "steps": steps,
                    "final": str(episode.get("final", ""))[:1200]})
        if len(out) == TRAJECTORIES:
            break
    return out


# ----- text renderings for prompts -----------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_component_stats(summary: Summary) -> str:
    """Per-component statistics over training, as lines for the refine prompt."""
    training = summary.get("training")
    if not training:
        return "(no training metrics: " + "; ".join(summary.get("missing", [])) + ")"
    success = " ".join(_fmt(v) for v in training["success_rate_series"])
    reward = " ".join(_fmt(v) for v in training["reward_per_step_series"])
    lines = [f"Training: {training['rollouts']} rollouts, {training['steps']} steps; success rate (last "
             f"{RECENT_EPISODES} episodes) per rollout {success}; shaped reward per step {reward}"]
    for name, stats in summary.get("components", {}).items():
        never_paid = stats["constant"] and stats["min"] == 0.0  # e.g. a milestone the policy never reached
        tags = [t for t, on in (("never paid", never_paid), ("constant", stats["constant"] and not never_paid),
                                ("dominant", (summary.get("dominant_component") or {}).get("component") == name))
                if on]
        lines.append(f"- {name}: share {_fmt(stats['final_share'])}, mean per step {_fmt(stats['final_mean'])} at the "
                     f"end (series {' '.join(_fmt(v) for v in stats['mean_series'])}), range [{_fmt(stats['min'])}, "
                     f"{_fmt(stats['max'])}]" + (f" ({', '.join(tags)})" if tags else ""))
    return "\n".join(lines)


def format_evaluation(summary: Summary) -> str:
    """The evaluation and the failure causes, as lines for the refine prompt."""
    evaluation = summary.get("evaluation")
    if not evaluation:
        return "(no evaluation: " + "; ".join(summary.get("missing", [])) + ")"
    lengths = evaluation.get("episode_length") or {}
    causes = ", ".join(f"{cause} {n}" for cause, n in (evaluation.get("failure_causes") or {}).items()) or "none"
    return (f"success rate {_fmt(evaluation.get('success_rate'))} over {_fmt(evaluation.get('episodes'))} episodes; "
            f"mean task return {_fmt(evaluation.get('mean_return'))}; episode length mean {_fmt(lengths.get('mean'))}"
            f"; failure causes: {causes}")


def analysis_markdown(summary: Summary, causes: list[str], unwanted: list[str], edits: list[Edit],
                      source: str, comparison: list[str] | None = None, found: list[Lesson] | None = None) -> str:
    """The analysis as the markdown the next designer reads (analysis.md)."""
    lines = [f"Source: {source}.", "", "## Outcome",
             f"- Evaluation: {format_evaluation(summary)}"]
    lines += [f"- {line[0].upper()}{line[1:]}" for line in comparison or []]
    training = summary.get("training")
    if training:
        lines.append(f"- Training: success rate {_fmt(training['success_rate_final'])} (last {RECENT_EPISODES} "
                     f"episodes) at the end of {training['steps']} steps (best {_fmt(training['success_rate_max'])})")
    lines += [f"- Flag: {flag}" for flag in summary.get("flags", [])]
    if found:
        lines += ["", "## What the structural changes did", *(f"- {lesson['text']}" for lesson in found)]
    lines += ["", "## Causes of failure", *([f"- {c}" for c in causes] or ["- none found"])]
    lines += ["", "## Unwanted behaviour", *([f"- {u}" for u in unwanted] or ["- none found"])]
    lines += ["", "## Edits for the next reward"]
    for edit in edits or [{}]:
        if not edit:
            lines.append("- none: keep the reward as it is")
            continue
        numbers = ", ".join(f"{k} {edit[k]}" for k in ("factor", "weight") if k in edit)
        lines.append(f"- {edit.get('op', '?')} {edit.get('component', '?')}" + (f" ({numbers})" if numbers else "")
                     + (f": {edit['reason']}" if edit.get("reason") else ""))
    for episode in summary.get("failed_trajectories", [])[:2]:
        lines += ["", f"## Failed episode {episode['episode']} ({episode['outcome']}, {episode['length']} steps)",
                  "```", *episode["steps"], "```"]
    return "\n".join(lines) + "\n"
