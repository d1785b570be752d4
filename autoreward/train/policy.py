"""Which policy observation a card's env is wrapped in, by the card's `policy` member (docs/cards.md).

A card without `policy` (the NetHack-based ones, plugin cards over MiniHack or NLE) gets NetHack's observation
(autoreward.train.observation); `policy = "minigrid"` gets the full-grid one (autoreward.train.minigrid_observation).
The matching feature extractors are chosen in autoreward.train.build (they need torch; this module must not).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from autoreward.errors import UsageError
from autoreward.train.minigrid_observation import MiniGridObservation
from autoreward.train.observation import PolicyObservation

NETHACK = "nethack"
MINIGRID = "minigrid"
POLICIES = (NETHACK, MINIGRID)


def policy_of(card: Any) -> str:
    """The card's policy family: its `policy` member, default "nethack"; a UsageError for an unknown one."""
    kind = getattr(card, "policy", NETHACK)
    if kind not in POLICIES:
        raise UsageError(f"card {getattr(card, 'family', '?')!r} asks for policy {kind!r}; "
                         f"known: {', '.join(POLICIES)}")
    return kind


def policy_observation(card: Any, env: gym.Env, crop: int = 9) -> gym.Env:
    """`env` wrapped in the observation the card's policy sees (`crop`: NetHack's glyph crop size)."""
    if policy_of(card) == MINIGRID:
        return MiniGridObservation(env)
    return PolicyObservation(env, crop=crop)


def require_nethack(card: Any, what: str) -> None:
    """A UsageError when `what` (ONI, CALM) is asked for on a card whose observations are not NetHack's."""
    if policy_of(card) != NETHACK:
        raise UsageError(f"{what} reads NetHack's message line and map: it does not work on the "
                         f"{getattr(card, 'family', '?')} card (its env has no such observations)")
