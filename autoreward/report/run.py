"""The report of an `autoreward iterate` run: header, candidate table, plots, then each round and candidate."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autoreward.report import plots
from autoreward.report.page import Html, code, document, facts, image, join, section, status, table, tag, text_block
from autoreward.report.parts import anchor, duration, episodes, evaluation, link, num, pct, training_facts
from autoreward.synth.inspect import candidate_detail, run_overview
from autoreward.synth.store import CandidateRecord

REASON_CHARS = 300  # a rejection's reason in the table (the candidate's section has all of it)


def run_page(root: str | Path) -> str:
    """The whole page of the run in `root`, from what it has written so far."""
    overview = run_overview(root)
    details = {f"{c['round']}/{c['candidate']}": candidate_detail(root, f"{c['round']}/{c['candidate']}")
               for c in overview["candidates"]}
    best = best_candidate(overview)
    body = [tag("h1", f"autoreward run: {overview['config'].get('task')}"), header(overview, best),
            section("Candidates", candidate_table(overview, details), "candidates"),
            section("Plots", run_plots(overview, details, best), "plots")]
    if overview.get("confirmation"):
        body.append(section("Confirmation on fresh seeds", confirmation_table(overview["confirmation"]), "confirm"))
    rounds = sorted({int(c["round"]) for c in overview["candidates"]})
    body += [round_section(r, details) for r in rounds]
    return document(f"autoreward report: {Path(overview['dir']).name}", join(body))


def best_candidate(overview: Mapping[str, Any]) -> str | None:
    """`R/K` of the answer when a candidate is the answer, else of the best evaluated candidate by the loop's
    selection order (task success, then return, then fewer steps); None when nothing was evaluated."""
    answer = overview.get("best") or {}
    if answer.get("answer") == "candidate" and answer.get("round") is not None:
        return f"{answer['round']}/{answer['candidate']}"
    records = [CandidateRecord(**c) for c in overview["candidates"] if c.get("status") == "evaluated"]
    if not records:
        return None
    top = max(records, key=CandidateRecord.rank_key)
    return top.name


def header(overview: Mapping[str, Any], best: str | None) -> Html:
    """The run in facts: task, designer, budget, LLM use, time, status and the answer."""
    config, llm = overview["config"], overview["llm"]
    record = next((c for c in overview["candidates"] if f"{c['round']}/{c['candidate']}" == best), None)
    answer = overview.get("best") or {}
    return facts([
        ("run", overview["dir"]), ("status", status(overview.get("status"))),
        ("task", config.get("task")), ("task text", overview.get("task_text")),
        ("designer (LLM)", config.get("llm")),
        ("budget", f"{config.get('rounds')} rounds × {config.get('candidates')} candidates × "
                   f"{int(config.get('steps') or 0):,} steps, {config.get('eval_episodes')} evaluation episodes"),
        ("LLM use", f"{llm['calls']} calls ({llm['cached']} cached), {llm['tokens']:,} tokens, ${llm['cost']:.4f}"),
        ("run time", duration(overview.get("started"), overview.get("ended"))),
        ("task reward alone", None if not overview.get("baseline") else
         f"{pct(overview['baseline'].get('success_rate'))} success (same seed and budget)"),
        ("best candidate", None if record is None else
         join([link(best), f": {pct(record.get('success_rate'))} evaluated success, "
                           f"mean task return {num(record.get('mean_return'))}"])),
        ("answer", answer.get("message")),
    ])


def candidate_table(overview: Mapping[str, Any], details: Mapping[str, Mapping[str, Any]]) -> Html:
    """Every candidate in a row, linked to its section."""
    rows = []
    for c in overview["candidates"]:
        name = f"{c['round']}/{c['candidate']}"
        verdict = details[name]["verdict"] or {}
        stage = "" if not verdict else f"{verdict.get('stage')} ({'accepted' if verdict.get('accepted') else 'no'})"
        reason = c.get("reason") or "; ".join(verdict.get("errors") or [])
        rows.append([link(name), status(c.get("status")), stage, reason[:REASON_CHARS],
                     pct(c.get("success_rate")), num(c.get("mean_return")), num(c.get("sps"), 4),
                     f"${float(c.get('llm_cost') or 0.0):.4f}"])
    if not rows:
        return tag("p", "no candidate yet", cls="muted")
    return table(["candidate", "status", "verdict stage", "errors / reason", "success", "mean return", "steps/s",
                  "LLM cost"], rows, numeric=frozenset({4, 5, 6, 7}))


def confirmation_table(confirmation: Mapping[str, Any]) -> Html:
    """The top candidates and the task reward alone retrained on fresh seeds: success per seed and the means."""
    seeds = list(confirmation.get("seeds") or [])
    rows = []
    for entry in confirmation.get("entries") or []:
        per_seed = {p.get("seed"): p.get("success_rate") for p in entry.get("per_seed") or []}
        name = entry.get("name") or ""
        rows.append([("task reward alone" if name == "baseline" else link(name)),
                     *[pct(per_seed.get(s)) for s in seeds], pct(entry.get("mean_success")),
                     num(entry.get("mean_return"))])
    return table(["reward", *[f"seed {s}" for s in seeds], "mean success", "mean return"], rows,
                 numeric=frozenset(range(1, len(seeds) + 3)))


def run_plots(overview: Mapping[str, Any], details: Mapping[str, Mapping[str, Any]], best: str | None) -> Html:
    """The run's plots: every training's curves, the best by round, and the best candidate's components and
    evaluation outcomes."""
    figures = [
        ("learning curves of every candidate", plots.learning_curves({n: d["metrics"] for n, d in details.items()})),
        ("evaluated success by round", plots.best_so_far(overview["candidates"], overview.get("baseline"))),
    ]
    if best is not None:
        figures += [(f"reward components of the best candidate, {best}", plots.components(details[best]["metrics"])),
                    (f"evaluation outcomes of the best candidate, {best}", plots.outcomes(details[best]["eval"]))]
    shown = [join([tag("h3", title), image(uri, title)]) for title, uri in figures if uri is not None]
    return join(shown) if shown else tag("p", "nothing trained yet", cls="muted")


def round_section(r: int, details: Mapping[str, Mapping[str, Any]]) -> Html:
    """A round: the analysis written after it, then each of its candidates."""
    names = [n for n in details if int(n.split("/")[0]) == r]
    analysis = next((details[n]["analysis"] for n in names if details[n]["analysis"]), None)
    body = [tag("h3", "analysis"), code(analysis, "markdown") if analysis else tag("p", "no analysis", cls="muted")]
    body += [candidate_section(n, details[n]) for n in names]
    return section(f"Round {r}", join(body), f"round-{r}")


def candidate_section(name: str, detail: Mapping[str, Any]) -> Html:
    """One candidate: its record, code and the diff from its parent, the critic's verdict and review, the
    evaluation and its episodes."""
    record = detail["record"]
    about = facts([("status", status(record.get("status"))), ("reason", record.get("reason")),
                   ("parent", None if not record.get("parent") else link(record["parent"])),
                   ("structure", ", ".join(record.get("structure") or []) or None),
                   ("changes from the parent", "; ".join(record.get("changes") or []) or None),
                   ("designer attempts", record.get("attempts")), ("duplicate of", record.get("duplicate_of")),
                   *training_facts(detail["metrics"])])
    body = [tag("h3", join(["candidate ", name]), id=anchor(name)), about,
            tag("h4", "reward code"), code(detail["code"], "python") if detail["code"] else
            tag("p", "no reward code", cls="muted")]
    if detail["parent_diff"] is not None:
        diff = code(detail["parent_diff"], "diff") if detail["parent_diff"] else tag("p", "identical", cls="muted")
        body.append(tag("details", join([tag("summary", f"diff against the parent, {record['parent']}"), diff])))
    body += [verdict_block(detail["verdict"], detail["review"]), tag("h4", "evaluation"),
             evaluation(detail["eval"]), episodes(detail["trajectories"])]
    return tag("div", join(body), cls="candidate")


def verdict_block(verdict: Mapping[str, Any] | None, review: str | None) -> Html:
    """The critic's verdict (stage, errors, warnings, notes) and the review it asked for (folded)."""
    if not verdict:
        return tag("p", "no verdict", cls="muted")
    lines = [f"{kind}: {line}" for kind in ("errors", "warnings", "info") for line in verdict.get(kind) or []]
    parts = [tag("h4", f"critic: {'accepted' if verdict.get('accepted') else 'rejected'} at stage "
                       f"{verdict.get('stage')}")]
    if lines:
        parts.append(text_block("\n".join(lines)))
    if review:
        parts.append(tag("details", join([tag("summary", "the review"), code(review, "markdown")])))
    return join(parts)
