"""Custom MiniHack levels: the card of a des file, its task id, and NetHack's level compiler's complaints."""

from __future__ import annotations

import pytest

from autoreward.env.custom import check_level, level_card, level_source, level_task_id
from autoreward.env.registry import card_for, source_of, use_card
from autoreward.errors import UsageError
from tests.common import ROOT

WAND = (ROOT / "examples" / "levels" / "wand_room.des").read_text()


def test_a_level_is_a_task_of_its_own_rebuilt_from_its_text():
    source = level_source(WAND, "wand_room.des", "reach the stairs after taking the wand", max_steps=40)
    task = level_task_id(source)
    assert task.startswith("MiniHack-Custom-wand_room-") and task == level_task_id(dict(source))
    assert level_task_id({**source, "max_steps": 41}) != task  # another game, another id (and baseline cache)
    assert level_task_id({**source, "description": "other words"}) == task  # the same game
    card = use_card(source)
    assert card_for(task) is card and source_of(task) == source
    assert card.task(task).goal == "reach the stairs after taking the wand"
    env = card.make(task, seed=3)
    try:
        obs, info = env.reset()
        state = card.state(obs, info=info)
        assert state.nearest("wand") is not None and state.nearest("stairs down") is not None
        assert env.unwrapped._max_episode_steps == 40 and len(card.action_names(env)) == 8  # nav: the 8 moves
    finally:
        env.close()


def test_action_sets():
    keyroom = level_card(level_source(WAND, "w.des", "x", actions="keyroom"))
    env = keyroom.make(keyroom.tasks[0].id)
    try:
        assert keyroom.action_names(env)[-2:] == ["pickup", "apply"]
    finally:
        env.close()
    with pytest.raises(UsageError, match="--actions"):
        level_source(WAND, "w.des", "x", actions="jump")
    with pytest.raises(UsageError, match="--description"):
        level_source(WAND, "w.des", "  ")


def test_the_compiler_names_the_line_it_refuses():
    unknown = WAND.replace('"digging"', '"nonsense"')
    with pytest.raises(UsageError, match=r"unknown.des: NetHack's level compiler refuses it: line 15: "
                                         r"`OBJECT: \('/', \"nonsense\"\), \(4,2\)`: Unknown object"):
        check_level(unknown, "unknown.des")
    typo = WAND.replace("STAIR:", "STAIRS:")
    with pytest.raises(UsageError, match=r"line 16: `STAIRS: \(7,2\), down`: syntax error"):
        check_level(typo, "typo.des")
    with pytest.raises(UsageError, match="no staircase down"):
        check_level(WAND.replace("STAIR: (7,2), down", "STAIR: (7,2), up"), "up.des")
    check_level(WAND, "wand_room.des")  # the example compiles
