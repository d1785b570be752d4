"""MiniGrid's policy observation and feature extractor, and that NetHack cards keep NetHack's."""

from __future__ import annotations

import numpy as np
import torch

from autoreward.env.registry import card_for
from autoreward.train.build import policy_kwargs
from autoreward.train.config import TrainConfig
from autoreward.train.features import MiniGridExtractor, NetHackExtractor
from autoreward.train.minigrid_observation import AGENT, MiniGridObservation
from autoreward.train.observation import PolicyObservation
from autoreward.train.policy import policy_observation

TASK = "MiniGrid-DoorKey-8x8-v0"


def test_the_observation_is_the_full_grid_with_the_agent_and_its_direction():
    card = card_for(TASK)
    env = policy_observation(card, card.make(TASK, seed=0))
    assert isinstance(env, MiniGridObservation)
    obs, _ = env.reset()
    assert obs["grid"].shape == (3, 8, 8) and obs["grid"].dtype == np.int16
    assert env.observation_space.contains(obs)
    x, y = (int(v) for v in env.raw["pos"])
    assert tuple(obs["grid"][:, y, x]) == (AGENT, 0, int(env.raw["direction"]))
    assert (obs["grid"][0] == 5).sum() == 1 and obs["stats"].sum() == 0  # the key lies on the grid, nothing carried
    obs, *_ = env.step(2)
    assert 0 < obs["stats"][-1] < 0.01  # time used
    extractor = MiniGridExtractor(env.observation_space)
    batch = {k: torch.as_tensor(np.stack([v, v])).float() for k, v in obs.items()}
    assert extractor(batch).shape == (2, extractor.features_dim)
    env.close()


def test_the_extractor_follows_the_card():
    assert policy_kwargs(TrainConfig(task=TASK))["features_extractor_class"] is MiniGridExtractor
    assert policy_kwargs(TrainConfig(task="MiniHack-Room-5x5-v0"))["features_extractor_class"] is NetHackExtractor
    nethack = card_for("MiniHack-Room-5x5-v0")
    env = policy_observation(nethack, nethack.make("MiniHack-Room-5x5-v0", seed=0))
    assert isinstance(env, PolicyObservation)
    env.close()
