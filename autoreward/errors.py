"""The exceptions autoreward raises on purpose; the CLI maps each to a message and an exit code."""

from __future__ import annotations


class AutorewardError(Exception):
    """Base class: a failure the user can act on; its message says what to do."""

    exit_code = 1


class UsageError(AutorewardError):
    """Bad input from the user: unknown task, missing file, invalid flag value."""

    exit_code = 2


class RewardCodeError(AutorewardError):
    """Reward code that cannot be loaded or run (syntax error, contract violation)."""


class TrainingError(AutorewardError):
    """Training stopped for a reason that is recorded (reward crashed, hung, env workers died)."""
