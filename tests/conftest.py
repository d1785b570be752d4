"""Shared fixtures: small real environments and recorded transitions (built once per session)."""

from __future__ import annotations

import pytest

from autoreward.reward.probe import collect_transitions

KEYROOM = "MiniHack-KeyRoom-S5-v0"


@pytest.fixture(scope="session")
def keyroom_episodes():
    """~200 real transitions of KeyRoom from random play (fixed seed), shared by the probe tests."""
    return collect_transitions(KEYROOM, n=200, seed=0)
