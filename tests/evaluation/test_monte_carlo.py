"""monte_carlo_p: the empirical p by hand, Besag-Clifford stopping by hand, and its validity under the null."""

from __future__ import annotations

import math

import numpy as np
import pytest

from organoidrx._utils import InputError
from organoidrx.evaluation import monte_carlo_p


def test_full_draw_p_by_hand():
    # 2 of 6 draws reach 0.65 (0.7, 0.9): (1 + 2) / (1 + 6)
    assert monte_carlo_p(0.65, [0.1, 0.7, 0.2, 0.6, 0.9, 0.3]) == (3 / 7, 6, False)
    # ties count as reaching; NaN draws are skipped, not counted
    assert monte_carlo_p(0.6, [0.6, math.nan, 0.1]) == (2 / 3, 3, False)
    assert math.isnan(monte_carlo_p(math.nan, [0.1, 0.2]).p)
    assert math.isnan(monte_carlo_p(0.1, [math.nan, math.nan]).p)


def test_sequential_stop_by_hand():
    null = [0.1, 0.7, math.nan, 0.2, 0.6, 0.9, 0.3]
    # the 2nd draw reaching 0.5 is 0.6, the 5th draw (4th valid one): p = 2 / 4
    assert monte_carlo_p(0.5, null, stop_after=2) == (0.5, 5, True)
    assert monte_carlo_p(0.5, null, stop_after=3) == (0.6, 6, True)  # at draw 6, the 5th valid one: 3 / 5
    # fewer than h draws reach it: the full-draw p, as without stopping
    assert monte_carlo_p(0.8, null, stop_after=2) == monte_carlo_p(0.8, null) == (2 / 7, 7, False)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_stop_after_must_be_a_positive_integer(bad):
    with pytest.raises(InputError, match="stop_after must be a positive integer"):
        monte_carlo_p(0.1, [0.2], stop_after=bad)


def test_valid_under_the_null_and_cheap_far_from_significance():
    """Observed statistic exchangeable with its draws: P(p <= a) <= a for the sequential p as for the full one
    (20,000 tests; 4 binomial standard errors of slack), and a null test stops after few draws."""
    rng = np.random.default_rng(0)
    n_tests, n_draws, h = 20_000, 999, 10
    full, sequential, used = [], [], []
    for _ in range(n_tests):
        values = rng.random(n_draws + 1)
        full.append(monte_carlo_p(values[0], values[1:]).p)
        outcome = monte_carlo_p(values[0], values[1:], stop_after=h)
        sequential.append(outcome.p)
        used.append(outcome.n_draws)
    for p in (np.array(full), np.array(sequential)):
        for level in (0.01, 0.05, 0.1, 0.5):
            bound = level + 4 * math.sqrt(level * (1 - level) / n_tests)
            assert (p <= level).mean() <= bound, level
    # about h (1 + log(B / h)) draws on average, against B without stopping
    assert np.mean(used) < h * (1 + math.log(n_draws / h)) * 1.1
    # a test that does not stop keeps the full-draw p
    kept = np.array(used) == n_draws
    np.testing.assert_array_equal(np.array(sequential)[kept], np.array(full)[kept])
