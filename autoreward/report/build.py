"""`autoreward report`: which page a folder gets (a run or a training) and where it is written."""

from __future__ import annotations

from pathlib import Path

from autoreward.io import write_text_atomic
from autoreward.report.run import run_page
from autoreward.report.training import training_page
from autoreward.synth.inspect import is_training_dir

REPORT_NAME = "report.html"  # written into the folder unless --out says otherwise


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of `folder` (a run directory or a training folder) to `out` (default: in the folder)."""
    folder = Path(folder)
    page = training_page(folder) if is_training_dir(folder) else run_page(folder)
    path = Path(out) if out is not None else folder / REPORT_NAME
    write_text_atomic(path, page)
    return path
