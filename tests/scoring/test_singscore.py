"""singscore: a hand-worked case, a plain reference written from the R package's code, invariances, errors."""

from __future__ import annotations

import bisect
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx import get_method
from organoidrx._utils import InputError
from organoidrx.scoring import score, singscore

from ..conftest import shared_file


def singscore_reference(
    expression: pd.DataFrame,
    gene_sets: dict[str, list[str]],
    *,
    center: bool = True,
    known_direction: bool = True,
    statistic: str = "score",
) -> pd.DataFrame:
    """singscore's ``rankGenes`` + ``simpleScore`` (R/rankAndScoring.R, DavisLaboratory/singscore), sample by
    sample and gene by gene in plain Python.

    rankExpr: ``colRanks(ties.method = "min")``. singleSingscore: with ``knownDirection = FALSE`` the ranks become
    ``abs(x - ceiling(median(x)))`` and the bounds use ``floor(k / 2)`` and ``ceiling(N / 2)`` (calcBoundsUnknownDir),
    no centring; calcBounds: ``lowBound = (k + 1) / 2``, ``upBound = (2 N - k + 1) / 2``; calcScores:
    ``(colMeans(gsranks) - low) / (up - low) + offset`` (offset -0.5 when centring) and ``mad`` of the set's ranks.
    """
    genes = list(expression.columns)
    rows = {}
    for sample, values in expression.iterrows():
        ordered = sorted(values.tolist())
        rank = {g: bisect.bisect_left(ordered, v) + 1 for g, v in zip(genes, values.tolist(), strict=True)}
        n_genes = len(genes)
        offset = -0.5 if center else 0.0
        if not known_direction:
            middle = math.ceil(statistics.median(rank.values()))
            rank = {g: abs(r - middle) for g, r in rank.items()}
            offset = 0.0
        row = {}
        for pathway, members in gene_sets.items():
            chosen = [rank[g] for g in members if g in rank]
            k, n = len(chosen), n_genes
            if not known_direction:
                k, n = k // 2, math.ceil(n_genes / 2)
            low, high = (k + 1) / 2, (2 * n - k + 1) / 2
            if statistic == "score":
                row[pathway] = (sum(chosen) / len(chosen) - low) / (high - low) + offset
            else:
                middle_rank = statistics.median(chosen)
                row[pathway] = 1.4826 * statistics.median(abs(r - middle_rank) for r in chosen)
        rows[sample] = row
    return pd.DataFrame.from_dict(rows, orient="index")


# ------------------------------------------------------------------------------------------- worked by hand
HAND = pd.DataFrame([[5.0, 3.0, 3.0, 1.0, 4.0]], index=["s1"], columns=["A", "B", "C", "D", "E"])
HAND_SETS = {"BCA": ["B", "C", "A"], "AE": ["A", "E"]}


def test_five_genes_worked_by_hand() -> None:
    # Ranks with ties at the lowest: D 1, B 2, C 2, E 4, A 5 (N = 5).
    # BCA: mean (2 + 2 + 5) / 3 = 3 between (k + 1) / 2 = 2 and (2N - k + 1) / 2 = 4 -> 0.5, centred 0.
    # AE: mean 4.5 between 1.5 and 4.5 -> 1, centred 0.5.
    scores = singscore(HAND, HAND_SETS, min_size=1)
    assert scores.loc["s1"].tolist() == [0.0, 0.5]
    assert singscore(HAND, HAND_SETS, min_size=1, center=False).loc["s1"].tolist() == [0.5, 1.0]
    # dispersion, R's mad: BCA |2 - 2|, |2 - 2|, |5 - 2| -> median 0; AE |5 - 4.5|, |4 - 4.5| -> 1.4826 * 0.5
    spread = singscore(HAND, HAND_SETS, min_size=1, statistic="dispersion")
    assert spread.loc["s1"].tolist() == [0.0, pytest.approx(0.7413, abs=1e-15)]
    # unknown direction: distances from ceiling(median rank) = 2: A 3, B 0, C 0, D 1, E 2; AE: mean 2.5 between
    # (1 + 1) / 2 = 1 and (2 * 3 - 1 + 1) / 2 = 3 (k = floor(2 / 2) = 1, N = ceiling(5 / 2) = 3) -> 0.75
    either = singscore(HAND, HAND_SETS, min_size=1, known_direction=False)
    assert either.loc["s1", "AE"] == 0.75
    pd.testing.assert_frame_equal(
        either, singscore_reference(HAND, HAND_SETS, known_direction=False), check_names=False
    )


# ----------------------------------------------------------------------------------------- against the loop
@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    rng = np.random.default_rng(8)
    values = rng.integers(0, 30, size=(7, 120)).astype(float)  # many ties
    values[3] = rng.normal(size=120)
    expression = pd.DataFrame(
        values, index=[f"S{i}" for i in range(7)], columns=[f"G{j}" for j in range(120)]
    )
    sizes = rng.integers(2, 60, size=15)
    return expression, {
        f"SET{i}": list(rng.choice(expression.columns, s, replace=False)) for i, s in enumerate(sizes)
    }


OPTIONS = [
    {},
    {"center": False},
    {"statistic": "dispersion"},
    {"known_direction": False},
    {"known_direction": False, "statistic": "dispersion"},
]


@pytest.mark.parametrize("options", OPTIONS)
def test_equal_to_the_reference_loop(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], options: dict
) -> None:
    expression, gene_sets = cohort
    ours = singscore(expression, gene_sets, min_size=1, **options)
    expected = singscore_reference(expression, gene_sets, **options)
    np.testing.assert_allclose(
        ours.to_numpy(), expected.loc[ours.index, ours.columns].to_numpy(), rtol=1e-10, atol=1e-12
    )


@pytest.mark.shared_data
@pytest.mark.parametrize("options", OPTIONS[:4])
def test_equal_to_the_reference_loop_on_organoids(shared_data: Path, options: dict) -> None:
    path = shared_file(shared_data, "kong2020/organoid_coad/ssgsea_input_expression.tsv")
    expression = pd.read_csv(path, sep="\t", index_col=0).drop(columns="DESCRIPTION").T
    genes = set(expression.columns)
    gene_sets: dict[str, list[str]] = {}
    for line in (
        shared_file(shared_data, "kong2020/reactome_msigdb_v6.1_organoid.gmt").read_text().splitlines()
    ):
        fields = line.split("\t")
        present = [g for g in fields[2:] if g in genes]
        if len(present) >= 5:
            gene_sets[fields[0]] = present
    ours = singscore(expression, gene_sets, **options)
    expected = singscore_reference(expression, gene_sets, **options)
    assert ours.shape == (22, len(gene_sets))
    np.testing.assert_allclose(
        ours.to_numpy(), expected.loc[ours.index, ours.columns].to_numpy(), rtol=1e-10, atol=1e-12
    )


# ------------------------------------------------------------------------------------------------ invariances
def test_a_sample_scored_alone_scores_the_same(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    assert get_method("scorer", "singscore").sample_independent is True
    together = singscore(expression, gene_sets, min_size=1)
    for sample in expression.index:
        alone = singscore(expression.loc[[sample]], gene_sets, min_size=1)
        pd.testing.assert_frame_equal(alone, together.loc[[sample]], rtol=0, atol=0)


def test_invariant_to_gene_order_and_monotone_transforms(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]],
) -> None:
    expression, gene_sets = cohort
    reference = singscore(expression, gene_sets, min_size=1, statistic="dispersion")
    shuffled = expression.iloc[:, np.random.default_rng(1).permutation(expression.shape[1])]
    pd.testing.assert_frame_equal(
        singscore(shuffled, gene_sets, min_size=1, statistic="dispersion"), reference
    )
    transformed = np.log1p(expression - expression.min().min()) * 3 + 2
    pd.testing.assert_frame_equal(
        singscore(transformed, gene_sets, min_size=1, statistic="dispersion"), reference
    )


def test_chunks_do_not_change_the_scores(cohort: tuple[pd.DataFrame, dict[str, list[str]]]) -> None:
    expression, gene_sets = cohort
    for options in OPTIONS:
        pd.testing.assert_frame_equal(
            singscore(expression, gene_sets, min_size=1, chunk_size=2, **options),
            singscore(expression, gene_sets, min_size=1, **options),
            rtol=0,
            atol=0,
        )


# ------------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"statistic": "mad"}, r"statistic must be one of score, dispersion; got 'mad'"),
        ({"center": "no"}, r"center must be true or false; got 'no'"),
        ({"known_direction": None}, r"known_direction must be true or false; got None"),
    ],
)
def test_bad_options_are_one_line_input_errors(
    cohort: tuple[pd.DataFrame, dict[str, list[str]]], options: dict, message: str
) -> None:
    expression, gene_sets = cohort
    with pytest.raises(InputError, match=message) as error:
        score(expression, gene_sets, method="singscore", **options)
    assert "\n" not in str(error.value)
