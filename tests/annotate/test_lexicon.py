"""The offline labeller: the lexicon's classes, scores, pair preferences, and the table itself."""

from __future__ import annotations

import re

import pytest

from autoreward.annotate import lexicon

PROGRESS = [
    "You find a hidden door.",
    "You find a hidden passage.",
    "You kill the newt!",
    "You destroy the zombie!",
    "The jackal is killed!",
    "Welcome to experience level 2.",
    "You see here a scroll labeled FOOBIE BLETCH.",
    "There are several objects here.",
    "There is a staircase down here.",
    "f - a skeleton key.",
    "$ - 12 gold pieces.",
    "The door opens.",
    "You unlock the door.",
    "You succeed in picking the lock.",
    "As you kick the door, it crashes open!",
    "You feel better.",
    "You start to float in the air!",
]
DANGER = [
    "You die...",
    "It bites!",
    "The jackal bites!",
    "The grid bug misses!",
    "You are hit by an arrow!",
    "You feel feverish.",
    "The lichen touches you!",
    "You burn to a crisp.",
    "You fall into the lava!",
    "You are beginning to feel hungry.",
    "You faint from lack of food.",
    "You stumble.",
    "The dart was poisoned!",
    "A trap door opens up under you!",
    "You are frozen by the floating eye's gaze!",
]
NEUTRAL = [
    "",
    "   ",
    "It's a wall.",
    "It's solid stone.",
    "You can't move diagonally out of an intact doorway.",
    "Never mind.",
    "There is a doorway here.",
    "Unknown command ' '.",
    "You see no objects here.",
    "This door is locked.",
    "You miss the newt.",
    "You hear some noises in the distance.",
    "Hello Agent, welcome to NetHack!  You are a neutral male human Caveman.",
    "Something entirely unknown to the lexicon.",
]


@pytest.mark.parametrize("text", PROGRESS)
def test_progress_messages_are_helpful(text):
    assert lexicon.classify(text) == "progress"
    assert lexicon.helpful(text) is True
    assert lexicon.score(text) > 0


@pytest.mark.parametrize("text", DANGER)
def test_danger_messages_are_not_helpful(text):
    assert lexicon.classify(text) == "danger"
    assert lexicon.helpful(text) is False
    assert lexicon.score(text) < 0


@pytest.mark.parametrize("text", NEUTRAL)
def test_neutral_messages_are_not_helpful_and_score_zero(text):
    assert lexicon.classify(text) == "neutral"
    assert lexicon.helpful(text) is False
    assert lexicon.score(text) == 0.0


def test_matching_ignores_case():
    assert lexicon.helpful("YOU KILL THE NEWT!")
    assert lexicon.classify("it's a WALL.") == "neutral"


def test_a_mixed_message_sums_its_rules():
    assert lexicon.score("You kill the newt! The jackal bites!") == 0.0
    assert [rule.kind for rule in lexicon.matches("You see here a skeleton key.")] == ["progress", "progress"]


def test_prefer_orders_pairs_and_ties():
    assert lexicon.prefer("You kill the newt!", "It's a wall.") == 1
    assert lexicon.prefer("It's a wall.", "You find a hidden passage.") == 2
    assert lexicon.prefer("It's a wall.", "You die...") == 1  # nothing beats harm
    assert lexicon.prefer("It's a wall.", "Never mind.") == 0
    assert lexicon.prefer("You kill the newt!", "You kill the jackal!") == 0


def test_the_table_is_well_formed():
    assert len(lexicon.RULES) == len(lexicon.COMPILED) >= 30
    assert {kind for _, kind in lexicon.RULES} == {"progress", "danger", "neutral"}
    assert len({pattern for pattern, _ in lexicon.RULES}) == len(lexicon.RULES)  # no duplicate rows
    for rule in lexicon.COMPILED:
        assert rule.pattern.flags & re.IGNORECASE


def test_every_rule_matches_one_of_the_examples():
    examples = PROGRESS + DANGER + NEUTRAL
    unused = [rule.pattern.pattern for rule in lexicon.COMPILED if not any(rule.pattern.search(t) for t in examples)]
    assert unused == []
