"""The intrinsic reward on a vectorised env (ONI): c_int * score(message) / N_episode(message)^beta.

    r_train = r_env + c_int * r_int,      r_env = c_ext * r_task + total(reward file, if any)

`MessageInfo` (a gym wrapper, in each env) puts the decoded message line into `info[MESSAGE]`;
`IntrinsicReward` (a VecEnv wrapper, in the trainer process) counts each message per env and episode, sends
messages seen for the first time to a `LabelSource`, refreshes its model from the labels every `update_every`
steps when they changed, and adds the intrinsic term to the reward and to `info[REWARD_COMPONENTS]`. It never
waits for a label: a message not labelled yet is worth 0. (The info keys: autoreward.env.info.)
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from autoreward.env.info import MESSAGE, REWARD_COMPONENTS, REWARD_TOTAL, TASK_COMPONENT, TASK_REWARD
from autoreward.intrinsic.labels import ONI_BETA, ONI_COEF, LabelSource
from autoreward.intrinsic.models import (
    ClassificationModel,
    IntrinsicModel,
    RankingModel,
    RetrievalModel,
    TextNetConfig,
)

MODELS = ("retrieval", "classification", "ranking")
COMPONENT = "intrinsic"  # the intrinsic term's name in info[REWARD_COMPONENTS]


@dataclass
class IntrinsicConfig:
    """Settings of the intrinsic reward; the defaults are the ONI paper's (Klissarov et al. 2024).

    coef: c_int (ONI: 0.4). beta: the count exponent, the N-th sight of a message in an episode pays 1/N^beta
    (ONI: 3). quantile: ranking only, z-scores below this quantile pay 0 (Motif/ONI: 0.5). update_every: vec
    steps between label refreshes. pairs_per_message: ranking only, earlier messages each new one is paired with.
    """

    model: str = "retrieval"
    coef: float = ONI_COEF
    beta: float = ONI_BETA
    quantile: float = 0.5
    update_every: int = 256
    seed: int = 0
    pairs_per_message: int = 3


@dataclass
class IntrinsicStats:
    """What the wrapper did: distinct messages, items submitted, model refreshes, time spent refreshing."""

    messages: int = 0
    submitted: int = 0
    refreshes: int = 0  # model.update calls (the label version had changed)
    changes: int = 0  # refreshes after which the scores changed
    labels: int = 0  # labels in the last snapshot used
    refresh_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "refresh_seconds": round(self.refresh_seconds, 4)}


def make_model(name: str, config: IntrinsicConfig | None = None) -> IntrinsicModel:
    """The intrinsic reward model called `name`: retrieval | classification | ranking."""
    config = config or IntrinsicConfig(model=name)
    net = TextNetConfig(seed=config.seed)
    if name == "retrieval":
        return RetrievalModel()
    if name == "classification":
        return ClassificationModel(net)
    if name == "ranking":
        return RankingModel(net, quantile=config.quantile, pairs_per_message=config.pairs_per_message)
    raise ValueError(f"unknown intrinsic reward model {name!r}: use one of {', '.join(MODELS)}")


def add_component(info: dict[str, Any], reward: float, name: str, value: float, task_coef: float) -> None:
    """Adds term `name` to the info's components and total; without components they start from the task term
    (`task_reward * task_coef`, else the env's reward), and a reward file's components gain a "task" term, so that
    task, reward-file and added terms (intrinsic, calm) compare in metrics."""
    components = info.get(REWARD_COMPONENTS)
    if components is None:
        task = info[TASK_REWARD] * task_coef if TASK_REWARD in info else reward
        components, total = {TASK_COMPONENT: float(task)}, float(task)
    else:
        components, total = dict(components), float(info.get(REWARD_TOTAL, 0.0))
        if TASK_COMPONENT not in components and TASK_REWARD in info:
            components[TASK_COMPONENT] = float(info[TASK_REWARD] * task_coef)
            total += components[TASK_COMPONENT]
    components[name] = components.get(name, 0.0) + value
    info[REWARD_COMPONENTS] = components
    info[REWARD_TOTAL] = total + value


class IntrinsicReward(VecEnvWrapper):
    """Adds c_int * model.score(message) / N(message)^beta to each env's reward (ONI), N counted per episode.

    The task term (`task_reward` * `task_coef`, c_ext) joins `info[REWARD_COMPONENTS]` as "task" (unless a reward
    file already has a component of that name), so metrics compare task, reward-file and intrinsic terms.
    """

    def __init__(self, venv: VecEnv, model: IntrinsicModel, source: LabelSource,
                 config: IntrinsicConfig | None = None, task_coef: float = 1.0) -> None:
        super().__init__(venv)
        if model.task != source.task:
            raise ValueError(f"the {type(model).__name__} learns from {model.task!r} labels, but the label source "
                             f"gives {source.task!r} labels")
        self.model, self.source = model, source
        self.config = config or IntrinsicConfig()
        if self.config.update_every < 1:
            raise ValueError("update_every must be at least 1")
        self.task_coef = float(task_coef)
        self.stats = IntrinsicStats()
        self._rng = random.Random(self.config.seed)
        self._counts: list[defaultdict[str, int]] = [defaultdict(int) for _ in range(self.num_envs)]
        self._seen: list[str] = []  # distinct messages, in order of first sight
        self._seen_set: set[str] = set()
        self._scores: dict[str, float] = {}  # score per message; renewed when the model changes
        self._version: int | None = None
        self._steps = 0

    def reset(self) -> VecEnvObs:
        for counts in self._counts:
            counts.clear()
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        intrinsic = np.zeros(self.num_envs, dtype=np.float64)
        new: list[str] = []
        for i, info in enumerate(infos):
            message = info.get(MESSAGE, "")
            if message:
                intrinsic[i] = self._value(i, message)
                if message not in self._seen_set:
                    new.append(message)
            add_component(info, float(rewards[i]), COMPONENT, float(intrinsic[i]), self.task_coef)
            if dones[i]:
                self._counts[i].clear()
        if new:
            self._submit(new)
        self._steps += 1
        if self._steps % self.config.update_every == 0:
            self.refresh()
        return obs, rewards + intrinsic.astype(rewards.dtype), dones, infos

    def _value(self, env: int, message: str) -> float:
        """c_int * score / N^beta for this sight of `message` in env `env`'s episode."""
        counts = self._counts[env]
        n = counts[message] = counts[message] + 1
        score = self._scores.get(message)
        if score is None:
            score = self._scores[message] = float(self.model.score(message))
        return self.config.coef * score / n ** self.config.beta if score else 0.0

    def _submit(self, new: list[str]) -> None:
        new = list(dict.fromkeys(new))  # two envs may see the same new message in one step
        items = self.model.items_for(new, self._seen, self._rng)
        self._seen.extend(new)
        self._seen_set.update(new)
        self.stats.messages = len(self._seen)
        if items:
            self.source.submit(items)
            self.stats.submitted += len(items)

    def refresh(self) -> bool:
        """Refresh the model if the labels changed since the last refresh; whether the scores changed."""
        version, labels = self.source.snapshot()
        if version == self._version:
            return False
        start = time.perf_counter()
        self._version = version
        changed = self.model.update(labels)
        if changed:  # re-score the messages seen so far in one batch: they are the ones that come again
            self._scores = dict(zip(self._seen, self.model.score_many(self._seen), strict=True))
        self.stats.refreshes += 1
        self.stats.changes += int(changed)
        self.stats.labels = len(labels)
        self.stats.refresh_seconds += time.perf_counter() - start
        return changed

    def scores(self) -> Mapping[str, float]:
        """The scores of the distinct messages seen so far (for reports and tests)."""
        return dict(zip(self._seen, self.model.score_many(self._seen), strict=True))
