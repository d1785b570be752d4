"""Training with CALM's auxiliary subgoal reward (autoreward.calm.reward): the subgoals, the judge's client.

The subgoals are `--subgoals` ("pick up the key;open the door"), else the task's decomposition: offline rules,
or with `--llm MODEL` the LLM's (cached). Judgements come from the same annotation server as ONI's labels (task
"calm"), through a second `AnnotationClient`; the trainer never waits for one.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from stable_baselines3.common.vec_env import VecEnv

from autoreward.calm.subgoals import Subgoal


def resolve_subgoals(config: Any) -> list[Subgoal]:
    """`config.subgoals` parsed, else the task's decomposition (offline, or by `config.llm`)."""
    from autoreward.calm.subgoals import decompose, default_cache_path, parse_subgoals

    if config.subgoals:
        return parse_subgoals(config.subgoals)
    from autoreward.llm.client import make_llm

    llm = make_llm(config.llm, api_base=config.llm_api_base)
    return decompose(config.task, llm=llm, cache_path=default_cache_path() if llm is not None else None)


def calm_coef(config: Any) -> float:
    """The bonus per subgoal: `config.calm_coef`, else COEF_SHARE of the task reward's weight."""
    from autoreward.calm.reward import COEF_SHARE

    return config.calm_coef if config.calm_coef is not None else COEF_SHARE * float(config.task_coef or 1.0)


def attach_calm(venv: VecEnv, config: Any, subgoals: list[Subgoal], server: tuple[str, str | None],
                stack: ExitStack) -> tuple[Any, Any]:
    """Wrap `venv` with CALM's reward, judged through the annotation server at `server` (url, token).

    Returns the `CalmReward` wrapper (the env to train on; its stats) and the client (its stats); the client
    closes with `stack`.
    """
    from autoreward.annotate.client import AnnotationClient
    from autoreward.calm.reward import CalmReward

    url, token = server
    client = AnnotationClient(url, "calm", token=token, seed=config.seed).start()
    stack.callback(client.close)
    wrapped = CalmReward(venv, client, subgoals, coef=calm_coef(config), task_coef=config.task_coef,
                         seed=config.seed)
    return wrapped, client
