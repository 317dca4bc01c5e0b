"""Separation against NetMedPy on STRING (pre-v12, combined_score > 700, largest component, 11,508 nodes).

Values: ``netmedpy.separation`` on real drug x Reactome pairs, to 1e-10. z-scores: ``netmedpy.separation_z_score``
with ``null_model="custom"`` and a node bucket holding, for every node, the other nodes of its degree bin as
organoidrx bins them (:func:`organoidrx.network.degree_bins`, ``min_bin_size=100``), so both tools draw from the
same null distribution with different random numbers. NetMedPy's own ``log_binning`` maps a node whose degree equals
a bin's upper bound to the next bin (see benchmarks/RESULTS.md), which would be a different null.

Monte-Carlo tolerance: organoidrx draws 20,000 random pairs of sets and NetMedPy 1,000; a z estimated from 1,000
draws of a normal null has standard error sqrt((1 + z^2/2) / 1000) (0.034 at z = 0, 0.12 at z = 5). The pairs must
agree within four of those standard errors plus 0.05.
"""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
from tests.conftest import shared_file

from organoidrx.io import read_drug_targets, read_gmt, read_network
from organoidrx.network import build_interactome, degree_bins, proximity, shortest_path_lengths

netmedpy = pytest.importorskip("netmedpy")

STRING = "networks/string_dmfind/string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz"
GMT = "kong2020/reactome_msigdb_v6.1_tcga.gmt"
TARGETS = "kong2020/drug_targets.tsv"
DRUGS = ["CISPLATIN", "BORTEZOMIB", "IRINOTECAN", "SELUMETINIB", "GEMCITABINE", "FLUOROURACIL"]
PATHWAYS = [
    "REACTOME_BASE_EXCISION_REPAIR",
    "REACTOME_PYRIMIDINE_METABOLISM",
    "REACTOME_EGFR_DOWNREGULATION",
    "REACTOME_IRON_UPTAKE_AND_TRANSPORT",
    "REACTOME_SIGNALING_BY_ERBB2",
]


@pytest.fixture(scope="module")
def string(shared_data):
    network = read_network(
        shared_file(shared_data, STRING), edge_columns="symbol_1,symbol_2,combined_score", min_score=700
    )
    graph = build_interactome(network, min_score=None)
    dist = shortest_path_lengths(graph)
    targets = read_drug_targets(shared_file(shared_data, TARGETS))
    gene_sets = read_gmt(shared_file(shared_data, GMT))
    gene_sets = gene_sets[gene_sets["pathway"].isin(PATHWAYS)]
    nodes = [str(n) for n in graph.nodes]
    matrix = netmedpy.DistanceMatrix.from_components(
        nodes, {n: i for i, n in enumerate(nodes)}, dist.astype(np.float32)
    )
    return graph, dist, targets, gene_sets, graph.to_networkx(), matrix


def _sets(targets, gene_sets, drug, pathway, nodes):
    a = set(targets.loc[targets["drug"] == drug, "target"]) & nodes
    b = set(gene_sets.loc[gene_sets["pathway"] == pathway, "gene"]) & nodes
    return a, b


def test_values_equal_netmedpy_separation(string):
    graph, dist, targets, gene_sets, nx_graph, matrix = string
    table = proximity(
        graph, targets, gene_sets, drugs=DRUGS, measure="separation", n_random=1, distances=dist
    )
    assert len(table) == len(DRUGS) * len(PATHWAYS) and table["computable"].all()
    nodes = set(nx_graph)
    checked = 0
    for row in table.itertuples():
        a, b = _sets(targets, gene_sets, row.drug, row.pathway, nodes)
        reference = netmedpy.separation(nx_graph, a, b, matrix)
        if len(a) < 2:  # FLUOROURACIL (TYMS only): NetMedPy's <d_AA> is a mean over an empty minimum
            assert reference == -np.inf and np.isnan(row.separation)
            continue
        assert abs(row.separation - reference) <= 1e-10, (row.drug, row.pathway, row.separation, reference)
        checked += 1
    assert checked == 25


def test_z_scores_agree_with_netmedpy_on_the_same_null(string):
    graph, dist, targets, gene_sets, nx_graph, matrix = string
    drugs, pathways = ["CISPLATIN", "BORTEZOMIB"], PATHWAYS[:4]
    ours = proximity(
        graph,
        targets,
        gene_sets[gene_sets["pathway"].isin(pathways)],
        drugs=drugs,
        measure="separation",
        n_random=20_000,
        random_state=3,
        distances=dist,
    ).set_index(["drug", "pathway"])
    bins = degree_bins(graph.degree, min_bin_size=100)
    names = [str(n) for n in graph.nodes]
    bucket = {}
    for b in range(len(bins.sizes)):
        members = [names[i] for i in bins.nodes[bins.start[b] : bins.start[b + 1]]]
        for m in members:
            bucket[m] = [x for x in members if x != m]
    random.seed(3)  # NetMedPy draws with the random module
    nodes = set(nx_graph)
    worst = []
    for drug in drugs:
        for pathway in pathways:
            a, b = _sets(targets, gene_sets, drug, pathway, nodes)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = netmedpy.separation_z_score(
                    nx_graph, a, b, matrix, null_model="custom", node_bucket=bucket, n_iter=1000
                )
            row = ours.loc[(drug, pathway)]
            assert abs(row["separation"] - reference["raw_separation"]) <= 1e-10
            z_ref = reference["z_score"]
            tolerance = 0.05 + 4 * np.sqrt((1 + z_ref**2 / 2) / 1000)
            worst.append((abs(row["z"] - z_ref) / tolerance, drug, pathway, row["z"], z_ref))
    assert max(worst)[0] <= 1, max(worst)
    assert max(abs(w[4]) for w in worst) > 2  # not a comparison of two noise clouds around 0
