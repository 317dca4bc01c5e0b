"""Vectorised ssGSEA kernel: enrichment scores from per-sample gene ranks and a sparse membership matrix.

Everything here works on plain arrays (samples as rows, genes as columns) and is validated by the caller
(:func:`organoidrx.scoring.ssgsea`). The closed form used below is derived in that function's docstring.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import scipy.sparse as sp

__all__ = ["enrichment_scores", "membership_matrix", "rank_chunk"]

Ties = Literal["gseapy", "average"]

#: Cells (samples x genes) ranked at once; bounds the working memory of one chunk to roughly
#: ``_CHUNK_CELLS * 8 bytes * 8`` (about 130 MB per thread), whatever the cohort size.
_CHUNK_CELLS = 2_000_000


def _sorted_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable ascending order of each row, and the average rank of every slot that sits in a tie block.

    Returns ``order`` (int, shape (n_rows, n_genes); slot ``j`` of row ``i`` holds gene ``order[i, j]``, tied genes
    in column order), ``tied`` (flat indices into that shape of the slots in blocks of two or more equal values)
    and ``tied_average`` (their average 1-based rank). Every other slot ``j`` has rank ``j + 1``.

    The sort is numpy's fast unstable one; only the slots inside tie blocks are then put back in column order
    (one integer sort of ``block * n_genes + gene``), which gives exactly the stable order at a fraction of the
    cost of a stable sort of the whole matrix.
    """
    n_rows, n_genes = values.shape
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1)
    starts = np.ones((n_rows, n_genes), dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    del ordered
    flat_starts = starts.ravel()
    if flat_starts.all():
        return order, np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
    # Slots in a block of two or more: not a block start, or followed by a non-start (column 0 always starts a
    # block, so blocks never run across rows).
    in_block = ~flat_starts
    in_block[:-1] |= ~flat_starts[1:]
    tied = np.flatnonzero(in_block)
    block = np.cumsum(flat_starts[tied]) - 1
    flat_order = order.reshape(-1)
    offset = block * n_genes
    flat_order[tied] = np.sort(offset + flat_order[tied]) - offset  # blocks keep their slots; genes ascending
    first_column = tied[flat_starts[tied]] % n_genes
    block_average = first_column + (np.bincount(block) + 1) / 2.0
    return order, tied, block_average[block]


def rank_chunk(values: np.ndarray, ties: Ties = "gseapy") -> tuple[np.ndarray, np.ndarray]:
    """Average ranks and ordering positions of each row of ``values`` (ascending, 1-based), in gene order.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_genes)
        Finite expression values; every row is ranked on its own.
    ties : {"gseapy", "average"}
        How tied genes are ordered along the ranked list. ``"gseapy"``: ascending with ties in column order (a stable
        sort), so that the descending list walked by the running sum takes the *last* listed of tied genes first,
        as gseapy 1.3 does (stable ascending sort, then reversed). ``"average"``: every tied gene sits at the mean
        position of its block, the expectation of the score over all orders of the block.

    Returns
    -------
    average_rank : ndarray of shape (n_rows, n_genes)
        ``pandas.Series.rank(method="average")`` of each row.
    position : ndarray of shape (n_rows, n_genes)
        Ascending 1-based position of each gene; equals ``rank(method="first")`` for ``ties="gseapy"`` and the
        average rank for ``ties="average"``.
    """
    n_rows, n_genes = values.shape
    order, tied, tied_average = _sorted_ranks(values)
    average_sorted = np.tile(np.arange(1.0, n_genes + 1.0), (n_rows, 1))
    average_sorted.reshape(-1)[tied] = tied_average
    average_rank = np.empty(values.shape, dtype=np.float64)
    np.put_along_axis(average_rank, order, average_sorted, axis=1)
    if ties == "average":
        return average_rank, average_rank.copy()
    position = np.empty(values.shape, dtype=np.float64)
    np.put_along_axis(position, order, np.broadcast_to(np.arange(1.0, n_genes + 1.0), values.shape), axis=1)
    return average_rank, position


def membership_matrix(gene_sets: list[list[int]], n_genes: int) -> sp.csr_array:
    """Sparse 0/1 matrix of shape (n_sets, n_genes) from each set's gene column indices (no duplicates)."""
    sizes = np.fromiter((len(s) for s in gene_sets), dtype=np.int64, count=len(gene_sets))
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    indices = (
        np.concatenate([np.asarray(s, dtype=np.int64) for s in gene_sets])
        if gene_sets
        else np.empty(0, dtype=np.int64)
    )
    data = np.ones(len(indices), dtype=np.float64)
    return sp.csr_array((data, indices, indptr), shape=(len(gene_sets), n_genes))


def _chunk_scores(
    values: np.ndarray, membership: sp.csr_array, set_sizes: np.ndarray, weight: float, ties: Ties
) -> np.ndarray:
    """Scores of one chunk of samples: shape (n_rows, n_sets)."""
    n_rows, n_genes = values.shape
    order, tied, tied_average = _sorted_ranks(values)
    slots = np.arange(1.0, n_genes + 1.0)
    # gseapy's sample_norm_method="rank" then |.|**weight: (10000 * rank / n_genes) ** weight. Untied slots share
    # one weight vector; only tied slots need their own power. (The constant cancels in the score but is kept so
    # the weights are gseapy's to the last bit.)
    rank_weight = np.tile(np.power(10000.0 * slots / n_genes, weight), (n_rows, 1))
    if weight != 0:
        rank_weight.reshape(-1)[tied] = np.power(10000.0 * tied_average / n_genes, weight)
    if ties == "average":
        position = np.tile(slots, (n_rows, 1))
        position.reshape(-1)[tied] = tied_average
    else:
        position = np.broadcast_to(slots, (n_rows, n_genes))
    del tied, tied_average
    # Scatter the three gene vectors [r * q, r, q] straight into gene-major layout for the sparse product.
    stacked = np.empty((n_genes, 3 * n_rows), dtype=np.float64)
    sample = np.arange(n_rows)[:, None]
    stacked[order, sample] = rank_weight * position
    stacked[order, sample + n_rows] = rank_weight
    stacked[order, sample + 2 * n_rows] = position
    del rank_weight, order
    sums = np.asarray(membership @ stacked)  # (n_sets, 3 * n_rows)
    weighted_position = sums[:, :n_rows]
    total_weight = sums[:, n_rows : 2 * n_rows]
    position_sum = sums[:, 2 * n_rows :]
    sizes = set_sizes[:, None].astype(np.float64)
    miss_term = (n_genes * (n_genes + 1) / 2.0 - position_sum) / (n_genes - sizes)
    return (weighted_position / total_weight - miss_term).T


def enrichment_scores(
    values: np.ndarray,
    membership: sp.csr_array,
    *,
    weight: float = 0.25,
    ties: Ties = "gseapy",
    chunk_size: int | None = None,
    n_jobs: int = 1,
) -> np.ndarray:
    """ssGSEA enrichment scores of every sample (row of ``values``) for every set (row of ``membership``).

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_genes)
        Finite expression values.
    membership : sparse array of shape (n_sets, n_genes)
        0/1 membership; every set must hold at least one and fewer than ``n_genes`` genes.
    weight : float, default=0.25
        Exponent applied to the rank weights.
    ties : {"gseapy", "average"}, default="gseapy"
        See :func:`rank_chunk`.
    chunk_size : int, optional
        Samples ranked at once; default keeps a chunk to about two million cells.
    n_jobs : int, default=1
        Threads scoring chunks concurrently (sorting and the sparse product release the GIL).

    Returns
    -------
    ndarray of shape (n_samples, n_sets)
        Unnormalised enrichment scores; each row depends on that sample alone, so the result does not depend on
        ``chunk_size`` or ``n_jobs``.
    """
    n_samples, n_genes = values.shape
    set_sizes = np.diff(membership.indptr)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_CELLS // max(n_genes, 1))
    out = np.empty((n_samples, membership.shape[0]), dtype=np.float64)

    def score(start: int) -> None:
        stop = min(start + chunk_size, n_samples)
        out[start:stop] = _chunk_scores(values[start:stop], membership, set_sizes, weight, ties)

    starts = range(0, n_samples, chunk_size)
    if n_jobs <= 1 or len(starts) == 1:
        for start in starts:
            score(start)
    else:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            list(pool.map(score, starts))
    return out
