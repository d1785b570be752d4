"""The seams between the loop and its roles: protocols, the one place that picks implementations, the critic entry."""

from __future__ import annotations

import json

import autoreward.synth.loop as loop
from autoreward.calm.decompose import (
    Decomposer,
    LLMDecomposer,
    OfflineDecomposer,
    decompose,
    decomposer_for,
)
from autoreward.cli import main
from autoreward.env.registry import card_for
from autoreward.llm.base import Completion, LLMError
from autoreward.reward.contract import describe_task
from autoreward.reward.critic import check, critique
from autoreward.reward.review import LLMReviewer, Reviewer, RuleReviewer
from autoreward.synth.analyzer import LLMAnalyzer
from autoreward.synth.designer import LLMDesigner
from autoreward.synth.offline.analyzer import OfflineAnalyzer
from autoreward.synth.offline.designer import OfflineDesigner
from autoreward.synth.records import DesignContext
from autoreward.synth.roles import Analyzer, Designer, roles_for
from autoreward.synth.store import IterateConfig
from autoreward.synth.summary import build_summary

KEYROOM = "MiniHack-KeyRoom-S5-v0"
REWARD = "def compute_reward(prev, action, state, memory):\n    return (1.0 if state.success else 0.0), {}\n"


class ScriptedLLM:
    """The LLM protocol with canned answers."""

    model = "scripted"

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.roles: list[str] = []

    def complete(self, messages, role, **params):
        self.roles.append(role)
        return Completion(text=self.answers.pop(0), model=self.model, prompt_tokens=1, completion_tokens=1)


def _context() -> DesignContext:
    card = card_for(KEYROOM)
    return DesignContext(task=KEYROOM, task_text=card.task(KEYROOM).goal, card_text=describe_task(KEYROOM), round=0,
                         candidate=0, seed=0)


def test_roles_for_picks_offline_roles_without_an_llm_and_llm_roles_with_one():
    offline = roles_for(None)
    assert isinstance(offline.designer, OfflineDesigner) and isinstance(offline.reviewer, RuleReviewer)
    assert isinstance(offline.analyzer, OfflineAnalyzer)
    llm = roles_for(ScriptedLLM())
    assert isinstance(llm.designer, LLMDesigner) and isinstance(llm.reviewer, LLMReviewer)
    assert isinstance(llm.analyzer, LLMAnalyzer)
    for roles in (offline, llm):
        assert isinstance(roles.designer, Designer) and isinstance(roles.reviewer, Reviewer)
        assert isinstance(roles.analyzer, Analyzer)


def test_both_implementations_answer_through_the_protocols(tmp_path):
    ctx = _context()
    answer = json.dumps({"causes": ["c"], "unwanted": [], "edits": []})
    llm = ScriptedLLM(f"```python\n{REWARD}```", f"```python\n{REWARD}```", '{"accepted": true, "errors": [], '
                      '"warnings": []}', answer)
    summary = build_summary(tmp_path)
    for roles in (roles_for(None), roles_for(llm)):
        designer: Designer = roles.designer
        reviewer: Reviewer = roles.reviewer
        analyzer: Analyzer = roles.analyzer
        made = designer.design(ctx)
        assert made.code and "compute_reward" in made.code and "## user" in made.prompt
        assert designer.repair(ctx, made.code, ["an error"]).code
        opinion = reviewer.review(REWARD, ctx.task, ctx.task_text, {}, ctx.seed)
        assert opinion.accepted, opinion.errors
        assert analyzer.analyze(summary, ctx).text.startswith("Source:")
    assert llm.roles == ["designer", "repair", "review", "analyzer"]


def test_the_loop_picks_offline_roles_for_llm_offline_and_llm_roles_for_a_model(tmp_path, monkeypatch):
    picked = []
    monkeypatch.setattr(loop, "_search", lambda store, config, roles, pool, emit: picked.append(roles))
    loop.iterate(IterateConfig(task=KEYROOM, llm="offline", out=str(tmp_path), rounds=1, candidates=1))
    loop.iterate(IterateConfig(task=KEYROOM, llm="openai/test-model", llm_api_base="http://127.0.0.1:9",
                               out=str(tmp_path), rounds=1, candidates=1))
    offline, llm = picked
    assert isinstance(offline.designer, OfflineDesigner) and isinstance(offline.reviewer, RuleReviewer)
    assert isinstance(llm.designer, LLMDesigner) and isinstance(llm.analyzer, LLMAnalyzer)


def test_decomposers_satisfy_the_protocol_and_decompose_picks_them():
    offline = decomposer_for(None)
    llm = ScriptedLLM('{"subgoals": [{"name": "pick_up_key", "description": "The key is held."}, '
                      '{"name": "reach_stairs", "description": "On the stairs."}]}')
    asked = decomposer_for(llm)
    assert isinstance(offline, OfflineDecomposer) and isinstance(asked, LLMDecomposer)
    assert isinstance(offline, Decomposer) and isinstance(asked, Decomposer)
    card = card_for(KEYROOM)
    goal = card.task(KEYROOM).goal
    assert offline.decompose(KEYROOM, goal, card.summary) == decompose(KEYROOM)
    assert [s.name for s in asked.decompose(KEYROOM, goal, card.summary)] == ["pick_up_key", "reach_stairs"]
    assert llm.roles == ["calm_decompose"]


def test_critique_without_a_reviewer_is_stages_one_and_two():
    source = REWARD
    alone = check(source, KEYROOM, transitions=64)
    entry = critique(source, KEYROOM, transitions=64)
    assert entry.review is None and entry.verdict.stage == alone.stage == "probe"
    assert (entry.verdict.accepted, entry.verdict.errors) == (alone.accepted, alone.errors)


def test_critique_skips_a_review_whose_llm_fails_with_a_warning():
    class Down:
        def review(self, code, task, task_text, probe_stats, seed=0):
            raise LLMError("down")

    stages: list[str] = []
    entry = critique(REWARD, KEYROOM, reviewer=Down(), transitions=64, on_stage=stages.append)
    assert stages == ["reviewing"] and entry.verdict.accepted and entry.verdict.stage == "probe"
    assert any("review skipped: LLM call failed: down" in w for w in entry.verdict.warnings)


def test_check_with_llm_offline_runs_the_review(tmp_path, capsys):
    reward = tmp_path / "reward.py"
    reward.write_text(REWARD)
    assert main(["check", str(reward), "--task", KEYROOM, "--transitions", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stage"] == "probe"
    assert main(["check", str(reward), "--task", KEYROOM, "--transitions", "64", "--llm", "offline", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stage"] == "review"
