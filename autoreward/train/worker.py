"""An env worker process: a group of training envs, and the reward code they call, behind the walls.

Started by `autoreward.train.vec.WorkerVecEnv` as `python -I -m autoreward.train.worker FD` with a clean
environment (no credentials), in its own session, in a temporary folder, with one end of a socket pair as FD.
It installs the audit hook that ShapedReward arms around every reward call, builds its envs, then raises the
OS walls (autoreward.reward.walls: network namespace, Landlock, file-size and core limits) and caps its
address space at what the envs use plus the reward's memory budget.

Protocol: the parent sends its import path and one cloudpickled setup dict; the worker answers
`(True, (obs_space, act_space, walls))`; then each command `(name, data)` gets `(True, result)`, or
`(False, message)` when the worker failed (out of memory, say) and is about to exit.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.linalg

import autoreward.reward.static  # noqa: F401 - loaded before the walls: reward loading checks with it
from autoreward.calm.transition import TransitionInfo
from autoreward.intrinsic.messages import MessageInfo
from autoreward.reward.walls import AUDIT_WALL, apply_os_walls, die_with_parent, limit_memory
from autoreward.train.config import SPIN_S
from autoreward.train.levels import route_minihack_levels
from autoreward.train.observation import BatchObservation, PolicyObservation
from autoreward.train.shaping import ShapedReward

#: Wrappers that hand the reward of the env they wrap on unchanged: above ShapedReward, its total can be added later.
_PASS_REWARD = (gym.ObservationWrapper, MessageInfo, TransitionInfo)


def wait_readable(conn: Connection, spin_s: float = SPIN_S) -> None:
    """Poll briefly before a blocking receive: on a VM a sleeping core can take ~0.5 ms to wake, longer than a step."""
    if spin_s > 0:
        deadline = time.perf_counter() + spin_s
        while not conn.poll() and time.perf_counter() < deadline:
            pass


def lower_priority(nice: int) -> int:
    """Run `nice` steps below the trainer's CPU priority; the nice value now in force.

    The trainer's inference and its overlapped update (autoreward.train.overlap) are on every step's critical
    path: when they and the workers want the same cores, they go first, and the workers take what is left instead
    of leaving a core idle while the trainer catches up. Linux schedules each session as one group (autogroups,
    where enabled), and each worker is a session of its own, so the group's priority is lowered too."""
    if nice <= 0:
        return os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(OSError):  # lowering one's own priority is allowed to every user
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w", encoding="ascii") as group:
        group.write(str(min(19, nice)))  # no such file where autogroups are off: per-thread priority holds alone
    return os.getpriority(os.PRIO_PROCESS, 0)


def _stack(observations: Any) -> Any:
    first = observations[0]
    if isinstance(first, dict):
        return {key: np.stack([o[key] for o in observations]) for key in first}
    return np.stack(observations)


def step_env(env: Any, action: Any) -> tuple[Any, float, bool, dict, dict]:
    """One step with SB3's auto-reset convention: the last observation in info, the next episode's first returned."""
    obs, reward, terminated, truncated, info = env.step(action)
    done = terminated or truncated
    info["TimeLimit.truncated"] = truncated and not terminated
    reset_info: dict = {}
    if done:
        info["terminal_observation"] = obs
        obs, reset_info = env.reset()
    return obs, reward, done, info, reset_info


#: Worker-side CPU time: steps taken and seconds spent in them (`timings` reports it with the wrappers' shares).
_CLOCK = {"steps": 0, "step_s": 0.0}


def batch_observation(envs: list[Any]) -> BatchObservation | None:
    """One converter for the policy observations of all `envs` when they are NetHack's (None: each env converts
    its own, as MiniGrid's do)."""
    if not envs or not all(isinstance(env, PolicyObservation) for env in envs):
        return None
    try:
        return BatchObservation(envs)
    except ValueError:  # envs of different shapes: each converts its own
        return None


def deferred_rewards(envs: list[Any]) -> list[ShapedReward] | None:
    """The envs' reward wrappers, set to leave their reward calls for `finish()` after the worker has stepped every
    env (see `_answer`), or None when an env has none or a wrapper above it might change the reward.

    Reward code and State's helpers then run once per env in a row instead of once between two NLE steps, which
    evict them from the caches (docs/benchmarks.md). The calls, their order and their results are the same; only
    when they run within the worker's answer changes."""
    found = []
    for env in envs:
        while isinstance(env, _PASS_REWARD):
            env = env.env
        if not isinstance(env, ShapedReward):
            return None
        found.append(env)
    for wrapper in found:
        wrapper.deferred = True
    return found


def _answer(envs: list[Any], cmd: str, data: Any, batch: BatchObservation | None = None,
            shaped: list[ShapedReward] | None = None) -> Any:
    """The answer to one command of the trainer; `batch` converts the envs' observations together, and `shaped`
    (deferred_rewards) adds the reward functions' totals once every env has stepped."""
    if cmd == "step":
        start = time.perf_counter()
        results = [step_env(env, action) for env, action in zip(envs, data, strict=True)]
        obs, rewards, dones, infos, reset_infos = zip(*results, strict=True)
        rewards = np.array(rewards, dtype=np.float64)
        if shaped is not None:
            for i, wrapper in enumerate(shaped):
                rewards[i] += wrapper.finish()
        stacked = _stack(obs) if batch is None else batch()
        answer = stacked, rewards, np.array(dones), list(infos), list(reset_infos)
        _CLOCK["steps"] += len(envs)
        _CLOCK["step_s"] += time.perf_counter() - start
        return answer
    if cmd == "timings":
        return timings(envs)
    if cmd == "reset":
        seeds, options = data
        results = [env.reset(seed=seed, **({"options": opt} if opt else {}))
                   for env, seed, opt in zip(envs, seeds, options, strict=True)]
        obs, infos = zip(*results, strict=True)
        return (_stack(obs) if batch is None else batch()), list(infos)
    if cmd == "call":
        index, method, args, kwargs = data
        return getattr(envs[index], method)(*args, **kwargs)
    if cmd == "get_attr":
        index, name = data
        return envs[index].get_wrapper_attr(name)
    if cmd == "set_attr":
        index, name, value = data
        return setattr(envs[index], name, value)
    if cmd == "is_wrapped":
        from stable_baselines3.common.env_util import is_wrapped  # SB3 imports torch: not in workers until asked

        index, wrapper = data
        return is_wrapped(envs[index], wrapper)
    raise ValueError(f"unknown worker command {cmd!r}")


def timings(envs: list[Any]) -> dict[str, float]:
    """Seconds this process spent stepping its envs, and the shares of the reward and the policy observation."""
    shares = {name: sum(float(_attr(env, name)) for env in envs) for name in ("reward_seconds", "observation_seconds")}
    return {"steps": _CLOCK["steps"], "step_s": _CLOCK["step_s"], "reward_s": shares["reward_seconds"],
            "observation_s": shares["observation_seconds"]}


def _attr(env: Any, name: str) -> Any:
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return 0.0


def _preload() -> None:
    """Run once what numpy sets up lazily (imports are refused inside reward calls; what reward loading and the
    reward wrapper import is imported at the top of this module for the same reason)."""
    np.median(np.arange(3.0))
    np.percentile(np.arange(3.0), 50)


def serve(conn: Connection) -> int:
    sys.path[:] = conn.recv()  # the trainer's import path: the env builders unpickle from the same modules
    setup = pickle.loads(conn.recv_bytes())
    spin_s = float(setup["spin_s"])
    lower_priority(int(setup.get("nice", 0)))
    _preload()
    AUDIT_WALL.install()
    envs: list[Any] = []
    compiler = None
    try:
        # MiniHack runs a shell script while it builds an env, so the envs come first (reward code is loaded
        # with the audit wall armed); from here on the worker needs no program, no network and no new files
        # outside its temporary folder.
        envs = [fn() for fn in setup["env_fns"]]
        compiler = route_minihack_levels(envs, cwd=setup["tmpdir"], env=dict(os.environ))
        walls = apply_os_walls(writable=[setup["tmpdir"]])
        if compiler is not None:
            walls.append("MiniHack levels compiled at reset by a helper outside the walls (one checked script)")
        cap = limit_memory(int(setup["memory_bytes"]))
        walls.append(f"address space capped at {cap / 2**30:.1f} GiB "
                     f"({int(setup['memory_bytes']) / 2**30:g} GiB above the envs' own)")
        walls.append("audit hook armed around every reward call")
        conn.send((True, (envs[0].observation_space, envs[0].action_space, walls)))
        batch = batch_observation(envs)
        shaped = deferred_rewards(envs)
        while True:
            wait_readable(conn, spin_s)
            cmd, data = conn.recv()  # from the trainer: trusted
            if cmd == "close":
                break
            conn.send((True, _answer(envs, cmd, data, batch, shaped)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return 0
    except MemoryError:
        cap_mib = int(setup["memory_bytes"]) >> 20
        _report(conn, f"the env worker ran out of memory (its cap: {cap_mib} MiB for reward "
                      "code): the reward allocates without bound (keep only small values in `memory`)")
        return 1
    except BaseException as exc:  # noqa: BLE001 - reported to the trainer, which records it
        _report(conn, f"the env worker failed: {type(exc).__name__}: {str(exc)[:500]}")
        return 1
    finally:
        for env in envs:
            with contextlib.suppress(Exception):  # closing after a failure: nothing more to report
                env.close()
        if compiler is not None:
            compiler.close()
    return 0


def _report(conn: Connection, message: str) -> None:
    with contextlib.suppress(OSError, ValueError, pickle.PicklingError):
        conn.send((False, message))


def main(argv: list[str]) -> int:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's to handle: it closes the workers
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing us
    conn = Connection(int(argv[1]))
    try:
        return serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
