"""PPO with its update overlapped with the next rollout (autoreward.train.overlap): the first 3/4 of a rollout
act one update behind, the rest with that update's result; otherwise it is SB3's PPO (the same first update,
deterministic), saves what it learned, and stops cleanly on a failure or Ctrl-C; `autoreward train` uses it by
default and plain PPO with `ppo.overlap=False`."""

from __future__ import annotations

import threading

import gymnasium as gym
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from autoreward.train import build
from autoreward.train.config import PPOConfig, TrainConfig
from autoreward.train.overlap import OverlappedPPO

N_ENVS, N_STEPS = 4, 16
ROLLOUT = N_ENVS * N_STEPS


def make(cls: type[PPO], seed: int = 0) -> PPO:
    venv = DummyVecEnv([lambda: gym.make("CartPole-v1") for _ in range(N_ENVS)])
    return cls("MlpPolicy", venv, n_steps=N_STEPS, batch_size=32, n_epochs=2, seed=seed, device="cpu")


def weights(model: PPO) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class ActingWeights(BaseCallback):
    """Records the weights of the policy that acts: at each rollout's start, then after each step."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[list[list[torch.Tensor]]] = []

    def _on_rollout_start(self) -> None:
        self.rollouts.append([weights(self.model)])

    def _on_step(self) -> bool:
        self.rollouts[-1].append(weights(self.model))
        return True


def test_one_rollout_learns_exactly_what_plain_ppo_learns():
    plain = make(PPO)  # made and trained one after the other: SB3 seeds the global generators when it makes one
    plain.learn(ROLLOUT)
    overlapped = make(OverlappedPPO)
    overlapped.learn(ROLLOUT)
    assert same(weights(plain), weights(overlapped))
    assert overlapped._n_updates == plain._n_updates == 2  # n_epochs


def test_the_first_steps_of_a_rollout_act_one_update_behind_the_rest_with_its_result():
    plain = make(PPO)
    plain.learn(ROLLOUT)  # theta_1: one update on the first rollout
    overlapped, acting = make(OverlappedPPO), ActingWeights()
    overlapped.learn(3 * ROLLOUT, callback=acting)
    join = round(PPOConfig().join_at * N_STEPS)  # the default: 3/4 of the steps
    assert overlapped.join_step == join == 12
    first, second, third = acting.rollouts
    theta_0, theta_1 = first[0], weights(plain)
    assert all(same(w, theta_0) for w in first)
    # rollout 1: steps 1..join chose their actions with theta_0 (update 0 running), the others with theta_1
    assert all(same(w, theta_0) for w in second[:join]) and all(same(w, theta_1) for w in second[join:])
    assert same(third[0], theta_1) and not same(third[-1], theta_1)  # update 1 joined within rollout 2
    assert overlapped._n_updates == plain._n_updates * 3  # every rollout is learned from, the last one too
    assert overlapped.update_seconds > 0


def test_joining_at_the_rollouts_end_acts_one_update_behind_throughout():
    overlapped, acting = make(OverlappedPPO), ActingWeights()
    overlapped.join_step = N_STEPS  # what join_at=1 sets
    overlapped.learn(2 * ROLLOUT, callback=acting)
    first, second = acting.rollouts
    assert all(same(w, first[0]) for w in second[:-1])  # the last one: joined as rollout 1 ended
    with pytest.raises(ValueError, match="join_at"):
        OverlappedPPO("MlpPolicy", "CartPole-v1", join_at=0)


def test_training_is_deterministic_whatever_the_threads_timing():
    first = make(OverlappedPPO, seed=3)
    first.learn(4 * ROLLOUT)
    second = make(OverlappedPPO, seed=3)
    second.learn(4 * ROLLOUT)
    assert same(weights(first), weights(second))


def test_the_saved_policy_is_the_learned_one_with_its_optimizer(tmp_path):
    model = make(OverlappedPPO)
    model.learn(2 * ROLLOUT)
    model.save(tmp_path / "policy.zip")
    loaded = PPO.load(tmp_path / "policy.zip", device="cpu")
    assert same(weights(loaded), weights(model))
    optimizer_state = loaded.policy.optimizer.state_dict()["state"]
    steps_taken = 2 * 2 * (ROLLOUT // 32)  # rollouts x epochs x minibatches: the learner's Adam, not the actor's copy
    assert optimizer_state and all(float(s["step"]) == steps_taken for s in optimizer_state.values())
    model.learn(ROLLOUT, reset_num_timesteps=False)  # learning goes on from there
    assert model.num_timesteps == 3 * ROLLOUT


def test_a_failing_update_is_raised_in_the_training_thread(monkeypatch):
    model = make(OverlappedPPO)

    def broken(self: PPO) -> None:
        raise FloatingPointError("nan in the loss")

    monkeypatch.setattr(PPO, "train", broken)
    with pytest.raises(FloatingPointError, match="nan in the loss"):
        model.learn(3 * ROLLOUT)
    assert not any(t.name == "autoreward-ppo-update" for t in threading.enumerate())


class InterruptAt(BaseCallback):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.step:
            raise KeyboardInterrupt
        return True


def test_ctrl_c_during_a_rollout_lets_the_update_finish_and_keeps_what_was_learned():
    model = make(OverlappedPPO)
    with pytest.raises(KeyboardInterrupt):
        model.learn(10 * ROLLOUT, callback=InterruptAt(ROLLOUT + N_ENVS))  # in rollout 1, while update 0 runs
    assert not any(t.name == "autoreward-ppo-update" for t in threading.enumerate())
    plain = make(PPO)
    plain.learn(ROLLOUT)
    assert same(weights(model), weights(plain))  # update 0 finished and is what the model holds


def test_autoreward_trains_overlapped_by_default_and_plain_on_request(tmp_path):
    config = TrainConfig(task="MiniHack-KeyRoom-S5-v0", out=str(tmp_path), envs=1, steps=256)
    venv = DummyVecEnv([build.env_factory(config, 0, None)])
    assert PPOConfig().overlap
    model = build.build_model(config, venv, "cpu")
    assert isinstance(model, OverlappedPPO) and model.join_at == PPOConfig().join_at
    later = build.build_model(config.replace(ppo={"join_at": 0.75}), venv, "cpu")
    assert later.join_step == round(0.75 * later.n_steps)
    plain = build.build_model(config.replace(ppo={"overlap": False}), venv, "cpu")
    assert type(plain) is PPO

