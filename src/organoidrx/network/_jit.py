"""Compiled inner loops of separation (numba), imported on first use by :mod:`._measures`.

Separation needs, per draw, the within-set nearest distance of every (random) gene set; done as a dense gather
it reads the sum of the squared set sizes of the distance matrix. Compiled code is cached on disk
(:func:`organoidrx._utils.compiled`), so only the first call after installation compiles.
"""

from __future__ import annotations

import numpy as np

from organoidrx._utils import compiled

__all__ = ["within_nearest"]


@compiled(nogil=True)
def within_nearest(
    dist: np.ndarray,
    nodes: np.ndarray,
    weight: np.ndarray,
    starts: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; tested through within_set_nearest against a plain loop
    """Per set, the sum over counted slots of the hop distance to the nearest other node of the set.

    ``starts`` has one entry per set and a final end; ``indptr``/``indices`` is the graph in CSR form (empty
    ``indices`` to read distances only). A distance of 0 is the node itself (or a repeat of it), never a nearest
    other node; a set whose slots hold one node gets 0.

    Each member reads its distances to the set's members in node order and stops at the smallest possible value:
    1, or 2 once its edges showed no neighbour in the set (members with at most as many neighbours as the set has
    slots look at their edges first, which is cheaper than the row).
    """
    n_sets = len(starts) - 1
    out = np.zeros(n_sets, dtype=np.int64)
    use_edges = len(indices) > 0
    stamp = np.full(dist.shape[0], -1, dtype=np.int64)  # stamp[v] == s: node v is in set s
    for s in range(n_sets):
        lo, hi = starts[s], starts[s + 1]
        size = hi - lo
        members = np.sort(nodes[lo:hi])  # rows are then read left to right
        for p in range(lo, hi):
            stamp[nodes[p]] = s
        total = 0
        for p in range(lo, hi):
            if weight[p] == 0:
                continue
            b = nodes[p]
            floor = 1
            if use_edges and indptr[b + 1] - indptr[b] <= size:
                linked = False
                for e in range(indptr[b], indptr[b + 1]):
                    if stamp[indices[e]] == s:
                        linked = True
                        break
                if linked:
                    total += 1
                    continue
                floor = 2
            row = dist[b]
            best = 0
            for q in range(size):
                d = row[members[q]]
                if d != 0 and (best == 0 or d < best):
                    best = d
                    if best == floor:
                        break
            total += best
        out[s] = total
    return out
