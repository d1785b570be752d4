"""The answer's evidence: Fisher's exact test, checked against known values and a brute-force count."""

from __future__ import annotations

import itertools
import math

import pytest

from autoreward.synth.evidence import fisher_greater, judge, percent, points, successes


def test_fisher_greater_matches_the_tea_tasting_table():
    # Fisher's lady tasting tea: 3 of 4 cups right against 1 of 4, one-sided p = 17/70
    assert fisher_greater(3, 4, 1, 4) == pytest.approx(17 / 70)
    assert fisher_greater(4, 4, 0, 4) == pytest.approx(1 / 70)
    assert fisher_greater(0, 10, 0, 10) == 1.0  # nothing to tell apart
    assert fisher_greater(0, 10, 5, 10) == 1.0  # fewer successes: no evidence at all of being better


@pytest.mark.parametrize(("n1", "n2"), [(3, 4), (5, 5), (6, 2)])
def test_fisher_greater_counts_the_tables_as_brute_force_does(n1, n2):
    """Every way of placing the successes among n1 + n2 equally likely episodes, counted one by one."""
    for a, b in itertools.product(range(n1 + 1), range(n2 + 1)):
        k = a + b
        placings = list(itertools.combinations(range(n1 + n2), k))
        as_extreme = sum(1 for chosen in placings if sum(1 for i in chosen if i < n1) >= a)
        assert fisher_greater(a, n1, b, n2) == pytest.approx(as_extreme / len(placings)), (a, b)


def test_fisher_greater_refuses_impossible_counts():
    with pytest.raises(ValueError, match="within their episodes"):
        fisher_greater(5, 4, 0, 4)
    with pytest.raises(ValueError, match="within their episodes"):
        fisher_greater(0, 4, -1, 4)


def test_judge_tells_noise_from_a_gain():
    noise = judge([2 / 50, 0.0, 0.0], [1 / 50, 0.0, 0.0], episodes=50)  # 2 against 1 in 150 episodes
    assert noise["successes"] == [2, 1] and noise["episodes"] == [150, 150]
    assert noise["p_value"] == pytest.approx(0.5, abs=1e-3) and noise["higher"] and not noise["clear"]
    gain = judge([0.3, 0.28, 0.26], [0.0, 0.0, 0.02], episodes=50)
    assert gain["clear"] and 0 < gain["p_value"] < 1e-9  # kept in significant digits, not rounded to 0
    lower = judge([0.1], [0.3], episodes=50)
    assert not lower["higher"] and not lower["clear"]  # lower is never a gain
    assert not judge([0.3], [0.3], episodes=50, significance=1.0)["clear"]  # nor is equal, at any significance
    assert judge([0.32], [0.3], episodes=50, significance=1.0)["clear"]  # 1.0: any higher success counts
    # the threshold is the caller's: the same counts pass at a looser one
    middling = judge([0.3], [0.16], episodes=50)
    assert middling["clear"] == (middling["p_value"] <= 0.05)
    assert judge([0.3], [0.16], episodes=50, significance=middling["p_value"] / 2)["clear"] is False
    with pytest.raises(ValueError, match="at least 1"):
        judge([0.5], [0.5], episodes=0)


def test_rates_turn_back_into_episode_counts():
    assert successes([1 / 3, 2 / 3, 1.0], 3) == 6
    assert successes([0.1234], 50) == 6  # a rounded rate still names its count
    evidence = judge([3 / 7, 5 / 7], [1 / 7, 2 / 7], 7)
    assert evidence["successes"] == [8, 3] and evidence["episodes"] == [14, 14]
    assert math.isclose(evidence["p_value"], fisher_greater(8, 14, 3, 14), rel_tol=1e-2)


def test_percent_shows_a_decimal_only_where_whole_points_would_hide_it():
    assert percent(0.28) == "28%" and percent(1.0) == "100%" and percent(0.0) == "0%"
    assert percent(2 / 150) == "1.3%" and percent(1 / 150) == "0.7%"
    assert points(0.28) == "+28" and points(-0.05) == "-5" and points(1 / 150) == "+0.7" and points(0.0) == "+0"


def test_the_designer_is_told_a_gain_within_noise_is_no_win():
    """The comparison lines the analyzer and the refining designer read use the same test as the answer."""
    from autoreward.synth.comparison import compare

    best, base = {"round": 0, "candidate": 1, "success_rate": 0.04}, {"success_rate": 0.02}
    assert "0/1, success 4%) is within episode noise of the task reward alone (success 2%): +2 points" in \
        compare(best, base, None, 0, episodes=50)[0]
    assert " beats the task reward alone" in compare({**best, "success_rate": 0.4}, base, None, 0, episodes=50)[0]
    assert " beats " in compare(best, base, None, 0, episodes=50, significance=1.0)[0]  # the run's own threshold
    assert " ties with " in compare({**best, "success_rate": 0.02}, base, None, 0, episodes=50)[0]
    assert " is worse than " in compare({**best, "success_rate": 0.0}, base, None, 0, episodes=50)[0]
