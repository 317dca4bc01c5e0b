"""Leave-one-out kernels for stacks of small feature matrices (many random feature sets, few samples).

``StandardScaler -> Ridge(alpha)`` refitted in each leave-one-out fold, for a stack of ``n_sets`` matrices of
``n`` samples at once, without building each fold's standardised matrix.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

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


def loo_ridge_predict(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Leave-one-out predictions of ``StandardScaler -> Ridge(alpha)`` for every matrix of a stack.

    Parameters
    ----------
    X : ndarray of shape (n_sets, n_samples, n_features)
    y : ndarray of shape (n_samples,)
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
    up to rounding. Memory: a block of about 32 MB of pair products, whatever the number of sets.
    """
    n_sets, n, p = X.shape
    m = n - 1
    pred = np.empty((n_sets, n))
    train = np.array([np.delete(np.arange(n), i) for i in range(n)])  # (n, m)
    y_mean = np.array([y[t].mean() for t in train])
    yc = y[train] - y_mean[:, None]  # (n, m)
    first, second = np.triu_indices(n)
    pair = np.empty((n, n), dtype=np.intp)
    pair[first, second] = np.arange(first.size)
    pair[second, first] = np.arange(first.size)
    folds = np.arange(n)
    # positions in the flattened (fold, pair) sums: each fold's training block, held-out row and diagonal
    row = folds * first.size
    train_pairs = (row[:, None, None] + pair[train[:, :, None], train[:, None, :]]).ravel()  # n * m * m
    test_pairs = (row[:, None] + pair[folds[:, None], train]).ravel()  # n * m
    own_pairs = row + pair[folds, folds]  # n
    chunk = max(1, min(_CHUNK_SETS, _CHUNK_ELEMENTS // (first.size * max(1, p))))
    starts = range(0, n_sets, chunk)

    def work(start: int) -> None:
        block = np.asarray(X[start : start + chunk], dtype=float)
        pairs = (train_pairs, test_pairs, own_pairs)
        pred[start : start + chunk] = _predict_block(block, alpha * np.eye(m), yc, y_mean, pairs)

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
    return pred


def _predict_block(
    block: np.ndarray, eye: np.ndarray, yc: np.ndarray, y_mean: np.ndarray, pairs: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Leave-one-out predictions of one block of sets, shape (b, n); see :func:`loo_ridge_predict`."""
    train_pairs, test_pairs, own_pairs = pairs
    b, n, p = block.shape
    m = n - 1
    centred = block - block.mean(axis=1, keepdims=True)
    weights = _inverse_variances(centred)  # (b, n folds, p)
    products = np.empty((b, n * (n + 1) // 2, p))  # x_a * x_b for a <= b, in np.triu_indices order
    offset = 0
    for a in range(n):
        np.multiply(centred[:, a : a + 1, :], centred[:, a:, :], out=products[:, offset : offset + n - a, :])
        offset += n - a
    gram = np.matmul(weights, products.transpose(0, 2, 1))  # (b, n folds, pairs): G^(i)_ab
    gram = gram.reshape(b, -1)
    own = np.take(gram, own_pairs, axis=1).reshape(b, n, 1) / (m * m)  # G_ii / m^2
    cross = np.take(gram, test_pairs, axis=1).reshape(b, n, m) / m  # G_ia / m
    k_train = np.take(gram, train_pairs, axis=1).reshape(b, n, m, m)
    k_train += cross[:, :, :, None]
    k_train += cross[:, :, None, :]
    k_train += own[:, :, :, None] + eye
    k_test = (m + 1) * (cross + own)  # K_ib = G_ib + (G_ii + G_ib) / m + G_ii / m^2 for b in T
    dual = np.linalg.solve(k_train, np.broadcast_to(yc[None, :, :, None], (b, n, m, 1)))
    return y_mean + (k_test[:, :, None, :] @ dual)[:, :, 0, 0]


def _inverse_variances(centred: np.ndarray) -> np.ndarray:
    """``1 / var`` of every feature with each sample left out in turn (``ddof=0``); 1 for a constant column."""
    n = centred.shape[1]
    m = n - 1
    squares = centred * centred
    total = squares.sum(axis=1, keepdims=True)  # (b, 1, p)
    left = total - squares * (n / m)  # (b, n, p): sum of squares about the fold's mean
    risky = left < _CANCELLATION * total
    if risky.any():  # a sample holding nearly all the variance: sum the fold's squares directly
        for s, i, j in zip(*np.nonzero(risky), strict=True):
            values = np.delete(centred[s, :, j], i)
            left[s, i, j] = ((values - values.mean()) ** 2).sum()
    scale = np.sqrt(np.maximum(left, 0.0) / m)
    scale[scale < 10 * np.finfo(float).eps] = 1.0  # constant columns, as StandardScaler does
    return 1.0 / (scale * scale)
