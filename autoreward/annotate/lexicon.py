"""The offline labeller: a lexicon of NetHack messages classed as progress, danger or neutral.

It is rule-based (no model), so the annotation server works without an LLM (`--llm offline`), tests are
deterministic, and a run has a baseline to compare an LLM's labels with. Every rule is one row of `RULES`:
a regular expression (matched case-insensitively anywhere in the message) and its class. A message's score is
the sum over the rules it matches of +1 (progress), -1 (danger) or 0 (neutral, listed to document what is
deliberately worth nothing):

    helpful("You find a hidden passage.")          -> True    (score > 0)
    score("You kill the newt! The jackal bites!")  -> 0.0     (one progress, one danger)
    prefer("You kill the newt!", "It's a wall.")   -> 1       (1: the first, 2: the second, 0: a tie)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["progress", "danger", "neutral"]
VALUES: dict[str, float] = {"progress": 1.0, "danger": -1.0, "neutral": 0.0}

#: (pattern, class): the whole lexicon. Patterns are regular expressions, matched case-insensitively.
RULES: tuple[tuple[str, Kind], ...] = (
    # progress: the map opens up, monsters die, the hero grows, useful objects and exits are found
    (r"\byou find an? hidden\b", "progress"),  # "You find a hidden door." / "... a hidden passage."
    (r"\byou (kill|destroy)\b", "progress"),  # "You kill the newt!"
    (r"\bis (killed|destroyed)\b", "progress"),  # "The jackal is killed!" (by a pet, a trap, ...)
    (r"\bwelcome to experience level\b", "progress"),
    (r"\byou see here\b", "progress"),  # an object under the hero
    (r"\bthere are (several|many) objects here\b", "progress"),
    (r"\bthere is a staircase (down|up) here\b", "progress"),
    (r"\bkeys?\b", "progress"),  # "a skeleton key", "key named ..."
    (r"\bthe door opens\b", "progress"),
    (r"\b(crashes|bursts|shatters) open\b", "progress"),  # "As you kick the door, it crashes open!"
    (r"\byou unlock\b", "progress"),
    (r"\byou succeed in (picking|forcing) the lock\b", "progress"),
    (r"(^|\s)[a-zA-Z$] - (an?|the|\d+|uncursed|blessed|cursed)\b", "progress"),  # picked up: "f - a skeleton key."
    (r"\byou feel (much )?better\b", "progress"),
    (r"\byou start to float in the air\b", "progress"),  # levitation: crosses lava and water
    # danger: the hero is hurt, weakened, trapped, starving or dying
    (r"\byou die\b", "danger"),
    (r"\b(bites|stings|butts|claws|kicks|hits|misses)!", "danger"),  # "It bites!", "The jackal hits!"
    (r"\byou are hit\b", "danger"),
    (r"\btouches you\b", "danger"),  # "The lichen touches you!"
    (r"\byou feel feverish\b", "danger"),
    (r"\blava\b", "danger"),
    (r"\bburn(s|ed)?\b|\bto a crisp\b", "danger"),
    (r"\byou are beginning to feel (hungry|weak)\b|\bweak from hunger\b|\byou faint\b", "danger"),
    (r"\byou stumble\b", "danger"),
    (r"\bpoison", "danger"),  # "The dart was poisoned!", "The poison was deadly..."
    (r"\byou (fall|sink) into\b|\byou drown\b|\bdrowns?\b", "danger"),
    (r"\b(a trap door|bear trap|into a pit|sleeping gas|a dart shoots|an arrow shoots)\b", "danger"),
    (r"\byou (feel|are) (weaker|confused|blinded|stunned|paralyzed|frozen)\b", "danger"),
    # neutral: bumping into things, refused commands, the empty message
    (r"\bit'?s (a wall|solid stone)\b", "neutral"),
    (r"\byou can'?t move diagonally\b", "neutral"),
    (r"\bnever mind\b", "neutral"),
    (r"\bthere is a (broken door|doorway) here\b", "neutral"),
    (r"\bunknown command\b", "neutral"),
    (r"\byou see no objects here\b|\bthere is nothing here to pick up\b", "neutral"),
    (r"\bthis door is locked\b", "neutral"),
    (r"\byou miss\b", "neutral"),
    (r"\byou hear\b", "neutral"),
    (r"\bwelcome to nethack\b", "neutral"),
    (r"^\s*$", "neutral"),  # no message on this step
)


@dataclass(frozen=True)
class Rule:
    """One compiled row of `RULES`."""

    pattern: re.Pattern[str]
    kind: Kind

    @property
    def value(self) -> float:
        return VALUES[self.kind]


COMPILED: tuple[Rule, ...] = tuple(Rule(re.compile(pattern, re.IGNORECASE), kind) for pattern, kind in RULES)


def matches(text: str) -> list[Rule]:
    """The rules that match `text`, in table order (to explain a label)."""
    return [rule for rule in COMPILED if rule.pattern.search(text)]


def score(text: str) -> float:
    """Progress matches minus danger matches: > 0 progress, < 0 danger, 0 neutral or unknown."""
    return sum(rule.value for rule in matches(text))


def classify(text: str) -> Kind:
    """The class of a whole message, from the sign of its score."""
    value = score(text)
    return "progress" if value > 0 else "danger" if value < 0 else "neutral"


def helpful(text: str) -> bool:
    """ONI's classification label: is this message a sign of progress?"""
    return score(text) > 0


def prefer(a: str, b: str) -> int:
    """Motif's pair label: 1 if `a` shows more progress, 2 if `b` does, 0 for a tie."""
    score_a, score_b = score(a), score(b)
    return 1 if score_a > score_b else 2 if score_b > score_a else 0
