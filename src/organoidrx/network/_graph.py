"""The interaction network as the proximity engine sees it: an undirected, unweighted largest connected component."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse import csgraph

from organoidrx._utils import InputError, examples
from organoidrx._validation import as_long_table, id_strings

logger = logging.getLogger(__name__)

__all__ = ["Interactome", "build_interactome"]


@dataclass(frozen=True, eq=False)
class Interactome:
    """Largest connected component of a protein-protein interaction network, in compressed sparse row form.

    Nodes are sorted by name, so the object (and everything computed from it) does not depend on the order of the
    edges it was built from.

    Attributes
    ----------
    nodes : ndarray of str, shape (n_nodes,)
        Gene symbols, sorted.
    indptr, indices : ndarray of int64
        CSR adjacency (both directions of every undirected edge, neighbours sorted).
    summary : dict
        Counts of what the build kept and dropped (edges read, below threshold, self-loops, duplicates, nodes
        outside the largest component).
    outside : frozenset of str
        Genes of the network's smaller components (in an edge above the threshold, but not in ``nodes``), so that
        a drug target there can be told apart from one absent from the network.
    """

    nodes: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)
    outside: frozenset[str] = field(default_factory=frozenset, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return len(self.indices) // 2

    @property
    def degree(self) -> np.ndarray:
        """Degree of every node, shape (n_nodes,)."""
        return np.diff(self.indptr)

    def check(self, name: str = "network") -> None:
        """Raise :class:`InputError` unless this is one connected graph in CSR form with unique, sorted node names, as
        :func:`build_interactome` makes it (every measure assumes a path between any two nodes)."""
        n = self.n_nodes
        if len(self.indptr) != n + 1 or self.indptr[0] != 0 or self.indptr[-1] != len(self.indices):
            raise InputError(
                f"{name}: an Interactome's indptr must have n_nodes + 1 entries from 0 to len(indices)."
            )
        if n > 1 and not (self.nodes[1:] > self.nodes[:-1]).all():
            raise InputError(f"{name}: an Interactome's node names must be unique and sorted; build it with "
                             "build_interactome.")  # fmt: skip
        adjacency = sp.csr_matrix(
            (np.ones(len(self.indices), dtype=np.int8), self.indices, self.indptr), shape=(n, n)
        )
        n_components, labels = csgraph.connected_components(adjacency, directed=False)
        if n_components > 1:
            alone = [str(g) for g in self.nodes[labels != np.bincount(labels).argmax()]]
            raise InputError(
                f"{name}: the Interactome has {n_components} connected components ({len(alone)} nodes outside the "
                f"largest, e.g. {examples(alone)}); distances between components are undefined: build it with "
                "build_interactome, which keeps the largest component."
            )

    def index(self) -> dict[str, int]:
        """Map from gene symbol to node index."""
        return {str(g): i for i, g in enumerate(self.nodes)}

    def content_hash(self) -> str:
        """SHA-256 of the node names and the adjacency: equal for equal graphs, whatever the input edge order."""
        digest = hashlib.sha256()
        digest.update(b"organoidrx-interactome-v1\0")
        digest.update("\0".join(map(str, self.nodes)).encode())
        digest.update(np.ascontiguousarray(self.indptr, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(self.indices, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def to_networkx(self) -> Any:
        """The same graph as a :class:`networkx.Graph` (networkx must be installed)."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(map(str, self.nodes))
        rows = np.repeat(np.arange(self.n_nodes), self.degree)
        upper = rows < self.indices
        graph.add_edges_from(
            zip(self.nodes[rows[upper]].tolist(), self.nodes[self.indices[upper]].tolist(), strict=True)
        )
        return graph


def build_interactome(
    network: pd.DataFrame,
    *,
    min_score: float | None = 700.0,
    name: str = "network",
) -> Interactome:
    """Keep the edges scoring above a threshold and return the largest connected component.

    Parameters
    ----------
    network : DataFrame of shape (n_edges, 2 or 3)
        Long edge table with columns ``gene_a, gene_b`` and, when ``min_score`` is set, ``score`` (as returned by
        :func:`organoidrx.io.read_network`). Direction, duplicated pairs and self-loops are ignored.
    min_score : float or None, default 700
        Keep edges with ``score > min_score`` (strictly greater, STRING's "combined score > 700" of Kong et al.).
        ``None`` or a negative value keeps every edge and does not need a ``score`` column (as
        :func:`organoidrx.io.read_network`).
    name : str, default "network"
        Name of the input, for messages.

    Returns
    -------
    Interactome
        Unweighted, undirected largest connected component with sorted node names; ``summary`` holds the counts
        of edges and nodes dropped at each step.

    Raises
    ------
    InputError
        When columns are missing, scores are not numeric, or no edge passes the threshold.
    """
    if min_score is not None and float(min_score) < 0:
        min_score = None  # every edge, as read_network and the config's min_score = -1
    columns = ["gene_a", "gene_b"] + (["score"] if min_score is not None else [])
    edges = as_long_table(network, columns, name=name)
    summary: dict[str, Any] = {"edges_read": len(edges)}
    missing = edges["gene_a"].isna() | edges["gene_b"].isna()
    if missing.any():
        logger.warning("%s: dropped %d edges with a missing gene name", name, int(missing.sum()))
    edges = edges.loc[~missing]
    summary["edges_missing_gene"] = int(missing.sum())
    if min_score is not None:
        scores = pd.to_numeric(edges["score"], errors="coerce")
        bad = scores.isna()
        if bad.all() and edges["score"].isna().all():
            raise InputError(
                f"{name}: no edge has a score (a file without a score column reads as missing scores), so "
                f"min_score = {min_score:g} cannot be applied; give min_score=None or a negative value to keep every "
                "edge ([network] min_score = -1 in a config, --min-score -1), or an edge file with a score column."
            )
        if bad.any():
            raise InputError(
                f"{name}: column 'score' must be numeric; found {examples(edges.loc[bad, 'score'].unique())}."
            )
        keep = scores.to_numpy() > min_score
        summary["edges_below_min_score"] = int((~keep).sum())
        edges = edges.loc[keep]
    gene_a, gene_b = id_strings(edges["gene_a"]), id_strings(edges["gene_b"])
    loops = gene_a == gene_b
    summary["self_loops"] = int(loops.sum())
    gene_a, gene_b = gene_a[~loops], gene_b[~loops]
    if len(gene_a) == 0:
        raise InputError(
            f"{name}: no edge left after the score threshold (score > {min_score}) and removing self-loops; "
            f"lower min_score (read {summary['edges_read']} edges)."
        )
    nodes, inverse = np.unique(np.concatenate([gene_a, gene_b]), return_inverse=True)
    n_all = len(nodes)
    a, b = inverse[: len(gene_a)], inverse[len(gene_a) :]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(lo.astype(np.int64) * n_all + hi)
    summary["duplicate_edges"] = int(len(gene_a) - len(pairs))
    lo, hi = pairs // n_all, pairs % n_all
    ones = np.ones(2 * len(pairs), dtype=np.int8)
    adjacency = sp.csr_matrix(
        (ones, (np.concatenate([lo, hi]), np.concatenate([hi, lo]))), shape=(n_all, n_all)
    )
    n_components, labels = csgraph.connected_components(adjacency, directed=False)
    sizes = np.bincount(labels)
    largest = int(np.argmax(sizes))  # ties: the component holding the alphabetically first node
    keep_nodes = np.flatnonzero(labels == largest)
    dropped = n_all - len(keep_nodes)
    summary.update(
        nodes_in_edges=n_all,
        components=int(n_components),
        nodes_outside_lcc=int(dropped),
    )
    outside = nodes[labels != largest]
    if dropped:
        logger.info(
            "%s: kept the largest connected component (%d of %d nodes); %d nodes in %d smaller components "
            "dropped (e.g. %s)",
            name,
            len(keep_nodes),
            n_all,
            dropped,
            n_components - 1,
            examples(outside),
        )
    lcc = adjacency[keep_nodes][:, keep_nodes].tocsr()
    lcc.sort_indices()
    result = Interactome(
        nodes=nodes[keep_nodes].astype(str),
        indptr=lcc.indptr.astype(np.int64),
        indices=lcc.indices.astype(np.int64),
        summary=summary,
        outside=frozenset(str(g) for g in outside),
    )
    summary.update(nodes=result.n_nodes, edges=result.n_edges)
    return result
