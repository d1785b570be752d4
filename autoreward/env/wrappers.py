"""Gymnasium wrappers that each fix one thing about NLE/MiniHack environments."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

#: NLE's end_status values (nle.env.base.NLE.StepStatus).
ABORTED, RUNNING, DEATH, TASK_SUCCESSFUL = -1, 0, 1, 2


def episode_seeds(base_seed: int, episode: int) -> tuple[int, int]:
    """NetHack's (core, disp) RNG seeds for one episode, derived from a base seed and the episode index."""
    core, disp = np.random.SeedSequence([base_seed, episode]).generate_state(2, dtype=np.uint64)
    return int(core) >> 1, int(disp) >> 1  # NetHack takes signed 64-bit values


def seed_nethack(env: Any, core: int, disp: int) -> None:
    """Seed an NLE env's RNGs for its next reset; MiniGrid-based MiniHack levels also seed their layout RNG."""
    from nle.env.base import NLE

    minigrid = getattr(env, "minigrid_env", None)
    if minigrid is not None:
        # MiniHack's own seed() calls the gym-era minigrid_env.seed(), gone from gymnasium; the layout is drawn
        # at the minigrid env's next reset(), which a seeded reset here makes reproducible.
        minigrid.reset(seed=core % 2**32)
    NLE.seed(env, core, disp, reseed=False)


class NetHackSeeding(gym.Wrapper):
    """Seeds NetHack's own RNGs before every reset, so that episode i of seed s is always the same game.

    gymnasium's `reset(seed=...)` alone does not reach NetHack's core and display RNGs, and NetHack's
    anti-automation reseeding is switched off (`reseed=False`) to keep trajectories reproducible.
    """

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env)
        self._base_seed = seed
        self._episode = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):  # type: ignore[override]
        if seed is not None:
            self._base_seed, self._episode = seed, 0
        if self._base_seed is not None:
            core, disp = episode_seeds(self._base_seed, self._episode)
            seed_nethack(self.env.unwrapped, core, disp)
        self._episode += 1
        return self.env.reset(seed=seed, options=options)


class StepLimitAsTruncation(gym.Wrapper):
    """Reports NLE's step-limit ending as truncated, not terminated, so value targets bootstrap there.

    NLE ends a timed-out episode with terminated=True and end_status ABORTED; for an RL learner that is a
    time limit (the state had future value), which gymnasium spells truncated=True, terminated=False.
    """

    def step(self, action):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        end_status = info["end_status"] = int(info.get("end_status", RUNNING))  # a plain int pickles small
        if terminated and end_status == ABORTED:
            terminated, truncated = False, True
        return obs, reward, terminated, truncated, info
