"""permutation_test: Phipson-Smyth p, within-drug shuffling, reproducibility, calibration under the null."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from scipy import stats

from organoidrx._utils import InputError
from organoidrx.evaluation import permutation_test, permute_response


def _responses(seed: int, n_samples: int = 20, link: float = 0.0) -> tuple[pd.DataFrame, pd.Series]:
    """Two drugs' responses on the same organoids and one organoid feature linked to drug A by ``link``."""
    rng = np.random.default_rng(seed)
    samples = [f"org{i}" for i in range(n_samples)]
    feature = pd.Series(rng.normal(size=n_samples), index=samples)
    a = link * feature.to_numpy() + rng.normal(size=n_samples)
    b = rng.normal(size=n_samples) + 10.0
    table = pd.DataFrame(
        {"sample": samples * 2, "drug": ["A"] * n_samples + ["B"] * n_samples, "value": np.r_[a, b]}
    )
    return table, feature


def _correlation_statistic(feature: pd.Series):
    """Spearman correlation of drug A's responses with the feature (rows of drug A come first, in feature order)."""
    ranked_feature = stats.rankdata(feature.to_numpy())
    n = len(feature)

    def statistic(response: pd.DataFrame) -> float:
        a = response["value"].to_numpy()[:n]
        return float(np.corrcoef(ranked_feature, stats.rankdata(a))[0, 1])

    return statistic


def test_permute_within_drug_keeps_values_per_drug():
    table, _ = _responses(0)
    before = table.copy()
    permuted = permute_response(table, random_state=4)
    pd.testing.assert_frame_equal(table, before)
    assert list(permuted["sample"]) == list(table["sample"]) and list(permuted["drug"]) == list(table["drug"])
    for drug in ("A", "B"):
        original = np.sort(table.loc[table["drug"] == drug, "value"].to_numpy())
        shuffled = np.sort(permuted.loc[permuted["drug"] == drug, "value"].to_numpy())
        np.testing.assert_array_equal(original, shuffled)
    assert not permuted["value"].equals(table["value"])
    pd.testing.assert_frame_equal(permute_response(table, random_state=4), permuted)


def test_p_value_formula():
    table, feature = _responses(1)
    constant = permutation_test(lambda r: 1.0, table, n_permutations=9)
    assert constant.p_value == 1.0  # every permutation ties with the observation
    # the observed table puts drug A's values in their original order; a statistic only the identity reaches
    original = table["value"].to_numpy()
    exact = permutation_test(
        lambda r: float(np.array_equal(r["value"].to_numpy(), original)), table, n_permutations=99
    )
    assert exact.observed == 1.0 and exact.p_value == pytest.approx(1 / 100)
    less = permutation_test(_correlation_statistic(feature), table, n_permutations=99, alternative="less")
    greater = permutation_test(
        _correlation_statistic(feature), table, n_permutations=99, alternative="greater"
    )
    np.testing.assert_array_equal(less.null, greater.null)
    n_le = int((less.null <= less.observed).sum())
    assert less.p_value == pytest.approx((1 + n_le) / 100)


def test_reproducible_per_seed_and_independent_of_n_jobs():
    table, feature = _responses(2)
    statistic = _correlation_statistic(feature)
    first = permutation_test(statistic, table, n_permutations=40, random_state=7)
    again = permutation_test(statistic, table, n_permutations=40, random_state=7)
    other = permutation_test(statistic, table, n_permutations=40, random_state=8)
    np.testing.assert_array_equal(first.null, again.null)
    assert not np.array_equal(first.null, other.null)
    with parallel_config(
        backend="threading"
    ):  # same chunking and seeding as processes, without their start-up
        parallel = permutation_test(statistic, table, n_permutations=40, random_state=7, n_jobs=2)
    np.testing.assert_array_equal(first.null, parallel.null)
    assert parallel.p_value == first.p_value


def test_p_values_are_calibrated_without_a_link():
    p_values = []
    for seed in range(40):
        table, feature = _responses(100 + seed)
        result = permutation_test(
            _correlation_statistic(feature), table, n_permutations=99, random_state=seed
        )
        p_values.append(result.p_value)
    p_values = np.array(p_values)
    # under the null P(p <= 0.05) = 5/100 on this grid; 99.9% binomial upper limit for 40 draws
    limit = stats.binom.ppf(0.999, 40, 0.05)
    assert (p_values <= 0.05).sum() <= limit
    assert stats.kstest(p_values, "uniform").pvalue > 0.001
    assert 0.3 < p_values.mean() < 0.7


def test_planted_link_gives_small_p():
    table, feature = _responses(3, n_samples=30, link=1.5)
    result = permutation_test(_correlation_statistic(feature), table, n_permutations=199)
    assert result.p_value <= 0.01
    assert result.observed > np.quantile(result.null, 0.99)


def test_failed_permutations_are_conservative_and_reported():
    table, feature = _responses(4)
    statistic = _correlation_statistic(feature)
    calls = {"n": 0}

    def flaky(response: pd.DataFrame) -> float:
        calls["n"] += 1
        return float("nan") if calls["n"] in (2, 5) else statistic(response)

    result = permutation_test(flaky, table, n_permutations=20)
    assert result.n_failed == 2
    assert any("non-finite" in w for w in result.warnings)
    n_extreme = int((result.null[np.isfinite(result.null)] >= result.observed).sum())
    assert result.p_value == pytest.approx((1 + n_extreme + 2) / 21)


def test_series_response_and_errors():
    rng = np.random.default_rng(0)
    series = pd.Series(rng.normal(size=10), index=[f"o{i}" for i in range(10)])
    result = permutation_test(lambda s: float(s.iloc[0]), series, n_permutations=30)
    assert len(result.null) == 30 and result.to_frame().shape[0] == 1
    with pytest.raises(InputError, match=r"response is missing columns \['drug'\]"):
        permutation_test(lambda r: 0.0, pd.DataFrame({"sample": ["a"], "value": [1.0]}))
    with pytest.raises(InputError, match="n_permutations must be a positive integer"):
        permutation_test(lambda r: 0.0, series, n_permutations=0)
    with pytest.raises(InputError, match="alternative must be"):
        permutation_test(lambda r: 0.0, series, alternative="both")  # type: ignore[arg-type]


def test_a_non_finite_observed_statistic_runs_no_permutations():
    table, _ = _responses(0)
    calls: list[int] = []

    def statistic(response: pd.DataFrame) -> float:
        calls.append(1)
        return float("nan")

    result = permutation_test(statistic, table, n_permutations=999)
    assert np.isnan(result.p_value) and result.n_permutations == 0 and len(calls) == 1
    assert "not finite" in result.warnings[0]


def test_progress_is_reported_per_permutation():
    table, _ = _responses(0)
    calls: list[tuple[int, int]] = []
    permutation_test(
        lambda r: float(r["value"].iloc[0]),
        table,
        n_permutations=25,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(k, 25) for k in range(1, 26)]
