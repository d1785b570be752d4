"""What many tests share: where the repository's files are, the task ids they play, and waiting for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CORPUS = TESTS / "rewards"  # hostile, benign, time-bomb and escape reward files
SHIPPED = TESTS / "data" / "calm_keyroom_s5.jsonl"  # a labelled CALM dataset
EXAMPLE = ROOT / "examples" / "minihack_keyroom_s5.py"  # the hand-written KeyRoom reward

KEYROOM = "MiniHack-KeyRoom-S5-v0"
ROOM = "MiniHack-Room-5x5-v0"
LAVA = "MiniHack-LavaCrossingS9N1-v0"
#: The synthesis loop's tiny budgets in tests: real trainings and evaluations, seconds each.
TINY_ITERATE = dict(steps=1024, eval_episodes=2, probe_transitions=200, workers=2, train_envs=4)


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0, poll_s: float = 0.05) -> None:
    """Return as soon as `condition()` holds; fail the test after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s"
        time.sleep(poll_s)
