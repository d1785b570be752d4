"""Gymnasium wrappers that each fix one thing about NLE/MiniHack environments."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from nle.env.base import NLE

with warnings.catch_warnings():  # minihack imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    from minihack.envs.keyroom import MiniHackKeyDoor  # importing minihack registers its gymnasium ids

from autoreward.env.glyphs import CATEGORY_OF_GLYPH, CODE

#: NLE's end_status values (nle.env.base.NLE.StepStatus).
ABORTED, RUNNING, DEATH, TASK_SUCCESSFUL = -1, 0, 1, 2


def episode_seeds(base_seed: int, episode: int) -> tuple[int, int]:
    """NetHack's (core, disp) RNG seeds for one episode, derived from a base seed and the episode index."""
    core, disp = np.random.SeedSequence([base_seed, episode]).generate_state(2, dtype=np.uint64)
    return int(core) >> 1, int(disp) >> 1  # NetHack takes signed 64-bit values


def seed_nethack(env: Any, core: int, disp: int) -> None:
    """Seed an NLE env's RNGs for its next reset; MiniGrid-based MiniHack levels also seed their layout RNG."""
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


class LastSightAtEnd(gym.Wrapper):
    """Shows the last real observation on the step that ends a MiniHack episode, instead of a blank one.

    When MiniHack ends a game (goal reached, step limit, death) NLE returns the screen after quitting: an
    empty map, the agent at (0, 0), 0 hit points. Reward code would read that as a huge jump (and the value
    function bootstraps a timed-out episode from it), so the observation before the final step is shown.
    """

    def step(self, action):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            base = self.env.unwrapped
            previous = getattr(base, "_previous_obs", None)  # MiniHack keeps the observation before each step
            if previous is not None and not obs["blstats"].any():
                obs = base._get_observation(previous)
        return obs, reward, terminated, truncated, info


#: Buffers NLE's own step reads (nle.env.base.NLE: the end of a game, menus, the score) and the ones MiniHack's
#: envs read by name (key_in_inventory: inv_strs, inv_letters; Sokoban/BoxoHack: chars; the description lookup):
#: always kept, whatever the card's observation keys.
_BUFFERS_READ_BY_NLE = ("glyphs", "blstats", "message", "program_state", "internal", "chars", "inv_strs",
                        "inv_letters", "screen_descriptions")
TTY_BUFFERS = ("tty_chars", "tty_colors", "tty_cursor")  # the terminal: what NLE's render() draws


def skip_unused_buffers(env: gym.Env, keys: tuple[str, ...]) -> tuple[str, ...]:
    """Stop NetHack from filling (and NLE and MiniHack from copying, twice a step) buffers nothing reads.

    NLE fills every buffer it was given on each step, and NLE and MiniHack each copy all of them per step; the card
    reads only `keys`. Buffers outside `keys` and outside what NLE/MiniHack read themselves (colors, specials,
    inv_glyphs, tty_*) are dropped from NLE's observation tuple, with every index into it moved to match (NLE's
    `render()` reads the tty buffers: keep them in `keys` to render). Returns the dropped names; the observations
    stay a stock env's (tested).
    """
    base = env.unwrapped
    nethack = getattr(base, "nethack", None)
    buffers = getattr(nethack, "_obs_buffers", None)
    order = getattr(base, "_observation_keys", None)
    if buffers is None or order is None or list(buffers) != list(order):
        return ()
    keep = set(keys) | set(_BUFFERS_READ_BY_NLE)
    dropped = tuple(key for key in order if key not in keep)
    if not dropped:
        return ()
    kept = [key for key in order if key in keep]
    nethack._obs_buffers = {key: buffers[key] for key in kept}
    nethack._pynethack.set_buffers(**nethack._obs_buffers)  # a buffer not given is no longer written
    nethack._obs = tuple(nethack._obs_buffers.values())
    base._observation_keys = kept
    for attr, key in (("_glyph_index", "glyphs"), ("_blstats_index", "blstats"), ("_message_index", "message"),
                      ("_program_state_index", "program_state"), ("_internal_index", "internal"),
                      ("_scr_descr_index", "screen_descriptions")):
        if hasattr(base, attr):
            setattr(base, attr, kept.index(key))
    base._original_observation_keys = tuple(k for k in base._original_observation_keys if k in keep)
    base._original_indices = tuple(kept.index(k) for k in base._original_observation_keys)
    return dropped


def skip_unused_screen_descriptions(env: gym.Env) -> bool:
    """Stop NetHack from filling MiniHack's 132 KB `screen_descriptions` buffer when nothing reads it.

    MiniHack always asks NLE for that buffer, and NLE fills it and copies it twice on every step: about a
    third of a step's time. In minihack 1.0.2 (pinned) only reward managers and the key-door envs read it;
    the key-door envs ask one question of it (which neighbour is a closed door, to apply the key), which
    the glyphs answer as well (`closed_door_direction`). Returns whether the buffer was unplugged; the
    observations stay identical to a stock env's (tested).
    """
    base = env.unwrapped
    nethack = getattr(base, "nethack", None)
    buffers = getattr(nethack, "_obs_buffers", None)
    if (getattr(base, "reward_manager", "absent") is not None or buffers is None
            or "screen_descriptions" not in buffers or not hasattr(base, "_scr_descr_index")):
        return False  # not MiniHack, or a task whose reward manager reads the descriptions
    if isinstance(base, MiniHackKeyDoor):
        base.get_object_direction = functools.partial(closed_door_direction, base, base.get_object_direction)
    nethack._pynethack.set_buffers(**{key: array for key, array in buffers.items() if key != "screen_descriptions"})
    index = list(buffers).index("screen_descriptions")
    unplugged = np.zeros((0, *buffers["screen_descriptions"].shape[1:]), dtype=np.uint8)
    nethack._obs = (*nethack._obs[:index], unplugged, *nethack._obs[index + 1:])
    return True


_CLOSED_DOOR = CODE["closed door"]
_NEIGHBOURS = tuple((dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1))  # MiniHack's order of the 9 cells


def closed_door_direction(env: Any, by_description: Any, name: str, observation: Any = None) -> int | None:
    """MiniHack's `get_object_direction` answered from glyphs for "closed door" (the descriptions' only reader).

    A cell is described as "closed door" exactly when it shows a closed-door glyph; other names go to
    MiniHack's own description-based method.
    """
    if name != "closed door":
        return by_description(name, observation)
    obs = env.last_observation if observation is None else observation
    glyphs = obs[env._glyph_index]
    x, y = (int(v) for v in obs[env._blstats_index][:2])
    rows, columns = glyphs.shape
    for index, (dx, dy) in enumerate(_NEIGHBOURS):
        cx, cy = x + dx, y + dy
        if 0 <= cy < rows and 0 <= cx < columns and CATEGORY_OF_GLYPH[glyphs[cy, cx]] == _CLOSED_DOOR:
            return env._index_to_dir_action(index)
    return None
