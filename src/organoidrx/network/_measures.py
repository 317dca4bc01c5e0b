"""Network measures: the distance of every pathway to every drug's targets, as registered plug-ins.

A measure is a function of a :class:`DistanceView` (one set of targets and pathway genes, observed or randomly
drawn) returning ``(numerator, denominator)`` of shape (n_pathways, n_drugs). :func:`organoidrx.network.proximity`
calls it once on the observed sets and once per random draw, so integer numerators and denominators let it count
null values ``<=`` the observed one exactly.

A measure that needs more than distances declares it in its record's ``attrs`` (all optional; see
:data:`MEASURE_ATTRS`): ``prepare(setup: MeasureSetup, **options) -> Preparation`` runs once per call with the
graph and the observed sets and may hand the measure a precomputed ``state`` (``view.state``) or replace every
drug's target nodes (a module grown around them); ``null = "targets"`` draws random target sets only and keeps the
pathways as they are; ``higher_is_closer = True`` says a larger value means closer (the runner turns the z-score so
that, for every measure, negative means closer than chance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from organoidrx._registry import Method, Option, register
from organoidrx.network._graph import Interactome

__all__ = ["MEASURE_ATTRS", "NULL_OPTION", "DistanceView", "MeasureSetup", "Preparation"]

#: The keys a measure's ``attrs`` may hold, with their meaning (the runner reads nothing else).
MEASURE_ATTRS = {
    "column": "name of the output column holding the observed value (default '<name>_distance')",
    "prepare": "prepare(setup: MeasureSetup, **options) -> Preparation, run once per call",
    "null": "'both' (default): the targets and the pathway genes are drawn at random; 'targets': only the "
    "targets (a measure with the option ``null``, NULL_OPTION, lets the user choose)",
    "higher_is_closer": "True when a larger value means closer (default False)",
    "undefined": "the note of rows where the measure is NaN (e.g. separation of a set of one node)",
    "work_factor": "cost of a null draw relative to closest (a number, or a callable of the options); the run's "
    "work-size guard scales its estimate by it (default 1)",
}


@dataclass(frozen=True)
class MeasureSetup:
    """What a measure's ``prepare`` hook sees: the graph and the observed sets, as node indices.

    Attributes
    ----------
    graph : Interactome
        The largest connected component the distances refer to.
    dist : ndarray of shape (n_nodes, n_nodes), uint8
        All-pairs hop distances (the cached matrix; never recompute it).
    target_sets : list of ndarray of int
        Target nodes of every drug column (drugs with the same targets share one column).
    genes : ndarray of int
        Node of every gene slot, pathways contiguous from ``pathway_start``.
    pathway_start : ndarray of int64
        Offsets of the pathways in ``genes``.
    n_jobs : int
        Threads the call may use.
    """

    graph: Interactome
    dist: np.ndarray
    target_sets: list[np.ndarray]
    genes: np.ndarray
    pathway_start: np.ndarray
    n_jobs: int = 1


@dataclass(frozen=True)
class Preparation:
    """What a measure's ``prepare`` hook returns.

    Attributes
    ----------
    state : object, optional
        Handed to the measure as ``view.state`` on the observed sets and on every random draw.
    target_sets : list of ndarray of int, optional
        Replaces the target nodes of every drug column (same order as ``MeasureSetup.target_sets``), e.g. a module
        grown around the targets; the null then draws degree-matched versions of these nodes.
    info : dict
        Anything worth reporting; stored in the result's ``attrs["measure_info"]``.
    """

    state: Any = None
    target_sets: list[np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def size_buckets(sizes: np.ndarray, starts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group pathways of similar size; pad each one's gene slots to the group width by repeating its genes.

    Repeats do not change a minimum, so each group's minima are one dense ``min(axis=1)``; widths grow by 25%,
    so padding costs at most a quarter more work.
    """
    buckets = []
    low = 0
    while low < sizes.max():
        high = max(low + 1, int(low * 1.25))
        rows = np.flatnonzero((sizes > low) & (sizes <= high))
        if len(rows):
            width = int(sizes[rows].max())
            offsets = np.arange(width)[None, :] % sizes[rows][:, None]
            buckets.append((rows, np.ascontiguousarray((starts[rows][:, None] + offsets).T)))
        low = high
    return buckets


@dataclass
class DistanceView:
    """Shortest-path distances between one draw of drug targets and pathway genes, with helpers for measures.

    Targets are stored as *slots* (one per drug x target, drugs contiguous from ``drug_start``) and genes as
    slots (one per pathway x gene, pathways contiguous from ``pathway_start``). In a random draw a node already
    taken by the same set can repeat; its slot then has weight 0 and must count once.

    Attributes
    ----------
    dist : ndarray of shape (n_nodes, n_nodes), uint8
        All-pairs hop distances of the interactome's largest component.
    targets, genes : ndarray of int
        Node of every target slot and of every gene slot.
    target_weight, gene_weight : ndarray of int64
        1 for a slot that counts, 0 for a repeat.
    drug_start, pathway_start : ndarray of int64
        Offsets of each drug's target slots and each pathway's gene slots.
    n_targets : ndarray of shape (n_drugs,)
        Distinct targets per drug (sum of ``target_weight``).
    n_genes : ndarray of shape (n_pathways,)
        Distinct genes per pathway.
    state : object
        What the measure's ``prepare`` hook returned as ``Preparation.state`` (None without a hook).
    adjacency : (indptr, indices), optional
        The graph in CSR form (:class:`Interactome`), for measures that also walk edges.
    memo : dict, optional
        Shared by the views of one draw's ranges of drugs, which hold the same genes: the drug-independent
        :meth:`within_genes` is computed once for all of them.
    """

    dist: np.ndarray
    targets: np.ndarray
    genes: np.ndarray
    target_weight: np.ndarray
    gene_weight: np.ndarray
    drug_start: np.ndarray
    pathway_start: np.ndarray
    buckets: list[tuple[np.ndarray, np.ndarray]]
    state: Any = None
    adjacency: tuple[np.ndarray, np.ndarray] | None = None
    memo: dict[str, Any] | None = None
    n_targets: np.ndarray = field(init=False)
    n_genes: np.ndarray = field(init=False)
    _by_target: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.n_targets = np.add.reduceat(self.target_weight, self.drug_start)
        self.n_genes = np.add.reduceat(self.gene_weight, self.pathway_start)

    @property
    def shape(self) -> tuple[int, int]:
        """(n_pathways, n_drugs)."""
        return len(self.pathway_start), len(self.drug_start)

    def by_target(self) -> np.ndarray:
        """uint8 array of shape (n_nodes, n_target_slots): every node's distance to every target slot."""
        if self._by_target is None:
            self._by_target = np.ascontiguousarray(self.dist[self.targets].T)
        return self._by_target

    def distances(self) -> np.ndarray:
        """uint8 array of shape (n_gene_slots, n_target_slots): d(gene slot, target slot)."""
        return self.by_target()[self.genes]

    def nearest_gene(self) -> np.ndarray:
        """uint8 array of shape (n_pathways, n_target_slots): min over each pathway's genes of d(t, s)."""
        by_target = self.by_target()
        out = np.empty((len(self.pathway_start), len(self.targets)), dtype=np.uint8)
        for rows, padded in self.buckets:  # padded: (width, n_rows), so the minimum runs over long rows
            block = np.take(by_target, self.genes[padded].ravel(), axis=0)
            out[rows] = block.reshape(padded.shape[0], len(rows), len(self.targets)).min(axis=0)
        return out

    def nearest_target(self) -> np.ndarray:
        """uint8 array of shape (n_gene_slots, n_drugs): min over each drug's targets of d(t, s)."""
        return np.minimum.reduceat(self.distances(), self.drug_start, axis=1)

    def nearest_target_sum(self) -> np.ndarray:
        """int64 array of shape (n_pathways, n_drugs): sum over each pathway's genes of the distance to the nearest
        target of the drug (repeated genes of a random draw count once).

        Computed per node first (min over each drug's targets of a row of the distance matrix, n_drugs x n_nodes),
        then gathered for the gene slots, so the work is n_target_slots x n_nodes + n_drugs x n_gene_slots.
        """
        per_node = self.dist[
            self.targets[self.drug_start]
        ]  # (n_drugs, n_nodes): first target, then the others
        sizes = np.diff(np.append(self.drug_start, len(self.targets)))
        for j in range(1, int(sizes.max())):
            more = np.flatnonzero(sizes > j)
            per_node[more] = np.minimum(per_node[more], self.dist[self.targets[self.drug_start[more] + j]])
        per_slot = np.ascontiguousarray(per_node.T)[self.genes]  # (n_gene_slots, n_drugs)
        if not self.gene_weight.all():
            per_slot = per_slot * self.gene_weight[:, None].astype(np.uint8)
        return np.add.reduceat(per_slot, self.pathway_start, axis=0, dtype=np.int64)

    def within_targets(self) -> np.ndarray:
        """int64 array of shape (n_drugs,): sum over each drug's distinct targets of the distance to the nearest
        *other* target of the same drug (0 for a drug with one distinct target)."""
        return within_set_nearest(self.dist, self.targets, self.target_weight, self.drug_start)

    def within_genes(self) -> np.ndarray:
        """int64 array of shape (n_pathways,): sum over each pathway's distinct genes of the distance to the
        nearest *other* gene of the same pathway (0 for a pathway with one distinct gene)."""
        if self.memo is not None and "within_genes" in self.memo:
            return self.memo["within_genes"]
        within = within_set_nearest(
            self.dist, self.genes, self.gene_weight, self.pathway_start, self.adjacency
        )
        if self.memo is not None:
            self.memo["within_genes"] = within
        return within

    def sum_over_targets(self, values: np.ndarray) -> np.ndarray:
        """Sum the target-slot axis (last) of ``values`` per drug."""
        return np.add.reduceat(values, self.drug_start, axis=1)

    def sum_over_genes(self, values: np.ndarray) -> np.ndarray:
        """Sum the gene-slot axis (first) of ``values`` per pathway."""
        return np.add.reduceat(values, self.pathway_start, axis=0)


def within_set_nearest(
    dist: np.ndarray,
    nodes: np.ndarray,
    weight: np.ndarray,
    starts: np.ndarray,
    adjacency: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per set, the sum over its counted slots of the hop distance to the nearest other node of the set.

    Parameters
    ----------
    dist : ndarray of shape (n_nodes, n_nodes), uint8
    nodes : ndarray of int
        Node of every slot, sets contiguous.
    weight : ndarray of int64
        1 for a slot that counts, 0 for a repeated node of a random draw.
    starts : ndarray of int
        Offset of each set's first slot.
    adjacency : (indptr, indices), optional
        The graph in CSR form; members with at most as many neighbours as the set has slots then settle
        "a neighbour is in the set" (distance 1) from their edges.

    Returns
    -------
    ndarray of int64, shape (n_sets,)
        A set whose slots all hold one node gets 0 (its nearest *other* node does not exist).

    Notes
    -----
    A compiled loop (:func:`organoidrx.network._jit.within_nearest`): each member reads its distances
    to the set's members in node order and stops at the smallest possible value (1, or 2 once the edges showed
    no neighbour in the set), so the work is well below the sum of the squared set sizes of a dense block.
    """
    from organoidrx.network._jit import within_nearest  # numba compiles (or loads) on first use

    indptr, indices = adjacency if adjacency is not None else (np.zeros(1, np.int64), np.zeros(0, np.int64))
    bounds = np.append(np.asarray(starts, dtype=np.int64), len(nodes))
    return within_nearest(dist, np.asarray(nodes, dtype=np.int64), weight, bounds, indptr, indices)


def _closest(view: DistanceView) -> tuple[np.ndarray, Any]:
    per_slot = view.nearest_gene().astype(np.int64) * view.target_weight
    num = view.sum_over_targets(per_slot)
    return num, np.broadcast_to(view.n_targets, num.shape)


def _shortest(view: DistanceView) -> tuple[np.ndarray, Any]:
    rows = view.distances().astype(np.int64) * view.target_weight
    rows *= view.gene_weight[:, None]
    num = view.sum_over_targets(view.sum_over_genes(rows))
    return num, np.outer(view.n_genes, view.n_targets)


#: The null of the distance measures: what each random draw replaces (``both`` as in Guney et al. 2016 and
#: NetMedPy; ``targets`` keeps the pathway's genes, so that only the drug's closeness is tested).
NULL_OPTION = Option(
    "null",
    "both",
    str,
    "what each null draw replaces: both (degree-matched targets and pathway genes, Guney et al. 2016, NetMedPy) "
    "or targets (the pathway keeps its genes: a test of the drug's closeness alone)",
    choices=("both", "targets"),
)

CLOSEST = register(
    Method(
        kind="measure",
        name="closest",
        summary="mean over the drug's targets of the hop distance to the nearest pathway gene",
        reference="Guney E. et al. (2016) Nat Commun 7:10331, doi:10.1038/ncomms10331",
        func=_closest,
        options=(NULL_OPTION,),
        deterministic=False,
        attrs={"column": "closest_distance"},
    )
)

SHORTEST = register(
    Method(
        kind="measure",
        name="shortest",
        summary="mean hop distance over every target x pathway-gene pair",
        reference="Guney E. et al. (2016) Nat Commun 7:10331, doi:10.1038/ncomms10331",
        func=_shortest,
        options=(NULL_OPTION,),
        deterministic=False,
        attrs={"column": "shortest_distance"},
    )
)
