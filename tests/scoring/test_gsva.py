"""GSVA: hand-worked walks, the plain walk, invariances, options, errors, and decoupler's scores (stored and live)."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx import get_method
from organoidrx._utils import InputError
from organoidrx.scoring import gsva, score
from organoidrx.scoring._gsva import _normal_table, enrichment_walk, kcdf_statistic

from ..conftest import shared_file
from .make_gsva_reference import CASES, REFERENCE, decoupler_gene_order, decoupler_gsva, make_inputs


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        values,
        index=[f"S{i}" for i in range(values.shape[0])],
        columns=[f"G{j}" for j in range(values.shape[1])],
    )


def _random_sets(genes: list[str], n_sets: int, rng: np.random.Generator) -> dict[str, list[str]]:
    sizes = rng.integers(2, len(genes) // 2, size=n_sets)
    return {f"SET{i}": list(rng.choice(genes, size=s, replace=False)) for i, s in enumerate(sizes)}


def plain_walk(statistic: np.ndarray, members: np.ndarray, mx_diff: bool, abs_ranking: bool) -> float:
    """Hänzelmann et al.'s walk step by step over all genes of one sample, with decoupler's weights."""
    n = statistic.size
    walk = sorted(range(n), key=lambda g: (-statistic[g], g))  # decreasing, ties in column order
    rank = np.empty(n)
    rank[walk] = np.arange(n, 0, -1)  # ascending rank: the top gene has rank n
    weight = np.trunc(np.abs(n / 2 - rank))
    total_in = weight[members].sum()
    n_out = n - members.sum()
    running_in = running_out = 0.0
    top = bottom = 0.0
    for gene in walk:
        if members[gene]:
            running_in += weight[gene]
        else:
            running_out += 1
        step = running_in / total_in - running_out / n_out
        top, bottom = max(top, step), min(bottom, step)
    if mx_diff:
        return top - bottom if abs_ranking else top + bottom
    return top if abs(top) > abs(bottom) else bottom


# ------------------------------------------------------------------------------------------- worked by hand
def test_one_sample_walk_worked_by_hand() -> None:
    # One sample: its values are the statistic. Walk A, B, C, D; ascending ranks 4, 3, 2, 1; weights
    # |4/2 - rank| = 2, 1, 0, 1. Set {A, C} (weights 2 + 0): A +1, B -1/2, C +0, D -1/2 -> 1, 1/2, 1/2, 0:
    # largest deviations 1 and 0. Set {B, D} (1 + 1): A -1/2, B +1/2, C -1/2, D +1/2 -> -1/2, 0, -1/2, 0.
    expression = pd.DataFrame([[4.0, 3.0, 2.0, 1.0]], index=["s1"], columns=["A", "B", "C", "D"])
    sets = {"AC": ["A", "C"], "BD": ["B", "D"]}
    assert gsva(expression, sets, min_size=1).loc["s1"].tolist() == [1.0, -0.5]
    assert gsva(expression, sets, min_size=1, abs_ranking=True).loc["s1"].tolist() == [1.0, 0.5]
    assert gsva(expression, sets, min_size=1, mx_diff=False).loc["s1"].tolist() == [1.0, -0.5]


def test_ecdf_statistic_and_walk_worked_by_hand() -> None:
    # kcdf="none": a gene's statistic in a sample is the share of samples at or below it. Gene A = [1, 2, 3]
    # -> 1/3, 2/3, 1; B = [3, 2, 1] -> 1, 2/3, 1/3; C = [2, 2, 2] -> 1, 1, 1; D = [0, 5, 1] -> 1/3, 1, 2/3.
    expression = pd.DataFrame(
        {"A": [1.0, 2.0, 3.0], "B": [3.0, 2.0, 1.0], "C": [2.0, 2.0, 2.0], "D": [0.0, 5.0, 1.0]},
        index=["s1", "s2", "s3"],
    )
    statistic = kcdf_statistic(expression.to_numpy(), "none")
    np.testing.assert_array_equal(statistic * 3, [[1, 3, 3, 1], [2, 2, 3, 3], [3, 1, 3, 2]])
    # Sample s1: statistics A 1/3, B 1, C 1, D 1/3 -> walk B, C, A, D (ties in column order); ascending ranks
    # 3, 4 for C, B... : B rank 4, C rank 3, A rank 2, D rank 1; weights |2 - rank| = 2, 1, 0, 1.
    # Set {A, B}: B +2/2 -> 1, C -1/2 -> 1/2, A +0 -> 1/2, D -1/2 -> 0: score 1 + 0 = 1.
    # Sample s3: A 1, B 1/3, C 1, D 2/3 -> walk A, C, D, B; weights A 2, C 1, D 0, B 1.
    # Set {A, B}: A +2/3 -> 2/3, C -1/2 -> 1/6, D -1/2 -> -1/3, B +1/3 -> 0: score 2/3 - 1/3 = 1/3.
    scores = gsva(expression, {"AB": ["A", "B"]}, kcdf="none", min_size=1)
    assert scores.loc["s1", "AB"] == pytest.approx(1.0, abs=1e-15)
    assert scores.loc["s3", "AB"] == pytest.approx(1 / 3, abs=1e-15)


def test_kernel_table_is_the_normal_cdf_to_the_erf_approximation() -> None:
    from scipy.special import ndtr

    table = _normal_table()
    assert table.shape == (10_001,) and table[0] == 0.5 and table[-1] == 1.0
    np.testing.assert_allclose(table, ndtr(np.arange(10_001) / 1000), rtol=0, atol=1.5e-7)  # A&S 7.1.26


# ---------------------------------------------------------------------------------- vectorised == plain walk
@pytest.mark.parametrize(("mx_diff", "abs_ranking"), [(True, False), (True, True), (False, False)])
@pytest.mark.parametrize("n_genes", [40, 41])
def test_sorted_positions_equal_the_plain_walk(mx_diff: bool, abs_ranking: bool, n_genes: int) -> None:
    rng = np.random.default_rng(n_genes + 3 * mx_diff + abs_ranking)
    statistic = rng.normal(size=(6, n_genes))
    statistic[:, :5] = statistic[:, 5:10]  # some ties, walked in column order
    sets = [np.sort(rng.choice(n_genes, size=s, replace=False)) for s in (3, 5, 17, 39)]
    scores = enrichment_walk(statistic, sets, mx_diff=mx_diff, abs_ranking=abs_ranking)
    for i in range(statistic.shape[0]):
        for s, members in enumerate(sets):
            mask = np.zeros(n_genes, dtype=bool)
            mask[members] = True
            expected = plain_walk(statistic[i], mask, mx_diff, abs_ranking)
            assert scores[i, s] == pytest.approx(expected, abs=1e-14), (i, s)


def test_a_set_with_no_weight_scores_nan() -> None:
    # 4 genes: weights 2, 1, 0, 1 down the walk; a single gene at the middle has total weight 0 (as in decoupler
    # and R, whose walks divide by it)
    scores = enrichment_walk(np.array([[4.0, 3.0, 2.0, 1.0]]), [np.array([2]), np.array([0])])
    assert np.isnan(scores[0, 0]) and scores[0, 1] == 1.0


# ------------------------------------------------------------------------------------------------ invariances
@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Uniform values: no sample lies 10 bandwidths from all others, where kernel values saturate and genes
    tie (with normal data and a handful of samples, an outlying sample ties across many genes)."""
    rng = np.random.default_rng(21)
    expression = _frame(rng.uniform(size=(9, 400)) + rng.normal(6.0, 1.0, 400))
    return expression, _random_sets(list(expression.columns), 20, rng)


def test_invariant_to_gene_order_without_ties(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    statistic = kcdf_statistic(expression.to_numpy(), "gaussian")
    assert all(np.unique(row).size == row.size for row in statistic)  # premise: no ties to order
    shuffled = expression.iloc[:, np.random.default_rng(0).permutation(expression.shape[1])]
    ours = gsva(shuffled, gene_sets, min_size=1)
    pd.testing.assert_frame_equal(ours, gsva(expression, gene_sets, min_size=1), rtol=1e-12)


def test_scores_follow_the_samples_when_their_order_changes(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]],
) -> None:
    expression, gene_sets = cohort
    reordered = expression.iloc[::-1]
    pd.testing.assert_frame_equal(
        gsva(reordered, gene_sets, min_size=1), gsva(expression, gene_sets, min_size=1).iloc[::-1], rtol=1e-12
    )


def test_a_sample_depends_on_its_cohort(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    assert get_method("scorer", "gsva").sample_independent is False
    whole = gsva(expression, gene_sets, min_size=1)
    part = gsva(expression.iloc[:5], gene_sets, min_size=1)
    assert not np.allclose(part.to_numpy(), whole.iloc[:5].to_numpy())


@pytest.mark.parametrize("kcdf", ["gaussian", "poisson"])
def test_chunks_and_threads_do_not_change_the_scores(kcdf: str) -> None:
    expression, gene_sets = make_inputs("continuous" if kcdf == "gaussian" else "counts")
    reference = gsva(expression, gene_sets, kcdf=kcdf, min_size=1)  # type: ignore[arg-type]
    for chunk_size, n_jobs in [(1, 1), (5, 2), (None, 2)]:
        scores = gsva(expression, gene_sets, kcdf=kcdf, min_size=1, chunk_size=chunk_size, n_jobs=n_jobs)  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(scores, reference, rtol=0, atol=0)


def test_gaussian_blocks_of_genes_do_not_change_the_statistic(monkeypatch: pytest.MonkeyPatch) -> None:
    from organoidrx.scoring import _gsva

    expression, _ = make_inputs("continuous")
    whole = kcdf_statistic(expression.to_numpy(), "gaussian")
    monkeypatch.setattr(_gsva, "_GAUSSIAN_CELLS", 1)  # 1 gene per block
    np.testing.assert_array_equal(kcdf_statistic(expression.to_numpy(), "gaussian", n_jobs=2), whole)


def test_gaussian_fast_index_equals_decoupler_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-multiplication table index is checked against decoupler's three roundings: with a margin of 0.5
    every pair takes decoupler's arithmetic, and the statistic is the same to the bit (also on values with many
    exact ties and round differences)."""
    from organoidrx.scoring import _gsva

    expression, _ = make_inputs("continuous")
    for values in (expression.to_numpy(), np.round(expression.to_numpy(), 1)):
        fast = kcdf_statistic(values, "gaussian")
        monkeypatch.setattr(_gsva, "_MARGIN", 0.5)
        np.testing.assert_array_equal(kcdf_statistic(values, "gaussian"), fast)
        monkeypatch.setattr(_gsva, "_MARGIN", 1e-9)


def _decoupler_ppois(rate: float, top: int) -> np.ndarray:
    """decoupler's Poisson CDF written out in Python: the pmf from the C library's ``exp``, ``log`` and ``lgamma``
    (CPython's :func:`math.lgamma` is its own and differs in the last bit), added from 0, clipped at 1."""
    lgamma = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6").lgamma
    lgamma.restype, lgamma.argtypes = ctypes.c_double, [ctypes.c_double]
    log_rate = math.log(rate)
    pmf = [math.exp(-rate)] + [math.exp(-rate + i * log_rate - lgamma(i + 1.0)) for i in range(1, top + 1)]
    return np.minimum(np.cumsum(pmf), 1.0)


def test_compiled_poisson_table_is_decoupler_term_by_term() -> None:
    """Every value of the compiled table equals the term-by-term loop to the bit (rates from 0.5 to 3,000.5)."""
    from organoidrx.scoring._gsva_jit import poisson_table

    rates = np.array([0.5, 1.5, 2.5, 7.5, 40.5, 300.5, 1999.5, 3000.5])
    table = poisson_table(rates, 3200)
    expected = np.array([_decoupler_ppois(float(rate), 3200) for rate in rates])
    np.testing.assert_array_equal(table, expected)


def test_poisson_without_the_exact_table_agrees_to_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count matrices too large for decoupler's term-by-term CDF use scipy's; only rounding differs."""
    from organoidrx.scoring import _gsva

    expression, _ = make_inputs("counts")
    exact = kcdf_statistic(expression.to_numpy(), "poisson")
    monkeypatch.setattr(_gsva, "_EXACT_POISSON_TERMS", 0)
    np.testing.assert_allclose(kcdf_statistic(expression.to_numpy(), "poisson"), exact, rtol=1e-9)


# ------------------------------------------------------------------------------------------------------ errors
def test_constant_gene_with_the_gaussian_kernel_is_one_clear_line() -> None:
    expression, gene_sets = make_inputs("continuous")
    expression = expression.assign(G007=3.0, G100=3.0)
    with pytest.raises(
        InputError, match=r"2 of 301 genes are constant over the 12 samples \(first: 'G007'"
    ) as e:
        gsva(expression, gene_sets)
    assert "\n" not in str(e.value)
    gsva(expression, gene_sets, kcdf="none")  # the empirical CDF has no bandwidth to divide by


def test_poisson_needs_counts() -> None:
    expression, gene_sets = make_inputs("counts")
    expression.iloc[2, 3] = 1.5
    with pytest.raises(
        InputError, match=r"kcdf='poisson' needs counts .* \(first: 1.5 at sample 'S02', gene"
    ):
        gsva(expression, gene_sets, kcdf="poisson")
    expression.iloc[2, 3] = -1.0
    with pytest.raises(InputError, match="non-negative integers"):
        gsva(expression, gene_sets, kcdf="poisson")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kcdf": "Gaussian"}, r"kcdf must be one of gaussian, poisson, none; got 'Gaussian' \(did you mean"),
        ({"mx_diff": "yes"}, r"mx_diff must be true or false; got 'yes'"),
        ({"abs_ranking": 1}, r"abs_ranking must be true or false; got 1"),
    ],
)
def test_bad_options_are_input_errors(options: dict[str, object], message: str) -> None:
    expression, gene_sets = make_inputs("continuous")
    with pytest.raises(InputError, match=message):
        score(expression, gene_sets, method="gsva", **options)


# ------------------------------------------------------------------------------------- decoupler's scores
REFERENCE_CASES = json.loads(REFERENCE.read_text())["cases"]


@pytest.mark.parametrize("case", list(CASES))
def test_stored_decoupler_scores(case: str) -> None:
    """decoupler 2.2's scores, written by make_gsva_reference.py; always runs."""
    stored = REFERENCE_CASES[case]
    expression, gene_sets = make_inputs(stored["inputs"])
    ours = gsva(
        expression.iloc[:, decoupler_gene_order(expression.shape[1])],
        gene_sets,
        min_size=1,
        **stored["options"],
    )
    assert list(ours.columns) == list(gene_sets)
    np.testing.assert_allclose(ours.to_numpy(), np.array(stored["scores"]), rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize("case", list(CASES))
def test_live_decoupler(case: str) -> None:
    pytest.importorskip("decoupler")
    kind, options = CASES[case]
    expression, gene_sets = make_inputs(kind)
    theirs = decoupler_gsva(expression, gene_sets, **options)
    ours = gsva(
        expression.iloc[:, decoupler_gene_order(expression.shape[1])], gene_sets, min_size=1, **options
    )  # type: ignore[arg-type]
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-8, atol=1e-15)


def test_tie_order_matters_only_where_statistics_tie() -> None:
    """Without decoupler's gene order, scores differ only for sets touching genes whose statistics tie."""
    stored = REFERENCE_CASES["ecdf"]
    expression, gene_sets = make_inputs("continuous")
    ours = gsva(expression, gene_sets, min_size=1, kcdf="none").to_numpy()
    assert not np.allclose(ours, np.array(stored["scores"]), rtol=1e-8)  # ties decided by the column order


def read_gmt_standard(path: Path) -> dict[str, list[str]]:
    sets = {}
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) > 2:
            sets[fields[0]] = [g for g in fields[2:] if g]
    return sets


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "options",
    [{}, {"mx_diff": False}, {"abs_ranking": True}, {"kcdf": "none"}],
    ids=["default", "max", "abs", "ecdf"],
)
def test_equal_to_decoupler_on_organoids(shared_data: Path, options: dict[str, object]) -> None:
    """22 organoids x 12,037 genes with the authors' MSigDB Reactome sets: every score to 1e-8 relative."""
    pytest.importorskip("decoupler")
    path = shared_file(shared_data, "kong2020/organoid_coad/ssgsea_input_expression.tsv")
    expression = pd.read_csv(path, sep="\t", index_col=0).drop(columns="DESCRIPTION").T
    gene_sets = read_gmt_standard(shared_file(shared_data, "kong2020/reactome_msigdb_v6.1_organoid.gmt"))
    present = set(expression.columns)
    gene_sets = {p: sorted(set(g) & present) for p, g in gene_sets.items()}
    gene_sets = {p: g for p, g in gene_sets.items() if len(g) >= 5}
    theirs = decoupler_gsva(expression, gene_sets, **options)
    ours = gsva(expression.iloc[:, decoupler_gene_order(expression.shape[1])], gene_sets, **options)  # type: ignore[arg-type]
    assert ours.shape == (22, len(gene_sets)) and ours.shape[1] > 500
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-8, atol=1e-15)


@pytest.mark.shared_data
def test_poisson_equal_to_decoupler_on_organoid_counts(shared_data: Path) -> None:
    """Counts made from the 22 organoids (round(2^(x - 3)), up to 1,621 with about 1,100 distinct values): a CDF
    table of 1.8 million values, computed term by term as decoupler does; every score to 1e-8 relative."""
    pytest.importorskip("decoupler")
    from organoidrx.scoring._gsva import _EXACT_POISSON_TERMS

    path = shared_file(shared_data, "kong2020/organoid_coad/ssgsea_input_expression.tsv")
    expression = pd.read_csv(path, sep="\t", index_col=0).drop(columns="DESCRIPTION").T
    counts = np.round(2.0 ** (expression - 3.0))
    counts = counts.loc[:, (counts != 0).any(axis=0)]  # decoupler drops genes that are zero everywhere
    distinct = np.unique(counts.to_numpy())
    assert 1_000_000 < distinct.size * (distinct[-1] + 1) <= _EXACT_POISSON_TERMS
    gene_sets = read_gmt_standard(shared_file(shared_data, "kong2020/reactome_msigdb_v6.1_organoid.gmt"))
    present = set(counts.columns)
    gene_sets = {p: sorted(set(g) & present) for p, g in list(gene_sets.items())[:200]}
    gene_sets = {p: g for p, g in gene_sets.items() if len(g) >= 5}
    theirs = decoupler_gsva(counts, gene_sets, kcdf="poisson")
    ours = gsva(counts.iloc[:, decoupler_gene_order(counts.shape[1])], gene_sets, kcdf="poisson")
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-8, atol=1e-15)


def test_one_sample_is_ranked_on_its_expression_with_a_warning_and_still_checked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """decoupler ranks a lone sample's expression; the warning says so, and counts are still checked."""
    expression, gene_sets = make_inputs("counts")
    with caplog.at_level("WARNING", logger="organoidrx"):
        alone = gsva(expression.iloc[[0]], gene_sets, kcdf="poisson")
    assert "gsva on a single sample ranks its expression itself" in caplog.text
    assert np.isfinite(alone.to_numpy()).all()
    caplog.clear()
    with caplog.at_level("WARNING", logger="organoidrx"):
        gsva(expression.iloc[:2], gene_sets, kcdf="poisson")  # two values per sample: ties in gene order
    assert "gsva on 2 samples" in caplog.text and "score 3 or more samples together" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="organoidrx"):
        gsva(expression.iloc[:3], gene_sets, kcdf="poisson")
    assert "gsva on" not in caplog.text
    negative = expression.iloc[[0]].copy()
    negative.iloc[0, 4] = -2.5
    with pytest.raises(InputError, match=r"kcdf='poisson' needs counts .* \(first: -2.5 at sample 'S00'"):
        gsva(negative, gene_sets, kcdf="poisson")
