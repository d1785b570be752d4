"""Jobs an executor runs: a function, its keyword arguments, the files it reads and the folder it writes.

Where the worker shares the driver's filesystem (`LocalExecutor`) a job runs as it is. Where it may not (a Ray
cluster), `ship` packs the input files' bytes with the job, `run_shipped` runs it in a temporary folder on the
node and returns the files it wrote, and `place` writes them into the driver's output folder atomically: the
run folder is the same whichever executor filled it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

Figures = dict[str, Any]
WORK_PREFIX = "autoreward-job-"  # a job's work folder on its node: autoreward-job-<pid>-<label>-<random>


class RetryableJobError(RuntimeError):
    """The machine under a job failed (its node died, its worker process was killed), not the job's code: running
    it again may well succeed, so the loop records it as retryable and `--resume` runs it again."""


@dataclass(frozen=True)
class Job:
    """One unit of work: `fn(**kwargs)` returns figures; `inputs` and `output` name the kwargs that are paths."""

    fn: Callable[..., Figures]
    kwargs: dict[str, Any]
    inputs: tuple[str, ...] = ()  # kwargs naming files the function reads (None: no file)
    output: str | None = None  # the kwarg naming the folder the function writes
    cpus: int = 1  # cores it keeps busy (a Ray task's num_cpus)
    label: str = "job"  # for people: the Ray task's name, the node's temporary folder
    then: Callable[[Figures], Figures] | None = None  # run on the driver once the output folder is in place


@dataclass(frozen=True)
class Shipped:
    """What travels to a node: the function, its other kwargs, and each input file's name and bytes."""

    fn: Callable[..., Figures]
    kwargs: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # kwarg -> (file name, bytes)
    output: str | None = None
    label: str = "job"


def ship(job: Job) -> Shipped:
    """The job with its input files read into it, so that it runs on a machine that cannot see them."""
    files = {name: (Path(job.kwargs[name]).name, Path(job.kwargs[name]).read_bytes())
             for name in job.inputs if job.kwargs.get(name) is not None}
    kwargs = {k: v for k, v in job.kwargs.items() if k not in files and k != job.output}
    return Shipped(fn=job.fn, kwargs=kwargs, files=files, output=job.output, label=job.label)


def run_shipped(shipped: Shipped) -> tuple[Figures, dict[str, bytes]]:
    """Run a shipped job in a temporary folder of this machine; its figures and the files its output holds
    (relative POSIX path -> bytes). The folder is removed afterwards, whatever happened."""
    sweep_abandoned()
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in shipped.label)
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-{safe}-"))
    try:
        kwargs = dict(shipped.kwargs)
        for name, (file_name, data) in shipped.files.items():
            path = work / "inputs" / name / file_name
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
            kwargs[name] = str(path)
        out = work / "output"
        if shipped.output is not None:
            kwargs[shipped.output] = str(out)
        figures = shipped.fn(**kwargs)
        files = {p.relative_to(out).as_posix(): p.read_bytes()
                 for p in sorted(out.rglob("*")) if p.is_file()} if out.is_dir() else {}
        return figures, files
    finally:
        shutil.rmtree(work, ignore_errors=True)


def sweep_abandoned(root: str | Path | None = None) -> list[Path]:
    """Remove the work folders of jobs whose process is gone (killed, so its `finally` never ran); the removed."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        pid = folder.name[len(WORK_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def place(files: dict[str, bytes], out: str | Path) -> None:
    """Write a job's files into `out` on this machine: all of them into a sibling staging folder first, then
    that folder renamed to `out` (or, when `out` already holds the loop's own files, each top-level entry
    renamed into it), so that no reader ever sees a half-written training."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.incoming-", dir=out.parent))
    try:
        for relative, data in files.items():
            parts = PurePosixPath(relative).parts
            if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
                raise ValueError(f"a job returned a file outside its output folder: {relative!r}")
            path = staging.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if not out.exists():
            staging.rename(out)
            return
        for entry in sorted(staging.iterdir()):
            _replace(entry, out / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace(source: Path, target: Path) -> None:
    """Put `source` where `target` is: a file atomically (os.replace), a folder by moving the old one aside."""
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        source.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def settle(source: Future, step: Callable[[Future], Any]) -> Future:
    """A Future that holds `step(source)` once `source` is done (or the exception `step` raised): the loop waits
    on it, so it sees a job as finished only when the job's files are in place."""
    result: Future = Future()

    def done(finished: Future) -> None:
        try:
            value = step(finished)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the result
            result.set_exception(exc)
        else:
            result.set_result(value)

    source.add_done_callback(done)
    return result

