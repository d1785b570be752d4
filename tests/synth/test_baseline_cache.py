"""The baseline cache's key: an edited plugin card is a new baseline; old and stale cache folders never break a run."""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import asdict

from autoreward.env.registry import card_fingerprint, card_from_reference
from autoreward.synth.baseline import BaselineKey, baseline_dir, keep_baseline, read_baseline

PLUGIN = '''
from tests.plugins.toy_card import ToyCard
from autoreward.env.card import TaskInfo

class EditedCard(ToyCard):
    tasks = (TaskInfo(id="Edited-Room-v0", family="toy", goal="Reach the stairs."),)
    STEP_LIMIT = {limit}
'''
FIGURES = {"success_rate": 0.5, "mean_return": 0.4, "steps": 64, "train_seconds": 1.0, "sps": 64.0}


def test_an_edited_plugin_card_gets_a_baseline_of_its_own(tmp_path, monkeypatch):
    module = tmp_path / "edited_plugin.py"
    module.write_text(textwrap.dedent(PLUGIN.format(limit=50)))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        card_from_reference("edited_plugin:EditedCard")
        before = BaselineKey.of("Edited-Room-v0", 64, 0, 2, 1)
        module.write_text(textwrap.dedent(PLUGIN.format(limit=80)))  # what the next run's workers will import
        after = BaselineKey.of("Edited-Room-v0", 64, 0, 2, 1)
    finally:
        sys.modules.pop("edited_plugin", None)
    assert before.card and after.card and before.card != after.card
    assert before.folder_name != after.folder_name and after.card in after.folder_name


def test_built_in_tasks_keep_their_cache_folders_and_old_records(tmp_path):
    key = BaselineKey.of("MiniHack-Room-5x5-v0", 64, 0, 2, 1)
    assert key.card == card_fingerprint("MiniHack-Room-5x5-v0") == ""
    assert key.folder_name == "MiniHack-Room-5x5-v0-64steps-seed0-2envs-1ep"
    folder = baseline_dir(tmp_path, key)
    folder.mkdir()
    old_key = {k: v for k, v in asdict(key).items() if k != "card"}  # written before keys had a card
    (folder / "baseline.json").write_text(json.dumps({"key": old_key, **FIGURES}))
    assert read_baseline(tmp_path, key)["success_rate"] == 0.5
    other = BaselineKey("MiniHack-Room-5x5-v0", 64, 0, 2, 1, card="abc")
    assert read_baseline(tmp_path, other) is None


def test_a_stale_folder_in_the_cache_is_set_aside_not_fatal(tmp_path):
    key = BaselineKey.of("MiniHack-Room-5x5-v0", 64, 0, 2, 1)
    folder = baseline_dir(tmp_path, key)
    folder.mkdir()
    (folder / "baseline.json").write_text(json.dumps({"key": {"task": "something else"}}))  # not this key's
    tmp = tmp_path / ".fresh"
    tmp.mkdir()
    (tmp / "metrics.jsonl").write_text("{}\n")
    kept = keep_baseline(str(tmp_path), key, tmp, FIGURES)
    assert kept["cached"] is False and read_baseline(tmp_path, key)["success_rate"] == 0.5
    assert (folder / "metrics.jsonl").is_file() and not tmp.exists()
    assert [p.name.startswith(f".{folder.name}.stale-") for p in tmp_path.iterdir() if p != folder] == [True]


def test_a_baseline_another_run_finished_first_is_kept(tmp_path):
    key = BaselineKey.of("MiniHack-Room-5x5-v0", 64, 0, 2, 1)
    theirs = baseline_dir(tmp_path, key)
    theirs.mkdir()
    (theirs / "baseline.json").write_text(json.dumps({"key": asdict(key), **FIGURES, "success_rate": 0.25}))
    tmp = tmp_path / ".mine"
    tmp.mkdir()
    kept = keep_baseline(str(tmp_path), key, tmp, FIGURES)
    assert kept["cached"] is True and kept["success_rate"] == 0.25 and not tmp.exists()
