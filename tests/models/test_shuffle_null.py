"""The self-contained null of cross_validate_response: the same set refitted with the responses permuted.

Reference: every permutation of a small cohort enumerated, each cross-validated by scikit-learn's own pipeline
(``cross_val_predict`` of ``StandardScaler -> Ridge``) and correlated with scipy's ``spearmanr``.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx._utils import InputError
from organoidrx.models import DrugResponseModel, _crossval, cross_validate_response
from organoidrx.models._crossval import _folds, _shuffle_summary
from organoidrx.models._loo import PickedColumns


def _cohort(n: int, n_pathways: int = 12, seed: int = 0, signal: float = 0.0):
    rng = np.random.default_rng(seed)
    samples = [f"org{i}" for i in range(n)]
    scores = pd.DataFrame(
        rng.normal(size=(n, n_pathways)), index=samples, columns=[f"P{j}" for j in range(n_pathways)]
    )
    value = signal * scores["P0"].to_numpy() + rng.normal(size=n)
    response = pd.DataFrame({"sample": samples, "drug": "A", "value": value})
    return scores, response


def test_shuffled_p_matches_every_permutation_cross_validated_by_scikit_learn():
    """n = 5: all 120 orders of the responses, each refitted by scikit-learn; the Monte Carlo p of 20,000
    draws lies within four standard errors of the exact share."""
    scores, response = _cohort(5, seed=3, signal=0.8)
    features = ["P0", "P1", "P2"]
    X, y = scores[features].to_numpy(), response["value"].to_numpy()
    pipeline = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    observed = stats.spearmanr(cross_val_predict(pipeline, X, y, cv=LeaveOneOut()), y)[0]
    null = []
    for order in itertools.permutations(range(5)):
        shuffled = y[list(order)]
        null.append(stats.spearmanr(cross_val_predict(pipeline, X, shuffled, cv=LeaveOneOut()), shuffled)[0])
    exact = float(np.mean(np.asarray(null) >= observed - 1e-9))
    table = cross_validate_response(
        scores, response, feature_sets={"sel": features}, n_random=0, n_shuffles=20_000, include_all=False,
        min_samples=5,
    )  # fmt: skip
    row = table.iloc[0]
    assert row["spearman"] == pytest.approx(observed, abs=1e-12)
    assert row["n_shuffles"] == 20_000
    assert 0.02 < exact < 0.5  # a case where the p is neither tiny nor trivial
    assert abs(row["shuffled_p"] - exact) <= 4 * np.sqrt(exact * (1 - exact) / 20_000) + 1 / 20_001


@pytest.mark.parametrize(
    "model", ["ridge", "linear", "kernel_ridge", "svr", "kernel_ridge_top2", "linear_top2"]
)
@pytest.mark.parametrize("per_fold", [False, True])
def test_reordering_the_samples_is_permuting_the_responses(model, per_fold, monkeypatch):
    """The batched path (samples reordered, folds moving with them) gives the p of refitting each draw with
    the responses shuffled, for every order-free model, with one matrix or one table per fold."""
    rng = np.random.default_rng(1)
    n, p = 11, 5
    X = rng.normal(size=(1, n, p))
    y = X[0, :, 0] + rng.normal(size=n)
    if per_fold:  # each fold's table differs from the others (as when each fold is rescored)
        X = PickedColumns(X[0][None] + 0.1 * rng.normal(size=(n, n, p)), np.arange(p)[None])
    name, _, top = model.partition("_top")
    estimator = (
        "ridge"
        if model == "ridge"
        else make_pipeline(StandardScaler(), DrugResponseModel(name, top_k=int(top) if top else 10))
    )
    folds = _folds(n, "loo", 0)
    args = (X, y, folds, estimator, 1.0, 199, 0.2)
    batched = _shuffle_summary(*args, seed=(0, 1, 2), stop_after=None)
    assert _crossval._order_free(estimator, p)
    monkeypatch.setattr(_crossval, "_order_free", lambda *a: False)
    shuffled = _shuffle_summary(*args, seed=(0, 1, 2), stop_after=None)
    assert batched == shuffled and batched["n_shuffles"] == 199


def test_order_dependent_models_shuffle_the_responses():
    """An estimator with an inner K-fold search (elastic net's ElasticNetCV) depends on the samples' order, so
    its permutations are refits with the responses shuffled, not reordered stacks."""
    estimator = make_pipeline(StandardScaler(), DrugResponseModel("elasticnet"))
    assert not _crossval._order_free(estimator, 4)
    scores, response = _cohort(8, seed=2, signal=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = cross_validate_response(
            scores, response, feature_sets={"sel": ["P0", "P1", "P2", "P3"]}, model=estimator, n_random=0,
            n_shuffles=3, include_all=False,
        )  # fmt: skip
    assert table.loc[0, "n_shuffles"] == 3 and 0 < table.loc[0, "shuffled_p"] <= 1


def test_shuffled_p_is_uniform_when_nothing_predicts():
    """200 null cohorts (responses independent of the pathways), leave-one-out and 4 folds: P(p <= 0.1) stays
    within the binomial 99.9% band of 0.1 (p is discrete in steps of 1/50)."""
    for cv in ("loo", 4):
        ps = []
        for seed in range(200):
            scores, response = _cohort(12, seed=seed)
            table = cross_validate_response(
                scores, response, feature_sets={"sel": ["P0", "P1", "P2", "P3"]}, n_random=0,
                n_shuffles=49, include_all=False, cv=cv, random_state=seed,
            )  # fmt: skip
            ps.append(table.loc[0, "shuffled_p"])
        hits = int((np.asarray(ps) <= 0.1).sum())
        assert stats.binom.cdf(hits, 200, 0.1) > 0.0005 and stats.binom.sf(hits - 1, 200, 0.1) > 0.0005, (
            cv,
            hits,
        )


def test_planted_signal_has_a_small_shuffled_p_and_the_random_sets_are_untouched():
    """A set that predicts gets a small permutation p; asking for permutations leaves the random sets' numbers
    as they were (separate streams), and sets without random sets get no permutations."""
    scores, response = _cohort(20, seed=4, signal=3.0)
    sets = {"sel": ["P0", "P1"], "other": ["P2", "P3"]}
    common = dict(feature_sets=sets, n_random=99, random_sets_for="sel", include_all=False)
    plain = cross_validate_response(scores, response, **common)
    both = cross_validate_response(scores, response, n_shuffles=99, **common)
    pd.testing.assert_frame_equal(plain.drop(columns=["n_shuffles", "shuffled_p"]),
                                  both.drop(columns=["n_shuffles", "shuffled_p"]))  # fmt: skip
    sel = both.set_index("feature_set").loc["sel"]
    assert sel["shuffled_p"] == pytest.approx(0.01) and sel["n_shuffles"] == 99
    other = both.set_index("feature_set").loc["other"]
    assert other["n_shuffles"] == 0 and np.isnan(other["shuffled_p"])
    assert (plain["n_shuffles"] == 0).all() and plain["shuffled_p"].isna().all()


def test_stop_after_cuts_the_permutations_of_a_set_far_from_significance():
    scores, response = _cohort(15, seed=5)
    common = dict(feature_sets={"sel": ["P0", "P1", "P2"]}, n_random=0, include_all=False, n_shuffles=2_000)
    full = cross_validate_response(scores, response, **common).iloc[0]
    stopped = cross_validate_response(scores, response, stop_after=5, **common).iloc[0]
    assert stopped["n_shuffles"] < 200 < full["n_shuffles"]
    assert stopped["shuffled_p"] == pytest.approx(full["shuffled_p"], abs=0.25)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_n_shuffles_must_be_a_non_negative_integer(bad):
    scores, response = _cohort(8)
    with pytest.raises(InputError, match="n_shuffles must be a non-negative integer"):
        cross_validate_response(scores, response, feature_sets={"sel": ["P0"]}, n_shuffles=bad)


@pytest.mark.parametrize("per_fold", [False, True])
@pytest.mark.parametrize("n_features", [4, 40])  # primal and dual ridge
def test_ridge_shuffles_from_its_hat_matrix_equal_the_refits(per_fold, n_features, monkeypatch):
    """Ridge's held-out predictions are H y: every shuffle is one product, with the same Spearman to the bit as
    refitting the reordered stack (centred ranks are multiples of 1/2, so the sums are exact)."""
    rng = np.random.default_rng(4)
    n = 15
    X = rng.normal(size=(1, n, n_features))
    y = X[0, :, 0] + rng.normal(size=n)
    if per_fold:
        X = PickedColumns(X[0][None] + 0.1 * rng.normal(size=(n, n, n_features)), np.arange(n_features)[None])
    folds = _folds(n, "loo", 0)
    hat = _crossval._hat_matrix(X, folds, "ridge", 0.7)
    np.testing.assert_allclose(hat @ y, _crossval._cv_predict(X, y, folds, "ridge", 0.7)[0], rtol=1e-12)
    orders = np.stack([rng.permutation(n) for _ in range(500)])
    shuffled = y[np.argsort(orders, axis=1)]
    from_hat = _crossval._rowwise_spearman(shuffled @ hat.T, shuffled)
    refits = np.concatenate(
        [
            _crossval._correlations(p, y)[0]
            for p in _crossval._reordered_predict(X, y, orders, "ridge", 0.7, folds)
        ]
    )
    np.testing.assert_array_equal(from_hat, refits)
    args = (X, y, folds, "ridge", 0.7, 299, 0.1)
    fast = _summary_of(args)
    monkeypatch.setattr(_crossval, "_linear_in_y", lambda *a: False)
    assert _summary_of(args) == fast


@pytest.mark.parametrize("cv", ["loo", 4])
@pytest.mark.parametrize("per_fold", [False, True])
@pytest.mark.parametrize("n_features", [4, 40])
def test_ridge_hat_matrix_from_one_solve_per_fold_predicts_any_response(cv, per_fold, n_features):
    """Every e_j solved at once per fold gives the hat matrix: H y equals the held-out predictions of y."""
    rng = np.random.default_rng(6)
    n = 15
    X = rng.normal(size=(1, n, n_features))
    folds = _folds(n, cv, 0)
    if per_fold:
        X = PickedColumns(
            X[0][None] + 0.1 * rng.normal(size=(len(folds), n, n_features)), np.arange(n_features)[None]
        )
        if cv != "loo":
            X = np.stack([X.universe[:, :, :]])  # K folds: one table per fold, as (1, n folds, n, p)
    hat = _crossval._hat_matrix(X, folds, "ridge", 0.7)
    for y in rng.normal(size=(5, n)):
        np.testing.assert_allclose(hat @ y, _crossval._cv_predict(X, y, folds, "ridge", 0.7)[0], rtol=1e-10)


def _summary_of(args):
    return _shuffle_summary(*args, seed=(3, 2, 1), stop_after=5)


@pytest.mark.parametrize(
    "model, options", [("linear", {}), ("kernel_ridge", {}), ("kernel_ridge", {"kernel": "laplacian"})]
)
@pytest.mark.parametrize("per_fold", [False, True])
@pytest.mark.parametrize("n_features", [4, 30])
def test_shared_fold_decompositions_fit_every_shuffle_as_scikit_learn(model, options, per_fold, n_features):
    """Least squares and kernel ridge fit all shuffles of a set from one decomposition per fold: each shuffle's
    held-out predictions equal scikit-learn's pipeline refitted in every fold with the shuffled responses."""
    rng = np.random.default_rng(5)
    n = 12
    X = rng.normal(size=(1, n, n_features))
    y = X[0, :, 0] + rng.normal(size=n)
    tables = np.broadcast_to(X[0], (n, n, n_features))
    if per_fold:
        tables = X[0][None] + 0.1 * rng.normal(size=(n, n, n_features))
        X = PickedColumns(tables, np.arange(n_features)[None])
    estimator = make_pipeline(StandardScaler(), DrugResponseModel(model, top_k=None, model_options=options))
    folds = _folds(n, "loo", 0)
    responses = y[np.argsort(np.stack([rng.permutation(n) for _ in range(30)]), axis=1)]
    fast = _crossval._cv_predict(X, responses, folds, estimator, 1.0)
    for r, response in enumerate(responses):
        for i, (train, test) in enumerate(folds):  # fold i: its own table, sample i held out
            fitted = make_pipeline(
                StandardScaler(), DrugResponseModel(model, top_k=None, model_options=options)
            )
            fitted.fit(tables[i][train], response[train])
            np.testing.assert_allclose(fast[r, i], fitted.predict(tables[i][test])[0], rtol=1e-8, atol=1e-10)


def test_several_response_vectors_need_one_set_and_a_model_that_shares_its_folds():
    X = np.zeros((2, 6, 3))
    with pytest.raises(ValueError, match="one set"):
        _crossval.loo_linear_predict(X, np.zeros((4, 6)), 1e-6)
    svr = make_pipeline(StandardScaler(), DrugResponseModel("svr", top_k=None))
    with pytest.raises(ValueError, match="several response vectors"):
        _crossval._cv_predict(X[:1], np.zeros((4, 6)), _folds(6, "loo", 0), svr, 1.0)
    with pytest.raises(ValueError, match="one set"):  # ridge's per-fold solve too, with K folds
        _crossval._cv_predict(X, np.zeros((4, 6)), _folds(6, 3, 0), "ridge", 1.0)
