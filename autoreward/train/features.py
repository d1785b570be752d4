"""Feature extractors: NetHack observations (autoreward.train.observation), MiniGrid's (`MiniGridExtractor`).

Glyph ids are categories, so each id of the crop around the agent gets a learned embedding; the embedded
crop (detail near the agent), the coarse map of what is where (cell counts scaled to fractions) and the
status features each pass through one linear layer. Deliberately small: on a 2-core CPU, PPO's time goes
into per-step inference latency (each layer costs tens of microseconds at batch size 2) and minibatch
updates; this keeps training around 1,000 steps/s with 2 envs there.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from autoreward.train.minigrid_observation import N_COLOURS, N_OBJECTS, N_STATES
from autoreward.train.observation import BLOCK, PAD_GLYPH


class NetHackExtractor(BaseFeaturesExtractor):
    def __init__(self, observation_space: gym.spaces.Dict, embed_dim: int = 8, crop_features: int = 128,
                 map_features: int = 64, stats_features: int = 16) -> None:
        super().__init__(observation_space, features_dim=crop_features + map_features + stats_features)
        crop_cells = int(np.prod(observation_space["crop"].shape))
        map_size = int(np.prod(observation_space["map"].shape))
        self.embed = nn.Embedding(PAD_GLYPH + 1, embed_dim)
        self.crop_net = nn.Sequential(nn.Flatten(), nn.Linear(crop_cells * embed_dim, crop_features), nn.ReLU())
        self.map_net = nn.Sequential(nn.Flatten(), nn.Linear(map_size, map_features), nn.ReLU())
        self.stats_net = nn.Sequential(nn.Linear(observation_space["stats"].shape[0], stats_features), nn.ReLU())
        self.map_scale = 1.0 / (BLOCK[0] * BLOCK[1])  # cell counts per coarse block -> fractions

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        # SB3 hands Box observations over as floats; glyph ids below 2**24 are exact in float32. index_select is
        # nn.Embedding's lookup with a cheaper backward (index_add instead of a sort): a third of PPO's update time.
        ids = obs["crop"].long()
        crop = self.crop_net(self.embed.weight.index_select(0, ids.reshape(-1)).reshape(*ids.shape, -1))
        return torch.cat([crop, self.map_net(obs["map"] * self.map_scale), self.stats_net(obs["stats"])], dim=1)


class MiniGridExtractor(BaseFeaturesExtractor):
    """Features of the MiniGrid policy observation (autoreward.train.minigrid_observation).

    Each cell's (object, colour, state) codes are one-hot encoded (11 + 6 + 4 channels), then two 3x3
    convolutions (padding 1, so the grid keeps its size) and one linear layer; what the agent carries and the
    time used pass through a linear layer of their own. Small on purpose (the 2-core budget, as for NetHack).
    """

    def __init__(self, observation_space: gym.spaces.Dict, conv_channels: tuple[int, int] = (16, 32),
                 grid_features: int = 128, stats_features: int = 16) -> None:
        super().__init__(observation_space, features_dim=grid_features + stats_features)
        _, height, width = observation_space["grid"].shape
        first, second = conv_channels
        self.grid_net = nn.Sequential(
            nn.Conv2d(N_OBJECTS + N_COLOURS + N_STATES, first, 3, padding=1), nn.ReLU(),
            nn.Conv2d(first, second, 3, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(second * height * width, grid_features), nn.ReLU())
        self.stats_net = nn.Sequential(nn.Linear(observation_space["stats"].shape[0], stats_features), nn.ReLU())

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        codes = obs["grid"].long()  # SB3 hands the codes over as floats
        onehot = torch.cat([
            nn.functional.one_hot(codes[:, 0].clamp(0, N_OBJECTS - 1), N_OBJECTS),
            nn.functional.one_hot(codes[:, 1].clamp(0, N_COLOURS - 1), N_COLOURS),
            nn.functional.one_hot(codes[:, 2].clamp(0, N_STATES - 1), N_STATES)], dim=-1)
        grid = onehot.permute(0, 3, 1, 2).float()  # (batch, channels, height, width)
        return torch.cat([self.grid_net(grid), self.stats_net(obs["stats"])], dim=1)
