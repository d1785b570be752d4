"""Is a reward's higher success more than episode noise? Fisher's exact test on the evaluated episodes.

A reward is handed back only when its success is above the task reward alone's *and* a one-sided Fisher exact
test over the pooled evaluation episodes (all confirmation seeds together) puts the chance of a gap that large,
were both equally good, at most `IterateConfig.significance` (0.05). 2 successes in 150 episodes against 1 in
150 is then no win (p = 0.50). The test sees episode noise only, not the spread between training seeds: more
seeds (`--confirm-seeds`) are what narrow that.
"""

from __future__ import annotations

import math
from typing import TypedDict

#: The largest one-sided p-value at which a higher success counts as a gain (IterateConfig.significance).
SIGNIFICANCE = 0.05
TEST = "one-sided Fisher exact test over the pooled evaluation episodes"


class Evidence(TypedDict):
    """What the answer's gain rests on (best/summary.json's "evidence")."""

    test: str
    successes: list[int]  # [reward, task reward alone], over all seeds' episodes
    episodes: list[int]
    p_value: float
    significance: float
    higher: bool  # the reward's success rate is above the baseline's
    clear: bool  # higher, and p_value <= significance: a gain


def fisher_greater(a: int, n1: int, b: int, n2: int) -> float:
    """One-sided p-value of Fisher's exact test: the chance that `a` or more of the a + b successes fall in the
    first group's n1 episodes when both groups succeed equally often (hypergeometric upper tail)."""
    if not (0 <= a <= n1 and 0 <= b <= n2):
        raise ValueError(f"successes must lie within their episodes: {a}/{n1}, {b}/{n2}")
    total, k = n1 + n2, a + b
    tail = sum(math.comb(n1, i) * math.comb(n2, k - i) for i in range(a, min(n1, k) + 1))
    return tail / math.comb(total, k)  # exact integers; one division at the end


def successes(rates: list[float], episodes: int) -> int:
    """Successful episodes over seeds from their per-seed success rates (each rate is k / episodes)."""
    return sum(round(rate * episodes) for rate in rates)


def judge(reward_rates: list[float], baseline_rates: list[float], episodes: int,
          significance: float = SIGNIFICANCE) -> Evidence:
    """Whether the reward's success over its seeds (`reward_rates`, one per seed, `episodes` each) is clearly
    above the task reward alone's (`baseline_rates`)."""
    if episodes < 1:
        raise ValueError(f"episodes per seed must be at least 1, got {episodes}")
    a, n1 = successes(reward_rates, episodes), episodes * len(reward_rates)
    b, n2 = successes(baseline_rates, episodes), episodes * len(baseline_rates)
    p = fisher_greater(a, n1, b, n2)
    higher = a * n2 > b * n1  # the reward's success rate is above the baseline's
    return Evidence(test=TEST, successes=[a, b], episodes=[n1, n2], p_value=float(f"{p:.3g}"),
                    significance=significance, higher=higher, clear=higher and p <= significance)


def percent(rate: float) -> str:
    """A success rate as people read it: "28%", or "1.3%" where whole points would round two rates alike."""
    return f"{rate:.0%}" if abs(100 * rate - round(100 * rate)) < 0.05 else f"{rate:.1%}"


def points(gain: float) -> str:
    """A gain in percentage points, "+28", or "+0.7" where whole points would hide it."""
    return f"{100 * gain:+.0f}" if abs(100 * gain - round(100 * gain)) < 0.05 else f"{100 * gain:+.1f}"
