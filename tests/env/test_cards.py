"""Environment cards: each family makes its env, builds States, renders text, seeds NetHack, fixes timeouts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from autoreward.env.card import action_names, cards, describe_state_api
from autoreward.env.registry import builtin_cards, card_for
from autoreward.env.render import direction, distance_bucket, render_state
from autoreward.env.state import STATE_API, State
from autoreward.errors import UsageError
from autoreward.reward.contract import ALLOWED_ATTRIBUTES, CONTRACT_TEXT
from autoreward.reward.probe import collect_transitions

ONE_TASK_PER_FAMILY = {
    "minihack-navigation": "MiniHack-KeyRoom-S5-v0",
    "minihack-skills": "MiniHack-Eat-v0",
    "nle": "NetHackScore-v0",
}


def _play(task: str, steps: int, seed: int = 0):
    """States and actions of one random-policy episode (at most `steps` steps), and the action names."""
    (states, actions), *_ = collect_transitions(task, n=max(steps, 1), seed=seed, max_episode_steps=steps)
    env = card_for(task).make(task)
    names = action_names(env)
    env.close()
    return states, actions, names


def test_every_family_has_a_card():
    assert {card.family for card in cards()} == set(ONE_TASK_PER_FAMILY)
    for card in cards():
        assert card.tasks, card.family


@pytest.mark.parametrize("family,task", sorted(ONE_TASK_PER_FAMILY.items()))
def test_card_builds_state_and_text(family, task):
    card = card_for(task)
    assert card.family == family
    states, actions, _ = _play(task, 20)
    state = states[-1]
    x, y = state.pos
    assert 0 <= x < 79 and 0 <= y < 21
    assert state.chars.shape == (21, 79) and not state.chars.flags.writeable
    assert state.chars[y, x] == ord("@")
    assert state.hp > 0 and state.max_hp >= state.hp and state.depth >= 1
    assert isinstance(state.message, str) and isinstance(state.inventory, tuple)
    assert state.step == len(actions)
    text = render_state(state)
    for part in ("Message:", "Map (9x9", "Legend:", "@ you", "Objects:", "Status: HP", "Inventory:"):
        assert part in text, part


def test_keyroom_state_finds_named_things():
    states, _, _ = _play("MiniHack-KeyRoom-S5-v0", 1)
    state = states[0]
    key = state.nearest("key")
    assert key is not None and state.char_at(*key) == "("
    assert state.at(*key) == "key"
    assert state.find("(") == [key]
    assert state.distance_to("key") == State.distance(state.pos, key)
    assert state.count("closed door") == 1 and state.char_at(*state.nearest("closed door")) == "+"
    assert state.at(*state.pos) == "agent"
    assert state.explored > 10
    with pytest.raises(ValueError, match="unknown map name"):
        state.find("dragon hoard")


def test_state_is_read_only():
    states, _, _ = _play("MiniHack-KeyRoom-S5-v0", 1)
    state = states[0]
    with pytest.raises(AttributeError):
        state.hp = 5  # type: ignore[misc]
    with pytest.raises(ValueError):
        state.chars[0, 0] = 1
    with pytest.raises(ValueError):
        state.categories[0, 0] = 1


def test_state_pickles_identically():
    import pickle

    states, _, _ = _play("MiniHack-KeyRoom-S5-v0", 3)
    copy = pickle.loads(pickle.dumps(states[-1]))
    assert copy.pos == states[-1].pos and copy.message == states[-1].message
    assert np.array_equal(copy.chars, states[-1].chars) and copy.inventory == states[-1].inventory


def _inventory_state(*rows: tuple[int, str]) -> State:
    """A State whose inv_strs holds `rows` (row index, text), the rest NUL, as NLE lays it out."""
    inv = np.zeros((55, 80), dtype=np.uint8)
    for row, text in rows:
        inv[row, :len(text)] = np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
    blank = np.zeros((21, 79), dtype=np.int16)
    obs = {"glyphs": blank, "chars": blank.astype(np.uint8), "blstats": np.zeros(27, dtype=np.int64),
           "message": np.zeros(256, dtype=np.uint8), "inv_strs": inv}
    return State.copy_from(obs)


def test_inventory_decodes_each_state_own_rows():
    # Decodings are remembered per process by their bytes: fresh States that alternate, change, or have gaps
    # between their rows must still read their own inventory (the second round is answered from the memo).
    for _ in range(2):
        key = _inventory_state((0, "a +0 short sword (weapon in hand)"), (1, "a skeleton key"))
        empty = _inventory_state()
        gapped = _inventory_state((0, "a Wand of Digging"), (54, "2 uncursed food rations  "))
        assert key.inventory == ("a +0 short sword (weapon in hand)", "a skeleton key")
        assert empty.inventory == () and not empty.has_item("key")
        assert gapped.inventory == ("a Wand of Digging", "2 uncursed food rations")
        assert gapped.has_item("WAND of digging") and gapped.has_item("food") and not gapped.has_item("key")
        assert key.has_item("Skeleton Key") and not key.has_item("wand")
        assert not key.has_item("hand)\na skel") and not key.has_item("hand)a skel")  # never across two rows
        assert key.has_item("") and not empty.has_item("")  # the empty text is in every row, and there is none
    assert _inventory_state((1, "a skeleton key"), (0, "a +0 short sword (weapon in hand)")).inventory == (
        "a +0 short sword (weapon in hand)", "a skeleton key")  # row order, not insertion order


@pytest.mark.parametrize("task", [task.id for card in builtin_cards() for task in card.tasks])
def test_every_listed_task_plays_seeded_games(task):
    # Every stage (the critic's probe, training, evaluation) plays seeded games: a task the card lists must allow it.
    env = card_for(task).make(task, seed=0)
    try:
        env.reset()
        env.reset(seed=1)
        env.step(0)
    finally:
        env.close()


def test_seeding_goes_through_nethack():
    def first_maps(seed):
        card = card_for("MiniHack-Room-Random-15x15-v0")
        env = card.make("MiniHack-Room-Random-15x15-v0", seed=seed)
        maps = [env.reset()[0]["chars"].tobytes() for _ in range(3)]
        env.close()
        return maps

    a, b, c = first_maps(1), first_maps(1), first_maps(2)
    assert a == b  # same seed: the same sequence of games
    assert a != c  # another seed: other games
    assert len(set(a)) > 1  # episodes of one run differ from each other


def test_step_limit_is_truncation_not_termination():
    card = card_for("MiniHack-Room-5x5-v0")
    env = card.make("MiniHack-Room-5x5-v0", seed=0)
    env.reset()
    limit = env.unwrapped._max_episode_steps
    t = 0
    for t in range(1, limit + 1):  # noqa: B007 - t is read after the loop
        obs, _, terminated, truncated, info = env.step(0)  # walk north into the wall: never reaches the stairs
        if terminated or truncated:
            break
    final = card.state(obs, 0.0, terminated, truncated, info, t)
    env.close()
    assert t == limit
    assert truncated and not terminated
    assert not card.success(info)
    # NLE's own last observation is blank (empty map, agent at (0, 0), 0 hp); the card shows the last real one
    assert final.pos != (0, 0) and final.hp > 0 and final.count("floor") > 0


def test_a_death_ends_on_a_real_observation():
    card = card_for("MiniHack-LavaCrossingS9N1-v0")
    env = card.make("MiniHack-LavaCrossingS9N1-v0", seed=0)
    rng = np.random.default_rng(0)
    deaths = 0
    for _ in range(5):
        env.reset()
        for step in range(1, 500):  # noqa: B007 - read after the loop
            obs, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
            if terminated or truncated:
                break
        final = card.state(obs, 0.0, terminated, truncated, info, step)
        deaths += final.died
        assert final.pos != (0, 0) and final.hp > 0 and final.count("lava") > 0
    env.close()
    assert deaths > 0  # random walks next to lava die


def test_success_comes_from_end_status_not_reward():
    card = card_for("MiniHack-Room-5x5-v0")
    assert card.success({"end_status": 2})
    assert not card.success({"end_status": 1})
    assert not card.success({"end_status": 0})


def test_lava_crossing_is_made_despite_minigrid_size_arguments():
    states, _, _ = _play("MiniHack-LavaCrossingS9N1-v0", 5)
    assert states[0].count("lava") > 0


def test_describe_is_what_the_designer_sees():
    card = card_for("MiniHack-KeyRoom-S5-v0")
    text = card.describe("MiniHack-KeyRoom-S5-v0", CONTRACT_TEXT)
    assert "Pick up the key" in text
    assert CONTRACT_TEXT.strip() in text
    assert describe_state_api() in text
    assert "8: pickup" in text and "9: apply" in text
    assert "Example observation" in text


def test_documented_api_is_the_allowed_api():
    api_text = describe_state_api()
    for name in STATE_API:
        assert f"state.{name}" in api_text
        assert name in ALLOWED_ATTRIBUTES
    assert not any(name.startswith("_") for name in STATE_API)


def test_unknown_task_suggests_close_names():
    with pytest.raises(UsageError, match="MiniHack-KeyRoom-S5-v0"):
        card_for("MiniHack-KeyRoom-S6-v0")


def test_direction_and_distance_words():
    assert direction((5, 5), (6, 5)) == "east"
    assert direction((5, 5), (5, 4)) == "north"
    assert direction((5, 5), (3, 4)) == "west-northwest"
    assert [distance_bucket(d) for d in (1, 2, 4, 10, 25)] == ["adjacent", "very near", "near", "far", "very far"]


@pytest.mark.parametrize("task", ["MiniHack-KeyRoom-S5-v0", "MiniHack-MultiRoom-N2-v0", "MiniHack-Eat-v0",
                                  "MiniHack-Room-Monster-5x5-v0", "NetHackScore-v0"])
def test_unplugged_buffers_change_no_observation(task):
    """The speed fixes must be invisible: a stock env (every buffer filled) plays the same game, step for step."""
    import gymnasium as gym

    from autoreward.env.wrappers import LastSightAtEnd, NetHackSeeding, StepLimitAsTruncation

    card = card_for(task)
    fast = card.make(task, seed=5)
    stock = StepLimitAsTruncation(LastSightAtEnd(NetHackSeeding(gym.make(
        task, observation_keys=card.observation_keys, disable_env_checker=True, **card.task(task).make_kwargs), 5)))
    nethack = fast.unwrapped.nethack
    assert not {"tty_chars", "tty_colors", "colors", "specials", "inv_glyphs"} & set(nethack._obs_buffers)
    assert len(nethack._obs) == len(nethack._obs_buffers) == len(fast.unwrapped._observation_keys)
    if hasattr(fast.unwrapped, "reward_manager"):  # MiniHack: Eat's reward manager reads the descriptions
        descriptions = nethack._obs[list(nethack._obs_buffers).index("screen_descriptions")]
        assert len(descriptions) == (21 if fast.unwrapped.reward_manager is not None else 0)
    rng = np.random.default_rng(0)
    for episode in range(2):
        a, b = fast.reset()[0], stock.reset()[0]
        assert all(np.array_equal(a[k], b[k]) for k in a), f"reset {episode}"
        for action in rng.integers(fast.action_space.n, size=150).tolist():
            a, b = fast.step(action), stock.step(action)
            assert all(np.array_equal(a[0][k], b[0][k]) for k in a[0])
            assert a[1:] == b[1:]
            if a[2] or a[3]:
                break
    fast.close()
    stock.close()


def test_an_env_made_to_render_keeps_the_terminal():
    card = card_for("MiniHack-Room-5x5-v0")
    env = card.make("MiniHack-Room-5x5-v0", seed=0, render_mode="ansi")
    env.reset()
    assert "@" in env.render() and "tty_chars" in env.unwrapped.nethack._obs_buffers
    env.close()


def test_closed_door_direction_from_glyphs_matches_minihacks_descriptions():
    """KeyRoom applies the key through MiniHack's description lookup; the glyph answer must be the same."""
    import functools

    import gymnasium as gym

    from autoreward.env.wrappers import NetHackSeeding, closed_door_direction

    task = "MiniHack-KeyRoom-S5-v0"
    card = card_for(task)
    stock = NetHackSeeding(gym.make(task, observation_keys=card.observation_keys, disable_env_checker=True), 3)
    base = stock.unwrapped
    from_glyphs = functools.partial(closed_door_direction, base, base.get_object_direction)
    rng = np.random.default_rng(0)
    answers = []
    for _ in range(30):
        stock.reset()
        for action in rng.integers(stock.action_space.n, size=60).tolist():
            expected = base.get_object_direction("closed door")
            assert from_glyphs("closed door") == expected
            assert from_glyphs("key") == base.get_object_direction("key")  # other names: MiniHack's own lookup
            answers.append(expected)
            if stock.step(action)[2]:
                break
    stock.close()
    assert len({a for a in answers if a is not None}) >= 2  # the walks did stand next to the door, from 2+ sides


def test_nle_noise_at_game_ends_is_not_shown_but_other_warnings_are():
    """NLE's "smooth quitting of game failed" (a game it then aborts, as the next reset would) is silenced in every
    process that loads the cards; any other warning still reaches the user. A fresh interpreter: pytest resets
    warning filters per test."""
    code = ("import warnings, autoreward.env.card\n"
            "warnings.warn('Warning: smooth quitting of game failed, aborting.', UserWarning)\n"
            "warnings.warn('a warning of our own', UserWarning)\n")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "a warning of our own" in shown.stderr and "smooth quitting" not in shown.stderr
