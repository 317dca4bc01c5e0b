"""Whole stacks of feature sets cross-validated at once for the run's configured models: ``StandardScaler ->
DrugResponseModel("ridge" / "linear" / "kernel_ridge")`` with top-k and refit, and a nested choice among
candidates.

References: scikit-learn's own pipeline (``RidgeCV``, ``LinearRegression``) and :class:`NestedModelSelector`
cloned and fitted in every fold; for the penalty choice, ridge refitted by hand without each sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold

from organoidrx._utils import InputError
from organoidrx.models import cross_validate_response, make_response_model, make_response_pipeline
from organoidrx.models._crossval import _cv_predict, _order_free
from organoidrx.models._loo import PickedColumns
from organoidrx.models._topk import (
    _ridge_gcv,
    kernel_topk_cv_predict,
    kernel_topk_estimator,
    topk_cv_predict,
    topk_estimator,
)

N = 17


def _loo(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.delete(np.arange(n), i), np.array([i])) for i in range(n)]


def _reference(model, X, y, folds) -> np.ndarray:
    """Each set and fold refitted by the estimator itself (``X[:, f]``: fold f's table when 4-D)."""
    pred = np.empty((X.shape[0], len(y)))
    for s in range(X.shape[0]):
        for f, (train, test) in enumerate(folds):
            Xs = X[s, f] if X.ndim == 4 else X[s]
            pred[s, test] = clone(model).fit(Xs[train], y[train]).predict(Xs[test])
    return pred


def _assert_flagged_folds_are_the_estimator_s(X, y, folds, model, unsure) -> None:
    """``_cv_predict`` gives the estimator's own bits in the flagged (leave-one-out) folds, and equals it to
    rounding elsewhere."""
    pred, expected = _cv_predict(X, y, folds, model, 1.0), _reference(model, X, y, folds)
    held_out = np.array([test[0] for _, test in folds])
    for s in range(len(X)):
        np.testing.assert_array_equal(pred[s, held_out[unsure[s]]], expected[s, held_out[unsure[s]]])
    np.testing.assert_allclose(pred, expected, rtol=1e-8, atol=1e-12)


def _stack(n_sets: int, p: int, seed: int, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_sets, n, p)) * rng.uniform(0.2, 5.0, size=p) + rng.normal(size=p)
    y = X[:, :, 0].mean(axis=0) + rng.normal(size=n)
    return X, y


def test_penalty_choice_is_the_leave_one_out_error_of_ridge_refitted_without_each_sample():
    """Hand-checkable: for each penalty, refit ridge (unpenalised intercept) without sample i and predict it; the
    mean squared error chooses the penalty; the chosen fit's coefficients are ridge's closed form."""
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(1, 9, 3))
    y = Z[0] @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=9)
    alphas = np.array([0.01, 1.0, 30.0])

    def ridge(Zt, yt, a):
        xm, ym = Zt.mean(axis=0), yt.mean()
        w = np.linalg.solve((Zt - xm).T @ (Zt - xm) + a * np.eye(3), (Zt - xm).T @ (yt - ym))
        return w, ym - xm @ w

    errors = []
    for a in alphas:
        residual = []
        for i in range(9):
            w, b = ridge(np.delete(Z[0], i, axis=0), np.delete(y, i), a)
            residual.append(y[i] - (Z[0, i] @ w + b))
        errors.append(np.mean(np.square(residual)))
    best = alphas[int(np.argmin(errors))]
    coef, intercept, tie = _ridge_gcv(Z, y, alphas)
    w, b = ridge(Z[0], y, best)
    np.testing.assert_allclose(coef[0], w, rtol=1e-10)
    np.testing.assert_allclose(intercept[0], b, rtol=1e-10)
    assert not tie[0]


@pytest.mark.parametrize("name", ["ridge", "linear"])
@pytest.mark.parametrize("p", [4, 12, 40])
@pytest.mark.parametrize(("top_k", "refit"), [(None, True), (3, True), (3, False), (10, True)])
@pytest.mark.parametrize("kfold", [False, True])
def test_stack_equals_the_pipeline_refitted_in_every_fold(name, p, top_k, refit, kfold):
    X, y = _stack(5, p, seed=p)
    model = make_response_pipeline(name, top_k=top_k)
    model.set_params(model__refit=refit)
    folds = list(KFold(4, shuffle=True, random_state=0).split(np.arange(N))) if kfold else _loo(N)
    fit, k, again = topk_estimator(model)
    pred, unsure = topk_cv_predict(X, y, folds, fit, top_k=k, refit=again)
    assert not unsure.any()
    np.testing.assert_allclose(pred, _reference(model, X, y, folds), rtol=1e-8, atol=1e-12)


def test_one_table_per_fold_is_used_fold_by_fold():
    X, y = _stack(3, 8, seed=1)
    rng = np.random.default_rng(2)
    per_fold = X[:, None] + 0.3 * rng.normal(size=(3, N, N, 8))  # fold f's own table
    model = make_response_pipeline("ridge", top_k=3)
    folds = _loo(N)
    expected = _reference(model, per_fold, y, folds)
    for stack in (per_fold, PickedColumns.from_stack(per_fold)):
        np.testing.assert_allclose(_cv_predict(stack, y, folds, model, 1.0), expected, rtol=1e-8)


def test_ties_are_left_to_the_estimator():
    """Three identical columns tie for the top-2 cut in the folds where they hold the largest coefficients, and
    constant responses tie every penalty in every fold: those folds are flagged and _cv_predict returns the
    estimator's own predictions there, bit for bit."""
    X, y = _stack(2, 5, seed=4)
    X[:, :, 3] = X[:, :, 2]
    X[:, :, 4] = X[:, :, 2]
    X[:, :, 2] *= 50  # three copies (equal after standardising)
    model = make_response_pipeline("ridge", top_k=2)
    folds = _loo(N)
    fit, k, refit = topk_estimator(model)
    unsure = topk_cv_predict(X, y, folds, fit, top_k=k, refit=refit)[1]
    assert unsure.any(axis=1).all()
    _assert_flagged_folds_are_the_estimator_s(X, y, folds, model, unsure)
    flat = np.full(N, 2.0)
    assert topk_cv_predict(X, flat, folds, fit, top_k=k, refit=refit)[1].all()
    np.testing.assert_array_equal(_cv_predict(X, flat, folds, model, 1.0), _reference(model, X, flat, folds))


def test_a_tie_in_one_fold_leaves_only_that_fold_to_the_estimator(monkeypatch):
    """Two columns equal except at sample 5 tie for the top-2 cut only in the fold that holds sample 5 out
    (duplicated pathways do this in real scores): that fold is refitted by the estimator, bit for bit, and the
    other folds stay batched (to rounding)."""
    X, y = _stack(2, 5, seed=4)
    X[0, :, 2] = y + 0.1 * np.random.default_rng(5).normal(size=N)  # the largest coefficient ...
    X[0, :, 3] = X[0, :, 2]
    X[0, 5, 3] += 3.0  # ... and its copy but at sample 5: the top-1 cut falls between them without sample 5
    model = make_response_pipeline("ridge", top_k=1)
    folds = _loo(N)
    fit, k, refit = topk_estimator(model)
    _, unsure = topk_cv_predict(X, y, folds, fit, top_k=k, refit=refit)
    assert unsure.shape == (2, N) and unsure.sum() == 1 and unsure[0, 5]
    fitted = []
    original = clone

    def counted(estimator):
        fitted.append(estimator)
        return original(estimator)

    monkeypatch.setattr("organoidrx.models._crossval.clone", counted)
    pred = _cv_predict(X, y, folds, model, 1.0)
    assert len(fitted) == 1  # one fold of one set
    expected = _reference(model, X, y, folds)
    np.testing.assert_array_equal(pred[0, 5], expected[0, 5])
    np.testing.assert_allclose(pred, expected, rtol=1e-8)


def test_other_settings_are_not_taken_for_the_stack():
    assert topk_estimator(make_response_pipeline("svr", top_k=3)) is None
    assert topk_estimator(make_response_pipeline("elasticnet", top_k=3)) is None
    cv_ridge = make_response_pipeline("ridge", top_k=3)
    cv_ridge.set_params(model__cv=3)  # a K-fold penalty search is not the leave-one-out error
    assert topk_estimator(cv_ridge) is None
    assert topk_estimator(make_response_model(["ridge", "linear"], [2, 3])) is None


@pytest.mark.parametrize(
    ("models", "ks", "scoring"),
    [
        (["ridge", "linear"], [2, 5], "mse"),
        (["ridge", "svr"], [3, None], "spearman"),
        (["ridge"], [2, 30], "mse"),
    ],
)
def test_nested_choice_equals_the_selector_refitted_in_every_fold(models, ks, scoring):
    X, y = _stack(3, 12, seed=len(models) + len(scoring), n=10)
    selector = make_response_model(models, ks)
    selector.set_params(scoring=scoring)
    folds = _loo(10)
    np.testing.assert_allclose(
        _cv_predict(X, y, folds, selector, 1.0), _reference(selector, X, y, folds), rtol=1e-8, atol=1e-12
    )


def test_nested_choice_on_one_table_per_fold_uses_the_outer_fold_s_table_inside():
    """Rescored features (one table per outer fold): the inner folds use their outer fold's table, as the
    selector fitted on that table does."""
    X, y = _stack(2, 8, seed=11, n=9)
    rng = np.random.default_rng(12)
    per_fold = X[:, None] + 0.3 * rng.normal(size=(2, 9, 9, 8))
    selector = make_response_model(["ridge", "linear"], [2, 4])
    folds = _loo(9)
    expected = _reference(selector, per_fold, y, folds)
    for stack in (per_fold, PickedColumns.from_stack(per_fold)):
        np.testing.assert_allclose(
            _cv_predict(stack, y, folds, selector, 1.0), expected, rtol=1e-8, atol=1e-12
        )


def test_nested_candidates_that_tie_choose_the_first_as_the_selector_does():
    """top_k 12 and 30 of 12 features are one model: their inner errors tie exactly and the first is chosen."""
    X, y = _stack(2, 12, seed=7, n=10)
    selector = make_response_model(["linear", "ridge"], [12, 30])
    folds = _loo(10)
    np.testing.assert_allclose(
        _cv_predict(X, y, folds, selector, 1.0), _reference(selector, X, y, folds), rtol=1e-8, atol=1e-12
    )


def test_cross_validate_response_tests_the_configured_model_against_random_sets_and_shuffles():
    """The run's test: the configured model (here RidgeCV top-3) on the proximal set, on every random set and on
    every shuffle, equal to cross-validating the pipeline itself on each."""
    rng = np.random.default_rng(5)
    samples = [f"o{i}" for i in range(N)]
    scores = pd.DataFrame(rng.normal(size=(N, 30)), index=samples, columns=[f"P{j}" for j in range(30)])
    response = pd.DataFrame({"sample": samples, "drug": "A", "value": scores["P0"] + rng.normal(size=N)})
    model = make_response_pipeline("ridge", top_k=3)
    assert _order_free(model, 6)
    table = cross_validate_response(
        scores, response, feature_sets={"proximal": [f"P{j}" for j in range(6)]}, model=model,
        n_random=20, n_shuffles=20, include_all=False,
    )  # fmt: skip
    row = table.iloc[0]
    X = scores.loc[:, [f"P{j}" for j in range(6)]].to_numpy()[None]
    y = response["value"].to_numpy()
    expected = _reference(model, X, y, _loo(N))[0]
    assert row["spearman"] == pytest.approx(
        pd.Series(expected).corr(pd.Series(y), method="spearman"), abs=1e-12
    )
    assert row["n_random"] == 20 and row["n_shuffles"] == 20
    assert 0 < row["random_p"] <= 1 and 0 < row["shuffled_p"] <= 1


@pytest.mark.parametrize("kernel", ["rbf", "linear", "polynomial"])
@pytest.mark.parametrize(("p", "top_k"), [(40, 10), (8, 3), (30, 1), (5, 10)])
@pytest.mark.parametrize("kfold", [False, True])
def test_kernel_ridge_stack_equals_the_pipeline_refitted_in_every_fold(kernel, p, top_k, kfold):
    """Kernel ridge ranks pathways by their sensitivity (the linear kernel: its coefficients), keeps the top k and
    refits on them (gamma 1 / k): batched per fold for the stack, equal to the estimator refitted per fold."""
    X, y = _stack(4, p, seed=p + top_k)
    model = make_response_pipeline("kernel_ridge", top_k=top_k, model_options={"kernel": kernel})
    folds = list(KFold(4, shuffle=True, random_state=0).split(np.arange(N))) if kfold else _loo(N)
    estimator, k, refit = kernel_topk_estimator(model)
    pred, unsure = kernel_topk_cv_predict(X, y, folds, estimator, top_k=k, refit=refit)
    assert not unsure.any()
    expected = _reference(model, X, y, folds)
    np.testing.assert_allclose(pred, expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(_cv_predict(X, y, folds, model, 1.0), expected, rtol=1e-8, atol=1e-12)


def test_kernel_ridge_options_per_fold_tables_and_the_full_fit_s_coefficients():
    """A set gamma and penalty grid, one table per fold, and the linear kernel's refit=False (the full fit's
    coefficients of the kept pathways); the rbf kernel cannot drop pathways without a refit: left to the
    estimator, which refuses it."""
    X, y = _stack(3, 12, seed=7)
    options = {"kernel": "rbf", "gamma": 0.3}
    model = make_response_pipeline("kernel_ridge", top_k=4, alphas=[0.5, 5.0], model_options=options)
    rng = np.random.default_rng(8)
    per_fold = X[:, None] + 0.3 * rng.normal(size=(3, N, N, 12))
    folds = _loo(N)
    expected = _reference(model, per_fold, y, folds)
    for stack in (per_fold, PickedColumns.from_stack(per_fold)):
        np.testing.assert_allclose(_cv_predict(stack, y, folds, model, 1.0), expected, rtol=1e-8)
    linear = make_response_pipeline("kernel_ridge", top_k=4, model_options={"kernel": "linear"})
    linear.set_params(model__refit=False)
    np.testing.assert_allclose(
        _cv_predict(X, y, folds, linear, 1.0), _reference(linear, X, y, folds), rtol=1e-8, atol=1e-12
    )
    rbf = make_response_pipeline("kernel_ridge", top_k=4)
    rbf.set_params(model__refit=False)
    estimator, k, refit = kernel_topk_estimator(rbf)
    assert kernel_topk_cv_predict(X, y, folds, estimator, top_k=k, refit=refit)[1].all()
    with pytest.raises(InputError, match="cannot be restricted to the top 4"):
        _cv_predict(X, y, folds, rbf, 1.0)
    laplacian = make_response_pipeline("kernel_ridge", top_k=4, model_options={"kernel": "laplacian"})
    assert kernel_topk_estimator(laplacian) is None  # refitted per fold


def test_kernel_ridge_ties_are_left_to_the_estimator():
    """Three identical columns tie for the top-2 cut of the sensitivities, and constant responses tie every
    penalty: those folds are the estimator's own, bit for bit."""
    X, y = _stack(2, 5, seed=4)
    X[:, :, 3] = X[:, :, 2]
    X[:, :, 4] = X[:, :, 2]
    model = make_response_pipeline("kernel_ridge", top_k=2)
    folds = _loo(N)
    estimator, k, refit = kernel_topk_estimator(model)
    for response in (y, np.full(N, 2.0)):
        unsure = kernel_topk_cv_predict(X, response, folds, estimator, top_k=k, refit=refit)[1]
        assert unsure.any(axis=1).all()
        _assert_flagged_folds_are_the_estimator_s(X, response, folds, model, unsure)


def test_ill_conditioned_fits_are_left_to_the_estimator():
    """A pathway equal to another but for noise of 1e-5 (least squares: the Gram matrix squares its condition
    number), and penalties far below the Gram's largest eigenvalue (swamped by the rounding of its smallest):
    the batched solve would lose digits, so those folds are the estimator's own."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1, 15, 6))
    X[0, :, 1] = X[0, :, 0] + 1e-5 * rng.normal(size=15)
    y = X[0, :, 0] + rng.normal(size=15)
    folds = _loo(15)
    linear = make_response_pipeline("linear", top_k=5)
    fit, k, refit = topk_estimator(linear)
    assert topk_cv_predict(X, y, folds, fit, top_k=k, refit=refit)[1].all()
    np.testing.assert_array_equal(_cv_predict(X, y, folds, linear, 1.0), _reference(linear, X, y, folds))
    X, y = _stack(2, 40, seed=9)
    tiny = make_response_pipeline("ridge", top_k=10, alphas=[1e-9])
    fit, k, refit = topk_estimator(tiny)
    assert topk_cv_predict(X, y, _loo(N), fit, top_k=k, refit=refit)[1].all()
    np.testing.assert_array_equal(_cv_predict(X, y, _loo(N), tiny, 1.0), _reference(tiny, X, y, _loo(N)))
