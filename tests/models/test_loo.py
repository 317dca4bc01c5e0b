"""The leave-one-out ridge and least-squares kernels equal the per-fold solves and scikit-learn's pipelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx.models import _loo, make_response_pipeline
from organoidrx.models._crossval import _cv_predict, _ridge_cv_predict
from organoidrx.models._loo import (
    PickedColumns,
    is_leave_one_out,
    kernel_ridge_estimator,
    linear_tolerance,
    loo_kernel_ridge_predict,
    loo_linear_predict,
    loo_ridge_predict,
    scaled_regressor,
)


def _stack(n_sets: int, n: int, p: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_sets, n, p)) * rng.uniform(0.01, 3.0, size=p) + 5.0 * rng.normal(size=p)
    X[0, :, 0] = 2.5  # constant column: StandardScaler keeps scale 1
    X[1, :, 0] = 0.0
    X[1, 3, 0] = 1.0  # a column constant once sample 3 is left out
    if (
        p > 1 and n_sets > 3 and n > 5
    ):  # constant at large values: the computed variance is a rounding residue,
        X[2, :, 1] = (
            1234.567  # constant by StandardScaler's test relative to the mean, not by an absolute one
        )
        X[3, :, 1] = 6000.1
        X[3, 5, 1] = 6300.0  # constant once sample 5 is left out
    return X


@pytest.mark.parametrize("p", [1, 5, 18, 19, 60, 300])
@pytest.mark.parametrize("n", [6, 19])
def test_kernel_equals_per_fold_solve(n, p):
    X = _stack(7, n, p)
    y = np.random.default_rng(1).normal(size=n)
    folds = list(LeaveOneOut().split(X[0]))
    np.testing.assert_allclose(loo_ridge_predict(X, y, 0.7), _ridge_cv_predict(X, y, folds, 0.7), atol=1e-12)


def test_kernel_equals_sklearn_pipeline_and_blocks_do_not_matter(monkeypatch):
    X = _stack(5, 12, 40, seed=3)
    y = np.random.default_rng(2).normal(size=12)
    whole = loo_ridge_predict(X, y, 1.0)
    for s in range(5):
        slow = cross_val_predict(make_pipeline(StandardScaler(), Ridge(alpha=1.0)), X[s], y, cv=LeaveOneOut())
        np.testing.assert_allclose(whole[s], slow, rtol=1e-10, atol=1e-10)
    monkeypatch.setattr(_loo, "_CHUNK_SETS", 2)  # blocks of 2 sets, in two threads
    monkeypatch.setattr(_loo, "_N_THREADS", 2)
    np.testing.assert_array_equal(loo_ridge_predict(X, y, 1.0), whole)


def test_is_leave_one_out():
    X = np.zeros((6, 1))
    assert is_leave_one_out(list(LeaveOneOut().split(X)), 6)
    assert not is_leave_one_out(list(KFold(3).split(X)), 6)
    assert not is_leave_one_out(list(LeaveOneOut().split(X))[::-1], 6)


@pytest.mark.parametrize("p", [3, 17, 18, 40])
def test_linear_kernel_equals_the_registered_pipeline(p):
    X = _stack(4, 19, p, seed=5)
    y = np.random.default_rng(4).normal(size=19)
    model = make_response_pipeline("linear", top_k=None)
    assert linear_tolerance(model, p) == 1e-6
    fast, unsure = loo_linear_predict(X, y, 1e-6)
    assert not unsure.any() or p == 17  # p = 17: a fold ill-conditioned enough is left to the estimator
    for s in range(4):
        slow = cross_val_predict(model, pd.DataFrame(X[s]), y, cv=LeaveOneOut())
        # p = 17: each fold's 18 x 18 system (with the intercept) is square and ill-conditioned, so the two solvers
        # (eigen-decomposition, LAPACK's gelsd) agree to about cond x eps: 1.6e-9 with scipy 1.17 / numpy 2.4
        np.testing.assert_allclose(fast[s], slow, rtol=1e-8, atol=1e-9)


KERNEL_CASES = [
    ({"kernel": "linear"}, None),
    ({"kernel": "rbf"}, None),
    ({"kernel": "rbf", "gamma": 0.3}, None),
    ({"kernel": "laplacian"}, None),
    ({"kernel": "polynomial", "degree": 2, "coef0": 0.5}, None),
    ({"kernel": "rbf"}, [0.01, 0.5, 3.0, 50.0]),
]


@pytest.mark.parametrize(("options", "alphas"), KERNEL_CASES)
@pytest.mark.parametrize("p", [3, 18, 40])
def test_batched_kernel_ridge_equals_the_registered_pipeline(options, alphas, p):
    """Every kernel, penalty chosen inside each fold: the stack's predictions equal the pipeline refitted per fold
    (``cross_val_predict``), including the constant columns of the stack."""
    X = _stack(4, 19, p, seed=7)
    y = np.random.default_rng(8).normal(size=19)
    model = make_response_pipeline("kernel_ridge", top_k=None, alphas=alphas, model_options=options)
    estimator = kernel_ridge_estimator(model, p)
    assert estimator is not None
    fast, unsure = loo_kernel_ridge_predict(X, y, estimator)
    assert not unsure.any()
    folds = list(LeaveOneOut().split(X[0]))
    through_cv = _cv_predict(X, y, folds, model, 1.0)
    for s in range(4):
        slow = cross_val_predict(model, pd.DataFrame(X[s]), y, cv=LeaveOneOut())
        # p = 17: each fold's 18 x 18 system (with the intercept) is square and ill-conditioned, so the two solvers
        # (eigen-decomposition, LAPACK's gelsd) agree to about cond x eps: 1.6e-9 with scipy 1.17 / numpy 2.4
        np.testing.assert_allclose(fast[s], slow, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(through_cv[s], slow, rtol=1e-9, atol=1e-9)


def test_kernel_ridge_penalties_that_tie_go_to_the_estimator():
    X = _stack(2, 12, 5, seed=9)
    y = np.random.default_rng(10).normal(size=12)
    model = make_response_pipeline(
        "kernel_ridge", top_k=None, alphas=[1.0, 1.0], model_options={"kernel": "rbf"}
    )
    _, unsure = loo_kernel_ridge_predict(X, y, kernel_ridge_estimator(model, 5))
    assert not unsure.any()  # the same penalty twice is one penalty, not a tie
    _, unsure = loo_kernel_ridge_predict(
        X, np.full(12, 3.0), kernel_ridge_estimator(model.set_params(model__alphas=[1.0, 2.0]), 5)
    )
    assert unsure.all()  # constant responses: every penalty's error is 0, a tie in every fold
    assert kernel_ridge_estimator(make_response_pipeline("kernel_ridge", top_k=3), 5) is None
    assert kernel_ridge_estimator(make_response_pipeline("ridge", top_k=None), 5) is None


def test_linear_tolerance_only_for_plain_least_squares():
    assert linear_tolerance(make_response_pipeline("ridge", top_k=None), 5) is None
    assert linear_tolerance(make_response_pipeline("linear", top_k=3), 5) is None
    assert linear_tolerance(make_response_pipeline("linear", top_k=10), 5) == 1e-6
    assert linear_tolerance(LinearRegression(), 5) is None


def test_singular_values_at_the_cut_off_go_to_the_estimator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 12, 4))
    y = rng.normal(size=12)
    X[1, :, 1] = X[1, :, 0] + 2e-6 * rng.normal(size=12)  # a direction whose singular value sits near tol
    _, unsure = loo_linear_predict(X, y, 1e-6)
    assert unsure.tolist() == [False, True]
    model = make_response_pipeline("linear", top_k=None)
    folds = list(LeaveOneOut().split(X[0]))
    pred = _cv_predict(X, y, folds, model, 1.0)
    for s in range(2):
        slow = cross_val_predict(model, pd.DataFrame(X[s]), y, cv=LeaveOneOut())
        np.testing.assert_allclose(pred[s], slow, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["elasticnet", "ridge", "linear"])  # svr: its compiled solver (test_svr.py)
def test_pipeline_steps_on_arrays_give_the_pipelines_numbers(name):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(2, 10, 7)) + rng.normal(size=7)
    y = rng.normal(size=10)
    model = make_response_pipeline(name, top_k=None)
    assert scaled_regressor(model) is model.steps[1][1]
    folds = list(KFold(5, shuffle=True, random_state=0).split(X[0]))  # not leave-one-out: the per-fold path
    pred = _cv_predict(X, y, folds, model, 1.0)
    for s in range(2):
        slow = cross_val_predict(model, pd.DataFrame(X[s]), y, cv=folds)
        if name == "elasticnet":  # refitted per fold on arrays: the pipeline's own bits
            np.testing.assert_array_equal(pred[s], slow)
        else:  # RidgeCV, least squares: batched over the stack (tests/models/test_topk_stack.py), to rounding
            np.testing.assert_allclose(pred[s], slow, rtol=1e-9, atol=1e-12)
    assert scaled_regressor(make_pipeline(StandardScaler(with_mean=False), Ridge())) is None


# ---------------------------------------------------------------------------------- one matrix per fold
def _per_fold(X: np.ndarray, seed: int) -> np.ndarray:
    """(n_sets, n folds, n, p): every fold's matrix a different perturbation of X, as rescored features are."""
    rng = np.random.default_rng(seed)
    n_sets, n, p = X.shape
    return X[:, None] + 0.3 * rng.normal(size=(n_sets, n, n, p)) * X.std(axis=1, keepdims=True)[:, None]


def _per_fold_reference(model, X4: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The pipeline refitted in fold i on fold i's matrix, predicting sample i."""
    pred = np.empty(X4.shape[:2])
    for s in range(X4.shape[0]):
        for i, (train, test) in enumerate(LeaveOneOut().split(X4[s, 0])):
            fitted = clone(model).fit(pd.DataFrame(X4[s, i][train]), y[train])
            pred[s, test] = fitted.predict(pd.DataFrame(X4[s, i][test]))
    return pred


@pytest.mark.parametrize(
    ("name", "options"), [("ridge", {}), ("linear", {})] + [("kernel_ridge", o) for o, _ in KERNEL_CASES]
)
@pytest.mark.parametrize("p", [3, 25])
def test_one_matrix_per_fold_equals_the_pipeline_refitted_on_each_folds_matrix(name, options, p):
    """The batched kernels with each fold's own features (rescored pathways) against a plain loop of the registered
    pipeline, with the constant columns of the stack; and with every fold's matrix the same, the shared-matrix
    kernels."""
    X = _stack(3, 11, p, seed=21)
    X4 = _per_fold(X, seed=22)
    X4[0, :, :, 0] = 2.5  # still constant in every fold
    y = np.random.default_rng(23).normal(size=11)
    model = make_response_pipeline(name, top_k=None, model_options=options)
    folds = list(LeaveOneOut().split(X[0]))
    estimator = "ridge" if name == "ridge" else model
    reference = make_pipeline(StandardScaler(), Ridge(alpha=1.0)) if name == "ridge" else model
    np.testing.assert_allclose(
        _cv_predict(X4, y, folds, estimator, 1.0), _per_fold_reference(reference, X4, y), rtol=1e-9, atol=1e-9
    )
    same = np.broadcast_to(X[:, None], (3, 11, 11, p))
    np.testing.assert_allclose(
        _cv_predict(same, y, folds, estimator, 1.0),
        _cv_predict(X, y, folds, estimator, 1.0),
        rtol=1e-9,
        atol=1e-9,
    )


def test_one_matrix_per_fold_with_k_folds_uses_each_folds_matrix():
    X = _stack(2, 12, 6, seed=24)
    folds = list(KFold(4, shuffle=True, random_state=0).split(X[0]))
    X4 = np.stack([_per_fold(X, seed=25)[:, f] for f in range(len(folds))], axis=1)  # (sets, 4 folds, n, p)
    y = np.random.default_rng(26).normal(size=12)
    for estimator, reference in [
        ("ridge", make_pipeline(StandardScaler(), Ridge(alpha=1.0))),
        (make_response_pipeline("svr", top_k=None), make_response_pipeline("svr", top_k=None)),
    ]:
        expected = np.empty((2, 12))
        for s in range(2):
            for f, (train, test) in enumerate(folds):
                fitted = clone(reference).fit(pd.DataFrame(X4[s, f][train]), y[train])
                expected[s, test] = fitted.predict(pd.DataFrame(X4[s, f][test]))
        np.testing.assert_allclose(_cv_predict(X4, y, folds, estimator, 1.0), expected, rtol=1e-9, atol=1e-9)


def test_one_matrix_per_fold_must_have_a_fold_per_sample():
    with pytest.raises(ValueError, match="n folds"):
        loo_ridge_predict(np.zeros((2, 3, 5, 4)), np.zeros(5), 1.0)


def test_picked_columns_stand_for_their_stack():
    rng = np.random.default_rng(30)
    universe = rng.normal(size=(5, 5, 12))
    picks = np.stack([rng.choice(12, size=4, replace=False) for _ in range(3)])
    X = PickedColumns(universe, picks)
    stack = np.stack([universe[:, :, p] for p in picks])  # (3 sets, 5 folds, 5, 4)
    assert X.shape == stack.shape and X.ndim == 4
    for key in (1, (2, 3), slice(0, 2), (slice(None), 4)):
        np.testing.assert_array_equal(X[key], stack[key])
    again = PickedColumns.from_stack(stack)
    np.testing.assert_array_equal(again[:], stack)
