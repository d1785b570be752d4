"""The analyzer role: what happened when a policy was trained on a reward, and what to change next.

`build_summary` is plain code over a candidate's files (training metrics, evaluation, a few evaluated
episodes): per-component time series and final shares, constant and dominant components, the failure-cause
histogram, short failed trajectories, and flags such as "reward rose while success fell" (the policy found
reward without the task: possible hacking). `analyze` turns the summary into causes, unwanted behaviour and
edits, by offline rules or by an LLM, and writes the markdown the next designer reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autoreward.llm.base import LLM
from autoreward.llm.prompts import render
from autoreward.synth.extract import extract_json
from autoreward.synth.structure import describe_changes

if TYPE_CHECKING:
    from autoreward.synth.designer import DesignContext

SERIES_POINTS = 12  # time series are averaged into at most this many points
DOMINANT_SHARE = 0.75  # a component with this share of the absolute reward mass drowns the others
HACK_DROP = 0.15  # success this far below its training peak, at the end, counts as "fell"
TRAJECTORIES = 3
STEP_LINES_HEAD, STEP_LINES_TAIL, LINE_CHARS = 4, 10, 160
PROTECTED = ("goal",)  # never dropped: a reward must pay for the goal
# A death costs the task what a timeout costs (nothing): a penalty near the goal's size teaches standing still.
DEATH_WEIGHT = 0.2
MILESTONES = ("key", "door", "pickup", "reach", "command", "bridge")  # the offline designer's once-paid sub-goals


# ----- the code-built summary --------------------------------------------------------------------------------
def build_summary(candidate_dir: Path) -> dict[str, Any]:
    """Summarise a candidate's training metrics, evaluation and trajectories; missing files are listed."""
    candidate_dir = Path(candidate_dir)
    summary: dict[str, Any] = {"missing": [], "flags": []}  # no paths: the summary goes into prompts (cache keys)
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


def _read_json(path: Path, summary: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        summary["missing"].append(f"{path.name}: not found")
        return None
    except (OSError, json.JSONDecodeError) as exc:
        summary["missing"].append(f"{path.name}: unreadable ({exc})")
        return None
    return data if isinstance(data, dict) else None


def _read_jsonl(path: Path, summary: dict[str, Any]) -> list[dict[str, Any]] | None:
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


def _training(records: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    success = [r.get("success_rate") for r in records]
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


def _components(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
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


def _dominant(components: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
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


def format_component_stats(summary: dict[str, Any]) -> str:
    """Per-component statistics over training, as lines for the refine prompt."""
    training = summary.get("training")
    if not training:
        return "(no training metrics: " + "; ".join(summary.get("missing", [])) + ")"
    lines = [f"Training: {training['rollouts']} rollouts, {training['steps']} steps; success rate per rollout "
             f"{' '.join(_fmt(v) for v in training['success_rate_series'])}; shaped reward per step "
             f"{' '.join(_fmt(v) for v in training['reward_per_step_series'])}"]
    for name, stats in summary.get("components", {}).items():
        never_paid = stats["constant"] and stats["min"] == 0.0  # e.g. a milestone the policy never reached
        tags = [t for t, on in (("never paid", never_paid), ("constant", stats["constant"] and not never_paid),
                                ("dominant", (summary.get("dominant_component") or {}).get("component") == name))
                if on]
        lines.append(f"- {name}: share {_fmt(stats['final_share'])}, mean per step {_fmt(stats['final_mean'])} at the "
                     f"end (series {' '.join(_fmt(v) for v in stats['mean_series'])}), range [{_fmt(stats['min'])}, "
                     f"{_fmt(stats['max'])}]" + (f" ({', '.join(tags)})" if tags else ""))
    return "\n".join(lines)


def format_evaluation(summary: dict[str, Any]) -> str:
    """The evaluation and the failure causes, as lines for the refine prompt."""
    evaluation = summary.get("evaluation")
    if not evaluation:
        return "(no evaluation: " + "; ".join(summary.get("missing", [])) + ")"
    lengths = evaluation.get("episode_length") or {}
    causes = ", ".join(f"{cause} {n}" for cause, n in (evaluation.get("failure_causes") or {}).items()) or "none"
    return (f"success rate {_fmt(evaluation.get('success_rate'))} over {_fmt(evaluation.get('episodes'))} episodes; "
            f"mean task return {_fmt(evaluation.get('mean_return'))}; episode length mean {_fmt(lengths.get('mean'))}"
            f"; failure causes: {causes}")


# ----- the analysis ------------------------------------------------------------------------------------------------
@dataclass
class Analysis:
    """Why the run went as it did and what to change; `text` is the markdown the next designer reads."""

    causes: list[str]
    unwanted: list[str]
    edits: list[dict]
    text: str
    prompt: str = ""
    response: str = ""
    lessons: list[dict] = field(default_factory=list)  # what structural changes did to success (`lessons`)
    comparison: list[str] = field(default_factory=list)  # the best against the baseline and earlier rounds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----- comparisons: against the task reward alone, and between candidates ------------------------------------------
def lessons(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each evaluated candidate designed from an evaluated parent: what its changes did to success.

    `records` are CandidateRecord dicts; a lesson is {"candidate", "parent", "changes", "success",
    "parent_success", "effect", "text"}, e.g. "success fell from 36% to 0% when explore removed (1/1 vs 0/1)".
    """
    by_name = {f"{r['round']}/{r['candidate']}": r for r in records}
    out = []
    for record in records:
        parent = by_name.get(record.get("parent") or "")
        if record.get("status") != "evaluated" or parent is None or parent.get("status") != "evaluated" or \
                record is parent or not record.get("changes"):
            continue
        before, after = parent["success_rate"] or 0.0, record["success_rate"] or 0.0
        verb = "rose" if after > before else "fell" if after < before else "stayed"
        span = f"from {before:.0%} to {after:.0%}" if verb != "stayed" else f"at {after:.0%}"
        name = f"{record['round']}/{record['candidate']}"
        out.append({"candidate": name, "parent": record["parent"], "changes": list(record["changes"]),
                    "success": after, "parent_success": before, "effect": round(after - before, 4),
                    "text": f"success {verb} {span} with {describe_changes(record['changes'])} "
                            f"({name} vs {record['parent']})"})
    return out


def compare(best: dict[str, Any], baseline: dict[str, Any] | None, round_best: dict[str, Any] | None,
            r: int) -> list[str]:
    """Lines that put the best candidate against the task reward alone and say whether round `r` helped."""
    lines = []
    name = f"{best['round']}/{best['candidate']}"
    if baseline is not None and baseline.get("success_rate") is not None:
        gain = (best["success_rate"] or 0.0) - baseline["success_rate"]
        verdict = "beats" if gain > 0 else "ties with" if gain == 0 else "is worse than"
        lines.append(f"the best reward so far ({name}, success {best['success_rate']:.0%}) {verdict} the task reward "
                     f"alone (success {baseline['success_rate']:.0%}): {100 * gain:+.0f} points")
    if round_best is not None and (round_best["round"], round_best["candidate"]) != (best["round"], best["candidate"]):
        lines.append(f"round {r} made things worse: its best ({round_best['round']}/{round_best['candidate']}, "
                     f"success {(round_best['success_rate'] or 0.0):.0%}) is below {name} "
                     f"({best['success_rate']:.0%}); round {r + 1} starts again from {name}")
    return lines


def analyze(summary: dict[str, Any], ctx: DesignContext, llm: LLM | None, found: list[dict] | None = None,
            comparison: list[str] | None = None) -> Analysis:
    """Causes, unwanted behaviour and edits for a summary, from the LLM (analyzer.txt) or the offline rules.

    `found` (`lessons`) and `comparison` (`compare`) are facts computed by code: both the rules and the LLM
    see them, and the analysis carries them to the designer. An LLM answer that is not the JSON asked for
    falls back to the rules, and the analysis says so.
    """
    from autoreward.synth.designer import format_messages, messages_for

    found, comparison = list(found or []), list(comparison or [])
    shown = {k: v for k, v in summary.items() if k != "reward_code"}
    code = summary.get("reward_code") or ctx.best_code or "(the reward code is not available)"
    user = render("analyzer", task=ctx.task, task_text=ctx.task_text.strip(), code=code.strip(),
                  summary=json.dumps(shown, indent=1, default=str),
                  comparison=format_comparison(comparison, found))
    messages = messages_for(user)
    prompt = format_messages(messages)
    if llm is None:
        causes, unwanted, edits = offline_analysis(summary, ctx.baseline)
        text = analysis_markdown(summary, causes, unwanted, edits, source="offline rules (no LLM)",
                                 comparison=comparison, found=found)
        return Analysis(causes, unwanted, edits, text, prompt=prompt,
                        response=_offline_answer(causes, unwanted, edits), lessons=found, comparison=comparison)
    completion = llm.complete(messages, role="analyzer")
    parsed = _parse_answer(completion.text)
    if parsed is None:
        causes, unwanted, edits = offline_analysis(summary, ctx.baseline)
        source = (f"offline rules: the analyzer's answer ({completion.model}) was not the JSON asked for "
                  "(analysis unparseable)")
    else:
        causes, unwanted, edits = parsed
        source = f"LLM analyzer ({completion.model})"
    text = analysis_markdown(summary, causes, unwanted, edits, source=source, comparison=comparison, found=found)
    return Analysis(causes, unwanted, edits, text, prompt=prompt, response=completion.text, lessons=found,
                    comparison=comparison)


def format_comparison(comparison: list[str], found: list[dict]) -> str:
    """The comparison lines and lessons as the prompt text of analyzer.txt and designer_refine.txt."""
    lines = [f"- {line}" for line in comparison] + [f"- {lesson['text']}" for lesson in found]
    return "\n".join(lines) if lines else "- (nothing to compare yet)"


def _parse_answer(text: str) -> tuple[list[str], list[str], list[dict]] | None:
    data = extract_json(text)
    if data is None or not all(isinstance(data.get(key), list) for key in ("causes", "unwanted", "edits")):
        return None
    causes = [str(c) for c in data["causes"] if isinstance(c, (str, int, float))]
    unwanted = [str(u) for u in data["unwanted"] if isinstance(u, (str, int, float))]
    edits = [e for e in data["edits"] if isinstance(e, dict)]
    return causes, unwanted, edits


def _offline_answer(causes: list[str], unwanted: list[str], edits: list[dict]) -> str:
    body = json.dumps({"causes": causes, "unwanted": unwanted, "edits": edits}, indent=1)
    return f"# offline analyzer (rule-based, no LLM)\n\n```json\n{body}\n```\n"


def _cause_kind(cause: str) -> str:
    """Group an evaluator outcome: lava, water, monster, other death, stuck, timeout, other."""
    text = cause.lower()
    if text.startswith("death"):
        if "lava" in text or "burn" in text:
            return "lava"
        if "drown" in text or "water" in text:
            return "water"
        if "monster" in text or "killed" in text or "poison" in text:
            return "monster"
        return "death"
    return text if text in ("stuck", "timeout") else "other"


def offline_analysis(summary: dict[str, Any], baseline: dict[str, Any] | None = None
                     ) -> tuple[list[str], list[str], list[dict]]:
    """The rules: failure causes, what the reward encourages that the task does not want, and edits.

    With the baseline's figures (the task reward alone), a reward that does worse than no shaping is told so
    and its shaping is weakened."""
    causes: list[str] = []
    unwanted: list[str] = []
    edits: list[dict] = []
    evaluation = summary.get("evaluation") or {}
    training = summary.get("training") or {}
    components = summary.get("components") or {}
    success = evaluation.get("success_rate")
    if success is None:
        success = training.get("success_rate_final")
    episodes = evaluation.get("episodes") or 0

    for item in summary.get("missing", []):
        causes.append(f"missing data: {item}")
    if training.get("stopped"):
        causes.append(f"training stopped early: {training['stopped']}")
    for cause, count in sorted((summary.get("failure_causes") or {}).items(), key=lambda kv: -kv[1]):
        share = f"{count}/{episodes} episodes" if episodes else f"{count} episodes"
        causes.append(f"{share} ended as '{cause}'")
    kinds: dict[str, int] = {}
    for cause, count in (summary.get("failure_causes") or {}).items():
        kinds[_cause_kind(cause)] = kinds.get(_cause_kind(cause), 0) + count
    for name in summary.get("never_triggered", []):
        if name in MILESTONES:
            causes.append(f"component '{name}' never paid during training: the policy never reached that sub-goal")
        elif name == "approach":
            causes.append("component 'approach' was always 0: the target was never seen")

    threshold = max(1, int(0.2 * episodes)) if episodes else 1
    if kinds.get("lava", 0) >= threshold or kinds.get("water", 0) >= threshold:
        what = "lava" if kinds.get("lava", 0) >= kinds.get("water", 0) else "water"
        edits.append({"op": "add", "component": "death", "weight": DEATH_WEIGHT,
                      "reason": f"deaths in {what} are a main failure cause: penalise dying a little"})
    if kinds.get("monster", 0) + kinds.get("death", 0) >= threshold:
        edits.append({"op": "add", "component": "death", "weight": DEATH_WEIGHT,
                      "reason": "deaths are a main failure cause: penalise dying a little"})
        edits.append({"op": "add", "component": "hp", "weight": 0.05, "reason": "penalise hit points lost"})
    if kinds.get("stuck", 0) + kinds.get("timeout", 0) >= threshold:
        unwanted.append("the policy runs out of time (stuck in place or dithering between cells)")
        edits.append({"op": "add", "component": "dither", "weight": 0.01,
                      "reason": "timeouts and stuck episodes: penalise stepping straight back"})
        edits.append({"op": "add", "component": "explore", "weight": 0.01,
                      "reason": "timeouts and stuck episodes: reward new cells"})
    if success is not None and success == 0:
        edits.append({"op": "add", "component": "explore", "weight": 0.02,
                      "reason": "no success at all: strengthen exploration"})

    base = (baseline or {}).get("success_rate")
    if base is not None and success is not None and success < base:
        causes.append(f"the shaping does worse than the task reward alone ({success:.0%} against {base:.0%}): "
                      "it leads the policy away from what the sparse reward finds")
        for name in ("approach", "explore"):
            if name in components:
                edits.append({"op": "scale", "component": name, "factor": 0.5,
                              "reason": "below the task reward alone: weaken the shaping"})
    dominant = summary.get("dominant_component")
    if dominant and dominant["component"] not in PROTECTED and (success is None or success < 0.9):
        share = dominant["share"]
        factor = round(min(0.5, max(0.25, (1 - share) / share)), 3)  # towards half the mass, gently
        unwanted.append(f"component '{dominant['component']}' carries {share:.0%} of the reward mass and drowns the "
                        "others")
        edits.append({"op": "scale", "component": dominant["component"], "factor": factor,
                      "reason": f"it dominates the reward ({share:.0%} of the mass)"})
    for name in summary.get("constant_components", []):
        stats = components[name]
        if stats["min"] != 0.0 and name not in PROTECTED:
            unwanted.append(f"component '{name}' is the constant {stats['min']:g} on every step: it teaches nothing")
            edits.append({"op": "drop", "component": name, "reason": "constant on every step"})

    for flag in summary.get("flags", []):
        if "reward rose" in flag or "collects shaping" in flag:
            unwanted.append(flag)
            rising = _most_risen(components)
            if rising and rising not in PROTECTED:
                edits.append({"op": "scale", "component": rising, "factor": 0.5,
                              "reason": "its reward rose most while success did not: possibly farmed"})
            edits.append({"op": "scale", "component": "goal", "factor": 2.0,
                          "reason": "make completing the task worth more than the shaping"})
    return causes, unwanted, _merge(edits)


def _most_risen(components: dict[str, dict[str, Any]]) -> str | None:
    best, rise = None, 0.0
    for name, stats in components.items():
        series = [v for v in stats["mean_series"] if v is not None]
        if len(series) >= 2 and series[-1] - series[0] > rise:
            best, rise = name, series[-1] - series[0]
    return best


def _merge(edits: list[dict]) -> list[dict]:
    """One edit per (op, component): the first keeps its numbers, later reasons are appended."""
    merged: dict[tuple[str, str], dict] = {}
    for edit in edits:
        key = (edit["op"], edit["component"])
        if key in merged:
            merged[key]["reason"] += "; " + edit["reason"]
        else:
            merged[key] = dict(edit)
    return list(merged.values())


def analysis_markdown(summary: dict[str, Any], causes: list[str], unwanted: list[str], edits: list[dict],
                      source: str, comparison: list[str] | None = None, found: list[dict] | None = None) -> str:
    """The analysis as the markdown the next designer reads (analysis.md)."""
    lines = [f"Source: {source}.", "", "## Outcome",
             f"- Evaluation: {format_evaluation(summary)}"]
    lines += [f"- {line[0].upper()}{line[1:]}" for line in comparison or []]
    training = summary.get("training")
    if training:
        lines.append(f"- Training: success rate {_fmt(training['success_rate_final'])} at the end of "
                     f"{training['steps']} steps (best {_fmt(training['success_rate_max'])})")
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
