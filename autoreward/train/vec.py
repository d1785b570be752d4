"""A vectorised env whose environments run in a few walled worker processes, several envs per process.

SB3's SubprocVecEnv gives every env its own process and pays one pipe round trip per env per step; grouping
envs into `workers` processes shares that cost (measured on a 2-core VM: 8 KeyRoom envs in one worker trained
faster than 8 in the trainer process, docs/benchmarks.md). Reward code runs only in these workers
(autoreward.train.worker): started with a clean environment (no credentials), in their own session and
temporary folder, behind the OS walls of autoreward.reward.walls, so that a crash, a hang or an escape attempt
there cannot reach the trainer.
"""

from __future__ import annotations

import contextlib
import enum
import io
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from autoreward.paths import module_command
from autoreward.reward.walls import clean_environment
from autoreward.train.config import REWARD_MEMORY_MB, SPIN_S, WORKER_NICE
from autoreward.train.worker import wait_readable

REWARD_MEMORY_BYTES = REWARD_MEMORY_MB << 20
MAX_MESSAGE_BYTES = 256 << 20

#: What a worker's answers may contain besides plain Python values: arrays, spaces, NLE's status enums.
_SAFE_GLOBALS = frozenset({
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
})
_SAFE_MODULE_PREFIXES = ("gymnasium.spaces.", "numpy.random.")
_ENUM_PACKAGES = ("nle", "minihack", "autoreward")


class _WorkerUnpickler(pickle.Unpickler):
    """Unpickles a worker's answer, refusing every global outside the allow-list: a worker runs reward code, so
    what it sends is untrusted, and a pickle that names any callable could run it in the trainer."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS or module.startswith(_SAFE_MODULE_PREFIXES):
            return super().find_class(module, name)
        if module.split(".")[0] in _ENUM_PACKAGES:
            found = super().find_class(module, name)
            if isinstance(found, type) and issubclass(found, enum.Enum):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in an env worker's answer")


class WorkerError(RuntimeError):
    """An env worker reported a failure (its message says what) or died."""


def _concat(parts: Sequence[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {key: np.concatenate([p[key] for p in parts]) for key in first}
    return np.concatenate(parts)


class _Worker:
    """One worker process and its end of the socket pair."""

    def __init__(self, env_fns: list[Callable[[], gym.Env]], spin_s: float, memory_bytes: int, nice: int) -> None:
        self.spin_s = spin_s
        self.tmpdir = tempfile.mkdtemp(prefix="autoreward-worker-")
        parent, child = socket.socketpair()
        self.log = open(os.path.join(self.tmpdir, "stderr.txt"), "wb")  # noqa: SIM115 - closed in close()
        try:
            self.process = subprocess.Popen(
                module_command("autoreward.train.worker", str(child.fileno())),
                pass_fds=(child.fileno(),), cwd=self.tmpdir, env=clean_environment(self.tmpdir),
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True)
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(list(sys.path))
        self.conn.send_bytes(cloudpickle.dumps({"env_fns": env_fns, "spin_s": spin_s, "tmpdir": self.tmpdir,
                                                "memory_bytes": memory_bytes, "nice": nice}))

    def send(self, cmd: str, data: Any) -> None:
        self.conn.send((cmd, data))

    def receive(self) -> Any:
        try:
            wait_readable(self.conn, self.spin_s)
            data = self.conn.recv_bytes(MAX_MESSAGE_BYTES)
        except (EOFError, ConnectionResetError, BrokenPipeError) as exc:
            raise WorkerError(f"an environment worker died ({type(exc).__name__}){self._tail()}") from exc
        except OSError as exc:  # a message over the size limit
            raise WorkerError(f"an environment worker sent a malformed answer: {exc}") from exc
        try:
            ok, payload = _WorkerUnpickler(io.BytesIO(data)).load()
        except Exception as exc:  # anything that is not a well-formed, allowed answer
            raise WorkerError(f"an environment worker sent an answer the trainer refuses: {exc}") from exc
        if not ok:
            raise WorkerError(payload)
        return payload

    def _tail(self, limit: int = 800) -> str:
        try:
            with open(os.path.join(self.tmpdir, "stderr.txt"), "rb") as handle:
                text = handle.read()[-limit:].decode("utf-8", errors="replace").strip()
        except OSError:
            return ""
        return f": {text}" if text else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def close(self, timeout: float = 30.0) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("close", None))
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.conn.close()
        self.log.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


class WorkerVecEnv(VecEnv):
    """`len(env_fns)` environments spread over `workers` walled subprocesses (contiguous groups), each running
    `nice` steps below this process's CPU priority (autoreward.train.worker.lower_priority)."""

    def __init__(self, env_fns: list[Callable[[], gym.Env]], workers: int = 1, spin_s: float = SPIN_S,
                 memory_bytes: int = REWARD_MEMORY_BYTES, nice: int = WORKER_NICE) -> None:
        n = len(env_fns)
        workers = max(1, min(workers, n))
        bounds = np.linspace(0, n, workers + 1).astype(int)
        self._groups = [list(range(bounds[i], bounds[i + 1])) for i in range(workers)]
        self._where = [(g, i) for g, group in enumerate(self._groups) for i in range(len(group))]
        self.workers: list[_Worker] = []
        self.closed = False
        self.waiting = False
        try:
            for group in self._groups:
                self.workers.append(_Worker([env_fns[i] for i in group], spin_s, memory_bytes, nice))
            ready = [worker.receive() for worker in self.workers]
        except BaseException:
            self.close()
            raise
        observation_space, action_space, self.isolation = ready[0]
        super().__init__(n, observation_space, action_space)

    @property
    def processes(self) -> list[subprocess.Popen]:
        """The worker processes (the trainer's watchdog kills them when a step hangs)."""
        return [worker.process for worker in self.workers]

    def step_async(self, actions: np.ndarray) -> None:
        for worker, group in zip(self.workers, self._groups, strict=True):
            worker.send("step", actions[group[0]:group[-1] + 1].tolist())
        self.waiting = True

    def step_wait(self) -> VecEnvStepReturn:
        results = [worker.receive() for worker in self.workers]
        self.waiting = False
        obs, rewards, dones, infos, reset_infos = zip(*results, strict=True)
        self.reset_infos = [info for part in reset_infos for info in part]
        return (_concat(obs), np.concatenate(rewards).astype(np.float32), np.concatenate(dones),
                [info for part in infos for info in part])

    def reset(self) -> VecEnvObs:
        for worker, group in zip(self.workers, self._groups, strict=True):
            worker.send("reset", ([self._seeds[i] for i in group], [self._options[i] for i in group]))
        results = [worker.receive() for worker in self.workers]
        obs, infos = zip(*results, strict=True)
        self.reset_infos = [info for part in infos for info in part]
        self._reset_seeds()
        self._reset_options()
        return _concat(obs)

    def timings(self) -> dict[str, float]:
        """The workers' CPU seconds spent stepping envs (summed), and the reward's and the observation's shares."""
        for worker in self.workers:
            worker.send("timings", None)
        parts = [worker.receive() for worker in self.workers]
        return {key: float(sum(part[key] for part in parts)) for key in parts[0]}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.waiting:
            for worker in self.workers:
                with contextlib.suppress(WorkerError):
                    worker.receive()
        for worker in self.workers:
            worker.close()

    def _ask(self, indices: VecEnvIndices, cmd: str, make: Callable[[int], tuple]) -> list[Any]:
        targets = [self._where[i] for i in self._get_indices(indices)]
        for group, local in targets:
            self.workers[group].send(cmd, make(local))
        return [self.workers[group].receive() for group, _ in targets]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._ask(indices, "get_attr", lambda i: (i, attr_name))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._ask(indices, "set_attr", lambda i: (i, attr_name, value))

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        return self._ask(indices, "call", lambda i: (i, method_name, method_args, method_kwargs))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._ask(indices, "is_wrapped", lambda i: (i, wrapper_class))
