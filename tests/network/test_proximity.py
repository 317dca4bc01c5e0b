"""proximity(): hand-counted distances, invariances, determinism, Monte-Carlo agreement, gaps made explicit."""

from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.network import PROXIMAL_Z, proximity

TREE = pd.DataFrame(
    [("A", "B"), ("B", "C"), ("C", "D"), ("D", "E"), ("C", "F"), ("F", "G"), ("G", "H"), ("X", "Y")],
    columns=["gene_a", "gene_b"],
)


def _run(edges, targets, sets, **kwargs):
    kwargs.setdefault("min_score", None)
    kwargs.setdefault("use_cache", False)
    kwargs.setdefault("n_random", 50)
    return proximity(edges, targets, sets, **kwargs)


def test_hand_counted_closest_shortest_separation():
    targets = pd.DataFrame({"drug": ["d", "d"], "target": ["A", "E"]})
    table = _run(TREE, targets, {"p": ["D", "H", "Y", "NOT_A_GENE"]})
    row = table.iloc[0]
    # min(d(A,D)=3, d(A,H)=5) = 3; min(d(E,D)=1, d(E,H)=5) = 1; mean 2
    assert row["closest_distance"] == 2.0
    assert row["shortest_distance"] == (3 + 5 + 1 + 5) / 4
    # d_TS = (3 + 1 + 1 + 5) / 4; d_TT = d(A,E) = 4; d_SS = d(D,H) = 4
    assert row["separation"] == pytest.approx(2.5 - 4.0)
    assert row["n_targets"] == 2 and row["n_pathway_genes"] == 2
    assert row["n_pathway_genes_missing"] == 2
    assert list(table.columns[:7]) == [
        "drug",
        "pathway",
        "n_targets",
        "n_targets_missing",
        "n_pathway_genes",
        "n_pathway_genes_missing",
        "closest_distance",
    ]


def test_zero_null_sd_gives_zero_z():
    # star with min_bin_size=1: the hub is alone in its bin (it stands for itself) and every leaf is 1 away
    star = pd.DataFrame([("HUB", f"L{i}") for i in range(6)], columns=["gene_a", "gene_b"])
    table = _run(star, pd.DataFrame({"drug": ["d"], "target": ["HUB"]}), {"s": ["L0", "L1"]}, min_bin_size=1)
    row = table.iloc[0]
    assert row["closest_distance"] == 1.0
    assert row["null_sd"] == 0.0 and row["z"] == 0.0 and row["p_value"] == 1.0
    assert not row["proximal"]


def _scale_free(n=600, seed=0):
    graph = nx.barabasi_albert_graph(n, 2, seed=seed)
    return pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])


def _sets(seed=0, n_sets=12):
    rng = np.random.default_rng(seed)
    sets = {
        f"set{i}": [f"g{j}" for j in rng.choice(600, size=rng.integers(3, 40), replace=False)]
        for i in range(n_sets)
    }
    sets["near_hub"] = ["g0", "g1", "g2", "g3"]
    targets = pd.DataFrame(
        {"drug": ["hubby", "hubby", "leafy", "leafy", "solo"], "target": ["g0", "g1", "g590", "g598", "g300"]}
    )
    return targets, sets


def test_edge_order_and_direction_do_not_change_the_table():
    edges = _scale_free()
    targets, sets = _sets()
    shuffled = edges.sample(frac=1.0, random_state=7).rename(columns={"gene_a": "gene_b", "gene_b": "gene_a"})
    a = _run(edges, targets, sets, min_bin_size=50, n_random=100)
    b = _run(shuffled, targets, sets, min_bin_size=50, n_random=100)
    assert a.to_csv(sep="\t", index=False) == b.to_csv(sep="\t", index=False)


def test_same_seed_is_byte_identical_whatever_n_jobs():
    edges = _scale_free()
    targets, sets = _sets()
    runs = [
        _run(edges, targets, sets, min_bin_size=50, n_random=120, random_state=5, n_jobs=j).to_csv(
            sep="\t", index=False
        )
        for j in (1, 1, 2)
    ]
    assert runs[0] == runs[1] == runs[2]
    other = _run(edges, targets, sets, min_bin_size=50, n_random=120, random_state=6)
    assert other.to_csv(sep="\t", index=False) != runs[0]


def test_different_seeds_agree_within_monte_carlo_error():
    edges = _scale_free()
    targets, sets = _sets()
    a = _run(edges, targets, sets, min_bin_size=50, n_random=1000, random_state=1)
    b = _run(edges, targets, sets, min_bin_size=50, n_random=1000, random_state=2)
    assert np.isfinite(a["z"]).all()
    dz = np.abs(a["z"] - b["z"])
    # the standard error of an estimated z at 1,000 draws is about sqrt((1 + z^2 / 2) / 1000) < 0.1 here
    assert (dz <= 0.15 + 0.08 * np.abs(a["z"])).all(), dz.max()
    assert np.abs(a["p_value"] - b["p_value"]).max() < 0.1  # 4.5 standard errors at p = 0.5
    # the hub targets are next to the hub set: close, significantly
    near = a[(a["drug"] == "hubby") & (a["pathway"] == "near_hub")].iloc[0]
    assert near["z"] <= PROXIMAL_Z and near["proximal"] and near["p_value"] < 0.05


def test_every_requested_drug_gets_rows(caplog):
    edges = pd.concat(
        [_scale_free(), pd.DataFrame({"gene_a": ["ISLE1"], "gene_b": ["ISLE2"]})], ignore_index=True
    )
    targets, sets = _sets()
    targets = pd.concat(
        [
            targets,
            pd.DataFrame(
                {
                    "drug": ["ghost", "island", "mixed", "mixed"],
                    "target": ["NOT_IN_NETWORK", "ISLE1", "NOT_IN_NETWORK", "ISLE2"],
                }
            ),
        ],
        ignore_index=True,
    )
    sets["empty"] = ["NOPE"]
    sets["islet"] = ["ISLE1", "ISLE2"]
    with caplog.at_level(logging.WARNING):
        table = _run(edges, targets, sets, min_bin_size=50, drugs=["SOLO", "ghost", "island", "mixed"])
    assert table["drug"].unique().tolist() == ["solo", "ghost", "island", "mixed"]
    assert len(table) == 4 * len(sets)
    ghost = table[table["drug"] == "ghost"]
    assert not ghost["computable"].any() and ghost["z"].isna().all()
    assert set(ghost["note"]) == {"no target in the network"}
    island = table[table["drug"] == "island"]
    assert set(island["note"]) == {"targets only outside the network's largest connected component"}
    empty = table[(table["pathway"] == "empty") & (table["drug"] == "solo")].iloc[0]
    assert not empty["computable"] and empty["note"] == "no pathway gene in the network"
    # a target or gene in a small component is never reported as missing from the network
    mixed = table[table["drug"] == "mixed"]
    assert set(mixed["note"]) == {
        "no target in the network's largest connected component (1 in a smaller component, 1 not in the network)"
    }
    islet = table[(table["pathway"] == "islet") & (table["drug"] == "solo")].iloc[0]
    assert not islet["computable"]
    assert islet["note"] == "pathway genes only outside the network's largest connected component"
    assert "'ghost' has no target in the network" in caplog.text
    assert "'island' has targets only outside the network's largest connected component" in caplog.text
    assert "2 gene sets have no gene in the network's largest connected component" in caplog.text
    assert "islet (pathway genes only outside the network's largest connected component)" in caplog.text


def test_requested_drugs_absent_from_the_targets_are_an_error():
    targets, sets = _sets()
    targets.attrs["source"] = "/data/targets.tsv"
    with pytest.raises(
        InputError,
        match=r"targets\.tsv: 2 drug\(s\) from the requested drugs not in this table: 'unknown'; 'hubyy' \(close "
        r"matches: HUBBY\)",
    ):
        _run(_scale_free(), targets, sets, drugs=["solo", "unknown", "hubyy"])


def test_requested_drugs_match_any_spelling_the_drug_tables_know():
    """'5-FU' is FLUOROURACIL in the targets table, as in a run's [drugs] names."""
    targets, sets = _sets()
    targets["drug"] = targets["drug"].replace({"solo": "FLUOROURACIL"})
    table = _run(_scale_free(), targets, sets, drugs=["5-FU", "Hubby"])
    assert list(dict.fromkeys(table["drug"])) == ["FLUOROURACIL", "hubby"]


def test_identical_target_sets_get_identical_rows():
    edges = _scale_free()
    targets, sets = _sets()
    twin = targets[targets["drug"] == "hubby"].assign(drug="twin")
    table = _run(edges, pd.concat([targets, twin]), sets, min_bin_size=50)
    cols = ["closest_distance", "z", "p_value"]
    np.testing.assert_array_equal(
        table.loc[table["drug"] == "hubby", cols].to_numpy(),
        table.loc[table["drug"] == "twin", cols].to_numpy(),
    )


def test_integer_ids_are_the_same_genes_as_their_strings():
    """Entrez ids given as numbers (also as floats beside a missing target) name the same nodes as strings do."""
    edges = pd.DataFrame({"gene_a": [1, 2, 3, 4], "gene_b": [2, 3, 4, 5]})
    as_text = _run(edges.astype(str), pd.DataFrame({"drug": ["x"], "target": ["1"]}), {"p": ["4", "5"]})
    for target in ([1], [1.0], np.array([1], dtype=np.int64)):
        table = pd.DataFrame({"drug": ["x"], "target": target})
        numeric = _run(edges, table, {"p": [4, 5]})
        pd.testing.assert_frame_equal(numeric, as_text)
    with_missing = pd.DataFrame({"drug": ["x", "x"], "target": [1, np.nan]})  # pandas stores 1.0
    assert with_missing["target"].dtype == float
    pd.testing.assert_frame_equal(_run(edges, with_missing, {"p": [4, 5]}), as_text)
    # one edge without its first gene makes pandas store that whole column as floats (1.0, 2.0, ...): the same
    # nodes still, not a second copy of each ('1.0' beside '1') that would rewire the network
    broken = pd.concat([edges, pd.DataFrame({"gene_a": [np.nan], "gene_b": [5]})], ignore_index=True)
    assert broken["gene_a"].dtype == float
    rebuilt = _run(broken, pd.DataFrame({"drug": ["x"], "target": [1]}), {"p": [4, 5]})
    pd.testing.assert_frame_equal(rebuilt, as_text)
    # gene sets with float genes (as pandas stores integers beside a missing value) name the same nodes
    long_sets = pd.DataFrame({"pathway": ["p", "p"], "gene": [4.0, 5.0]})
    pd.testing.assert_frame_equal(
        _run(edges, pd.DataFrame({"drug": ["x"], "target": [1]}), long_sets), as_text
    )


@pytest.mark.parametrize("measure", ["closest", "separation", "rwr"])
def test_a_drug_s_rows_do_not_depend_on_the_other_drugs_or_pathways_of_the_call(measure):
    """Same seed, same draws: a drug measured alone, with other drugs, or on fewer pathways gets the same z."""
    edges = _scale_free()
    targets, sets = _sets()
    cols = ["z", "p_value", "null_mean", "null_sd"]
    every = _run(edges, targets, sets, measure=measure, n_random=60).set_index(["drug", "pathway"])
    for drug in pd.unique(targets["drug"]):
        alone = _run(edges, targets, sets, drugs=[drug], measure=measure, n_random=60)
        pd.testing.assert_frame_equal(alone.set_index(["drug", "pathway"])[cols], every.loc[[drug], cols])
    fewer = _run(edges, targets, {p: sets[p] for p in list(sets)[:3]}, measure=measure, n_random=60)
    fewer = fewer.set_index(["drug", "pathway"])
    pd.testing.assert_frame_equal(fewer[cols], every.loc[fewer.index, cols])


@pytest.mark.parametrize("measure", ["closest", "shortest", "separation", "diamond"])
def test_the_order_of_a_set_s_genes_and_of_the_targets_changes_nothing(measure):
    """A gene set is a set: listing its genes (or a drug's targets) in another order gives the same bytes."""
    edges = _scale_free()
    targets, sets = _sets()
    kwargs = {"measure": measure, "n_random": 60, "min_bin_size": 50}
    first = _run(edges, targets, sets, **kwargs)
    reversed_ = _run(edges, targets.iloc[::-1], {p: genes[::-1] for p, genes in sets.items()}, **kwargs)
    key = ["drug", "pathway"]
    first, reversed_ = (t.sort_values(key).reset_index(drop=True) for t in (first, reversed_))
    assert first.to_csv(sep="\t", index=False) == reversed_.to_csv(sep="\t", index=False)


def test_shortest_measure_has_its_own_null():
    edges = _scale_free()
    targets, sets = _sets()
    closest = _run(edges, targets, sets, min_bin_size=50, n_random=200)
    shortest = _run(edges, targets, sets, min_bin_size=50, n_random=200, measure="shortest")
    assert shortest.attrs["measure"] == "shortest"
    np.testing.assert_array_equal(closest["shortest_distance"], shortest["shortest_distance"])
    assert not np.allclose(closest["null_mean"], shortest["null_mean"])
    assert (shortest["null_mean"] > closest["null_mean"]).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_random": 0}, "n_random must be an integer between 1 and 1,000,000; got 0"),
        ({"measure": "separatoin"}, r"unknown measure .separatoin. \(did you mean .separation.\?\)"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"drugs": "solo"}, "single string"),
    ],
)
def test_bad_arguments(kwargs, match):
    targets, sets = _sets()
    with pytest.raises(InputError, match=match):
        _run(_scale_free(), targets, sets, **kwargs)


def test_bad_tables():
    targets, sets = _sets()
    with pytest.raises(InputError, match="targets is missing columns"):
        _run(_scale_free(), targets.rename(columns={"target": "gene"}), sets)
    with pytest.raises(InputError, match="gene_sets must have columns"):
        _run(_scale_free(), targets, pd.DataFrame({"set": ["a"], "gene": ["g1"]}))


def test_timings_and_metadata():
    targets, sets = _sets()
    table = _run(_scale_free(), targets, sets, min_bin_size=50)
    assert {"network", "distances", "observed", "null", "total"} <= set(table.attrs["timings"])
    assert table.attrs["network"]["nodes"] == 600
    assert sum(size for _, _, size in table.attrs["degree_bins"]) == 600


@pytest.mark.parametrize("measure", ["closest", "shortest", "separation", "rwr", "diamond"])
def test_drugs_measured_in_ranges_give_the_same_table(monkeypatch, measure):
    """Large problems measure the drugs in ranges of bounded memory; a column's numbers do not depend on them."""
    from organoidrx.datasets import make_synthetic_cohort
    from organoidrx.network import _proximity

    cohort = make_synthetic_cohort(n_genes=400, n_pathways=30, n_organoids=8, drugs=("A", "B", "C", "D"))
    options = {"n_added": 4} if measure == "diamond" else {}

    def run():
        return proximity(
            cohort.network, cohort.targets, cohort.gene_sets, n_random=60, use_cache=False, measure=measure,
            n_jobs=2, **options,
        ).to_csv(sep="\t")  # fmt: skip

    whole = run()
    monkeypatch.setattr(_proximity, "_CELLS", 1)  # one drug per range
    assert run() == whole


def test_no_drug_with_a_target_in_the_network_is_one_line_naming_both_sides():
    """Targets and network named differently (ids against symbols): refused, not a table of empty rows."""
    edges = _scale_free()
    targets = pd.DataFrame({"drug": ["d1", "d2"], "target": ["7157", "1956"]})
    with pytest.raises(
        InputError, match=r"none of the 2 drugs has a target .* \(targets '1956', '7157'; network"
    ):
        _run(edges, targets, _sets()[1])


def test_drugs_with_targets_only_in_small_components_are_told_so():
    """TYMS in a three-node component beside the main one: the error names the component, not the identifiers."""
    edges = pd.concat(
        [_scale_free(), pd.DataFrame({"gene_a": ["TYMS", "DHFR"], "gene_b": ["DHFR", "DHFR2"]})],
        ignore_index=True,
    )
    targets = pd.DataFrame({"drug": ["FLUOROURACIL"], "target": ["TYMS"]})
    with pytest.raises(InputError, match=r"1 of their 1 targets are in smaller components \('TYMS'\)"):
        _run(edges, targets, _sets()[1])


def test_a_degenerate_null_is_said_in_the_note():
    """Two nodes: every draw gives the same distance, so sd = 0, z = 0 by convention, and the note says why."""
    edges = pd.DataFrame({"gene_a": ["A"], "gene_b": ["B"]})
    targets = pd.DataFrame({"drug": ["d"], "target": ["A"]})
    row = _run(edges, targets, {"p": ["B"]}, min_bin_size=1).iloc[0]
    assert row["null_sd"] == 0 and row["z"] == 0 and row["computable"]
    assert row["note"].startswith("every random draw gave the same value")


def test_a_handful_of_null_draws_is_warned_about(caplog):
    edges = pd.DataFrame({"gene_a": ["A"], "gene_b": ["B"]})
    targets = pd.DataFrame({"drug": ["d"], "target": ["A"]})
    with caplog.at_level("WARNING", logger="organoidrx"):
        _run(edges, targets, {"p": ["B"]}, min_bin_size=1, n_random=2)
    assert "n_random = 2: a z-score rests on the standard deviation of only 2 random draws" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="organoidrx"):
        _run(edges, targets, {"p": ["B"]}, min_bin_size=1, n_random=20)
    assert "n_random" not in caplog.text


@pytest.mark.parametrize("measure", ["closest", "separation"])
def test_a_targets_only_null_keeps_the_pathway_and_matches_the_exact_mean(measure):
    """On a cycle every node has degree 2 (one degree bin), so a drawn target is a uniform node: with
    ``null = "targets"`` the null of one target's closest distance to a fixed pathway is the distance of a
    uniform node to it, whose mean and sd are counted by hand; the default null also redraws the pathway."""
    n = 40
    edges = pd.DataFrame(
        {"gene_a": [f"n{i}" for i in range(n)], "gene_b": [f"n{(i + 1) % n}" for i in range(n)]}
    )
    pathway = {"arc": ["n0", "n1", "n2", "n3"]}
    if measure == "closest":
        targets = pd.DataFrame({"drug": ["d"], "target": ["n20"]})
        exact = np.array(
            [min(min(abs(u - p), n - abs(u - p)) for p in range(4)) for u in range(n)], dtype=float
        )
    else:  # two targets: s = d_AB - (d_AA + d_BB)/2 over all (ordered, distinct) pairs of uniform nodes
        targets = pd.DataFrame({"drug": ["d", "d"], "target": ["n20", "n22"]})
        graph = nx.cycle_graph(n)
        dist = dict(nx.all_pairs_shortest_path_length(graph))
        arc = [0, 1, 2, 3]
        d_bb = np.mean([min(dist[b][c] for c in arc if c != b) for b in arc])
        values = []
        for u in range(n):
            for v in range(n):
                if u == v:
                    continue
                d_ab = (
                    sum(min(dist[a][b] for b in arc) for a in (u, v))
                    + sum(min(dist[b][a] for a in (u, v)) for b in arc)
                ) / 6
                values.append(d_ab - (dist[u][v] + d_bb) / 2)
        exact = np.array(values)
    kwargs = {"measure": measure, "n_random": 4000, "min_bin_size": 1, "random_state": 3}
    fixed = _run(edges, targets, pathway, null="targets", **kwargs).iloc[0]
    mean, sd = exact.mean(), exact.std()
    assert abs(fixed["null_mean"] - mean) < 4 * sd / np.sqrt(4000)
    assert fixed["null_sd"] == pytest.approx(sd, rel=0.05)
    both = _run(edges, targets, pathway, **kwargs).iloc[0]
    assert abs(both["null_mean"] - mean) > 8 * sd / np.sqrt(4000)  # a spread-out random 'arc' is another null
    assert (
        both[f"{'closest_distance' if measure == 'closest' else 'separation'}"]
        == fixed[f"{'closest_distance' if measure == 'closest' else 'separation'}"]
    )


def test_an_interactome_built_by_hand_must_be_one_component():
    """Distances between components are undefined: a hand-made Interactome of two is refused, not measured as 255."""
    from organoidrx.network import Interactome

    two = Interactome(nodes=np.array(list("ABCDE")), indptr=np.array([0, 1, 2, 3, 4, 4]),
                      indices=np.array([1, 0, 3, 2]))  # fmt: skip
    with pytest.raises(
        InputError, match=r"has 3 connected components \(3 nodes outside the largest, e\.g\. 'C'"
    ):
        proximity(
            two, pd.DataFrame({"drug": ["x"], "target": ["A"]}), {"p": ["C"]}, n_random=5, use_cache=False
        )
    unsorted = Interactome(nodes=np.array(["B", "A"]), indptr=np.array([0, 1, 2]), indices=np.array([1, 0]))
    with pytest.raises(InputError, match="unique and sorted"):
        proximity(unsorted, pd.DataFrame({"drug": ["x"], "target": ["A"]}), {"p": ["B"]}, n_random=5)
