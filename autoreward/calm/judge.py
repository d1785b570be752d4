"""Judgement: which subgoals one transition achieved, asked of an LLM (strict JSON) or decided by rules.

- `judge_prompt` / `batch_prompt`: the request for one rendered transition or a numbered batch of them.
- `check_judgement`: strict checking of one decoded answer (`json` only): exactly the given subgoal names, each a
  real boolean; anything else is no judgement (a batch answer is checked item by item, `annotate.calm_task`).
- `judge`: the LLM path (one retry with a correction, then None, "no judgement", never a label).
- `offline_judge` (from `autoreward.calm.offline`): rules that read the rendered text only (what an LLM would
  see): an honest baseline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from autoreward.calm.ask import ask_json
from autoreward.calm.offline import offline_judge
from autoreward.calm.subgoals import Subgoal
from autoreward.llm.base import LLM
from autoreward.llm.prompts import load_template, render

__all__ = ["batch_prompt", "check_judgement", "judge", "judge_prompt", "offline_judge", "prompt_version"]
TEMPLATE, BATCH_TEMPLATE = "calm_judge", "calm_judge_batch"
Judgement = dict[str, bool]


# ----- prompts --------------------------------------------------------------------------------------------
def prompt_version(template: str = TEMPLATE) -> str:
    """Short hash of a judge template: a changed prompt never mixes its judgements with the old ones."""
    return hashlib.sha256(load_template(template).encode("utf-8")).hexdigest()[:12]


def format_subgoals(subgoals: Sequence[Subgoal]) -> str:
    return "\n".join(f"- {s.name}: {s.description}" for s in subgoals)


def example_answer(subgoals: Sequence[Subgoal]) -> str:
    """The expected answer shape: every name, false."""
    return json.dumps(dict.fromkeys((s.name for s in subgoals), False))


def judge_prompt(transition_text: str, subgoals: Sequence[Subgoal], task: str) -> str:
    """The judgement request for one rendered transition (`task`: the task's goal in words)."""
    return render(TEMPLATE, task=task.strip(), subgoals=format_subgoals(subgoals), transition=transition_text,
                  example=example_answer(subgoals))


def batch_prompt(transition_texts: Sequence[str], subgoals: Sequence[Subgoal], task: str) -> str:
    """One request judging several transitions: a numbered list, answered as {"1": {...}, "2": {...}}."""
    items = "\n\n".join(f"Step {n}:\n{text}" for n, text in enumerate(transition_texts, 1))
    example = json.dumps({str(n): dict.fromkeys((s.name for s in subgoals), False)
                          for n in range(1, min(len(transition_texts), 2) + 1)})
    return render(BATCH_TEMPLATE, count=str(len(transition_texts)), task=task.strip(),
                  subgoals=format_subgoals(subgoals), items=items, example=example)


# ----- strict parsing -------------------------------------------------------------------------------------
def check_judgement(value: Any, names: Sequence[str]) -> Judgement:
    """A decoded judgement: a JSON object with exactly `names` as keys, each true or false; else ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of subgoal names, got {json.dumps(value)[:80]}")
    missing, extra = [n for n in names if n not in value], sorted(set(value) - set(names))
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra
                                                                           else [])
        raise ValueError(f"the keys must be exactly {', '.join(names)}: {'; '.join(parts)}")
    for name in names:
        if not isinstance(value[name], bool):
            raise ValueError(f"{name}: expected true or false, got {json.dumps(value[name])[:50]}")
    return {name: value[name] for name in names}


# ----- judges ---------------------------------------------------------------------------------------------
def judge(transition_text: str, subgoals: Sequence[Subgoal], llm: LLM, task: str = "") -> Judgement | None:
    """The LLM's judgement of one transition; None ("no judgement") when two answers are out of schema."""
    names = [s.name for s in subgoals]
    value, _reason = ask_json(llm, judge_prompt(transition_text, subgoals, task),
                              lambda data: check_judgement(data, names), role="calm_judge",
                              example=example_answer(subgoals))
    return value
