"""The LLM analyzer: what happened when a policy was trained on a reward, and what to change next.

It sends the code-built summary (`synth.summary`) and the code-computed facts (`synth.comparison`) with the
analyzer.txt request, and reads causes, unwanted behaviour and edits from a strict JSON answer. An answer that
is not that JSON falls back to the offline rules (`synth.offline.analyzer`), and the analysis says so.
"""

from __future__ import annotations

from autoreward.llm.base import LLM
from autoreward.reward.extract import extract_json
from autoreward.synth.offline.analyzer import offline_analysis
from autoreward.synth.records import Analysis, DesignContext, Edit, Lesson, Summary
from autoreward.synth.requests import analysis_messages, format_messages
from autoreward.synth.summary import analysis_markdown


class LLMAnalyzer:
    """The Analyzer role asked of an LLM (role "analyzer")."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def analyze(self, summary: Summary, ctx: DesignContext, found: list[Lesson] | None = None,
                comparison: list[str] | None = None) -> Analysis:
        """Causes, unwanted behaviour and edits for a summary; the rules' when the answer is not the JSON asked."""
        found, comparison = list(found or []), list(comparison or [])
        messages = analysis_messages(summary, ctx, found, comparison)
        completion = self.llm.complete(messages, role="analyzer")
        parsed = _parse_answer(completion.text)
        if parsed is None:
            causes, unwanted, edits = offline_analysis(summary, ctx.baseline)
            source = (f"offline rules: the analyzer's answer ({completion.model}) was not the JSON asked for "
                      "(analysis unparseable)")
        else:
            causes, unwanted, edits = parsed
            source = f"LLM analyzer ({completion.model})"
        text = analysis_markdown(summary, causes, unwanted, edits, source=source, comparison=comparison, found=found)
        return Analysis(causes, unwanted, edits, text, prompt=format_messages(messages), response=completion.text,
                        lessons=found, comparison=comparison)


def _parse_answer(text: str) -> tuple[list[str], list[str], list[Edit]] | None:
    data = extract_json(text)
    if data is None or not all(isinstance(data.get(key), list) for key in ("causes", "unwanted", "edits")):
        return None
    causes = [str(c) for c in data["causes"] if isinstance(c, (str, int, float))]
    unwanted = [str(u) for u in data["unwanted"] if isinstance(u, (str, int, float))]
    edits = [e for e in data["edits"] if isinstance(e, dict)]
    return causes, unwanted, edits
