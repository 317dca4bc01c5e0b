"""The compiled linear epsilon-SVR equals scikit-learn's ``StandardScaler -> SVR(kernel="linear")`` per fold.

The reference is scikit-learn itself (libsvm): every prediction below is compared with the registered pipeline
refitted fold by fold through ``cross_val_predict`` or a plain loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from organoidrx.models import _svr, make_response_pipeline
from organoidrx.models._crossval import _cv_predict
from organoidrx.models._loo import PickedColumns, svr_estimator
from organoidrx.models._svr import _fit, svr_cv_predict

from ..conftest import shared_file


def _reference(model, X: np.ndarray, y: np.ndarray, folds) -> np.ndarray:
    """The pipeline refitted in every fold; ``X`` (n_sets, n, p) or (n_sets, n_folds, n, p)."""
    pred = np.full((X.shape[0], X.shape[-2]), np.nan)
    for s in range(X.shape[0]):
        for f, (train, test) in enumerate(folds):
            Xs = X[s, f] if X.ndim == 4 else X[s]
            fitted = clone(model).fit(pd.DataFrame(Xs[train]), y[train])
            pred[s, test] = fitted.predict(pd.DataFrame(Xs[test]))
    return pred


@pytest.mark.parametrize(
    ("Z", "y", "coef", "intercept"),
    [
        # two points: the tube's edge passes through both, w = 0.9, b = 1 (0.5 w^2 + 2 C max(0, 0.9 - w))
        ([[-1.0], [1.0]], [0.0, 2.0], 0.9, 1.0),
        # the middle point lies far above: its coefficient is capped at C = 1 and the line through the outer
        # points' lower tube edges (f(-1) = 0.1, f(1) = 2.1) balances it: w = 1, b = 1.1, beta = (-1, 1, 0)
        ([[-1.0], [0.0], [1.0]], [0.0, 5.0, 2.0], 1.0, 1.1),
    ],
)
def test_hand_worked_dual_solutions(Z, y, coef, intercept):
    Z, y = np.array(Z), np.array(y)
    beta, rho = _fit(Z.copy(), y, 1.0, 0.1, 1e-3, True, -1)
    assert beta @ Z[:, 0] == pytest.approx(coef, abs=1e-12)
    assert -rho == pytest.approx(intercept, abs=1e-12)
    assert beta.sum() == pytest.approx(0.0, abs=1e-12)  # the dual's equality constraint
    reference = SVR(kernel="linear").fit(Z, y)
    assert reference.coef_[0, 0] == pytest.approx(coef, abs=1e-12)
    assert reference.intercept_[0] == pytest.approx(intercept, abs=1e-12)


def _stack(n_sets: int, n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_sets, n, p)) * rng.uniform(0.05, 3.0, size=p) + 4.0 * rng.normal(size=p)
    X[0, :, 0] = 2.5  # a constant column keeps scale 1
    X[1, :, 0] = 0.0
    X[1, 3, 0] = 1.0  # constant once sample 3 is held out
    X[2, 5] = X[2, 4]  # two identical organoids
    y = rng.normal(size=n) * rng.uniform(0.2, 4.0) + rng.normal()
    return X, y


@pytest.mark.parametrize("p", [1, 4, 17, 18, 60, 250])
@pytest.mark.parametrize("n", [6, 19])
@pytest.mark.parametrize("cv", ["loo", "kfold"])
def test_equals_the_pipeline_refitted_per_fold(n, p, cv):
    X, y = _stack(4, n, p, seed=n * 1000 + p)
    folds = list((LeaveOneOut() if cv == "loo" else KFold(3, shuffle=True, random_state=p)).split(X[0]))
    model = make_response_pipeline("svr", top_k=None)
    np.testing.assert_allclose(
        _cv_predict(X, y, folds, model, 1.0), _reference(model, X, y, folds), rtol=1e-9
    )


@pytest.mark.parametrize(
    "options",
    [
        {"C": 0.01},  # every coefficient at its bound
        {"C": 100.0},
        {"epsilon": 50.0},  # every organoid inside the tube: no support vector, intercept only
        {"epsilon": 0.0},
        {"tol": 1e-8},
        {"shrinking": False},
    ],
)
def test_solver_options_match_libsvm(options):
    X, y = _stack(5, 15, 30, seed=7)
    folds = list(LeaveOneOut().split(X[0]))
    estimator = SVR(kernel="linear", **options)
    reference = np.stack(
        [cross_val_predict(make_pipeline(StandardScaler(), estimator), X[s], y, cv=folds) for s in range(5)]
    )
    np.testing.assert_allclose(svr_cv_predict(X, y, folds, estimator), reference, rtol=1e-9, atol=1e-12)


def test_one_matrix_per_fold_and_picked_columns():
    """Rescored features: fold f's matrix fits fold f, as an explicit stack and as columns of per-fold tables."""
    rng = np.random.default_rng(11)
    n, n_columns = 12, 40
    universe = rng.normal(size=(n, n, n_columns)) + rng.normal(size=n_columns)
    picks = np.stack([rng.choice(n_columns, size=9, replace=False) for _ in range(6)])
    stack = np.stack([universe[:, :, p] for p in picks])  # (6 sets, 12 folds, 12, 9)
    y = rng.normal(size=n)
    folds = list(LeaveOneOut().split(np.zeros(n)))
    model = make_response_pipeline("svr", top_k=None)
    expected = _reference(model, stack, y, folds)
    np.testing.assert_allclose(_cv_predict(stack, y, folds, model, 1.0), expected, rtol=1e-9)
    np.testing.assert_allclose(
        _cv_predict(PickedColumns(universe, picks), y, folds, model, 1.0), expected, rtol=1e-9
    )


def test_blocks_and_threads_do_not_change_a_bit(monkeypatch):
    X, y = _stack(37, 14, 25, seed=12)
    folds = list(LeaveOneOut().split(X[0]))
    svr = SVR(kernel="linear")
    whole = svr_cv_predict(X, y, folds, svr)
    monkeypatch.setattr(_svr, "_BLOCK", 3)
    monkeypatch.setattr(_svr, "_N_THREADS", 2)
    np.testing.assert_array_equal(svr_cv_predict(X, y, folds, svr), whole)
    np.testing.assert_array_equal(svr_cv_predict(X[5:9], y, folds, svr), whole[5:9])


@pytest.mark.parametrize(("top_k", "refit"), [(3, True), (3, False), (1, True), (10, True), (40, True)])
def test_top_k_ranks_and_refits_as_the_estimator(top_k, refit):
    """DrugResponseModel("svr", top_k): ranked by the fold's |coefficients|, refitted on the kept columns (or
    predicting with the full fit's coefficients of them), as the pipeline refitted per fold."""
    X, y = _stack(4, 16, 12, seed=31)
    X[3, :, 5] = X[3, :, 2]  # two identical columns: tied coefficients, the first in input order ranks first
    folds = list(LeaveOneOut().split(X[0]))
    model = make_response_pipeline("svr", top_k=top_k, refit=refit)
    assert svr_estimator(model)[1:] == (top_k, refit)
    np.testing.assert_allclose(
        _cv_predict(X, y, folds, model, 1.0), _reference(model, X, y, folds), rtol=1e-9
    )


def test_which_pipelines_are_batched():
    assert svr_estimator(make_response_pipeline("svr", top_k=None))[1:] == (None, True)
    assert svr_estimator(make_response_pipeline("ridge", top_k=None)) is None
    assert svr_estimator(make_response_pipeline("svr", top_k=0)) is None  # the estimator's own error
    assert svr_estimator(make_response_pipeline("svr", top_k=True)) is None


@pytest.mark.shared_data
def test_real_organoid_scores_random_pathway_sets(shared_data: Path):
    """Kong et al.'s ssGSEA scores of the 19 5-FU organoids, random Reactome sets of 5 to 200 pathways: the
    compiled solver against libsvm per fold."""
    ref = shared_data / "kong2020" / "reference_outputs"
    scores = pd.read_csv(
        shared_file(ref, "organoid_ssgsea_normalized_es.tsv"), sep="\t", comment="#", index_col=0
    ).T
    ic50 = pd.read_csv(shared_file(shared_data, "kong2020/organoid_coad/ic50_median.tsv"), sep="\t")
    fu = ic50[ic50["Drug Name"] == "5-Fluorouracil"]
    response = pd.Series(fu["median_IC50"].to_numpy(), index=fu["Organoid"].str.upper())
    values = scores.loc[response.index].to_numpy(dtype=float)
    y = response.to_numpy(dtype=float)
    assert values.shape[0] == 19
    rng = np.random.default_rng(2020)
    folds = list(LeaveOneOut().split(values))
    model = make_response_pipeline("svr", top_k=None)
    for size in (5, 37, 200):
        picks = np.stack([rng.choice(values.shape[1], size=size, replace=False) for _ in range(8)])
        X = values[:, picks].transpose(1, 0, 2)
        np.testing.assert_allclose(
            _cv_predict(X, y, folds, model, 1.0), _reference(model, X, y, folds), rtol=1e-9
        )
