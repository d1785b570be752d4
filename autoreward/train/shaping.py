"""The training reward: the task's own reward plus a reward function's total, computed inside the env worker.

    r_train = task_coef * r_task + total(reward_fn(prev, action, state, memory))

Why this combination: the task reward keeps the true objective in the signal, so a shaped reward can only
add guidance and never hide success; `task_coef` (default 1) lets a user weight it. A reward function that
raises, breaks the contract, runs past its per-call time budget or does something the audit wall refuses
(autoreward.reward.walls: armed around every call) does not crash or hang the worker: the wrapper records the
reason in `info[REWARD_ERROR]` (autoreward.env.info; the trainer stops), then keeps paying the task reward alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from autoreward.env.info import END_STATUS, REWARD_COMPONENTS, REWARD_ERROR, REWARD_TOTAL, TASK_REWARD
from autoreward.env.state import State
from autoreward.env.wrappers import DEATH, TASK_SUCCESSFUL
from autoreward.reward.contract import (
    ContractViolation,
    RewardCallTimeout,
    RewardFn,
    call_with_budget,
    install_call_timer,
    remove_call_timer,
    validate_result,
)
from autoreward.reward.walls import AUDIT_WALL


class ShapedReward(gym.Wrapper):
    """Adds a reward function to the task reward; puts its components and the task reward in `info`.

    Every result is checked against the contract here, in the process that ran the reward, so that only plain
    floats and names leave it (the trainer never unpickles an object that reward code made). With `deferred` set
    (autoreward.train.worker does), a step that does not end the episode pays the task reward and leaves its call
    for `finish()`, which returns the total to add once all of the worker's envs have stepped.
    """

    def __init__(self, env: gym.Env, reward_fn: RewardFn, task_coef: float = 1.0,
                 call_timeout_s: float = 1.0, make_state: Callable[..., Any] | None = None) -> None:
        """`make_state`: a plugin card's `Card.state` (obs, reward, terminated, truncated, info, step); None: the
        NetHack State, built here directly (the hot path of the built-in cards)."""
        super().__init__(env)
        self.reward_fn = reward_fn
        self.make_state = make_state
        self.task_coef = float(task_coef)
        self.call_timeout_s = float(call_timeout_s)
        self._timer = install_call_timer(self.call_timeout_s)  # interrupts a runaway call (main thread only)
        AUDIT_WALL.install()
        self._prev: State | None = None
        self._memory: dict[Any, Any] = {}
        self._steps = 0
        self.error: str | None = None
        # True (an env worker sets it): a step that does not end the episode leaves its reward call pending, and
        # `finish()` makes it once the worker has stepped all its envs, so that reward code runs warm, call after call
        self.deferred = False
        self._pending: tuple[Any, Any, dict[str, Any]] | None = None
        self.reward_seconds = 0.0  # time spent building States and calling the reward (`bench train` reads it)

    def reset(self, **kwargs: Any):  # type: ignore[override]
        obs, info = self.env.reset(**kwargs)
        self._prev = State.copy_from(obs) if self.make_state is None else self.make_state(obs, info=info)
        self._memory = {}
        self._steps = 0
        self._pending = None  # a new episode: an unfinished step of the last one is abandoned with it
        return obs, info

    def step(self, action):  # type: ignore[override]
        if self._pending is not None:
            raise RuntimeError("ShapedReward.step while a deferred reward call is pending: call finish() first")
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        info[TASK_REWARD] = task_reward
        if self.error is not None:
            info[REWARD_ERROR] = self.error  # an earlier step failed: the task reward alone is paid
            return obs, self.task_coef * task_reward, terminated, truncated, info
        start = time.perf_counter()
        try:
            state = self._state(obs, task_reward, terminated, truncated, info)
            if self.deferred and not (terminated or truncated):  # the reset that follows an end needs _prev now
                self._pending = (state, action, info)
                return obs, self.task_coef * task_reward, terminated, truncated, info
            return obs, self.task_coef * task_reward + self._call(state, action, info), terminated, truncated, info
        finally:
            self.reward_seconds += time.perf_counter() - start

    def finish(self) -> float:
        """The reward function's total for the step that a `deferred` step left pending (0.0 when none): add it
        to that step's reward. Its components, or its failure, go into that step's info as in `step`."""
        pending = self._pending
        if pending is None:
            return 0.0
        self._pending = None
        start = time.perf_counter()
        try:
            return self._call(*pending)
        finally:
            self.reward_seconds += time.perf_counter() - start

    def _state(self, obs: Any, task_reward: float, terminated: bool, truncated: bool, info: dict[str, Any]) -> Any:
        """The State of this step, copied now (NLE overwrites its buffers on the env's next step)."""
        if self.make_state is None:
            end = info.get(END_STATUS, 0)
            return State.copy_from(obs, task_reward, terminated or truncated, end == TASK_SUCCESSFUL, end == DEATH,
                                   self._steps)  # NLE's reward is a float, its flags are bools
        return self.make_state(obs, task_reward, terminated, truncated, info, self._steps)

    def _call(self, state: Any, action: Any, info: dict[str, Any]) -> float:
        """Call the reward function on (prev, action, state): its total, with the components in `info`; when it
        fails, 0.0 and the reason in `info[REWARD_ERROR]` (the task reward alone is paid from here on)."""
        wall = AUDIT_WALL
        wall.arm()
        try:  # the hot path: this runs on every environment step
            result = call_with_budget(self.reward_fn, self._prev, int(action), state, self._memory,
                                      self.call_timeout_s)
        except BaseException as exc:
            wall.disarm()
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.error = self._describe(exc)
        else:
            wall.disarm()
            if wall.violation is not None:
                self.error = self._describe(None)
            else:
                try:
                    total, components = validate_result(result)
                except ContractViolation as exc:
                    self.error = f"the reward function broke the contract at step {self._steps}: {exc}"
                else:
                    self._prev = state
                    info[REWARD_COMPONENTS] = components
                    info[REWARD_TOTAL] = total
                    return total
        info[REWARD_ERROR] = self.error  # the trainer stops; until then the task reward alone is paid
        return 0.0

    def close(self) -> None:
        if self._timer:
            remove_call_timer()
            self._timer = False
        super().close()

    def _describe(self, exc: BaseException | None) -> str:
        if AUDIT_WALL.violation is not None:  # first: reward code may have caught the refusal and raised another
            return (f"the reward function tried to leave its sandbox at step {self._steps} of an episode: "
                    f"{AUDIT_WALL.violation} was refused")
        if isinstance(exc, RewardCallTimeout):
            return (f"the reward function ran over its per-call budget of {self.call_timeout_s:g} s at step "
                    f"{self._steps} of an episode")
        if isinstance(exc, MemoryError):
            return (f"the reward function ran out of memory at step {self._steps} (over the worker's cap): it "
                    "allocates without bound")
        if isinstance(exc, (TypeError, ValueError)):
            return (f"the reward function must return (total: float, components: dict), but at step "
                    f"{self._steps}: {type(exc).__name__}: {str(exc)[:300]}")
        return f"the reward function raised {type(exc).__name__} at step {self._steps}: {str(exc)[:300]}"
