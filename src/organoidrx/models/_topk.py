"""``StandardScaler -> DrugResponseModel("ridge", "linear" or "kernel_ridge")`` (RidgeCV with its leave-one-out
penalty choice, least squares, or kernel ridge; top-k selection by |coefficient| or sensitivity, and refit)
cross-validated for a whole stack of feature sets at once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression, RidgeCV

from organoidrx.models._alignment import scaler_constant
from organoidrx.models._kernel import ROUNDING_TIE, KernelRidgeLOO, best_penalty, kernel_dual
from organoidrx.models._loo import scaled_regressor, unsure_least_squares
from organoidrx.models._response import valid_top_k

__all__: list[str] = []

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
        ``|coefficient|`` are equal within 1e-9 (relative), a penalty is below :data:`~organoidrx.models._kernel.SMALL_PENALTY` x the
        largest eigenvalue, or an eigenvalue leaves least squares to rounding
        (:func:`~organoidrx.models._loo.unsure_least_squares`): refit those folds with the estimator.

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
                kept, tied = _top(coef, k)
                close |= tied
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


def _top(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the ``k`` largest ``|values|`` of each row (b, p), ties in input order as
    :func:`~organoidrx.models._response.rank_order`; and whether the k-th and (k+1)-th are equal within
    :data:`~organoidrx.models._kernel.ROUNDING_TIE` (relative), so that rounding could swap them (b,)."""
    order = np.argsort(-np.abs(values), axis=1, kind="stable")
    size = np.abs(np.take_along_axis(values, order[:, k - 1 : k + 1], axis=1))
    return order[:, :k], size[:, 0] - size[:, 1] <= ROUNDING_TIE * size[:, 0]


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
    eigenvalue leaves it to rounding (b,)."""
    x_mean, centred, y_mean, yc, values, vectors = _gram(Z, y)
    top = values[:, -1:]
    keep = values > cut * top
    near = np.asarray(unsure_least_squares(values, cut).any(axis=1))
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
    best, close = best_penalty(np.stack(errors), alphas, values)
    dual = np.stack(duals)[best, np.arange(len(best))]
    coef, intercept = _primal(dual, x_mean, centred, y_mean)
    return coef, intercept, close


# ------------------------------------------------------------------------------------------- kernel ridge, top k
def kernel_topk_estimator(model: Any) -> tuple[KernelRidgeLOO, int, bool] | None:
    """``(estimator, top_k, refit)`` of a ``StandardScaler -> DrugResponseModel("kernel_ridge", top_k)`` pipeline
    that :func:`kernel_topk_cv_predict` computes for a whole stack: a :class:`KernelRidgeLOO` with the linear, rbf
    or polynomial kernel and an integer ``top_k``; else None (the laplacian kernel, whose pairwise absolute
    differences are a (samples x samples x pathways) array per set, is refitted per fold)."""
    regressor = scaled_regressor(model)
    if regressor is None or regressor.top_k is None or not valid_top_k(regressor.top_k):
        return None
    estimator = regressor._make_estimator()
    if type(estimator) is not KernelRidgeLOO or estimator.kernel not in ("linear", "rbf", "polynomial"):
        return None
    alphas = np.asarray(list(estimator.alphas), dtype=float)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
        return None  # the estimator's own error
    return estimator, int(regressor.top_k), bool(regressor.refit)


def kernel_topk_cv_predict(
    X: Any,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    estimator: KernelRidgeLOO,
    *,
    top_k: int,
    refit: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out predictions of ``StandardScaler -> DrugResponseModel("kernel_ridge", top_k)`` refitted in every
    fold, for a stack (shapes as :func:`topk_cv_predict`).

    In each fold, as :class:`~organoidrx.models.DrugResponseModel` does on the standardised training rows: the
    :class:`KernelRidgeLOO` fit on every pathway (penalty by closed-form leave-one-out error, dual coefficients
    :math:`c` from the eigendecomposition of the kernel), each pathway's sensitivity sign(mean) x mean
    :math:`|\\partial \\hat f / \\partial x_j|` over the training rows (for the linear kernel its coefficient
    :math:`Z^\\top c`), the ``top_k`` largest kept, and the model fitted again on them (``gamma=None``: 1 / top_k)
    to predict the held-out rows. ``refit=False`` keeps the full fit's coefficients (linear kernel only; the
    estimator refuses it otherwise, so such a call returns every fold unsure).

    Returns
    -------
    pred : ndarray of shape (n_sets, n_samples)
    unsure : ndarray of bool, shape (n_sets, n_folds)
        Folds where the penalty choice is left to rounding (:func:`~organoidrx.models._kernel.best_penalty`) or
        the last kept and first dropped sensitivities are equal within 1e-9 (relative): the estimator decides
        those.
    """
    n_sets, n, p = X.shape[0], X.shape[-2], X.shape[-1]
    k = min(int(top_k), p)
    pred = np.full((n_sets, n), np.nan)
    unsure = np.zeros((n_sets, len(folds)), dtype=bool)
    if not refit and k < p and estimator.kernel != "linear":
        unsure[:] = True
        return pred, unsure
    alphas = np.asarray(list(estimator.alphas), dtype=float)
    params: dict[str, Any] = {
        "kernel": estimator.kernel,
        "degree": int(estimator.degree),
        "coef0": float(estimator.coef0),
    }
    # gamma=None: 1 / the number of pathways fitted, all of them and then the top k
    gamma_all, gamma_top = (1.0 / p, 1.0 / k) if estimator.gamma is None else (float(estimator.gamma),) * 2
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n * max(n, p)))
    for start in range(0, n_sets, chunk):
        block = slice(start, min(start + chunk, n_sets))
        for f, (train, test) in enumerate(folds):
            Xf = np.asarray(X[block, f] if X.ndim == 4 else X[block], dtype=float)
            Z, Zte = standardised_fold(Xf, train, test)
            y_mean = float(np.mean(y[train]))
            gamma = gamma_all
            K = _block_kernel(Z, Z, gamma=gamma, same=True, **params)
            dual, close = kernel_dual(K, y[train] - y_mean, alphas)
            if k < p:
                sensitivity = _sensitivity(Z, K, dual, gamma=gamma, **params)
                kept, tied = _top(sensitivity, k)
                close |= tied
                Zte = np.take_along_axis(Zte, kept[:, None, :], axis=2)
                if not refit:  # linear kernel: the full fit's coefficients of the kept pathways
                    coef = np.take_along_axis(sensitivity, kept, axis=1)
                    pred[block, test] = (Zte @ coef[:, :, None])[..., 0] + y_mean
                    unsure[block, f] = close
                    continue
                Z = np.take_along_axis(Z, kept[:, None, :], axis=2)
                gamma = gamma_top
                K = _block_kernel(Z, Z, gamma=gamma, same=True, **params)
                dual, again = kernel_dual(K, y[train] - y_mean, alphas)
                close |= again
            K_test = _block_kernel(Zte, Z, gamma=gamma, same=False, **params)
            pred[block, test] = (K_test @ dual[:, :, None])[..., 0] + y_mean
            unsure[block, f] = close
    return pred, unsure


def _block_kernel(
    A: np.ndarray, B: np.ndarray, *, kernel: str, gamma: float, degree: int, coef0: float, same: bool
) -> np.ndarray:
    """:func:`~organoidrx.models._kernel.kernel_matrix` of each pair of matrices (b, r, p) x (b, m, p): the rbf's
    squared distances as scikit-learn's ``euclidean_distances`` forms them (clipped at 0, a zero diagonal when
    ``A`` is ``B``)."""
    inner = A @ B.transpose(0, 2, 1)
    if kernel == "linear":
        return inner
    if kernel == "polynomial":
        return (gamma * inner + coef0) ** degree
    squared = (
        np.einsum("brp,brp->br", A, A)[:, :, None] - 2.0 * inner + np.einsum("bmp,bmp->bm", B, B)[:, None]
    )
    np.maximum(squared, 0.0, out=squared)
    if same:
        squared.reshape(len(squared), -1)[:, :: squared.shape[-1] + 1] = 0.0
    return np.exp(-gamma * squared)


def _sensitivity(
    Z: np.ndarray, K: np.ndarray, dual: np.ndarray, *, kernel: str, gamma: float, degree: int, coef0: float
) -> np.ndarray:
    """Each pathway's ranking value (b, p), as ``DrugResponseModel`` ranks a kernel model: the linear kernel's
    coefficients :math:`Z^\\top c`; else sign(mean) x mean |partial derivative| over the training rows
    (:func:`~organoidrx.models._kernel.kernel_partial_derivatives`)."""
    if kernel == "linear":
        return (dual[:, None, :] @ Z)[:, 0, :]
    if kernel == "polynomial":
        inner = gamma * (Z @ Z.transpose(0, 2, 1)) + coef0
        gradient = gamma * degree * ((inner ** (degree - 1)) * dual[:, None, :]) @ Z
    else:  # rbf
        M = K * dual[:, None, :]
        gradient = -2.0 * gamma * (M.sum(axis=2)[:, :, None] * Z - M @ Z)
    return np.where(gradient.mean(axis=1) < 0, -1.0, 1.0) * np.abs(gradient).mean(axis=1)
