"""`autoreward iterate --executor ray` on a real two-node Ray cluster on this machine: a head with no CPUs (so
nothing runs on the driver's node) and one worker node. Candidates run there, their files come back into the
run folder as a local run lays them out, a candidate whose process is killed is recorded as a retryable failure
while the run finishes, `--resume` retrains it, and Ctrl-C's shutdown kills running tasks.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import pytest

from autoreward.cli import main
from autoreward.errors import UsageError
from autoreward.synth.executor import training_job
from autoreward.synth.jobs import WORK_PREFIX, RetryableJobError, sweep_abandoned
from autoreward.synth.ray_executor import RayExecutor
from autoreward.synth.store import RunStore
from tests.common import ROOM, ROOT, wait_until

ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'autoreward[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402 - only once ray is known to be there

ARGS = ["iterate", ROOM, "--rounds", "1", "--candidates", "2", "--steps", "256", "--envs", "4", "--eval-episodes", "2",
        "--confirm-seeds", "0"]


@pytest.fixture(scope="module")
def cluster():
    """A head node with 0 CPUs and a worker node with 2, on this machine; their processes import this checkout."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([saved] if saved else [])])  # tests/ for the nodes
    started = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        worker = started.add_node(num_cpus=2)
        started.wait_for_nodes()
        yield started, worker
    finally:
        started.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _task_pid(label: str) -> int | None:
    """The process running the Ray task named `autoreward <label>` (Ray titles a worker `ray::<task name>`)."""
    title = f"ray::autoreward {label}".encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(title):
                return int(cmdline.parent.name)
        except OSError:
            continue
    return None


def _kill_when_running(label: str, killed: list[int]) -> threading.Thread:
    """Kill the task's process (SIGKILL: a crashed or OOM-killed worker) as soon as it runs."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pid = _task_pid(label)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _layout(out: Path) -> set[str]:
    """Every file of the run folder and the baseline cache, relative (the run folder's name is a timestamp, and
    so are TensorBoard's event file names: they count by their folder)."""
    run = next(p for p in out.iterdir() if (p / "run.json").is_file())
    files = {f"run/{p.relative_to(run)}" for p in run.rglob("*") if p.is_file()} | \
        {str(p.relative_to(out)) for p in (out / "baselines").rglob("*") if p.is_file()}
    return {re.sub(r"/events\.out\.tfevents\.[^/]+$", "/events.out.tfevents.*", name) for name in files}


@pytest.mark.slow  # ~30-50 s on a 2-core VM: the default run stays under 10 minutes; CI runs it
def test_iterate_on_a_ray_cluster_runs_on_the_worker_node_and_survives_a_killed_task(cluster, tmp_path):
    head, worker = cluster[0].head_node, cluster[1]
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main([*ARGS, "--out", str(local_out)]) in (0, 1)  # 1: no reward beat the baseline, a valid answer

    killed: list[int] = []
    watcher = _kill_when_running("candidate 0/0", killed)
    assert main([*ARGS, "--out", str(ray_out), "--executor", "ray", "--ray-address", cluster[0].address]) in (0, 1)
    watcher.join(timeout=1)
    assert killed, "candidate 0/0 never ran on the cluster"
    store = RunStore(next(p for p in ray_out.iterdir() if (p / "run.json").is_file()))
    run = store.read_run()
    assert run["status"] == "finished" and run["config"]["executor"] == "ray"
    lost, kept = store.candidates()
    assert (lost.status, lost.retryable) == ("failed", True) and "--resume" in lost.reason, lost.reason
    assert "WorkerCrashedError" in lost.reason and not (store.candidate_dir(0, 0) / "train").exists()
    assert kept.status == "evaluated" and not kept.retryable
    assert kept.node_id == worker.node_id != head.node_id and kept.hostname == socket.gethostname()
    assert json.loads((store.root / "baseline.json").read_text())["cached"] is False  # trained on the node

    assert main(["iterate", "--resume", str(store.root)]) in (0, 1)  # the same executor and cluster, from run.json
    retried, again = store.candidates()
    assert retried.status == "evaluated" and not retried.retryable and retried.reason is None
    assert retried.node_id == worker.node_id and again == kept  # the finished candidate was left alone
    assert not list(Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}{killed[0]}-*"))  # its folder was swept
    local = RunStore(next(p for p in local_out.iterdir() if (p / "run.json").is_file()))
    assert {c.node_id for c in local.candidates()} == {None}
    assert {c.hostname for c in local.candidates()} == {socket.gethostname()}
    assert _layout(ray_out) == _layout(local_out)  # no file missing, none extra, none left half-placed
    for name in ("eval.json", "train/metrics.jsonl", "train/policy.zip"):  # what the node wrote, byte for byte
        assert (store.candidate_dir(0, 1) / name).stat().st_size > 0


def test_shutdown_with_cancel_kills_the_running_task(cluster, tmp_path):
    """Ctrl-C: the loop calls shutdown(cancel=True); the training on the node stops and nothing is placed."""
    executor = RayExecutor(address=cluster[0].address)
    out = tmp_path / "cand"
    future = executor.run(training_job(ROOM, None, out, 10_000_000, 0, 2, "cpu", 2, label="long training"))
    wait_until(lambda: _task_pid("long training") is not None, timeout_s=60)
    pid = _task_pid("long training")
    executor.shutdown(cancel=True)
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or _task_pid("long training") is None, timeout_s=30)
    with pytest.raises((ray.exceptions.TaskCancelledError, CancelledError)):
        future.result(timeout=30)
    assert not out.exists()


def test_asking_for_gpus_the_cluster_lacks_is_a_usage_error_not_a_task_that_waits_forever(cluster):
    with pytest.raises(UsageError, match="GPU"):
        RayExecutor(address=cluster[0].address, gpus=1)
    assert not ray.is_initialized()  # the connection it made is closed again


def test_a_node_that_dies_mid_training_makes_a_retryable_failure(cluster, tmp_path):
    """Last here: it kills a node. A second worker joins, the training's node is killed (raylet and workers)."""
    spare = cluster[0].add_node(num_cpus=2)
    cluster[0].wait_for_nodes()
    executor = RayExecutor(address=cluster[0].address)
    try:
        future = executor.run(training_job(ROOM, None, tmp_path / "cand", 10_000_000, 0, 2, "cpu", 2,
                                           label="doomed training"))
        wait_until(lambda: _task_pid("doomed training") is not None, timeout_s=60)
        parent = int(Path(f"/proc/{_task_pid('doomed training')}/stat").read_text().rsplit(")", 1)[1].split()[1])
        node = next(n for n in (cluster[1], spare) if parent in {p.pid for _, p in n.live_processes()})  # its raylet
        cluster[0].remove_node(node, allow_graceful=False)
        with pytest.raises(RetryableJobError, match="NodeDiedError"):
            future.result(timeout=120)
    finally:
        executor.shutdown(cancel=True)
    assert not (tmp_path / "cand").exists()
    doomed = f"{WORK_PREFIX}*-doomed-training-*"  # its node's work folder, left by the kill: the next job sweeps it
    wait_until(lambda: not sweep_abandoned() and not list(Path(tempfile.gettempdir()).glob(doomed)), timeout_s=10)
