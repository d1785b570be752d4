"""The policy's observation on MiniGrid cards: the full grid's codes with the agent drawn in, and a few numbers.

- `grid`: 3 x height x width integer codes (object, colour, state), MiniGrid's `FullyObsWrapper` layout: the
  agent's cell holds object 'agent' with its direction as the state. Codes are categories: the extractor
  one-hot encodes them (autoreward.train.features.MiniGridExtractor).
- `stats`: what the agent carries (one-hot object and colour; a picked-up key leaves the grid) and the fraction
  of the step limit used (time left matters to the value of a state under a step limit).

Torch-free: env workers build it (autoreward.train.envs) without importing the trainer.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX

N_OBJECTS = len(OBJECT_TO_IDX)  # 11: unseen .. agent
N_COLOURS = len(COLOR_TO_IDX)  # 6
N_STATES = 4  # door states 0..2; the agent's cell: its direction 0..3
N_STATS = N_OBJECTS + N_COLOURS + 1
AGENT = OBJECT_TO_IDX["agent"]


class MiniGridObservation(gym.ObservationWrapper):
    """Maps the MiniGrid card's observation (autoreward.env.minigrid.FullGridObservation) to {"grid", "stats"}."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        height, width, _ = env.observation_space["grid"].shape
        self._max_steps = max(1, int(getattr(env.unwrapped, "max_steps", 1) or 1))
        self._steps = 0
        self.raw: dict[str, object] = {}  # the card's last observation, for callers that build a State from it
        self.observation_seconds = 0.0
        self.observation_space = gym.spaces.Dict({
            # int16, not uint8: SB3 would take a 3-channel uint8 box for an image and scale it by 1/255
            "grid": gym.spaces.Box(0, 255, (3, height, width), dtype=np.int16),
            "stats": gym.spaces.Box(0.0, 1.0, (N_STATS,), dtype=np.float32),
        })

    def reset(self, **kwargs):  # type: ignore[override]
        self._steps = 0
        return super().reset(**kwargs)

    def step(self, action):  # type: ignore[override]
        self._steps += 1
        return super().step(action)

    def observation(self, obs: dict) -> dict[str, np.ndarray]:
        self.raw = obs
        grid = obs["grid"].transpose(2, 0, 1).astype(np.int16)  # (3, height, width)
        x, y = int(obs["pos"][0]), int(obs["pos"][1])
        grid[:, y, x] = (AGENT, COLOR_TO_IDX["red"], int(obs["direction"]))
        stats = np.zeros(N_STATS, dtype=np.float32)
        obj, colour = int(obs["carrying"][0]), int(obs["carrying"][1])
        if obj:
            stats[obj] = 1.0
            stats[N_OBJECTS + colour] = 1.0
        stats[-1] = min(1.0, self._steps / self._max_steps)
        return {"grid": grid, "stats": stats}
