"""A vectorised two-group log-rank statistic for the permutation loop (the reported tests use lifelines)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LogrankKernel"]


class LogrankKernel:
    """Signed two-group log-rank statistic for many group labellings of the same patients.

    The times and events are sorted once; each call costs O(n) for one labelling.

    Parameters
    ----------
    time : array of shape (n_patients,)
        Follow-up times.
    event : array of shape (n_patients,)
        1 when the event was observed, 0 when censored.

    Notes
    -----
    With :math:`d_j` events among :math:`n_j` patients at risk at the distinct event time :math:`t_j`, of which
    :math:`n_{1j}` are in group 1 with :math:`d_{1j}` events,

    .. math:: U = \\sum_j (d_j n_{1j} / n_j - d_{1j}), \\quad
              V = \\sum_j d_j \\frac{n_{1j}}{n_j} (1 - \\frac{n_{1j}}{n_j}) \\frac{n_j - d_j}{n_j - 1},

    the log-rank chi-square is :math:`U^2 / V` (lifelines' ``logrank_test``, R's ``survdiff``) and the signed
    statistic :math:`U / \\sqrt V` is positive when group 1 has fewer events than expected (lives longer).

    References
    ----------
    Mantel N. (1966) Cancer Chemother Rep 50:163-170.
    """

    def __init__(self, time: np.ndarray, event: np.ndarray) -> None:
        time = np.asarray(time, dtype=float)
        event = np.asarray(event, dtype=float)
        order = np.argsort(time, kind="stable")
        self._order = order
        sorted_time = time[order]
        self._event = event[order]
        distinct, first = np.unique(sorted_time, return_index=True)
        self._first = first
        # index of the distinct time of every sorted patient
        self._which = np.searchsorted(distinct, sorted_time)
        n = len(time)
        self._n_at_risk = (n - first).astype(float)
        self._deaths = np.bincount(self._which, weights=self._event, minlength=len(distinct))
        has = self._deaths > 0
        self._has = has
        n_j = self._n_at_risk[has]
        d_j = self._deaths[has]
        with np.errstate(divide="ignore", invalid="ignore"):
            self._tie = np.where(n_j > 1, (n_j - d_j) / (n_j - 1), 0.0)
        self._n_j = n_j
        self._d_j = d_j

    def signed(self, group1: np.ndarray) -> float:
        """Signed statistic :math:`U / \\sqrt V` for a boolean membership of group 1 (original patient order).

        NaN when :math:`V = 0` (no events, or at every event time a group has no patient at risk or every
        patient at risk has the event): the test is not estimable.
        """
        member = np.asarray(group1, dtype=float)[self._order]
        at_risk1 = np.cumsum(member[::-1])[::-1][self._first][self._has]
        deaths1 = np.bincount(self._which, weights=member * self._event, minlength=len(self._first))[
            self._has
        ]
        share = at_risk1 / self._n_j
        u = float(np.sum(self._d_j * share - deaths1))
        v = float(np.sum(self._d_j * share * (1.0 - share) * self._tie))
        if v <= 0:
            return math.nan
        return u / np.sqrt(v)

    def chi2(self, group1: np.ndarray) -> float:
        """Log-rank chi-square (1 degree of freedom) of group 1 vs the rest."""
        return self.signed(group1) ** 2
