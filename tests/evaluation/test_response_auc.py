"""response_auc and the DeLong kernel: hand-worked AUROC, slow reference loop, sklearn/scipy agreement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from organoidrx._utils import InputError
from organoidrx.evaluation import delong_variance, encode_response, response_auc


def _delong_slow(positive: np.ndarray, negative: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) written with explicit placement values, as the reference for the midrank kernel."""
    m, n = len(positive), len(negative)
    psi = np.array([[1.0 if x > y else 0.5 if x == y else 0.0 for y in negative] for x in positive])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    s10 = sum((v - v10.mean()) ** 2 for v in v10) / (m - 1)
    s01 = sum((v - v01.mean()) ** 2 for v in v01) / (n - 1)
    return float(psi.mean()), float(s10 / m + s01 / n)


def test_auc_by_hand():
    # responders a, c (IC50 1 and 3), non-responders b, d, e (2, 4, 5). Pairs where the responder has the lower
    # IC50: a<b, a<d, a<e, c<d, c<e -> 5 of 6.
    predicted = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=list("abcde"))
    response = pd.Series(["CR", "SD", "PR", "PD", "PD"], index=list("abcde"))
    result = response_auc(predicted, response)
    assert result.auc == pytest.approx(5 / 6)
    assert (result.n_responders, result.n_non_responders) == (2, 3)
    assert result.mannwhitney_u == pytest.approx(5.0)
    assert response_auc(predicted, response, lower_is_sensitive=False).auc == pytest.approx(1 / 6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_kernel_matches_slow_loop_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    positive = rng.integers(0, 8, 17).astype(float)  # integers -> many ties
    negative = rng.integers(0, 8, 23).astype(float) - 1.0
    auc, variance = delong_variance(positive, negative)
    slow_auc, slow_variance = _delong_slow(positive, negative)
    assert auc == pytest.approx(slow_auc) and variance == pytest.approx(slow_variance)
    y = np.r_[np.ones(17), np.zeros(23)]
    assert auc == pytest.approx(roc_auc_score(y, np.r_[positive, negative]))


def test_delong_ci_mann_whitney_and_bootstrap():
    rng = np.random.default_rng(5)
    ids = [f"p{i}" for i in range(60)]
    responder = rng.random(60) < 0.4
    predicted = pd.Series(rng.normal(size=60) - 1.0 * responder, index=ids)
    response = pd.Series(np.where(responder, "Partial Response", "Clinical Progressive Disease"), index=ids)
    result = response_auc(predicted, response)
    scores = -predicted.to_numpy()
    auc, variance = _delong_slow(scores[responder], scores[~responder])
    half = stats.norm.ppf(0.975) * math.sqrt(variance)
    assert (result.ci_lower, result.ci_upper) == pytest.approx((auc - half, auc + half))
    expected = stats.mannwhitneyu(scores[responder], scores[~responder], alternative="two-sided")
    assert result.mannwhitney_p == pytest.approx(expected.pvalue)
    assert result.mannwhitney_u / (result.n_responders * result.n_non_responders) == pytest.approx(result.auc)

    boot = response_auc(predicted, response, ci_method="bootstrap", n_bootstrap=500, random_state=1)
    again = response_auc(predicted, response, ci_method="bootstrap", n_bootstrap=500, random_state=1)
    other = response_auc(predicted, response, ci_method="bootstrap", n_bootstrap=500, random_state=2)
    assert boot.to_dict() == again.to_dict()
    assert (boot.ci_lower, boot.ci_upper) != (other.ci_lower, other.ci_upper)
    assert boot.ci_lower < boot.auc < boot.ci_upper
    assert boot.ci_lower == pytest.approx(result.ci_lower, abs=0.06)
    assert boot.ci_upper == pytest.approx(result.ci_upper, abs=0.06)


def test_missing_and_unmatched_are_counted():
    predicted = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, np.nan], index=list("abcdef"))
    response = pd.Series(["CR", "SD", None, "PD", "PR", "PD", "CR"], index=list("abcdefg"))
    result = response_auc(predicted, response)
    assert result.n_missing_response == 1 and result.n_unmatched == 1
    assert (result.n_responders, result.n_non_responders) == (2, 2)
    joined = " ".join(result.warnings)
    assert "have no clinical response" in joined and "appear in only one" in joined
    assert "have no prediction" in joined
    row = result.to_frame()
    assert len(row) == 1 and {"auc", "ci_lower", "ci_upper", "mannwhitney_p"} <= set(row.columns)


def test_encode_response_labels():
    encoded = encode_response(pd.Series([" cr", "Partial Response", "stable  disease", "PD", None, 1]))
    assert encoded.tolist()[:4] == [1.0, 1.0, 0.0, 0.0]
    assert math.isnan(encoded.iloc[4])
    assert encode_response(pd.Series([True, False])).tolist() == [1.0, 0.0]
    with pytest.raises(InputError, match=r"unknown response labels \{'MR', 'NE'\}"):
        encode_response(pd.Series(["CR", "MR", "NE"]))
    with pytest.raises(InputError, match=r"must be 0/1 when numeric; found values \{2\}"):
        encode_response(pd.Series([0, 1, 2]))


def test_needs_both_classes():
    predicted = pd.Series([1.0, 2.0], index=["a", "b"])
    with pytest.raises(InputError, match="found 2 responders and 0 non-responders"):
        response_auc(predicted, pd.Series(["CR", "PR"], index=["a", "b"]))
    with pytest.raises(InputError, match="ci_method must be"):
        response_auc(predicted, pd.Series(["CR", "PD"], index=["a", "b"]), ci_method="wald")  # type: ignore[arg-type]


def test_degenerate_intervals_are_said_or_missing():
    labels = pd.Series(["CR", "PR", "PR", "SD", "PD", "PD"], index=list("abcdef"))
    flat = response_auc(pd.Series(1.0, index=labels.index), labels)
    assert flat.auc == 0.5 and any("same prediction" in w for w in flat.warnings)
    # two against two, separated: DeLong's variance is 0 (as pROC's); the interval has no width, and says so
    separated = response_auc(
        pd.Series([1.0, 2.0, 3.0, 4.0], index=list("abcd")), pd.Series([1, 1, 0, 0], index=list("abcd"))
    )
    assert (separated.ci_lower, separated.ci_upper) == (
        1.0,
        1.0,
    ) and separated.mannwhitney_p == pytest.approx(1 / 3)
    assert any("DeLong variance is 0" in w for w in separated.warnings)
    # one responder: no interval, by either method
    one = (pd.Series([1.0, 2.0, 3.0], index=list("abc")), pd.Series([1, 0, 0], index=list("abc")))
    for method in ("delong", "bootstrap"):
        result = response_auc(*one, ci_method=method)
        assert math.isnan(result.ci_lower) and math.isnan(result.ci_upper)


def _fisher_two_sided(cells: list[list[int]]) -> float:
    """Fisher's exact test written out: the hypergeometric probability of every table with the observed margins
    that is no more probable than the observed one (R's fisher.test compares with a relative tolerance 1e-7)."""
    (a, b), (c, d) = cells
    rows, responders, total = a + b, a + c, a + b + c + d

    def probability(x: int) -> float:
        return math.comb(responders, x) * math.comb(total - responders, rows - x) / math.comb(total, rows)

    observed = probability(a)
    support = range(max(0, rows - (total - responders)), min(rows, responders) + 1)
    return sum(probability(x) for x in support if probability(x) <= observed * (1 + 1e-7))


def _split_case(cells: list[list[int]]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Patients with the given (predicted group x CR/PR, SD/PD) counts; predictions put the groups apart."""
    labels, groups = [], []
    for group, (cr_pr, sd_pd) in zip(("predicted responder", "predicted non-responder"), cells, strict=True):
        labels += ["CR"] * cr_pr + ["PD"] * sd_pd
        groups += [group] * (cr_pr + sd_pd)
    ids = [f"p{i}" for i in range(len(labels))]
    predicted = pd.Series(np.where(np.array(groups) == "predicted responder", 1.0, 2.0), index=ids)
    predicted += np.arange(len(ids)) * 1e-3
    return predicted, pd.Series(labels, index=ids), pd.Series(groups, index=ids)


def test_fisher_test_of_the_split_by_hand():
    # R's fisher.test help, "Tea tasting": matrix(c(3, 1, 1, 3)) has two-sided p = 0.4857. By hand: the tables with
    # margins 4/4 have probabilities (1, 16, 36, 16, 1) / 70 for 0..4 correct; those no more probable than the
    # observed 16/70 sum to 34/70.
    predicted, response, groups = _split_case([[3, 1], [1, 3]])
    result = response_auc(predicted, response, groups=groups)
    assert (
        result.n_predicted_responder_cr_pr,
        result.n_predicted_responder_sd_pd,
        result.n_predicted_non_responder_cr_pr,
        result.n_predicted_non_responder_sd_pd,
    ) == (3, 1, 1, 3)
    assert result.fisher_p == pytest.approx(34 / 70, rel=1e-12)
    assert round(result.fisher_p, 4) == 0.4857
    assert math.isnan(response_auc(predicted, response).fisher_p)  # without a split there is no table


@pytest.mark.parametrize(
    "cells", [[[8, 2], [1, 5]], [[0, 7], [6, 1]], [[5, 5], [5, 5]], [[12, 3], [9, 14]], [[1, 0], [0, 9]]]
)
def test_fisher_test_of_the_split_matches_the_definition(cells):
    predicted, response, groups = _split_case(cells)
    result = response_auc(predicted, response, groups=groups)
    assert result.fisher_p == pytest.approx(_fisher_two_sided(cells), rel=1e-8)


def test_fisher_test_counts_only_the_patients_of_the_auc():
    predicted, response, groups = _split_case([[4, 1], [1, 4]])
    response.iloc[0] = None  # a predicted responder without a recorded response is left out of both tests
    groups["not_in_response"] = "predicted non-responder"
    result = response_auc(predicted, response, groups=groups)
    assert result.n_predicted_responder_cr_pr == 3 and result.n_responders + result.n_non_responders == 9
    with pytest.raises(InputError, match="groups must be"):
        response_auc(predicted, response, groups=groups.replace("predicted responder", "R"))
