"""The fast engine against a slow, obviously correct loop implementation of the same null, on real STRING data.

The reference follows the Guney et al. toolbox step by step in plain Python: networkx breadth-first search for
distances, bins built by walking the sorted degrees, and for each random draw a sequential replacement of every
node by ``random.choice`` among the *other* nodes of its bin, redrawn up to 20 times while it repeats a node
already chosen. The subnetwork (STRING > 700 restricted to the genes of eleven Reactome sets, largest component,
436 nodes) is dense and hub-heavy: proteasome and ribosome sets, where binning details matter most.
"""

from __future__ import annotations

import random
import statistics

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import shared_file

from organoidrx.network import proximity

STRING = "networks/string_dmfind/string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz"
GMT = "kong2020/reactome_msigdb_v6.1_tcga.gmt"
PATHWAYS = [
    "REACTOME_REGULATION_OF_APOPTOSIS",
    "REACTOME_IRON_UPTAKE_AND_TRANSPORT",
    "REACTOME_SIGNALING_BY_CONSTITUTIVELY_ACTIVE_EGFR",
    "REACTOME_BASE_EXCISION_REPAIR",
    "REACTOME_CELL_CYCLE_CHECKPOINTS",
    "REACTOME_NUCLEOTIDE_EXCISION_REPAIR",
    "REACTOME_SIGNALING_BY_EGFR_IN_CANCER",
    "REACTOME_EGFR_DOWNREGULATION",
    "REACTOME_PEPTIDE_CHAIN_ELONGATION",
    "REACTOME_PYRIMIDINE_METABOLISM",
    "REACTOME_METABOLISM_OF_NUCLEOTIDES",
]
DRUGS = {
    "FLUOROURACIL": ["TYMS"],
    "CISPLATIN": ["TF", "MPG", "A2M", "ATOX1"],
    "BORTEZOMIB": ["PSMB5", "PSMB1"],
    "CETUXIMAB": ["EGFR"],
}


# ----------------------------------------------------------------------------------------- slow reference
def reference_bins(graph, min_bin_size):
    by_degree = {}
    for node in sorted(graph.nodes):
        by_degree.setdefault(graph.degree(node), []).append(node)
    degrees = sorted(by_degree)
    bins = []
    i = 0
    while i < len(degrees):
        low, members = degrees[i], list(by_degree[degrees[i]])
        while len(members) < min_bin_size and i + 1 < len(degrees):
            i += 1
            members += by_degree[degrees[i]]
        high = degrees[i]
        i += 1
        if len(members) < min_bin_size and bins:
            bins[-1] = (bins[-1][0], high, bins[-1][2] + members)
        else:
            bins.append((low, high, members))
    return bins


def reference_random_sets(graph, bins, nodes, n_random, rng):
    equivalents = {}
    for node in nodes:
        d = graph.degree(node)
        for low, high, members in bins:
            if low <= d <= high:
                equivalents[node] = [m for m in members if m != node]
    draws = []
    for _ in range(n_random):
        chosen_set = set()
        for node in sorted(nodes):
            chosen = rng.choice(equivalents[node])
            for _ in range(20):
                if chosen not in chosen_set:
                    break
                chosen = rng.choice(equivalents[node])
            chosen_set.add(chosen)
        draws.append(chosen_set)
    return draws


def reference_closest(lengths, targets, genes):
    return statistics.fmean(min(lengths[t][s] for s in genes) for t in targets)


def reference_proximity(graph, drugs, sets, n_random=1000, min_bin_size=100, seed=0):
    rng = random.Random(seed)
    lengths = dict(nx.all_pairs_shortest_path_length(graph))
    bins = reference_bins(graph, min_bin_size)
    rows = []
    random_genes = {p: reference_random_sets(graph, bins, g, n_random, rng) for p, g in sets.items()}
    for drug, targets in drugs.items():
        random_targets = reference_random_sets(graph, bins, targets, n_random, rng)
        for pathway, genes in sets.items():
            d = reference_closest(lengths, targets, genes)
            null = [
                reference_closest(lengths, t, g)
                for t, g in zip(random_targets, random_genes[pathway], strict=True)
            ]
            mean, sd = statistics.fmean(null), statistics.pstdev(null)
            rows.append((drug, pathway, d, 0.0 if sd == 0 else (d - mean) / sd))
    return pd.DataFrame(rows, columns=["drug", "pathway", "closest_distance", "z"])


# ----------------------------------------------------------------------------------------- the test
@pytest.fixture(scope="module")
def subnetwork(shared_data):
    edges = pd.read_csv(
        shared_file(shared_data, STRING), sep="\t", usecols=["symbol_1", "symbol_2", "combined_score"]
    )
    sets = {}
    with open(shared_file(shared_data, GMT)) as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if fields[0] in PATHWAYS:
                sets[fields[0]] = [
                    g for g in fields[2:] if g
                ]  # standard GMT: second field is the description
    genes = {g for members in sets.values() for g in members} | {t for ts in DRUGS.values() for t in ts}
    edges = edges[
        (edges["combined_score"] > 700) & edges["symbol_1"].isin(genes) & edges["symbol_2"].isin(genes)
    ]
    graph = nx.from_pandas_edgelist(edges, "symbol_1", "symbol_2")
    graph = graph.subgraph(max(nx.connected_components(graph), key=len)).copy()
    sets = {p: [g for g in members if g in graph] for p, members in sets.items()}
    drugs = {d: [t for t in ts if t in graph] for d, ts in DRUGS.items()}
    table = pd.DataFrame(list(graph.edges), columns=["gene_a", "gene_b"])
    return graph, table, drugs, sets


def test_fast_engine_matches_slow_reference(subnetwork):
    graph, edges, drugs, sets = subnetwork
    assert graph.number_of_nodes() > 400 and all(drugs.values())
    reference = reference_proximity(graph, drugs, sets, n_random=1000, seed=11)
    targets = pd.DataFrame([(d, t) for d, ts in drugs.items() for t in ts], columns=["drug", "target"])
    fast = proximity(edges, targets, sets, min_score=None, n_random=1000, random_state=11, use_cache=False)
    merged = fast.merge(reference, on=["drug", "pathway"], suffixes=("", "_ref"))
    assert len(merged) == len(DRUGS) * len(PATHWAYS)
    np.testing.assert_allclose(merged["closest_distance"], merged["closest_distance_ref"], rtol=0, atol=1e-12)
    dz = (merged["z"] - merged["z_ref"]).abs()
    worst = merged.loc[dz.idxmax(), ["drug", "pathway", "z", "z_ref"]].to_dict()
    assert (dz <= 0.15 + 0.08 * merged["z_ref"].abs()).all(), worst
    # the hub-heavy pairs are far from z = 0, so the comparison is not between two noise clouds
    assert merged["z_ref"].abs().max() > 2
