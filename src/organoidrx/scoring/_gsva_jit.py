"""Compiled inner loops of GSVA's Gaussian kernel CDF and Poisson CDF table (numba), imported on first use by :mod:`._gsva`.

The loop is the one irreducible O(genes x samples^2) step of GSVA; everything around it (bandwidths, log-odds,
ranks, the walk) stays vectorised numpy. Compiled code is cached on disk (:func:`organoidrx._utils.compiled`), so
only the first call after installation compiles.
"""

from __future__ import annotations

import math

import numpy as np

from organoidrx._utils import compiled

__all__ = ["gaussian_left", "poisson_table"]


@compiled(nogil=True, error_model="numpy")
def gaussian_left(
    x: np.ndarray, bandwidth: np.ndarray, table: np.ndarray, resolution: int, reach: float, margin: float
) -> np.ndarray:  # pragma: no cover - compiled; tested through kcdf_statistic against decoupler
    """Left-tail probabilities ``F[g, j] = mean_i K((x[g, j] - x[g, i]) / h[g])`` of a block of genes.

    ``table`` is the kernel at every index ``k = -resolution..resolution`` stored at ``k + resolution``. The
    index of a pair is decoupler's ``trunc(((x_j - x_i) / h) / reach * resolution)``, clipped to the table's
    ends (0 and 1 beyond ``reach`` bandwidths).

    Two loops keep this both exact and vectorisable. (i) The index is first computed with one multiplication,
    ``(x_j - x_i) * (resolution / reach / h)``, which is within about 1e-11 of decoupler's three roundings; it
    can truncate differently only when it lies within ``margin`` of an integer, and a sample ``i`` with any such
    pair has its indices recomputed with decoupler's arithmetic. (ii) Sample ``i``'s kernel values are added to
    every sample's running sum at once (an element-wise add), so each sum still receives its terms from
    ``i = 0`` to ``n - 1``, decoupler's order, and is the same floating-point number.
    """
    n_genes, n = x.shape
    top = 2 * resolution
    low, high = -resolution - 0.5, resolution + 0.5  # clipped before the cast, which then cannot overflow
    out = np.empty((n_genes, n))
    total = np.empty(n)
    index = np.empty(n, dtype=np.int64)
    for g in range(n_genes):
        row = x[g]
        h = bandwidth[g]
        factor = resolution / reach / h
        total[:] = 0.0
        for i in range(n):
            xi = row[i]
            near = 0
            for j in range(n):
                scaled = min(max((row[j] - xi) * factor, low), high)
                whole = np.int64(scaled)
                part = abs(scaled - whole)
                near += (row[j] != xi) & ((part < margin) | (part > 1.0 - margin))
                index[j] = whole + resolution
            if near:
                for j in range(n):
                    scaled = (row[j] - xi) / h
                    scaled = scaled / reach
                    scaled = scaled * resolution
                    index[j] = np.int64(min(max(scaled, low), high)) + resolution
            for j in range(n):
                total[j] += table[min(max(index[j], 0), top)]
        for j in range(n):
            out[g, j] = total[j] / n
    return out


@compiled(nogil=True)
def poisson_table(
    rates: np.ndarray, top: int
) -> np.ndarray:  # pragma: no cover - compiled; tested against a loop
    """decoupler's Poisson CDF ``P(X <= k | rate)`` for every rate and ``k = 0..top``, to the last bit.

    decoupler adds the pmf ``exp(-rate + k log(rate) - lgamma(k + 1))`` term by term from ``k = 0`` and clips
    the running sum at 1. The same C library ``exp``, ``log`` and ``lgamma`` are called here (numba's
    :func:`math.lgamma` is the C library's, unlike CPython's), in the same order.
    """
    out = np.empty((rates.size, top + 1))
    for r in range(rates.size):
        rate = rates[r]
        log_rate = math.log(rate)
        total = math.exp(-rate)
        out[r, 0] = min(total, 1.0)
        for k in range(1, top + 1):
            total += math.exp(-rate + k * log_rate - math.lgamma(k + 1.0))
            out[r, k] = min(total, 1.0)
    return out
