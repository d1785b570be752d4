"""Intrinsic reward models (ONI retrieval/classification, Motif ranking) and the VecEnv wrapper that pays them."""

from __future__ import annotations

import itertools
import random
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from autoreward.env.registry import card_for
from autoreward.intrinsic.features import HashedNgrams
from autoreward.intrinsic.labels import DictLabelSource
from autoreward.intrinsic.messages import MessageInfo
from autoreward.intrinsic.models import ClassificationModel, RankingModel, RetrievalModel
from autoreward.intrinsic.reward import IntrinsicConfig, IntrinsicReward, make_model
from autoreward.train.metrics import RolloutMetrics
from autoreward.train.observation import PolicyObservation

KEYROOM = "MiniHack-KeyRoom-S5-v0"
PROGRESS = ["You kill the newt!", "You find a hidden door.", "You see here a key.", "g - a key named Bob."]
NEUTRAL = ["It's a wall.", "Never mind.", "There is nothing here to pick up."]
DANGER = ["The jackal bites!", "You die...", "The lichen touches you!"]


def test_features_are_unit_norm_and_stable():
    features = HashedNgrams()
    index, weights = features.encode("You kill the newt!")
    assert len(index) > 20 and abs(float(np.linalg.norm(weights)) - 1.0) < 1e-6
    assert np.array_equal(HashedNgrams().encode("You kill the newt!")[0], index)  # crc32, not hash(): stable
    assert np.array_equal(features.encode("5 gold pieces.")[0], features.encode("7 gold pieces.")[0])
    assert len(features.encode("")[0]) == len(features.encode("  ")[0]) == 0


def test_retrieval_is_the_label_table():
    model = RetrievalModel()
    assert model.score("You kill the newt!") == 0.0  # not labelled yet
    assert model.update({"You kill the newt!": True, "It's a wall.": False})
    assert model.score("You kill the newt!") == 1.0
    assert model.score("It's a wall.") == 0.0
    assert model.score("You kill the rat!") == 0.0  # no generalisation
    assert not model.update({"You kill the newt!": True, "It's a wall.": False, "Never mind.": False})


def test_classification_generalises_to_unseen_messages():
    model = ClassificationModel()
    assert model.score("You kill the newt!") == 0.0  # untrained
    assert not model.update({"You kill the newt!": True})  # one class only: still untrained
    assert model.score("You kill the newt!") == 0.0
    labels = {"You kill the newt!": True, "You kill the jackal!": True, "It's a wall.": False,
              "It's solid stone.": False, "Never mind.": False}
    assert model.update(labels)
    assert model.score("You kill the rat!") == 1.0
    assert model.score("It's a wall.") == 0.0
    assert model.probability("You kill the rat!") > 0.5 > model.probability("It's solid stone.")
    assert not model.update(dict(labels))  # same labels: no retraining


def test_classification_is_deterministic():
    labels = {m: True for m in PROGRESS} | {m: False for m in NEUTRAL + DANGER}
    first, second = ClassificationModel(), ClassificationModel()
    first.update(labels)
    second.update(dict(reversed(labels.items())))  # arrival order does not matter
    for message in ["You kill the rat!", "It's a door.", "The newt bites!"]:
        assert first.probability(message) == second.probability(message)


def test_training_leaves_the_global_torch_rng_alone():
    import torch

    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    ClassificationModel().update({m: True for m in PROGRESS} | {m: False for m in NEUTRAL})
    assert torch.equal(torch.rand(3), expected)


def _preference(a: str, b: str) -> int:
    rank = {m: 2 for m in PROGRESS} | {m: 1 for m in NEUTRAL} | {m: 0 for m in DANGER}
    return 0 if rank[a] == rank[b] else (1 if rank[a] > rank[b] else 2)


def test_ranking_orders_progress_over_neutral_over_danger():
    model = RankingModel(quantile=0.5)
    messages = PROGRESS + NEUTRAL + DANGER
    labels = {(a, b): _preference(a, b) for a, b in itertools.combinations(messages, 2)}
    assert model.score("You kill the newt!") == 0.0  # untrained
    assert model.update(labels)
    raw = {m: model.raw(m) for m in messages}
    assert min(raw[m] for m in PROGRESS) > max(raw[m] for m in NEUTRAL)
    assert min(raw[m] for m in NEUTRAL) > max(raw[m] for m in DANGER)
    scores = {m: model.score(m) for m in messages}
    assert all(scores[m] > 0 for m in PROGRESS)
    assert all(scores[m] == 0.0 for m in DANGER)  # below the median z-score
    assert sum(s == 0.0 for s in scores.values()) >= len(messages) // 2
    assert not model.update(dict(labels))


def test_ranking_ignores_pairs_labels_of_another_shape():
    """Labels come from a network peer (the annotation client keeps whatever /v1/labels sent): a pair that is not
    two texts, or a label that is not 0, 1 or 2, is ignored; each raised IndexError, TypeError or ValueError in
    the trainer's refresh and ended the training."""
    model = RankingModel(quantile=0.5)
    garbage = {("a",): 1, (): 2, ("a", "b", "c"): 1, ("a", "b"): [1], ("c", "d"): {"x": 1}, ("e", 3): 1, "f": 1,
               ("g", "h"): 7}
    assert not model.update(garbage)
    assert model.update(garbage | {("You kill the newt!", "It's a wall."): 1})
    assert model.raw("You kill the newt!") > model.raw("It's a wall.")


def test_helpful_labels_that_are_not_true_or_false_are_ignored():
    """A server answering "false", 0 or {} for a helpful label must not make the message helpful (bool() would)."""
    garbage = {"It's a wall.": "false", "Never mind.": 1, "You die...": {}, 3: True, "The jackal bites!": None}
    retrieval = RetrievalModel()
    assert not retrieval.update(garbage)
    assert retrieval.score_many(list(garbage)[:3]) == [0.0, 0.0, 0.0]
    assert retrieval.update(garbage | {"You kill the newt!": True})
    assert retrieval.score("You kill the newt!") == 1.0 and retrieval.score("It's a wall.") == 0.0
    classifier = ClassificationModel()
    assert not classifier.update(garbage | {"You kill the newt!": True})  # one class only: still untrained
    assert classifier.probability("It's a wall.") == 0.0


def test_ranking_ties_only_is_untrained():
    model = RankingModel()
    assert not model.update({("It's a wall.", "Never mind."): 0})
    assert model.score("It's a wall.") == 0.0


def test_pairs_are_never_identical_nor_sent_twice():
    model = RankingModel(pairs_per_message=3)
    rng = random.Random(0)
    seen: list[str] = []
    sent: list[tuple[str, str]] = []
    for batch in [["It's a wall."], ["It's a wall.", "Never mind."], PROGRESS, NEUTRAL + DANGER, PROGRESS]:
        new = [m for m in dict.fromkeys(batch) if m not in seen]
        sent += model.items_for(new, seen, rng)  # type: ignore[arg-type]
        seen += new
    assert sent and all(a != b for a, b in sent)
    assert len({frozenset(pair) for pair in sent}) == len(sent)
    assert model.items_for(["Never mind."], seen, rng) == []  # a message is introduced once
    assert all(len([p for p in sent if m in p]) >= 1 for m in seen)


def test_helpful_items_are_sent_once():
    model = ClassificationModel()
    rng = random.Random(0)
    assert model.items_for(["a", "", "b", "a"], [], rng) == ["a", "b"]
    assert model.items_for(["a", "c"], ["a", "b"], rng) == ["c"]


def test_make_model():
    assert isinstance(make_model("retrieval"), RetrievalModel)
    assert isinstance(make_model("classification", IntrinsicConfig(seed=3)), ClassificationModel)
    assert make_model("ranking", IntrinsicConfig(quantile=0.8)).quantile == 0.8  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="retrieval, classification, ranking"):
        make_model("curiosity")


class _ScriptedVecEnv(VecEnv):
    """Replays scripted (messages, dones) per step: enough of a VecEnv for the wrapper."""

    def __init__(self, steps: list[tuple[list[str], list[bool]]]) -> None:
        super().__init__(len(steps[0][0]), gym.spaces.Box(0, 1, (1,)), gym.spaces.Discrete(2))
        self.steps, self.t = steps, 0

    def reset(self):
        return np.zeros((self.num_envs, 1), dtype=np.float32)

    def step_async(self, actions: np.ndarray) -> None:
        pass

    def step_wait(self):
        messages, dones = self.steps[self.t]
        self.t += 1
        infos: list[dict[str, Any]] = [{"message": m, "task_reward": 0.0} for m in messages]
        return self.reset(), np.zeros(self.num_envs, dtype=np.float32), np.array(dones), infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name, indices=None):
        return [None] * self.num_envs

    def set_attr(self, attr_name, value, indices=None) -> None:
        pass

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [None] * self.num_envs

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * self.num_envs


def _rewards(wrapper: IntrinsicReward, n: int) -> list[np.ndarray]:
    wrapper.reset()
    out = []
    for _ in range(n):
        wrapper.step_async(np.zeros(wrapper.num_envs, dtype=np.int64))
        out.append(wrapper.step_wait()[1])
    return out


def test_count_decay_and_reset_at_episode_end():
    kill = "You kill the newt!"
    steps = [([kill, ""], [False, False]), ([kill, kill], [True, False]), ([kill, kill], [False, False]),
             (["", ""], [False, False])]
    source = DictLabelSource("helpful", {kill: True})
    config = IntrinsicConfig(coef=0.4, beta=3.0, update_every=1)
    wrapper = IntrinsicReward(_ScriptedVecEnv(steps), RetrievalModel(), source, config)
    wrapper.refresh()
    r = _rewards(wrapper, 4)
    assert r[0][0] == pytest.approx(0.4) and r[0][1] == 0.0  # empty message: nothing
    assert r[1][0] == pytest.approx(0.4 / 2**3)  # second sight in env 0's episode; env 1's first
    assert r[1][1] == pytest.approx(0.4)
    assert r[2][0] == pytest.approx(0.4)  # env 0's episode ended: counts reset
    assert r[2][1] == pytest.approx(0.4 / 2**3)
    assert source.submitted == [kill]  # submitted once, though seen five times


def test_labels_arriving_later_are_picked_up_on_refresh():
    kill = "You kill the newt!"
    steps = [([kill], [True])] * 8
    source = DictLabelSource("helpful")
    wrapper = IntrinsicReward(_ScriptedVecEnv(steps), RetrievalModel(), source, IntrinsicConfig(update_every=4))
    wrapper.reset()
    first = _rewards(wrapper, 2)
    source.add({kill: True})
    rest = [wrapper.step_wait()[1] for _ in range(6)]
    assert all(r[0] == 0.0 for r in first + rest[:1])  # not refreshed before step 4
    assert all(r[0] == pytest.approx(0.4) for r in rest[2:])
    assert wrapper.stats.refreshes == 1 and wrapper.stats.changes == 1  # step 4 (new labels); step 8 skipped


def test_model_and_source_tasks_must_match():
    with pytest.raises(ValueError, match="pairs"):
        IntrinsicReward(_ScriptedVecEnv([([""], [False])]), RankingModel(), DictLabelSource("helpful"))


def _keyroom(seed: int) -> gym.Env:
    return PolicyObservation(MessageInfo(card_for(KEYROOM).make(KEYROOM, seed=seed)))


def _keyroom_label(item: Any) -> Any:
    """helpful: everything but bumping into walls; pairs: a message about the key wins, else a tie."""
    if isinstance(item, str):
        return item != "It's a wall."
    a, b = ("key" in m for m in item)
    return 0 if a == b else (1 if a else 2)


@pytest.mark.parametrize("name", ["retrieval", "classification", "ranking"])
def test_wrapper_on_real_envs(name: str):
    model = make_model(name, IntrinsicConfig(model=name))
    source = DictLabelSource(model.task, labeller=_keyroom_label)
    config = IntrinsicConfig(model=name, update_every=16)
    venv = DummyVecEnv([lambda s=s: _keyroom(s) for s in range(2)])
    wrapper = IntrinsicReward(venv, model, source, config, task_coef=10.0)
    metrics = RolloutMetrics(2, None)
    wrapper.reset()
    rng = np.random.default_rng(0)
    paid = 0.0
    for _ in range(400):
        wrapper.step_async(rng.integers(0, venv.action_space.n, size=2))
        _, rewards, dones, infos = wrapper.step_wait()
        metrics.add_step(infos, dones)
        for reward, info in zip(rewards, infos, strict=True):
            components = info["reward_components"]
            assert set(components) == {"task", "intrinsic"}
            assert info["reward_total"] == pytest.approx(sum(components.values()))
            assert reward == pytest.approx(components["intrinsic"] + components["task"], abs=1e-5)
            paid += components["intrinsic"]
    wrapper.close()
    assert paid > 0.0 and metrics.error is None
    assert metrics.summary(800)["components"]["intrinsic"]["max"] > 0.0
    assert len(source.submitted) == len(set(source.submitted)) == wrapper.stats.submitted
    assert wrapper.stats.messages >= 3 and wrapper.stats.refreshes >= 1


def test_message_info_decodes_the_message_line():
    env = MessageInfo(card_for(KEYROOM).make(KEYROOM, seed=0))
    _, info = env.reset()
    assert isinstance(info["message"], str)
    messages = {env.step(a)[4]["message"] for a in [0, 1, 2, 3] * 5}
    assert "It's a wall." in messages or "" in messages
    env.close()
