"""`autoreward report` on real runs (the loop's tiny offline runs): a valid, self-contained page whose plots
decode in a real headless Chromium, with untrusted text inert, for finished, failed and interrupted runs."""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autoreward.cli import main
from autoreward.llm.base import LLMError
from autoreward.report.build import write_report
from autoreward.report.plots import outcomes
from autoreward.synth import loop
from autoreward.synth.inspect import candidate_detail, run_overview
from autoreward.synth.offline.analyzer import OfflineAnalyzer
from autoreward.synth.offline.designer import OfflineDesigner
from autoreward.synth.records import Design
from autoreward.synth.store import IterateConfig
from tests.common import KEYROOM, TINY_ITERATE
from tests.report import browser

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}
PNG = b"\x89PNG\r\n\x1a\n"
SCRIPT = "<script>window.__pwned = 1</script>"  # what a hostile LLM might write into code or an analysis


class PageShape(HTMLParser):
    """The page's structure: unbalanced tags, ids, in-page links, images and anything that would load or run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.links: list[str] = []
        self.tables: list[list[str]] = []  # the links inside each table, in page order (the candidate table first)
        self.images: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, name: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(name)
        self.ids += [values["id"]] if "id" in values else []
        self.problems += [f"<{name} {k}=...>: an event handler" for k in values if k.startswith("on")]
        if name == "table":
            self.tables.append([])
        if name == "a":
            self.links.append(values.get("href", ""))
            if "table" in self.open:
                self.tables[-1].append(values.get("href", ""))
        if name == "img":
            self.images.append(values)
        for key in ("src", "href"):
            if key in values and not values[key].startswith(("#", "data:image/png;base64,")):
                self.problems.append(f"<{name} {key}={values[key][:60]!r}>: loads something outside the page")
        if name not in VOID:
            self.open.append(name)

    def handle_endtag(self, name: str) -> None:
        if name in VOID:
            return
        if not self.open or self.open[-1] != name:
            self.problems.append(f"</{name}> closes <{self.open[-1] if self.open else 'nothing'}>")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _shape(page: str) -> PageShape:
    shape = PageShape()
    shape.feed(page)
    shape.close()
    return shape


def _check_page(path: Path) -> PageShape:
    """What every report must be: balanced HTML, no script or outside resource, unique ids that every in-page
    link finds, and every plot a PNG that decodes."""
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    shape = _shape(page)
    assert shape.problems == [] and shape.open == []
    assert "script" not in shape.tags and "iframe" not in shape.tags and "object" not in shape.tags
    assert len(shape.ids) == len(set(shape.ids))
    assert {link[1:] for link in shape.links if link.startswith("#")} <= set(shape.ids)
    for image in shape.images:
        data = base64.b64decode(image["src"].split(",", 1)[1], validate=True)
        assert data.startswith(PNG) and len(data) > 1000, image["alt"]
    assert path.stat().st_size < 5 * 2**20
    return shape


def _chromium() -> str:
    """The browser, or a skip that says why; under CI (AUTOREWARD_REQUIRE_BROWSER=1, set by .ci/run) a failure."""
    binary = browser.find_chromium()
    if binary is None:
        reason = "no Chromium found (apt-get install chromium, or set AUTOREWARD_CHROMIUM); .ci/run installs it"
        if os.environ.get("AUTOREWARD_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def _in_chromium(page: Path, work: Path, shots: str) -> browser.Loaded:
    """Load `page` in headless Chromium: every image decoded, nothing ran, nothing on the console; a screenshot
    (kept in $AUTOREWARD_REPORT_SHOTS when set)."""
    binary = _chromium()
    loaded = browser.load(binary, page, work)
    assert loaded.console == []
    assert loaded.result["scripts"] == 0 and loaded.result["pwned"] is False
    assert loaded.result["images"] and all(i["complete"] and i["width"] > 0 and i["height"] > 0
                                           for i in loaded.result["images"]), \
        loaded.result["images"]
    shot = work / f"{shots}.png"
    assert browser.screenshot(binary, page, shot, work) == []
    assert shot.read_bytes().startswith(PNG) and shot.stat().st_size > 10_000
    if os.environ.get("AUTOREWARD_REPORT_SHOTS"):
        keep = Path(os.environ["AUTOREWARD_REPORT_SHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, keep / shot.name)
        shutil.copy(page, keep / f"{shots}.html")
    return loaded


@pytest.fixture(scope="module")
def finished_report(finished_run, tmp_path_factory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    start = time.perf_counter()
    assert main(["report", str(finished_run.root), "--out", str(out)]) == 0
    return out, time.perf_counter() - start


def test_the_report_of_a_finished_run_shows_every_candidate_and_plot(finished_run, finished_report):
    path, seconds = finished_report
    assert seconds < 10
    shape = _check_page(path)
    overview = run_overview(finished_run.root)
    names = [f"{c['round']}/{c['candidate']}" for c in overview["candidates"]]
    assert {f"cand-{n.replace('/', '-')}" for n in names} <= set(shape.ids)
    assert shape.tables[0] == [f"#cand-{n.replace('/', '-')}" for n in names]  # the candidate table, in order
    assert [i["alt"].split(",")[0] for i in shape.images] == [
        "learning curves of every candidate", "evaluated success by round", "reward components of the best candidate",
        "evaluation outcomes of the best candidate"]
    text = " ".join(" ".join(shape.text).split())
    assert overview["config"]["task"] in text and overview["task_text"].split()[0] in text
    assert "2 rounds × 2 candidates × 1,024 steps" in text
    assert (overview["best"] or {})["message"] in text
    for name in names:  # each candidate's code (highlighted, so as text), verdict stage and evaluation
        detail = candidate_detail(finished_run.root, name)
        code_text = " ".join(detail["code"].split())
        assert code_text[:200] in text
        assert f"critic: accepted at stage {detail['verdict']['stage']}" in text
        assert f"{100 * detail['eval']['success_rate']:.0f}% of {detail['eval']['episodes']} episodes" in text
        if detail["parent_diff"]:
            assert f"diff against the parent, {detail['record']['parent']}" in text
    assert "evaluation episodes" in text and "analysis of round 0" in text.lower()
    assert "confirm" in shape.ids and "task reward alone" in text  # the confirmation's table, linked entries
    assert {f"#cand-{e['name'].replace('/', '-')}" for e in overview["confirmation"]["entries"]
            if e["name"] != "baseline"} <= set(shape.links)


def test_the_report_loads_in_headless_chromium(finished_report, tmp_path):
    path, _ = finished_report
    loaded = _in_chromium(path, tmp_path, "finished")
    assert len(loaded.result["images"]) == 4 and loaded.result["title"].startswith("autoreward report")


def test_the_browser_check_sees_a_broken_image_a_script_and_a_console_message(tmp_path):
    """The Chromium check can fail: an image that does not decode, a script that runs, a console message."""
    binary = _chromium()
    good = base64.b64encode(_real_png()).decode()
    page = tmp_path / "bad.html"
    page.write_text(f'<!DOCTYPE html><html><body><img alt="good" src="data:image/png;base64,{good}">'
                    '<img alt="bad" src="data:image/png;base64,iVBORw0KGgoAAAAAAAAA">'
                    '<script>window.__pwned = 1; console.error("ran")</script></body></html>')
    loaded = browser.load(binary, page, tmp_path)
    assert [(i["alt"], i["width"] > 0) for i in loaded.result["images"]] == [("good", True), ("bad", False)]
    assert loaded.result["pwned"] is True and loaded.result["scripts"] == 1
    assert any("ran" in line for line in loaded.console)


def _real_png() -> bytes:
    """A small real PNG (matplotlib's), to tell a decoding image from a broken one."""
    uri = outcomes({"episodes": 2, "success_rate": 0.5, "failure_causes": {"timeout": 1}})
    return base64.b64decode(uri.split(",", 1)[1])


class HostileDesigner(OfflineDesigner):
    """The offline designer, except: 0/0's code carries a script in a comment, 0/1's LLM call fails, and 1/0
    writes code the static rules reject."""

    def design(self, ctx):
        if (ctx.round, ctx.candidate) == (0, 1):
            raise LLMError("the provider answered 503")
        made = super().design(ctx)
        if (ctx.round, ctx.candidate) == (1, 0):
            return replace(made, code="import os\n\ndef compute_reward(prev, action, state, memory):\n"
                                      "    return 0.0, {}\n")
        if (ctx.round, ctx.candidate) == (0, 0):
            return replace(made, code=f"# {SCRIPT} </pre></div>\n" + made.code)
        return made

    def repair(self, ctx, code, errors) -> Design:
        return self.design(ctx)


class HostileAnalyzer(OfflineAnalyzer):
    def analyze(self, summary, ctx, found=None, comparison=None):
        made = super().analyze(summary, ctx, found, comparison)
        return replace(made, text=made.text + f"\n\n{SCRIPT}\n")


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory) -> Path:
    """A real run with a failed (LLM error) and a rejected candidate and untrusted markup in its code, task text
    and analysis, interrupted (Ctrl-C) when its last candidate was about to train."""
    out = tmp_path_factory.mktemp("broken")
    patch = pytest.MonkeyPatch()
    original = loop.roles_for
    patch.setattr(loop, "roles_for", lambda llm: replace(original(llm), designer=HostileDesigner(),
                                                         analyzer=HostileAnalyzer()))

    def interrupt(event, data):
        if event == "candidate" and data.get("stage") == "training" and (data["round"], data["candidate"]) == (1, 1):
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            loop.iterate(IterateConfig(task=KEYROOM, description=f"Reach the stairs. {SCRIPT} <img src=x onerror=1>",
                                       rounds=2, candidates=2, repairs=0, out=str(out), confirm_seeds=0,
                                       **TINY_ITERATE), on_event=interrupt)
    finally:
        patch.undo()
    (root,) = [p for p in out.iterdir() if (p / "run.json").is_file()]
    return root


def test_a_failed_candidate_and_an_interrupted_run_render(broken_run, tmp_path):
    overview = run_overview(broken_run)
    statuses = {f"{c['round']}/{c['candidate']}": c["status"] for c in overview["candidates"]}
    assert overview["status"] == "interrupted"
    assert statuses == {"0/0": "evaluated", "0/1": "failed", "1/0": "rejected", "1/1": "accepted"}
    path = write_report(broken_run, tmp_path / "broken.html")
    shape = _check_page(path)
    text = " ".join(" ".join(shape.text).split())
    assert "interrupted" in text and "LLM call failed: the provider answered 503" in text
    assert "critic: rejected at stage static" in text and "not evaluated" in text
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;/pre&gt;&lt;/div&gt;" in page  # the code's attempt to close the code block is text
    assert text.count(SCRIPT) >= 3  # task text, 0/0's code, the analyses: shown as text
    loaded = _in_chromium(path, tmp_path, "broken")
    assert loaded.result["pwned"] is False


def test_a_training_folder_gets_its_own_report(finished_run, tmp_path, capsys):
    folder = finished_run.candidate_dir(0, 0) / "train"
    assert main(["inspect", str(folder), "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["metrics"] and detail["result"]["steps"] >= TINY_ITERATE["steps"]
    assert main(["report", str(folder), "--out", str(tmp_path / "train.html")]) == 0
    shape = _check_page(tmp_path / "train.html")
    assert [i["alt"] for i in shape.images] == ["learning curve", "reward components"]
    text = " ".join(" ".join(shape.text).split())
    assert f"{detail['result']['steps']:,} in {len(detail['metrics'])} rollouts" in text
    assert main(["report", str(tmp_path / "nowhere")]) == 2


def test_a_damaged_metrics_file_is_named_not_a_traceback(finished_run, tmp_path, capsys):
    folder = tmp_path / "train"
    shutil.copytree(finished_run.candidate_dir(0, 0) / "train", folder)
    metrics = folder / "metrics.jsonl"
    lines = metrics.read_text(encoding="utf-8").splitlines()
    metrics.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n", encoding="utf-8")
    assert main(["report", str(folder), "--out", str(tmp_path / "train.html")]) == 2
    assert "metrics.jsonl, line 2, is not JSON" in "".join(capsys.readouterr().err.split("\n"))
    metrics.write_text("\n".join([*lines, "[1, 2]"]) + "\n", encoding="utf-8")
    assert main(["report", str(folder), "--out", str(tmp_path / "train.html")]) == 2
    assert "is not a JSON object" in " ".join(capsys.readouterr().err.split())
    metrics.write_text("\n".join(lines) + '\n{"rollout": 9, "ste', encoding="utf-8")  # an append in progress
    assert main(["report", str(folder), "--out", str(tmp_path / "train.html")]) == 0
