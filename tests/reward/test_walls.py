"""Walls around reward code at training time: time bombs stop training, escapes are refused, workers hold no keys.

- tests/rewards/timebomb/: rewards that pass the critic (static rules and probe) and attack later, in training.
- tests/rewards/escape/: code the static rules refuse, run here in a real env worker *past* the static rules,
  to show that the run-time walls (audit hook, then the OS walls) hold on their own.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from autoreward.env.info import REWARD_ERROR
from autoreward.reward.critic import check
from autoreward.reward.probe import collect_transitions
from autoreward.reward.static import check_static
from autoreward.train.config import PPOConfig, TrainConfig, WorkerConfig
from autoreward.train.envs import make_env
from autoreward.train.ppo import train
from autoreward.train.shaping import ShapedReward
from autoreward.train.vec import WorkerError, WorkerVecEnv
from tests.common import CORPUS

TIMEBOMBS = sorted((CORPUS / "timebomb").glob("*.py"))
ESCAPES = sorted((CORPUS / "escape").glob("*.py"))
# Episodes of 300 steps that random play does not end early: a fuse at call 270 outlasts the probe's 250.
LONG = "MiniHack-Room-Dark-15x15-v0"


def _expect(path: Path, key: str) -> str:
    for line in path.read_text().splitlines()[:3]:
        if line.startswith(f"# {key}: "):
            return line.split(": ", 1)[1]
    raise AssertionError(f"{path.name} has no '# {key}:' line")


@pytest.fixture(scope="module")
def long_episodes():
    return collect_transitions(LONG, n=256, seed=0)


@pytest.mark.parametrize("path", TIMEBOMBS, ids=lambda p: p.stem)
def test_time_bombs_pass_the_critic(path, long_episodes):
    verdict = check(path.read_text(), LONG, episodes=long_episodes)
    assert verdict.accepted, verdict.errors


@pytest.mark.parametrize("path", TIMEBOMBS, ids=lambda p: p.stem)
def test_time_bombs_stop_training_with_the_reason(path, tmp_path):
    out = tmp_path / "run"
    result = train(TrainConfig(task=LONG, reward=str(path), steps=4096, envs=2, out=str(out),
                               ppo=PPOConfig(n_steps=512, batch_size=256, n_epochs=1),
                               workers=WorkerConfig(count=1, step_timeout_s=2, reward_memory_mb=1024)))
    assert result.stopped_reason is not None
    reason = _expect(path, "expect").split(": ", 1)[1]
    assert reason in result.stopped_reason
    assert result.steps < 4096
    assert reason in (out / "train.json").read_text()
    assert list(tmp_path.iterdir()) == [out]  # nothing beside the run folder


@pytest.mark.parametrize("path", ESCAPES, ids=lambda p: p.stem)
def test_escapes_are_refused_by_the_static_rules(path):
    errors = [str(issue) for issue in check_static(path.read_text()) if issue.severity == "error"]
    assert any(_expect(path, "expect").split(": ", 1)[1] in error for error in errors), errors


def _unchecked_env(source: str) -> gym.Env:
    """A training env whose reward was executed with full builtins and no static rules (built in the worker)."""
    from autoreward.env.registry import card_for
    from autoreward.train.observation import PolicyObservation

    namespace: dict = {"__name__": "unchecked_reward"}
    exec(compile(source, "reward.py", "exec"), namespace)  # the code under test
    return PolicyObservation(ShapedReward(card_for(LONG).make(LONG, seed=0), namespace["compute_reward"]))


def _step_until_error(venv: WorkerVecEnv, steps: int = 60) -> str | None:
    venv.reset()
    for _ in range(steps):
        _, _, _, infos = venv.step(np.zeros(venv.num_envs, dtype=np.int64))
        for info in infos:
            if info.get(REWARD_ERROR):
                return info[REWARD_ERROR]
    return None


@pytest.mark.parametrize("path", ESCAPES, ids=lambda p: p.stem)
def test_escapes_past_the_static_rules_are_stopped_in_the_worker(path, tmp_path):
    target = tmp_path / "outside" / "escaped.txt"
    target.parent.mkdir()
    source = path.read_text().replace("ESCAPE_PATH", str(target))
    venv = WorkerVecEnv([functools.partial(_unchecked_env, source)], workers=1)
    try:
        error = _step_until_error(venv)
    finally:
        venv.close()
    assert error is not None and "tried to leave its sandbox" in error
    assert _expect(path, "walls") in error
    assert not target.exists()


class _Unguarded(gym.Wrapper):
    """Calls a function on every step with no audit wall: only the OS walls stand between it and the host."""

    def __init__(self, env: gym.Env, attack) -> None:
        super().__init__(env)
        self.attack = attack

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        try:
            self.attack()
            info["attack"] = "succeeded"
        except OSError as exc:
            info["attack"] = f"{type(exc).__name__}: {exc}"
        return obs, reward, terminated, truncated, info


def _write(path: str) -> None:
    with open(path, "w") as handle:
        handle.write("escaped")


def _connect(port: int) -> None:
    socket.create_connection(("127.0.0.1", port), timeout=1).close()


def _unguarded_env(attack) -> gym.Env:
    return _Unguarded(make_env(LONG, 0, None), attack)


def _attack_result(attack) -> tuple[str, list[str]]:
    venv = WorkerVecEnv([functools.partial(_unguarded_env, attack)], workers=1)
    try:
        venv.reset()
        _, _, _, infos = venv.step(np.zeros(1, dtype=np.int64))
        return infos[0]["attack"], venv.isolation
    finally:
        venv.close()


def test_landlock_refuses_writes_outside_the_worker_folder(tmp_path):
    target = tmp_path / "escaped.txt"
    outcome, isolation = _attack_result(functools.partial(_write, str(target)))
    if not any("Landlock" in wall for wall in isolation):
        pytest.skip(f"Landlock is not available here: {isolation}")
    assert outcome.startswith("PermissionError"), outcome
    assert not target.exists()


def test_the_worker_has_no_network(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    try:
        outcome, isolation = _attack_result(functools.partial(_connect, listener.getsockname()[1]))
    finally:
        listener.close()
    if not any("network namespace (" in wall or "no TCP" in wall for wall in isolation):
        pytest.skip(f"neither a network namespace nor Landlock TCP rules here: {isolation}")
    assert outcome != "succeeded" and not accepted, outcome


def test_workers_start_without_credentials(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-for-reward-code")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-test-secret")
    venv = WorkerVecEnv([functools.partial(make_env, LONG, 0, None)], workers=1)
    try:
        environ = Path(f"/proc/{venv.processes[0].pid}/environ").read_bytes().decode()
    finally:
        venv.close()
    assert "sk-test-not-for-reward-code" not in environ and "aws-test-secret" not in environ
    names = {item.split("=", 1)[0] for item in environ.split("\0") if item}
    assert "OPENAI_API_KEY" not in names and "PATH" in names


class Evil:
    """An object whose unpickling would run a command: a worker that sends it must be refused."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _Sender(gym.Wrapper):
    def evil(self, target: str) -> Evil:
        return Evil(target)


def _sender_env() -> gym.Env:
    return _Sender(make_env(LONG, 0, None))


def test_the_trainer_refuses_what_a_worker_may_not_send(tmp_path):
    target = tmp_path / "pwned"
    venv = WorkerVecEnv([_sender_env], workers=1)
    try:
        with pytest.raises(WorkerError, match="refuses"):
            venv.env_method("evil", str(target))
    finally:
        venv.close()
    assert not target.exists()


def test_train_json_reports_the_walls(tmp_path):
    reward = CORPUS / "benign" / "potential.py"
    result = train(TrainConfig(task=LONG, reward=str(reward), steps=256, envs=2, out=str(tmp_path),
                               ppo=PPOConfig(n_steps=128, batch_size=128, n_epochs=1), workers=WorkerConfig(count=1)))
    assert result.ok, result.stopped_reason
    assert any("audit hook" in wall for wall in result.isolation)
    assert any("address space capped" in wall for wall in result.isolation)
    assert "clean environment (no credentials)" in result.isolation


@pytest.mark.slow  # ~30-50 s on a 2-core VM: the default run stays under 10 minutes; CI runs it
def test_iterate_candidates_train_without_credentials(tmp_path, monkeypatch):
    from autoreward.synth.loop import iterate
    from autoreward.synth.store import IterateConfig

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-for-reward-code")
    seen: dict[int, str] = {}
    done = threading.Event()

    def watch() -> None:  # read every env worker's environment while the candidate trains
        while not done.is_set():
            for pid in _worker_pids():
                with contextlib.suppress(OSError):
                    seen.setdefault(pid, Path(f"/proc/{pid}/environ").read_bytes().decode())
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        iterate(IterateConfig(task="MiniHack-KeyRoom-S5-v0", rounds=1, candidates=1, steps=3072, eval_episodes=1,
                              probe_transitions=200, workers=1, train_envs=4, out=str(tmp_path)))
    finally:
        done.set()
        thread.join()
    assert seen, "no env worker was seen during the candidate's training"
    assert all("sk-test-not-for-reward-code" not in environ for environ in seen.values())


def _worker_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"autoreward.train.worker" in cmdline:
                pids.append(int(entry.name))
    return pids
