"""The leave-one-out ridge kernel equals the per-fold batched solve and scikit-learn's pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx.models import _loo
from organoidrx.models._crossval import _ridge_cv_predict
from organoidrx.models._loo import is_leave_one_out, loo_ridge_predict


def _stack(n_sets: int, n: int, p: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_sets, n, p)) * rng.uniform(0.01, 3.0, size=p) + 5.0 * rng.normal(size=p)
    X[0, :, 0] = 2.5  # constant column: StandardScaler keeps scale 1
    X[1, :, 0] = 0.0
    X[1, 3, 0] = 1.0  # a column constant once sample 3 is left out
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
