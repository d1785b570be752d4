"""Critic stage 2: the sandboxed probe rejects broken or hostile reward code on real transitions."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from autoreward.reward.critic import Verdict, check
from autoreward.reward.probe import ProbeLimits, _kill_group, run_probe
from tests.common import EXAMPLE
from tests.reward.test_static import CORPUS, expectation

HOSTILE_PROBE = [p for p in sorted((CORPUS / "hostile").glob("*.py")) if expectation(p)[0] == "probe"]
FAST = ProbeLimits(wall_timeout_s=20, cpu_seconds=8, memory_bytes=1 << 30, call_timeout_s=1.0)
KEYROOM = "MiniHack-KeyRoom-S5-v0"


def _command_lines() -> list[str]:
    """The command line of every process started by this test process, or left orphaned (from /proc: no
    dependency on ps). Other sessions' sandboxes on a shared machine are theirs to clean up."""
    lines = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # the process ended meanwhile
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid in (os.getpid(), 1):
                lines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return lines


def _sandbox_processes() -> list[str]:
    return [line for line in _command_lines() if "autoreward.reward.sandbox" in line]


@pytest.mark.parametrize("path", HOSTILE_PROBE, ids=lambda p: p.stem)
def test_probe_rejects_runtime_failures(path, keyroom_episodes):
    _, pattern = expectation(path)
    start = time.monotonic()
    verdict = check(path.read_text(), KEYROOM, episodes=keyroom_episodes, limits=FAST)
    assert not verdict.accepted
    assert verdict.stage == "probe"
    assert any(re.search(pattern, e) for e in verdict.errors), verdict.errors
    assert time.monotonic() - start < FAST.wall_timeout_s + 10
    assert _sandbox_processes() == []


def test_examples_pass_the_probe(keyroom_episodes):
    example = EXAMPLE
    verdict = check(example.read_text(), KEYROOM, episodes=keyroom_episodes)
    assert verdict.accepted, verdict.errors
    stats = verdict.probe_stats
    assert stats["calls"] == sum(len(actions) for _, actions in keyroom_episodes) >= 200
    assert set(stats["components"]) == {"milestone", "approach"}
    assert stats["call_time_mean_us"] < 1000


def test_constant_reward_is_accepted_with_warnings(keyroom_episodes):
    verdict = check((CORPUS / "benign" / "constant.py").read_text(), KEYROOM, episodes=keyroom_episodes)
    assert verdict.accepted
    assert any("'time' is constant" in w for w in verdict.warnings)
    assert any("identical" in w for w in verdict.warnings)


def test_a_milestone_random_play_never_reaches_is_info_not_a_warning(keyroom_episodes):
    verdict = check((CORPUS / "benign" / "milestone_only.py").read_text(), KEYROOM, episodes=keyroom_episodes)
    assert verdict.accepted
    assert verdict.probe_stats["components"]["goal"]["max"] == 0.0  # random play never completes KeyRoom
    assert verdict.warnings == []
    assert any("'goal' is 0 on all" in line and "milestone" in line for line in verdict.info), verdict.info
    assert not any("drop" in line or "teaches nothing" in line for line in verdict.info)
    assert verdict.to_dict()["info"] == verdict.info
    # A verdict rebuilt from the probe's statistics (the loop's stage-3 verdict) keeps the probe's info lines.
    rebuilt = Verdict(accepted=True, stage="review", warnings=verdict.warnings, probe_stats=verdict.probe_stats)
    assert rebuilt.info == verdict.info


def test_constant_nonzero_warns_beside_a_milestone_that_is_only_noted(keyroom_episodes):
    source = ("def compute_reward(prev, action, state, memory):\n"
              "    goal = 10.0 if state.success else 0.0\n"
              "    return goal - 0.01, {'goal': goal, 'time': -0.01}\n")
    verdict = check(source, KEYROOM, episodes=keyroom_episodes)
    assert verdict.accepted
    assert [w for w in verdict.warnings if "constant" in w] == [
        "component 'time' is constant (-0.01) on all probe transitions: it teaches nothing; drop it or make it "
        "depend on the state"]
    assert not any("'goal'" in w for w in verdict.warnings)
    assert any("'goal' is 0 on all" in line for line in verdict.info)
    assert any("identical" in w for w in verdict.warnings)  # the total is constant and nonzero: still a warning


def test_benign_rewards_are_accepted(keyroom_episodes):
    for path in sorted((CORPUS / "benign").glob("*.py")):
        verdict = check(path.read_text(), KEYROOM, episodes=keyroom_episodes)
        assert verdict.accepted, (path.name, verdict.errors)


def test_probe_collects_at_least_200_real_transitions(keyroom_episodes):
    assert sum(len(actions) for _, actions in keyroom_episodes) >= 200
    states, actions = keyroom_episodes[0]
    assert len(states) == len(actions) + 1 and states[0].step == 0


# ----- the process walls, tested with the contract off (full builtins): they must hold on their own -----
def _unchecked(source: str, episodes, limits: ProbeLimits = FAST):
    return run_probe(source, episodes[:1], limits, enforce_contract=False)


def test_sandbox_blocks_file_writes(keyroom_episodes, tmp_path):
    target = tmp_path / f"escape-{uuid.uuid4().hex}"
    source = ("def compute_reward(prev, action, state, memory):\n"
              f"    open({str(target)!r}, 'w').write('x')\n    return 0.0, {{}}\n")
    result = _unchecked(source, keyroom_episodes)
    assert not result.ok and "not allowed" in result.errors[0]
    assert not target.exists()


def test_sandbox_blocks_process_creation(keyroom_episodes):
    marker = uuid.uuid4().hex
    source = ("import os\n\ndef compute_reward(prev, action, state, memory):\n"
              f"    os.system('sleep 300 # {marker}')\n    return 0.0, {{}}\n")
    result = _unchecked(source, keyroom_episodes)
    assert not result.ok and "os.system is not allowed" in result.errors[0]
    assert not any(marker in line for line in _command_lines())


def test_sandbox_blocks_fork(keyroom_episodes):
    source = ("import os\n\ndef compute_reward(prev, action, state, memory):\n"
              "    if os.fork() == 0:\n        while True:\n            pass\n    return 0.0, {}\n")
    result = _unchecked(source, keyroom_episodes)
    assert not result.ok and "os.fork is not allowed" in result.errors[0]
    assert _sandbox_processes() == []


def test_sandbox_blocks_network(keyroom_episodes):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True)
    thread.start()
    source = ("def compute_reward(prev, action, state, memory):\n    import socket\n"
              f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    return 0.0, {{}}\n")
    result = _unchecked(source, keyroom_episodes)
    thread.join()
    server.close()
    assert not result.ok
    assert accepted == [None]


def _accept(server: socket.socket):
    try:
        return server.accept()
    except OSError:
        return None


def test_sandbox_has_no_secrets_in_its_environment(keyroom_episodes, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    source = ("import os\n\ndef compute_reward(prev, action, state, memory):\n"
              "    n = float(len(os.environ.get('OPENAI_API_KEY', '')))\n    return n, {'secret': n}\n")
    result = _unchecked(source, keyroom_episodes)
    assert result.ok, result.errors
    assert result.stats["components"]["secret"]["max"] == 0.0


def test_sandbox_caps_output(keyroom_episodes):
    source = ("import os\n\ndef compute_reward(prev, action, state, memory):\n"
              "    os.write(1, b'x' * 50_000_000)\n    return 0.0, {}\n")
    result = _unchecked(source, keyroom_episodes)
    assert not result.ok and "bytes of output" in result.errors[0]


def test_sandbox_survives_an_interpreter_crash(keyroom_episodes):
    source = "import os\n\ndef compute_reward(prev, action, state, memory):\n    os.abort()\n"
    result = _unchecked(source, keyroom_episodes)
    assert not result.ok and "crashed the interpreter (SIGABRT)" in result.errors[0]


def test_sandbox_detects_nondeterminism(keyroom_episodes):
    source = ("import time\n\ndef compute_reward(prev, action, state, memory):\n"
              "    v = time.perf_counter() % 1.0\n    return v, {'clock': v}\n")
    result = _unchecked(source, keyroom_episodes)
    assert not result.ok and "not deterministic" in result.errors[0]


def test_sandbox_times_out_and_leaves_nothing(keyroom_episodes):
    source = "def compute_reward(prev, action, state, memory):\n    import time\n    time.sleep(1000)\n"
    limits = ProbeLimits(wall_timeout_s=4, cpu_seconds=8, call_timeout_s=100)
    start = time.monotonic()
    result = _unchecked(source, keyroom_episodes, limits)
    assert time.monotonic() - start < 10
    assert not result.ok and "did not finish within 4 s" in result.errors[0]
    assert _sandbox_processes() == []


def test_kill_group_takes_grandchildren():
    marker = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-c", f"import subprocess; subprocess.Popen(['sleep', '300', '{marker}'])"
                             "; import time; time.sleep(300)"], start_new_session=True)
    time.sleep(0.5)
    _kill_group(proc)
    time.sleep(0.2)
    assert not any(marker in line for line in _command_lines())
    assert proc.returncode == -signal.SIGKILL
    assert os.getpgid(os.getpid()) != proc.pid
