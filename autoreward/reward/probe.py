"""Critic stage 2: run reward code on real transitions in a separate, locked-down process.

The parent gathers transitions from random-policy rollouts of the task, starts `autoreward.reward.sandbox`
in a new session with resource limits (CPU time, address space, file size, no core dumps), a clean
environment (no API keys), a temporary working directory and a wall-clock timeout, then kills the whole
process group and deletes the directory whatever happened. Crashes, hangs and limit hits become errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoreward.env.registry import card_for
from autoreward.env.state import State
from autoreward.paths import module_command
from autoreward.reward.walls import clean_environment

Episode = tuple[list[State], list[int]]


@dataclass(frozen=True)
class ProbeLimits:
    """Limits of one probe run; the defaults suit a reward function of a few dozen lines."""

    wall_timeout_s: float = 60.0
    cpu_seconds: int = 30
    memory_bytes: int = 2 << 30
    output_bytes: int = 1 << 20
    call_timeout_s: float = 1.0  # one call longer than this is a hang
    mean_call_budget_us: float = 1000.0  # mean time per call, over all probe transitions


@dataclass
class ProbeResult:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # per transition: {"total": [...], "components": {...}}
    info: list[str] = field(default_factory=list)  # facts worth knowing that are no defect (see component_notes)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_transitions(task: str, n: int = 256, seed: int = 0, max_episode_steps: int = 250) -> list[Episode]:
    """At least `n` transitions from random-policy episodes of `task` (whole episodes, fixed seed)."""
    if max_episode_steps < 1:
        raise ValueError("max_episode_steps must be at least 1")
    card = card_for(task)
    env = card.make(task, seed=seed)
    rng = np.random.default_rng(seed)
    episodes: list[Episode] = []
    total = 0
    try:
        while total < n:
            obs, info = env.reset()
            states, actions = [card.state(obs, info=info)], []
            for step in range(1, max_episode_steps + 1):
                action = int(rng.integers(env.action_space.n))
                obs, reward, terminated, truncated, info = env.step(action)
                states.append(card.state(obs, reward, terminated, truncated, info, step))
                actions.append(action)
                if terminated or truncated:
                    break
            episodes.append((states, actions))
            total += len(actions)
    finally:
        env.close()
    return episodes


def run_probe(source: str, episodes: list[Episode], limits: ProbeLimits | None = None,
              enforce_contract: bool = True, state_api: frozenset[str] | None = None) -> ProbeResult:
    """Run `source`'s compute_reward over `episodes` in the sandbox and return its errors and statistics.

    `state_api`: the card's State API, which the sandbox loads the code against (default NetHack's). The
    sandbox gets this process's sys.path, so that a plugin card's State class unpickles there.
    `enforce_contract=False` executes the code with full builtins: only for testing the process walls.
    """
    limits = limits or ProbeLimits()
    workdir = Path(tempfile.mkdtemp(prefix="autoreward-probe-"))
    try:
        (workdir / "reward.py").write_text(source, encoding="utf-8")
        (workdir / "config.json").write_text(json.dumps(
            {"call_timeout": limits.call_timeout_s, "enforce_contract": enforce_contract, "sys_path": list(sys.path),
             "state_api": None if state_api is None else sorted(state_api)}))
        with open(workdir / "transitions.pkl", "wb") as handle:
            pickle.dump(episodes, handle, protocol=pickle.HIGHEST_PROTOCOL)
        outcome = _run_child(workdir, limits)
        if outcome is not None:
            return ProbeResult(errors=[outcome])
        result = _read_result(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    stats = result.get("stats", {})
    stats["network_isolation"] = result.get("network_isolation", "")
    warnings, info = component_notes(stats)
    probe = ProbeResult(errors=list(result.get("errors", [])), warnings=list(result.get("warnings", [])) + warnings,
                        info=info, values=result.get("values", {}), stats=stats)
    mean_us = stats.get("call_time_mean_us")
    if probe.ok and mean_us is not None and mean_us > limits.mean_call_budget_us:
        probe.errors.append(f"the reward takes {mean_us:.0f} us per call on average, over the budget of "
                            f"{limits.mean_call_budget_us:.0f} us: do less work per step (no loops over the "
                            "whole map in Python; use state.find/nearest/count)")
    if probe.ok and stats.get("calls", 0) < sum(len(actions) for _, actions in episodes):
        probe.errors.append("the probe did not call the reward on every transition")
    return probe


def component_notes(stats: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(warnings, info) about components that do not vary over the probe's random-play transitions.

    A component constant and nonzero teaches nothing: a warning. A component that is 0 on every transition is
    usually a milestone (paid once, when the agent reaches something) that random play never reaches: an info
    line, never advice to drop it. The same for the total.
    """
    warnings: list[str] = []
    info: list[str] = []
    calls = int(stats.get("calls") or 0)
    if calls < 1:
        return warnings, info
    for name, s in sorted((stats.get("components") or {}).items()):
        if not s or s.get("min") != s.get("max"):
            continue
        if s["min"] == 0.0:
            info.append(f"component {name!r} is 0 on all {calls} probe transitions: a milestone random play does "
                        "not reach, paid once the agent gets there (if it should pay on ordinary steps, check its "
                        "condition)")
        else:
            warnings.append(f"component {name!r} is constant ({s['min']:.6g}) on all probe transitions: "
                            "it teaches nothing; drop it or make it depend on the state")
    total = stats.get("total") or {}
    if calls > 1 and total and total.get("min") == total.get("max"):
        if total["min"] == 0.0:
            info.append(f"the total reward is 0 on all {calls} probe transitions: random play reaches nothing "
                        "that it pays for")
        else:
            warnings.append(f"the total reward is identical ({total['min']:.6g}) for every probe transition")
    return warnings, info


def _limit_resources(limits: ProbeLimits):
    def apply() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _run_child(workdir: Path, limits: ProbeLimits) -> str | None:
    """Run the sandbox child to completion or timeout; an error message, or None when it finished cleanly."""
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            module_command("autoreward.reward.sandbox", str(workdir)),
            cwd=workdir, env=clean_environment(str(workdir)), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, close_fds=True, preexec_fn=_limit_resources(limits),
        )
        timed_out = False
        try:
            proc.wait(timeout=limits.wall_timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
    if timed_out:
        return (f"the probe did not finish within {limits.wall_timeout_s:.0f} s: the reward hangs or is far too "
                "slow (look for loops that never end)")
    code = proc.returncode
    if code == 0:
        return None
    if code == -signal.SIGXCPU:
        return f"the reward used more than {limits.cpu_seconds} s of CPU time in the probe (endless loop?)"
    if code == -signal.SIGXFSZ:
        return f"the reward wrote more than {limits.output_bytes} bytes of output; reward code must not print"
    if code < 0:
        name = signal.Signals(-code).name
        return (f"the reward crashed the interpreter ({name}); it may allocate without bound or corrupt memory"
                + _stderr_tail(workdir))
    tail = _stderr_tail(workdir)
    if "MemoryError" in tail:
        return f"the reward exhausted the probe's memory limit ({limits.memory_bytes >> 20} MiB)" + tail
    return f"the probe process failed with exit code {code}" + tail


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child's whole process group (anything it forked), then reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _stderr_tail(workdir: Path, limit: int = 1500) -> str:
    try:
        with open(workdir / "stderr.txt", "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            text = handle.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    return f"\n{text}" if text else ""


def _read_result(workdir: Path, limit: int = 4 << 20) -> dict[str, Any]:
    path = workdir / "result.json"
    if not path.exists() or path.stat().st_size == 0:
        return {"errors": ["the probe ended without a report (the reward may have closed or broken its output)"]}
    if path.stat().st_size > limit:
        return {"errors": ["the probe report is too large"]}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {"errors": ["the probe report is not valid JSON (the reward may have written into it)"]}
