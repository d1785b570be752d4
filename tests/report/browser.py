"""A real headless Chromium for the report's tests: load a page from file://, say whether each image decoded and
what the console said, and take a screenshot.

The report has no script (its Content-Security-Policy forbids any), so the check runs in a test-only wrapper page
that holds the report in an iframe and writes what it found into its own DOM, which `--dump-dom` prints.
Console messages of both pages reach Chromium's log on stderr as `CONSOLE` lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
WRAPPER = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="result">pending</pre>
<script>
const frame = document.createElement("iframe");
frame.width = 1200; frame.height = 900;
frame.addEventListener("load", () => {{
  // the frame's load event waits for its images: each has loaded, or failed, by now
  const doc = frame.contentDocument;
  const images = Array.from(doc.images).map(img => ({{alt: img.alt, complete: img.complete,
                                                       width: img.naturalWidth, height: img.naturalHeight}}));
  document.getElementById("result").textContent = JSON.stringify({{
    images: images, scripts: doc.scripts.length, title: doc.title,
    pwned: Boolean(doc.defaultView.__pwned), anchors: doc.querySelectorAll("[id]").length}});
}});
frame.src = "{src}";
document.body.appendChild(frame);
</script></body></html>
"""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary: $AUTOREWARD_CHROMIUM, else the first of CANDIDATES on PATH."""
    given = os.environ.get("AUTOREWARD_CHROMIUM")
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


@dataclass
class Loaded:
    """What Chromium saw: the check's result (images, scripts, ...) and the console lines of its log."""

    result: dict
    console: list[str]


def _run(binary: str, profile: Path, args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)


def load(binary: str, page: Path, work: Path, timeout_s: float = 60.0) -> Loaded:
    """Open `page` in the wrapper; what its images and scripts did, and every console message."""
    wrapper = work / "wrapper.html"
    wrapper.write_text(WRAPPER.format(src=page.resolve().as_uri()), encoding="utf-8")
    done = _run(binary, work / "profile-dom", ["--allow-file-access-from-files", "--virtual-time-budget=10000",
                                               "--dump-dom", wrapper.as_uri()], timeout_s)
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert found is not None, f"no result in Chromium's DOM dump (exit {done.returncode}): {done.stderr[-2000:]}"
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert text != "pending", "the wrapper's check did not finish"
    return Loaded(json.loads(text), [line for line in done.stderr.splitlines() if ":CONSOLE" in line])


def screenshot(binary: str, page: Path, out: Path, work: Path, size: tuple[int, int] = (1200, 2400),
               timeout_s: float = 60.0) -> list[str]:
    """A PNG of the top of `page` at `size`; the console lines Chromium logged while it loaded."""
    done = _run(binary, work / "profile-shot", [f"--window-size={size[0]},{size[1]}", f"--screenshot={out}",
                                                page.resolve().as_uri()], timeout_s)
    assert out.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-2000:]}"
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
