"""ssGSEA against gseapy 1.3 (stored numbers and live runs) and against Kong et al.'s own gseapy 0.9 output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from organoidrx.scoring import ssgsea
from organoidrx.scoring._kernels import enrichment_scores

from ..conftest import shared_file

# Stored gseapy 1.3.1 output for a tiny case with ties, produced by:
#
#     import gseapy, pandas as pd
#     df = pd.DataFrame({"S1": [1, 2, 2, 2, 5, 0, 0, 7.0]}, index=list("ABCDEFGH"))
#     gs = {"s1": ["A", "B"], "s2": ["C", "F"], "s3": ["D", "G", "E"], "s4": ["B", "H"]}
#     for frame in (df, df.iloc[::-1]):
#         res = gseapy.ssgsea(frame, gs, min_size=1, max_size=100, outdir=None, threads=1).res2d
#         print(res.set_index("Term")["ES"].astype(float).to_dict())
TINY_VALUES = [1.0, 2.0, 2.0, 2.0, 5.0, 0.0, 0.0, 7.0]
TINY_GENES = list("ABCDEFGH")
TINY_SETS = {"s1": ["A", "B"], "s2": ["C", "F"], "s3": ["D", "G", "E"], "s4": ["B", "H"]}
TINY_GSEAPY = {
    "s1": -1.3014500519143568,
    "s2": -1.7012588195955969,
    "s3": 1.137807712279952,
    "s4": 2.1173659043701027,
}
TINY_GSEAPY_REVERSED = {"s1": 0.09564984425692735, "s2": -1.109277, "s3": -0.431159, "s4": 3.392016285518386}


def test_stored_gseapy_numbers_with_ties() -> None:
    expression = pd.DataFrame([TINY_VALUES], index=["S1"], columns=TINY_GENES)
    scores = ssgsea(expression, TINY_SETS, min_size=1)
    for pathway, expected in TINY_GSEAPY.items():
        assert scores.loc["S1", pathway] == pytest.approx(expected, rel=1e-12)
    reversed_ = ssgsea(expression.iloc[:, ::-1], TINY_SETS, min_size=1)
    for pathway, expected in TINY_GSEAPY_REVERSED.items():
        assert reversed_.loc["S1", pathway] == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------------------------ live gseapy
def _gseapy_es(expression: pd.DataFrame, gene_sets: dict[str, list[str]], **kwargs: object) -> pd.DataFrame:
    """gseapy 1.3 ES as a samples x pathways frame (gseapy takes genes x samples)."""
    gseapy = pytest.importorskip("gseapy")
    result = gseapy.ssgsea(expression.T, gene_sets, outdir=None, threads=1, **kwargs).res2d
    wide = result.pivot(index="Name", columns="Term", values="ES").astype(float)
    return wide.loc[expression.index.astype(str)]


def _assert_same_es(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert set(ours.columns) == set(theirs.columns)
    theirs = theirs.loc[ours.index, ours.columns]
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-8, atol=0)


def read_gmt_standard(path: Path) -> dict[str, list[str]]:
    """The standard GMT reading (name, description, genes...): the second field is never a gene."""
    sets = {}
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) > 2:
            sets[fields[0]] = [g for g in fields[2:] if g]
    return sets


@pytest.fixture(scope="module")
def organoid_expression(shared_data: Path) -> pd.DataFrame:
    path = shared_file(shared_data, "kong2020/organoid_coad/ssgsea_input_expression.tsv")
    table = pd.read_csv(path, sep="\t", index_col=0).drop(columns="DESCRIPTION")
    return table.T


@pytest.mark.shared_data
@pytest.mark.parametrize("gmt", ["reactome_msigdb_v6.1_organoid.gmt", "reactome_msigdb_v6.1_tcga.gmt"])
def test_equal_to_gseapy_on_organoids(shared_data: Path, organoid_expression: pd.DataFrame, gmt: str) -> None:
    gene_sets = read_gmt_standard(shared_file(shared_data, f"kong2020/{gmt}"))
    ours = ssgsea(organoid_expression, gene_sets, min_size=2, max_size=2000)
    assert ours.shape[0] == 22 and ours.shape[1] > 550
    _assert_same_es(ours, _gseapy_es(organoid_expression, gene_sets, min_size=2, max_size=2000))


def test_equal_to_gseapy_with_many_ties() -> None:
    """RNA-seq-like counts: about half zeros plus repeated small integers, so most sets touch tie blocks."""
    rng = np.random.default_rng(2020)
    n_samples, n_genes = 12, 3000
    counts = rng.negative_binomial(n=0.4, p=0.02, size=(n_samples, n_genes)).astype(float)
    counts[rng.random((n_samples, n_genes)) < 0.3] = 0.0
    assert (counts == 0).mean() > 0.4
    genes = [f"GENE{j}" for j in range(n_genes)]
    expression = pd.DataFrame(counts, index=[f"S{i}" for i in range(n_samples)], columns=genes)
    sizes = rng.integers(5, 300, size=150)
    gene_sets = {f"SET{i}": list(rng.choice(genes, size=s, replace=False)) for i, s in enumerate(sizes)}
    ours = ssgsea(expression, gene_sets, min_size=5, max_size=500)
    _assert_same_es(ours, _gseapy_es(expression, gene_sets, min_size=5, max_size=500))


def test_range_normalisation_is_gseapy_nes() -> None:
    gseapy = pytest.importorskip("gseapy")
    rng = np.random.default_rng(7)
    expression = pd.DataFrame(rng.normal(size=(4, 200)), columns=[f"G{j}" for j in range(200)])
    expression.index = [f"S{i}" for i in range(4)]
    gene_sets = {f"SET{i}": [f"G{j}" for j in rng.choice(200, 20, replace=False)] for i in range(6)}
    result = gseapy.ssgsea(expression.T, gene_sets, outdir=None, threads=1, min_size=5).res2d
    nes = result.pivot(index="Name", columns="Term", values="NES").astype(float)
    ours = ssgsea(expression, gene_sets, min_size=5, normalize="range")
    np.testing.assert_allclose(ours.to_numpy(), nes.loc[ours.index, ours.columns].to_numpy(), rtol=1e-8)


# -------------------------------------------------------------------------------- the authors' gseapy 0.9 run
@pytest.mark.shared_data
def test_authors_raw_scores(shared_data: Path, organoid_expression: pd.DataFrame) -> None:
    gene_sets = read_gmt_standard(shared_file(shared_data, "kong2020/reactome_msigdb_v6.1_organoid.gmt"))
    reference = pd.read_csv(
        shared_file(shared_data, "kong2020/reference_outputs/organoid_ssgsea_raw_es.tsv"),
        sep="\t",
        comment="#",
        index_col=0,
    ).T
    ours = ssgsea(organoid_expression, gene_sets, min_size=2, max_size=2000, normalize="n_genes")
    assert set(ours.columns) == set(reference.columns)
    ours = ours.loc[reference.index, reference.columns]
    difference = (ours - reference).abs()
    assert difference.to_numpy().max() < 1e-4

    # Every disagreement sits where a gene of the set ties, in that sample, with a gene outside it: gseapy 0.9
    # ordered tied genes with an unstable sort, 1.3 (and we) with a stable one. Elsewhere the scores are equal.
    genes = organoid_expression.columns
    membership = np.array([genes.isin(gene_sets[p]) for p in ours.columns], dtype=float)  # sets x genes
    tie_with_outsider = np.zeros(ours.shape, dtype=bool)
    for i, sample in enumerate(ours.index):
        _, group, size = np.unique(
            organoid_expression.loc[sample].to_numpy(), return_inverse=True, return_counts=True
        )
        tied_groups = np.flatnonzero(size > 1)
        one_hot = (group[:, None] == tied_groups[None, :]).astype(float)  # genes x tied values
        inside = membership @ one_hot  # genes of each set sharing each tied value
        tie_with_outsider[i] = ((inside > 0) & (inside < size[tied_groups])).any(axis=1)
    relative = difference / reference.abs()
    assert relative.to_numpy()[~tie_with_outsider].max() < 1e-9
    assert relative.to_numpy()[tie_with_outsider].max() > 1e-6  # the cells that do differ


def numpy_introsort_argsort(values: np.ndarray) -> np.ndarray:
    """numpy's scalar argsort(kind="quicksort") before its SIMD sorts (numpy < 1.25): median-of-3 introsort with
    insertion sort below 16 elements (npysort ``aquicksort_``). Unstable: the order of tied values depends on it."""
    v, t = values.tolist(), list(range(len(values)))
    stack, lo, hi = [], 0, len(v) - 1
    while True:
        while hi - lo > 15:
            mid = lo + ((hi - lo) >> 1)
            if v[t[mid]] < v[t[lo]]:
                t[mid], t[lo] = t[lo], t[mid]
            if v[t[hi]] < v[t[mid]]:
                t[hi], t[mid] = t[mid], t[hi]
            if v[t[mid]] < v[t[lo]]:
                t[mid], t[lo] = t[lo], t[mid]
            pivot, i, j = v[t[mid]], lo, hi - 1
            t[mid], t[j] = t[j], t[mid]
            while True:
                i += 1
                while v[t[i]] < pivot:
                    i += 1
                j -= 1
                while pivot < v[t[j]]:
                    j -= 1
                if i >= j:
                    break
                t[i], t[j] = t[j], t[i]
            t[i], t[hi - 1] = t[hi - 1], t[i]
            if i - lo < hi - i:
                stack.append((i + 1, hi))
                hi = i - 1
            else:
                stack.append((lo, i - 1))
                lo = i + 1
        for i in range(lo + 1, hi + 1):
            item, j = t[i], i
            while j > lo and v[item] < v[t[j - 1]]:
                t[j] = t[j - 1]
                j -= 1
            t[j] = item
        if not stack:
            return np.array(t)
        lo, hi = stack.pop()


@pytest.mark.shared_data
def test_authors_scores_are_ours_with_their_tie_order(
    shared_data: Path, organoid_expression: pd.DataFrame
) -> None:
    """gseapy 0.9 walked each sample in ``Series.sort_values(ascending=False)`` order: pandas of the time took
    numpy's unstable ascending argsort and reversed it. Laying the genes out in that ascending order makes our
    (stable) tie rule walk them identically, and every one of the authors' scores is then reproduced."""
    gene_sets = read_gmt_standard(shared_file(shared_data, "kong2020/reactome_msigdb_v6.1_organoid.gmt"))
    reference = pd.read_csv(
        shared_file(shared_data, "kong2020/reference_outputs/organoid_ssgsea_raw_es.tsv"),
        sep="\t",
        comment="#",
        index_col=0,
    ).T
    ours = ssgsea(organoid_expression, gene_sets, min_size=2, max_size=2000, normalize="n_genes")
    genes = organoid_expression.columns
    membership = sp.csr_array(np.array([genes.isin(gene_sets[p]) for p in ours.columns], dtype=float))
    for sample in reference.index:
        values = organoid_expression.loc[sample].to_numpy()
        ascending = numpy_introsort_argsort(values)
        # the kernel behind ssgsea, on this sample with its genes laid out in that order
        scores = enrichment_scores(values[None, ascending], membership[:, ascending]) / len(genes)
        np.testing.assert_allclose(scores[0], reference.loc[sample, ours.columns].to_numpy(), rtol=1e-9)
        # while with the file's gene order, as gseapy 1.3 and ssgsea see it, tied cells differ
        assert not np.allclose(ours.loc[sample].to_numpy(), scores[0], rtol=1e-9, atol=0)
