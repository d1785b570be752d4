"""The keys that training's wrappers put into each step's `info` dict, defined once for every writer and reader.

Written in the env (each env of a worker, autoreward.train.envs) or by the VecEnv wrappers in the trainer, read by
the wrappers stacked above them and by the rollout metrics (autoreward.train.metrics). Here, in the lowest layer,
because the intrinsic and CALM wrappers read and write them too and must not import autoreward.train.

| key               | value                 | written by                              | read by                |
|-------------------|-----------------------|-----------------------------------------|------------------------|
| TASK_REWARD       | float, the task's own | ShapedReward, TaskRewardInfo            | metrics, add_component |
| REWARD_COMPONENTS | dict[str, float]      | ShapedReward; add_component (ONI, CALM) | metrics, add_component |
| REWARD_TOTAL      | float, their sum      | ShapedReward; add_component (ONI, CALM) | metrics, add_component |
| REWARD_ERROR      | str, why it failed    | ShapedReward (then the trainer stops)   | metrics                |
| MESSAGE           | str, the message line | MessageInfo (with an intrinsic reward)  | IntrinsicReward        |
| CALM_KEY          | str, transition key   | TransitionInfo (with CALM)              | CalmReward             |
| CALM_TEXT         | str, its rendering    | TransitionInfo, first sight of a key    | CalmReward             |

`END_STATUS` (NLE's step status, an int: autoreward.env.wrappers) comes from the env itself. The components an
added term brings start from the task term, named `TASK_COMPONENT`.
"""

from __future__ import annotations

from typing import Final

TASK_REWARD: Final = "task_reward"
REWARD_COMPONENTS: Final = "reward_components"
REWARD_TOTAL: Final = "reward_total"
REWARD_ERROR: Final = "reward_error"
MESSAGE: Final = "message"
CALM_KEY: Final = "calm_key"
CALM_TEXT: Final = "calm_text"
END_STATUS: Final = "end_status"

TASK_COMPONENT: Final = "task"  # the task term's name in REWARD_COMPONENTS, when an added term needs it there

#: Every key above that training adds to `info` (END_STATUS is the env's own).
TRAINING_KEYS: Final = frozenset({TASK_REWARD, REWARD_COMPONENTS, REWARD_TOTAL, REWARD_ERROR, MESSAGE, CALM_KEY,
                                  CALM_TEXT})
