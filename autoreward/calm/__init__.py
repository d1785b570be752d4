"""CALM (Credit Assignment with Language Models): subgoals, transitions, ground truth, judges and their scores.

- `subgoals`: a task broken into short checkable subgoals (LLM, cached; or rules); `parse_subgoals` for users.
- `transition`: one step as a `Transition` record, its text rendering (`render`) and canonical `key`.
- `ground_truth`: which subgoals a step achieved, read from the game state (not from text).
- `judge`: the judgement prompts (one transition or a batch), their strict parsers, the LLM judge;
  `offline`: the rule-based judge that reads the rendered text only.
- `explorer` / `dataset` / `evaluate`: a scripted data-collection policy, labelled transitions from rollouts,
  and a judge's accuracy/precision/recall/F1 against them.
- `judgements`: an LLM judge's judgements kept on disk as they come, so a stopped evaluation resumes.
"""
