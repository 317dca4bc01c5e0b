"""DIAMOnD module expansion: a graph worked by hand, a plain loop written from the paper on STRING (the same nodes
in the same order), the measure "diamond" with its null, determinism and option errors."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from tests.conftest import shared_file

from organoidrx import InputError
from organoidrx.io import read_network
from organoidrx.network import build_interactome, diamond_module, proximity

# seed S; A links S and B; B also links C; D links S only; E, F hang off C
EDGES = pd.DataFrame(
    [("S", "A"), ("S", "D"), ("A", "B"), ("B", "C"), ("C", "E"), ("C", "F"), ("A", "C")],
    columns=["gene_a", "gene_b"],
)


def _tail(k_s, k, n, s):
    """P(X >= k_s), X hypergeometric: k draws from n nodes of which s are in the module (exact fractions)."""
    return sum(math.comb(s, x) * math.comb(n - s, k - x) for x in range(k_s, min(k, s) + 1)) / math.comb(n, k)


def test_hand_counted_steps():
    graph = build_interactome(EDGES, min_score=None)
    table = diamond_module(graph, ["S"], n_added=3)
    # step 1, module {S} (s = 1, N = 7): A has k = 3, k_s = 1: p = 3/7; D has k = 1: p = 1/7 -> D
    # step 2, module {S, D} (s = 2): only A links the module (k_s = 1, k = 3): p = 1 - C(5,3)/C(7,3) = 5/7
    # step 3, module {S, D, A} (s = 3): B (k = 2, k_s = 1) p = 1 - C(4,2)/C(7,2) = 5/7;
    #         C (k = 4, k_s = 1) p = 1 - C(4,4)/C(7,4) = 34/35 -> B
    assert table["gene"].tolist() == ["D", "A", "B"]
    np.testing.assert_allclose(table["p_value"], [_tail(1, 1, 7, 1), _tail(1, 3, 7, 2), _tail(1, 2, 7, 3)])
    np.testing.assert_allclose(table["p_value"], [1 / 7, 5 / 7, 5 / 7], rtol=1e-12)
    assert table["degree"].tolist() == [1, 3, 2] and table["links_to_module"].tolist() == [1, 1, 1]
    assert table["rank"].tolist() == [1, 2, 3]


def test_ties_go_to_the_first_gene_and_the_component_can_run_out():
    star = pd.DataFrame([("HUB", leaf) for leaf in ["L3", "L1", "L2"]], columns=["gene_a", "gene_b"])
    table = diamond_module(build_interactome(star, min_score=None), ["HUB"], n_added=10)
    assert table["gene"].tolist() == ["L1", "L2", "L3"]  # equal p-values: node order; then nothing left


def test_bad_options_are_one_line_errors():
    graph = build_interactome(EDGES, min_score=None)
    with pytest.raises(InputError, match=r"^n_added must be an integer between 1 and 10,000; got 0\.$"):
        diamond_module(graph, ["S"], n_added=0)
    with pytest.raises(InputError, match=r"^alpha must be an integer between 1 and 1,000; got 0\.$"):
        diamond_module(graph, ["S"], alpha=0)
    with pytest.raises(InputError, match="none of the 1 seed genes is in the network"):
        diamond_module(graph, ["NOPE"])


# ----------------------------------------------------------------------------------------- slow reference
def _log_choose(n, k):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def reference_p(k_s, k, n, s):
    """DIAMOnD.py's p-value: the hypergeometric probabilities from k_s to min(k, s), each from log-gammas."""
    total = 0.0
    for x in range(k_s, min(k, s) + 1):
        if k - x > n - s:
            continue
        total += math.exp(_log_choose(s, x) + _log_choose(n - s, k - x) - _log_choose(n, k))
    return min(total, 1.0)


def reference_diamond(graph, seeds, n_added, alpha=1):
    """The paper's loop, plainly: score every node next to the module, add the smallest p (first name on ties)."""
    module = set(seeds)
    seed_links = {v: sum(1 for u in graph[v] if u in module) for v in graph}
    added = []
    while len(added) < n_added:
        best = None
        size = len(module) + (alpha - 1) * len(seeds)
        total = graph.number_of_nodes() + (alpha - 1) * len(seeds)
        for v in sorted(graph):
            if v in module:
                continue
            k_s = sum(1 for u in graph[v] if u in module)
            if k_s == 0:
                continue
            extra = (alpha - 1) * seed_links[v]
            p = reference_p(k_s + extra, graph.degree(v) + extra, total, size)
            if best is None or p < best[0]:
                best = (p, v)
        if best is None:
            break
        added.append(best[1])
        module.add(best[1])
    return added


STRING = "networks/string_dmfind/string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz"


@pytest.fixture(scope="module")
def string(shared_data):
    network = read_network(
        shared_file(shared_data, STRING), edge_columns="symbol_1,symbol_2,combined_score", min_score=700
    )
    graph = build_interactome(network, min_score=None)
    return graph, graph.to_networkx()


@pytest.mark.parametrize(
    ("seeds", "alpha"),
    [
        (["TYMS"], 1),  # fluorouracil
        (["TF", "MPG", "A2M", "ATOX1"], 1),  # cisplatin
        (["PSMB5", "PSMB1"], 1),  # bortezomib
        (["TF", "MPG", "A2M", "ATOX1"], 3),
    ],
)
def test_same_nodes_in_the_same_order_as_a_plain_loop_on_string(string, seeds, alpha):
    graph, nx_graph = string
    fast = diamond_module(graph, seeds, n_added=25, alpha=alpha)
    assert fast["gene"].tolist() == reference_diamond(nx_graph, seeds, 25, alpha=alpha)
    assert (np.diff(fast["rank"]) == 1).all() and (fast["p_value"] > 0).all()


# ----------------------------------------------------------------------------------------- the measure
def _scale_free(n=400, seed=0):
    graph = nx.barabasi_albert_graph(n, 2, seed=seed)
    return pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])


def _inputs():
    edges = _scale_free()
    rng = np.random.default_rng(0)
    sets = {
        f"s{i}": [f"g{j}" for j in rng.choice(400, size=rng.integers(2, 30), replace=False)]
        for i in range(10)
    }
    targets = pd.DataFrame({"drug": ["d1", "d1", "d2"], "target": ["g0", "g7", "g250"]})
    return edges, targets, sets


def _run(**kwargs):
    edges, targets, sets = _inputs()
    kwargs.setdefault("n_random", 60)
    return proximity(
        edges, targets, sets, min_score=None, use_cache=False, min_bin_size=40, measure="diamond", **kwargs
    )


def test_measure_is_the_closest_distance_of_the_module():
    edges, targets, sets = _inputs()
    graph = build_interactome(edges, min_score=None)
    table = _run(n_added=5)
    for drug, group in targets.groupby("drug"):
        module = (
            list(group["target"]) + diamond_module(graph, list(group["target"]), n_added=5)["gene"].tolist()
        )
        as_targets = pd.DataFrame({"drug": drug, "target": module})
        plain = proximity(
            edges, as_targets, sets, min_score=None, use_cache=False, n_random=1, min_bin_size=40
        )
        rows = table[table["drug"] == drug]
        np.testing.assert_array_equal(
            rows["module_distance"].to_numpy(), plain["closest_distance"].to_numpy()
        )
        # the standard columns stay those of the drug's own targets
        assert (rows["n_targets"] == len(group)).all()
    assert table.attrs["measure_info"] == {"n_added": 5, "alpha": 1, "module_sizes": [7, 6]}
    assert np.isfinite(table["z"]).all()


def test_same_seed_is_byte_identical_whatever_n_jobs():
    runs = [_run(n_added=4, random_state=1, n_jobs=j).to_csv(sep="\t", index=False) for j in (1, 1, 2)]
    assert runs[0] == runs[1] == runs[2]


def test_measure_option_errors():
    with pytest.raises(InputError, match=r"^n_added must be an integer between 1 and 10,000; got 0\.$"):
        _run(n_added=0)
    with pytest.raises(InputError, match=r"^measure 'diamond' has no option 'restart'"):
        _run(restart=0.5)


def test_log_tail_equals_scipy_hypergeometric_survival():
    from scipy.stats import hypergeom

    from organoidrx.network._diamond import log_upper_tail

    rng = np.random.default_rng(0)
    total, size = 11_508, 60
    k = rng.integers(1, 400, size=200)
    k_s = np.minimum(rng.integers(1, 30, size=200), np.minimum(k, size))
    expected = hypergeom.sf(k_s - 1, total, size, k)
    np.testing.assert_allclose(np.exp(log_upper_tail(k_s, k, total, size)), expected, rtol=1e-9)
