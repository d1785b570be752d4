"""A plugin card from outside the package (docs/cards.md): a MiniHack room behind a State of its own.

`ToyCard` serves one task, `Toy-Room-v0` (MiniHack-Room-5x5-v0's game), whose reward code sees only `ToyState`:
the agent's position, the stairs' position and the distance between them, and the episode flags. NetHack's
State API (`state.path_to`, `state.message`, ...) is not there, so the critic must refuse code that reads it.
Loaded with `--card tests.plugins.toy_card:ToyCard` (or the entry point the tests install).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from autoreward.env.card import TaskInfo, action_names, describe_card, document_api, find_task
from autoreward.env.registry import card_for
from autoreward.env.wrappers import TASK_SUCCESSFUL

GAME = "MiniHack-Room-5x5-v0"  # the built-in task whose game the toy card plays
TASK = "Toy-Room-v0"
STAIRS = ord(">")
NETHACK_ONLY = """
def compute_reward(prev, action, state, memory):
    steps = state.path_to("stairs down")
    return 0.0, {"path": 0.0 if steps is None else -0.01 * steps}
"""  # a reward the critic must refuse on this card: NetHack's State API is not the toy's


@dataclass(frozen=True)
class ToyState:
    """What reward code sees of one observation of the toy room."""

    pos: tuple[int, int]
    stairs: tuple[int, int] | None
    env_reward: float
    done: bool
    success: bool
    step: int

    @property
    def distance(self) -> int | None:
        """Move distance from the agent to the stairs (None: not seen)."""
        if self.stairs is None:
            return None
        return max(abs(self.pos[0] - self.stairs[0]), abs(self.pos[1] - self.stairs[1]))


API = frozenset({"pos", "stairs", "env_reward", "done", "success", "step", "distance"})


class ToyCard:
    """The Card interface, implemented by hand: one task, its own State, its own text."""

    family = "toy"
    title = "Toy room (plugin card)"
    tasks = (TaskInfo(id=TASK, family="toy", goal="Walk to the stairs down ('>') of a lit 5x5 room."),)

    @property
    def state_api(self) -> frozenset[str]:
        return API

    def task(self, task_id: str) -> TaskInfo:
        return find_task(self.tasks, task_id, self.family)

    def make(self, task_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
        self.task(task_id)
        return card_for(GAME).make(GAME, seed=seed, **kwargs)

    def state(self, obs: Any, env_reward: float = 0.0, terminated: bool = False, truncated: bool = False,
              info: dict[str, Any] | None = None, step: int = 0) -> ToyState:
        x, y = int(obs["blstats"][0]), int(obs["blstats"][1])
        found = np.argwhere(obs["chars"] == STAIRS)
        stairs = None if not len(found) else (int(found[0][1]), int(found[0][0]))
        return ToyState(pos=(x, y), stairs=stairs, env_reward=float(env_reward), done=bool(terminated or truncated),
                        success=self.success(info or {}), step=int(step))

    def success(self, info: dict[str, Any]) -> bool:
        return int(info.get("end_status", 0)) == TASK_SUCCESSFUL

    def render(self, state: ToyState) -> str:
        return f"agent at {state.pos}, stairs at {state.stairs}, distance {state.distance}"

    def action_names(self, env: gym.Env) -> list[str]:
        return action_names(env)

    def describe_state_api(self) -> str:
        return document_api(ToyState, API, "points are (x, y)")

    def describe(self, task_id: str, contract: str, example_seed: int = 0) -> str:
        return describe_card(self, task_id, contract, example_seed, summary="A 5x5 room seen through a toy State.")
