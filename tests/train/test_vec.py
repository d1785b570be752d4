"""WorkerVecEnv: envs grouped in subprocesses behave exactly like envs in this process."""

from __future__ import annotations

import os
import time

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from autoreward.train.envs import make_env
from autoreward.train.vec import WorkerError, WorkerVecEnv

TASK = "MiniHack-Room-5x5-v0"


def _factory(rank: int):
    return lambda: make_env(TASK, 100 + rank, None)


def _roll(venv, steps: int = 60):
    venv.seed(7)
    obs = venv.reset()
    rng = np.random.default_rng(0)
    trace = [obs]
    for _ in range(steps):
        obs, rewards, dones, infos = venv.step(rng.integers(8, size=venv.num_envs))
        trace.append((obs, rewards, dones, [i.get("task_reward") for i in infos]))
    venv.close()
    return trace


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_worker_groups_match_in_process_envs():
    fns = [_factory(i) for i in range(3)]
    assert _same(_roll(WorkerVecEnv(fns, workers=2)), _roll(DummyVecEnv(fns)))


def test_attribute_access_reaches_each_env():
    venv = WorkerVecEnv([_factory(i) for i in range(3)], workers=2)
    try:
        assert venv.get_attr("crop") == [9, 9, 9]
        venv.set_attr("crop", 9, indices=[2])
        assert venv.env_method("get_wrapper_attr", "crop", indices=[1]) == [9]
        assert venv.env_is_wrapped(gym.Wrapper) == [True, True, True]
        assert len(venv.processes) == 2
    finally:
        venv.close()


class _Crashing(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        os._exit(3)  # the worker dies as if a reward had crashed the interpreter


def test_a_dead_worker_is_an_error_not_a_hang():
    venv = WorkerVecEnv([_Crashing], workers=1)
    venv.reset()
    start = time.monotonic()
    with pytest.raises(WorkerError):
        venv.step(np.array([0]))
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("nice", [0, 10])
def test_workers_run_below_the_trainers_priority(nice):
    """The trainer's inference and update go first (autoreward.train.worker.lower_priority): each worker is nice
    steps lower, as a process and, where Linux groups sessions (autogroups), as a session."""
    venv = WorkerVecEnv([_factory(0)], workers=1, nice=nice)
    try:
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        pid = venv.processes[0].pid
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + nice)
        if os.path.exists(f"/proc/{pid}/autogroup"):
            with open(f"/proc/{pid}/autogroup", encoding="ascii") as group:
                assert group.read().split()[-1] == str(nice if nice else 0)
        venv.reset()
    finally:
        venv.close()
