"""Shared fixtures: small real environments and recorded transitions (built once per session)."""

from __future__ import annotations

import pytest

from autoreward.reward.probe import collect_transitions

KEYROOM = "MiniHack-KeyRoom-S5-v0"


@pytest.fixture(scope="session")
def keyroom_episodes():
    """~200 real transitions of KeyRoom from random play (fixed seed), shared by the probe tests."""
    return collect_transitions(KEYROOM, n=200, seed=0)


@pytest.fixture
def llm_server():
    """A started scriptable OpenAI-compatible server (tests/llm_server.py): `.url`, `.script(steps)`, `.requests`."""
    from tests.llm_server import ScriptedLLMServer

    server = ScriptedLLMServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def _torch_as_a_trainer_sets_it():
    """Tests train in this process: torch as every entry point that trains sets it (autoreward.train.ppo)."""
    from autoreward.train.ppo import configure_torch

    configure_torch()
