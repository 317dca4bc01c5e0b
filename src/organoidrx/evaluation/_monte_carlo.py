"""Empirical p-values against a drawn null, with Besag and Clifford's sequential stopping."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from organoidrx._utils import InputError

__all__ = ["MonteCarloP", "monte_carlo_p"]


class MonteCarloP(NamedTuple):
    """Outcome of :func:`monte_carlo_p`."""

    #: the p-value (NaN when the observed statistic or every draw is NaN)
    p: float
    #: draws the p-value used: the first ``n_draws`` of the null, failed (NaN) draws included
    n_draws: int
    #: True when ``stop_after`` draws reached the observed statistic before the null ran out
    stopped: bool


def monte_carlo_p(observed: float, null: Any, *, stop_after: int | None = None) -> MonteCarloP:
    """One-sided p of ``observed`` against null statistics drawn in order, optionally stopping early.

    Without ``stop_after`` (or when fewer than ``stop_after`` draws reach ``observed``) this is the usual
    empirical p over the :math:`B` valid draws :math:`t_b`,

    .. math:: p = \\frac{1 + \\#\\{b : t_b \\ge t\\}}{1 + B}.

    With ``stop_after`` :math:`= h`, drawing stops at the :math:`L`-th valid draw, the one that makes :math:`h`
    draws at least as large as :math:`t`, and :math:`p = h / L` (Besag and Clifford 1991). This p is exactly
    valid, :math:`P(p \\le \\alpha) \\le \\alpha` under the null, as the full-draw p is; a test far from
    significance stops after about :math:`h / p` draws instead of :math:`B`, while a test that does not stop
    has the full-draw p. Only the first ``n_draws`` of ``null`` are used, so a caller that draws in blocks can
    stop as soon as ``stopped`` is True and discard the rest of the block.

    Parameters
    ----------
    observed : float
        The statistic of the data (larger = more extreme).
    null : array-like of shape (B,)
        Null statistics in the order they were drawn; NaN marks a failed draw, which is skipped.
    stop_after : int, optional
        :math:`h`, the number of draws at least as large as ``observed`` after which drawing stops; ``None``
        uses every draw.

    Returns
    -------
    MonteCarloP
        ``(p, n_draws, stopped)``.

    Examples
    --------
    >>> monte_carlo_p(0.5, [0.1, 0.7, 0.2, 0.6, 0.9, 0.3])
    MonteCarloP(p=0.5714285714285714, n_draws=6, stopped=False)
    >>> monte_carlo_p(0.5, [0.1, 0.7, 0.2, 0.6, 0.9, 0.3], stop_after=2)
    MonteCarloP(p=0.5, n_draws=4, stopped=True)

    References
    ----------
    Besag J., Clifford P. (1991) Sequential Monte Carlo p-values. Biometrika 78:301-304,
    doi:10.1093/biomet/78.2.301.
    """
    draws = np.asarray(null, dtype=float).ravel()
    check_stop_after(stop_after)
    if math.isnan(observed):
        return MonteCarloP(math.nan, draws.size, False)
    valid = ~np.isnan(draws)
    reached = valid & (draws >= observed)
    if stop_after is not None and int(reached.sum()) >= stop_after:
        last = int(np.flatnonzero(reached)[stop_after - 1])
        return MonteCarloP(stop_after / int(valid[: last + 1].sum()), last + 1, True)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return MonteCarloP(math.nan, draws.size, False)
    return MonteCarloP((1 + int(reached.sum())) / (1 + n_valid), draws.size, False)


def check_stop_after(stop_after: Any) -> int | None:
    """``stop_after`` as an int, or None; an :class:`InputError` for anything but None or a positive integer."""
    if stop_after is None:
        return None
    if isinstance(stop_after, bool) or not isinstance(stop_after, int | np.integer) or stop_after < 1:
        raise InputError(f"stop_after must be a positive integer or None; got {stop_after!r}.")
    return int(stop_after)
