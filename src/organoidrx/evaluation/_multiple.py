"""Multiple testing: Benjamini-Hochberg q-values over every test a comparison ran."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import stats

from organoidrx._utils import InputError

__all__ = ["bh_qvalues", "n_tests_needed_at", "random_sets_for_one_finding", "smallest_rejectable_p"]


def bh_qvalues(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of every p that is not NaN; NaN stays NaN and is not
    counted.

    :math:`q_{(i)} = \\min_{j \\ge i} \\min(1, m\\, p_{(j)} / j)` over the :math:`m` finite p-values sorted
    ascending (R's ``p.adjust(p, "BH")``; computed by :func:`scipy.stats.false_discovery_control`).

    Examples
    --------
    >>> bh_qvalues([0.01, 0.04, 0.03, 0.005, float("nan")]).round(3).tolist()
    [0.02, 0.04, 0.04, 0.02, nan]

    References
    ----------
    Benjamini Y., Hochberg Y. (1995) J R Stat Soc B 57:289-300, doi:10.1111/j.2517-6161.1995.tb02031.x.
    """
    p = np.asarray(p_values, dtype=float)
    finite = ~np.isnan(p)
    outside = finite & ((p < 0) | (p > 1))  # infinities included: only NaN means "not tested"
    if outside.any():
        raise InputError(f"p-values must lie in [0, 1] (NaN for a test not made); got {p[outside][:3]}.")
    q = np.full(p.shape, np.nan)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q


def smallest_rejectable_p(n_tests: int, level: float = 0.05) -> float:
    """The bound a single test's p must lie below for Benjamini-Hochberg to give it ``q < level`` among
    ``n_tests``: ``level / n_tests`` (its q is ``n_tests p`` when it is the only small p)."""
    return level / max(int(n_tests), 1)


def random_sets_for_one_finding(n_tests: int, level: float = 0.05) -> int:
    """The fewest null draws ``B`` with which one test can reach ``q < level`` among ``n_tests`` on its own.

    The smallest Monte-Carlo p is ``1 / (B + 1)``, and ``n_tests / (B + 1) < level`` holds from
    ``B = floor(n_tests / level)`` on (exact rational arithmetic, so 100 tests at 0.05 need 2,000 draws, not
    1,999, whose smallest p gives q = 0.05 exactly).
    """
    return math.floor(Fraction(max(int(n_tests), 1)) / _exact(level))


def n_tests_needed_at(p: float, n_tests: int, level: float = 0.05) -> int:
    """How many tests must share p-value ``p`` for Benjamini-Hochberg to give them ``q < level`` among
    ``n_tests``: the smallest ``k`` with ``n_tests p / k < level``, i.e. ``floor(n_tests p / level) + 1``."""
    return math.floor(Fraction(max(int(n_tests), 1)) * _exact(p) / _exact(level)) + 1


def _exact(value: float) -> Fraction:
    """A probability as the short fraction it was written as (0.05 -> 1/20, 1/1001 -> 1/1001)."""
    return Fraction(value).limit_denominator(10**12)
