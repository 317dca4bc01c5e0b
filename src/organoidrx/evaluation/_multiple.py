"""Multiple testing: Benjamini-Hochberg q-values over every test a comparison ran."""

from __future__ import annotations

import numpy as np
from scipy import stats

from organoidrx._utils import InputError

__all__ = ["bh_qvalues", "smallest_rejectable_p"]


def bh_qvalues(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of every finite p; NaN stays NaN and is not counted.

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
    finite = np.isfinite(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise InputError(
            f"p-values must lie in [0, 1]; got {p[finite][(p[finite] < 0) | (p[finite] > 1)][:3]}."
        )
    q = np.full(p.shape, np.nan)
    if finite.any():
        q[finite] = stats.false_discovery_control(p[finite], method="bh")
    return q


def smallest_rejectable_p(n_tests: int, level: float = 0.05) -> float:
    """The p a single test needs for Benjamini-Hochberg to reject it among ``n_tests``: ``level / n_tests``.

    With an empirical null of ``B`` draws the smallest p is ``1 / (B + 1)``, so one test can be rejected on its
    own only when ``B >= n_tests / level - 1``; with fewer draws a rejection needs at least
    ``n_tests / (level (B + 1))`` tests at that smallest p (and none when ``1 / (B + 1) > level``).
    """
    return level / max(int(n_tests), 1)
