"""The MiniGrid card: real MiniGrid envs behind a State of their own, its helpers, its success and death, its text,
and the critic's allow-list taken from it (the hostile corpus is refused against MiniGrid's State too)."""

from __future__ import annotations

import pickle

import pytest
from minigrid.core.world_object import Lava

from autoreward.env.info import END_STATUS
from autoreward.env.minigrid import MiniGridCard
from autoreward.env.minigrid_state import MINIGRID_API
from autoreward.env.registry import all_cards, card_for
from autoreward.env.state import STATE_API
from autoreward.env.wrappers import DEATH, TASK_SUCCESSFUL
from autoreward.errors import RewardCodeError
from autoreward.reward.contract import describe_task
from autoreward.reward.critic import check
from autoreward.reward.loader import load_reward
from autoreward.reward.probe import ProbeLimits, collect_transitions
from autoreward.reward.static import check_static
from autoreward.synth.offline.designer import OfflineDesigner
from autoreward.synth.records import DesignContext
from tests.reward.test_static import CORPUS, expectation

EMPTY, DOORKEY = "MiniGrid-Empty-5x5-v0", "MiniGrid-DoorKey-5x5-v0"
FAST = ProbeLimits(wall_timeout_s=20, cpu_seconds=8, memory_bytes=1 << 30, call_timeout_s=1.0)
HOSTILE = sorted((CORPUS / "hostile").glob("*.py"))


def _play(card, env, actions):
    obs, info = env.reset()
    states = [card.state(obs, info=info)]
    for step, action in enumerate(actions, 1):
        obs, reward, terminated, truncated, info = env.step(action)
        states.append(card.state(obs, reward, terminated, truncated, info, step))
    return states, info


def test_the_card_is_built_in_with_the_families_of_the_issue():
    card = card_for("MiniGrid-DoorKey-8x8-v0")
    assert isinstance(card, MiniGridCard) and card.state_api == MINIGRID_API
    ids = {t.id for t in card.tasks}
    for prefix in ("MiniGrid-DoorKey-", "MiniGrid-KeyCorridor", "MiniGrid-LavaCrossing", "MiniGrid-MultiRoom-",
                   "MiniGrid-Empty-", "MiniGrid-FourRooms"):
        assert any(i.startswith(prefix) for i in ids), prefix
    assert any(c is card and where == "built in" for c, where in all_cards())
    assert not (MINIGRID_API & {"message", "chars", "glyphs", "hp", "depth"})  # no NetHack-only names
    assert STATE_API != MINIGRID_API


def test_reaching_the_goal_is_success_by_the_envs_own_reward():
    card = card_for(EMPTY)
    env = card.make(EMPTY, seed=0)
    right, forward = 1, 2
    states, info = _play(card, env, [forward, forward, right, forward, forward])
    first, last = states[0], states[-1]
    assert first.pos == (1, 1) and first.direction_name == "east" and first.nearest("goal") == (3, 3)
    assert first.path_to("goal") == 4 and first.distance_to("goal") == 4 and first.front == (2, 1)
    assert [s.pos for s in states[1:3]] == [(2, 1), (3, 1)]
    assert last.success and last.done and not last.died and 0 < last.env_reward < 1
    assert card.success(info) and info[END_STATUS] == TASK_SUCCESSFUL
    assert not any(s.success for s in states[:-1])
    env.close()


def test_stepping_into_lava_is_death_not_success():
    card = card_for(EMPTY)
    env = card.make(EMPTY, seed=0)
    env.reset()
    env.unwrapped.grid.set(2, 1, Lava())
    obs, reward, terminated, truncated, info = env.step(2)  # forward, into the lava
    state = card.state(obs, reward, terminated, truncated, info, 1)
    assert terminated and state.died and not state.success and not card.success(info)
    assert info[END_STATUS] == DEATH and state.at(2, 1) == "lava" and state.pos == (2, 1)
    env.close()


def test_key_door_helpers_follow_the_game():
    card = card_for(DOORKEY)
    env = card.make(DOORKEY, seed=3)
    obs, info = env.reset()
    state = card.state(obs, info=info)
    key, door = state.nearest("key"), state.nearest("closed door")
    assert state.find("locked door") == [door] and state.is_locked(*door) and state.at(*door) == "closed door"
    assert state.path_to("goal") is None  # behind the locked door, without the key
    assert state.colour_at(*key) == "yellow" and state.count("key") == 1 and state.carrying is None
    # stand next to the key, facing it, and pick it up
    base = env.unwrapped
    free = next((x, y) for x, y in ((key[0] - 1, key[1]), (key[0], key[1] + 1), (key[0], key[1] - 1))
                if state.at(x, y) == "empty")
    base.agent_pos, base.agent_dir = free, {(1, 0): 0, (0, -1): 3, (0, 1): 1}[(key[0] - free[0], key[1] - free[1])]
    obs, reward, terminated, truncated, info = env.step(3)  # pickup
    carrying = card.state(obs, reward, terminated, truncated, info, 1)
    assert carrying.carrying == "key" and carrying.inventory == ("yellow key",) and carrying.count("key") == 0
    assert carrying.path_to("goal") is not None  # the key opens the way
    assert carrying.path_to("goal", avoid=("door",)) is None
    with pytest.raises(AttributeError):
        carrying.pos = (0, 0)  # read-only
    copy = pickle.loads(pickle.dumps(carrying))
    assert copy.grid.tobytes() == carrying.grid.tobytes() and copy.inventory == carrying.inventory
    with pytest.raises(ValueError, match="unknown MiniGrid map name"):
        carrying.find("stairs down")
    env.close()


def test_seeding_repeats_the_layouts():
    card = card_for("MiniGrid-DoorKey-8x8-v0")
    layouts = []
    for _ in range(2):
        env = card.make("MiniGrid-DoorKey-8x8-v0", seed=7)
        layouts.append([card.state(env.reset()[0]).grid.tobytes() for _ in range(3)])
        env.close()
    assert layouts[0] == layouts[1] and len(set(layouts[0])) > 1


def test_rendering_and_state_api_text():
    card = card_for(DOORKEY)
    env = card.make(DOORKEY, seed=0)
    obs, info = env.reset()
    text = card.render(card.state(obs, info=info))
    env.close()
    assert "Mission: use the key to open the door" in text and "L" in text and "G" in text and "yellow key at" in text
    api = card.describe_state_api()
    for name in ("state.path_to", "state.front", "state.carrying", "state.is_locked", "'locked door'"):
        assert name in api
    assert "state.message" not in api


@pytest.mark.parametrize("path", [p for p in HOSTILE if expectation(p)[0] == "static"], ids=lambda p: p.stem)
def test_static_hostile_code_is_refused_against_minigrids_state(path):
    errors = [i for i in check_static(path.read_text(), MINIGRID_API) if i.severity == "error"]
    assert errors, f"{path.name} was not refused"
    with pytest.raises(RewardCodeError):
        load_reward(path.read_text(), path.name, state_api=MINIGRID_API)


def test_nethack_names_and_dunders_are_refused_on_minigrid():
    for body, message in (("len(state.message)", "`.message` is not part of the documented API"),
                          ("state.chars[0, 0]", "`.chars` is not part of the documented API"),
                          ("len(state.__slots__)", "dunder")):
        source = f"def compute_reward(prev, action, state, memory):\n    x = {body}\n    return 0.0, {{}}\n"
        errors = [str(i) for i in check_static(source, MINIGRID_API) if i.severity == "error"]
        assert any(message in e for e in errors), errors


@pytest.fixture(scope="module")
def minigrid_episodes():
    return collect_transitions(DOORKEY, n=120, seed=0)


@pytest.mark.parametrize("path", [p for p in HOSTILE if expectation(p)[0] == "probe"], ids=lambda p: p.stem)
def test_probe_hostile_code_is_refused_on_minigrid(path, minigrid_episodes):
    verdict = check(path.read_text(), DOORKEY, episodes=minigrid_episodes, limits=FAST)
    assert not verdict.accepted, path.name


def test_the_offline_designers_minigrid_reward_passes_the_critic(minigrid_episodes):
    task = "MiniGrid-DoorKey-8x8-v0"
    ctx = DesignContext(task=task, task_text=card_for(task).task(task).goal, card_text=describe_task(task), round=1,
                        candidate=0, seed=0)
    code = OfflineDesigner().design(ctx).code
    assert '"key", "key", "pickup"' in code and '"goal", "goal", "success"' in code
    verdict = check(code, DOORKEY, episodes=minigrid_episodes, limits=FAST)
    assert verdict.accepted, verdict.errors
