"""NetHack games share the installed library's code pages (autoreward.env.shared_code).

That a game with shared code plays as a stock game does, step for step, is tested with the other speed fixes in
tests/env/test_cards.py (`test_unplugged_buffers_change_no_observation`: the card's env against a stock one).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from nle.nethack import nethack as nle_nethack

from autoreward.env.registry import card_for
from autoreward.env.shared_code import CodeSharer, share_game_code
from tests.common import KEYROOM

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="shared code pages are a Linux mapping")


def _mapped_files(segments) -> list[str]:
    """The file each segment's first page maps, read off /proc/self/maps."""
    rows = []
    for line in Path("/proc/self/maps").read_text(encoding="utf-8").splitlines():
        span, *_, path = line.split(maxsplit=5)
        low, high = (int(part, 16) for part in span.split("-"))
        rows.append((low, high, path.strip()))
    return [next(path for low, high, path in rows if low <= s.start < high) for s in segments]


def test_every_game_runs_the_installed_library_after_each_reset():
    card = card_for(KEYROOM)
    envs = [card.make(KEYROOM, seed=seed) for seed in range(3)]
    sharer = CodeSharer(nle_nethack.DLPATH)
    rng = np.random.default_rng(0)
    for _ in range(2):  # NLE loads its copy again at every reset: shared again each time
        for env in envs:
            env.reset()
            copy = env.unwrapped.nethack.dlpath
            segments = sharer.loaded_segments(copy)
            assert segments and any(s.executable for s in segments)
            assert _mapped_files(segments) == [nle_nethack.DLPATH] * len(segments)
            for action in rng.integers(env.action_space.n, size=20).tolist():
                if any(env.step(action)[2:4]):
                    break
    for env in envs:
        env.close()


def test_a_copy_that_is_not_the_library_is_left_alone(tmp_path):
    env = card_for(KEYROOM).make(KEYROOM, seed=0)
    env.reset()
    copy = env.unwrapped.nethack.dlpath
    other = tmp_path / "other.so"
    data = bytearray(Path(nle_nethack.DLPATH).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte differs: its code may not be the library's
    other.write_bytes(bytes(data))
    sharer = CodeSharer(str(other))
    assert not sharer.same_as_library(copy)
    assert sharer.share(copy) == 0
    assert _mapped_files(CodeSharer(nle_nethack.DLPATH).loaded_segments(copy)) == [nle_nethack.DLPATH] * 3
    env.close()


def test_an_env_without_a_nethack_game_is_not_touched():
    card = card_for("MiniGrid-DoorKey-5x5-v0")
    env = card.make("MiniGrid-DoorKey-5x5-v0", seed=0)
    assert share_game_code(env) is False
    env.reset(seed=0)
    env.close()
