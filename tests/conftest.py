"""Shared fixtures: small real environments and recorded transitions (built once per session)."""

from __future__ import annotations

import pytest

from autoreward.reward.probe import collect_transitions
from autoreward.synth.loop import iterate
from autoreward.synth.store import IterateConfig, RunStore
from tests.common import KEYROOM, TINY_ITERATE


@pytest.fixture(scope="session")
def keyroom_episodes():
    """~200 real transitions of KeyRoom from random play (fixed seed), shared by the probe tests."""
    return collect_transitions(KEYROOM, n=200, seed=0)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> RunStore:
    """A finished offline run of KeyRoom, 2 rounds x 2 candidates at tiny budgets, confirmed on 2 seeds (read-only:
    the loop's tests check its records, the report's tests render it); `.events` holds what the loop emitted."""
    out = tmp_path_factory.mktemp("runs")
    events: list[tuple[str, dict]] = []
    store = iterate(IterateConfig(task=KEYROOM, rounds=2, candidates=2, out=str(out), confirm_seeds=2, confirm_top=1,
                                  **TINY_ITERATE), on_event=lambda e, d: events.append((e, d)))
    store.events = events  # type: ignore[attr-defined]
    return store


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
