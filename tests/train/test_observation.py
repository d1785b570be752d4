"""The policy observation (autoreward.train.observation): converted env by env, or a worker's envs together
(`BatchObservation`), the arrays are the same."""

from __future__ import annotations

import numpy as np
import pytest

from autoreward.train.envs import make_env
from autoreward.train.observation import BatchObservation, PolicyObservation
from autoreward.train.worker import _answer, batch_observation
from tests.common import KEYROOM, LAVA, ROOM


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def _stacked(observations: list[dict]) -> dict:
    return {key: np.stack([o[key] for o in observations]) for key in observations[0]}


@pytest.mark.parametrize(("task", "episodes_end"), [(KEYROOM, True), (ROOM, True), (LAVA, True),
                                                    ("NetHackScore-v0", False)])
def test_a_batch_converts_as_each_env_does(task, episodes_end):
    """Two identical sets of envs play the same seeded actions: one converts env by env, the other in batches
    (terminal observations at once, the rest together); every observation sent, terminal ones included, matches."""
    count, rng = 5, np.random.default_rng(1)
    single = [make_env(task, 40 + i, None) for i in range(count)]
    deferred = [make_env(task, 40 + i, None) for i in range(count)]
    batch = batch_observation(deferred)
    assert isinstance(batch, BatchObservation) and all(env.deferred for env in deferred)
    reset = {"seeds": list(range(count)), "options": [{}] * count}
    a = _answer(single, "reset", (reset["seeds"], reset["options"]))
    b = _answer(deferred, "reset", (reset["seeds"], reset["options"]), batch)
    assert _same(a[0], b[0])
    ended = 0
    for _ in range(120):
        actions = rng.integers(single[0].action_space.n, size=count).tolist()
        a = _answer(single, "step", actions)
        b = _answer(deferred, "step", actions, batch)
        assert _same(a[0], b[0])
        assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
        for info_a, info_b in zip(a[3], b[3], strict=True):
            assert ("terminal_observation" in info_a) == ("terminal_observation" in info_b)
            if "terminal_observation" in info_a:
                assert _same(info_a["terminal_observation"], info_b["terminal_observation"])
                ended += 1
    assert (ended > 0) == episodes_end  # MiniHack's short episodes: resets in the middle of batches
    assert all(env.observation_seconds > 0 for env in deferred)
    for env in single + deferred:
        env.close()


def test_the_agent_at_the_map_edge_and_off_the_map():
    """The crop pads outside the map; an agent position off the map (NLE's blank end screen) marks no cell."""
    envs = [make_env(ROOM, i, None) for i in range(3)]
    for env in envs:
        env.reset()
    raws = [dict(env.raw) for env in envs]
    for raw, (x, y) in zip(raws, [(0, 0), (78, 20), (200, 50)], strict=True):
        raw["blstats"] = raw["blstats"].copy()
        raw["blstats"][0], raw["blstats"][1] = x, y
    expected = [env._convert(raw) for env, raw in zip(envs[:2], raws[:2], strict=True)]
    batch = BatchObservation(envs[:2])
    for env, raw in zip(envs, raws, strict=True):
        env.raw = raw
    assert _same(batch(), _stacked(expected))
    with pytest.raises(IndexError):  # a position past the padded map is an error, as it is env by env
        BatchObservation(envs)()
    for env in envs:
        env.close()


def test_envs_that_are_not_nethacks_convert_their_own():
    envs = [make_env("MiniGrid-DoorKey-5x5-v0", 0, None)]
    assert not isinstance(envs[0], PolicyObservation)
    assert batch_observation(envs) is None
    envs[0].close()


def test_crop_and_map_follow_their_definition():
    """An oracle written cell by cell: the crop is the k x k glyphs around the agent (PAD_GLYPH off the map); each
    coarse cell counts the 3 x 4 map cells of each channel, the agent's own cell in channel 0."""
    from autoreward.train.observation import _CHANNEL_OF_GLYPH, BLOCK, MAP_CHANNELS, PAD_GLYPH

    env = make_env(KEYROOM, 3, None)
    env.reset()
    rng = np.random.default_rng(2)
    for _ in range(30):
        obs = env.step(int(rng.integers(env.action_space.n)))[0]
        raw = env.raw
        glyphs, x, y = raw["glyphs"], int(raw["blstats"][0]), int(raw["blstats"][1])
        rows, cols, half = *glyphs.shape, env.crop // 2
        crop = np.full((env.crop, env.crop), PAD_GLYPH)
        expected = np.zeros((len(MAP_CHANNELS), -(-rows // BLOCK[0]), -(-cols // BLOCK[1])), dtype=np.uint8)
        for r in range(rows):
            for c in range(cols):
                if abs(r - y) <= half and abs(c - x) <= half:
                    crop[r - y + half, c - x + half] = glyphs[r, c]
                channel = 0 if (r, c) == (y, x) else _CHANNEL_OF_GLYPH[glyphs[r, c]]
                if channel < len(MAP_CHANNELS):
                    expected[channel, r // BLOCK[0], c // BLOCK[1]] += 1
        assert np.array_equal(obs["crop"], crop) and np.array_equal(obs["map"], expected)
    env.close()
