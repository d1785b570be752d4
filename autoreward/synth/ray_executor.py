"""Candidate trainings as Ray tasks on a cluster whose nodes share no filesystem with the driver.

Each job (`synth.jobs`) travels with its input files' bytes, runs in a temporary folder on the node it is
scheduled on, and comes back as figures plus the files it wrote, which the driver places in the run folder;
the run folder is the same as a local run's. Each task declares what it uses: `num_cpus` = the job's cores
(its env workers, one per core with 4 envs or more each, and a trainer), capped at the largest node's CPUs so
that it can be scheduled at all, and `num_gpus` = `gpus`. `ray` is imported here only, when a Ray executor is
made (`pip install autoreward[ray]`).

`max_retries=0`: a training lost with its node is not rerun behind the loop's back (it would start from zero,
take a node's whole share again, and hide a failing machine); the loop records it as a retryable failure and
`autoreward iterate --resume` trains it again.
"""

from __future__ import annotations

import contextlib
import os
import socket
from concurrent.futures import Future
from typing import Any

from autoreward.errors import UsageError
from autoreward.reward.walls import drop_credentials
from autoreward.synth.executor import set_share
from autoreward.synth.jobs import Figures, Job, RetryableJobError, Shipped, place, run_shipped, settle, ship

#: Ray's errors that mean the machine failed, not the job: the job may succeed when run again.
LOST = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError", "OutOfMemoryError",
        "RaySystemError")
CANCEL_WAIT_S = 10.0  # how long shutdown(cancel=True) waits for killed tasks to report before disconnecting


class RayExecutor:
    """Runs jobs as Ray tasks on the cluster at `address` ("auto", HOST:PORT; None: RAY_ADDRESS or a local Ray)."""

    def __init__(self, address: str | None = None, gpus: float = 0.0) -> None:
        try:
            import ray
        except ImportError as exc:
            raise UsageError("--executor ray needs Ray: pip install 'autoreward[ray]'") from exc
        self._ray = ray
        self._owner = not ray.is_initialized()  # shut down only a connection made here
        if self._owner:
            try:
                ray.init(address=address, log_to_driver=False)  # the nodes' output would break the progress display
            except ConnectionError as exc:
                raise UsageError(f"no Ray cluster at {address or 'RAY_ADDRESS'}: start one with `ray start --head` "
                                 f"({exc})") from exc
        self.gpus = gpus
        self.largest_cpus, largest_gpus = _largest_node(ray.nodes())
        if self.largest_cpus < 1:
            self.shutdown()
            raise UsageError("the Ray cluster has no node with a CPU: start one with `ray start --address=HEAD:6379`")
        if gpus > largest_gpus:
            self.shutdown()
            raise UsageError(f"--gpus-per-candidate {gpus:g}: no node of the Ray cluster has that many GPUs")
        self._lost = tuple(getattr(ray.exceptions, name) for name in LOST if hasattr(ray.exceptions, name))
        self._task = ray.remote(run_on_node)
        self._running: dict[Any, Job] = {}  # ObjectRef -> its job, until its result has arrived

    def run(self, job: Job) -> Future:
        """The job as a Ray task; the Future holds its figures once its files are in the output folder."""
        cpus = max(1, min(job.cpus, self.largest_cpus))
        task = self._task.options(num_cpus=cpus, num_gpus=self.gpus, max_retries=0, name=f"autoreward {job.label}")
        ref = task.remote(ship(job), cpus)
        self._running[ref] = job
        return settle(ref.future(), lambda done: self._arrive(ref, job, done))

    def _arrive(self, ref: Any, job: Job, done: Future) -> Figures:
        """On the driver: the task's files placed in the job's output folder, then the job's own last step."""
        self._running.pop(ref, None)
        try:
            figures, files = done.result()
        except self._lost as exc:
            raise RetryableJobError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") \
                from exc
        except self._ray.exceptions.RayTaskError as exc:  # the job's own error, as a local run would raise it
            if isinstance(exc.cause, Exception):
                raise exc.cause from None
            raise
        if job.output is not None:
            place(files, job.kwargs[job.output])
        return figures if job.then is None else job.then(figures)

    def shutdown(self, cancel: bool = False) -> None:
        """With `cancel`, kill the tasks still running (their env workers die with them); then disconnect."""
        refs = list(self._running) if cancel else []
        for ref in refs:
            with contextlib.suppress(Exception):  # finished meanwhile, or its node is gone: nothing to stop
                self._ray.cancel(ref, force=True)
        if refs:  # let the cancellations land (and their Futures fail) before the connection goes
            with contextlib.suppress(Exception):
                self._ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_S)
        if self._owner and self._ray.is_initialized():
            self._ray.shutdown()


def _largest_node(nodes: list[dict[str, Any]]) -> tuple[int, float]:
    """The CPUs and GPUs of the live nodes that have the most of each."""
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive")]
    return (int(max((r.get("CPU", 0.0) for r in alive), default=0.0)),
            max((r.get("GPU", 0.0) for r in alive), default=0.0))


def run_on_node(shipped: Shipped, cores: int) -> tuple[Figures, dict[str, bytes]]:
    """A Ray task: the job run in a temporary folder of this node with `cores` cores, without credentials;
    its figures (with this node's id and hostname) and the files it wrote."""
    import ray

    drop_credentials()  # candidates call no LLM: the run's keys stay on the driver
    node_id = ray.get_runtime_context().get_node_id()
    declared = next((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n["NodeID"] == node_id), 0.0)
    # Polling pays only when each process has a core of its own: not when the node declares more CPUs than it has.
    set_share(cores, -1.0 if declared <= (os.cpu_count() or 1) else 0.0)
    figures, files = run_shipped(shipped)
    return {**figures, "node_id": node_id, "hostname": socket.gethostname()}, files
