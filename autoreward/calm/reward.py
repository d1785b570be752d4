"""CALM's auxiliary reward: a fixed bonus the first time in an episode each subgoal is achieved.

    r_train = c_ext * r_task [+ total(reward file)] [+ ONI's term] + coef * (subgoals newly achieved this step)

`TransitionInfo` (a gym wrapper, in each env) builds the step's `Transition` and puts its canonical key in
`info[CALM_KEY]`, and its rendered text in `info[CALM_TEXT]` the first time this env sees the key (rendering
costs more than the key). `CalmReward` (a VecEnv wrapper, in the trainer process) sends each new key with its text
to a `LabelSource` of the "calm" task (the annotation server's judge), looks judgements up by key, and for keys not
judged yet asks a distilled model: one n-gram classifier per subgoal trained on the judged texts (without their map
crops: `transition.without_map`). Judgements are taken every `update_every` steps; the model is refitted on them at
most every `fit_every` steps (a fit costs far more). Until it is trained it predicts nothing: an unjudged
transition pays nothing now. Training never waits for a judgement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from autoreward.calm.subgoals import Subgoal
from autoreward.calm.transition import without_map
from autoreward.env.info import CALM_KEY, CALM_TEXT
from autoreward.intrinsic.labels import CALM, LabelSource
from autoreward.intrinsic.models import TextNetConfig, TextScorer
from autoreward.intrinsic.reward import add_component

COMPONENT = "calm"  # the term's name in info[REWARD_COMPONENTS]
#: Bonus per subgoal as a share of the task reward's weight (c_ext): half of what the goal pays. Measured on
#: KeyRoom-S5 (docs/benchmarks.md): at 0.1 the bonuses weigh no more than ten bumps into a wall (-0.01 each),
#: PPO learns to stop bumping and its entropy collapses before it learns the key; 0.5 and 1.0 reach 100%.
COEF_SHARE = 0.5


def subgoal_field(subgoals: Sequence[Subgoal]) -> str:
    """The subgoals as a calm item's third field: 'name: description' joined by ';' (the server's judge sees
    the descriptions; `annotate.calm_task.parse_subgoal_field` reads it back)."""
    return ";".join(f"{s.name}: {s.description.replace(';', ',')}" for s in subgoals)


class SubgoalModel:
    """The distilled judge: ONI's n-gram network (`TextScorer`) with one output per subgoal, trained on the judged
    texts with a class-balanced loss (a subgoal is achieved on a few transitions in a thousand). Predicts nothing
    until some subgoal has been judged both achieved and not achieved."""

    def __init__(self, names: Sequence[str], seed: int = 0) -> None:
        self.names = list(names)
        self._scorer = TextScorer(TextNetConfig(seed=seed), outputs=len(self.names))
        self._trained_on: dict[str, tuple[bool, ...]] = {}

    @property
    def trained(self) -> bool:
        return self._scorer.net is not None

    def update(self, judged: Mapping[str, Mapping[str, bool]]) -> bool:
        """Refit from {text: judgement}; whether predictions may have changed."""
        data = {text: tuple(bool(judgement[name]) for name in self.names) for text, judgement in judged.items()}
        if data == self._trained_on:
            return False
        self._trained_on, was_trained = data, self.trained
        targets = torch.tensor(list(data.values()), dtype=torch.float32).reshape(len(data), len(self.names))
        positive = targets.mean(dim=0)
        if not bool(((positive > 0) & (positive < 1)).any()):
            self._scorer.net = None
            return was_trained
        # each class of each subgoal weighs half: rare achievements count as much as the many steps without one
        weights = torch.where(targets > 0, 0.5 / positive.clamp(min=1e-6), 0.5 / (1 - positive).clamp(min=1e-6))
        texts = list(data)

        def loss_of(forward: Callable[[Sequence[str]], torch.Tensor], chosen: list[int]) -> torch.Tensor:
            logits = forward([texts[k] for k in chosen]).reshape(len(chosen), len(self.names))
            return F.binary_cross_entropy_with_logits(logits, targets[chosen], weight=weights[chosen])

        self._scorer.fit(len(texts), loss_of)
        return True

    def predict(self, text: str) -> dict[str, bool]:
        """The achievement of each subgoal predicted from a transition's text (all False until trained)."""
        if not self.trained:
            return dict.fromkeys(self.names, False)
        logits = self._scorer.outputs([text]).reshape(len(self.names))
        return {name: bool(logit > 0.0) for name, logit in zip(self.names, logits, strict=True)}


@dataclass
class CalmStats:
    """What the wrapper did (saved with the run)."""

    keys: int = 0  # distinct transition keys seen
    submitted: int = 0  # items sent to the label source
    judged: int = 0  # keys with a judgement in the last snapshot
    refreshes: int = 0  # snapshots with new labels
    fits: int = 0  # refits of the distilled model
    paid: int = 0  # subgoal bonuses paid
    predicted: int = 0  # of which the distilled model decided (the key was not judged yet)
    refresh_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "refresh_seconds": round(self.refresh_seconds, 4)}


class CalmReward(VecEnvWrapper):
    """Adds `coef` for each subgoal achieved for the first time in the episode (per env) to the reward.

    Judgements come from `source` (task "calm", items (key, text, subgoal_field)) by transition key, else from
    the distilled `SubgoalModel`. The "calm" term (and the task term, if absent) join `info[REWARD_COMPONENTS]`.
    """

    def __init__(self, venv: VecEnv, source: LabelSource, subgoals: Sequence[Subgoal], coef: float = COEF_SHARE,
                 task_coef: float = 1.0, update_every: int = 256, fit_every: int = 2048, seed: int = 0) -> None:
        super().__init__(venv)
        if source.task != CALM:
            raise ValueError(f"CalmReward needs a label source of the {CALM!r} task, got {source.task!r}")
        if update_every < 1 or fit_every < 1:
            raise ValueError("update_every and fit_every must be at least 1")
        self.source, self.subgoals = source, list(subgoals)
        self.field = subgoal_field(self.subgoals)
        self.names = [s.name for s in self.subgoals]
        self.coef, self.task_coef = float(coef), float(task_coef)
        self.update_every, self.fit_every = update_every, fit_every
        self.model = SubgoalModel(self.names, seed)
        self.stats = CalmStats()
        self._texts: dict[str, str] = {}  # transition key -> the first text seen with it, without its maps
        self._judged: dict[str, dict[str, bool]] = {}
        self._predicted: dict[str, dict[str, bool]] = {}  # cache; cleared when the model changes
        self._achieved: list[set[str]] = [set() for _ in range(self.num_envs)]
        self._raw: dict[Any, Any] = {}  # the source's labels taken so far, by item
        self._examples: dict[str, dict[str, bool]] = {}  # judged text without maps -> judgement: the model's data
        self._version: int | None = None
        self._steps = 0
        self._fitted_at, self._unfitted = -fit_every, 0  # step of the last fit; judgements taken since

    def reset(self) -> VecEnvObs:
        for achieved in self._achieved:
            achieved.clear()
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        bonus = np.zeros(self.num_envs, dtype=np.float64)
        new: list[tuple[str, str, str]] = []
        for i, info in enumerate(infos):
            step_key = info.get(CALM_KEY)
            if step_key is not None:
                text = info.get(CALM_TEXT)
                if text is not None and step_key not in self._texts:
                    self._texts[step_key] = without_map(text)
                    new.append((step_key, text, self.field))
                bonus[i] = self._pay(i, step_key)
            add_component(info, float(rewards[i]), COMPONENT, float(bonus[i]), self.task_coef)
            if dones[i]:
                self._achieved[i].clear()
        if new:
            self.source.submit(new)
            self.stats.submitted += len(new)
            self.stats.keys = len(self._texts)
        self._steps += 1
        if self._steps % self.update_every == 0:
            self.refresh()
        return obs, rewards + bonus.astype(rewards.dtype), dones, infos

    def achieved(self, step_key: str) -> dict[str, bool]:
        """Which subgoals a transition achieved: its judgement, else the distilled model's prediction."""
        judged = self._judged.get(step_key)
        if judged is not None:
            return judged
        found = self._predicted.get(step_key)
        if found is None:
            text = self._texts.get(step_key)
            found = self.model.predict(text) if text is not None else dict.fromkeys(self.names, False)
            self._predicted[step_key] = found
        return found

    def _pay(self, env: int, step_key: str) -> float:
        """coef per subgoal this transition achieved that env `env` has not achieved yet this episode."""
        achieved = self.achieved(step_key)
        fresh = [name for name, done in achieved.items() if done and name not in self._achieved[env]]
        if not fresh:
            return 0.0
        self._achieved[env].update(fresh)
        self.stats.paid += len(fresh)
        self.stats.predicted += len(fresh) if step_key not in self._judged else 0
        return self.coef * len(fresh)

    def refresh(self) -> bool:
        """Take the judgements that arrived; refit the distilled model when some are new and it was last fitted
        `fit_every` steps ago (or never). Whether new judgements arrived."""
        start = time.perf_counter()
        version, labels = self.source.snapshot()
        new = 0
        if version != self._version:
            self._version = version
            for item, label in labels.items():
                if self._raw.get(item) == label or not (isinstance(item, tuple) and len(item) == 3
                                                        and item[2] == self.field and isinstance(label, dict)):
                    continue
                self._raw[item] = label
                judgement = {name: bool(label.get(name, False)) for name in self.names}
                self._judged[item[0]] = self._examples[without_map(item[1])] = judgement
                new += 1
            self.stats.judged = len(self._judged)
            self.stats.refreshes += 1
        self._unfitted += new
        if self._unfitted and self._steps - self._fitted_at >= self.fit_every:
            self._fitted_at, self._unfitted = self._steps, 0
            self.stats.fits += 1
            if self.model.update(self._examples):
                self._predicted.clear()
        self.stats.refresh_seconds += time.perf_counter() - start
        return new > 0
