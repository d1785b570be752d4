"""The training env of one worker slot: the card's env, the reward function, info for ONI and CALM, the policy view.

Kept apart from the PPO module (no torch import) because env workers build these envs themselves: a worker
imports only what its envs need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from autoreward.calm.transition import TransitionInfo
from autoreward.env.card import EnvCard
from autoreward.env.info import TASK_REWARD
from autoreward.env.registry import card_for, use_card
from autoreward.intrinsic.messages import MessageInfo
from autoreward.reward.loader import load_reward
from autoreward.train.policy import policy_observation
from autoreward.train.shaping import ShapedReward


def make_env(task: str, seed: int, reward_source: str | None, task_coef: float = 1.0,
             call_timeout_s: float = 1.0, crop: int = 9, message_info: bool = False,
             subgoals: Sequence[Any] | None = None, card: dict[str, Any] | None = None) -> gym.Env:
    """One training env: the card's env, the reward function if any, the message in info (for an intrinsic
    reward), the transition key and text in info (for CALM, when `subgoals` are given), the policy observation.

    `card`: the source of a card that is not built in (a plugin, a custom level), rebuilt here: an env worker is a
    fresh process that knows only the built-in cards."""
    use_card(card)
    found = card_for(task)
    env = found.make(task, seed=seed)
    if reward_source is not None:
        env = ShapedReward(env, load_reward(reward_source, state_api=found.state_api), task_coef=task_coef,
                           call_timeout_s=call_timeout_s,
                           make_state=None if isinstance(found, EnvCard) else found.state)
    else:
        env = TaskRewardInfo(env, task_coef)
    if message_info:
        env = MessageInfo(env)
    if subgoals is not None:
        env = TransitionInfo(env, subgoals)
    return policy_observation(found, env, crop=crop)


class TaskRewardInfo(gym.Wrapper):
    """Without a reward function: records the task reward in info (as ShapedReward does) and scales it."""

    def __init__(self, env: gym.Env, task_coef: float) -> None:
        super().__init__(env)
        self.task_coef = task_coef

    def step(self, action):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        info[TASK_REWARD] = reward
        return obs, self.task_coef * reward, terminated, truncated, info
