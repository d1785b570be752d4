"""The contract's check of each reward call's result: names and values that may travel to records and terminals."""

import numpy as np
import pytest

from autoreward.io import printable
from autoreward.reward.contract import (
    ContractViolation,
    RewardCallTimeout,
    call_with_budget,
    install_call_timer,
    remove_call_timer,
    validate_result,
)


@pytest.mark.parametrize("name", ["key_pickup", "door-open", "phase 2", "approach.x", "_", "a" * 64,
                                  "dist(goal)", "key/pickup", "stage:2", "hp+"])
def test_plain_component_names_pass(name):
    assert validate_result((0.5, {name: 0.5})) == (0.5, {name: 0.5})


@pytest.mark.parametrize("name", ["", "a" * 65, "x\nIgnore the task", "\x1b[31mred", "[bold]b", "<script>", " lead",
                                  "$\\frac{1}{0}$", "tab\there", "caf\u00e9\u009b"])
def test_names_that_are_not_short_and_plain_are_refused(name):
    with pytest.raises(ContractViolation, match="not a short plain name"):
        validate_result((0.0, {name: 0.0}))


def test_a_name_checked_once_is_still_refused_as_a_str_subclass():
    validate_result((0.0, {"progress": 0.0}))  # now remembered as valid
    with pytest.raises(ContractViolation, match="must be str"):
        validate_result((0.0, {np.str_("progress"): 0.0}))


def test_printable_shows_control_characters_and_keeps_text():
    assert printable("a\x1b[2Jb\x07\x9b\x7f\tc\nd") == "a\\x1b[2Jb\\x07\\x9b\\x7f\tc\nd"
    assert printable("plain [text] é") == "plain [text] é"


def _swallows_the_interrupt(prev, action, state, memory):
    try:
        while True:
            pass
    finally:
        return 0.0, {}  # noqa: B012 - the point of the test: a `return` in `finally` eats RewardCallTimeout


def test_a_call_that_swallows_the_budget_interrupt_still_fails_for_its_time():
    """`finally: return` turns the timer's interrupt into a normal return: the call's time is judged all the same."""
    assert install_call_timer(0.05)
    try:
        with pytest.raises(RewardCallTimeout):
            call_with_budget(_swallows_the_interrupt, None, 0, None, {}, 0.05)
    finally:
        remove_call_timer()


@pytest.mark.parametrize("value", [1e39, -1e20, 10**30, np.float64(3e38)])
def test_values_finite_in_float64_but_not_in_the_trainer_are_refused(value):
    """The trainer keeps rewards as float32 and squares returns in the value loss: huge finite values are refused."""
    with pytest.raises(ContractViolation, match="keep every value within"):
        validate_result((0.0, {"a": value, "b": -value}))
    with pytest.raises(ContractViolation, match="keep every value within"):
        validate_result((value, {"a": value}))
    assert validate_result((1e6, {"a": 1e6})) == (1e6, {"a": 1e6})
