"""DIAMOnD module expansion around a drug's targets (Ghiassian, Menche & Barabási 2015), and the measure "diamond"."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln, logsumexp

from organoidrx._registry import Method, Option, register
from organoidrx._utils import InputError, examples
from organoidrx.network._graph import Interactome
from organoidrx.network._measures import CLOSEST, DistanceView, MeasureSetup, Preparation

logger = logging.getLogger(__name__)

__all__ = ["diamond_module", "diamond_nodes"]


def diamond_nodes(
    graph: Interactome, seeds: Sequence[int] | np.ndarray, n_added: int, *, alpha: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n_added`` DIAMOnD nodes grown from ``seeds`` (node indices of ``graph``).

    Parameters
    ----------
    graph : Interactome
    seeds : sequence of int
        Seed nodes (repeats are ignored).
    n_added : int
        Nodes to add; fewer when the seeds' component runs out of neighbours.
    alpha : int, default 1
        Weight of the seeds (see Notes).

    Returns
    -------
    nodes, degree, links, p_value : ndarray
        The added nodes in the order of addition, their degree k, their number k_s of links to the module when
        added, and the connectivity p-value at that moment (all with the seed weights of ``alpha``).

    Notes
    -----
    At each step every node outside the module with at least one link to it is scored by the connectivity
    p-value of having k_s or more of its k links to the s module nodes among N network nodes (the nodes of the
    network's largest connected component, the graph every measure works on; DIAMOnD.py counts every node of
    the edge file, so on a network with small components its p-values, and possibly its order, differ),
    p = sum_{x >= k_s} C(s, x) C(N - s, k - x) / C(N, k) (hypergeometric upper tail), and the node with the
    smallest p joins the module. Ties (equal p-values, e.g. equal k and k_s) go to the node first in the
    network's node order (gene symbols sorted); DIAMOnD.py breaks them by Python's set order, which depends on
    the string hash seed of the process.

    Seed weight alpha (Ghiassian et al. 2015, "seed weights"): every seed counts as alpha nodes, so that with
    k_0 a node's links to seeds and s_0 the number of seeds, k_s -> k_s + (alpha - 1) k_0,
    k -> k + (alpha - 1) k_0, s -> s + (alpha - 1) s_0 and N -> N + (alpha - 1) s_0 at every step. With
    alpha = 1 this is DIAMOnD.py's algorithm; for alpha > 1 DIAMOnD.py weights the links to all module nodes
    and drops the weight from s after the first step, which the paper does not describe.

    The node counts k_s are kept up to date as nodes join (O(degree) per step) and the p-values are computed in
    log space for the distinct (k, k_s) pairs of each step, all at once (:func:`log_upper_tail`).

    References
    ----------
    Ghiassian S. D., Menche J., Barabási A.-L. (2015). A DIseAse MOdule Detection (DIAMOnD) algorithm derived
    from a systematic analysis of connectivity patterns of disease proteins in the human interactome. PLoS Comput
    Biol 11:e1004120. doi:10.1371/journal.pcbi.1004120
    """
    indptr, indices = graph.indptr, graph.indices
    degree = graph.degree.astype(np.int64)
    n = graph.n_nodes
    seed_nodes = np.unique(np.asarray(seeds, dtype=np.int64))
    in_module = np.zeros(n, dtype=bool)
    in_module[seed_nodes] = True
    links = np.zeros(n, dtype=np.int64)
    for seed in seed_nodes.tolist():
        links[indices[indptr[seed] : indptr[seed + 1]]] += 1
    extra = (alpha - 1) * links  # the seeds' extra weight: (alpha - 1) k_0, fixed
    total = n + (alpha - 1) * len(seed_nodes)
    added: list[int] = []
    degrees: list[int] = []
    counts: list[int] = []
    p_values: list[float] = []
    for _ in range(n_added):
        candidates = np.flatnonzero((links > 0) & ~in_module)
        if len(candidates) == 0:
            break
        k_s = links[candidates] + extra[candidates]
        k = degree[candidates] + extra[candidates]
        size = int(in_module.sum()) + (alpha - 1) * len(seed_nodes)
        pairs, inverse = np.unique(np.stack([k, k_s]), axis=1, return_inverse=True)
        log_p = log_upper_tail(pairs[1], pairs[0], total, size)[inverse.ravel()]
        best = int(np.argmin(log_p))  # first minimum: candidates are in node order
        node = int(candidates[best])
        added.append(node)
        degrees.append(int(k[best]))
        counts.append(int(k_s[best]))
        p_values.append(float(np.exp(log_p[best])))
        in_module[node] = True
        links[indices[indptr[node] : indptr[node + 1]]] += 1
    return (
        np.asarray(added, dtype=np.int64),
        np.asarray(degrees, dtype=np.int64),
        np.asarray(counts, dtype=np.int64),
        np.asarray(p_values, dtype=np.float64),
    )


def _log_choose(n: np.ndarray | int, r: np.ndarray) -> np.ndarray:
    return np.asarray(gammaln(np.add(n, 1)) - gammaln(r + 1) - gammaln(np.subtract(n, r) + 1))


def log_upper_tail(k_s: np.ndarray, k: np.ndarray, total: int, size: int) -> np.ndarray:
    """log P(X >= k_s) for X hypergeometric: k draws from ``total`` nodes of which ``size`` are in the module.

    The sum over x = k_s .. min(k, size) of C(size, x) C(total - size, k - x) / C(total, k), each term from
    log-gammas (as DIAMOnD.py) and summed in log space, for all (k, k_s) pairs at once.
    """
    k_s = np.asarray(k_s, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    top = np.minimum(k, size)
    width = int((top - k_s).max()) + 1
    x = k_s[:, None] + np.arange(width)[None, :]
    valid = (x <= top[:, None]) & (k[:, None] - x <= total - size)
    x = np.where(valid, x, k_s[:, None])
    terms = _log_choose(size, x) + _log_choose(total - size, k[:, None] - x) - _log_choose(total, k)[:, None]
    return np.asarray(logsumexp(np.where(valid, terms, -np.inf), axis=1))


def diamond_module(
    graph: Interactome, seeds: Sequence[str], *, n_added: int = 50, alpha: int = 1
) -> pd.DataFrame:
    """DIAMOnD nodes grown from seed genes, as a table.

    Parameters
    ----------
    graph : Interactome
        From :func:`organoidrx.network.build_interactome`.
    seeds : sequence of str
        Seed gene symbols; those outside the graph are ignored (with a log line), none left is an error.
    n_added : int, default 50
        Nodes to add.
    alpha : int, default 1
        Seed weight.

    Returns
    -------
    DataFrame
        One row per added node: ``rank, gene, degree, links_to_module, p_value`` (see :func:`diamond_nodes`).

    Raises
    ------
    InputError
        When no seed is in the graph, or ``n_added``/``alpha`` is below 1.

    Examples
    --------
    >>> import pandas as pd
    >>> from organoidrx.network import build_interactome
    >>> edges = pd.DataFrame({"gene_a": ["A", "A", "B", "C"], "gene_b": ["B", "C", "C", "D"]})
    >>> diamond_module(build_interactome(edges, min_score=None), ["A", "B"], n_added=2)["gene"].tolist()
    ['C', 'D']
    """
    for option, value in ((N_ADDED, n_added), (ALPHA, alpha)):
        option.validate(value)
    index = graph.index()
    seed_list = [str(s) for s in seeds]
    nodes = [index[s] for s in seed_list if s in index]
    if not nodes:
        raise InputError(
            f"none of the {len(seed_list)} seed genes is in the network ({examples(seed_list)}); "
            "check the gene symbols."
        )
    if len(nodes) < len(seed_list):
        logger.info("DIAMOnD: %d seed genes are not in the network", len(seed_list) - len(nodes))
    added, degree, links, p_value = diamond_nodes(graph, nodes, n_added, alpha=alpha)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(added) + 1),
            "gene": graph.nodes[added].astype(object),
            "degree": degree,
            "links_to_module": links,
            "p_value": p_value,
        }
    )


def _prepare(setup: MeasureSetup, *, n_added: int, alpha: int) -> Preparation:
    modules = []
    sizes = []
    for seeds in setup.target_sets:
        added = diamond_nodes(setup.graph, seeds, n_added, alpha=alpha)[0]
        modules.append(np.concatenate([np.unique(seeds), added]))
        sizes.append(len(modules[-1]))
    return Preparation(target_sets=modules, info={"n_added": n_added, "alpha": alpha, "module_sizes": sizes})


def _work_factor(options: dict[str, Any]) -> float:
    """The null draws modules instead of targets: about (targets + n_added) / targets times closest's work, with
    two targets per drug (Kong et al.'s median); 15x measured for n_added = 50 (benchmarks/RESULTS.md)."""
    return (2 + int(options["n_added"])) / 2


def _module_closest(view: DistanceView) -> tuple[np.ndarray, Any]:
    return CLOSEST.func(view)


N_ADDED = Option(
    "n_added",
    50,
    int,
    "DIAMOnD nodes added to the drug's targets (DIAMOnD.py suggests 200 for disease modules grown from tens of "
    "seeds; a drug has one to a few targets)",
    minimum=1,
    maximum=10_000,
)
ALPHA = Option(
    "alpha", 1, int, "DIAMOnD seed weight (1 as in the paper's main results)", minimum=1, maximum=1000
)

DIAMOND = register(
    Method(
        kind="measure",
        name="diamond",
        summary="closest distance from the drug's DIAMOnD module (its targets and the n_added nodes most "
        "significantly connected to them) to the pathway; the null draws degree-matched modules and pathways",
        reference="Ghiassian S. D. et al. (2015) PLoS Comput Biol 11:e1004120, doi:10.1371/journal.pcbi.1004120",
        func=_module_closest,
        options=(N_ADDED, ALPHA),
        deterministic=False,
        attrs={"column": "module_distance", "prepare": _prepare, "work_factor": _work_factor},
    )
)
