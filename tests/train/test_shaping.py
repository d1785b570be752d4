"""The training reward wrapper: r_train = task_coef * r_task + total; failures are recorded, never raised."""

from __future__ import annotations

import numpy as np
import pytest

from autoreward.env.registry import card_for
from autoreward.reward.loader import load_reward
from autoreward.train.shaping import ShapedReward

TASK = "MiniHack-KeyRoom-S5-v0"


def _wrapped(source: str, task_coef: float = 1.0, timeout: float = 1.0) -> ShapedReward:
    return ShapedReward(card_for(TASK).make(TASK, seed=0), load_reward(source), task_coef, timeout)


def _run(env: ShapedReward, steps: int, deferred: bool = False):
    rng = np.random.default_rng(0)
    env.reset()
    env.deferred = deferred
    out = []
    for _ in range(steps):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        reward += env.finish()  # what an env worker does after stepping all its envs (0.0 when nothing is pending)
        out.append((reward, info))
        if terminated or truncated:
            env.reset()
    env.close()
    return out


def test_training_reward_adds_the_reward_function_to_the_task_reward():
    source = ("def compute_reward(prev, action, state, memory):\n"
              "    memory['n'] = memory.get('n', 0) + 1\n"
              "    return 0.5 + 0.25, {'a': 0.5, 'b': 0.25}\n")
    for reward, info in _run(_wrapped(source, task_coef=2.0), 30):
        assert info["reward_components"] == {"a": 0.5, "b": 0.25}
        assert reward == pytest.approx(2.0 * info["task_reward"] + 0.75)
        assert "reward_error" not in info


@pytest.mark.parametrize("body,reason", [
    ("    if state.step == 5:\n        return memory['missing'], {}\n    return 0.0, {}\n",
     "raised KeyError at step 5"),
    ("    v = float('nan') if state.step == 3 else 0.0\n    return v, {'v': v}\n",
     "broke the contract at step 3: component 'v' is nan"),
    ("    while state.step == 4:\n        pass\n    return 0.0, {}\n", "per-call budget of 0.3 s at step 4"),
    ("    return 'a lot', {}\n", "broke the contract at step 1: total must be a float, got str"),
])
@pytest.mark.parametrize("deferred", [False, True])
def test_failing_reward_is_recorded_and_the_task_reward_goes_on(body, reason, deferred):
    env = _wrapped("def compute_reward(prev, action, state, memory):\n" + body, timeout=0.3)
    results = _run(env, 10, deferred)
    errors = [info["reward_error"] for _, info in results if "reward_error" in info]
    assert errors and reason in errors[0]
    failed = next(i for i, (_, info) in enumerate(results) if "reward_error" in info)
    for reward, info in results[failed:]:
        assert reward == info["task_reward"]  # only the task reward after a failure


def test_a_deferred_call_gives_what_the_call_in_the_step_gives():
    # Deferred (an env worker's batch): the step pays the task reward, finish() adds the function's total and fills
    # the step's info; the calls see the same prev, state and memory, episode ends (called in the step) included.
    source = ("def compute_reward(prev, action, state, memory):\n"
              "    memory['n'] = memory.get('n', 0) + 1\n"
              "    moved = 0.5 if prev.pos != state.pos else 0.0\n"
              "    end = 1.0 if state.done else 0.0\n"
              "    return moved + end + 0.01 * memory['n'], {'moved': moved, 'end': end, 'n': 0.01 * memory['n']}\n")
    in_place, deferred = _run(_wrapped(source), 400), _run(_wrapped(source), 400, deferred=True)
    assert any(info["reward_components"]["end"] for _, info in in_place)  # episodes ended within the run
    assert in_place == deferred


def test_a_step_while_a_call_is_pending_is_refused():
    env = _wrapped("def compute_reward(prev, action, state, memory):\n    return 0.5, {'a': 0.5}\n")
    env.reset()
    env.deferred = True
    _, reward, _, _, info = env.step(0)
    assert "reward_components" not in info and reward == info["task_reward"]
    with pytest.raises(RuntimeError, match="finish"):
        env.step(0)
    assert env.finish() == 0.5 and info["reward_components"] == {"a": 0.5}
    assert env.finish() == 0.0  # nothing pending
    env.close()
