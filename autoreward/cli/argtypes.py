"""Argument types of the command line: each parses one value and refuses what no command can use, with a message
that says what was expected (argparse shows it with the option's name and exits with code 2)."""

from __future__ import annotations

import argparse
import math

#: Seeds go to numpy, torch and NetHack, with offsets added (one per env, confirmation seeds): kept well inside
#: numpy's 0 .. 2**32 - 1.
MAX_SEED = 2**31 - 1


def whole(text: str) -> int:
    """`text` as an int, or argparse's error saying it is not one."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def port(text: str) -> int:
    value = whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def positive(text: str) -> int:
    value = whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed(text: str) -> int:
    value = whole(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is 0 to {MAX_SEED}, got {value}")
    return value


def non_negative(text: str) -> int:
    value = whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def workers(text: str) -> int:
    value = whole(text)
    if value < -1:
        raise argparse.ArgumentTypeError(f"-1 (auto), 0 or a number of processes, got {value}")
    return value


def finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    if (value := finite(text)) < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    if (value := finite(text)) <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def significance(text: str) -> float:
    if not 0 < (value := finite(text)) <= 1:
        raise argparse.ArgumentTypeError(f"a p-value threshold is above 0 and at most 1, got {text}")
    return value


def share(text: str) -> float:
    if not 0 <= (value := finite(text)) <= 1:
        raise argparse.ArgumentTypeError(f"a share is 0 to 1, got {text}")
    return value

