"""Model and top-k chosen by nested cross-validation on the training organoids only.

:class:`NestedModelSelector` is a scikit-learn meta-estimator: ``fit`` scores every candidate by an inner
cross-validation of the samples it is given, keeps the best and refits it on all of them. Cross-validating the
selector (``cross_validate_response``, ``cross_val_predict``) therefore runs the whole choice inside each outer
fold, so the held-out organoid never influences which model predicts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold, LeaveOneOut
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from organoidrx._registry import get_method
from organoidrx._utils import InputError
from organoidrx.models._response import DrugResponseModel, make_response_pipeline

logger = logging.getLogger(__name__)

__all__ = [
    "NestedModelSelector",
    "candidate_settings",
    "chosen_pipeline",
    "make_nested_selector",
    "make_response_model",
    "selection_record",
    "selection_table",
]

Scoring = Literal["mse", "spearman"]

#: relative difference under which two inner-CV scores are a tie (the earlier candidate wins)
_TIE_RTOL = 1e-9


class NestedModelSelector(RegressorMixin, BaseEstimator):
    """Choose one of several regressors by inner cross-validation of the training samples, then refit it.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named candidates, in tie-break order: when two candidates score the same (relative difference below
        1e-9), the earlier one is chosen. :func:`make_nested_selector` lists the simpler candidates first.
    cv : int or None, default None
        Inner cross-validation: ``None`` is leave-one-out; an integer ``K`` is ``K`` shuffled folds (shuffled
        with ``random_state``).
    scoring : {"mse", "spearman"}, default "mse"
        ``"mse"``: the candidate with the smallest mean squared error of its pooled held-out predictions;
        ``"spearman"``: the largest Spearman correlation between held-out predictions and ``y`` (a constant
        prediction has none and ranks last).
    random_state : int, default 0
        Seed of shuffled K folds.

    Attributes
    ----------
    best_estimator_ : estimator
        The chosen candidate, refitted on every sample given to :meth:`fit`.
    best_index_ : int
        Its position in ``estimators``.
    best_name_ : str
        Its name.
    cv_results_ : DataFrame
        One row per candidate, in ``estimators`` order: ``candidate, inner_mse, inner_spearman, rank, chosen``
        (``rank`` 1 is the chosen candidate, the others follow by ``scoring``, ties in ``estimators`` order).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when ``X`` was a DataFrame.

    Notes
    -----
    With inner folds :math:`F_1, \\dots, F_m` of the :math:`n` training samples, candidate :math:`c` predicts each
    :math:`\\hat y_i^{(c)}` from a fit on the samples outside the fold of :math:`i`;
    :math:`\\mathrm{MSE}_c = n^{-1} \\sum_i (\\hat y_i^{(c)} - y_i)^2` and
    :math:`\\rho_c = \\mathrm{Spearman}(\\hat y^{(c)}, y)`. The chosen candidate is
    :math:`\\arg\\min_c \\mathrm{MSE}_c` (or :math:`\\arg\\max_c \\rho_c`), the first in ``estimators`` order
    among ties. Cross-validating this estimator is nested cross-validation (Varma and Simon 2006): the selection
    is repeated inside every outer training set, so the outer error is not biased by the choice.

    The cost is ``len(estimators) * m + 1`` fits per :meth:`fit` call (leave-one-out: ``m = n``).

    References
    ----------
    Varma S., Simon R. (2006) BMC Bioinformatics 7:91, doi:10.1186/1471-2105-7-91.
    Cawley G. C., Talbot N. L. C. (2010) J Mach Learn Res 11:2079-2107.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 6))
    >>> y = 2 * X[:, 0] + 0.1 * rng.normal(size=20)
    >>> selector = make_nested_selector(["linear"], [1, 6]).fit(X, y)
    >>> selector.best_name_
    'linear_top1'
    """

    def __init__(
        self,
        estimators: Sequence[tuple[str, Any]],
        *,
        cv: int | None = None,
        scoring: Scoring = "mse",
        random_state: int = 0,
    ) -> None:
        self.estimators = estimators
        self.cv = cv
        self.scoring = scoring
        self.random_state = random_state

    def _check_params(self) -> list[tuple[str, Any]]:
        candidates = list(self.estimators)
        if not candidates or not all(isinstance(c, tuple) and len(c) == 2 for c in candidates):
            raise InputError(
                f"estimators must be a non-empty list of (name, estimator) pairs; got {self.estimators!r}."
            )
        names = [str(name) for name, _ in candidates]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"estimators names must be distinct; {twice[0]!r} is given twice.")
        if self.scoring not in ("mse", "spearman"):
            raise InputError(f"scoring must be 'mse' or 'spearman'; got {self.scoring!r}.")
        if self.cv is not None and (
            isinstance(self.cv, bool) or not isinstance(self.cv, int | np.integer) or self.cv < 2
        ):
            raise InputError(
                f"cv must be None (leave-one-out) or an integer of at least 2 folds; got {self.cv!r}."
            )
        return candidates

    def _folds(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        index = np.zeros((n, 1))
        if self.cv is None:
            if n < 3:
                raise InputError(
                    f"the inner leave-one-out needs at least 3 samples; got n_samples = {n} (1 sample cannot be "
                    "split); give more samples or a single candidate."
                )
            return list(LeaveOneOut().split(index))
        if n < max(int(self.cv), 3):
            raise InputError(
                f"the inner {self.cv}-fold cross-validation needs at least {max(int(self.cv), 3)} samples; got "
                f"n_samples = {n}; lower cv or give more samples."
            )
        return list(KFold(int(self.cv), shuffle=True, random_state=int(self.random_state)).split(index))

    def fit(self, X: Any, y: Any) -> NestedModelSelector:
        """Score every candidate by inner cross-validation of ``X, y``, keep the best and refit it on all of them.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_features)
            Passed to the candidates as given (a DataFrame keeps its column names).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self

        Raises
        ------
        InputError
            On malformed ``estimators``, ``cv`` or ``scoring``, or too few samples for the inner folds.
        """
        candidates = self._check_params()
        X_checked, y_checked = validate_data(self, X, y, y_numeric=True)
        y_arr = np.asarray(y_checked, dtype=float)
        folds = self._folds(len(y_arr))
        X_inner = np.asarray(X_checked)  # inner fits on the validated array: same numbers, less bookkeeping
        mse = np.empty(len(candidates))
        spearman = np.empty(len(candidates))
        seen: dict[str, int] = {}
        for c, (_, estimator) in enumerate(candidates):
            same = _effective(estimator, X_inner.shape[1])
            if same in seen:  # e.g. top_k 10 and 20 of 6 features: one model, scored once (and tied)
                mse[c], spearman[c] = mse[seen[same]], spearman[seen[same]]
                continue
            seen[same] = c
            inner = clone(estimator)
            if hasattr(inner, "set_output"):  # plain arrays between steps: same numbers, a third of the time
                inner.set_output(transform="default")
            pred = np.empty(len(y_arr))
            for train, test in folds:
                fitted = clone(inner).fit(X_inner[train], y_arr[train])
                pred[test] = fitted.predict(X_inner[test])
            mse[c] = float(np.mean((pred - y_arr) ** 2))
            spearman[c] = _spearman(pred, y_arr)
        score = -mse if self.scoring == "mse" else np.where(np.isnan(spearman), -np.inf, spearman)
        best = _first_best(score)
        order = [best, *(c for c in np.lexsort((np.arange(len(score)), -score)) if c != best)]
        rank = np.empty(len(score), dtype=int)
        rank[order] = np.arange(1, len(score) + 1)
        self.cv_results_ = pd.DataFrame(
            {
                "candidate": [str(name) for name, _ in candidates],
                "inner_mse": mse,
                "inner_spearman": spearman,
                "rank": rank,
                "chosen": np.arange(len(candidates)) == best,
            }
        )
        self.best_index_ = int(best)
        self.best_name_ = str(candidates[best][0])
        self.best_estimator_ = clone(candidates[best][1]).fit(X, y_arr)
        logger.debug("nested selection: %s chosen of %d candidates", self.best_name_, len(candidates))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the chosen candidate.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "best_estimator_")
        validate_data(self, X, reset=False)
        return np.asarray(self.best_estimator_.predict(X), dtype=float)


def _effective(estimator: Any, n_features: int) -> str:
    """A key equal for candidates that fit the same model: ``top_k`` capped at the number of features."""
    model, k = candidate_settings(estimator)
    if model is None:
        return f"{id(estimator)}"
    capped = clone(estimator)
    name = f"{capped.steps[-1][0]}__top_k" if isinstance(capped, Pipeline) else "top_k"
    capped.set_params(**{name: n_features if k is None else min(int(k), n_features)})
    return repr(capped.get_params(deep=True))


def _spearman(pred: np.ndarray, y: np.ndarray) -> float:
    a = rankdata(pred) - (len(pred) + 1) / 2
    b = rankdata(y) - (len(y) + 1) / 2
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float(np.clip((a @ b) / norm, -1.0, 1.0)) if norm > 0 else float("nan")


def _first_best(score: np.ndarray) -> int:
    """Position of the first score within the tie tolerance of the maximum (scores: larger is better)."""
    top = float(np.max(score))
    if not np.isfinite(top):
        return 0
    tied = np.flatnonzero(score >= top - _TIE_RTOL * max(abs(top), 1e-300))
    return int(tied[0])


def nested_cv_predict(
    X: Any,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    selector: NestedModelSelector,
    cv_predict: Callable[[Any, np.ndarray, list[tuple[np.ndarray, np.ndarray]], Any], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out predictions of ``selector`` refitted in every outer fold, for a stack of feature sets at once.

    Parameters
    ----------
    X : ndarray of shape (n_sets, n_samples, n_features) or (n_sets, n_folds, n_samples, n_features), or a
        :class:`~organoidrx.models._loo.PickedColumns`
        One matrix per set, or one per set and outer fold (the inner folds use their outer fold's matrix).
    y : ndarray of shape (n_samples,)
    folds : list of (train, test) index arrays
        The outer folds.
    selector : NestedModelSelector
        Unfitted; its candidates, inner folds and scoring are used.
    cv_predict : callable
        ``cv_predict(X, y, folds, estimator) -> (n_sets, n_samples)`` held-out predictions of one candidate for a
        stack (e.g. the batched kernels of :func:`organoidrx.models.cross_validate_response`).

    Returns
    -------
    pred : ndarray of shape (n_sets, n_samples)
    unsure : ndarray of bool, shape (n_sets,)
        Sets where, in some outer fold, a candidate's inner score lies within rounding of the tie tolerance, so
        that the selector itself could choose otherwise: refit those with it.

    Notes
    -----
    In each outer fold every candidate is cross-validated on the training rows of every set at once (the inner
    folds of :meth:`NestedModelSelector.fit`) and fitted on all of them to predict the held-out rows; each set
    then takes the held-out predictions of the candidate its inner scores choose, by the selector's rule.
    """
    candidates = [estimator for _, estimator in selector._check_params()]
    n_sets, n = X.shape[0], X.shape[-2]
    pred = np.empty((n_sets, n))
    unsure = np.zeros(n_sets, dtype=bool)
    rows = np.arange(n_sets)
    for f, (train, test) in enumerate(folds):
        Xf = np.asarray(X[:, f] if X.ndim == 4 else X, dtype=float)
        inner = selector._folds(len(train))
        scores = np.empty((len(candidates), n_sets))
        held_out = np.empty((len(candidates), n_sets, len(test)))
        for c, estimator in enumerate(candidates):
            inner_pred = cv_predict(Xf[:, train], y[train], inner, estimator)
            if selector.scoring == "mse":
                scores[c] = -np.mean((inner_pred - y[train]) ** 2, axis=1)
            else:
                rho = np.array([_spearman(row, y[train]) for row in inner_pred])
                scores[c] = np.where(np.isnan(rho), -np.inf, rho)
            held_out[c] = cv_predict(Xf, y, [(train, test)], estimator)[:, test]
        top = scores.max(axis=0)
        threshold = top - _TIE_RTOL * np.maximum(np.abs(top), 1e-300)
        chosen = np.where(np.isfinite(top), np.argmax(scores >= threshold, axis=0), 0)
        # a score this close to the tie threshold could fall on its other side with the selector's rounding
        near = np.abs(scores - threshold) <= 1e-3 * _TIE_RTOL * np.maximum(np.abs(top), 1e-300)
        unsure |= np.isfinite(top) & near.any(axis=0)
        pred[:, test] = held_out[chosen, rows]
    return pred, unsure


def make_nested_selector(
    models: str | Sequence[str],
    top_k: int | Sequence[int | None] | None,
    *,
    cv: int | None = None,
    scoring: Scoring = "mse",
    random_state: int = 0,
    model_options: Mapping[str, Any] | None = None,
) -> NestedModelSelector:
    """A :class:`NestedModelSelector` over the grid of response models x top-k.

    Parameters
    ----------
    models : str or list of str
        Registered response models (``organoidrx methods``), simplest first.
    top_k : int, None or list of them
        Pathways kept by the model (``None``: every one).
    cv, scoring, random_state
        Passed to :class:`NestedModelSelector`; ``random_state`` also seeds the candidates.
    model_options : dict, optional
        Options of the models (``[model]``); each candidate gets those its model takes.

    Returns
    -------
    NestedModelSelector
        Candidates ``make_response_pipeline(model, top_k=k)`` named ``"<model>_top<k>"`` (``"<model>_all"`` for
        ``None``), ordered by ``k`` (smallest first, ``None`` last) and then by ``models``' order, so ties go to
        the fewer pathways and then to the earlier model.

    Raises
    ------
    InputError
        On an empty grid or a repeated model or ``k``.
    """
    model_list = [models] if isinstance(models, str) else list(models)
    k_list = [top_k] if top_k is None or isinstance(top_k, int | np.integer) else list(top_k)
    for label, values in (("models", model_list), ("top_k", k_list)):
        if not values:
            raise InputError(f"{label} is empty; give at least one candidate.")
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise InputError(f"{label} lists {twice[0]!r} twice; give each candidate once.")
    ks = sorted(k_list, key=lambda k: (k is None, 0 if k is None else int(k)))
    candidates = [
        (
            f"{model}_{'all' if k is None else f'top{int(k)}'}",
            make_response_pipeline(
                model,
                top_k=None if k is None else int(k),
                random_state=random_state,
                model_options=_options_for(model, model_options),
            ),
        )
        for k in ks
        for model in model_list
    ]
    return NestedModelSelector(candidates, cv=cv, scoring=scoring, random_state=random_state)


def _options_for(model: str, options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The options a candidate model takes, of the ``[model]`` options given for all candidates."""
    if not options:
        return None
    takes = {o.name for o in get_method("model", model).options}
    return {k: v for k, v in options.items() if k in takes} or None


def candidate_settings(estimator: Any) -> tuple[str | None, int | None]:
    """``(model, top_k)`` of a candidate ending in :class:`DrugResponseModel`; ``(None, None)`` otherwise."""
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if isinstance(final, DrugResponseModel):
        return final.model, final.top_k
    return None, None


def make_response_model(
    model: str | Sequence[str],
    top_k: int | Sequence[int | None] | None,
    *,
    random_state: int = 0,
    model_options: Mapping[str, Any] | None = None,
) -> Pipeline | NestedModelSelector:
    """:func:`make_response_pipeline` for one model and ``k``; :func:`make_nested_selector` over several.

    This is the organoid model of ``organoidrx run`` and ``train``: ``[settings] model`` and ``top_k`` given as
    lists make each drug's model a choice by nested leave-one-out cross-validation.
    """
    models = [model] if isinstance(model, str) else list(model)
    ks = [top_k] if top_k is None or isinstance(top_k, int | np.integer) else list(top_k)
    if len(models) == 1 and len(ks) == 1:
        k = ks[0]
        return make_response_pipeline(
            models[0],
            top_k=None if k is None else int(k),
            random_state=random_state,
            model_options=model_options,
        )
    return make_nested_selector(models, ks, random_state=random_state, model_options=model_options)


def chosen_pipeline(fitted: Any) -> Any:
    """The fitted model that predicts: a selector's ``best_estimator_``, anything else as it is."""
    return fitted.best_estimator_ if isinstance(fitted, NestedModelSelector) else fitted


def selection_table(
    drug: str, selector: NestedModelSelector, outer_chosen: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per candidate of a fitted selector: its settings, inner-CV scores and how often it was chosen.

    Parameters
    ----------
    drug : str
    selector : NestedModelSelector
        Fitted on every organoid of the drug (the final model's choice).
    outer_chosen : list of str, optional
        The candidate chosen in each outer leave-one-out fold (``fitted[i].best_name_`` of :func:`loo_predict`).

    Returns
    -------
    DataFrame
        Columns ``drug, candidate, model, top_k, n_pathways, inner_mse, inner_spearman, rank, chosen,
        outer_folds_chosen, n_outer_folds``: ``top_k`` as asked (empty for every pathway), ``n_pathways`` the
        pathways the candidate keeps, ``chosen`` the final model's choice (inner CV over every organoid),
        ``outer_folds_chosen`` the outer folds (of ``n_outer_folds``) whose selection picked the candidate.
    """
    check_is_fitted(selector, "best_estimator_")
    results = selector.cv_results_
    settings = [candidate_settings(est) for _, est in selector.estimators]
    n_features = int(selector.n_features_in_)
    counts = pd.Series(list(outer_chosen or []), dtype=object).value_counts()
    table = pd.DataFrame(
        {
            "drug": drug,
            "candidate": results["candidate"].to_numpy(),
            "model": [m for m, _ in settings],
            "top_k": pd.array([k for _, k in settings], dtype="Int64"),
            "n_pathways": [n_features if k is None else min(int(k), n_features) for _, k in settings],
            "inner_mse": results["inner_mse"].to_numpy(),
            "inner_spearman": results["inner_spearman"].to_numpy(),
            "rank": results["rank"].to_numpy(),
            "chosen": results["chosen"].to_numpy(),
            "outer_folds_chosen": [int(counts.get(c, 0)) for c in results["candidate"]],
            "n_outer_folds": len(outer_chosen or []),
        }
    )
    table.attrs["criterion"] = selection_criterion(selector)
    return table


def selection_criterion(selector: NestedModelSelector) -> str:
    """How ``selector`` chooses, in words (its ``scoring`` over its inner folds)."""
    best = "smallest mean squared error" if selector.scoring == "mse" else "largest Spearman correlation"
    folds = (
        "inner leave-one-out"
        if selector.cv is None
        else f"inner {int(selector.cv)}-fold (shuffled with seed {selector.random_state})"
    )
    return f"{best} of {folds} predictions over the training organoids"


def selection_record(table: pd.DataFrame, criterion: str | None = None) -> dict[str, Any]:
    """The choice of one drug as JSON-ready data (``run.json``, bundle metadata) from :func:`selection_table`;
    ``criterion`` defaults to the one :func:`selection_table` recorded (the pipeline's inner leave-one-out MSE
    when the table lost it)."""
    best = table.loc[table["chosen"].astype(bool)].iloc[0]
    criterion = criterion or table.attrs.get("criterion") or selection_criterion(NestedModelSelector([]))
    return {
        "chosen": str(best["candidate"]),
        "model": None if best["model"] is None else str(best["model"]),
        "top_k": None if pd.isna(best["top_k"]) else int(best["top_k"]),
        "criterion": criterion,
        "candidates": [
            {
                "candidate": str(row.candidate),
                "inner_mse": float(row.inner_mse),
                "inner_spearman": None if pd.isna(row.inner_spearman) else float(row.inner_spearman),
                "outer_folds_chosen": int(row.outer_folds_chosen),
            }
            for row in table.itertuples()
        ],
    }
