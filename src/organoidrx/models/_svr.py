"""Linear epsilon-SVR refitted in every fold for stacks of small feature matrices: libsvm's solver, compiled.

``StandardScaler -> SVR(kernel="linear")`` is what scikit-learn fits through libsvm: a sequential minimal
optimisation (SMO) of the dual with second-order working-set selection, shrinking and a stopping tolerance. Its
answer depends on the solver's path, so the same numbers need the same path: :func:`_solve` is libsvm's
``Solver::Solve`` for ``solve_epsilon_svr`` step for step (the same working sets, shrinking schedule, clipping,
gradient reconstruction and ``rho``), with the kernel matrix held in single precision as libsvm's cache holds it.
Imported on first use (it loads numba).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from organoidrx._utils import compiled

__all__ = ["svr_cv_predict"]

#: sets per compiled call; two threads take blocks in turn
_BLOCK = 16
_N_THREADS = min(2, os.cpu_count() or 1)
_LOWER, _UPPER, _FREE = 0, 1, 2
_TAU = 1e-12
_EPS = float(np.finfo(np.float64).eps)


def svr_cv_predict(
    X: Any,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    estimator: Any,
    *,
    top_k: int | None = None,
    refit: bool = True,
) -> np.ndarray:
    """Held-out predictions of ``StandardScaler -> DrugResponseModel("svr")`` refitted in every fold, for a stack.

    Parameters
    ----------
    X : ndarray of shape (n_sets, n_samples, n_features) or (n_sets, n_folds, n_samples, n_features), or a
        :class:`~organoidrx.models._loo.PickedColumns`
        One matrix per set, or one per set and fold (``X[:, f]`` is fold ``f``'s features).
    y : ndarray of shape (n_samples,)
    folds : list of (train, test) index arrays
    estimator : sklearn.svm.SVR
        Unfitted, with ``kernel="linear"``; its ``C``, ``epsilon``, ``tol``, ``shrinking`` and ``max_iter`` are used.
    top_k : int, optional
        As :class:`~organoidrx.models.DrugResponseModel`: keep the ``top_k`` features of largest ``|coefficient|``
        (ties: input order) and, with ``refit``, fit again on them (standardised on all features, in rank
        order); without ``refit``, predict with the full fit's coefficients of those features. None keeps all.
    refit : bool, default True
        ``DrugResponseModel``'s ``refit``: fit again on the kept features.

    Returns
    -------
    ndarray of shape (n_sets, n_samples)
        Sample ``i``'s prediction from the fold that holds it out.

    Notes
    -----
    In each fold the training rows are standardised as ``StandardScaler`` does (two-pass variance with its
    correction term; near-constant columns keep scale 1), the dual
    :math:`\\min_{\\alpha, \\alpha^*} \\tfrac12 (\\alpha - \\alpha^*)^\\top K (\\alpha - \\alpha^*) + \\varepsilon
    \\sum_i (\\alpha_i + \\alpha_i^*) - \\sum_i y_i (\\alpha_i - \\alpha_i^*)` subject to
    :math:`\\sum_i (\\alpha_i - \\alpha_i^*) = 0`, :math:`0 \\le \\alpha, \\alpha^* \\le C` is solved as libsvm
    solves it (Fan R.-E., Chen P.-H., Lin C.-J. (2005) J Mach Learn Res 6:1889-1918), and the held-out rows
    are predicted with :math:`w = \\sum_i (\\alpha_i - \\alpha_i^*) z_i` and intercept :math:`-\\rho`. The only
    differences from scikit-learn are in the last bits of the kernel's dot products (libsvm calls BLAS), which
    its single-precision cache mostly absorbs.
    """
    from organoidrx.models._loo import PickedColumns

    n_folds = len(folds)
    if isinstance(X, PickedColumns):
        tables = np.asarray(X.universe, dtype=float)
        picks = np.asarray(X.picks, dtype=np.int64)
        table_of = np.broadcast_to(np.arange(n_folds, dtype=np.int64), (len(picks), n_folds))
    else:
        X = np.asarray(X, dtype=float)
        n_sets, p = X.shape[0], X.shape[-1]
        if X.ndim == 4:
            tables = X.reshape(-1, *X.shape[2:])
            table_of = np.arange(n_sets * n_folds, dtype=np.int64).reshape(n_sets, n_folds)
        else:
            tables = X
            table_of = np.broadcast_to(np.arange(n_sets, dtype=np.int64)[:, None], (n_sets, n_folds))
        picks = np.broadcast_to(np.arange(p, dtype=np.int64), (n_sets, p))
    tables = np.ascontiguousarray(tables)
    picks = np.ascontiguousarray(picks)
    table_of = np.ascontiguousarray(table_of)
    train_ptr = np.cumsum([0] + [len(train) for train, _ in folds]).astype(np.int64)
    test_ptr = np.cumsum([0] + [len(test) for _, test in folds]).astype(np.int64)
    train = np.concatenate([np.asarray(t, dtype=np.int64) for t, _ in folds])
    test = np.concatenate([np.asarray(t, dtype=np.int64) for _, t in folds])
    y = np.ascontiguousarray(y, dtype=float)
    keep = picks.shape[1] if top_k is None else min(int(top_k), picks.shape[1])
    params = (
        keep,
        bool(refit),
        float(estimator.C),
        float(estimator.epsilon),
        float(estimator.tol),
        bool(estimator.shrinking),
        int(estimator.max_iter),
    )
    pred = np.full((len(picks), tables.shape[1]), np.nan)

    def work(start: int) -> None:
        stop = start + _BLOCK
        pred[start:stop] = _predict_block(
            tables, picks[start:stop], table_of[start:stop], train_ptr, train, test_ptr, test, y, *params
        )

    starts = range(0, len(picks), _BLOCK)
    if min(len(starts), _N_THREADS) <= 1:
        for start in starts:
            work(start)
    else:
        with ThreadPoolExecutor(_N_THREADS) as pool:
            list(pool.map(work, starts))
    return pred


@compiled(nogil=True)
def _predict_block(
    tables: np.ndarray,
    picks: np.ndarray,
    table_of: np.ndarray,
    train_ptr: np.ndarray,
    train: np.ndarray,
    test_ptr: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    keep: int,
    refit: bool,
    C: float,
    epsilon: float,
    tol: float,
    shrinking: bool,
    max_iter: int,
) -> np.ndarray:  # pragma: no cover - compiled; tested against scikit-learn through svr_cv_predict
    """Every set's held-out predictions, fold by fold (rows a fold does not hold out stay NaN), from the fit on
    the ``keep`` features of largest |coefficient| (refitted on them with ``refit``)."""
    n_sets, p = picks.shape
    n = tables.shape[1]
    out = np.full((n_sets, n), np.nan)
    for s in range(n_sets):
        for f in range(len(train_ptr) - 1):
            rows = train[train_ptr[f] : train_ptr[f + 1]]
            held = test[test_ptr[f] : test_ptr[f + 1]]
            table = tables[table_of[s, f]]
            m = len(rows)
            Z = np.empty((m, p))
            for i in range(m):
                for j in range(p):
                    Z[i, j] = table[rows[i], picks[s, j]]
            mean, scale = _standardise(Z)
            y_train = np.empty(m)
            for i in range(m):
                y_train[i] = y[rows[i]]
            beta, rho = _fit(Z, y_train, C, epsilon, tol, shrinking, max_iter)
            coef = _coefficients(beta, Z)
            order = np.arange(p)
            if keep < p:  # DrugResponseModel: rank by |coefficient| (ties: input order), keep the top ones
                order = np.argsort(-np.abs(coef), kind="mergesort")[:keep]
                if refit:  # refitted on the kept standardised columns, in rank order
                    Zk = np.empty((m, keep))
                    for i in range(m):
                        for j in range(keep):
                            Zk[i, j] = Z[i, order[j]]
                    beta, rho = _fit(Zk, y_train, C, epsilon, tol, shrinking, max_iter)
                    coef = _coefficients(beta, Zk)
                else:
                    coef = coef[order]
            for r in range(len(held)):
                value = 0.0
                for j in range(len(order)):
                    c = order[j]
                    value += (table[held[r], picks[s, c]] - mean[c]) / scale[c] * coef[j]
                out[s, held[r]] = value - rho
    return out


@compiled(nogil=True)
def _coefficients(beta: np.ndarray, Z: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The linear kernel's primal weights ``sum_i beta_i z_i`` over the support vectors (``beta_i != 0``)."""
    coef = np.zeros(Z.shape[1])
    for i in range(Z.shape[0]):
        if beta[i] != 0.0:
            for j in range(Z.shape[1]):
                coef[j] += beta[i] * Z[i, j]
    return coef


@compiled(nogil=True)
def _standardise(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Standardise the rows of ``Z`` in place as ``StandardScaler`` does; return its ``mean_`` and ``scale_``."""
    m, p = Z.shape
    mean = np.empty(p)
    scale = np.empty(p)
    for j in range(p):
        total = 0.0
        for i in range(m):
            total += Z[i, j]
        mu = total / m
        correction = 0.0
        squares = 0.0
        for i in range(m):
            d = Z[i, j] - mu
            correction += d
            squares += d * d
        var = (squares - correction**2 / m) / m
        constant = var <= m * _EPS * var + (m * mu * _EPS) ** 2  # sklearn's _is_constant_feature
        mean[j] = mu
        scale[j] = 1.0 if constant else np.sqrt(var)
        for i in range(m):
            Z[i, j] = (Z[i, j] - mu) / scale[j]
    return mean, scale


@compiled(nogil=True)
def _fit(
    Z: np.ndarray, y: np.ndarray, C: float, epsilon: float, tol: float, shrinking: bool, max_iter: int
) -> tuple[np.ndarray, float]:  # pragma: no cover - compiled; tested through svr_cv_predict
    """libsvm's ``solve_epsilon_svr`` with a linear kernel: the dual coefficients ``alpha - alpha*`` and ``rho``."""
    m, p = Z.shape
    K = np.empty((m, m), dtype=np.float32)  # libsvm's kernel cache holds single precision (Qfloat)
    diagonal = np.empty(m)
    for i in range(m):
        for j in range(i + 1):
            total = 0.0
            for k in range(p):
                total += Z[i, k] * Z[j, k]
            K[i, j] = np.float32(total)
            K[j, i] = K[i, j]
            if i == j:
                diagonal[i] = total
    n = 2 * m
    sign = np.empty(n)
    index = np.empty(n, dtype=np.int64)
    QD = np.empty(n)
    lin = np.empty(n)  # the linear term p of libsvm's Solver
    for k in range(m):
        sign[k] = 1.0
        sign[k + m] = -1.0
        index[k] = k
        index[k + m] = k
        QD[k] = diagonal[k]
        QD[k + m] = diagonal[k]
        lin[k] = epsilon - y[k]
        lin[k + m] = epsilon + y[k]
    alpha, rho = _solve(K, sign, index, QD, lin, C, tol, shrinking, max_iter)
    beta = np.empty(m)
    for k in range(m):
        beta[k] = alpha[k] - alpha[k + m]
    return beta, rho


@compiled(nogil=True)
def _solve(
    K: np.ndarray,
    sign: np.ndarray,
    index: np.ndarray,
    QD: np.ndarray,
    lin: np.ndarray,
    C: float,
    eps: float,
    shrinking: bool,
    max_iter: int,
) -> tuple[np.ndarray, float]:  # pragma: no cover - compiled; tested through svr_cv_predict
    """libsvm's ``Solver::Solve`` (Fan, Chen and Lin 2005) from alpha = 0 with one C for every variable.

    ``sign`` (the SVR problem's y, +1 then -1), ``index``, ``QD`` and ``lin`` are permuted in place by shrinking,
    as libsvm's ``swap_index`` does; ``Q[i, j] = sign[i] sign[j] K[index[i], index[j]]``. Returns alpha in the
    original order and rho.
    """
    n = len(sign)
    alpha = np.zeros(n)
    status = np.full(n, _LOWER, dtype=np.int64)
    active_set = np.arange(n)
    active_size = n
    G = lin.copy()
    G_bar = np.zeros(n)
    unshrink = False
    iteration = 0
    counter = min(n, 1000) + 1
    while True:
        if max_iter != -1 and iteration >= max_iter:
            break
        counter -= 1
        if counter == 0:
            counter = min(n, 1000)
            if shrinking:
                active_size, unshrink = _shrink(
                    K, sign, index, QD, lin, alpha, status, active_set, G, G_bar, active_size, unshrink, eps
                )
        i, j = _select(K, sign, index, QD, status, G, active_size, eps)
        if i == -1:
            _reconstruct(K, sign, index, lin, alpha, status, G, G_bar, active_size)
            active_size = n
            i, j = _select(K, sign, index, QD, status, G, active_size, eps)
            if i == -1:
                break
            counter = 1  # shrink again at the next iteration
        iteration += 1

        Qij = _q(K, sign, index, i, j)
        old_i = alpha[i]
        old_j = alpha[j]
        if sign[i] != sign[j]:
            quad = QD[i] + QD[j] + 2 * Qij
            if quad <= 0:
                quad = _TAU
            delta = (-G[i] - G[j]) / quad
            diff = alpha[i] - alpha[j]
            alpha[i] += delta
            alpha[j] += delta
            if diff > 0:
                if alpha[j] < 0:
                    alpha[j] = 0.0
                    alpha[i] = diff
            elif alpha[i] < 0:
                alpha[i] = 0.0
                alpha[j] = -diff
            if diff > 0.0:  # C_i - C_j = 0
                if alpha[i] > C:
                    alpha[i] = C
                    alpha[j] = C - diff
            elif alpha[j] > C:
                alpha[j] = C
                alpha[i] = C + diff
        else:
            quad = QD[i] + QD[j] - 2 * Qij
            if quad <= 0:
                quad = _TAU
            delta = (G[i] - G[j]) / quad
            total = alpha[i] + alpha[j]
            alpha[i] -= delta
            alpha[j] += delta
            if total > C:
                if alpha[i] > C:
                    alpha[i] = C
                    alpha[j] = total - C
            elif alpha[j] < 0:
                alpha[j] = 0.0
                alpha[i] = total
            if total > C:
                if alpha[j] > C:
                    alpha[j] = C
                    alpha[i] = total - C
            elif alpha[i] < 0:
                alpha[i] = 0.0
                alpha[j] = total

        delta_i = alpha[i] - old_i
        delta_j = alpha[j] - old_j
        for k in range(active_size):
            G[k] += _q(K, sign, index, i, k) * delta_i + _q(K, sign, index, j, k) * delta_j

        for t in (i, j):  # G_bar holds C times the columns of the variables at their upper bound
            was_upper = status[t] == _UPPER
            status[t] = _status(alpha[t], C)
            if was_upper != (status[t] == _UPPER):
                for k in range(n):
                    if was_upper:
                        G_bar[k] -= C * _q(K, sign, index, t, k)
                    else:
                        G_bar[k] += C * _q(K, sign, index, t, k)

    rho = _rho(sign, status, G, active_size)
    out = np.empty(n)
    for k in range(n):
        out[active_set[k]] = alpha[k]
    return out, rho


@compiled(nogil=True)
def _q(K: np.ndarray, sign: np.ndarray, index: np.ndarray, i: int, j: int) -> float:  # pragma: no cover
    """libsvm's ``SVR_Q`` entry ``Q[i, j] = sign[i] sign[j] K[index[i], index[j]]`` (single-precision kernel)."""
    return sign[i] * sign[j] * np.float64(K[index[i], index[j]])


@compiled(nogil=True)
def _status(value: float, C: float) -> int:  # pragma: no cover - compiled
    if value >= C:
        return _UPPER
    if value <= 0:
        return _LOWER
    return _FREE


@compiled(nogil=True)
def _select(
    K: np.ndarray,
    sign: np.ndarray,
    index: np.ndarray,
    QD: np.ndarray,
    status: np.ndarray,
    G: np.ndarray,
    active_size: int,
    eps: float,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """libsvm's ``select_working_set`` (second-order, WSS 3); (-1, -1) when optimal within ``eps``."""
    inf = np.inf
    Gmax = -inf
    Gmax2 = -inf
    Gmax_idx = -1
    Gmin_idx = -1
    obj_diff_min = inf
    for t in range(active_size):
        if sign[t] == 1.0:
            if status[t] != _UPPER and -G[t] >= Gmax:
                Gmax = -G[t]
                Gmax_idx = t
        elif status[t] != _LOWER and G[t] >= Gmax:
            Gmax = G[t]
            Gmax_idx = t
    i = Gmax_idx
    for j in range(active_size):
        if sign[j] == 1.0:
            if status[j] != _LOWER:
                grad_diff = Gmax + G[j]
                if G[j] >= Gmax2:
                    Gmax2 = G[j]
                if grad_diff > 0:
                    Qij = _q(K, sign, index, i, j)
                    quad = QD[i] + QD[j] - 2.0 * sign[i] * Qij
                    obj_diff = -(grad_diff * grad_diff) / (quad if quad > 0 else _TAU)
                    if obj_diff <= obj_diff_min:
                        Gmin_idx = j
                        obj_diff_min = obj_diff
        elif status[j] != _UPPER:
            grad_diff = Gmax - G[j]
            if -G[j] >= Gmax2:
                Gmax2 = -G[j]
            if grad_diff > 0:
                Qij = _q(K, sign, index, i, j)
                quad = QD[i] + QD[j] + 2.0 * sign[i] * Qij
                obj_diff = -(grad_diff * grad_diff) / (quad if quad > 0 else _TAU)
                if obj_diff <= obj_diff_min:
                    Gmin_idx = j
                    obj_diff_min = obj_diff
    if Gmax + Gmax2 < eps or Gmin_idx == -1:
        return -1, -1
    return Gmax_idx, Gmin_idx


@compiled(nogil=True)
def _reconstruct(
    K: np.ndarray,
    sign: np.ndarray,
    index: np.ndarray,
    lin: np.ndarray,
    alpha: np.ndarray,
    status: np.ndarray,
    G: np.ndarray,
    G_bar: np.ndarray,
    active_size: int,
) -> None:  # pragma: no cover - compiled
    """libsvm's ``reconstruct_gradient``: the inactive part of G from G_bar and the free variables."""
    n = len(sign)
    if active_size == n:
        return
    for j in range(active_size, n):
        G[j] = G_bar[j] + lin[j]
    nr_free = 0
    for j in range(active_size):
        if status[j] == _FREE:
            nr_free += 1
    if nr_free * n > 2 * active_size * (n - active_size):
        for i in range(active_size, n):
            for j in range(active_size):
                if status[j] == _FREE:
                    G[i] += alpha[j] * _q(K, sign, index, i, j)
    else:
        for i in range(active_size):
            if status[i] == _FREE:
                a = alpha[i]
                for j in range(active_size, n):
                    G[j] += a * _q(K, sign, index, i, j)


@compiled(nogil=True)
def _shrink(
    K: np.ndarray,
    sign: np.ndarray,
    index: np.ndarray,
    QD: np.ndarray,
    lin: np.ndarray,
    alpha: np.ndarray,
    status: np.ndarray,
    active_set: np.ndarray,
    G: np.ndarray,
    G_bar: np.ndarray,
    active_size: int,
    unshrink: bool,
    eps: float,
) -> tuple[int, bool]:  # pragma: no cover - compiled
    """libsvm's ``do_shrinking``; returns the new active size and ``unshrink``."""
    Gmax1 = -np.inf
    Gmax2 = -np.inf
    for i in range(active_size):
        if sign[i] == 1.0:
            if status[i] != _UPPER and -G[i] >= Gmax1:
                Gmax1 = -G[i]
            if status[i] != _LOWER and G[i] >= Gmax2:
                Gmax2 = G[i]
        else:
            if status[i] != _UPPER and -G[i] >= Gmax2:
                Gmax2 = -G[i]
            if status[i] != _LOWER and G[i] >= Gmax1:
                Gmax1 = G[i]
    if not unshrink and Gmax1 + Gmax2 <= eps * 10:
        unshrink = True
        _reconstruct(K, sign, index, lin, alpha, status, G, G_bar, active_size)
        active_size = len(sign)
    i = 0
    while i < active_size:
        if _shrunk(sign[i], status[i], G[i], Gmax1, Gmax2):
            active_size -= 1
            while active_size > i:
                if not _shrunk(sign[active_size], status[active_size], G[active_size], Gmax1, Gmax2):
                    for array in (sign, QD, lin, alpha, G, G_bar):
                        array[i], array[active_size] = array[active_size], array[i]
                    for ints in (index, status, active_set):
                        ints[i], ints[active_size] = ints[active_size], ints[i]
                    break
                active_size -= 1
        i += 1
    return active_size, unshrink


@compiled(nogil=True)
def _shrunk(
    s: float, state: int, g: float, Gmax1: float, Gmax2: float
) -> bool:  # pragma: no cover - compiled
    if state == _UPPER:
        return -g > Gmax1 if s == 1.0 else -g > Gmax2
    if state == _LOWER:
        return g > Gmax2 if s == 1.0 else g > Gmax1
    return False


@compiled(nogil=True)
def _rho(sign: np.ndarray, status: np.ndarray, G: np.ndarray, active_size: int) -> float:  # pragma: no cover
    """libsvm's ``calculate_rho``."""
    nr_free = 0
    ub = np.inf
    lb = -np.inf
    sum_free = 0.0
    for i in range(active_size):
        yG = sign[i] * G[i]
        if status[i] == _UPPER:
            if sign[i] == -1.0:
                ub = min(ub, yG)
            else:
                lb = max(lb, yG)
        elif status[i] == _LOWER:
            if sign[i] == 1.0:
                ub = min(ub, yG)
            else:
                lb = max(lb, yG)
        else:
            nr_free += 1
            sum_free += yG
    if nr_free > 0:
        return sum_free / nr_free
    return (ub + lb) / 2
