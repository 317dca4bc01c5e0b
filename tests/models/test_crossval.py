"""cross_validate_response: exact batched ridge, planted signal vs random sets, null, determinism, errors."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx._utils import InputError
from organoidrx.models import DrugResponseModel, cross_validate_response
from organoidrx.models._crossval import _correlations, _ridge_cv_predict


def _problem(n: int = 24, n_pathways: int = 60, n_genes: int = 80, seed: int = 0):
    """Pathways P0..P3 drive drug 'A' (noise sd 0.3); drug 'B' is pure noise; genes are unrelated."""
    rng = np.random.default_rng(seed)
    samples = [f"org{i}" for i in range(n)]
    scores = pd.DataFrame(
        rng.normal(size=(n, n_pathways)), index=samples, columns=[f"P{j}" for j in range(n_pathways)]
    )
    genes = pd.DataFrame(
        rng.normal(size=(n, n_genes)), index=samples, columns=[f"G{j}" for j in range(n_genes)]
    )
    signal = scores[["P0", "P1", "P2", "P3"]].to_numpy() @ np.array([1.0, -1.0, 0.8, 0.6])
    response = pd.concat(
        [
            pd.DataFrame({"sample": samples, "drug": "A", "value": signal + rng.normal(scale=0.3, size=n)}),
            pd.DataFrame({"sample": samples, "drug": "B", "value": rng.normal(size=n)}),
        ],
        ignore_index=True,
    )
    feature_sets = {
        "proximal": {"A": ["P0", "P1", "P2", "P3"], "B": ["P0", "P1", "P2", "P3"]},
        "targets": {"A": ["G0", "G1"], "B": ["G2", "G3"]},
    }
    return scores, genes, response, feature_sets


@pytest.mark.parametrize("n_features", [3, 40])  # primal and dual forms
@pytest.mark.parametrize("cv", ["loo", 4])
def test_batched_ridge_equals_sklearn_pipeline(n_features, cv):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3, 15, n_features))
    X[1, :, 0] = 2.5  # a constant column: StandardScaler leaves it at scale 1
    y = rng.normal(size=15)
    splitter = LeaveOneOut() if cv == "loo" else KFold(4, shuffle=True, random_state=0)
    folds = list(splitter.split(X[0]))
    fast = _ridge_cv_predict(X, y, folds, alpha=0.7)
    for s in range(3):
        slow = cross_val_predict(make_pipeline(StandardScaler(), Ridge(alpha=0.7)), X[s], y, cv=folds)
        np.testing.assert_allclose(fast[s], slow, rtol=1e-10, atol=1e-10)


def test_correlations_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([[1.0, 2.0, 3.0, 5.0], [4.0, 3.0, 2.0, 1.0], [7.0, 7.0, 7.0, 7.0]])
    spearman, pearson = _correlations(pred, y)
    np.testing.assert_allclose(spearman[:2], [1.0, -1.0])
    # pearson of (1,2,3,5) with (1,2,3,4): centred (-1.75,-.75,.25,2.25) . (-1.5,-.5,.5,1.5) / norms
    expected = 6.5 / np.sqrt(8.75 * 5.0)
    np.testing.assert_allclose(pearson[:2], [expected, -1.0])
    assert np.isnan(spearman[2]) and np.isnan(pearson[2])


def test_planted_signal_beats_random_sets_and_null_is_flat():
    scores, genes, response, feature_sets = _problem()
    out = cross_validate_response(scores, response, feature_sets=feature_sets, expression=genes, n_random=100)
    assert list(out.columns[:6]) == ["drug", "feature_set", "n_features", "spearman", "pearson", "n_samples"]
    table = out.set_index(["drug", "feature_set"])
    assert table.index.tolist() == [
        (d, s) for d in "AB" for s in ("proximal", "targets", "all_pathways", "all_genes")
    ]
    a = table.loc[("A", "proximal")]
    assert a["n_features"] == 4 and a["n_samples"] == 24 and a["n_random"] == 100
    assert a["spearman"] > 0.9 and a["pearson"] > 0.9
    assert abs(a["random_spearman_median"]) < 0.3
    assert a["random_spearman_q975"] < a["spearman"]
    assert a["random_p"] == pytest.approx(1 / 101)
    assert table.loc[("A", "targets"), "spearman"] < 0.3  # unrelated genes
    # the pure-noise drug: the planted pathways are no better than random sets of their size
    assert table.loc[("B", "proximal"), "random_p"] > 0.05
    assert np.isnan(table.loc[("A", "targets"), "random_p"]) and table.loc[("A", "targets"), "n_random"] == 0


def test_permuted_response_gives_no_signal():
    scores, _, response, feature_sets = _problem(seed=3)
    rng = np.random.default_rng(11)
    a = response[response["drug"] == "A"].copy()
    spearman = []
    for _ in range(5):
        a["value"] = rng.permutation(a["value"].to_numpy())
        out = cross_validate_response(
            scores, a, feature_sets={"proximal": feature_sets["proximal"]}, n_random=20, include_all=False
        )
        spearman.append(out["spearman"].iloc[0])
    assert abs(np.mean(spearman)) < 0.3
    assert max(spearman) < 0.6


def test_deterministic_and_independent_of_other_drugs():
    scores, genes, response, feature_sets = _problem()
    kwargs = {"feature_sets": feature_sets, "expression": genes, "n_random": 30, "random_state": 5}
    first = cross_validate_response(scores, response, **kwargs)
    second = cross_validate_response(scores.copy(), response.copy(), **kwargs)
    pd.testing.assert_frame_equal(first, second)
    alone = cross_validate_response(scores, response[response["drug"] == "A"], **kwargs)
    pd.testing.assert_frame_equal(alone, first[first["drug"] == "A"].reset_index(drop=True))
    other_seed = cross_validate_response(scores, response, **(kwargs | {"random_state": 6}))
    assert not np.allclose(
        first["random_spearman_median"].iloc[0], other_seed["random_spearman_median"].iloc[0]
    )


@pytest.mark.parametrize("cv", ["loo", 4])
def test_the_order_of_samples_pathways_and_genes_in_the_inputs_changes_nothing(cv):
    """Random sets are drawn from the columns in name order and the folds and shuffles over the samples in sorted
    order, so reordering the response rows, the pathways or the genes gives the same table."""
    scores, genes, response, feature_sets = _problem(n=14, n_pathways=40)
    kwargs = {"feature_sets": feature_sets, "expression": genes, "n_random": 30, "n_shuffles": 30, "cv": cv}
    kwargs |= {"random_sets_for": ["proximal", "targets"], "random_state": 5}
    first = cross_validate_response(scores, response, **kwargs)
    tested = first[first["feature_set"].isin(["proximal", "targets"])]
    assert tested["random_p"].notna().all() and tested["shuffled_p"].notna().all()
    reordered = cross_validate_response(
        scores.iloc[::-1, ::-1], response.iloc[::-1], **(kwargs | {"expression": genes.iloc[:, ::-1]})
    )
    # the drugs come in the order of the response rows
    reordered = reordered.sort_values("drug", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, reordered, rtol=1e-12)


def test_estimator_path_equals_fast_path_and_accepts_selection_pipelines():
    scores, _, response, feature_sets = _problem(n=14, n_pathways=12)
    a = response[response["drug"] == "A"]
    sets = {"proximal": feature_sets["proximal"]}
    fast = cross_validate_response(scores, a, feature_sets=sets, alpha=2.0, n_random=5, cv=4)
    slow = cross_validate_response(
        scores,
        a,
        feature_sets=sets,
        model=make_pipeline(StandardScaler(), Ridge(alpha=2.0)),
        n_random=5,
        cv=4,
    )
    pd.testing.assert_frame_equal(fast, slow, rtol=1e-9)
    ranked = make_pipeline(StandardScaler(), DrugResponseModel("linear", top_k=2))
    out = cross_validate_response(scores, a, feature_sets=sets, model=ranked, n_random=5)
    assert out.set_index("feature_set").loc["proximal", "spearman"] > 0.5


def test_series_response_and_sample_warnings(caplog):
    scores, _, response, _ = _problem()
    y = response[response["drug"] == "A"].set_index("sample")["value"].rename("A")
    y.index = [s.upper() if s in ("org1", "org2") else s for s in y.index]
    logger = logging.getLogger("organoidrx.models")
    logger.addHandler(caplog.handler)
    try:
        out = cross_validate_response(scores, y, feature_sets={"p": ["P0", "P1", "NOPE"]}, n_random=0)
    finally:
        logger.removeHandler(caplog.handler)
    assert out["drug"].unique().tolist() == ["A"] and out["n_samples"].iloc[0] == 22
    assert "2 of 24 samples with a response have no scores" in caplog.text
    assert "match ignoring case" in caplog.text
    assert "1 of 3 features are neither pathways nor genes" in caplog.text


def test_a_drug_with_one_response_for_every_sample_is_skipped_with_a_warning(caplog):
    """Equal responses leave nothing to predict (no Spearman for any set): the drug is skipped, not fitted on
    every random set and shuffle."""
    scores, _, response, feature_sets = _problem()
    flat = response.assign(value=lambda d: d["value"].where(d["drug"] != "A", 2.5))
    with caplog.at_level("WARNING", logger="organoidrx"):
        out = cross_validate_response(scores, flat, feature_sets=feature_sets, n_random=50, n_shuffles=50)
    assert "A" not in set(out["drug"]) and set(out["drug"]) == set(response["drug"]) - {"A"}
    assert "drug 'A': all 24 samples have the same response (2.5); there is nothing to predict: skipped" in (
        caplog.text
    )


def test_input_errors():
    scores, genes, response, feature_sets = _problem()
    with pytest.raises(InputError, match=r"duplicated \(sample, drug\) rows"):
        cross_validate_response(scores, pd.concat([response, response.iloc[:1]]), feature_sets=feature_sets)
    with pytest.raises(InputError, match="cv must be 'loo' or an integer between 2"):
        cross_validate_response(scores, response, feature_sets=feature_sets, cv=1)
    with pytest.raises(InputError, match="random_sets_for names 'nope'"):
        cross_validate_response(scores, response, feature_sets=feature_sets, random_sets_for="nope")
    with pytest.raises(InputError, match="share 1 column names"):
        cross_validate_response(
            scores, response, feature_sets=feature_sets, expression=genes.rename(columns={"G0": "P0"})
        )
    shifted = response.assign(sample=response["sample"] + "_x")
    with pytest.raises(
        InputError, match="no drug could be tested: each has fewer than min_samples=5 samples"
    ):
        cross_validate_response(scores, shifted, feature_sets=feature_sets)
    with pytest.raises(InputError, match="mixes pathways"):
        cross_validate_response(scores, response, feature_sets={"m": ["P0", "G0"]}, expression=genes)
    with pytest.raises(InputError, match="must be numeric"):
        cross_validate_response(scores, response.assign(value="x"), feature_sets=feature_sets)


@pytest.mark.parametrize("rescore", [False, True])
def test_stop_after_is_the_full_draw_cut_at_the_stop(rescore):
    """With stop_after = h a set's random sets are the first L of the full draw: its row equals the full run
    with n_random = L (p = (1 + h) / (1 + L) there, h / L here); a set that never stops equals the full run."""
    scores, _, response, _ = _problem(seed=4)
    rng = np.random.default_rng(2)
    noise = [
        pd.DataFrame({"sample": scores.index, "drug": d, "value": rng.normal(size=len(scores))})
        for d in ("C", "D", "E")
    ]
    response = pd.concat([response, *noise], ignore_index=True)
    sets = {"proximal": {d: ["P0", "P1", "P2", "P3"] for d in "ABCDE"}}
    kwargs: dict = {"feature_sets": sets, "include_all": False, "random_state": 1}
    if rescore:  # a cohort-dependent score: each fold's training rows centred without the held-out sample
        kwargs["rescore"] = lambda kept: scores.loc[kept] - scores.loc[kept].mean()
    h, n = 4, 300
    stopped = cross_validate_response(scores, response, n_random=n, stop_after=h, **kwargs)
    assert (stopped["n_random"] < n).sum() >= 2 and (stopped["n_random"] == n).any()
    columns = ["spearman", "random_spearman_median", "random_pearson_q975"]
    for _, row in stopped.iterrows():
        drawn = int(row["n_random"])
        full = cross_validate_response(
            scores, response[response["drug"] == row["drug"]], n_random=drawn, **kwargs
        ).iloc[0]
        np.testing.assert_allclose(row[columns].astype(float), full[columns].astype(float), rtol=1e-12)
        if drawn < n:
            assert row["random_p"] == h / drawn and full["random_p"] == (1 + h) / (1 + drawn)
        else:
            assert row["random_p"] == full["random_p"] < (1 + h) / (1 + n)


def test_stop_after_must_be_a_positive_integer():
    scores, _, response, feature_sets = _problem()
    with pytest.raises(InputError, match="stop_after must be a positive integer or None; got 0"):
        cross_validate_response(scores, response, feature_sets=feature_sets, stop_after=0)


def test_a_lone_drug_without_varying_response_leaves_nothing_to_test():
    """A drug whose response does not vary has no Spearman, so nothing to test: alone, it is an error that says
    why (not fitted on every random set)."""
    scores, _, _, _ = _problem(seed=4)
    flat = pd.Series(2.0, index=scores.index, name="FLAT")
    with pytest.raises(InputError, match=r"no drug could be tested: .* or the same response for all of them"):
        cross_validate_response(
            scores, flat, feature_sets={"set": ["P0", "P1"]}, include_all=False, n_random=10_000, stop_after=3
        )


def test_an_empty_feature_set_is_said_and_not_tested(caplog):
    scores, _, response, _ = _problem()
    with caplog.at_level(logging.WARNING):
        out = cross_validate_response(
            scores, response, feature_sets={"picked": {"A": [], "B": ["P0"]}}, n_random=5
        )
    row = out.set_index(["drug", "feature_set"]).loc[("A", "picked")]
    assert row["n_features"] == 0 and np.isnan(row["spearman"]) and row["n_random"] == 0
    assert "drug 'A': feature set 'picked' is empty (nothing selected for this drug" in caplog.text
