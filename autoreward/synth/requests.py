"""The rendered requests of the roles: what each one asks (an LLM) for a design, a repair, an analysis, a review.

Offline and LLM implementations render the same request, so that a run records in prompt.md what was asked
whichever role answered, and an offline run shows the prompt an LLM would have seen.
"""

from __future__ import annotations

import json

from autoreward.llm.base import Messages
from autoreward.llm.prompts import load_template, render
from autoreward.synth.comparison import format_comparison
from autoreward.synth.records import DesignContext, Lesson, Summary
from autoreward.synth.summary import format_component_stats, format_evaluation

_VARIATIONS = (  # candidates of a round differ in structure (what they pay), not only in weights
    "Write the design you judge best.",
    "Use a different structure from candidate 1: e.g. approach measured along walkable cells "
    "(state.path_to(target, avoid=(...))) instead of straight-line distance, or the other way round.",
    "Try a minimal structure: the goal and milestones paid once, no dense approach term.",
    "Emphasise exploration of unseen cells and avoiding what kills the agent.",
)


def messages_for(user: str) -> Messages:
    """The system prompt and one user message."""
    return [{"role": "system", "content": load_template("system").strip()}, {"role": "user", "content": user}]


def format_messages(messages: Messages) -> str:
    """The messages as the markdown recorded in prompt.md."""
    return "\n\n".join(f"## {m['role']}\n\n{m['content'].strip()}" for m in messages) + "\n"


def variation_text(ctx: DesignContext) -> str:
    """A per-candidate line, so that K candidates (and their cached LLM requests) differ."""
    hint = _VARIATIONS[ctx.candidate % len(_VARIATIONS)]
    return f"Candidate {ctx.candidate + 1} of round {ctx.round} (seed {ctx.seed}): {hint}"


def design_messages(ctx: DesignContext) -> Messages:
    """The request for a first-round design, or for a refinement when there is a best code."""
    if ctx.best_code is None:
        return messages_for(render("designer", card=ctx.card_text.strip(), variation=variation_text(ctx)))
    summary = ctx.best_summary or {}
    analysis = ctx.analysis.text.strip() if ctx.analysis is not None else "(no analysis)"
    comparison = format_comparison(ctx.analysis.comparison, ctx.analysis.lessons) if ctx.analysis is not None \
        else "- (nothing to compare yet)"
    user = render("designer_refine", card=ctx.card_text.strip(), best_code=ctx.best_code.strip(),
                  best_stats=format_component_stats(summary), best_eval=format_evaluation(summary),
                  comparison=comparison, analysis=analysis, variation=variation_text(ctx))
    return messages_for(user)


def repair_messages(ctx: DesignContext, code: str, errors: list[str]) -> Messages:
    """The request to fix code the critic rejected, with its errors."""
    return messages_for(render("designer_repair", card=ctx.card_text.strip(), code=code.strip(),
                               errors="\n".join(f"- {e}" for e in errors) or "- (none given)"))


def analysis_messages(summary: Summary, ctx: DesignContext, found: list[Lesson], comparison: list[str]) -> Messages:
    """The request to analyse a trained candidate: its code, its summary (without the code) and the facts."""
    shown = {k: v for k, v in summary.items() if k != "reward_code"}
    code = summary.get("reward_code") or ctx.best_code or "(the reward code is not available)"
    return messages_for(render("analyzer", task=ctx.task, task_text=ctx.task_text.strip(), code=code.strip(),
                               summary=json.dumps(shown, indent=1, default=str),
                               comparison=format_comparison(comparison, found)))


def review_request(**fields: str) -> tuple[Messages, str]:
    """The critic's review request (critic_review.txt) and its markdown: reward.review's reviewers render it
    through this, as reward/ sits below the templates."""
    messages = messages_for(render("critic_review", **fields))
    return messages, format_messages(messages)
