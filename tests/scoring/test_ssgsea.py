"""ssGSEA: a hand-worked case, the plain running-sum loop, invariances, options and errors."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.scoring import ssgsea
from organoidrx.scoring._kernels import rank_chunk


def running_sum_es(
    values: np.ndarray, members: np.ndarray, weight: float, walk: np.ndarray | None = None
) -> float:
    """Barbie et al.'s definition, step by step: walk the genes from highest to lowest and add up the running sum.

    The walk order is gseapy 1.3's (stable ascending sort, reversed) unless ``walk`` gives it explicitly.
    """
    n = len(values)
    if walk is None:
        walk = np.argsort(values, kind="stable")[::-1]
    average_rank = pd.Series(values).rank(method="average").to_numpy()
    rank_weight = (10000 * average_rank / n) ** weight
    hits = members[walk]
    walk_weight = rank_weight[walk]
    total_hit_weight = walk_weight[hits].sum()
    n_miss = n - hits.sum()
    running, total = 0.0, 0.0
    for is_hit, w in zip(hits, walk_weight, strict=True):
        running += w / total_hit_weight if is_hit else -1.0 / n_miss
        total += running
    return total


def _frame(values: np.ndarray, genes: list[str] | None = None) -> pd.DataFrame:
    genes = genes or [f"G{j}" for j in range(values.shape[1])]
    return pd.DataFrame(values, index=[f"S{i}" for i in range(values.shape[0])], columns=genes)


def _random_sets(genes: list[str], n_sets: int, rng: np.random.Generator) -> dict[str, list[str]]:
    sizes = rng.integers(2, len(genes) // 2, size=n_sets)
    return {f"SET{i}": list(rng.choice(genes, size=s, replace=False)) for i, s in enumerate(sizes)}


# ------------------------------------------------------------------------------------------- worked by hand
HAND = pd.DataFrame([[3.0, 1.0, 2.0, 0.5]], index=["s1"], columns=["A", "B", "C", "D"])


@pytest.mark.parametrize(
    ("weight", "top", "bottom"),
    [
        # Walk A, C, B, D (ascending positions q = 4, 3, 2, 1). Unweighted: set {A, C} steps +1/2, +1/2, then the
        # misses B, D step -1/2 each: running sums 1/2, 1, 1/2, 0 -> 2. Set {B, D}: -1/2, -1, -1/2, 0 -> -2.
        (0.0, 2.0, -2.0),
        # weight 1: r proportional to the rank. {A, C}: 4/7, 7/7, 1 - 1/2, 0 -> 29/14. {B, D}: -1/2, -1,
        # -1 + 2/3, 0 -> -11/6.
        (1.0, 29 / 14, -11 / 6),
        # weight 0.25: {A, C}: 4^w/(4^w+3^w), 1, 1/2, 0. {B, D}: -1/2, -1, -1 + 2^w/(2^w+1), 0.
        (0.25, 4**0.25 / (4**0.25 + 3**0.25) + 1.5, -2.5 + 2**0.25 / (2**0.25 + 1)),
    ],
)
def test_four_genes_worked_by_hand(weight: float, top: float, bottom: float) -> None:
    scores = ssgsea(HAND, {"AC": ["A", "C"], "BD": ["B", "D"]}, weight=weight, min_size=1)
    assert scores.loc["s1", "AC"] == pytest.approx(top, rel=1e-12)
    assert scores.loc["s1", "BD"] == pytest.approx(bottom, rel=1e-12)


def test_output_layout() -> None:
    scores = ssgsea(HAND, {"BD": ["B", "D"], "AC": ["A", "C", "Z"]}, min_size=1)
    assert list(scores.index) == ["s1"] and scores.index.name == "sample"
    assert list(scores.columns) == ["BD", "AC"]  # input order of the sets
    long = pd.DataFrame({"pathway": ["AC", "AC", "BD", "BD"], "gene": ["A", "C", "B", "D"]})
    pd.testing.assert_frame_equal(
        ssgsea(HAND, long, min_size=1), ssgsea(HAND, {"AC": ["A", "C"], "BD": ["B", "D"]}, min_size=1)
    )


# ------------------------------------------------------------------------------ closed form == running sum
@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0, 2.0])
@pytest.mark.parametrize("levels", [None, 4])
def test_closed_form_matches_running_sum(weight: float, levels: int | None) -> None:
    rng = np.random.default_rng(int(weight * 10) + (levels or 0))
    values = (
        rng.normal(size=(5, 40)) if levels is None else rng.integers(0, levels, size=(5, 40)).astype(float)
    )
    expression = _frame(values)
    gene_sets = _random_sets(list(expression.columns), 12, rng)
    scores = ssgsea(expression, gene_sets, weight=weight, min_size=1, max_size=None)
    for i, sample in enumerate(expression.index):
        for pathway, genes in gene_sets.items():
            members = expression.columns.isin(genes)
            expected = running_sum_es(values[i], members, weight)
            assert scores.loc[sample, pathway] == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_average_ties_is_the_mean_over_all_orders_of_a_tie_block() -> None:
    values = np.array([5.0, 2.0, 2.0, 2.0, 7.0, 1.0])
    members = np.array([False, True, False, True, False, False])
    block = [1, 2, 3]
    scores = []
    for perm in itertools.permutations(block):
        walk = np.array([4, 0, *perm[::-1], 5])  # descending: 7, 5, the tied 2s in every order, 1
        scores.append(running_sum_es(values, members, 0.25, walk=walk))
    expected = float(np.mean(scores))
    assert len(set(np.round(scores, 12))) > 1  # the order of the block matters for a single walk
    result = ssgsea(_frame(values[None, :]), {"S": ["G1", "G3"]}, min_size=1, ties="average")
    assert result.iloc[0, 0] == pytest.approx(expected, rel=1e-12)


def test_rank_chunk_matches_pandas() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 6, size=(7, 50)).astype(float)
    values[2] = 1.0  # one constant row: a single block of 50
    values[3] = np.arange(50.0)  # no ties at all
    average, position = rank_chunk(values)
    frame = pd.DataFrame(values)
    np.testing.assert_array_equal(average, frame.rank(axis=1, method="average").to_numpy())
    np.testing.assert_array_equal(position, frame.rank(axis=1, method="first").to_numpy())
    average_2, position_2 = rank_chunk(values, "average")
    np.testing.assert_array_equal(average_2, average)
    np.testing.assert_array_equal(position_2, average)


# ------------------------------------------------------------------------------------------------ invariances
@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    rng = np.random.default_rng(11)
    expression = _frame(rng.normal(loc=8, size=(9, 300)))
    return expression, _random_sets(list(expression.columns), 25, rng)


def test_invariant_to_gene_order(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    shuffled = expression.iloc[:, np.random.default_rng(0).permutation(expression.shape[1])]
    pd.testing.assert_frame_equal(
        ssgsea(shuffled, gene_sets, min_size=1), ssgsea(expression, gene_sets, min_size=1), rtol=1e-12
    )


def test_invariant_to_gene_order_with_ties_when_ties_average() -> None:
    rng = np.random.default_rng(5)
    expression = _frame(rng.integers(0, 5, size=(6, 80)).astype(float))
    gene_sets = _random_sets(list(expression.columns), 10, rng)
    shuffled = expression.iloc[:, rng.permutation(expression.shape[1])]
    pd.testing.assert_frame_equal(
        ssgsea(shuffled, gene_sets, min_size=1, ties="average"),
        ssgsea(expression, gene_sets, min_size=1, ties="average"),
        rtol=1e-12,
    )
    # gseapy's rule follows column order among tied genes, so reordering them can change a score
    reversed_ = expression.iloc[:, ::-1]
    assert not np.allclose(
        ssgsea(reversed_, gene_sets, min_size=1).to_numpy(),
        ssgsea(expression, gene_sets, min_size=1).to_numpy(),
    )


@pytest.mark.parametrize(
    "transform",
    [np.exp, lambda x: x**3 + 2 * x - 40, lambda x: np.log2(x + 1), lambda x: 1e-6 * x],
    ids=["exp", "cubic", "log2", "scale"],
)
def test_invariant_to_increasing_transform(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], transform: object
) -> None:
    expression, gene_sets = cohort
    transformed = expression.copy()
    transformed.iloc[4] = transform(expression.iloc[4].to_numpy())  # type: ignore[operator]
    before = ssgsea(expression, gene_sets, min_size=1)
    after = ssgsea(transformed, gene_sets, min_size=1)
    pd.testing.assert_frame_equal(after, before, rtol=1e-12)


def test_each_sample_scored_on_its_own(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    together = ssgsea(expression, gene_sets, min_size=1)
    alone = pd.concat([ssgsea(expression.iloc[[i]], gene_sets, min_size=1) for i in range(len(expression))])
    pd.testing.assert_frame_equal(alone, together)  # exact: no cohort leakage with normalize="none"


def test_chunking_and_threads_do_not_change_a_bit(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    reference = ssgsea(expression, gene_sets, min_size=1)
    for chunk_size, n_jobs in [(1, None), (2, 2), (4, -1), (100, 1)]:
        result = ssgsea(expression, gene_sets, min_size=1, chunk_size=chunk_size, n_jobs=n_jobs)
        assert result.to_numpy().tobytes() == reference.to_numpy().tobytes()


def test_input_not_mutated_and_anndata_accepted(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    anndata = pytest.importorskip("anndata")
    expression, gene_sets = cohort
    before = expression.copy()
    scores = ssgsea(expression, gene_sets, min_size=1)
    pd.testing.assert_frame_equal(expression, before)
    adata = anndata.AnnData(X=expression.to_numpy(), obs=pd.DataFrame(index=expression.index))
    adata.var_names = expression.columns
    pd.testing.assert_frame_equal(ssgsea(adata, gene_sets, min_size=1), scores)


# ---------------------------------------------------------------------------------------------- normalisation
def test_normalizations(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    es = ssgsea(expression, gene_sets, min_size=1)
    pd.testing.assert_frame_equal(ssgsea(expression, gene_sets, min_size=1, normalize="n_genes"), es / 300)
    spread = es.to_numpy().max() - es.to_numpy().min()
    ranged = ssgsea(expression, gene_sets, min_size=1, normalize="range")
    pd.testing.assert_frame_equal(ranged, es / spread)
    assert ranged.to_numpy().max() - ranged.to_numpy().min() == pytest.approx(1.0)


def test_range_of_one_sample_warns_that_it_is_not_on_its_cohort_s_scale(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], caplog: pytest.LogCaptureFixture
) -> None:
    expression, gene_sets = cohort
    with caplog.at_level("WARNING", logger="organoidrx"):
        ssgsea(expression.iloc[[0]], gene_sets, min_size=1, normalize="range")
    assert "a single sample's scores are on its own scale" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="organoidrx"):
        ssgsea(expression.iloc[[0]], gene_sets, min_size=1)  # each sample on its own: nothing to say
        ssgsea(expression.iloc[:2], gene_sets, min_size=1, normalize="range")
    assert "own scale" not in caplog.text


def test_range_of_constant_scores_is_an_error() -> None:
    with pytest.raises(InputError, match="all 1 scores equal"):
        ssgsea(HAND, {"AC": ["A", "C"]}, min_size=1, normalize="range")


# ------------------------------------------------------------------------------------ restriction and report
def test_report_of_dropped_sets(caplog: pytest.LogCaptureFixture) -> None:
    gene_sets = {
        "ok": ["A", "C", "nope"],
        "small": ["A", "missing"],
        "large": ["A", "B", "C"],
        "everything": ["A", "B", "C", "D"],
    }
    with caplog.at_level(logging.WARNING, logger="organoidrx.scoring"):
        scores, report = ssgsea(HAND, gene_sets, min_size=2, max_size=4, return_report=True)
    assert list(scores.columns) == ["ok", "large"]
    assert report.set_index("pathway")["reason"].to_dict() == {
        "ok": "",
        "small": "fewer than min_size",
        "large": "",
        "everything": "covers every gene",
    }
    assert report.set_index("pathway").loc["ok", ["n_genes", "n_present"]].tolist() == [3, 2]
    assert "dropped 2 of 4 gene sets" in caplog.text
    _, report = ssgsea(HAND, gene_sets, min_size=2, max_size=2, return_report=True)
    assert report.set_index("pathway").loc["large", "reason"] == "more than max_size"


# ------------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight": -1.0}, "weight must be a finite number >= 0"),
        ({"weight": float("nan")}, "weight must be a finite number >= 0"),
        ({"normalize": "zscore"}, "normalize must be one of none, range, n_genes; got 'zscore'"),
        ({"ties": "random"}, "ties must be one of gseapy, average"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"n_jobs": 0}, "n_jobs must be a positive integer"),
        ({"min_size": 3, "max_size": 2}, "need 1 <= min_size <= max_size"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ssgsea(HAND, {"AC": ["A", "C"]}, **kwargs)  # type: ignore[arg-type]


def test_missing_values_are_refused() -> None:
    expression = HAND.copy()
    expression.loc["s1", "C"] = np.nan
    with pytest.raises(InputError, match=r"1 missing values \(first at sample 's1', gene 'C'\)"):
        ssgsea(expression, {"AC": ["A", "C"]}, min_size=1)


def test_no_surviving_set_names_the_id_mismatch() -> None:
    with pytest.raises(InputError, match=r"no gene set of .* survives.*ENSG00000141510"):
        ssgsea(HAND, {"P": ["ENSG00000141510", "ENSG00000012048"]}, min_size=1)
    with pytest.raises(InputError, match="covers all 4 genes"):
        ssgsea(HAND, {"all": ["A", "B", "C", "D"]}, min_size=1)


def test_duplicated_genes_are_refused() -> None:
    expression = pd.DataFrame([[1.0, 2.0]], index=["s"], columns=["A", "A"])
    with pytest.raises(InputError, match="duplicated gene ids"):
        ssgsea(expression, {"A": ["A"]}, min_size=1)


def test_constant_samples_are_flagged(caplog):
    import logging

    frame = pd.DataFrame(
        [[1.0] * 6, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], index=["flat", "ok"], columns=list("ABCDEF")
    )
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        ssgsea(frame, {"s": ["A", "B"]}, min_size=1)
    assert "1 of 2 samples have the same value for every gene (first: 'flat')" in caplog.text


def test_id_type_mismatch_and_missing_values_name_the_file_and_the_cause(tmp_path):
    from organoidrx._utils import InputError
    from organoidrx.io import read_expression

    path = tmp_path / "tumours.tsv"
    path.write_text("gene\tS1\tS2\n" + "".join(f"ENSG{i:011d}\t{i}\t{2 * i}\n" for i in range(1, 30)))
    sets = {"s": ["TP53", "EGFR", "KRAS", "BRAF", "MYC"]}
    with pytest.raises(
        InputError,
        match=r"tumours\.tsv.*gene sets use gene symbols but the expression matrix tumours\.tsv uses Ens",
    ):
        ssgsea(read_expression(path), sets, min_size=1)
    path.write_text("gene\tS1\tS2\nA\t1\tNA\nB\t2\t3\n")
    with pytest.raises(InputError, match=r"the expression matrix tumours\.tsv has 1 missing values"):
        ssgsea(read_expression(path), {"s": ["A"]}, min_size=1)


def test_a_transposed_matrix_is_named_as_such(tmp_path):
    from organoidrx._utils import InputError
    from organoidrx.io import read_expression

    genes = ["TP53", "EGFR", "KRAS", "BRAF", "MYC", "PTEN"]
    path = tmp_path / "samples_by_genes.tsv"  # written samples x genes: the genes become the sample ids
    rows = "".join(f"S{i}\t" + "\t".join(str(i * j + j) for j in range(6)) + "\n" for i in range(4))
    path.write_text("sample\t" + "\t".join(genes) + "\n" + rows)
    with pytest.raises(InputError, match=r"looks transposed: its sample ids \('TP53'"):
        ssgsea(read_expression(path), {"s": genes[:5]}, min_size=2)
