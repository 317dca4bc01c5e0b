"""Leave-one-out kernels for stacks of small feature matrices (many random feature sets, few samples).

``StandardScaler -> Ridge(alpha)``, ``-> LinearRegression`` or ``-> KernelRidgeLOO`` refitted in each leave-one-out
fold, for a stack of ``n_sets`` matrices of ``n`` samples at once. One matrix per set (``X`` of shape
``(n_sets, n, p)``): each fold's Gram matrix comes from the full data without building the fold's standardised
matrix. One matrix per set and fold (``X`` of shape ``(n_sets, n, n, p)``, ``X[:, i]`` the features of fold ``i``,
whose held-out sample is ``i``; e.g. pathway scores recomputed without the held-out sample): each fold is
standardised and multiplied directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from threadpoolctl import ThreadpoolController

from organoidrx.models._alignment import scaler_constant
from organoidrx.models._kernel import KernelRidgeLOO, kernel_dual
from organoidrx.models._response import DrugResponseModel, valid_top_k

__all__: list[str] = []

#: elements of the per-chunk pair-product block (sets x sample pairs x features); ~32 MB of float64
_CHUNK_ELEMENTS = 4_000_000
#: at most this many sets per block, so that the per-set (n x n x n) arrays stay in cache
_CHUNK_SETS = 64
#: a left-out sum of squares below this share of the full one is recomputed directly (cancellation)
_CANCELLATION = 1e-6
_THREADPOOLS = ThreadpoolController()
#: threads over blocks of sets
_N_THREADS = min(2, os.cpu_count() or 1)


def is_leave_one_out(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> bool:
    """Whether ``folds`` are the ``n`` leave-one-out folds in sample order (test ``[i]`` in fold ``i``)."""
    return len(folds) == n and all(
        len(test) == 1 and int(test[0]) == i and len(train) == n - 1 for i, (train, test) in enumerate(folds)
    )


def loo_ridge_predict(X: np.ndarray | PickedColumns, y: np.ndarray, alpha: float) -> np.ndarray:
    """Leave-one-out predictions of ``StandardScaler -> Ridge(alpha)`` for every matrix of a stack.

    Parameters
    ----------
    X : ndarray of shape (n_sets, n_samples, n_features) or (n_sets, n_samples, n_samples, n_features)
        One matrix per set, or one per set and fold (``X[s, i]``: fold ``i``'s matrix, sample ``i`` held out).
    y : ndarray of shape (n_samples,) or (n_responses, n_samples)
        As :func:`loo_linear_predict` (with several response vectors, one row of predictions per vector).
    alpha : float
        Ridge penalty, positive.

    Returns
    -------
    ndarray of shape (n_sets, n_samples)
        ``pred[s, i]``: set ``s``'s model fitted without sample ``i``, predicting sample ``i``.

    Notes
    -----
    With :math:`\\tilde x_{aj}` the full-data centred features, leaving sample :math:`i` out moves feature
    :math:`j`'s mean by :math:`-\\tilde x_{ij} / m` (:math:`m = n - 1`), so the fold's centred value of sample
    :math:`a` is :math:`\\tilde x_{aj} + \\tilde x_{ij} / m` and its sum of squares is
    :math:`S_j - \\tilde x_{ij}^2 n / m`. With :math:`w_{ij} = 1 / s_{ij}^2` the fold's inverse variance
    (``ddof=0``; 1 for a constant column, as ``StandardScaler``), the fold's Gram matrix of standardised samples
    (held-out sample included) is

    .. math:: K^{(i)}_{ab} = G^{(i)}_{ab} + (G^{(i)}_{ia} + G^{(i)}_{ib}) / m + G^{(i)}_{ii} / m^2,
              \\qquad G^{(i)}_{ab} = \\sum_j w_{ij} \\tilde x_{aj} \\tilde x_{bj},

    one matrix product of the (n x n_features) weights with the (n_features x n(n+1)/2) pair products per set.
    The dual ridge solution of fold :math:`i` is then
    :math:`\\hat y_i = \\bar y_{-i} + K^{(i)}_{i,T} (K^{(i)}_{T,T} + \\alpha I)^{-1} (y_T - \\bar y_{-i})`,
    :math:`T` the other samples: the same model as the primal or dual solve on each fold's standardised matrix,
    up to rounding. Memory: a block of about 32 MB of pair products, whatever the number of sets. With one matrix
    per fold, :math:`K^{(i)}` is the product of fold :math:`i`'s standardised matrix with itself.
    """
    eye = alpha * np.eye(X.shape[1] - 1)

    def solve(folds: _Folds, yc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k_train, k_test, _ = folds.gram()
        k_train += eye
        if yc.ndim == 3:  # one set, B response vectors: each fold's solve takes them as B right-hand sides
            dual = np.linalg.solve(k_train, yc.transpose(1, 2, 0)[None])  # (1, n, m, B)
            fitted = (k_test[:, :, None, :] @ dual)[0, :, 0, :].T  # (B, n)
            return fitted, np.zeros(len(fitted), dtype=bool)
        dual = np.linalg.solve(k_train, np.broadcast_to(yc[..., None], (*k_train.shape[:2], yc.shape[-1], 1)))
        return (k_test[:, :, None, :] @ dual)[:, :, 0, 0], np.zeros(k_train.shape[0], dtype=bool)

    return _loo_predict(X, y, solve)[0]


#: A kept eigenvalue of a fold's Gram matrix below this fraction of the largest is solved to fewer than about 8
#: digits (the Gram squares the training matrix's condition number; ``lstsq`` works on the matrix itself).
_ILL_CONDITIONED = 1e-7


def unsure_least_squares(values: np.ndarray, cut: float) -> np.ndarray:
    """Where the eigenvalues (..., m, ascending) of Gram matrices leave least squares to rounding: within a factor 2
    of the cut-off ``cut`` x the largest (``lstsq`` could keep or drop it), or kept but below
    :data:`_ILL_CONDITIONED` x the largest (nearly collinear pathways): a boolean array of the same shape."""
    top = values[..., -1:]
    return (values > cut * top / 2) & (values < max(2 * cut, _ILL_CONDITIONED) * top)


def loo_linear_predict(
    X: np.ndarray | PickedColumns, y: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out predictions of ``StandardScaler -> LinearRegression(tol=tol)`` for a stack of matrices.

    Parameters
    ----------
    X : ndarray of shape (n_sets, n_samples, n_features) or (n_sets, n_samples, n_samples, n_features)
        As :func:`loo_ridge_predict`.
    y : ndarray of shape (n_samples,) or (n_responses, n_samples)
        With several response vectors (e.g. permutations), ``X`` holds one set; each fold's decomposition is
        shared by them and ``pred`` and ``unsure`` have one row per response vector.
    tol : float
        ``LinearRegression``'s ``tol``: ``scipy.linalg.lstsq``'s ``cond``, singular values below
        ``tol`` times the largest are dropped.

    Returns
    -------
    pred : ndarray of shape (n_sets, n_samples)
    unsure : ndarray of bool, shape (n_sets,)
        Sets where, in some fold, rounding could decide differently from ``lstsq`` (:func:`unsure_least_squares`):
        refit those with the estimator.

    Notes
    -----
    The minimum-norm least-squares fit of fold :math:`i` from the eigen-decomposition
    :math:`K^{(i)}_{T,T} = U \\Lambda U^\\top` of its Gram matrix (see :func:`loo_ridge_predict`):
    :math:`\\hat y_i = \\bar y_{-i} + \\sum_{k: \\lambda_k > tol^2 \\lambda_{max}}
    (K^{(i)}_{i,T} u_k)(u_k^\\top y_c) / \\lambda_k`, the squared singular values of the centred standardised
    training matrix being the :math:`\\lambda_k`.
    """
    cut = tol * tol

    def solve(folds: _Folds, yc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k_train, k_test, _ = folds.gram()
        values, vectors = np.linalg.eigh(k_train)  # ascending
        top = values[..., -1:]
        keep = values > cut * top
        near = unsure_least_squares(values, cut)
        inverse = np.where(keep, 1.0 / np.where(keep, values, 1.0), 0.0)
        along = (k_test[:, :, None, :] @ vectors)[:, :, 0, :]  # (b, n, m)
        response = (yc[..., None, :] @ vectors)[..., 0, :]
        return (along * response * inverse).sum(axis=2), np.asarray(near.any(axis=(1, 2)))

    return _loo_predict(X, y, solve)


def loo_kernel_ridge_predict(
    X: np.ndarray | PickedColumns, y: np.ndarray, estimator: KernelRidgeLOO
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out predictions of ``StandardScaler -> KernelRidgeLOO`` for a stack of matrices.

    Parameters
    ----------
    X : ndarray of shape (n_sets, n_samples, n_features) or (n_sets, n_samples, n_samples, n_features)
        As :func:`loo_ridge_predict`.
    y : ndarray of shape (n_samples,) or (n_responses, n_samples)
        As :func:`loo_linear_predict`.
    estimator : KernelRidgeLOO
        Unfitted; its kernel, penalties and kernel parameters are used (``gamma=None``: 1 / n_features).

    Returns
    -------
    pred : ndarray of shape (n_sets, n_samples)
    unsure : ndarray of bool, shape (n_sets,)
        Sets where, in some fold, the two best penalties' leave-one-out errors are within 1e-9 (relative) of each
        other, so that rounding could choose the other one: refit those with the estimator.

    Notes
    -----
    Fold :math:`i`'s kernel between standardised samples comes from the fold Gram matrices of
    :func:`loo_ridge_predict` (linear :math:`K = G`; polynomial :math:`(\\gamma G + c_0)^d`; rbf
    :math:`\\exp(-\\gamma (G_{aa} + G_{bb} - 2 G_{ab}))`) or from one product of the fold's inverse standard
    deviations with the absolute pair differences (laplacian :math:`\\exp(-\\gamma \\sum_j |z_{aj} - z_{bj}|)`).
    Within the fold, as :class:`KernelRidgeLOO` does on its 18 training samples, one eigendecomposition of the
    training kernel gives every penalty's closed-form leave-one-out error; the first penalty with the smallest
    error gives the dual coefficients and the held-out prediction :math:`\\bar y_{-i} + k_i^\\top c`.
    """
    kernel = estimator.kernel
    alphas = np.asarray(list(estimator.alphas), dtype=float)
    gamma = float(1.0 / X.shape[-1] if estimator.gamma is None else estimator.gamma)
    degree, coef0 = int(estimator.degree), float(estimator.coef0)

    def solve(folds: _Folds, yc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if kernel == "laplacian":
            distance, distance_test = folds.manhattan()
            k_train, k_test = np.exp(-gamma * distance), np.exp(-gamma * distance_test)
        else:
            k_train, k_test, k_self = folds.gram()
            if kernel == "polynomial":
                k_train, k_test = (gamma * k_train + coef0) ** degree, (gamma * k_test + coef0) ** degree
            elif kernel == "rbf":
                diagonal = np.diagonal(k_train, axis1=2, axis2=3)  # (b, n, m)
                squared = diagonal[..., :, None] + diagonal[..., None, :] - 2.0 * k_train
                squared_test = k_self[..., None] + diagonal - 2.0 * k_test
                m = squared.shape[-1]
                squared.reshape(*squared.shape[:2], -1)[..., :: m + 1] = 0.0  # a sample's distance to itself
                k_train = np.exp(-gamma * np.maximum(squared, 0.0))
                k_test = np.exp(-gamma * np.maximum(squared_test, 0.0))
        dual, close = kernel_dual(k_train, yc, alphas)  # (b, n, m): per fold (or per response)
        return np.sum(k_test * dual, axis=-1), np.asarray(close.any(axis=1))

    return _loo_predict(X, y, solve)


#: ``solve(folds, yc) -> (fitted, unsure)``: the fold kernels of a block of b sets, each fold's centred training
#: response (n, m); the held-out predictions minus the fold's mean response (b, n) and the sets whose result
#: rounding could change (b,). With one set and B response vectors, ``yc`` is (B, n, m) and both outputs have B
#: rows.
Solver = Callable[["_Folds", np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PickedColumns:
    """Feature sets given as columns of one table per fold: set ``s`` in fold ``f`` is ``universe[f][:, picks[s]]``.

    It stands for the (n_sets, n_folds, n, size) stack under ``shape``, ``ndim`` and indexing (``X[s]``,
    ``X[s, f]``, ``X[a:b]``, ``X[:, f]``) without building it; the leave-one-out kernels compute every set's fold
    kernels from per-column terms of the universe (one product with the sets' 0/1 membership per fold).

    Attributes
    ----------
    universe : ndarray of shape (n_folds, n_samples, n_columns)
    picks : ndarray of int, shape (n_sets, size)
        Distinct column positions of each set.
    """

    universe: np.ndarray
    picks: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.picks.shape[0], *self.universe.shape[:2], self.picks.shape[1])

    @property
    def ndim(self) -> int:
        return 4

    def __getitem__(self, key: Any) -> np.ndarray:
        sets, folds = key if isinstance(key, tuple) else (key, slice(None))
        picks = self.picks[sets]
        out = self.universe[folds][..., picks]
        return np.moveaxis(out, -2, 0) if picks.ndim == 2 else out

    @classmethod
    def from_stack(cls, X: np.ndarray) -> PickedColumns:
        """The same sets from an explicit (n_sets, n_folds, n, p) stack (each set's columns side by side)."""
        n_sets, n_folds, n, p = X.shape
        universe = np.ascontiguousarray(X.transpose(1, 2, 0, 3)).reshape(n_folds, n, n_sets * p)
        return cls(universe, np.arange(n_sets * p).reshape(n_sets, p))


class _Folds:
    """The leave-one-out fold kernels of a block of sets: from one matrix per set (an array), or from the tables
    of :class:`_Columns` and each set's column picks (b, size)."""

    def __init__(
        self, pairs: tuple[np.ndarray, ...], source: np.ndarray | tuple[_Columns, np.ndarray]
    ) -> None:
        self.pairs, self.source = pairs, source

    def gram(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each fold's training Gram (b, n, m, m), held-out row (b, n, m) and held-out sample's own product (b, n)
        of standardised samples."""
        if isinstance(self.source, tuple):
            columns, picks = self.source
            return _assemble(columns.sums(_Columns.products, picks), self.pairs)
        return _fold_kernels(self.source, self.pairs)

    def manhattan(self) -> tuple[np.ndarray, np.ndarray]:
        """Each fold's L1 distances between standardised samples: training (b, n, m, m), held-out row (b, n, m)."""
        if isinstance(self.source, tuple):
            columns, picks = self.source
            return _assemble_distances(columns.sums(_Columns.differences, picks), self.pairs)
        return _fold_manhattan(self.source, self.pairs)


class _Columns:
    """Per-column terms of each fold's table, summed over the columns of picked sets."""

    def __init__(self, universe: np.ndarray, first: np.ndarray, second: np.ndarray) -> None:
        n = universe.shape[1]
        self.centred = universe - universe.mean(axis=1, keepdims=True)  # (n folds, n, U)
        # fold i's inverse variances with sample i left out
        self.weights = np.stack([_inverse_variances(universe[i][None])[0, i] for i in range(n)])
        self.first, self.second = first, second

    def products(self, i: int) -> np.ndarray:
        """Fold i's weighted pair products (pairs, U): G^(i)_ab summed over a set's columns."""
        c = self.centred[i]
        return c[self.first] * c[self.second] * self.weights[i]

    def differences(self, i: int) -> np.ndarray:
        """Fold i's weighted absolute pair differences (pairs, U): L1 distances summed over a set's columns."""
        c = self.centred[i]
        return np.abs(c[self.first] - c[self.second]) * np.sqrt(self.weights[i])

    def sums(self, terms: Callable[[_Columns, int], np.ndarray], picks: np.ndarray) -> np.ndarray:
        """``terms`` of every fold summed over each set's columns ``picks`` (b, size): (b, n folds x pairs)."""
        n_folds, _, n_columns = self.centred.shape
        membership = np.zeros((n_columns, len(picks)))
        membership[picks, np.arange(len(picks))[:, None]] = 1.0
        sums = np.stack([terms(self, i) @ membership for i in range(n_folds)])  # (n folds, pairs, b)
        return sums.transpose(2, 0, 1).reshape(len(picks), -1)


def _loo_predict(
    X: np.ndarray | PickedColumns, y: np.ndarray, solve: Solver
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(X, np.ndarray) and X.ndim == 4:
        X = PickedColumns.from_stack(X)
    if X.ndim not in (3, 4) or (X.ndim == 4 and X.shape[1] != X.shape[2]):
        raise ValueError(f"X must be (n_sets, n, p) or (n_sets, n folds, n, p); got shape {X.shape}.")
    n_sets, n, p = X.shape[0], X.shape[-2], X.shape[-1]
    train = np.array([np.delete(np.arange(n), i) for i in range(n)])  # (n, m)
    if y.ndim == 2:  # one set, many response vectors: the fold decompositions are shared by all of them
        if n_sets != 1:
            raise ValueError(f"several response vectors need one set; got {n_sets} sets.")
        y_mean = y[:, train].mean(axis=2)  # (B, n)
        yc = y[:, train] - y_mean[..., None]  # (B, n, m)
    else:
        y_mean = np.array([y[t].mean() for t in train])
        yc = y[train] - y_mean[:, None]  # (n, m)
    n_rows = n_sets if y.ndim == 1 else y.shape[0]
    pred = np.empty((n_rows, n))
    unsure = np.zeros(n_rows, dtype=bool)
    first, second = np.triu_indices(n)
    pair = np.empty((n, n), dtype=np.intp)
    pair[first, second] = np.arange(first.size)
    pair[second, first] = np.arange(first.size)
    folds = np.arange(n)
    # positions in the flattened (fold, pair) sums: each fold's training block, held-out row and diagonal
    row = folds * first.size
    pairs = (
        (row[:, None, None] + pair[train[:, :, None], train[:, None, :]]).ravel(),  # n * m * m
        (row[:, None] + pair[folds[:, None], train]).ravel(),  # n * m
        row + pair[folds, folds],  # n
    )
    columns = None
    if isinstance(X, PickedColumns):
        columns = (_Columns(np.asarray(X.universe, dtype=float), first, second), X.picks)
        per_set = n * first.size
    else:
        per_set = first.size * max(1, p)
    chunk = max(1, min(_CHUNK_SETS, _CHUNK_ELEMENTS // per_set))
    starts = range(0, n_sets, chunk)

    def work(start: int) -> None:
        if columns is None:
            folds = _Folds(pairs, np.asarray(X[start : start + chunk], dtype=float))
        else:
            folds = _Folds(pairs, (columns[0], columns[1][start : start + chunk]))
        fitted, doubtful = solve(folds, yc)
        if y.ndim == 2:  # the one set's fit of every response vector
            pred[:] = y_mean + fitted
            unsure[:] = doubtful
            return
        pred[start : start + chunk] = y_mean + fitted
        unsure[start : start + chunk] = doubtful

    # blocks in threads (numpy releases the GIL), each with one BLAS thread: the products are small, and BLAS
    # threads waiting for each other stall on a busy machine; each block's arithmetic is the same in any thread
    n_threads = min(len(starts), _N_THREADS)
    with _THREADPOOLS.limit(limits=1, user_api="blas"):
        if n_threads <= 1:
            for start in starts:
                work(start)
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(work, starts))
    return pred, unsure


def _fold_kernels(
    block: np.ndarray, pairs: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each fold's training Gram (b, n, m, m), held-out row (b, n, m) and held-out sample's own product (b, n)
    of standardised samples."""
    b, n, p = block.shape
    centred = block - block.mean(axis=1, keepdims=True)
    weights = _inverse_variances(block)  # (b, n folds, p)
    products = np.empty((b, n * (n + 1) // 2, p))  # x_a * x_b for a <= b, in np.triu_indices order
    offset = 0
    for a in range(n):
        np.multiply(centred[:, a : a + 1, :], centred[:, a:, :], out=products[:, offset : offset + n - a, :])
        offset += n - a
    gram = np.matmul(weights, products.transpose(0, 2, 1)).reshape(b, -1)  # (b, n folds x pairs): G^(i)_ab
    return _assemble(gram, pairs)


def _assemble(gram: np.ndarray, pairs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold kernels of standardised samples from each fold's weighted Gram sums (b, n folds x pairs) of samples
    centred on all n: the training block, held-out row and held-out sample's own product."""
    train_pairs, test_pairs, own_pairs = pairs
    b = gram.shape[0]
    n = own_pairs.size
    m = n - 1
    own = np.take(gram, own_pairs, axis=1).reshape(b, n, 1) / (m * m)  # G_ii / m^2
    cross = np.take(gram, test_pairs, axis=1).reshape(b, n, m) / m  # G_ia / m
    k_train = np.take(gram, train_pairs, axis=1).reshape(b, n, m, m)
    k_train += cross[:, :, :, None]
    k_train += cross[:, :, None, :]
    k_train += own[:, :, :, None]
    k_test = (m + 1) * (cross + own)  # K_ib = G_ib + (G_ii + G_ib) / m + G_ii / m^2 for b in T
    return k_train, k_test, (m + 1) * (m + 1) * own[:, :, 0]  # K_ii = G_ii (1 + 1/m)^2


def _fold_manhattan(block: np.ndarray, pairs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each fold's L1 distances between standardised samples: training (b, n, m, m) and held-out row (b, n, m).

    Centring does not move a difference, so :math:`\\sum_j |x_{aj} - x_{bj}| / s_{ij}` is one matrix product of the
    fold's inverse standard deviations with the (n_features x n(n+1)/2) absolute pair differences per set.
    """
    b, n, p = block.shape
    centred = block - block.mean(axis=1, keepdims=True)
    weights = np.sqrt(_inverse_variances(block))
    differences = np.empty((b, n * (n + 1) // 2, p))
    offset = 0
    for a in range(n):
        np.subtract(
            centred[:, a : a + 1, :], centred[:, a:, :], out=differences[:, offset : offset + n - a, :]
        )
        offset += n - a
    np.abs(differences, out=differences)
    return _assemble_distances(np.matmul(weights, differences.transpose(0, 2, 1)).reshape(b, -1), pairs)


def _assemble_distances(distance: np.ndarray, pairs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each fold's training (b, n, m, m) and held-out (b, n, m) distances from the sums (b, n folds x pairs)."""
    train_pairs, test_pairs, own_pairs = pairs
    b, n = distance.shape[0], own_pairs.size
    return (
        np.take(distance, train_pairs, axis=1).reshape(b, n, n - 1, n - 1),
        np.take(distance, test_pairs, axis=1).reshape(b, n, n - 1),
    )


def _inverse_variances(block: np.ndarray) -> np.ndarray:
    """``1 / var`` of every feature of ``block`` (b, n, p) with each sample left out in turn (``ddof=0``); 1 for
    a column constant in the fold, by StandardScaler's test on the fold's mean (:func:`scaler_constant`).

    The fold's sum of squares is the whole column's minus the left-out sample's share; where that cancels (the
    sample holds nearly all the variance, e.g. a column constant once it is left out) it is summed from the
    fold's own values, as StandardScaler sums them, so that a constant fold is seen as constant.
    """
    n = block.shape[1]
    m = n - 1
    mean = block.mean(axis=1, keepdims=True)
    centred = block - mean
    squares = centred * centred
    total = squares.sum(axis=1, keepdims=True)  # (b, 1, p)
    left = total - squares * (n / m)  # (b, n, p): sum of squares about the fold's mean
    risky = left < _CANCELLATION * total
    recomputed: dict[tuple[int, int, int], float] = {}  # the fold means of the cells summed directly
    if risky.any():  # a sample holding nearly all the variance: sum the fold's squares directly
        for s, i, j in zip(*np.nonzero(risky), strict=True):
            values = np.delete(block[s, :, j], i)
            recomputed[s, i, j] = values.mean()
            left[s, i, j] = ((values - recomputed[s, i, j]) ** 2).sum()
    var = np.maximum(left, 0.0) / m
    # only a variance within (2 m eps max|x|)^2 can pass the test (|fold mean| <= max|x|): test those cells only
    bound = 2.0 * (m * np.finfo(float).eps * np.abs(block).max(axis=1, keepdims=True)) ** 2
    cells = np.nonzero(var <= bound)
    if cells[0].size:
        fold_mean = mean[cells[0], 0, cells[2]] - centred[cells] / m
        if recomputed:
            for k, cell in enumerate(zip(*cells, strict=True)):
                fold_mean[k] = recomputed.get(cell, fold_mean[k])
        constant = scaler_constant(var[cells], fold_mean, m)  # as StandardScaler
        var[tuple(c[constant] for c in cells)] = 1.0
    return 1.0 / var


def scaled_regressor(model: Any) -> DrugResponseModel | None:
    """The regressor of a ``StandardScaler() -> DrugResponseModel`` pipeline (as :func:`make_response_pipeline`
    builds without a selector), else None.

    Fitting the two steps on arrays gives the pipeline's numbers without its DataFrames (about a third of the
    time of a small fit).
    """
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    scaler, regressor = (step for _, step in model.steps)
    if type(scaler) is not StandardScaler or scaler.get_params() != StandardScaler().get_params():
        return None
    return regressor if type(regressor) is DrugResponseModel else None


def _estimator_on_every_feature(model: Any, name: str, n_features: int) -> Any:
    """The unfitted estimator of a ``StandardScaler -> DrugResponseModel(name)`` pipeline that keeps every one of
    ``n_features`` features, else None."""
    regressor = scaled_regressor(model)
    if regressor is None or regressor.model != name:
        return None
    if regressor.top_k is not None and not (
        isinstance(regressor.top_k, int) and regressor.top_k >= n_features
    ):
        return None
    return regressor._make_estimator()


def kernel_ridge_estimator(model: Any, n_features: int) -> KernelRidgeLOO | None:
    """The unfitted :class:`KernelRidgeLOO` of a ``StandardScaler -> DrugResponseModel("kernel_ridge")``
    pipeline keeping every feature (which :func:`loo_kernel_ridge_predict` computes for a whole stack), else None."""
    estimator = _estimator_on_every_feature(model, "kernel_ridge", n_features)
    return estimator if type(estimator) is KernelRidgeLOO else None


def linear_tolerance(model: Any, n_features: int) -> float | None:
    """``tol`` of a ``StandardScaler -> DrugResponseModel("linear")`` pipeline keeping every feature, else None.

    Such a pipeline is ordinary (minimum-norm) least squares on the standardised features, which
    :func:`loo_linear_predict` computes for a whole stack of sets.
    """
    estimator = _estimator_on_every_feature(model, "linear", n_features)
    if type(estimator) is not LinearRegression or not estimator.fit_intercept or estimator.positive:
        return None
    return float(estimator.tol)


def svr_estimator(model: Any) -> tuple[SVR, int | None, bool] | None:
    """``(SVR, top_k, refit)`` of a ``StandardScaler -> DrugResponseModel("svr")`` pipeline, which
    :func:`organoidrx.models._svr.svr_cv_predict` fits for a whole stack, else None (another kernel, an invalid
    ``top_k`` that the estimator refuses, or an iteration cap, whose warning only scikit-learn gives)."""
    regressor = scaled_regressor(model)
    if regressor is None or regressor.model != "svr":
        return None
    top_k = regressor.top_k
    if not valid_top_k(top_k):  # the estimator's own error
        return None
    estimator = regressor._make_estimator()
    if type(estimator) is not SVR or estimator.kernel != "linear" or estimator.max_iter != -1:
        return None
    return estimator, None if top_k is None else int(top_k), bool(regressor.refit)
