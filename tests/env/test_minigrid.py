"""The MiniGrid card: real MiniGrid envs behind a State of their own, its helpers, its success and death, its text,
and the critic's allow-list taken from it (the hostile corpus is refused against MiniGrid's State too)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from minigrid.core.world_object import Ball, Lava

from autoreward.env.info import END_STATUS
from autoreward.env.minigrid import MiniGridCard
from autoreward.env.minigrid_state import MINIGRID_API
from autoreward.env.registry import all_cards, card_for
from autoreward.env.state import STATE_API
from autoreward.env.wrappers import DEATH, TASK_SUCCESSFUL
from autoreward.errors import RewardCodeError, UsageError
from autoreward.reward.contract import describe_task
from autoreward.reward.critic import check, critique
from autoreward.reward.loader import load_reward
from autoreward.reward.probe import ProbeLimits, collect_transitions
from autoreward.reward.static import check_static
from autoreward.synth.offline.designer import OfflineDesigner
from autoreward.synth.offline.recipe import recipe_for
from autoreward.synth.records import DesignContext
from autoreward.synth.roles import reviewer_for
from autoreward.synth.structure import structure_of
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


def test_unlisted_minigrid_ids_are_played_with_their_mission_as_the_goal():
    card = card_for("MiniGrid-Unlock-v0")  # not in envs/minigrid.toml
    assert isinstance(card, MiniGridCard) and "MiniGrid-Unlock-v0" not in {t.id for t in card.tasks}
    goal = card.task("MiniGrid-Unlock-v0").goal
    assert "'open the door'" in goal and "('key', 'k')" in goal and "('closed door', '+')" in goal
    assert "locked" in goal  # a key is named because the door it must open is locked
    phases = recipe_for("MiniGrid-Unlock-v0", goal).phases
    assert [(p.component, p.target) for p in phases] == [("key", "key"), ("door", "closed door"), ("goal", "")]
    fetch = card.task("MiniGrid-Fetch-5x5-N2-v0").goal
    assert "('key', 'k')" in fetch and "door" not in fetch and "('goal'" not in fetch  # what the mission names
    with pytest.raises(UsageError, match="unknown task"):
        card_for("MiniGrid-NoSuchTask-v0")
    with pytest.raises(UsageError, match="not in the minigrid card"):
        card.task("MiniHack-Room-5x5-v0")


def test_running_into_an_obstacle_is_death():
    task = "MiniGrid-Dynamic-Obstacles-5x5-v0"
    card = card_for(task)
    env = card.make(task, seed=0)
    env.reset()
    base = env.unwrapped
    base.grid.set(*base.front_pos, Ball())  # an obstacle right in front
    obs, reward, terminated, truncated, info = env.step(base.actions.forward)
    state = card.state(obs, reward, terminated, truncated, info, 1)
    assert terminated and reward < 0 and info[END_STATUS] == DEATH and state.died and not card.success(info)
    assert card.death_cause(state) == "hit an obstacle"
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
    described = describe_task(DOORKEY)  # what the designer is shown: MiniGrid's own step limit (10 * 5 * 5)
    assert "An episode lasts at most 250 steps." in described and "at most None" not in described


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
    # MiniGrid's State offers actions_to (turns counted): the first design measures approach by it, and the
    # round's next candidate tries path distance as its structural change
    assert "distance: actions" in structure_of(code) and "state.actions_to(spot" in code
    second = OfflineDesigner().design(dataclasses.replace(ctx, candidate=1)).code
    assert "distance: path" in structure_of(second)
    for candidate in (code, second):  # all three stages, as the loop runs them (the review plays the task itself)
        verdict = critique(candidate, task, reviewer=reviewer_for(None), episodes=minigrid_episodes,
                           limits=FAST).verdict
        assert verdict.accepted and verdict.stage == "review", verdict.errors


def _fewest_real_actions(env, target, limit=40):
    """Breadth-first search over copies of the real env (left, right, forward, toggle) until the agent stands on
    `target` (cells it can enter) or faces it (anything else), never stepping into lava: the ground truth for
    `actions_to`."""
    import copy
    from collections import deque

    base = env.unwrapped
    enterable = base.grid.get(*target) is None or base.grid.get(*target).can_overlap()

    def reached(game):
        return tuple(game.agent_pos) == target if enterable else tuple(game.front_pos) == target

    def key(game):
        door_states = tuple((o.is_open, o.is_locked) for o in game.grid.grid if o is not None and o.type == "door")
        return tuple(game.agent_pos), game.agent_dir, door_states

    start = copy.deepcopy(base)
    if reached(start):
        return 0
    seen, queue = {key(start)}, deque([(start, 0)])
    while queue:
        game, cost = queue.popleft()
        if cost >= limit:
            break
        for action in (game.actions.left, game.actions.right, game.actions.forward, game.actions.toggle):
            nxt = copy.deepcopy(game)
            _, _, terminated, _, _ = nxt.step(action)
            if reached(nxt):
                return cost + 1
            if terminated or key(nxt) in seen:
                continue
            seen.add(key(nxt))
            queue.append((nxt, cost + 1))
    return None


@pytest.mark.parametrize("task", ["MiniGrid-DoorKey-6x6-v0", "MiniGrid-KeyCorridorS3R1-v0",
                                  "MiniGrid-LavaCrossingS9N1-v0"])
def test_actions_to_is_the_fewest_real_actions(task):
    """actions_to counts turns, steps and door toggles exactly as the game does, with and without the key,
    from random places and directions (the real env searched by copies is the reference)."""
    import numpy as np

    card = card_for(task)
    env = card.make(task, seed=4)
    rng = np.random.default_rng(0)
    checked = 0
    for episode in range(6):
        env.reset()
        base = env.unwrapped
        free = [(x, y) for x in range(base.width) for y in range(base.height) if base.grid.get(x, y) is None]
        targets = [(x, y) for x in range(base.width) for y in range(base.height)
                   if base.grid.get(x, y) is not None and base.grid.get(x, y).type in ("key", "door", "goal", "ball")]
        for _ in range(4):
            base.agent_pos = free[rng.integers(len(free))]
            base.agent_dir = int(rng.integers(4))
            key = next((p for p in targets if base.grid.get(*p).type == "key"), None)
            if key is not None and episode % 2:  # carry the key: the locked door opens on the way
                base.carrying = base.grid.get(*key)
                base.grid.set(*key, None)
                targets = [p for p in targets if p != key]
            state = card.state(env._observe())
            for target in targets:
                assert state.actions_to(target) == _fewest_real_actions(env, target), (task, target)
                checked += 1
    assert checked >= 20
