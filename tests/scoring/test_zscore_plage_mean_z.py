"""z-score, PLAGE and mean_z: hand-worked cases, R GSVA's code followed line by line, invariances, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx import get_method
from organoidrx._utils import InputError
from organoidrx.scoring import mean_z, plage, score, zscore

from ..conftest import shared_file

METHODS = ["zscore", "plage", "mean_z"]


def r_scale_rows(x: list[list[float]]) -> list[list[float]]:
    """``t(scale(t(X)))`` of R for a genes x samples matrix (lists of rows): each gene centred on its mean over
    the samples and divided by ``sqrt(sum(v^2) / (n - 1))`` of the centred values (R's ``scale``)."""
    out = []
    for row in x:
        n = len(row)
        centre = sum(row) / n
        centred = [v - centre for v in row]
        spread = math.sqrt(sum(v * v for v in centred) / max(1, n - 1))
        out.append([v / spread for v in centred])
    return out


def gsva_r_reference(expression: pd.DataFrame, gene_sets: dict[str, list[str]], method: str) -> pd.DataFrame:
    """R GSVA's ``zscore`` and ``plage`` (R/zscore.R, R/plage.R, rcastelo/GSVA) and the mean z-score, line by line.

    ``X`` is genes x samples; ``Z <- t(scale(t(X)))``; zscore: ``colSums(Z[gSetIdx, , drop=FALSE]) /
    sqrt(length(gSetIdx))``; plage: ``svd(Z[gSetIdx, ])$v[, 1]`` (LAPACK's SVD, here numpy's, so its sign is
    LAPACK's choice); mean_z: ``colMeans(Z[gSetIdx, ])``.
    """
    genes = list(expression.columns)
    x = expression.T.to_numpy().tolist()  # genes x samples
    z = r_scale_rows(x)
    row_of = {g: i for i, g in enumerate(genes)}
    n_samples = expression.shape[0]
    columns = {}
    for pathway, members in gene_sets.items():
        idx = [row_of[g] for g in members if g in row_of]
        if method == "zscore":
            columns[pathway] = [sum(z[i][j] for i in idx) / math.sqrt(len(idx)) for j in range(n_samples)]
        elif method == "mean_z":
            columns[pathway] = [sum(z[i][j] for i in idx) / len(idx) for j in range(n_samples)]
        else:
            _, _, vt = np.linalg.svd(np.array([z[i] for i in idx]))
            columns[pathway] = vt[0].tolist()
    return pd.DataFrame(columns, index=expression.index)


def assert_equal_up_to_sign(ours: pd.DataFrame, reference: pd.DataFrame, rtol: float = 1e-10) -> None:
    """PLAGE's convention: each column equals R's or its negation."""
    for pathway in ours.columns:
        a, b = ours[pathway].to_numpy(), reference[pathway].to_numpy()
        sign = 1.0 if np.abs(a - b).max() <= np.abs(a + b).max() else -1.0
        np.testing.assert_allclose(a, sign * b, rtol=rtol, atol=1e-12, err_msg=pathway)


# ------------------------------------------------------------------------------------------- worked by hand
def test_zscore_and_mean_z_worked_by_hand() -> None:
    # A = [1, 3]: mean 2, sd sqrt(2) -> z = -1/sqrt2, +1/sqrt2; B = [0, 4]: mean 2, sd sqrt(8) -> the same z.
    # zscore = (z_A + z_B) / sqrt(2) = -+1; mean_z = (z_A + z_B) / 2 = -+1/sqrt(2). C is in no set.
    expression = pd.DataFrame({"A": [1.0, 3.0], "B": [0.0, 4.0], "C": [5.0, 5.0]}, index=["s1", "s2"])
    sets = {"AB": ["A", "B"]}
    assert zscore(expression, sets, min_size=1)["AB"].to_numpy() == pytest.approx([-1.0, 1.0], abs=1e-15)
    half = 1 / math.sqrt(2)
    assert mean_z(expression, sets, min_size=1)["AB"].to_numpy() == pytest.approx([-half, half], abs=1e-15)


def test_plage_worked_by_hand() -> None:
    # A and B are the same standardised gene, z = [-1, 0, 1], and D its opposite: every set below has rank one,
    # its first singular vector over the samples is +-z / |z| = +-[-1, 0, 1] / sqrt(2). AB: both genes load
    # +1/sqrt(2) on [-1, 0, 1] / sqrt(2), -1/sqrt(2) on its negation; the positive sum picks the first.
    expression = pd.DataFrame(
        {"A": [1.0, 2.0, 3.0], "B": [2.0, 4.0, 6.0], "C": [0.0, 1.0, 0.0], "D": [3.0, 2.0, 1.0]},
        index=["s1", "s2", "s3"],
    )
    half = 1 / math.sqrt(2)
    scores = plage(expression, {"AB": ["A", "B"], "BD": ["B", "D"], "ABD": ["A", "B", "D"]}, min_size=1)
    assert scores["AB"].to_numpy() == pytest.approx([-half, 0.0, half], abs=1e-12)
    # B and D cancel: z_D = -z_B, the loadings +-1/sqrt(2) sum to 0; B, listed first of the equal loadings,
    # loads positively, so the activity follows B
    assert scores["BD"].to_numpy() == pytest.approx([-half, 0.0, half], abs=1e-12)
    assert plage(expression, {"DB": ["D", "B"]}, min_size=1)["DB"].to_numpy() == pytest.approx(
        [half, 0.0, -half]
    )
    # two of three genes up: loadings (1, 1, -1)/sqrt(3) sum > 0, so the activity follows A and B
    assert scores["ABD"].to_numpy() == pytest.approx([-half, 0.0, half], abs=1e-12)


# ------------------------------------------------------------------------------------- against R's lines
@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    rng = np.random.default_rng(30)
    values = rng.normal(size=(10, 150)) @ np.diag(rng.uniform(0.2, 3, 150)) + rng.normal(5, 2, 150)
    expression = pd.DataFrame(
        values, index=[f"S{i}" for i in range(10)], columns=[f"G{j}" for j in range(150)]
    )
    sizes = rng.integers(1, 40, size=20)
    return expression, {
        f"SET{i}": list(rng.choice(expression.columns, s, replace=False)) for i, s in enumerate(sizes)
    }


@pytest.mark.parametrize("method", METHODS)
def test_equal_to_gsva_r_code(cohort: tuple[pd.DataFrame, dict[str, list[str]]], method: str) -> None:
    expression, gene_sets = cohort
    ours = score(expression, gene_sets, method=method, min_size=1)
    reference = gsva_r_reference(expression, gene_sets, method)[ours.columns]
    if method == "plage":
        assert_equal_up_to_sign(ours, reference)
    else:
        np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.shared_data
@pytest.mark.parametrize("method", METHODS)
def test_equal_to_gsva_r_code_on_organoids(shared_data: Path, method: str) -> None:
    path = shared_file(shared_data, "kong2020/organoid_coad/ssgsea_input_expression.tsv")
    expression = pd.read_csv(path, sep="\t", index_col=0).drop(columns="DESCRIPTION").T
    genes = set(expression.columns)
    gene_sets: dict[str, list[str]] = {}
    gmt = shared_file(shared_data, "kong2020/reactome_msigdb_v6.1_organoid.gmt")
    for line in gmt.read_text().splitlines():
        fields = line.split("\t")
        present = [g for g in fields[2:] if g in genes]
        if len(present) >= 5:
            gene_sets[fields[0]] = present
    ours = score(expression, gene_sets, method=method)
    assert ours.shape == (22, len(gene_sets))
    reference = gsva_r_reference(expression, gene_sets, method)[ours.columns]
    if method == "plage":
        assert_equal_up_to_sign(ours, reference)
    else:
        np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), rtol=1e-10, atol=1e-12)


def test_plage_orientation_follows_the_mean_z_score(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]],
) -> None:
    expression, gene_sets = cohort
    activity = plage(expression, gene_sets, min_size=1)
    average = mean_z(expression, gene_sets, min_size=1)
    # u . mean z = sigma_1 * sum(v_1) / k >= 0 (0 for SET2: two anticorrelated genes)
    assert ((activity * average).sum() > -1e-12).all()
    np.testing.assert_allclose((activity**2).sum().to_numpy(), 1.0, rtol=1e-12)
    # negating every gene of the cohort negates the activity: the sign follows the data, not LAPACK
    pd.testing.assert_frame_equal(plage(-expression, gene_sets, min_size=1), -activity, rtol=1e-9, atol=1e-12)


def test_mean_z_is_zscore_over_root_size(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    combined = zscore(expression, gene_sets, min_size=1)
    sizes = pd.Series({p: len(g) for p, g in gene_sets.items()})
    pd.testing.assert_frame_equal(
        mean_z(expression, gene_sets, min_size=1), combined / np.sqrt(sizes), rtol=1e-12
    )


# ------------------------------------------------------------------------------------------------ invariances
@pytest.mark.parametrize("method", METHODS)
def test_invariant_to_gene_order_and_gene_scale(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], method: str
) -> None:
    expression, gene_sets = cohort
    reference = score(expression, gene_sets, method=method, min_size=1)
    shuffled = expression.iloc[:, np.random.default_rng(2).permutation(expression.shape[1])]
    pd.testing.assert_frame_equal(
        score(shuffled, gene_sets, method=method, min_size=1), reference, rtol=1e-9, atol=1e-12
    )
    rescaled = expression * np.random.default_rng(3).uniform(0.5, 4, expression.shape[1]) - 7.0
    pd.testing.assert_frame_equal(
        score(rescaled, gene_sets, method=method, min_size=1), reference, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("method", METHODS)
def test_scores_follow_the_samples_and_depend_on_the_cohort(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], method: str
) -> None:
    expression, gene_sets = cohort
    assert get_method("scorer", method).sample_independent is False
    whole = score(expression, gene_sets, method=method, min_size=1)
    reordered = score(expression.iloc[::-1], gene_sets, method=method, min_size=1)
    pd.testing.assert_frame_equal(reordered, whole.iloc[::-1], rtol=1e-9, atol=1e-12)
    part = score(expression.iloc[:6], gene_sets, method=method, min_size=1)
    assert not np.allclose(part.to_numpy(), whole.iloc[:6].to_numpy())


# ------------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("method", METHODS)
def test_one_sample_is_a_clear_error(cohort: tuple[pd.DataFrame, dict[str, list[str]]], method: str) -> None:
    expression, gene_sets = cohort
    with pytest.raises(
        InputError, match=rf"{method} standardises each gene across the samples and needs at least 2; got 1"
    ) as error:
        score(expression.iloc[:1], gene_sets, method=method, min_size=1)
    assert "\n" not in str(error.value)


def test_a_scorer_s_error_names_the_expression_file(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], tmp_path: Path
) -> None:
    """As the readers' errors do: 'one.tsv: zscore standardises each gene ...'."""
    from organoidrx.io import read_expression

    expression, gene_sets = cohort
    expression.iloc[:1].T.rename_axis("gene").to_csv(tmp_path / "one.tsv", sep="\t")
    with pytest.raises(InputError, match=r"^one\.tsv: zscore standardises each gene across the samples"):
        score(read_expression(tmp_path / "one.tsv"), gene_sets, method="zscore", min_size=1)


@pytest.mark.parametrize("method", METHODS)
def test_a_constant_gene_of_a_set_is_a_clear_error(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], method: str
) -> None:
    expression, gene_sets = cohort
    in_set = gene_sets["SET0"][0]
    outside = next(g for g in expression.columns if all(g not in s for s in gene_sets.values()))
    with pytest.raises(
        InputError, match=rf"1 of the gene sets' genes is constant over the 10 samples \(first: '{in_set}'\)"
    ):
        score(expression.assign(**{in_set: 2.0}), gene_sets, method=method, min_size=1)
    score(
        expression.assign(**{outside: 2.0}), gene_sets, method=method, min_size=1
    )  # a gene in no set is fine


@pytest.mark.parametrize("method", METHODS)
def test_takes_no_options(cohort: tuple[pd.DataFrame, dict[str, list[str]]], method: str) -> None:
    expression, gene_sets = cohort
    with pytest.raises(
        InputError, match=rf"scorer '{method}' has no option 'weight' \(it takes no options\)"
    ):
        score(expression, gene_sets, method=method, weight=1.0)
