"""Interactome building and all-pairs shortest paths: hand-counted graphs, scipy agreement, cache, memory refusal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from organoidrx._utils import InputError
from organoidrx.network import _distances, build_interactome, check_memory, shortest_path_lengths

# A tree A-B-C-D-E with a branch C-F-G-H, plus a separate pair X-Y (dropped: not in the largest component).
TREE = pd.DataFrame(
    [
        ("A", "B", 900),
        ("B", "C", 900),
        ("C", "D", 900),
        ("D", "E", 900),
        ("C", "F", 900),
        ("F", "G", 900),
        ("G", "H", 900),
        ("X", "Y", 900),
        ("A", "H", 500),  # below the threshold
        ("B", "B", 999),  # self-loop
        ("C", "B", 950),  # duplicate of B-C in the other direction
    ],
    columns=["gene_a", "gene_b", "score"],
)


def _graph():
    return build_interactome(TREE, min_score=700)


def test_build_keeps_largest_component_above_threshold():
    graph = _graph()
    assert list(graph.nodes) == list("ABCDEFGH")
    assert graph.n_edges == 7
    assert graph.summary["edges_below_min_score"] == 1
    assert graph.summary["self_loops"] == 1
    assert graph.summary["duplicate_edges"] == 1
    assert graph.summary["nodes_outside_lcc"] == 2
    assert dict(zip(graph.nodes, graph.degree, strict=True))["C"] == 3


def test_threshold_is_strict_and_none_keeps_all():
    edges = pd.DataFrame({"gene_a": ["A", "B"], "gene_b": ["B", "C"], "score": [700, 701]})
    assert build_interactome(edges, min_score=700).n_nodes == 2
    assert build_interactome(edges.drop(columns="score"), min_score=None).n_nodes == 3
    # a negative threshold keeps every edge, as read_network and the config's min_score = -1 do
    unscored = edges.assign(score=np.nan)  # read_network's table of a file without scores
    assert build_interactome(unscored, min_score=-1).n_nodes == 3
    with pytest.raises(InputError, match=r"no edge has a score .* min_score=None or a negative value"):
        build_interactome(unscored, min_score=700)


def test_build_errors_name_the_problem():
    with pytest.raises(InputError, match="missing columns"):
        build_interactome(TREE.drop(columns="score"), min_score=700)
    with pytest.raises(InputError, match="no edge left"):
        build_interactome(TREE, min_score=1000)
    bad = TREE.astype({"score": object})
    bad.loc[0, "score"] = "high"
    with pytest.raises(InputError, match="'score' must be numeric"):
        build_interactome(bad, min_score=700)


def test_hand_counted_distances(tmp_path):
    graph = _graph()
    dist = shortest_path_lengths(graph, use_cache=False)
    at = {g: i for i, g in enumerate(graph.nodes)}
    expected = {("A", "E"): 4, ("A", "H"): 5, ("E", "H"): 5, ("B", "G"): 3, ("D", "F"): 2, ("C", "C"): 0}
    for (u, v), d in expected.items():
        assert dist[at[u], at[v]] == d
        assert dist[at[v], at[u]] == d
    assert dist.dtype == np.uint8


def test_edge_order_does_not_change_graph_or_distances():
    shuffled = TREE.sample(frac=1.0, random_state=3).rename(columns={"gene_a": "gene_b", "gene_b": "gene_a"})
    a, b = _graph(), build_interactome(shuffled, min_score=700)
    assert a.content_hash() == b.content_hash()
    np.testing.assert_array_equal(
        shortest_path_lengths(a, use_cache=False), shortest_path_lengths(b, use_cache=False)
    )


@pytest.mark.parametrize(("n", "m", "seed"), [(7, 12, 0), (130, 300, 1), (700, 2100, 2)])
def test_bitset_bfs_matches_scipy(n, m, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, m)
    b = rng.integers(0, n, m)
    edges = pd.DataFrame({"gene_a": [f"g{i}" for i in a], "gene_b": [f"g{i}" for i in b]})
    graph = build_interactome(edges, min_score=None)
    adjacency = sp.csr_matrix(
        (np.ones(len(graph.indices)), graph.indices, graph.indptr), shape=(graph.n_nodes, graph.n_nodes)
    )
    expected = csgraph.shortest_path(adjacency, unweighted=True, directed=False)
    np.testing.assert_array_equal(shortest_path_lengths(graph, use_cache=False), expected.astype(np.uint8))


def test_cache_is_keyed_by_content_and_reused(tmp_path, monkeypatch):
    graph = _graph()
    first = shortest_path_lengths(graph, cache_dir=tmp_path)
    files = list(tmp_path.glob("distances-*.npy"))
    assert len(files) == 1 and graph.content_hash()[:32] in files[0].name

    def fail(*args, **kwargs):
        raise AssertionError("distances recomputed despite the cache")

    monkeypatch.setattr(_distances, "_bfs_all_pairs", fail)
    np.testing.assert_array_equal(shortest_path_lengths(graph, cache_dir=tmp_path), first)
    other = build_interactome(TREE.iloc[:6], min_score=700)
    with pytest.raises(AssertionError, match="recomputed"):
        shortest_path_lengths(other, cache_dir=tmp_path)


def test_corrupt_cache_is_recomputed(tmp_path, caplog):
    graph = _graph()
    first = shortest_path_lengths(graph, cache_dir=tmp_path)
    path = next(tmp_path.glob("distances-*.npy"))
    path.write_bytes(b"not a numpy file")
    np.testing.assert_array_equal(shortest_path_lengths(graph, cache_dir=tmp_path), first)
    assert "unreadable" in caplog.text


def test_another_networks_matrix_under_a_forged_checksum_file_is_recomputed(tmp_path, caplog):
    import json

    graph = _graph()  # the tree A..H
    moved = TREE.copy()
    moved.loc[(moved["gene_a"] == "G") & (moved["gene_b"] == "H"), "gene_a"] = "E"  # H hangs from E, not G
    rewired = build_interactome(moved, min_score=700)
    assert rewired.n_nodes == graph.n_nodes and rewired.content_hash() != graph.content_hash()
    first = shortest_path_lengths(graph, cache_dir=tmp_path)
    other = tmp_path / "other"
    shortest_path_lengths(rewired, cache_dir=other)
    mine, theirs = next(tmp_path.glob("distances-*.npy")), next(other.glob("distances-*.npy"))
    assert not np.array_equal(np.load(theirs), first)
    # the other matrix in this network's place, its checksum file edited to name this network
    mine.write_bytes(theirs.read_bytes())
    record = json.loads(theirs.with_suffix(".json").read_text())
    record["network_sha256"] = graph.content_hash()
    mine.with_suffix(".json").write_text(json.dumps(record))
    np.testing.assert_array_equal(shortest_path_lengths(graph, cache_dir=tmp_path), first)
    assert "distance 1" in caplog.text and "of another network" in caplog.text


@pytest.mark.parametrize("suffix", [".npy", ".json"])
def test_a_named_pipe_in_the_cache_is_recomputed_not_waited_on(tmp_path, caplog, suffix):
    import os

    from organoidrx.network import cache_entries

    graph = _graph()
    first = shortest_path_lengths(graph, cache_dir=tmp_path)
    path = next(tmp_path.glob("distances-*.npy")).with_suffix(suffix)
    path.unlink()
    os.mkfifo(path)  # opening it for reading would block until a writer came
    assert len(cache_entries(tmp_path)) <= 1
    np.testing.assert_array_equal(shortest_path_lengths(graph, cache_dir=tmp_path), first)
    assert "not a regular file" in caplog.text


def test_memory_refusal_is_a_clear_input_error():
    with pytest.raises(InputError, match=r"100,000 nodes.*n_nodes\^2 bytes.*higher min_score"):
        check_memory(100_000, max_memory=2 * 2**30)
    assert check_memory(1000, max_memory=2 * 2**30) >= 1000**2
    with pytest.raises(InputError, match=r"only 0\.0 MiB is allowed \(--memory, \[settings\] memory\)"):
        shortest_path_lengths(_graph(), use_cache=False, max_memory=1000)
