"""``StandardScaler -> DrugResponseModel("ridge" or "linear")`` (RidgeCV with its leave-one-out penalty choice, or
least squares; top-k selection by |coefficient| and refit) cross-validated for a whole stack of feature sets at
once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression, RidgeCV

from organoidrx.models._alignment import scaler_constant
from organoidrx.models._loo import scaled_regressor
from organoidrx.models._response import valid_top_k

__all__: list[str] = []

#: two penalties' leave-one-out errors, or the k-th and (k+1)-th |coefficient|, this close (relative) are a tie
#: that rounding could break either way: such sets are refitted by the estimator
_TIE = 1e-9
#: elements of one block of standardised training matrices (~32 MB of float64)
_CHUNK_ELEMENTS = 4_000_000


#: ``fit(Z, y) -> (coef (b, p), intercept (b,), unsure (b,))`` on a block of standardised training matrices
Fit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def topk_estimator(model: Any) -> tuple[Fit, int | None, bool] | None:
    """``(fit, top_k, refit)`` of a ``StandardScaler -> DrugResponseModel`` pipeline that
    :func:`topk_cv_predict` computes for a whole stack: ``"ridge"`` whose RidgeCV chooses its penalty by the
    efficient leave-one-out error (``cv=None``, no scorer), or ``"linear"`` (least squares with an intercept);
    else None."""
    regressor = scaled_regressor(model)
    if regressor is None or not valid_top_k(regressor.top_k):
        return None
    estimator = regressor._make_estimator()
    params = estimator.get_params()
    fit: Fit
    if type(estimator) is RidgeCV:
        alphas = np.atleast_1d(np.asarray(params["alphas"], dtype=float))
        if (
            params["cv"] is not None
            or params["scoring"] is not None
            or not params["fit_intercept"]
            or params["gcv_mode"] not in (None, "auto", "eigen")
            or params["alpha_per_target"]
            or alphas.ndim != 1
            or not np.all(alphas > 0)
        ):
            return None
        fit = functools.partial(_ridge_gcv, alphas=alphas)
    elif type(estimator) is LinearRegression:
        if not params["fit_intercept"] or params["positive"]:
            return None
        fit = functools.partial(_least_squares, cut=float(params["tol"]) ** 2)
    else:
        return None
    top_k = regressor.top_k
    return fit, None if top_k is None else int(top_k), bool(regressor.refit)


def topk_cv_predict(
    X: Any,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    fit: Fit,
    *,
    top_k: int | None = None,
    refit: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out predictions of ``StandardScaler -> DrugResponseModel("ridge" / "linear")`` refitted in every fold,
    for a stack.

    Parameters
    ----------
    X : ndarray of shape (n_sets, n_samples, n_features) or (n_sets, n_folds, n_samples, n_features), or a
        :class:`~organoidrx.models._loo.PickedColumns`
        One matrix per set, or one per set and fold (``X[:, f]`` is fold ``f``'s features).
    y : ndarray of shape (n_samples,)
    folds : list of (train, test) index arrays
    fit : callable
        The regressor on a block of standardised training matrices, from :func:`topk_estimator`.
    top_k : int, optional
        As :class:`~organoidrx.models.DrugResponseModel`: keep the ``top_k`` features of largest
        ``|coefficient|`` (ties: input order); None keeps all.
    refit : bool, default True
        Fit again (RidgeCV: its penalty too) on the kept features (else predict with the full fit's
        coefficients of those features and its intercept).

    Returns
    -------
    pred : ndarray of shape (n_sets, n_samples)
        Sample ``i``'s prediction from the fold that holds it out.
    unsure : ndarray of bool, shape (n_sets, n_folds)
        The folds of each set where two penalties' leave-one-out errors or the last kept and first dropped
        ``|coefficient|`` are equal within 1e-9 (relative), or an eigenvalue lies within a factor 2 of least
        squares' cut-off, so that rounding could decide either way: refit those folds with the estimator.

    Notes
    -----
    In each fold the training rows are standardised (as ``StandardScaler``) and centred, :math:`Z`, and the
    responses centred, :math:`y_c`. With the eigendecomposition :math:`Z Z^\\top = Q \\Lambda Q^\\top` and
    :math:`D = (\\Lambda + \\alpha I)^{-1}`, the ridge fit with an unpenalised intercept has dual coefficients
    :math:`c = Q D Q^\\top y_c` and leave-one-out residuals :math:`c_i / d_i`, :math:`d = \\mathrm{diag}(Q D
    Q^\\top) - Q D Q^\\top \\mathbf 1 / m` (Rifkin and Lippert 2007; scikit-learn's ``_RidgeGCV``). The first
    penalty with the smallest mean squared residual gives :math:`w = Z^\\top c` and the intercept
    :math:`\\bar y - \\bar x^\\top w`; the same is done again on the ``top_k`` columns of largest :math:`|w|`.
    Least squares is the minimum-norm solution :math:`c = Q \\Lambda^+ Q^\\top y_c` (eigenvalues below
    ``tol**2`` times the largest dropped, as ``scipy.linalg.lstsq``'s ``cond`` drops singular values). One
    batched eigendecomposition per fold (and refit) serves every set of a block.

    References
    ----------
    Rifkin R., Lippert R. (2007) Notes on regularized least squares. MIT-CSAIL-TR-2007-025.
    """
    n_sets, n, p = X.shape[0], X.shape[-2], X.shape[-1]
    k = p if top_k is None else min(int(top_k), p)
    pred = np.empty((n_sets, n))
    unsure = np.zeros((n_sets, len(folds)), dtype=bool)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n * p))
    for start in range(0, n_sets, chunk):
        block = slice(start, min(start + chunk, n_sets))
        for f, (train, test) in enumerate(folds):
            Xf = np.asarray(X[block, f] if X.ndim == 4 else X[block], dtype=float)
            Z, Zte = standardised_fold(Xf, train, test)
            coef, intercept, close = fit(Z, y[train])
            if k < p:
                order = np.argsort(-np.abs(coef), axis=1, kind="stable")  # ties keep input order
                kept = order[:, :k]
                size = np.abs(np.take_along_axis(coef, order[:, k - 1 : k + 1], axis=1))
                close |= size[:, 0] - size[:, 1] <= _TIE * size[:, 0]
                Zte = np.take_along_axis(Zte, kept[:, None, :], axis=2)
                if refit:
                    Z = np.take_along_axis(Z, kept[:, None, :], axis=2)
                    coef, intercept, again = fit(Z, y[train])
                    close |= again
                else:
                    coef = np.take_along_axis(coef, kept, axis=1)
            pred[block, test] = (Zte @ coef[:, :, None])[..., 0] + intercept[:, None]
            unsure[block, f] = close
    return pred, unsure


def standardised_fold(Xf: np.ndarray, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A fold's training and held-out rows of a stack (b, n, p) standardised on the training rows, as
    ``StandardScaler`` does (a constant column keeps scale 1, :func:`scaler_constant`)."""
    Xtr = Xf[:, train, :]
    mean = Xtr.mean(axis=1, keepdims=True)
    var = Xtr.var(axis=1, keepdims=True)
    scale = np.where(scaler_constant(var, mean, len(train)), 1.0, np.sqrt(var))
    return (Xtr - mean) / scale, (Xf[:, test, :] - mean) / scale


def _gram(
    Z: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
    """Column means (b, p), centred matrices, the mean and centred responses, and the eigendecomposition of each
    centred Gram matrix, (b, m) and (b, m, m)."""
    x_mean = Z.mean(axis=1)
    centred = Z - x_mean[:, None, :]
    y_mean = float(y.mean())
    values, vectors = np.linalg.eigh(centred @ centred.transpose(0, 2, 1))
    return x_mean, centred, y_mean, y - y_mean, values, vectors


def _primal(
    dual: np.ndarray, x_mean: np.ndarray, centred: np.ndarray, y_mean: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``Z' c`` (b, p) and intercepts (b,) of the dual coefficients ``c`` (b, m)."""
    coef = (centred.transpose(0, 2, 1) @ dual[..., None])[..., 0]
    return coef, y_mean - np.sum(x_mean * coef, axis=1)


def _least_squares(Z: np.ndarray, y: np.ndarray, cut: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-norm least squares on each matrix of ``Z`` (b, m, p): coefficients, intercepts and whether an
    eigenvalue lies within a factor 2 of the cut-off (b,)."""
    x_mean, centred, y_mean, yc, values, vectors = _gram(Z, y)
    top = values[:, -1:]
    keep = values > cut * top
    near = np.asarray(((values > cut * top / 2) & (values < cut * top * 2)).any(axis=1))
    inverse = np.where(keep, 1.0 / np.where(keep, values, 1.0), 0.0)
    dual = (vectors @ (inverse * (yc @ vectors))[..., None])[..., 0]
    coef, intercept = _primal(dual, x_mean, centred, y_mean)
    return coef, intercept, near


def _ridge_gcv(Z: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RidgeCV's fit on each matrix of ``Z`` (b, m, p): coefficients (b, p), intercepts (b,) and whether two
    penalties tie (b,)."""
    m = Z.shape[1]
    x_mean, centred, y_mean, yc, values, vectors = _gram(Z, y)
    along = yc @ vectors  # (b, m): Q' y
    ones = vectors.sum(axis=1)  # (b, m): Q' 1
    squares = vectors * vectors
    duals, errors = [], []
    for alpha in alphas:
        inverse = 1.0 / (values + alpha)
        dual = (vectors @ (inverse * along)[..., None])[..., 0]
        diagonal = (squares @ inverse[..., None])[..., 0] - (vectors @ (inverse * ones)[..., None])[
            ..., 0
        ] / m
        residual = dual / diagonal
        duals.append(dual)
        errors.append(np.mean(residual * residual, axis=1))
    error = np.stack(errors)  # (alphas, b)
    best = np.argmin(error, axis=0)  # the first of equal errors, as RidgeCV keeps a penalty unless beaten
    if len(alphas) > 1:
        ordered = np.sort(error, axis=0)
        close = ordered[1] - ordered[0] <= _TIE * ordered[0]
    else:
        close = np.zeros(len(best), dtype=bool)
    dual = np.stack(duals)[best, np.arange(len(best))]
    coef, intercept = _primal(dual, x_mean, centred, y_mean)
    return coef, intercept, close
