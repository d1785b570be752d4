"""The env-side half of ONI: each step's message line put into `info`, for the vectorised `IntrinsicReward`.

Light on purpose (no torch): it runs in the walled env worker processes.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from autoreward.env.info import MESSAGE
from autoreward.env.text import decode_text


class MessageInfo(gym.Wrapper):
    """Puts the observation's message line into `info[MESSAGE]` after every reset and step."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Dict) or "message" not in space.spaces:
            raise ValueError("MessageInfo needs an env whose observations have a 'message' key (NLE/MiniHack)")

    def reset(self, **kwargs: Any):  # type: ignore[override]
        obs, info = self.env.reset(**kwargs)
        info[MESSAGE] = decode_text(obs["message"].tobytes())
        return obs, info

    def step(self, action):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        info[MESSAGE] = decode_text(obs["message"].tobytes())
        return obs, reward, terminated, truncated, info
