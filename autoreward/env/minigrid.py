"""The MiniGrid card: MiniGrid's gridworlds (DoorKey, KeyCorridor, LavaCrossing, MultiRoom, Empty, FourRooms)
through the card interface (docs/cards.md), read from `envs/minigrid.toml` (`card = "minigrid"`). The card lists
those tasks with goals written for them, and serves every other registered `MiniGrid-*` id too, with the env's
own mission as its goal.

The card's env gives the full grid, not just the agent's 7x7 view (`FullGridObservation`): reward code reads it
through `MiniGridState`, and the policy sees it through autoreward.train.minigrid_observation (`policy =
"minigrid"`). Success is MiniGrid's own: a positive reward on termination (1 - 0.9 * steps / max_steps); a
step into lava ends the episode with 0. Both are also reported as NLE's `end_status` in `info`
(TASK_SUCCESSFUL, DEATH), so the trainer's metrics and the evaluator read one key for every card; an end with
a negative reward (Dynamic-Obstacles: running into an obstacle) is a death too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401 - registers the MiniGrid-* envs
import numpy as np
from minigrid.core.constants import OBJECT_TO_IDX

from autoreward.env.card import TaskInfo, describe_card, document_api, find_task
from autoreward.env.info import END_STATUS
from autoreward.env.minigrid_state import GROUPS, MINIGRID_API, NAMES, MiniGridState, render_minigrid
from autoreward.env.wrappers import DEATH, RUNNING, TASK_SUCCESSFUL
from autoreward.errors import UsageError

CARD_KIND = "minigrid"  # the `card` key of envs/minigrid.toml
LAVA = OBJECT_TO_IDX["lava"]
POLICY = "minigrid"  # which policy observation and feature extractor the trainer uses (autoreward.train.policy)


class FullGridObservation(gym.Wrapper):
    """MiniGrid's env with the full grid in each observation, seeded once, and its end reported as end_status.

    Observation: {"grid": height x width x 3 codes ([y, x]), "pos": (x, y), "direction", "carrying": (object,
    colour) codes (0, 0: nothing), "mission": text}. The first reset uses `seed`; later resets continue the
    env's generator, so episode i of a seed is always the same layout.
    """

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env)
        self._seed = seed
        base = env.unwrapped
        shape = (base.height, base.width)
        self.observation_space = gym.spaces.Dict({
            "grid": gym.spaces.Box(0, 255, (*shape, 3), dtype=np.uint8),
            "pos": gym.spaces.Box(0, max(shape), (2,), dtype=np.int64),
            "direction": gym.spaces.Discrete(4),
            "carrying": gym.spaces.Box(0, 255, (2,), dtype=np.int64),
            "mission": gym.spaces.Text(max_length=256),
        })

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):  # type: ignore[override]
        if seed is None and self._seed is not None:
            seed, self._seed = self._seed, None
        _, info = self.env.reset(seed=seed, options=options)
        info[END_STATUS] = RUNNING
        return self._observe(), info

    def step(self, action):  # type: ignore[override]
        _, reward, terminated, truncated, info = self.env.step(action)
        obs = self._observe()
        status = RUNNING
        if terminated:
            x, y = obs["pos"]
            died = reward < 0 or obs["grid"][y, x, 0] == LAVA
            status = TASK_SUCCESSFUL if reward > 0 else DEATH if died else RUNNING
        info[END_STATUS] = status
        return obs, float(reward), terminated, truncated, info

    def _observe(self) -> dict[str, Any]:
        base = self.env.unwrapped
        carried = base.carrying
        carrying = (0, 0) if carried is None else carried.encode()[:2]
        return {"grid": base.grid.encode().transpose(1, 0, 2), "pos": np.array(base.agent_pos, dtype=np.int64),
                "direction": int(base.agent_dir), "carrying": np.array(carrying, dtype=np.int64),
                "mission": str(base.mission)}


@dataclass(frozen=True)
class MiniGridCard:
    """The MiniGrid family: its tasks from envs/minigrid.toml, its State, its text, its success."""

    family: str
    title: str
    summary: str
    notes: str
    tasks: tuple[TaskInfo, ...]
    policy: str = POLICY
    unlisted: str = "every other MiniGrid-* env registered with gymnasium, its mission as the goal"

    @property
    def state_api(self) -> frozenset[str]:
        """The names reward code may read on a MiniGridState (the critic's allow-list)."""
        return MINIGRID_API

    def task(self, task_id: str) -> TaskInfo:
        """A listed task, or any other registered MiniGrid-* id with its mission as the goal."""
        if any(task.id == task_id for task in self.tasks) or not self.serves(task_id):
            return find_task(self.tasks, task_id, self.family)
        return unlisted_task(task_id, self.family)

    @staticmethod
    def serves(task_id: str) -> bool:
        """Whether `task_id` is a MiniGrid env registered with gymnasium (the card plays any of them)."""
        return task_id.startswith("MiniGrid-") and task_id in gym.registry

    def make(self, task_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
        """The task's env with the full grid in its observations, seeded through `reset(seed=)`."""
        task = self.task(task_id)
        env = gym.make(task.id, disable_env_checker=True, **{**task.make_kwargs, **kwargs})
        return FullGridObservation(env, seed)

    @staticmethod
    def state(obs: dict[str, Any], env_reward: float = 0.0, terminated: bool = False, truncated: bool = False,
              info: dict[str, Any] | None = None, step: int = 0) -> MiniGridState:
        """The State of one observation of the card's env (after a reset, or after a step)."""
        grid = obs["grid"]
        status = int((info or {}).get(END_STATUS, RUNNING))
        pos, carrying = obs["pos"], obs["carrying"]
        return MiniGridState(grid.tobytes(), (int(grid.shape[0]), int(grid.shape[1])), (int(pos[0]), int(pos[1])),
                             int(obs["direction"]), (int(carrying[0]), int(carrying[1])), str(obs["mission"]),
                             float(env_reward), bool(terminated or truncated), status == TASK_SUCCESSFUL,
                             status == DEATH, int(step))

    @staticmethod
    def success(info: dict[str, Any]) -> bool:
        """MiniGrid's own success: the env paid a positive reward on termination (end_status TASK_SUCCESSFUL)."""
        return int(info.get(END_STATUS, RUNNING)) == TASK_SUCCESSFUL

    @staticmethod
    def render(state: MiniGridState) -> str:
        return render_minigrid(state)

    @staticmethod
    def action_names(env: gym.Env) -> list[str]:
        """MiniGrid's actions by name: left, right, forward, pickup, drop, toggle, done."""
        return [action.name for action in env.unwrapped.actions][:env.action_space.n]

    @staticmethod
    def describe_state_api() -> str:
        return describe_minigrid_api()

    @staticmethod
    def death_cause(state: MiniGridState) -> str:
        """What the agent died of, for the evaluator's failure causes: lava, or else (a negative end) an obstacle."""
        return "lava" if state.at(*state.pos) == "lava" else "hit an obstacle"

    @staticmethod
    def compact_step(prev: MiniGridState | None, action: str | None, state: MiniGridState) -> str:
        """One step of a trajectory as a short line (the evaluator's trajectories.jsonl, the analyzer's input)."""
        head = f"t={state.step} {action}" if action is not None else "start"
        events = [e for e, on in (("picked up " + " ".join(state.inventory), prev is not None and state.carrying
                                   and prev.carrying != state.carrying), ("SUCCESS", state.success),
                                  ("died in lava", state.died)) if on]
        return (f"{head}: at {state.pos} facing {state.direction_name}, front {state.front_cell}, carrying "
                f"{' '.join(state.inventory) or 'nothing'}" + (f" [{'; '.join(events)}]" if events else ""))

    def describe(self, task_id: str, contract: str, example_seed: int = 0) -> str:
        return describe_card(self, task_id, contract, example_seed, summary=self.summary, notes=self.notes)


def describe_minigrid_api() -> str:
    """The MiniGrid State API for the designer, generated from MiniGridState (the critic's allow-list)."""
    groups = "; ".join(f"'{g}' = {', '.join(parts)}" for g, parts in GROUPS.items())
    return "\n".join([
        document_api(MiniGridState, MINIGRID_API, "points are (x, y), x east, y south"),
        "",
        "Map names accepted by find/nearest/count/distance_to/path_to/actions_to/facing:",
        "  " + ", ".join(repr(n) for n in NAMES),
        f"Group names: {groups}. A locked door is also a 'closed door' (state.at names it so); 'locked door' finds "
        "only locked ones.",
    ])


#: Words of a MiniGrid mission -> the map name and character they mean, as the listed tasks' goals mention them.
_MISSION_WORDS = (("key", "key", "k"), ("door", "closed door", "+"), ("ball", "ball", "o"), ("box", "box", "b"),
                  ("goal", "goal", "G"), ("lava", "lava", "~"))


@functools.cache
def unlisted_task(task_id: str, family: str) -> TaskInfo:
    """A MiniGrid task envs/minigrid.toml does not list: its goal is the mission of its first seeded episode,
    with the map names the mission speaks of mentioned as the listed goals do (`('key', 'k')`)."""
    try:
        env = FullGridObservation(gym.make(task_id, disable_env_checker=True), seed=0)
        try:
            obs, info = env.reset()
        finally:
            env.close()
    except Exception as exc:  # a MiniGrid env that cannot be built here (a missing extra)
        raise UsageError(f"MiniGrid task {task_id!r} cannot be made here: {type(exc).__name__}: {exc}") from exc
    state = MiniGridCard.state(obs, info=info)
    mission = state.mission.strip()
    words = set(re.findall(r"[a-z]+", mission.lower()))
    locked = "door" in words and state.count("locked door") > 0  # it opens only with the key of its colour
    mentions = [f"('{name}', '{char}')" for word, name, char in _MISSION_WORDS
                if word in words or (word == "key" and locked)]
    said = f"MiniGrid's mission: '{mission}'." if mission else "MiniGrid gives this task no mission text."
    if mentions:
        said += f" On the map: {', '.join(mentions)}" + (
            " (the door is locked: toggle it while carrying the key of its colour)." if locked else ".")
    return TaskInfo(id=task_id, family=family, goal=f"{said} Success is MiniGrid's own: the env pays a positive "
                    "reward when the episode ends. The mission may change from episode to episode: `state.mission` "
                    "has the current one.")


def load_card(raw: dict[str, Any]) -> MiniGridCard:
    """The card of a parsed envs/minigrid.toml."""
    tasks = tuple(TaskInfo(id=t["id"], family=raw["family"], goal=t["goal"].strip(),
                           make_kwargs=dict(t.get("make_kwargs", {}))) for t in raw["tasks"])
    return MiniGridCard(family=raw["family"], title=raw["title"], summary=raw["summary"], notes=raw.get("notes", ""),
                        tasks=tasks)
