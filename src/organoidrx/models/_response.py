"""Drug-response regression on pathway scores with coefficient-ranked feature selection."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from organoidrx._registry import get_method
from organoidrx._utils import InputError
from organoidrx.models._selection import PROXIMITY_THRESHOLD, ProximalPathwaySelector, ProximityInput

logger = logging.getLogger(__name__)

__all__ = ["KONG2020_ALPHAS", "DrugResponseModel", "make_kong2020_pipeline", "make_response_pipeline"]

#: The Ridge penalty grid of Kong et al. (2020): ``np.arange(0.1, 1, 0.1)``.
KONG2020_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.arange(0.1, 1, 0.1))


class DrugResponseModel(RegressorMixin, BaseEstimator):
    """Drug-response regression that ranks features by |coefficient| and keeps the top ``top_k``.

    The chosen regressor is fitted on every column, the columns are ranked by the absolute value of their
    coefficient (for a kernel model, of its signed sensitivity, see Notes), and (with ``refit=True``) the
    regressor is fitted again on the ``top_k`` best. Put a
    :class:`~sklearn.preprocessing.StandardScaler` in front of it in a :class:`~sklearn.pipeline.Pipeline` so
    that the coefficients are comparable and cross-validation refits scaling and selection in every fold.

    Parameters
    ----------
    model : str, default "ridge"
        A registered response model (``organoidrx methods`` lists them). ``"ridge"``: :class:`~sklearn.linear_model.RidgeCV` (penalty chosen by internal CV over ``alphas``);
        ``"svr"``: ``SVR(kernel="linear")``; ``"linear"``: least squares (minimum-norm solution when there are
        more features than samples); ``"elasticnet"``: :class:`~sklearn.linear_model.ElasticNetCV`;
        ``"kernel_ridge"``: :class:`~organoidrx.models.KernelRidgeLOO`.
    top_k : int or None, default 10
        Number of top-ranked features kept; ``None`` keeps all. Capped at the number of columns.
    alphas : sequence of float, default None
        Penalty grid for ``"ridge"`` / ``"elasticnet"``; ``None`` uses scikit-learn's default grid.
    cv : int, cross-validation splitter or None, default None
        Internal CV of ``"ridge"`` / ``"elasticnet"`` (``None``: efficient leave-one-out for Ridge, 5-fold for
        elastic net). Integer folds are contiguous, so with an int the chosen penalty depends on sample order.
    refit : bool, default True
        Refit on the selected features. ``False`` keeps the full model's coefficients for the selected features
        (what Kong et al. 2020 did when scoring patients).
    random_state : int, default 0
        Seed passed to regressors that use randomness.
    model_options : dict, default None
        Options of the registered model (e.g. ``{"kernel": "rbf"}`` for ``"kernel_ridge"``; ``organoidrx
        methods`` lists them), validated against the registry; ``None`` uses every default.

    Attributes
    ----------
    estimator_ : regressor
        The final fitted regressor (on the selected features when ``refit`` and ``top_k`` < n_features).
    full_estimator_ : regressor
        The regressor fitted on every feature, whose coefficients define the ranking.
    ranking_ : DataFrame
        Columns ``feature, coefficient, rank`` for every input feature (coefficient of the full fit, or a kernel
        model's signed sensitivity; rank 1 is the largest |coefficient|; ties keep input order), sorted by rank.
    selected_features_ : ndarray of str, shape (k,)
        Kept features, best first.
    selected_indices_ : ndarray of int, shape (k,)
        Their column positions in ``X``.
    coef_ : ndarray of shape (k,)
        Coefficients used by :meth:`predict`, aligned with ``selected_features_``. Absent when the final
        regressor is not linear (a kernel model with a non-linear kernel): it has no coefficient vector, and
        :meth:`predict` evaluates the kernel expansion of ``estimator_``.
    intercept_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when ``X`` was a DataFrame.

    Notes
    -----
    Prediction is :math:`\\hat y = b + \\sum_{j \\in S} w_j x_j` with :math:`S` the top-``k`` features by
    :math:`|w_j^{\\text{full}}|`. For the linear SVR, :math:`w = \\sum_i \\alpha_i x_i` from the dual solution,
    so prediction equals ``SVR.predict`` up to rounding.

    A regressor without ``coef_`` (``"kernel_ridge"`` with a non-linear kernel) is ranked by the sensitivity
    :math:`s_j = \\mathrm{sign}(\bar g_j)\\, \frac1n \\sum_i |g_{ij}|` with :math:`g_{ij} = \\partial \\hat f /
    \\partial x_j` at the :math:`n` training samples and :math:`\bar g_j` its mean (the sign says whether the
    response rises or falls with the pathway on average); for a linear function :math:`g_{ij} = w_j` and
    :math:`s_j = w_j`. Its prediction is :math:`\\hat f(x_S)`, the regressor refitted on the selected
    features; ``refit=False`` with fewer features than the input is refused, because a kernel expansion cannot
    drop features.

    References
    ----------
    Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 5))
    >>> y = 3 * X[:, 1] - 2 * X[:, 3]
    >>> DrugResponseModel("linear", top_k=2).fit(X, y).selected_indices_.tolist()
    [1, 3]
    """

    def __init__(
        self,
        model: str = "ridge",
        top_k: int | None = 10,
        alphas: Sequence[float] | None = None,
        cv: Any = None,
        refit: bool = True,
        random_state: int = 0,
        model_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.top_k = top_k
        self.alphas = alphas
        self.cv = cv
        self.refit = refit
        self.random_state = random_state
        self.model_options = model_options

    def _make_estimator(self) -> Any:
        method = get_method("model", self.model)
        options = method.resolve(self.model_options, where="model_options")
        return method.func(alphas=self.alphas, cv=self.cv, random_state=self.random_state, **options)

    def fit(self, X: Any, y: Any) -> DrugResponseModel:
        """Fit, rank features by |coefficient|, keep the top ``top_k`` and (optionally) refit.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_features)
            Feature matrix, usually standardised pathway scores.
        y : array-like of shape (n_samples,)
            Drug response (e.g. IC50 or log IC50).

        Returns
        -------
        self

        Raises
        ------
        InputError
            On an unknown ``model`` or option, a ``top_k`` that is not a positive integer or None, or
            ``refit=False`` with a non-linear model and fewer features kept than given.
        """
        if not valid_top_k(self.top_k):
            raise InputError(f"top_k must be a positive integer or None; got {self.top_k!r}.")
        X, y = validate_data(self, X, y, y_numeric=True)
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        n_features = X.shape[1]
        names = self._input_names(n_features)

        full = self._make_estimator().fit(X, y)
        full_coef = _sensitivities(full, X)
        order = rank_order(full_coef)
        ranks = np.empty(n_features, dtype=int)
        ranks[order] = np.arange(1, n_features + 1)
        k = n_features if self.top_k is None else min(int(self.top_k), n_features)
        selected = order[:k]
        linear = hasattr(full, "coef_")
        if not linear and not self.refit and k < n_features:
            raise InputError(
                f"model {self.model!r} is not linear here (no coefficient per pathway), so its fit on all "
                f"{n_features} features cannot be restricted to the top {k}; use refit=True or top_k=None."
            )

        if self.refit and k < n_features:
            final = clone(full).fit(X[:, selected], y)
            coef = _coefficients(final) if linear else None
        else:
            final = full
            coef = full_coef[selected] if linear else None
            if not linear:  # the kernel model reads every column in input order, as it was fitted
                selected = np.arange(n_features)
        intercept = _intercept(final)

        self.full_estimator_ = full
        self.estimator_ = final
        self.ranking_ = pd.DataFrame(
            {
                "feature": np.asarray(names, dtype=object)[order],
                "coefficient": full_coef[order],
                "rank": ranks[order],
            }
        ).reset_index(drop=True)
        self.selected_indices_ = selected.astype(np.intp)
        self.selected_features_ = np.asarray(names, dtype=object)[selected]
        if coef is not None:
            self.coef_ = np.ascontiguousarray(coef, dtype=float)
        elif hasattr(self, "coef_"):
            del self.coef_  # a refit with a non-linear model leaves no stale coefficients
        self.intercept_ = float(intercept)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted response ``intercept_ + X[:, selected_indices_] @ coef_`` (a kernel model: its expansion).

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "selected_indices_")
        X = validate_data(self, X, reset=False)
        X = np.asarray(X, dtype=float)
        if not hasattr(self, "coef_"):
            chosen = np.ascontiguousarray(X[:, self.selected_indices_], dtype=float)
            return np.asarray(self.estimator_.predict(chosen), dtype=float)
        return linear_predict(X, self.selected_indices_, self.coef_, self.intercept_)

    def _input_names(self, n_features: int) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return [f"x{i}" for i in range(n_features)]
        return [str(n) for n in names]


def valid_top_k(top_k: Any) -> bool:
    """Whether ``top_k`` is what :class:`DrugResponseModel` accepts: None or a positive integer."""
    if top_k is None:
        return True
    return not isinstance(top_k, bool) and isinstance(top_k, int | np.integer) and int(top_k) >= 1


def rank_order(coef: np.ndarray) -> np.ndarray:
    """Feature positions sorted by decreasing ``|coef|``; equal magnitudes keep input order (stable, deterministic)."""
    coef = np.asarray(coef, dtype=float)
    return np.lexsort((np.arange(coef.size), -np.abs(coef)))


def linear_predict(X: np.ndarray, indices: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """The one prediction kernel shared by :class:`DrugResponseModel` and model bundles (bit-identical)."""
    # a C-contiguous copy makes the BLAS call (and so the last bit) independent of the caller's memory layout
    return np.asarray(np.ascontiguousarray(X[:, indices], dtype=float) @ coef + intercept, dtype=float)


def _sensitivities(estimator: Any, X: np.ndarray) -> np.ndarray:
    """``coef_`` of a linear regressor; else sign(mean) * mean |partial derivative| over the rows of ``X``."""
    if hasattr(estimator, "coef_"):
        return _coefficients(estimator)
    if not hasattr(estimator, "partial_derivatives"):
        raise InputError(
            f"regressor {type(estimator).__name__} has neither coef_ nor partial_derivatives; a registered model "
            "must provide one of them to rank pathways."
        )
    gradient = np.asarray(estimator.partial_derivatives(X), dtype=float)
    return np.where(gradient.mean(axis=0) < 0, -1.0, 1.0) * np.abs(gradient).mean(axis=0)


def _coefficients(estimator: Any) -> np.ndarray:
    return np.asarray(estimator.coef_, dtype=float).ravel().copy()


def _intercept(estimator: Any) -> float:
    return float(np.asarray(estimator.intercept_, dtype=float).ravel()[0])


def make_response_pipeline(
    model: str = "ridge",
    *,
    top_k: int | None = 10,
    alphas: Sequence[float] | None = None,
    cv: Any = None,
    refit: bool = True,
    random_state: int = 0,
    model_options: Mapping[str, Any] | None = None,
    proximity: ProximityInput | None = None,
    drug: str | None = None,
    threshold: float = PROXIMITY_THRESHOLD,
) -> Pipeline:
    """The organoid model: (proximal pathways), standardised scores, a registered regressor with top-k selection.

    This is the one recipe behind ``organoidrx run``, ``train`` and :func:`make_kong2020_pipeline`.

    Parameters
    ----------
    model : str, default "ridge"
        A registered response model.
    top_k : int or None, default 10
        Pathways kept for prediction; ``None`` keeps every input pathway.
    alphas, cv, refit, random_state, model_options
        Passed to :class:`DrugResponseModel`.
    proximity : DataFrame or callable, default None
        Proximity table for :class:`ProximalPathwaySelector`; ``None`` omits the selector (``X`` already holds
        only the proximal pathways).
    drug, threshold
        Passed to the selector.

    Returns
    -------
    Pipeline
        ``[("select", ProximalPathwaySelector)], ("scale", StandardScaler()), ("model", DrugResponseModel)``;
        transformers output DataFrames, so the model keeps the pathway names.

    Notes
    -----
    The scores are z-standardised across the training organoids (population standard deviation, ``ddof=0``), so
    coefficients are comparable across pathways and cross-validation refits scaling and selection per fold.
    """
    regressor = DrugResponseModel(
        model=model,
        top_k=top_k,
        alphas=alphas,
        cv=cv,
        refit=refit,
        random_state=random_state,
        model_options=None if model_options is None else dict(model_options),
    )
    steps: list[tuple[str, Any]] = []
    if proximity is not None:
        steps.append(("select", ProximalPathwaySelector(proximity=proximity, drug=drug, threshold=threshold)))
    steps += [("scale", StandardScaler()), ("model", regressor)]
    return Pipeline(steps).set_output(transform="pandas")


def make_kong2020_pipeline(
    model: Literal["ridge", "svr", "linear"] = "ridge",
    *,
    top_k: int | None = None,
    proximity: ProximityInput | None = None,
    drug: str | None = None,
    threshold: float = PROXIMITY_THRESHOLD,
) -> Pipeline:
    """The organoid model of Kong et al. (2020): :func:`make_response_pipeline` with the authors' settings.

    Parameters
    ----------
    model : {"ridge", "svr", "linear"}, default "ridge"
        ``RidgeCV(cv=3, alphas=[0.1, 0.2, ..., 0.9])``, ``SVR(kernel="linear")`` or least squares, as in the
        authors' ``multiple_pathway_prediction.py``.
    top_k : int or None, default None
        Pathways kept for prediction (the authors tried 2 to 10); ``None`` keeps every proximal pathway.
    proximity : DataFrame or callable, default None
        Proximity table for :class:`ProximalPathwaySelector`; ``None`` omits the selector.
    drug, threshold
        Passed to the selector.

    Returns
    -------
    Pipeline
        As :func:`make_response_pipeline`, the model with ``refit=False`` as in the original code (ranked
        coefficients of the full fit are used).

    Notes
    -----
    With ``cv=3`` the Ridge penalty is chosen on contiguous folds, so it depends on the order of the samples;
    ``organoidrx run`` therefore keeps :func:`make_response_pipeline`'s defaults (efficient leave-one-out over
    0.1, 1, 10 and a refit on the top pathways) and this preset reproduces the authors' coefficients.

    References
    ----------
    Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8.
    """
    if model not in ("ridge", "svr", "linear"):
        raise InputError(f"the Kong et al. (2020) models are 'ridge', 'svr' and 'linear'; got {model!r}.")
    return make_response_pipeline(
        model,
        top_k=top_k,
        alphas=KONG2020_ALPHAS if model == "ridge" else None,
        cv=3 if model == "ridge" else None,
        refit=False,
        proximity=proximity,
        drug=drug,
        threshold=threshold,
    )
