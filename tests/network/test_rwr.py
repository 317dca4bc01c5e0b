"""Random walk with restart (measure "rwr"): a walk counted by hand, networkx's personalised PageRank on small and
real networks, the targets-only null, determinism and option errors."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import shared_file

from organoidrx import InputError
from organoidrx.cli import main
from organoidrx.io import read_drug_targets, read_gmt, read_network
from organoidrx.network import build_interactome, proximity, shortest_path_lengths

PATH = pd.DataFrame([("a", "b"), ("b", "c")], columns=["gene_a", "gene_b"])


def _run(edges, targets, sets, **kwargs):
    kwargs.setdefault("min_score", None)
    kwargs.setdefault("use_cache", False)
    kwargs.setdefault("n_random", 50)
    return proximity(edges, targets, sets, measure="rwr", **kwargs)


def test_hand_counted_walk_on_a_path():
    # a-b-c, restart r = 1/2 at a (c = 1 - r): p_a = r + c p_b / 2, p_b = c (p_a + p_c), p_c = c p_b / 2
    # gives p = (7/12, 1/3, 1/12); the pathway {b, c} scores (1/3 + 1/12) / 2 = 5/24
    targets = pd.DataFrame({"drug": ["x"], "target": ["a"]})
    table = _run(PATH, targets, {"bc": ["b", "c"], "a": ["a"]}, restart=0.5, min_bin_size=1)
    np.testing.assert_allclose(table["rwr_score"], [5 / 24, 7 / 12], rtol=1e-12)
    assert table.attrs["measure_options"] == {"restart": 0.5}
    assert table.attrs["measure_info"] == {"restart": 0.5}


def _scale_free(n=400, seed=0):
    graph = nx.barabasi_albert_graph(n, 2, seed=seed)
    return graph, pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])


def _inputs():
    graph, edges = _scale_free()
    rng = np.random.default_rng(0)
    sets = {
        f"s{i}": [f"g{j}" for j in rng.choice(400, size=rng.integers(2, 30), replace=False)]
        for i in range(12)
    }
    sets["around_g399"] = ["g399"] + [f"g{v}" for v in graph.neighbors(399)]
    targets = pd.DataFrame({"drug": ["d1", "d1", "d2", "d3"], "target": ["g0", "g7", "g399", "g250"]})
    return graph, edges, targets, sets


@pytest.mark.parametrize("restart", [0.15, 0.5, 0.9])
def test_equals_networkx_pagerank(restart):
    graph, edges, targets, sets = _inputs()
    table = _run(edges, targets, sets, restart=restart, min_bin_size=40)
    relabelled = nx.relabel_nodes(graph, {v: f"g{v}" for v in graph})
    for drug, group in targets.groupby("drug"):
        ranks = nx.pagerank(
            relabelled,
            alpha=1 - restart,
            personalization=dict.fromkeys(group["target"], 1.0),
            tol=1e-17,
            max_iter=10_000,
        )
        rows = table[table["drug"] == drug].set_index("pathway")["rwr_score"]
        expected = pd.Series({p: np.mean([ranks[g] for g in genes]) for p, genes in sets.items()})
        np.testing.assert_allclose(
            rows[expected.index], expected, rtol=1e-8, atol=1e-13
        )  # networkx: L1 change < n tol


def test_targets_only_null_and_orientation():
    _, edges, targets, sets = _inputs()
    table = _run(edges, targets, sets, n_random=400, min_bin_size=40, random_state=2)
    near = table[(table["drug"] == "d2") & (table["pathway"] == "around_g399")].iloc[0]
    # the walk restarts inside the set: far more probability than for random degree-matched targets
    assert near["rwr_score"] > near["null_mean"] and near["z"] < -1.2816 and near["proximal"]
    assert near["p_value"] == pytest.approx(1 / 401)
    assert (table["null_sd"] > 0).all() and table["z"].notna().all()
    # z = (null mean - score) / sd: negative means more probability than chance, as smaller distances for the others
    np.testing.assert_allclose(
        table["z"], (table["null_mean"] - table["rwr_score"]) / table["null_sd"], rtol=1e-9, atol=1e-9
    )


def test_same_seed_is_byte_identical_whatever_n_jobs():
    _, edges, targets, sets = _inputs()
    runs = [
        _run(edges, targets, sets, n_random=100, min_bin_size=40, random_state=3, n_jobs=j).to_csv(
            sep="\t", index=False
        )
        for j in (1, 1, 2)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_a_pathway_s_column_is_the_same_bits_alone_or_among_others():
    """Each pathway's solve is independent of the pathways solved beside it, to the last bit (numpy sums a lone
    column in another order than a column of a wider array)."""
    from organoidrx.network import propagation_matrix

    graph = build_interactome(_scale_free(n=3000, seed=4)[1], min_score=None)
    rng = np.random.default_rng(1)
    sets = [rng.choice(graph.n_nodes, size=int(rng.integers(3, 40)), replace=False) for _ in range(12)]

    def solve(chosen):
        genes = np.concatenate(chosen).astype(np.int64)
        start = np.concatenate([[0], np.cumsum([len(c) for c in chosen])[:-1]]).astype(np.int64)
        return propagation_matrix(graph, genes, start)

    together = solve(sets)
    for j in (0, 5, 11):
        np.testing.assert_array_equal(solve([sets[j]])[:, 0], together[:, j])
    np.testing.assert_array_equal(solve(sets[1:]), together[:, 1:])


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, float("nan")])
def test_restart_outside_zero_one_is_refused(value):
    _, edges, targets, sets = _inputs()
    with pytest.raises(
        InputError, match=r"^restart must be a finite number between 0 and 1 \(exclusive\); got "
    ):
        _run(edges, targets, sets, restart=value)


def test_cli_flag_and_its_error(tmp_path, capsys):
    _, edges, targets, sets = _inputs()
    network = tmp_path / "net.tsv"
    edges.to_csv(network, sep="\t", index=False)
    target_file = tmp_path / "targets.tsv"
    targets.to_csv(target_file, sep="\t", index=False)
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("".join(f"{p}\tna\t" + "\t".join(g) + "\n" for p, g in sets.items()))
    out = tmp_path / "rwr.tsv"
    args = ["proximity", "--network", str(network), "--targets", str(target_file), "--gene-sets", str(gmt)]
    args += ["--min-score", "-1", "--min-bin-size", "40", "--n-random", "20", "--no-cache", "--out", str(out)]
    assert main([*args, "--measure", "rwr", "--restart", "0.3"]) == 0
    assert "rwr_score" in pd.read_csv(out, sep="\t").columns
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # checked while parsing, before any file is read
        main([*args, "--measure", "rwr", "--restart", "2"])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert (
        len(err) == 1 and "--restart: must be a finite number between 0 and 1 (exclusive); got 2.0" in err[0]
    )
    assert main([*args, "--measure", "closest", "--restart", "0.3"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "--restart is not an option of measure 'closest'" in err[0]


STRING = "networks/string_dmfind/string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz"


def test_equals_networkx_pagerank_on_string(shared_data):
    """STRING pre-v12 > 700 (11,508 nodes), three Kong drugs x the 674 TCGA Reactome sets, restart 0.15.

    networkx stops when the L1 change of the whole vector is below n_nodes x tol; tol = 1e-17 leaves it about 2e-7
    relative on the least visited single nodes and below 1e-8 on every pathway mean.
    """
    network = read_network(
        shared_file(shared_data, STRING), edge_columns="symbol_1,symbol_2,combined_score", min_score=700
    )
    graph = build_interactome(network, min_score=None)
    targets = read_drug_targets(shared_file(shared_data, "kong2020/drug_targets.tsv"))
    gene_sets = read_gmt(shared_file(shared_data, "kong2020/reactome_msigdb_v6.1_tcga.gmt"))
    drugs = ["FLUOROURACIL", "CISPLATIN", "BORTEZOMIB"]
    table = proximity(
        graph,
        targets,
        gene_sets,
        drugs=drugs,
        measure="rwr",
        n_random=1,
        distances=shortest_path_lengths(graph),
    )
    table = table[table["computable"]]
    nodes = set(map(str, graph.nodes))
    nx_graph = graph.to_networkx()
    members = gene_sets[gene_sets["gene"].isin(nodes)].groupby("pathway")["gene"].apply(list)
    worst = 0.0
    for drug in drugs:
        seeds = [t for t in targets.loc[targets["drug"] == drug, "target"] if t in nodes]
        ranks = nx.pagerank(
            nx_graph, alpha=0.85, personalization=dict.fromkeys(seeds, 1.0), tol=1e-17, max_iter=10_000
        )
        rows = table[table["drug"] == drug].set_index("pathway")["rwr_score"]
        expected = np.array([np.mean([ranks[g] for g in members[p]]) for p in rows.index])
        worst = max(worst, float(np.max(np.abs(rows.to_numpy() - expected) / expected)))
    assert len(table) == 3 * 672
    assert worst <= 1e-8, worst


def test_a_draw_equal_to_the_observed_walk_up_to_rounding_is_a_tie():
    """A draw of the observed targets in another order sums the same scores in another order: a tie (counted as
    at least as close), not a draw that lost by one unit in the last place."""
    from organoidrx.network._proximity import _at_most

    observed = np.array([[-0.1 - 0.2 - 0.3]])  # parts of a higher-is-closer measure are negated
    reordered = np.array([[-0.3 - 0.2 - 0.1]])
    assert reordered[0, 0] != observed[0, 0]
    assert _at_most(reordered, np.ones(()), observed, np.ones(())).all()
    assert not _at_most(reordered * (1 - 1e-9), np.ones(()), observed, np.ones(())).all()
