"""Kernel ridge regression with the penalty chosen by exact leave-one-out, and its partial derivatives.

The prediction kernel :func:`kernel_predict` is shared by :class:`KernelRidgeLOO` and model bundles, so a bundle
replays a fitted model bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.utils.validation import check_is_fitted, validate_data

from organoidrx._registry import Method, Option, register
from organoidrx._utils import InputError

__all__ = ["KERNELS", "KernelRidgeLOO", "kernel_partial_derivatives", "kernel_predict"]

#: Kernels :class:`KernelRidgeLOO` accepts (scikit-learn's names and formulas).
KERNELS: tuple[str, ...] = ("linear", "rbf", "laplacian", "polynomial")
_DEFAULT_ALPHAS = (0.1, 1.0, 10.0)


def _kernel_params(kernel: str, gamma: float, degree: int, coef0: float) -> dict[str, Any]:
    if kernel == "linear":
        return {}
    if kernel == "polynomial":
        return {"gamma": gamma, "degree": degree, "coef0": coef0}
    return {"gamma": gamma}


def kernel_matrix(
    X: np.ndarray, Y: np.ndarray, *, kernel: str, gamma: float, degree: int = 3, coef0: float = 1.0
) -> np.ndarray:
    """The kernel matrix :math:`K_{ab} = k(x_a, y_b)` with scikit-learn's :func:`pairwise_kernels`."""
    if kernel not in KERNELS:
        raise InputError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}.")
    X = np.ascontiguousarray(X, dtype=float)
    Y = np.ascontiguousarray(Y, dtype=float)
    return np.asarray(pairwise_kernels(X, Y, metric=kernel, **_kernel_params(kernel, gamma, degree, coef0)))


def kernel_predict(
    X: np.ndarray,
    X_fit: np.ndarray,
    dual_coef: np.ndarray,
    intercept: float,
    *,
    kernel: str,
    gamma: float,
    degree: int = 3,
    coef0: float = 1.0,
) -> np.ndarray:
    """:math:`\\hat f(x) = b + \\sum_i c_i k(x, x_i)`: the one prediction kernel of models and bundles."""
    K = kernel_matrix(X, X_fit, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0)
    return np.asarray(K @ np.asarray(dual_coef, dtype=float) + intercept, dtype=float)


def kernel_partial_derivatives(
    X: np.ndarray,
    X_fit: np.ndarray,
    dual_coef: np.ndarray,
    *,
    kernel: str,
    gamma: float,
    degree: int = 3,
    coef0: float = 1.0,
) -> np.ndarray:
    """:math:`\\partial \\hat f / \\partial x_j` at every row of ``X``: an array of shape (n_samples, n_features).

    Notes
    -----
    With :math:`\\hat f(x) = b + \\sum_i c_i k(x, x_i)`:

    - linear, :math:`k = x^\\top x_i`: :math:`\\sum_i c_i x_{ij}` (the coefficient :math:`w_j`, everywhere);
    - rbf, :math:`k = e^{-\\gamma \\lVert x - x_i \\rVert^2}`: :math:`-2\\gamma \\sum_i c_i k (x_j - x_{ij})`;
    - laplacian, :math:`k = e^{-\\gamma \\lVert x - x_i \\rVert_1}`:
      :math:`-\\gamma \\sum_i c_i k\\, \\mathrm{sign}(x_j - x_{ij})`, with :math:`\\mathrm{sign}(0) = 0` where the
      kernel has no derivative (at :math:`x_j = x_{ij}`, e.g. a training point's own term);
    - polynomial, :math:`k = (\\gamma x^\\top x_i + c_0)^d`:
      :math:`\\gamma d \\sum_i c_i (\\gamma x^\\top x_i + c_0)^{d-1} x_{ij}`.
    """
    X = np.asarray(X, dtype=float)
    X_fit = np.asarray(X_fit, dtype=float)
    c = np.asarray(dual_coef, dtype=float)
    if kernel == "linear":
        return np.broadcast_to(c @ X_fit, X.shape).copy()
    if kernel == "polynomial":
        inner = gamma * (X @ X_fit.T) + coef0
        return np.asarray(gamma * degree * ((inner ** (degree - 1)) * c) @ X_fit)
    M = kernel_matrix(X, X_fit, kernel=kernel, gamma=gamma) * c  # (n, m): c_i k(x_a, x_i)
    if kernel == "rbf":
        return np.asarray(-2.0 * gamma * (M.sum(axis=1)[:, None] * X - M @ X_fit))
    if kernel == "laplacian":
        signs = np.sign(X[:, None, :] - X_fit[None, :, :])  # (n, m, p)
        return np.asarray(-gamma * np.einsum("am,amj->aj", M, signs))
    raise InputError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}.")


#: two values this close (relative) are a tie that rounding could break either way: two penalties' leave-one-out
#: errors, or the last kept and first dropped pathway's coefficient or sensitivity
ROUNDING_TIE = 1e-9
#: a penalty below this fraction of the largest eigenvalue of the Gram matrix (or kernel) is swamped by the
#: rounding of its smallest eigenvalues (~1e-16 x the largest)
SMALL_PENALTY = 1e-6


def best_penalty(error: np.ndarray, alphas: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first penalty with the smallest leave-one-out error (``error`` of shape (n_alphas, ...)), as RidgeCV and
    :class:`KernelRidgeLOO` keep a penalty unless beaten; and whether rounding could decide it (shape ``...``):
    two distinct penalties' errors within :data:`ROUNDING_TIE`, or a penalty below :data:`SMALL_PENALTY` x the
    largest eigenvalue (``values`` of shape (..., m), ascending). Batched fits leave those to the estimator."""
    best = np.argmin(error, axis=0)
    close = alphas.min() < SMALL_PENALTY * values[..., -1]
    distinct = np.sort(np.unique(alphas, return_index=True)[1])  # a penalty given twice ties with itself only
    if len(distinct) > 1:
        ordered = np.sort(error[distinct], axis=0)
        close = close | (ordered[1] - ordered[0] <= ROUNDING_TIE * ordered[0])
    return best, np.asarray(close)


def kernel_dual(K: np.ndarray, yc: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:class:`KernelRidgeLOO`'s dual coefficients for kernels ``K`` (..., m, m) and centred responses ``yc``
    (..., m), from one eigendecomposition each: the penalty of :func:`best_penalty` over the closed-form
    leave-one-out errors (see :func:`loo_residuals`); with whether rounding could decide it (shape ``...``)."""
    values, vectors = np.linalg.eigh(K)
    along = (yc[..., None, :] @ vectors)[..., 0, :]  # Q' y
    squares = vectors * vectors
    duals, errors = [], []
    for alpha in alphas:
        inverse = 1.0 / (values + alpha)
        dual = (vectors @ (inverse * along)[..., None])[..., 0]
        residual = dual / (squares @ inverse[..., None])[..., 0]
        duals.append(dual)
        errors.append(np.mean(residual * residual, axis=-1))
    best, close = best_penalty(np.stack(errors), alphas, values)
    return np.take_along_axis(np.stack(duals), best[None, ..., None], axis=0)[0], close


def loo_residuals(K: np.ndarray, y: np.ndarray, alphas: Sequence[float] | np.ndarray) -> np.ndarray:
    """Exact leave-one-out residuals of kernel ridge for every penalty: an array of shape (n_alphas, n_samples).

    With :math:`G = K + \\alpha I`, dual coefficients :math:`c = G^{-1} y` and hat matrix
    :math:`H = K G^{-1}`, :math:`e_i = (y_i - \\hat y_i) / (1 - H_{ii}) = c_i / (G^{-1})_{ii}`, computed for every
    :math:`\\alpha` from one eigendecomposition :math:`K = Q \\Lambda Q^\\top`.
    """
    eigenvalues, Q = np.linalg.eigh(K)
    Qy = Q.T @ y
    out = np.empty((len(alphas), len(y)))
    for a, alpha in enumerate(alphas):
        inverse = 1.0 / (eigenvalues + alpha)
        c = Q @ (inverse * Qy)
        diag = (Q * Q) @ inverse
        out[a] = c / diag
    return out


class KernelRidgeLOO(RegressorMixin, BaseEstimator):
    """Kernel ridge regression, intercept by centring ``y``, penalty chosen by exact leave-one-out.

    Parameters
    ----------
    alphas : sequence of float, default (0.1, 1.0, 10.0)
        Penalty grid (each > 0).
    kernel : {"linear", "rbf", "laplacian", "polynomial"}, default "rbf"
        Kernel, with scikit-learn's formulas (see :func:`kernel_partial_derivatives`).
    gamma : float or None, default None
        Kernel scale of ``"rbf"``, ``"laplacian"`` and ``"polynomial"``; ``None`` is :math:`1/p` for the
        :math:`p` columns the model is fitted on (scikit-learn's default). Ignored by ``"linear"``.
    degree : int, default 3
        Degree of ``"polynomial"``.
    coef0 : float, default 1.0
        Constant :math:`c_0` of ``"polynomial"``.

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    loo_mse_ : ndarray of shape (n_alphas,)
        Mean squared leave-one-out residual of every penalty.
    dual_coef_ : ndarray of shape (n_samples,)
    X_fit_ : ndarray of shape (n_samples, n_features)
        The training matrix (the kernel's second argument at prediction).
    intercept_ : float
        Mean of the training ``y``.
    gamma_ : float
        The kernel scale used (``gamma`` or :math:`1/p`).
    coef_ : ndarray of shape (n_features,)
        Only for ``kernel="linear"``: :math:`w = X^\\top c`, so that :math:`\\hat f(x) = b + w^\\top x`.

    Notes
    -----
    With training rows :math:`x_i`, :math:`\\bar y` the mean response and :math:`K_{ij} = k(x_i, x_j)`, the dual
    coefficients are :math:`c = (K + \\alpha I)^{-1} (y - \\bar y)` and :math:`\\hat f(x) = \\bar y + \\sum_i c_i
    k(x, x_i)`: scikit-learn's ``KernelRidge(alpha)`` fitted on the centred :math:`y - \\bar y`, plus
    :math:`\\bar y`. The kernel is not centred in feature space; for ``"linear"`` on column-centred :math:`X` (the
    standardised scores of :func:`~organoidrx.models.make_response_pipeline`) this is ridge regression with an
    unpenalised intercept. The penalty minimises the mean of the squared leave-one-out residuals
    :math:`e_i = (y_i - \\hat y_i)/(1 - H_{ii})`, :math:`H = K (K + \\alpha I)^{-1}`, exact for kernel ridge on
    the centred :math:`y` (the intercept :math:`\\bar y` is computed once, from all samples, and held fixed in the
    leave-one-out fits); ties keep the first penalty of the grid.

    A point far from every training row (in the kernel's scale) is predicted near :math:`\\bar y`. In
    leave-one-out cross-validation of few samples with many pathways (e.g. 19 organoids, rbf with the default
    :math:`\\gamma = 1/p`, where a held-out organoid's kernel values to the others are typically near 0.15),
    the predictions are therefore close to the mean response of the *other* samples, which is perfectly
    anti-correlated with the held-out response: the cross-validated Spearman is strongly negative for real and
    random pathway sets alike (REPRODUCTION.md, section 7). Compare it with random sets, not with zero.

    References
    ----------
    Saunders C., Gammerman A., Vovk V. (1998) Ridge regression learning algorithm in dual variables. Proc 15th
    ICML, 515-521. Cawley G. C., Talbot N. L. C. (2004) Neural Netw 17:1467-1475,
    doi:10.1016/j.neunet.2004.07.002 (closed-form leave-one-out).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 3))
    >>> model = KernelRidgeLOO(kernel="rbf").fit(X, np.sin(X[:, 0]))
    >>> float(model.alpha_)
    0.1
    """

    def __init__(
        self,
        alphas: Sequence[float] = _DEFAULT_ALPHAS,
        kernel: Literal["linear", "rbf", "laplacian", "polynomial"] = "rbf",
        gamma: float | None = None,
        degree: int = 3,
        coef0: float = 1.0,
    ) -> None:
        self.alphas = alphas
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0

    def fit(self, X: Any, y: Any) -> KernelRidgeLOO:
        """Choose the penalty by leave-one-out and fit the dual coefficients; returns ``self``."""
        if self.kernel not in KERNELS:
            raise InputError(f"kernel must be one of {', '.join(KERNELS)}; got {self.kernel!r}.")
        alphas = np.asarray(list(self.alphas), dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
            raise InputError(f"alphas must be positive numbers; got {list(self.alphas)!r}.")
        X, y = validate_data(self, X, y, y_numeric=True)
        X = np.ascontiguousarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        self.gamma_ = float(1.0 / X.shape[1] if self.gamma is None else self.gamma)
        self.intercept_ = float(np.mean(y))
        yc = y - self.intercept_
        K = kernel_matrix(X, X, **self._params())
        residuals = loo_residuals(K, yc, alphas)
        self.loo_mse_ = np.mean(residuals**2, axis=1)
        self.alpha_ = float(alphas[int(np.argmin(self.loo_mse_))])
        K.flat[:: K.shape[0] + 1] += self.alpha_
        self.dual_coef_ = np.asarray(scipy.linalg.solve(K, yc, assume_a="pos"), dtype=float)
        self.X_fit_ = X.copy()  # never a view of the caller's array
        if self.kernel == "linear":
            self.coef_ = self.dual_coef_ @ X
        return self

    def _params(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "gamma": self.gamma_,
            "degree": int(self.degree),
            "coef0": float(self.coef0),
        }

    def predict(self, X: Any) -> np.ndarray:
        """:math:`\\bar y + \\sum_i c_i k(x, x_i)` for every row of ``X``."""
        check_is_fitted(self, "dual_coef_")
        X = validate_data(self, X, reset=False)
        return kernel_predict(X, self.X_fit_, self.dual_coef_, self.intercept_, **self._params())

    def partial_derivatives(self, X: Any) -> np.ndarray:
        """:math:`\\partial \\hat f / \\partial x_j` at every row of ``X`` (see :func:`kernel_partial_derivatives`)."""
        check_is_fitted(self, "dual_coef_")
        X = validate_data(self, X, reset=False)
        return kernel_partial_derivatives(X, self.X_fit_, self.dual_coef_, **self._params())


def _kernel_ridge(
    *,
    alphas: Sequence[float] | None,
    cv: Any,
    random_state: int,
    kernel: str = "rbf",
    gamma: float | None = None,
    degree: int = 3,
    coef0: float = 1.0,
) -> KernelRidgeLOO:
    if cv is not None:
        raise InputError(
            f"model 'kernel_ridge' chooses its penalty by exact leave-one-out; cv must be None, got {cv!r}."
        )
    return KernelRidgeLOO(
        alphas=_DEFAULT_ALPHAS if alphas is None else tuple(float(a) for a in alphas),
        kernel=kernel,  # type: ignore[arg-type]
        gamma=gamma,
        degree=degree,
        coef0=coef0,
    )


KERNEL_RIDGE = register(
    Method(
        kind="model",
        name="kernel_ridge",
        summary="kernel ridge regression (linear, rbf, laplacian or polynomial kernel), penalty chosen over alphas "
        "(default 0.1, 1, 10) by exact leave-one-out; pathways ranked by mean |partial derivative|",
        reference="Saunders C., Gammerman A., Vovk V. (1998) Proc 15th ICML 515-521; closed-form leave-one-out: "
        "Cawley G. C., Talbot N. L. C. (2004) Neural Netw 17:1467-1475, doi:10.1016/j.neunet.2004.07.002",
        func=_kernel_ridge,
        options=(
            Option("kernel", "rbf", str, "kernel function k(x, x')", choices=KERNELS),
            Option(
                "gamma",
                None,
                float,
                "scale of the rbf, laplacian and polynomial kernels; unset: 1 / number of pathways fitted",
                minimum=0.0,
                exclusive=True,
                nullable=True,
            ),
            Option("degree", 3, int, "degree of the polynomial kernel", minimum=1, maximum=10),
            Option("coef0", 1.0, float, "constant term of the polynomial kernel"),
        ),
        attrs={"cv_seconds": 3.5e-4, "topk_cv_seconds": 2e-3},
    )
)
