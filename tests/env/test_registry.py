"""Cards from outside the package: registered, rebuilt from their recorded source, checked against their own API."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from autoreward.env.card import Card
from autoreward.env.registry import (
    card_for,
    card_from_reference,
    check_card,
    load_plugin,
    register,
    source_of,
    use_card,
)
from autoreward.errors import UsageError
from autoreward.paths import module_command
from autoreward.reward.contract import ALLOWED_ATTRIBUTES, allowed_attributes
from autoreward.reward.static import check_static
from tests.common import ROOT
from tests.plugins.toy_card import API, NETHACK_ONLY, TASK, ToyCard, ToyState

REF = "tests.plugins.toy_card:ToyCard"
DUNDER = """
def compute_reward(prev, action, state, memory):
    name = state.__class__
    return 0.0, {"x": 0.0}
"""
TOY_OK = (ROOT / "tests" / "plugins" / "toy_reward.py").read_text()


def test_a_card_reference_registers_the_card_with_its_source():
    card = card_from_reference(REF)
    assert isinstance(card, Card) and card_for(TASK) is card
    source = source_of(TASK)
    assert source == {"kind": "plugin", "ref": REF, "path": str(ROOT)}
    assert source_of("MiniHack-Room-5x5-v0") is None  # built in: nothing to record
    assert use_card(source) is not None and card_for(TASK).state_api == API


def test_the_critic_takes_the_cards_allow_list():
    assert allowed_attributes() is ALLOWED_ATTRIBUTES  # NetHack's, exactly as strict as before
    nethack = [str(i) for i in check_static(NETHACK_ONLY) if i.severity == "error"]
    assert nethack == []  # path_to is NetHack's API
    toy = [str(i) for i in check_static(NETHACK_ONLY, API) if i.severity == "error"]
    assert any("`.path_to` is not part of the documented API" in e for e in toy), toy
    assert [str(i) for i in check_static(TOY_OK, API) if i.severity == "error"] == []
    stairs = "def compute_reward(prev, action, state, memory):\n    return 0.0, {'seen': float(state.stairs is None)}\n"
    assert any("`.stairs`" in str(i) for i in check_static(stairs))  # the toy's name, not NetHack's
    assert [str(i) for i in check_static(stairs, API) if i.severity == "error"] == []
    assert any("dunder" in str(i) for i in check_static(DUNDER, API))


def test_bad_references_and_cards_are_usage_errors(tmp_path):
    for ref, message in (("tests.plugins.toy_card", "MODULE:ATTR"), ("no_such_module_x:Card", "not importable"),
                         ("tests.plugins.toy_card:Nope", "has no 'Nope'"),
                         ("tests.plugins.toy_card:API", "not a card")):
        with pytest.raises(UsageError, match=message):
            load_plugin(ref)

    class Private(ToyCard):
        state_api = frozenset({"pos", "_raw"})

    with pytest.raises(UsageError, match="private"):
        check_card(Private(), "private card")

    class Shadow(ToyCard):
        tasks = (card_for("MiniHack-Room-5x5-v0").task("MiniHack-Room-5x5-v0"),)

    with pytest.raises(UsageError, match="built-in task"):
        register(Shadow(), {"kind": "plugin", "ref": "x:Shadow"})


def test_a_fresh_isolated_process_rebuilds_a_plugin_from_its_recorded_folder(tmp_path):
    """What an env worker or a resumed run does: the module is not on its path, the recorded folder has it."""
    (tmp_path / "outside_plugin.py").write_text(textwrap.dedent('''
        from tests.plugins.toy_card import ToyCard
        from autoreward.env.card import TaskInfo

        class OutsideCard(ToyCard):
            tasks = (TaskInfo(id="Outside-Room-v0", family="toy", goal="Reach the stairs."),)
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        card, path = load_plugin("outside_plugin:OutsideCard")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("outside_plugin", None)
    assert path == str(tmp_path) and card.tasks[0].id == "Outside-Room-v0"
    source = {"kind": "plugin", "ref": "outside_plugin:OutsideCard", "path": path}
    script = ("import json, sys; sys.path.insert(1, sys.argv[2]); from autoreward.env.registry import card_for, "
              "use_card; use_card(json.loads(sys.argv[1])); card = card_for('Outside-Room-v0'); "
              "env = card.make('Outside-Room-v0', seed=0); obs, info = env.reset(); "
              "print(type(card).__name__, type(card.state(obs, info=info)).__name__, "
              "sys.modules['autoreward'].__file__)")
    done = subprocess.run([sys.executable, "-I", "-c", script, json.dumps(source), str(ROOT)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    name, state, package = done.stdout.split()
    assert (name, state) == ("OutsideCard", "ToyState") and package.startswith(str(ROOT))


def test_children_run_this_checkout(tmp_path):
    """Walled children (env workers, the sandbox) import the autoreward of the process that starts them."""
    command = module_command("json.tool", "--help")
    assert command[:2] == [sys.executable, "-I"] and "json.tool" in command
    probe = [*command[:3], "import sys; sys.path.insert(0, sys.argv.pop(1)); import autoreward; "
             "print(autoreward.__file__)", command[4]]
    done = subprocess.run(probe, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.stdout.strip() == str(ROOT / "autoreward" / "__init__.py")
    assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0


def test_toy_state_is_what_the_card_builds():
    card = ToyCard()
    env = card.make(TASK, seed=0)
    try:
        obs, info = env.reset()
        state = card.state(obs, info=info)
    finally:
        env.close()
    assert isinstance(state, ToyState) and state.stairs is not None and state.distance >= 0
    assert "state.distance" in card.describe_state_api() and "state.path_to" not in card.describe_state_api()
