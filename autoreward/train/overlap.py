"""SB3's PPO with its update overlapped with the first 3/4 of the next rollout (a policy lag of at most one).

Plain PPO alternates: the envs wait while the trainer updates, and the trainer waits while the envs step. Here
update k runs in a thread, on a learner copy of the policy, while rollout k+1 starts with the acting policy; a
fixed share of the way into that rollout (`join_at`, 3/4 by default: PPOConfig.join_at) the update is joined and
its weights act from the next step on. So the first 3/4 of rollout k+1 come from the policy one update behind the
learner that will learn from it, the rest from that learner's own. PPO's ratio is taken against the log-probabilities
recorded when acting (SB3's, unchanged), so each transition is weighted against the policy that really chose it.

Everything else is SB3's own: `collect_rollouts` and `train` unchanged, the same number of updates on the same
amount of data, and results as deterministic as plain PPO's: the join happens at a fixed step, whatever the
threads' timing, the update draws its minibatches from numpy's generator and acting samples from torch's. Torch
runs the update's ops without the GIL, so with a core to spare the update costs the rollout little. Measured on
KeyRoom (docs/benchmarks.md): joining only at the rollout's end (lag 1 throughout) learned less per step; joining
halfway or three quarters of the way did not, and 3/4 leaves the update time to finish beside the rollout.

During `learn()`, `policy` is the acting copy (a checkpoint saved then holds the weights that act, with an unused
optimizer); after it, the learner's weights and optimizer.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy

from autoreward.train.config import PPOConfig

#: How far into the next rollout the update is joined (measured, docs/benchmarks.md); its default is PPOConfig's.
JOIN_AT = PPOConfig.join_at


class OverlappedPPO(PPO):
    """PPO (stable-baselines3) whose update of rollout k runs during the first `join_at` of rollout k+1 (a share
    of its steps, 0 < join_at <= 1); see the module."""

    def __init__(self, *args: Any, join_at: float = JOIN_AT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not 0 < join_at <= 1:
            raise ValueError(f"join_at is a share of a rollout's steps, in (0, 1]: got {join_at}")
        self.join_at = join_at
        self.join_step = max(1, round(join_at * self.n_steps))  # the rollout step after which the update acts
        self.update_seconds = 0.0  # wall time the updates took, in their thread
        self.update_wait_seconds = 0.0  # of which the rollouts waited for (the update that was not hidden)
        self._learner: PPO | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def learn(self, total_timesteps: int, callback: Any = None, log_interval: int = 1,
              tb_log_name: str = "PPO", reset_num_timesteps: bool = True,
              progress_bar: bool = False) -> OverlappedPPO:
        """SB3's `OnPolicyAlgorithm.learn`, with `train()` started in a thread after each rollout and joined at the
        next rollout's join step (its end-of-rollout callbacks see the update's figures, as with plain PPO)."""
        given = callback if isinstance(callback, list) else [] if callback is None else [callback]
        total_timesteps, callback = self._setup_learn(total_timesteps, [_FinishUpdate(self), *given],
                                                      reset_num_timesteps, tb_log_name, progress_bar)
        callback.on_training_start(locals(), globals())
        assert self.env is not None
        learner = self._learner = copy.copy(self)  # shares the logger and settings; its own policy and buffer
        self.policy = self._acting_copy(learner.policy)  # what collect_rollouts (and predict) use meanwhile
        learner.rollout_buffer = self.rollout_buffer_class(  # two buffers: one being filled, one learned from
            self.n_steps, self.observation_space, self.action_space, device=self.device, gamma=self.gamma,
            gae_lambda=self.gae_lambda, n_envs=self.n_envs, **self.rollout_buffer_kwargs)
        iteration = 0
        try:
            while self.num_timesteps < total_timesteps:
                collected = self.collect_rollouts(self.env, callback, self.rollout_buffer, n_rollout_steps=self.n_steps)
                self.finish_update()
                if not collected:
                    break
                iteration += 1
                self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
                if log_interval is not None and iteration % log_interval == 0:
                    self.dump_logs(iteration)
                learner.rollout_buffer, self.rollout_buffer = self.rollout_buffer, learner.rollout_buffer
                learner._current_progress_remaining = self._current_progress_remaining
                self._thread = threading.Thread(target=self._update, name="autoreward-ppo-update", daemon=True)
                self._thread.start()
            self.finish_update()
        finally:
            self._stop_update()
            self.policy, self._n_updates = learner.policy, learner._n_updates  # what is saved: the learned weights
            self._learner = None
        callback.on_training_end()
        return self

    def _acting_copy(self, policy: BasePolicy) -> BasePolicy:
        """A policy like SB3 builds one (`_setup_model`), holding `policy`'s weights; the random draws of its
        initial weights are taken from a fork of torch's generator, so acting samples what plain PPO would."""
        with torch.random.fork_rng(devices=[]):
            actor = self.policy_class(self.observation_space, self.action_space, self.lr_schedule,
                                      use_sde=self.use_sde, **self.policy_kwargs).to(self.device)
        actor.load_state_dict(policy.state_dict())
        actor.set_training_mode(False)
        return actor

    def _update(self) -> None:
        assert self._learner is not None
        started = time.perf_counter()
        try:
            self._learner.train()
        except BaseException as exc:  # noqa: BLE001 - raised again in the training thread by finish_update
            self._failure = exc
        self.update_seconds += time.perf_counter() - started

    def finish_update(self) -> None:
        """Wait for the running update, if any, and act with what it learned; its failure is raised here."""
        thread = self._thread
        if thread is None:
            return
        started = time.perf_counter()
        thread.join()
        self.update_wait_seconds += time.perf_counter() - started
        self._thread = None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        assert self._learner is not None
        self.policy.load_state_dict(self._learner.policy.state_dict())

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_learner", "_thread", "_failure"]

    def _stop_update(self) -> None:
        """On the way out (done, failed or interrupted): let a running update end, so nothing learns behind us."""
        if self._thread is not None:
            self._thread.join()
            self._thread, self._failure = None, None


class _FinishUpdate(BaseCallback):
    """Joins the running update at the rollout's join step (before the other callbacks of that step), and at the
    rollout's end at the latest."""

    def __init__(self, model: OverlappedPPO) -> None:
        super().__init__()
        self.overlapped = model
        self.step = 0

    def _on_rollout_start(self) -> None:
        self.step = 0

    def _on_step(self) -> bool:
        self.step += 1
        if self.step == self.overlapped.join_step:
            self.overlapped.finish_update()
        return True

    def _on_rollout_end(self) -> None:
        self.overlapped.finish_update()
