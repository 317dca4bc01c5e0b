"""Random walk with restart (network propagation) from a drug's targets to a pathway's genes, a registered measure."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from organoidrx._registry import Method, Option, register
from organoidrx.network._graph import Interactome
from organoidrx.network._measures import DistanceView, MeasureSetup, Preparation

logger = logging.getLogger(__name__)

__all__ = ["propagation_matrix"]

#: relative residual at which the conjugate-gradient solve of a column stops (the error of the solution is at
#: most (2 - restart) / restart times this, i.e. below 1e-11 for restart >= 0.1)
_TOL = 1e-12
_MAX_ITER = 2000
#: columns solved together; fixed (not tied to n_jobs), so every column gets the same arithmetic whatever n_jobs
_CHUNK = 32


def propagation_matrix(
    graph: Interactome,
    genes: np.ndarray,
    pathway_start: np.ndarray,
    *,
    restart: float = 0.15,
    n_jobs: int = 1,
) -> np.ndarray:
    """Mean random-walk-with-restart probability of every pathway's genes, for a walk restarting at any node.

    Parameters
    ----------
    graph : Interactome
        Connected, unweighted graph.
    genes : ndarray of int
        Gene nodes of every pathway, pathways contiguous (no repeats within a pathway).
    pathway_start : ndarray of int
        Offsets of the pathways in ``genes``.
    restart : float, default 0.15
        Probability of jumping back to the seeds at each step (networkx's ``pagerank(alpha=1 - restart)``).
    n_jobs : int, default 1
        Threads; the result does not depend on it.

    Returns
    -------
    ndarray of shape (n_nodes, n_pathways), float64
        ``F[t, p]``: the mean over the genes of pathway p of the stationary probability of a walk that restarts
        at node t. A drug with targets T scores ``mean_{t in T} F[t, p]`` (linearity: the walk restarting
        uniformly on T is the mean of the walks restarting at each target).

    Notes
    -----
    With A the adjacency matrix, D the degrees, W = A D^-1 (column-stochastic) and r the restart probability,
    the walk restarting on the distribution v has the stationary distribution p = r (I - (1 - r) W)^-1 v
    (Page et al.'s personalised PageRank). For the pathway's indicator x_S / |S|, x_S^T p = F_S^T v with
    F_S = r (I - (1 - r) D^-1 A)^-1 x_S / |S|: one linear solve per pathway gives its score for every possible
    seed set. With y = D^(1/2) F_S the system is symmetric positive definite,
    (I - (1 - r) D^-1/2 A D^-1/2) y = r D^1/2 x_S / |S|, with eigenvalues in [r, 2 - r], and is solved by
    conjugate gradients, all pathways at once (one sparse x dense product per iteration), to a relative residual
    of 1e-12. Memory: n_nodes x n_pathways doubles for the result.

    NetBio propagated from a drug's targets with networkx's ``pagerank(G, personalization=targets)`` at its
    default ``alpha=0.85`` (``network_propagate_immune_biomarkers.py`` of the NetBio code), hence the default
    restart probability 0.15.

    References
    ----------
    Kong J., Ha D., Lee J., Kim I., Park M., Im S.-H., Shin K., Kim S. (2022). Network-based machine learning
    approach to predict immunotherapy response in cancer patients. Nat Commun 13:3703.
    doi:10.1038/s41467-022-31535-6

    Page L., Brin S., Motwani R., Winograd T. (1999). The PageRank citation ranking: bringing order to the web.
    Stanford InfoLab technical report 1999-66.
    """
    n = graph.n_nodes
    degree = graph.degree.astype(np.float64)
    scale = 1.0 / np.sqrt(degree)
    rows = np.repeat(np.arange(n), graph.degree)
    values = scale[rows] * scale[graph.indices]
    normalised = sp.csr_matrix((values, graph.indices, graph.indptr), shape=(n, n))
    sizes = np.diff(np.append(pathway_start, len(genes)))
    n_paths = len(sizes)
    pathway = np.repeat(np.arange(n_paths), sizes)
    root = np.sqrt(degree)
    out = np.empty((n, n_paths), dtype=np.float64)
    chunks = [np.arange(lo, min(lo + _CHUNK, n_paths)) for lo in range(0, n_paths, _CHUNK)]

    def solve(columns: np.ndarray) -> int:
        b = np.zeros((n, len(columns)))
        keep = np.isin(pathway, columns)
        b[genes[keep], pathway[keep] - columns[0]] = restart / sizes[pathway[keep]]
        b *= root[:, None]
        y, iterations = _conjugate_gradient(normalised, b, 1.0 - restart)
        out[:, columns] = y * scale[:, None]
        return iterations

    if n_jobs > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=min(n_jobs, len(chunks))) as pool:
            iterations = list(pool.map(solve, chunks))
    else:
        iterations = [solve(c) for c in chunks]
    logger.debug(
        "propagation: %d pathways solved in at most %d iterations", n_paths, max(iterations, default=0)
    )
    return out


def _conjugate_gradient(normalised: sp.csr_matrix, b: np.ndarray, damping: float) -> tuple[np.ndarray, int]:
    """Solve (I - damping * normalised) y = b column by column; a converged column is no longer updated.

    Every column's arithmetic is the same whatever the other columns of ``b`` (products run per column and each
    column's sum is taken over its own contiguous copy, see :func:`_column_sums`), so a column's result does not
    depend on how columns are grouped.
    """
    y = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = _column_sums(r, r)
    threshold = (_TOL**2) * rr
    active = np.flatnonzero(rr > threshold)
    iteration = 0
    while len(active) and iteration < _MAX_ITER:
        iteration += 1
        pa = p[:, active]
        ap = pa - damping * (normalised @ pa)
        alpha = rr[active] / _column_sums(pa, ap)
        y[:, active] += alpha * pa
        ra = r[:, active] - alpha * ap
        r[:, active] = ra
        rr_new = _column_sums(ra, ra)
        p[:, active] = ra + (rr_new / rr[active]) * pa
        rr[active] = rr_new
        active = active[rr_new > threshold[active]]
    if len(active):  # pragma: no cover - the system is well conditioned (eigenvalues in [r, 2 - r])
        raise RuntimeError(f"propagation did not converge in {_MAX_ITER} iterations")
    return y, iteration


def _column_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a * b).sum(axis=0)`` with every column summed alone: numpy sums a lone column pairwise but the columns
    of a wider array row by row, so the last bit of a column's sum would depend on its neighbours."""
    return np.ascontiguousarray((a * b).T).sum(axis=1)


def _prepare(setup: MeasureSetup, *, restart: float) -> Preparation:
    matrix = propagation_matrix(
        setup.graph, setup.genes, setup.pathway_start, restart=restart, n_jobs=setup.n_jobs
    )
    return Preparation(state=matrix, info={"restart": restart})


def _rwr(view: DistanceView) -> tuple[np.ndarray, Any]:
    per_target = view.state[view.targets]  # (n_target_slots, n_pathways)
    if not view.target_weight.all():
        per_target = per_target * view.target_weight[:, None]
    num = np.add.reduceat(per_target, view.drug_start, axis=0).T
    return num, np.broadcast_to(view.n_targets, num.shape)


RESTART = Option(
    "restart",
    0.15,
    float,
    "restart probability of the random walk (NetBio: networkx pagerank's alpha = 0.85, so 0.15)",
    minimum=0.0,
    maximum=1.0,
    exclusive=True,
)

RWR = register(
    Method(
        kind="measure",
        name="rwr",
        summary="mean random-walk-with-restart probability of the pathway's genes, the walk restarting at the "
        "drug's targets (network propagation) on the unweighted network; the null draws degree-matched targets",
        reference="Kong J. et al. (2022) Nat Commun 13:3703, doi:10.1038/s41467-022-31535-6 (NetBio)",
        func=_rwr,
        options=(RESTART,),
        deterministic=False,
        attrs={"column": "rwr_score", "prepare": _prepare, "null": "targets", "higher_is_closer": True},
    )
)
