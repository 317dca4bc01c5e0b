"""Compiled inner loop of GSVA's Gaussian kernel CDF (numba), imported on first use by :mod:`._gsva`.

The loop is the one irreducible O(genes x samples^2) step of GSVA; everything around it (bandwidths, log-odds,
ranks, the walk) stays vectorised numpy. Compiled code is cached on disk (:func:`organoidrx._utils.compiled`), so
only the first call after installation compiles.
"""

from __future__ import annotations

import numpy as np

from organoidrx._utils import compiled

__all__ = ["gaussian_left"]


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
