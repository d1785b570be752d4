"""Training with CALM's auxiliary subgoal reward (autoreward.calm.reward): the subgoals, the judge's client.

The subgoals are `--subgoals` ("pick up the key;open the door"), else the task's decomposition: offline rules,
or with `--llm MODEL` the LLM's (cached). Judgements come from the same annotation server as ONI's labels (task
"calm"), through a second `AnnotationClient`; the trainer never waits for one.
"""

from __future__ import annotations

from contextlib import ExitStack

from stable_baselines3.common.vec_env import VecEnv

from autoreward.annotate.client import AnnotationClient
from autoreward.calm.decompose import decompose, default_cache_path
from autoreward.calm.reward import COEF_SHARE, CalmReward
from autoreward.calm.subgoals import Subgoal, parse_subgoals
from autoreward.llm.client import make_llm
from autoreward.train.config import TrainConfig
from autoreward.train.oni import Server, task_coef


def resolve_subgoals(config: TrainConfig) -> list[Subgoal]:
    """`config.calm.subgoals` parsed, else the task's decomposition (offline, or by `config.annotator.llm`)."""
    if config.calm.subgoals:
        return parse_subgoals(config.calm.subgoals)

    llm = make_llm(config.annotator.llm, api_base=config.annotator.api_base)
    return decompose(config.task, llm=llm, cache_path=default_cache_path() if llm is not None else None)


def calm_coef(config: TrainConfig) -> float:
    """The bonus per subgoal: `config.calm.coef`, else COEF_SHARE of the task reward's weight (of 1 when that
    weight is 0)."""
    return config.calm.coef if config.calm.coef is not None else COEF_SHARE * (task_coef(config) or 1.0)


def attach_calm(venv: VecEnv, config: TrainConfig, subgoals: list[Subgoal], server: Server,
                stack: ExitStack) -> tuple[CalmReward, AnnotationClient]:
    """Wrap `venv` with CALM's reward, judged through the annotation server at `server` (url, token).

    Returns the `CalmReward` wrapper (the env to train on; its stats) and the client (its stats); the client
    closes with `stack`.
    """
    url, token = server
    client = AnnotationClient(url, "calm", token=token, seed=config.seed).start()
    stack.callback(client.close)
    wrapped = CalmReward(venv, client, subgoals, coef=calm_coef(config), task_coef=task_coef(config),
                         seed=config.seed)
    return wrapped, client
