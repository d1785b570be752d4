"""The roles of the synthesis loop: prompts, extraction, designer, review (critic stage 3), analyzer.

Offline roles run for real (critic probes on real environments); LLM paths run against a scripted LLM that
answers what a test gives it, including answers that are not what was asked for.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from autoreward.env.registry import card_for
from autoreward.llm import prompts
from autoreward.llm.answers import json_object
from autoreward.llm.base import Completion, LLMBudgetExceeded, LLMError
from autoreward.llm.prompts import PROMPT_VERSION, PromptError, render
from autoreward.reward.contract import describe_task
from autoreward.reward.critic import check
from autoreward.reward.extract import extract_code, extract_json
from autoreward.reward.review import Review
from autoreward.synth.offline.analyzer import offline_analysis
from autoreward.synth.offline.designer import OFFLINE_MARK, proposals
from autoreward.synth.offline.recipe import recipe_for
from autoreward.synth.records import Analysis, Design, DesignContext
from autoreward.synth.roles import roles_for
from autoreward.synth.structure import changes, describe_changes, read_weights, structure_of
from autoreward.synth.summary import build_summary, format_component_stats
from tests.common import ROOT

KEYROOM = "MiniHack-KeyRoom-S5-v0"
ROOM = "MiniHack-Room-15x15-v0"
LAVA = "MiniHack-LavaCrossingS9N1-v0"


class ScriptedLLM:
    """Implements the LLM protocol with canned answers (or exceptions), recording every request."""

    model = "scripted"

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, list[dict[str, str]]]] = []

    def complete(self, messages, role, **params):
        self.calls.append((role, messages))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Completion(text=answer, model=self.model, prompt_tokens=10, completion_tokens=5)


def design(ctx: DesignContext, llm) -> Design:
    """The designer `roles_for(llm)` picks (offline without an LLM)."""
    return roles_for(llm).designer.design(ctx)


def repair(ctx: DesignContext, code: str, errors: list[str], llm) -> Design:
    return roles_for(llm).designer.repair(ctx, code, errors)


def review(code: str, ctx: DesignContext, probe_stats: dict, llm) -> Review:
    """Critic stage 3 by the reviewer `roles_for(llm)` picks, given the context's plain fields."""
    return roles_for(llm).reviewer.review(code, ctx.task, ctx.task_text, probe_stats, ctx.seed)


def analyze(summary: dict, ctx: DesignContext, llm) -> Analysis:
    return roles_for(llm).analyzer.analyze(summary, ctx)


def context(task: str, candidate: int = 0, seed: int = 0, card_text: str = "(card)", **extra) -> DesignContext:
    return DesignContext(task=task, task_text=card_for(task).task(task).goal, card_text=card_text, round=0,
                         candidate=candidate, seed=seed, **extra)


# ----- extraction ------------------------------------------------------------------------------------------------
REWARD = "def compute_reward(prev, action, state, memory):\n    return 0.0, {}\n"


def test_extract_from_prose_and_fence_variants():
    for fence in ("```python", "```py", "```", "```Python3"):
        response = f"Here is my reward.\n\n{fence}\nSCALE = 2\n{REWARD}```\nIt pays nothing. Hope it helps!"
        code = extract_code(response)
        assert code == f"SCALE = 2\n{REWARD}", fence


def test_extract_unterminated_fence_and_trailing_prose():
    assert extract_code(f"Sure:\n```python\n{REWARD}") == REWARD
    # an unterminated block that ends in prose keeps the code that parses
    assert extract_code(f"```python\n{REWARD}\nThis reward is simple.") == REWARD


def test_extract_bare_code_inside_prose():
    response = f"The reward below pays nothing.\n\nimport math\n\n{REWARD}\nThat is all."
    assert extract_code(response) == f"import math\n\n{REWARD}"


def test_extract_nothing_when_there_is_no_compute_reward():
    assert extract_code("I cannot write this reward.") is None
    assert extract_code("```python\ndef helper(x):\n    return x\n```") is None
    assert extract_code("") is None


def test_extract_joins_helper_blocks_and_prefers_the_block_with_compute_reward():
    response = ("First a helper:\n```python\nFAR = 20\n\ndef clip(d):\n    return min(d, FAR)\n```\n"
                "Usage:\n```python\nprint(clip(3))\n```\n"
                "The config:\n```json\n{\"scale\": 1}\n```\n"
                "And the reward:\n```python\ndef compute_reward(prev, action, state, memory):\n"
                "    return 0.0, {\"x\": float(clip(1))}\n```\n")
    code = extract_code(response)
    assert "FAR = 20" in code and "def clip(d)" in code and "def compute_reward" in code
    assert "print(" not in code and "scale" not in code
    assert code.index("def clip") < code.index("def compute_reward")


def test_extract_keeps_the_last_of_repeated_definitions():
    first = "def compute_reward(prev, action, state, memory):\n    return 1.0, {'a': 1.0}\n"
    second = "def compute_reward(prev, action, state, memory):\n    return 2.0, {'a': 2.0}\n"
    one_block = extract_code(f"```python\nK = 1\n{first}\n\n{second}```")
    assert one_block.count("def compute_reward") == 1 and "2.0" in one_block and "K = 1" in one_block
    draft_then_final = extract_code(f"Draft:\n```python\n{first}```\nFixed:\n```python\n{second}```")
    assert draft_then_final.count("def compute_reward") == 1 and "2.0" in draft_then_final


def test_extract_json_fenced_bare_and_first():
    assert extract_json('Verdict:\n```json\n{"accepted": true, "errors": []}\n```') == {"accepted": True, "errors": []}
    assert extract_json('I think {"accepted": false, "errors": ["x"]} and {"other": 1}') == {
        "accepted": False, "errors": ["x"]}
    assert extract_json("{'accepted': True}") == {"accepted": True}  # Python-style dict
    assert extract_json("no json here {not: valid") is None
    assert extract_json("[1, 2]") is None


def test_json_finders_stay_quick_and_quiet_on_hostile_answers():
    nested = '{"a":[' * 20_000  # deeper than the JSON decoder's recursion limit: was a RecursionError
    junk = "{" * 20_000  # every brace a failed start: was ~11 s in extract_json (a scan to the end from each)
    quoted_code = "{x} {'y': f'{z}'} " * 200  # an answer quoting code before its verdict: 800 braces first
    for finder in (extract_json, json_object):
        start = time.perf_counter()
        assert finder(nested) is None and finder(junk) is None
        assert time.perf_counter() - start < 3.0
        assert finder(quoted_code + '{"accepted": true}') == {"accepted": True}
        assert finder('{"accepted": false} ' + junk) == {"accepted": False}


# ----- prompts ----------------------------------------------------------------------------------------------------
def test_render_refuses_missing_and_unknown_fields():
    with pytest.raises(PromptError, match=r"missing field.*variation"):
        render("designer", card="x")
    with pytest.raises(PromptError, match=r"unknown field.*colour"):
        render("designer", card="x", variation="y", colour="z")
    with pytest.raises(PromptError, match="no prompt template"):
        prompts.load_template("no_such_template")


def test_templates_render_with_literal_braces_and_have_a_version():
    text = render("critic_review", task="T", task_text="goal", code="x = {1: 2}", probe_stats="-", checks="-")
    assert '{"accepted": true or false' in text and "x = {1: 2}" in text
    assert re.fullmatch(r"[0-9a-f]{12}", PROMPT_VERSION)
    for name in ("system", "designer", "designer_repair", "designer_refine", "critic_review", "analyzer"):
        fields = {f: "v" for f in prompts.template_fields(name)}
        assert render(name, **fields)


# ----- offline designer -------------------------------------------------------------------------------------------
TASKS = [KEYROOM, ROOM, "MiniHack-MultiRoom-N2-v0", "MiniHack-Corridor-R2-v0", LAVA, "MiniHack-River-v0",
         "MiniHack-Eat-v0", "MiniHack-Wear-v0"]


@pytest.mark.parametrize("task", TASKS)
def test_offline_design_passes_the_critic(task):
    result = design(context(task), None)
    assert result.error is None and result.response.startswith(OFFLINE_MARK)
    assert result.code in result.response  # the response shows the code it gives
    verdict = check(result.code, task, transitions=128)
    assert verdict.accepted, verdict.errors
    assert review(result.code, context(task), verdict.probe_stats, None).accepted


def test_offline_candidates_of_a_round_differ_in_structure_and_are_deterministic():
    structures = [sorted(structure_of(design(context(KEYROOM, candidate=k), None).code)) for k in range(4)]
    assert len({tuple(s) for s in structures}) == 4  # not just weights: components or distance kind differ
    assert "distance: path" in structures[0]  # the recipe's first candidate measures approach along paths
    assert {"distance: straight"} & set(structures[1] + structures[2] + structures[3])
    assert design(context(KEYROOM, candidate=3), None).code == design(context(KEYROOM, candidate=3), None).code
    # more candidates than structural changes: the rest rescale weights, by seed
    many = proposals(context(KEYROOM), recipe_for(KEYROOM, card_for(KEYROOM).task(KEYROOM).goal))
    late = len(many) + 1
    assert design(context(KEYROOM, candidate=late, seed=7), None).code != \
        design(context(KEYROOM, candidate=late, seed=1), None).code
    verdict = check(design(context(KEYROOM, candidate=2), None).code, KEYROOM, transitions=64)
    assert verdict.accepted, verdict.errors


def test_offline_refinement_skips_tried_structures_and_changes_that_hurt():
    best = design(context(LAVA), None).code
    recipe = recipe_for(LAVA, card_for(LAVA).task(LAVA).goal)
    base = sorted(structure_of(best))
    lessons = [{"changes": ["+explore"], "effect": -0.3, "text": "success fell from 30% to 0% with explore added"}]
    ctx = context(LAVA, best_code=best, parent="0/0", tried=[base, sorted(structure_of(
        design(context(LAVA, candidate=1), None).code))],
                  analysis=Analysis(causes=[], unwanted=[], edits=[], text="", lessons=lessons))
    plans = proposals(ctx, recipe)
    shown = [p.structure(recipe) for p in plans]
    assert base not in shown[1:] and all("explore" not in s for s in shown)
    assert any("skipped: add explore" in note for p in plans for note in p.notes)
    assert len({tuple(s) for s in shown}) == len(shown)


def test_offline_design_reads_the_task():
    keyroom = read_weights(design(context(KEYROOM), None).code)
    assert {"key", "door", "approach", "goal"} <= set(keyroom) and "death" not in keyroom
    lava = read_weights(design(context(LAVA), None).code)  # hazards: walked around by path, not feared
    assert "death" not in lava and "approach" in lava
    eat = design(context("MiniHack-Eat-v0"), None).code
    assert '"apple"' in eat and "want to eat" in eat


def test_offline_design_records_the_rendered_prompt():
    card = describe_task(KEYROOM)
    result = design(context(KEYROOM, card_text=card), None)
    assert card.strip() in result.prompt and "## system" in result.prompt and "## user" in result.prompt


def _summary(tmp_path: Path, name: str, records: list[dict], evaluation: dict | None = None,
             trajectories: list[dict] | None = None) -> dict:
    folder = tmp_path / name
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if evaluation is not None:
        (folder / "eval.json").write_text(json.dumps(evaluation))
    if trajectories is not None:
        (folder / "trajectories.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trajectories))
    return build_summary(folder)


def _record(i: int, success: float, components: dict[str, tuple[float, float, float, float]],
            reward: float = 0.01) -> dict:
    return {"rollout": i, "steps": 1024 * (i + 1), "success_rate": success, "task_return_mean": success,
            "episode_length_mean": 100.0, "reward_total": {"mean": reward, "min": -1.0, "max": 1.0},
            "components": {name: {"mean": m, "min": lo, "max": hi, "share": share}
                           for name, (m, lo, hi, share) in components.items()}}


def _eval(success: float, causes: dict[str, int], episodes: int = 20) -> dict:
    return {"success_rate": success, "mean_return": 0.0, "episodes": episodes, "failure_causes": causes,
            "episode_length": {"mean": 150.0, "min": 20, "max": 200}, "outcomes": []}


def _refine(task: str, summary: dict, candidate: int = 0) -> dict[str, float]:
    best = design(context(task), None).code
    ctx = context(task, candidate=candidate, best_code=best, best_summary=summary)
    ctx.analysis = analyze(summary, ctx, None)
    new = design(ctx, None)
    assert check(new.code, task, transitions=64).accepted
    return read_weights(new.code)


def test_refine_scales_down_a_dominant_component(tmp_path):
    records = [_record(i, 0.1, {"approach": (0.05, -0.5, 0.5, 0.95), "goal": (0.001, 0, 1, 0.05)}) for i in range(8)]
    summary = _summary(tmp_path, "dominant", records, _eval(0.1, {"timeout": 18}))
    assert summary["dominant_component"]["component"] == "approach"
    before = read_weights(design(context(ROOM), None).code)
    after = _refine(ROOM, summary)
    assert after["approach"] < before["approach"]


def test_refine_adds_a_lava_penalty_after_deaths_in_lava(tmp_path):
    records = [_record(i, 0.2, {"approach": (0.01, -0.5, 0.5, 0.6), "goal": (0.01, 0, 1, 0.4)}) for i in range(8)]
    summary = _summary(tmp_path, "lava", records, _eval(0.2, {"death: burned (lava)": 14, "timeout": 2}))
    assert "death" not in read_weights(design(context(ROOM), None).code)
    assert _refine(ROOM, summary)["death"] > 0


def test_refine_strengthens_exploration_when_nothing_succeeds(tmp_path):
    records = [_record(i, 0.0, {"approach": (0.0, -0.1, 0.1, 0.5), "explore": (0.001, 0, 0.01, 0.5),
                                "goal": (0.0, 0, 0, 0.0)}) for i in range(8)]
    summary = _summary(tmp_path, "zero", records, _eval(0.0, {"timeout": 20}))
    task = "MiniHack-Corridor-R2-v0"
    before = read_weights(design(context(task), None).code)
    after = _refine(task, summary)
    assert after["explore"] > before["explore"]
    assert "dither" in after  # timeouts: anti-dithering


def test_offline_repair_regenerates_then_falls_back_to_a_minimal_reward():
    ctx = context(KEYROOM)
    foreign = "WEIGHTS = {'key': 2.0}\ndef compute_reward(prev, action, state, memory):\n    return open('x'), {}\n"
    regenerated = repair(ctx, foreign, ["line 3: `open` is not allowed"], None)
    assert "regenerated" in regenerated.response and "open(" not in regenerated.code
    assert read_weights(regenerated.code)["key"] == 2.0
    fallback = repair(ctx, regenerated.code, ["some error"], None)
    assert "minimal" in fallback.response and fallback.error is None
    assert set(read_weights(fallback.code)) == {"approach", "goal"}
    assert check(fallback.code, KEYROOM, transitions=64).accepted
    assert repair(ctx, fallback.code, ["still failing"], None).error is not None


# ----- review (critic stage 3) --------------------------------------------------------------------------------------
NEAR_KEY = '''
def compute_reward(prev, action, state, memory):
    goal = 1.0 if state.success else 0.0
    d = state.distance_to("key")
    near = 0.1 if d is not None and d <= 2 else 0.0
    return goal + near, {"goal": goal, "near_key": near}
'''
NO_GOAL = '''
def compute_reward(prev, action, state, memory):
    if "seen" not in memory:
        memory["seen"] = {prev.pos}
    bonus = 0.0
    if state.pos not in memory["seen"]:
        memory["seen"].add(state.pos)
        bonus = 0.01
    return bonus, {"explore": bonus}
'''


def test_review_rejects_a_farmable_reward():
    result = review(NEAR_KEY, context(KEYROOM), {}, None)
    assert not result.accepted
    assert any("farmable" in e and "near_key" in e for e in result.errors), result.errors


def test_review_rejects_a_reward_without_a_goal_term():
    result = review(NO_GOAL, context(KEYROOM), {}, None)
    assert not result.accepted
    assert any("goal" in e for e in result.errors) and not any("farmable" in e for e in result.errors)


def test_review_passes_the_expert_example():
    source = (ROOT / "examples" / "minihack_keyroom_s5.py").read_text()
    result = review(source, context(KEYROOM), {}, None)
    assert result.accepted, result.errors
    assert "offline critic review" in result.response and "Checklist" in result.prompt


def test_review_warns_on_magnitude_imbalance():
    stats = {"components": {"big": {"mean": 5.0, "std": 1.0, "min": 0.0, "max": 80.0, "nonzero": 1.0},
                            "small": {"mean": 0.001, "std": 0.001, "min": 0.0, "max": 0.01, "nonzero": 0.5}}}
    source = (ROOT / "examples" / "minihack_keyroom_s5.py").read_text()
    result = review(source, context(KEYROOM), stats, None)
    assert result.accepted
    assert any("larger per step" in w for w in result.warnings)
    assert any("far larger than the task's own reward" in w for w in result.warnings)


# ----- analyzer -------------------------------------------------------------------------------------------------------
def test_build_summary_on_a_synthetic_candidate(tmp_path):
    records = [_record(i, s, {"approach": (0.01 * i, -0.1, 0.2, 0.7), "alive": (0.01, 0.01, 0.01, 0.3)},
                       reward=0.01 * i) for i, s in enumerate([0.0, 0.3, 0.6, 0.7, 0.5, 0.3, 0.2, 0.1])]
    steps = [f"t={t} east @(3, 4)" for t in range(80)]
    trajectories = [{"episode": 0, "success": True, "outcome": "success", "length": 5, "steps": steps[:5]},
                    {"episode": 1, "success": False, "outcome": "stuck", "length": 80, "steps": steps,
                     "final": "map"}]
    summary = _summary(tmp_path, "cand", records, _eval(0.25, {"stuck": 10, "death: burned (lava)": 5}), trajectories)
    assert summary["missing"] == []
    assert summary["training"]["rollouts"] == 8
    assert summary["components"]["approach"]["mean_series"][-1] == pytest.approx(0.07)
    assert summary["constant_components"] == ["alive"]
    assert summary["failure_causes"] == {"stuck": 10, "death: burned (lava)": 5}
    failed = summary["failed_trajectories"]
    assert [t["episode"] for t in failed] == [1] and len(failed[0]["steps"]) < 20
    assert any("reward rose while success fell" in flag for flag in summary["flags"])
    analysis = analyze(summary, context(ROOM), None)
    assert any("reward rose while success fell" in u for u in analysis.unwanted)
    assert {"op": "drop", "component": "alive"} in [{k: e[k] for k in ("op", "component")} for e in analysis.edits]
    assert "## Causes of failure" in analysis.text and "offline rules" in analysis.text


def test_no_hacking_flag_when_reward_and_success_rise_together(tmp_path):
    records = [_record(i, 0.1 * i, {"approach": (0.01, -0.1, 0.2, 0.7)}, reward=0.01 * i) for i in range(8)]
    assert _summary(tmp_path, "good", records)["flags"] == []


def test_build_summary_says_what_is_missing(tmp_path):
    summary = build_summary(tmp_path)
    assert len(summary["missing"]) == 3 and summary["training"] is None and summary["evaluation"] is None
    causes, _, _ = offline_analysis(summary)
    assert any("missing data" in c for c in causes)
    assert "no evaluation" in analyze(summary, context(ROOM), None).text


def test_build_summary_on_a_real_training_run(tmp_path):
    from autoreward.evaluate import evaluate
    from autoreward.train.config import PPOConfig, TrainConfig, WorkerConfig
    from autoreward.train.ppo import train

    folder = tmp_path / "cand"
    (folder / "reward.py").parent.mkdir()
    (folder / "reward.py").write_text((ROOT / "examples" / "minihack_room_15x15.py").read_text())
    train(TrainConfig(task="MiniHack-Room-5x5-v0", reward=str(folder / "reward.py"), steps=512, envs=2,
                      out=str(folder / "train"), ppo=PPOConfig(n_steps=128, batch_size=64, n_epochs=1),
                      workers=WorkerConfig(count=1)))
    evaluate("MiniHack-Room-5x5-v0", folder / "train", episodes=2, out=folder, trajectories=2)
    summary = build_summary(folder)
    assert summary["missing"] == [] and summary["training"]["rollouts"] >= 2
    assert set(summary["components"]) == {"approach"} and summary["evaluation"]["episodes"] == 2
    assert "compute_reward" in summary["reward_code"]


# ----- the LLM paths --------------------------------------------------------------------------------------------------
def test_llm_designer_extracts_code_and_records_the_exchange():
    answer = f"I pay for reaching the stairs.\n```python\n{REWARD}```"
    llm = ScriptedLLM(answer, "Sorry, I cannot help with that.")
    result = design(context(KEYROOM, card_text="CARD TEXT"), llm)
    assert result.code == REWARD and result.response == answer and result.error is None
    role, messages = llm.calls[0]
    assert role == "designer" and messages[0]["role"] == "system" and "CARD TEXT" in messages[1]["content"]
    assert "CARD TEXT" in result.prompt
    empty = design(context(KEYROOM, candidate=1), llm)
    assert empty.code is None and "no Python code" in empty.error


def test_llm_refine_and_repair_prompts_carry_what_they_need(tmp_path):
    records = [_record(i, 0.2, {"approach": (0.01, -0.1, 0.2, 0.7)}) for i in range(3)]
    summary = _summary(tmp_path, "cand", records, _eval(0.2, {"death: burned (lava)": 16}))
    analysis = Analysis(causes=["lava"], unwanted=[], edits=[], text="ANALYSIS TEXT")
    llm = ScriptedLLM(f"```python\n{REWARD}```", f"```python\n{REWARD}```")
    ctx = context(KEYROOM, best_code="BEST CODE", best_summary=summary, analysis=analysis)
    design(ctx, llm)
    repair(ctx, "BROKEN CODE", ["line 2: `open` is not allowed"], llm)
    (refine_role, refine), (repair_role, fix) = llm.calls
    assert refine_role == "designer" and repair_role == "repair"
    text = refine[1]["content"]
    assert "BEST CODE" in text and "ANALYSIS TEXT" in text and "death: burned (lava) 16" in text
    assert "approach: share 0.7" in text
    assert "BROKEN CODE" in fix[1]["content"] and "`open` is not allowed" in fix[1]["content"]


def test_llm_errors_propagate():
    with pytest.raises(LLMBudgetExceeded):
        design(context(KEYROOM), ScriptedLLM(LLMBudgetExceeded("budget spent")))
    with pytest.raises(LLMError):
        review(REWARD, context(KEYROOM), {}, ScriptedLLM(LLMError("down")))


def test_llm_review_decides_unless_the_rules_measured_an_error():
    source = (ROOT / "examples" / "minihack_keyroom_s5.py").read_text()
    accepted = review(source, context(KEYROOM), {}, ScriptedLLM('{"accepted": true, "errors": [], "warnings": ["w"]}'))
    assert accepted.accepted and "w" in accepted.warnings
    rejected = review(source, context(KEYROOM), {},
                      ScriptedLLM('```json\n{"accepted": false, "errors": ["phases wrong"], "warnings": []}\n```'))
    assert not rejected.accepted and rejected.errors == ["phases wrong"]
    farmable = review(NEAR_KEY, context(KEYROOM), {}, ScriptedLLM('{"accepted": true, "errors": [], "warnings": []}'))
    assert not farmable.accepted and any("rules' measured errors stand" in w for w in farmable.warnings)


def test_llm_review_unparseable_falls_back_to_the_rules():
    source = (ROOT / "examples" / "minihack_keyroom_s5.py").read_text()
    good = review(source, context(KEYROOM), {}, ScriptedLLM("Looks fine to me!"))
    assert good.accepted and any("review unparseable" in w for w in good.warnings)
    assert good.response == "Looks fine to me!"
    bad = review(NO_GOAL, context(KEYROOM), {}, ScriptedLLM('{"accepted": "yes"}'))
    assert not bad.accepted and any("review unparseable" in w for w in bad.warnings)


def test_llm_analyzer_and_its_unparseable_fallback(tmp_path):
    records = [_record(i, 0.0, {"approach": (0.0, -0.1, 0.1, 1.0)}) for i in range(4)]
    summary = _summary(tmp_path, "cand", records, _eval(0.0, {"death: burned (lava)": 20}))
    answer = json.dumps({"causes": ["walks into lava"], "unwanted": [], "edits": [
        {"op": "add", "component": "death", "weight": 2.0, "reason": "lava"}]})
    llm = ScriptedLLM(f"My analysis:\n{answer}", "The agent dies a lot.")
    parsed = analyze(summary, context(LAVA), llm)
    assert parsed.causes == ["walks into lava"] and parsed.edits[0]["weight"] == 2.0
    assert "LLM analyzer" in parsed.text and parsed.response.startswith("My analysis")
    assert llm.calls[0][0] == "analyzer" and '"failure_causes"' in llm.calls[0][1][1]["content"]
    fallback = analyze(summary, context(LAVA), llm)
    assert "unparseable" in fallback.text and fallback.response == "The agent dies a lot."
    assert any(e["component"] == "death" for e in fallback.edits)  # the offline rules' edits


def test_review_tells_a_milestone_random_play_never_reaches_from_a_constant():
    source = (ROOT / "tests" / "rewards" / "benign" / "milestone_only.py").read_text()
    stats = {"calls": 200,
             "components": {"goal": {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0, "nonzero": 0.0},
                            "time": {"mean": -0.01, "std": 0.0, "min": -0.01, "max": -0.01, "nonzero": 1.0}}}
    llm = ScriptedLLM('{"accepted": true, "errors": [], "warnings": []}')
    result = review(source, context(KEYROOM), stats, llm)
    assert result.accepted, result.errors
    assert any("'goal'" in line and "milestone" in line and "keep it" in line for line in result.info)
    assert not any("'goal'" in w for w in result.warnings)
    asked = llm.calls[0][1][-1]["content"]  # what the LLM reviewer reads
    goal_line = next(line for line in asked.splitlines() if line.startswith("- goal:"))
    time_line = next(line for line in asked.splitlines() if line.startswith("- time:"))
    assert "milestone random play does not reach" in goal_line and "teaches nothing" not in goal_line
    assert "teaches nothing" in time_line
    assert "- note: component 'goal'" in asked and "never a reason to drop it" in asked


def test_dataclasses_serialise():
    ctx = context(KEYROOM, analysis=Analysis(causes=[], unwanted=[], edits=[], text="t"))
    assert json.loads(json.dumps(ctx.to_dict()))["analysis"]["text"] == "t"
    result = design(ctx, None)
    assert set(result.to_dict()) == {"prompt", "response", "code", "error"}
    assert set(review(REWARD, ctx, {}, None).to_dict()) == {"accepted", "errors", "warnings", "prompt", "response",
                                                            "info"}


# ----- structure: what a reward pays and how it measures distance, read from its code ------------------------------
def test_structure_is_read_from_any_reward_code():
    llm_style = '''
def compute_reward(prev, action, state, memory):
    components = {}
    components["goal"] = 1.0 if state.success else 0.0
    memory["seen"] = 1
    d = state.distance_to("stairs down")
    return sum(components.values()), {**components, "near": 0.0 if d is None else -0.01 * d}
'''
    assert structure_of(llm_style) == ["goal", "near", "distance: straight"]  # memory keys are not components
    returned = "def compute_reward(prev, action, state, memory):\n" \
               "    n = state.path_to('key')\n    return 0.0, {'approach': 0.0, 'key': 0.0}\n"
    assert structure_of(returned) == ["approach", "key", "distance: path"]
    offline = design(context(LAVA), None).code
    assert structure_of(offline) == [*sorted(read_weights(offline)), "distance: path"]
    assert changes(["approach", "goal", "distance: path"], ["goal", "explore", "distance: straight"]) == \
        ["+explore", "-approach", "distance: path -> straight"]
    assert describe_changes(["+explore", "-approach", "distance: path -> straight"]) == \
        "explore added, approach removed, straight distance instead of path"
    assert describe_changes([]) == "weights only" and structure_of("def broken(:") == []


def test_lava_crossing_first_candidate_walks_around_lava():
    code = design(context(LAVA), None).code
    assert 'state.path_to(spot, avoid=AVOID)' in code and 'AVOID = ("lava",)' in code
    assert check(code, LAVA, transitions=64).accepted


def test_refinement_does_not_undo_a_change_that_raised_success():
    """Corridor-R3 in the suite: removing explore raised success 10% -> 30%; the analysis then asked to add it back."""
    task = "MiniHack-Corridor-R3-v0"
    recipe = recipe_for(task, card_for(task).task(task).goal)
    parent = design(context(task, candidate=1), None).code  # the recipe's design without explore
    assert "explore" not in read_weights(parent)
    lessons = [{"changes": ["-explore"], "effect": 0.2, "text": "success rose from 10% to 30% with explore removed"}]
    edits = [{"op": "add", "component": "explore", "weight": 0.01, "reason": "timeouts"},
             {"op": "add", "component": "dither", "weight": 0.01, "reason": "timeouts"}]
    ctx = context(task, best_code=parent, parent="0/1", analysis=Analysis(causes=[], unwanted=[], edits=edits,
                                                                          text="", lessons=lessons))
    plans = proposals(ctx, recipe)
    assert all("explore" not in p.weights for p in plans)
    assert "dither" in plans[0].weights  # the other edit is kept
    assert any("edit skipped: add explore" in note for note in plans[0].notes)


def test_training_success_is_read_over_the_last_episodes_and_old_records_still_read(tmp_path):
    """The summary, the report's curves and its facts read a rollout's success over the last 100 episodes ended
    (recent_success_rate) where metrics.jsonl has it, else the rollout's own (records from before it was kept)."""
    from autoreward.report.parts import pct, training_facts
    from autoreward.report.plots import _points
    from autoreward.synth.records import training_success

    recent = [{**_record(i, rate, {}), "recent_success_rate": mean, "recent_episodes": 40}
              for i, (rate, mean) in enumerate([(None, None), (1.0, 0.05), (0.0, 0.04), (1.0, 0.06)])]
    summary = _summary(tmp_path, "recent", recent)
    assert summary["training"]["success_rate_series"][-3:] == [0.05, 0.04, 0.06]
    assert "success rate (last 100 episodes) per rollout" in format_component_stats(summary)
    old = _summary(tmp_path, "old", [_record(i, rate, {}) for i, rate in enumerate([0.0, 1.0])])
    assert old["training"]["success_rate_series"][-2:] == [0.0, 1.0]
    assert [training_success(r) for r in recent] == [None, 0.05, 0.04, 0.06]
    assert _points(recent, training_success) == ([2048.0, 3072.0, 4096.0], [0.05, 0.04, 0.06])
    assert _points(recent, "success_rate") == ([2048.0, 3072.0, 4096.0], [1.0, 0.0, 1.0])
    assert ("success at the end (last 100 training episodes)", "6%") in training_facts(recent)
    assert pct(2 / 150) == "1.3%" and pct(0.5) == "50%" and pct(None) == "–"
