"""WorkerVecEnv: envs grouped in subprocesses behave exactly like envs in this process."""

from __future__ import annotations

import os
import time

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from autoreward.train.envs import make_env
from autoreward.train.shaping import ShapedReward
from autoreward.train.vec import WorkerError, WorkerVecEnv
from autoreward.train.worker import deferred_rewards

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


_COUNTING = ("def compute_reward(prev, action, state, memory):\n"
             "    memory['n'] = memory.get('n', 0) + 1\n"
             "    moved = 0.01 if prev.pos != state.pos else 0.0\n"
             "    return moved + 0.001 * memory['n'], {'moved': moved, 'count': 0.001 * memory['n']}\n")


def test_workers_defer_reward_calls_to_the_same_results():
    # A worker steps all its envs, then makes their reward calls (deferred_rewards): rewards, components and the
    # memory and prev each call sees are those of calling the reward inside each step, episode ends included.
    fns = [lambda rank=i: make_env(TASK, 100 + rank, _COUNTING) for i in range(4)]

    def roll(venv):
        venv.seed(7)
        venv.reset()
        rng = np.random.default_rng(0)
        trace = []
        for _ in range(80):
            _, rewards, dones, infos = venv.step(rng.integers(8, size=venv.num_envs))
            trace.append((rewards, dones, [(i.get("reward_components"), i.get("reward_error")) for i in infos]))
        venv.close()
        return trace

    deferred, in_place = roll(WorkerVecEnv(fns, workers=2)), roll(DummyVecEnv(fns))
    assert any(dones.any() for _, dones, _ in in_place)  # episode ends were met, and rewarded in place
    assert all(error is None for _, _, infos in in_place for _, error in infos)
    assert _same(deferred, in_place)


def test_reward_calls_are_deferred_only_under_wrappers_that_pass_the_reward_on():
    envs = [make_env(TASK, 0, _COUNTING, message_info=True), make_env(TASK, 1, _COUNTING)]
    shaped = deferred_rewards(envs)
    assert shaped is not None and all(isinstance(w, ShapedReward) and w.deferred for w in shaped)
    assert deferred_rewards([make_env(TASK, 2, None)]) is None  # no reward code: the task reward alone
    assert deferred_rewards([gym.wrappers.TransformReward(make_env(TASK, 3, _COUNTING), lambda r: 2 * r)]) is None
    for env in envs:
        env.close()


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
