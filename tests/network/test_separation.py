"""Separation s_AB (Menche et al. 2015): hand-counted values, the vectorised kernel against a plain loop on random
draws with repeated nodes, its null, undefined sets and determinism."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from organoidrx import InputError
from organoidrx.network import DistanceView, build_interactome, proximity, shortest_path_lengths
from organoidrx.network._measures import size_buckets, within_set_nearest
from organoidrx.network._separation import separation_parts

PATH = pd.DataFrame([("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")], columns=["gene_a", "gene_b"])


def _run(edges, targets, sets, **kwargs):
    kwargs.setdefault("min_score", None)
    kwargs.setdefault("use_cache", False)
    kwargs.setdefault("n_random", 50)
    return proximity(edges, targets, sets, measure="separation", **kwargs)


def test_hand_counted_path():
    # a-b-c-d-e, A = {a, b}, B = {d, e}: d_AB = (d(a,d)=3 + d(b,d)=2 + d(d,b)=2 + d(e,b)=3) / 4 = 2.5,
    # d_AA = d_BB = 1, so s_AB = 2.5 - 1 = 1.5; with B = {b, e}: d_AB = (1 + 0 + 0 + 3) / 4 = 1, d_BB = 3, s = -1
    targets = pd.DataFrame({"drug": ["x", "x"], "target": ["a", "b"]})
    table = _run(PATH, targets, {"far": ["d", "e"], "overlap": ["b", "e"]}, min_bin_size=1)
    assert table["separation"].tolist() == [1.5, -1.0]
    assert table.attrs["measure"] == "separation"
    assert list(table.columns).count("separation") == 1


def _brute(dist, a_nodes, b_nodes):
    a_nodes, b_nodes = list(dict.fromkeys(a_nodes)), list(dict.fromkeys(b_nodes))
    if len(a_nodes) < 2 or len(b_nodes) < 2:
        return float("nan")
    d = dist.astype(int)
    d_ab = sum(min(d[a, b] for b in b_nodes) for a in a_nodes) + sum(
        min(d[a, b] for a in a_nodes) for b in b_nodes
    )
    d_ab /= len(a_nodes) + len(b_nodes)
    d_aa = np.mean([min(d[a, x] for x in a_nodes if x != a) for a in a_nodes])
    d_bb = np.mean([min(d[b, x] for x in b_nodes if x != b) for b in b_nodes])
    return d_ab - (d_aa + d_bb) / 2


def _groups(rng, n_nodes, sizes, repeat_share):
    """Random node groups with some nodes repeated inside a group (as a random draw keeps after its retries)."""
    nodes, weight = [], []
    for size in sizes:
        members = list(rng.choice(n_nodes, size=size, replace=False))
        w = [1] * size
        for i in range(1, size):
            if rng.random() < repeat_share:
                members[i] = members[int(rng.integers(i))]
                w[i] = 0
        for j, m in enumerate(members):  # a repeat counts once: the first slot holding the node
            if members.index(m) != j:
                w[j] = 0
        nodes += members
        weight += w
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return np.array(nodes, dtype=np.int64), np.array(weight, dtype=np.int64), starts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_matches_a_plain_loop_on_draws_with_repeats(seed):
    graph = nx.barabasi_albert_graph(400, 2, seed=seed)
    edges = pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])
    interactome = build_interactome(edges, min_score=None)
    dist = shortest_path_lengths(interactome, use_cache=False)
    rng = np.random.default_rng(seed)
    gene_sizes = rng.integers(1, 60, size=25)
    target_sizes = rng.integers(1, 7, size=8)
    gene_sizes[3] = target_sizes[2] = 1  # undefined: a set of one node
    targets, target_weight, drug_start = _groups(rng, len(dist), target_sizes, 0.2)
    genes, gene_weight, pathway_start = _groups(rng, len(dist), gene_sizes, 0.1)
    view = DistanceView(
        dist=dist,
        targets=targets,
        genes=genes,
        target_weight=target_weight,
        gene_weight=gene_weight,
        drug_start=drug_start,
        pathway_start=pathway_start,
        buckets=size_buckets(gene_sizes, pathway_start),
    )
    num, den = separation_parts(view)
    assert num.dtype == np.int64 and den.dtype == np.int64
    with np.errstate(invalid="ignore"):
        fast = num / den
    target_ends, gene_ends = np.append(drug_start, len(targets)), np.append(pathway_start, len(genes))
    slow = np.array(
        [
            [
                _brute(
                    dist, targets[target_ends[d] : target_ends[d + 1]], genes[gene_ends[p] : gene_ends[p + 1]]
                )
                for d in range(len(target_sizes))
            ]
            for p in range(len(gene_sizes))
        ]
    )
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    assert np.isnan(slow).any() and np.isfinite(slow).any()


def _scale_free(n=500, seed=0):
    graph = nx.barabasi_albert_graph(n, 2, seed=seed)
    return pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])


def _sets(seed=0):
    rng = np.random.default_rng(seed)
    sets = {
        f"set{i}": [f"g{j}" for j in rng.choice(500, size=rng.integers(3, 40), replace=False)]
        for i in range(10)
    }
    sets["hubs"] = ["g0", "g1", "g2", "g3"]
    targets = pd.DataFrame(
        {"drug": ["hubby", "hubby", "leafy", "leafy", "solo"], "target": ["g0", "g2", "g490", "g498", "g300"]}
    )
    return targets, sets


def test_null_z_and_undefined_sets():
    targets, sets = _sets()
    sets["one_gene"] = ["g7"]
    table = _run(_scale_free(), targets, sets, n_random=300, min_bin_size=50)
    solo = table[table["drug"] == "solo"]
    assert solo["separation"].isna().all() and solo["z"].isna().all() and solo["p_value"].isna().all()
    assert not solo["proximal"].any() and solo["computable"].all()
    assert set(solo["note"]) == {
        "separation needs two or more nodes in each set (<d_AA> is a distance to another member)"
    }
    assert table.loc[table["pathway"] == "one_gene", "z"].isna().all()
    defined = table[(table["drug"] != "solo") & (table["pathway"] != "one_gene")]
    assert np.isfinite(defined[["z", "p_value", "null_mean", "null_sd"]].to_numpy()).all()
    hub = defined[(defined["drug"] == "hubby") & (defined["pathway"] == "hubs")].iloc[0]
    # overlapping sets: negative separation, and closer than degree-matched random sets
    assert hub["separation"] < 0 and hub["z"] < 0


def test_same_seed_is_byte_identical_whatever_n_jobs():
    targets, sets = _sets()
    runs = [
        _run(_scale_free(), targets, sets, n_random=120, min_bin_size=50, random_state=4, n_jobs=j).to_csv(
            sep="\t", index=False
        )
        for j in (1, 1, 2)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_separation_takes_only_the_null_option():
    targets, sets = _sets()
    with pytest.raises(InputError, match="measure 'separation' has no option 'restart' \\(known: null\\)"):
        _run(_scale_free(), targets, sets, restart=0.5)


@pytest.mark.parametrize("m", [3, 1])  # m = 1: a tree, where members at distance 3 or more are common
def test_large_sets_settled_by_edges_match_the_distance_rows(m):
    graph = nx.barabasi_albert_graph(1500, m, seed=5)
    edges = pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])
    interactome = build_interactome(edges, min_score=None)
    dist = shortest_path_lengths(interactome, use_cache=False)
    rng = np.random.default_rng(5)
    # small sets: hubs (more than 64 neighbours) read their rows; distance 2 through a hub is found there
    sizes = np.array([300, 20, 600, 257, 1, 2, 5, 8, 12, 40, 70])
    nodes, weight, starts = _groups(rng, len(dist), sizes, 0.05)
    adjacency = (interactome.indptr, interactome.indices)
    by_edges = within_set_nearest(dist, nodes, weight, starts, adjacency)
    by_rows = within_set_nearest(dist, nodes, weight, starts)
    ends = np.append(starts, len(nodes))
    expected = []
    for s, e in itertools.pairwise(ends):
        members = np.unique(nodes[s:e])
        block = dist[np.ix_(members, members)].astype(int)
        np.fill_diagonal(block, 10**6)
        expected.append(int(block.min(axis=1).sum()) if len(members) > 1 else 0)
    assert by_edges.tolist() == by_rows.tolist() == expected


def test_a_drug_without_any_z_says_why_when_selecting_pathways():
    from organoidrx.models import ProximalPathwaySelector

    targets, sets = _sets()
    table = _run(_scale_free(), targets, sets, n_random=20, min_bin_size=50)
    selector = ProximalPathwaySelector(proximity=table, drug="solo")
    scores = pd.DataFrame(np.zeros((3, len(sets))), columns=list(sets))
    with pytest.raises(
        InputError, match=r"smallest: nan\); the table says: separation needs two or more nodes"
    ):
        selector.fit(scores)


def test_distance_two_through_a_hub_by_hand():
    """A hub H (zhub, 100 leaves) outside the counts: a - v - H puts a at distance 2 from H, which only a's row
    shows (after leaf0 at distance 3 in node order); leaf0 - H - v is distance 2 through a non-member, which the
    counts show."""
    edges = [("H", f"leaf{i}") for i in range(100)] + [("a", "v"), ("v", "H")]
    edges = [tuple(g.replace("H", "zhub") for g in edge) for edge in edges]  # node order is by name
    interactome = build_interactome(pd.DataFrame(edges, columns=["gene_a", "gene_b"]), min_score=None)
    dist = shortest_path_lengths(interactome, use_cache=False)
    index = {name: i for i, name in enumerate(interactome.nodes)}
    sets = [
        ["a", "zhub"],
        ["a", "leaf0"],
        ["a", "v", "leaf0"],
        ["leaf1", "leaf2", "zhub"],
        ["a", "leaf0", "zhub"],
    ]
    assert index["a"] < index["leaf0"] < index["zhub"]
    nodes = np.array([index[g] for members in sets for g in members])
    starts = np.cumsum([0] + [len(m) for m in sets[:-1]])
    adjacency = (interactome.indptr, interactome.indices)
    expected = [2 + 2, 3 + 3, 1 + 1 + 2, 1 + 1 + 1, 2 + 1 + 1]
    for graph in (adjacency, None):
        assert (
            within_set_nearest(dist, nodes, np.ones(len(nodes), np.int64), starts, graph).tolist() == expected
        )


def test_null_counts_compare_large_integer_parts_exactly():
    """Separation of two sets of ~1,000 nodes has denominators 2nk(n+k) ~ 1e10: the cross products of a draw's
    and the observed parts pass int64, and the count of draws at least as close must not wrap around."""
    from organoidrx.network._proximity import _at_most

    rng = np.random.default_rng(0)
    den = np.full(200, 2 * 1400 * 1400 * 2800, dtype=np.int64)  # 1.1e10
    num = rng.integers(-(10**10), 10**10, size=200, dtype=np.int64)
    obs_num, obs_den = np.int64(-6 * 10**9), np.int64(2 * 1300 * 1500 * 2800)
    exact = [int(a) * int(obs_den) <= int(obs_num) * int(b) for a, b in zip(num, den, strict=True)]
    assert (num * obs_den <= obs_num * den).tolist() != exact  # int64 wraps here
    np.testing.assert_array_equal(_at_most(num, den, obs_num, obs_den), exact)
    # an exact tie of large parts is a tie, and small parts keep the integer comparison
    tie = np.array([obs_num * 2], dtype=np.int64), np.array([obs_den * 2], dtype=np.int64)
    assert _at_most(*tie, obs_num, obs_den).all()
    assert _at_most(np.array([3, 4]), np.array([6, 6]), 1, 2).tolist() == [True, False]
