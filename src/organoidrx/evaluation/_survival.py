"""Survival of predicted responders vs non-responders: Kaplan-Meier, log-rank, Cox, C-index (via lifelines)."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import logrank_test
from lifelines.utils import concordance_index

from organoidrx._units import TIME_UNITS, TimeUnit, per_year
from organoidrx._utils import InputError, examples
from organoidrx.evaluation._common import (
    NON_RESPONDER,
    RESPONDER,
    as_patient_series,
    captured_warnings,
    clinical_frame,
    note,
    report_dropped,
)
from organoidrx.evaluation._logrank import LogrankKernel

logger = logging.getLogger(__name__)

__all__ = [
    "InteractionResult",
    "SurvivalResult",
    "default_horizon",
    "survival_analysis",
    "treatment_interaction",
]

#: Length of one year in each supported time unit (Julian year of 365.25 days, as R's survival tutorials use).
_PER_YEAR: dict[str, float] = {unit: per_year(unit) for unit in TIME_UNITS}

#: Thresholds below which estimates are flagged as unreliable (Peduzzi et al. 1995 for events per variable).
MIN_EVENTS_PER_VARIABLE = 10
MIN_GROUP_EVENTS = 5
MIN_GROUP_PATIENTS = 10
#: A longest follow-up beyond this many years is taken as a sign that the times are not in the stated unit.
MAX_PLAUSIBLE_FOLLOW_UP_YEARS = 40.0


def default_horizon(time_unit: TimeUnit = "days") -> float:
    """The default landmark, 60 months (5 years), expressed in ``time_unit``: 1826.25 days, 60 months, 5 years.

    One year is taken as 365.25 days, so 60 months = 5 * 365.25 = 1826.25 days, the value R users write as
    ``summary(survfit(...), times = 5 * 365.25)``.
    """
    if time_unit not in _PER_YEAR:
        raise InputError(f"time_unit must be one of {sorted(_PER_YEAR)}; got {time_unit!r}.")
    return 5.0 * _PER_YEAR[time_unit]


# ----------------------------------------------------------------------------------------------- results
@dataclass
class SurvivalResult:
    """Outcome of :func:`survival_analysis`; ``to_frame()`` gives one tidy row.

    ``groups`` is ``(comparison, reference)``: with the default labels the comparison group is the predicted
    responders and the reference the predicted non-responders, and the hazard ratio is comparison vs reference.
    In the tidy row the ``*_responder`` columns describe the comparison group and the ``*_non_responder`` columns
    the reference group, whatever their labels (given in ``responder_label`` / ``non_responder_label``).
    """

    groups: tuple[str, str]
    n: dict[str, int]
    events: dict[str, int]
    km: dict[str, KaplanMeierFitter]
    logrank_chi2: float
    logrank_p: float
    horizon: float
    time_unit: str
    survival_at_horizon: dict[str, float]
    survival_at_horizon_ci: dict[str, tuple[float, float]]
    hazard_ratio: float
    hr_ci_lower: float
    hr_ci_upper: float
    cox_p: float
    cox: CoxPHFitter | None
    cox_terms: list[str]
    n_cox: int
    events_per_variable: float
    c_index: float
    ci_level: float
    data: pd.DataFrame = field(repr=False)
    warnings: list[str] = field(default_factory=list)
    adjusted_for: list[str] = field(default_factory=list)
    hazard_ratio_unadjusted: float = math.nan
    hr_unadjusted_ci_lower: float = math.nan
    hr_unadjusted_ci_upper: float = math.nan
    cox_p_unadjusted: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """One flat record of the headline numbers (see the class docstring for the column meaning)."""
        comparison, reference = self.groups
        return {
            "responder_label": comparison,
            "non_responder_label": reference,
            "n": self.n[comparison] + self.n[reference],
            "n_responder": self.n[comparison],
            "n_non_responder": self.n[reference],
            "events_responder": self.events[comparison],
            "events_non_responder": self.events[reference],
            "logrank_chi2": self.logrank_chi2,
            "logrank_p": self.logrank_p,
            "hazard_ratio": self.hazard_ratio,
            "hr_ci_lower": self.hr_ci_lower,
            "hr_ci_upper": self.hr_ci_upper,
            "cox_p": self.cox_p,
            "adjusted_for": ";".join(self.adjusted_for),
            "hazard_ratio_unadjusted": self.hazard_ratio_unadjusted,
            "hr_unadjusted_ci_lower": self.hr_unadjusted_ci_lower,
            "hr_unadjusted_ci_upper": self.hr_unadjusted_ci_upper,
            "cox_p_unadjusted": self.cox_p_unadjusted,
            "cox_terms": ";".join(self.cox_terms),
            "n_cox": self.n_cox,
            "events_per_variable": self.events_per_variable,
            "c_index": self.c_index,
            "horizon": self.horizon,
            "time_unit": self.time_unit,
            "survival_at_horizon_responder": self.survival_at_horizon[comparison],
            "survival_at_horizon_responder_ci_lower": self.survival_at_horizon_ci[comparison][0],
            "survival_at_horizon_responder_ci_upper": self.survival_at_horizon_ci[comparison][1],
            "survival_at_horizon_non_responder": self.survival_at_horizon[reference],
            "survival_at_horizon_non_responder_ci_lower": self.survival_at_horizon_ci[reference][0],
            "survival_at_horizon_non_responder_ci_upper": self.survival_at_horizon_ci[reference][1],
            "n_warnings": len(self.warnings),
            "warnings": " | ".join(self.warnings),
        }

    def to_frame(self) -> pd.DataFrame:
        """The :meth:`to_dict` record as a one-row DataFrame."""
        return pd.DataFrame([self.to_dict()])


@dataclass
class InteractionResult:
    """Outcome of :func:`treatment_interaction`; ``to_frame()`` gives one tidy row.

    A signature is *predictive* of benefit from the drug when its hazard ratio differs between treated and
    untreated patients (interaction HR != 1), and only *prognostic* when it separates survival equally in both arms.
    """

    groups: tuple[str, str]
    n: dict[str, int]
    events: dict[str, int]
    interaction_hr: float
    interaction_ci_lower: float
    interaction_ci_upper: float
    interaction_p: float
    hr_treated: float
    hr_treated_ci_lower: float
    hr_treated_ci_upper: float
    hr_treated_p: float
    hr_untreated: float
    hr_untreated_ci_lower: float
    hr_untreated_ci_upper: float
    hr_untreated_p: float
    cox: CoxPHFitter | None
    ci_level: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """One flat record of the headline numbers."""
        record: dict[str, Any] = {
            "responder_label": self.groups[0],
            "non_responder_label": self.groups[1],
            "n_treated": self.n["treated"],
            "n_untreated": self.n["untreated"],
            "events_treated": self.events["treated"],
            "events_untreated": self.events["untreated"],
        }
        for key in (
            "interaction_hr",
            "interaction_ci_lower",
            "interaction_ci_upper",
            "interaction_p",
            "hr_treated",
            "hr_treated_ci_lower",
            "hr_treated_ci_upper",
            "hr_treated_p",
            "hr_untreated",
            "hr_untreated_ci_lower",
            "hr_untreated_ci_upper",
            "hr_untreated_p",
        ):
            record[key] = getattr(self, key)
        record["n_warnings"] = len(self.warnings)
        record["warnings"] = " | ".join(self.warnings)
        return record

    def to_frame(self) -> pd.DataFrame:
        """The :meth:`to_dict` record as a one-row DataFrame."""
        return pd.DataFrame([self.to_dict()])


# ----------------------------------------------------------------------------------------------- helpers
def _resolve_groups(
    frame: pd.DataFrame, groups: Any, reference_group: str | None, notes: list[str]
) -> tuple[pd.Series, tuple[str, str]]:
    """Align group labels to the clinical table; return labels for the analysed patients and (comparison, ref)."""
    if isinstance(groups, str):
        if groups not in frame.columns:
            raise InputError(
                f"groups={groups!r} is not a column of clinical (columns: {examples(list(frame.columns), 8)}); "
                "pass a column name or a Series of labels indexed by patient."
            )
        labels = frame[groups].copy()
    else:
        labels = as_patient_series(groups, name="groups")
        report_dropped(
            labels.index.difference(frame.index),
            what="patients in groups",
            reason="have no row in clinical",
            notes=notes,
        )
        report_dropped(
            frame.index.difference(labels.index),
            what="patients in clinical",
            reason="have no group label",
            notes=notes,
        )
        labels = labels.reindex(frame.index.intersection(labels.index, sort=False))
    report_dropped(
        labels.index[labels.isna()], what="patients", reason="have a missing group label", notes=notes
    )
    labels = labels.dropna().astype(str)
    levels = sorted(labels.unique())
    if len(levels) != 2:
        raise InputError(
            f"groups must hold exactly two labels among the analysed patients; found {len(levels)}: "
            f"{examples(levels, 5)}. Use split_by_prediction() or subset the patients to two groups."
        )
    if reference_group is None:
        reference_group = NON_RESPONDER if set(levels) == {RESPONDER, NON_RESPONDER} else levels[0]
    elif reference_group not in levels:
        raise InputError(f"reference_group={reference_group!r} is not one of the group labels {levels}.")
    comparison = next(level for level in levels if level != reference_group)
    return labels, (comparison, str(reference_group))


def _design(
    frame: pd.DataFrame, covariates: Sequence[str], notes: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Covariate design matrix: numeric columns as they are, other columns one-hot (first level as reference)."""
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise InputError(
            f"covariates {missing} are not columns of clinical (columns: {examples(list(frame.columns), 8)})."
        )
    parts = []
    for column in covariates:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parts.append(values.astype(float).rename(column).to_frame())
        else:
            as_cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
            dummies = pd.get_dummies(as_cat, prefix=column, prefix_sep="=", drop_first=True, dtype=float)
            dummies[values.isna().to_numpy()] = np.nan
            parts.append(dummies)
    if not parts:
        return pd.DataFrame(index=frame.index), []
    design = pd.concat(parts, axis=1)
    return design, list(design.columns)


def _kept_covariates(covariates: Sequence[str] | None, cph: CoxPHFitter | None) -> list[str]:
    """The covariates with a term in the fitted Cox model: one left out as constant or collinear is not named."""
    if cph is None:
        return [str(c) for c in covariates or []]
    terms = [str(t) for t in cph.params_.index]
    return [str(c) for c in covariates or [] if any(t == str(c) or t.startswith(f"{c}=") for t in terms)]


def _fit_cox(
    data: pd.DataFrame,
    term: str,
    *,
    duration_col: str,
    event_col: str,
    ci_level: float,
    penalizer: float,
    notes: list[str],
    context: str,
) -> tuple[float, float, float, float, CoxPHFitter | None]:
    """Fit a Cox model on ``data`` (time, event, design columns); return HR, CI and Wald p of ``term``."""
    nan = (math.nan, math.nan, math.nan, math.nan, None)
    predictors = [c for c in data.columns if c not in (duration_col, event_col)]
    constant = [c for c in predictors if data[c].nunique(dropna=True) < 2]
    if term in constant:
        note(f"{context}: '{term}' takes one value among the {len(data)} patients; no hazard ratio", notes)
        return nan
    if constant:
        note(
            f"{context}: covariate columns {examples(constant)} are constant and left out of the model", notes
        )
        data = data.drop(columns=constant)
    if int(data[event_col].sum()) == 0:
        note(f"{context}: no events among the {len(data)} patients; no hazard ratio", notes)
        return nan
    values = data[term]
    if set(values.unique()) <= {0.0, 1.0}:
        silent = [v for v in (1.0, 0.0) if int(data.loc[values == v, event_col].sum()) == 0]
        if silent:
            side = "'" + term + "'" if silent[0] == 1.0 else f"the reference of '{term}'"
            note(
                f"{context}: no events among the patients of {side}; the hazard ratio is not estimable (a Cox fit "
                "runs to 0 or infinity), the log-rank test still holds",
                notes,
            )
            return nan
    aliased = _aliased(data, [c for c in data.columns if c not in (duration_col, event_col)])
    if term in aliased:
        note(
            f"{context}: '{term}' is collinear with the model's other terms among these patients; no hazard ratio",
            notes,
        )
        return nan
    if aliased:
        note(
            f"{context}: covariate columns {examples(aliased)} are collinear with the others among these patients "
            "(e.g. a reference level none of them has) and left out of the model",
            notes,
        )
        data = data.drop(columns=aliased)
    cph = CoxPHFitter(alpha=1.0 - ci_level, penalizer=penalizer)
    try:
        with captured_warnings(notes, context):
            cph.fit(data, duration_col=duration_col, event_col=event_col)
    except (ConvergenceError, np.linalg.LinAlgError) as error:
        note(f"{context}: Cox model did not converge ({' '.join(str(error).split())[:200]})", notes)
        return nan
    coef = float(cph.params_[term])
    lower, upper = (float(v) for v in cph.confidence_intervals_.loc[term])
    p = float(cph.summary.loc[term, "p"])
    return _exp(coef), _exp(lower), _exp(upper), p, cph


def _aliased(data: pd.DataFrame, predictors: list[str]) -> list[str]:
    """Predictors that are linear combinations of the ones before them and of a constant (the baseline hazard
    absorbs a constant), taken in the model's order (main effects before an interaction), as R's ``coxph``
    reports aliased coefficients. Each column is scaled to a largest magnitude of 1 first, so that a covariate's
    unit (age in days beside a count in millions) does not decide."""
    kept: list[np.ndarray] = [np.ones(len(data))]
    aliased = []
    for column in predictors:
        values = data[column].to_numpy(dtype=float)
        largest = float(np.max(np.abs(values))) if len(values) else 0.0
        trial = np.column_stack([*kept, values / largest if largest > 0 else values])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept.append(trial[:, -1])
        else:
            aliased.append(column)
    return aliased


def _n_parameters(data: pd.DataFrame, predictors: list[str]) -> int:
    """The number of coefficients a Cox fit of ``predictors`` estimates: constant and collinear columns are left
    out of the fit, so they do not count against the events (at least one, for the events-per-parameter note)."""
    return max(1, len(predictors) - len(_aliased(data, predictors)))


def _exp(value: float) -> float:
    """``exp`` that returns inf instead of raising for the huge coefficients of a separated Cox fit."""
    return math.inf if value > 709.0 else math.exp(value)


def _at_horizon(
    km: KaplanMeierFitter, horizon: float, label: str, max_time: float, time_unit: str, notes: list[str]
) -> tuple[float, tuple[float, float]]:
    if horizon > max_time and float(km.survival_function_at_times(max_time).iloc[0]) > 0.0:
        note(
            f"group {label!r}: follow-up ends (censored) at {max_time:g} {time_unit}, before the horizon "
            f"{horizon:g} {time_unit}; survival at the horizon is not estimable (NaN); if the times are not in "
            f"{time_unit}, give their unit (time_unit, [patients] time_unit in a config)",
            notes,
        )
        return math.nan, (math.nan, math.nan)
    value = float(km.survival_function_at_times(horizon).iloc[0])
    bands = km.confidence_interval_survival_function_
    row = bands.loc[bands.index <= horizon].iloc[-1]
    return value, (float(row.iloc[0]), float(row.iloc[1]))


# ----------------------------------------------------------------------------------------------- public
def survival_analysis(
    clinical: pd.DataFrame,
    groups: pd.Series | str,
    *,
    duration_col: str = "time",
    event_col: str = "event",
    horizon: float | None = None,
    time_unit: TimeUnit = "days",
    covariates: Sequence[str] | None = None,
    prediction: pd.Series | None = None,
    lower_is_sensitive: bool = True,
    reference_group: str | None = None,
    ci_level: float = 0.95,
    penalizer: float = 0.0,
) -> SurvivalResult:
    """Compare survival of two patient groups: Kaplan-Meier, log-rank, survival at a horizon, Cox HR, C-index.

    Parameters
    ----------
    clinical : DataFrame of shape (n_patients, n_columns)
        One row per patient with a duration and an event column (and any covariates). Patient ids are the
        ``patient`` column when present, otherwise the index.
    groups : Series of shape (n_patients,) or str
        Group label per patient (index = patient ids), e.g. from :func:`split_by_prediction`, or the name of a
        column of ``clinical``. Exactly two labels must remain. Patients without a label, or labels without a
        clinical row, are excluded with a warning.
    duration_col, event_col : str, default="time", "event"
        Columns holding follow-up time (>= 0) and the event indicator (0/1 or boolean; 1 = event observed).
    horizon : float, optional
        Landmark time, in ``time_unit``, at which Kaplan-Meier survival is reported. Default: 60 months
        (:func:`default_horizon`), i.e. 1826.25 days, 260.89 weeks, 60 months or 5 years.
    time_unit : {"days", "weeks", "months", "years"}, default="days"
        Unit of ``duration_col``; used for the default horizon and in labels.
    covariates : sequence of str, optional
        Clinical columns to adjust the Cox model for (e.g. ``["age", "stage"]``). Numeric columns enter as they
        are; other columns (strings, booleans, categoricals) are one-hot encoded with the first level (sorted, or
        the categorical order) as reference. Patients with a missing covariate are left out of the Cox model only.
    prediction : Series of shape (n_patients,), optional
        Continuous prediction (e.g. predicted IC50) for the concordance index; NaN C-index when omitted.
    lower_is_sensitive : bool, default=True
        Direction of ``prediction``: ``True`` when a low prediction should mean longer survival.
    reference_group : str, optional
        Label of the reference group of the hazard ratio. Default: ``"predicted non-responder"`` with the standard
        labels, otherwise the first label in sorted order.
    ci_level : float, default=0.95
        Level of the Kaplan-Meier bands and of the hazard-ratio confidence interval.
    penalizer : float, default=0.0
        Ridge penalty of the Cox model (lifelines ``CoxPHFitter(penalizer=...)``); 0 gives the usual Cox fit.

    Returns
    -------
    result : SurvivalResult
        Per-group ``n`` and ``events``, fitted ``km`` estimators, ``logrank_chi2`` / ``logrank_p``,
        ``survival_at_horizon`` (with ``survival_at_horizon_ci``), ``hazard_ratio`` with ``hr_ci_lower`` /
        ``hr_ci_upper`` and Wald ``cox_p`` (adjusted for ``covariates``, named in ``adjusted_for``), the
        group-only model's ``hazard_ratio_unadjusted`` with ``hr_unadjusted_ci_lower`` / ``_upper`` and
        ``cox_p_unadjusted`` (the same numbers without covariates), ``c_index``, ``events_per_variable`` and
        ``warnings``.

    Raises
    ------
    InputError
        Missing columns, non-0/1 events, negative times, duplicated patients, other than two groups.

    Notes
    -----
    All survival mathematics is lifelines'. The log-rank statistic is
    :math:`\\chi^2 = (O_1 - E_1)^2 / V_1` with hypergeometric variance, identical to R's ``survdiff``. Kaplan-Meier
    confidence bands are lifelines' exponential Greenwood ("log-log") intervals; R's ``survfit`` defaults to
    ``conf.type = "log"``, so bands (not the estimates) differ slightly from R defaults. The Cox model uses Efron's
    tie handling (as R's ``coxph``) and reports :math:`HR = \\exp(\\beta)` with the Wald interval
    :math:`\\exp(\\beta \\pm z_{1-\\alpha/2} SE)`. The C-index is Harrell's concordance between the predicted
    sensitivity and survival time (0.5 = no information; > 0.5 = patients predicted sensitive live longer).

    Warnings are logged and recorded in ``result.warnings`` when events per Cox parameter < 10 (Peduzzi et al.
    1995), when a group has < 5 events or < 10 patients, when the horizon lies beyond a group's follow-up, and
    for every excluded patient set or non-converged fit.

    References
    ----------
    Kaplan E. L., Meier P. (1958) JASA 53:457, doi:10.1080/01621459.1958.10501452.
    Cox D. R. (1972) J R Stat Soc B 34:187, doi:10.1111/j.2517-6161.1972.tb00899.x.
    Peduzzi P. et al. (1995) J Clin Epidemiol 48:1503, doi:10.1016/0895-4356(95)00048-8.
    Davidson-Pilon C. (2019) lifelines: survival analysis in Python, JOSS 4:1317, doi:10.21105/joss.01317.

    Examples
    --------
    >>> import pandas as pd
    >>> clinical = pd.DataFrame({"time": [5, 8, 12, 20, 3, 4, 6, 9], "event": [1, 0, 1, 0, 1, 1, 1, 0]},
    ...                         index=list("abcdefgh"))
    >>> groups = pd.Series(["predicted responder"] * 4 + ["predicted non-responder"] * 4, index=list("abcdefgh"))
    >>> result = survival_analysis(clinical, groups, horizon=8)
    >>> round(result.logrank_chi2, 3), result.n["predicted responder"]
    (1.871, 4)
    """
    if not 0.0 < ci_level < 1.0:
        raise InputError(f"ci_level must be strictly between 0 and 1; got {ci_level!r}.")
    if horizon is None:
        horizon = default_horizon(time_unit)
    elif time_unit not in _PER_YEAR:
        raise InputError(f"time_unit must be one of {sorted(_PER_YEAR)}; got {time_unit!r}.")
    if not (np.isfinite(horizon) and horizon > 0):
        raise InputError(f"horizon must be a positive number of {time_unit}; got {horizon!r}.")
    notes: list[str] = []
    frame = clinical_frame(clinical, duration_col=duration_col, event_col=event_col)
    labels, (comparison, reference) = _resolve_groups(frame, groups, reference_group, notes)
    frame = frame.loc[labels.index]
    incomplete = frame.index[frame[duration_col].isna() | frame[event_col].isna()]
    report_dropped(
        incomplete, what="patients", reason=f"have a missing {duration_col!r} or {event_col!r}", notes=notes
    )
    keep = frame.index.difference(incomplete, sort=False)
    frame, labels = frame.loc[keep], labels.loc[keep]

    time, event = frame[duration_col], frame[event_col]
    if len(time) and float(time.max()) > MAX_PLAUSIBLE_FOLLOW_UP_YEARS * _PER_YEAR[time_unit]:
        note(
            f"the longest follow-up is {float(time.max()):g} {time_unit} "
            f"({float(time.max()) / _PER_YEAR[time_unit]:,.0f} years); if the times are not in {time_unit}, "
            "give their unit (time_unit, [patients] time_unit in a config)",
            notes,
        )
    n: dict[str, int] = {}
    events: dict[str, int] = {}
    km: dict[str, KaplanMeierFitter] = {}
    at_horizon: dict[str, float] = {}
    at_horizon_ci: dict[str, tuple[float, float]] = {}
    for label in (comparison, reference):
        mask = (labels == label).to_numpy()
        n[label], events[label] = int(mask.sum()), int(event[mask].sum())
        if n[label] < MIN_GROUP_PATIENTS or events[label] < MIN_GROUP_EVENTS:
            note(
                f"group {label!r} has {n[label]} patients and {events[label]} events (fewer than "
                f"{MIN_GROUP_PATIENTS} patients or {MIN_GROUP_EVENTS} events); estimates are unstable",
                notes,
            )
        fitter = KaplanMeierFitter(alpha=1.0 - ci_level, label=label)
        with captured_warnings(notes, f"Kaplan-Meier {label!r}"):
            fitter.fit(time[mask], event[mask])
        km[label] = fitter
        at_horizon[label], at_horizon_ci[label] = _at_horizon(
            fitter, float(horizon), label, float(time[mask].max()), time_unit, notes
        )

    a, b = (labels == comparison).to_numpy(), (labels == reference).to_numpy()
    with captured_warnings(notes, "log-rank test"):
        test = logrank_test(time[a], time[b], event_observed_A=event[a], event_observed_B=event[b])
    chi2, p = float(test.test_statistic), float(test.p_value)
    if not int(event.sum()):
        note(f"no events among the {len(frame)} patients; the log-rank test is not estimable (NaN)", notes)
        chi2 = p = math.nan
    elif math.isnan(LogrankKernel(time.to_numpy(), event.to_numpy()).signed(a)):  # 0 / 0: no information
        note(
            "no event time carries information for the log-rank test: at each one, either a group has no "
            "patient at risk (one group's follow-up ends before the other's first event) or every patient at "
            "risk has the event; the test is not estimable (NaN)",
            notes,
        )
        chi2 = p = math.nan

    design, terms = _design(frame, list(covariates or []), notes)
    cox_data = pd.concat(
        [
            frame[[duration_col, event_col]],
            pd.Series(a.astype(float), index=frame.index, name="group"),
            design,
        ],
        axis=1,
    )
    incomplete_cov = cox_data.index[cox_data.isna().any(axis=1)]
    report_dropped(
        incomplete_cov, what="patients", reason="have a missing covariate (Cox model only)", notes=notes
    )
    cox_data = cox_data.dropna()
    n_params = _n_parameters(cox_data, ["group", *terms])
    n_cox = len(cox_data)
    epv = float(cox_data[event_col].sum()) / n_params
    if epv < MIN_EVENTS_PER_VARIABLE:
        note(
            f"Cox model has {epv:.1f} events per parameter ({int(cox_data[event_col].sum())} events, {n_params} "
            f"parameters), fewer than {MIN_EVENTS_PER_VARIABLE}; the hazard ratio may be biased",
            notes,
        )
    fit = functools.partial(
        _fit_cox,
        duration_col=duration_col,
        event_col=event_col,
        ci_level=ci_level,
        penalizer=penalizer,
        notes=notes,
    )
    hr, lower, upper, cox_p, cph = fit(cox_data, "group", context="Cox model")
    unadjusted = (hr, lower, upper, cox_p)
    if terms:  # the group alone, on every patient: the unadjusted hazard ratio shown beside the adjusted one
        group_only = pd.concat(
            [frame[[duration_col, event_col]], pd.Series(a.astype(float), index=frame.index, name="group")],
            axis=1,
        )
        unadjusted = fit(group_only, "group", context="unadjusted Cox model")[:4]

    c_index = math.nan
    if prediction is not None:
        predicted = as_patient_series(prediction, name="prediction", numeric=True)
        missing = frame.index.difference(predicted.index[predicted.notna()], sort=False)
        report_dropped(missing, what="patients", reason="have no prediction (C-index only)", notes=notes)
        both = frame.index.intersection(predicted.index[predicted.notna()], sort=False)
        if len(both) >= 2:
            scores = predicted.loc[both].to_numpy()
            try:
                c_index = float(
                    concordance_index(
                        time.loc[both].to_numpy(),
                        -scores if lower_is_sensitive else scores,
                        event.loc[both].to_numpy(),
                    )
                )
            except ZeroDivisionError:  # no pair has an event before the other's time (e.g. all censored)
                note(
                    f"C-index: none of the {len(both)} patients' pairs is comparable (an event before the other's "
                    "follow-up ends); the C-index is not estimable (NaN)",
                    notes,
                )

    data = pd.DataFrame({"time": time, "event": event.astype(int), "group": labels}, index=frame.index)
    return SurvivalResult(
        groups=(comparison, reference),
        n=n,
        events=events,
        km=km,
        logrank_chi2=chi2,
        logrank_p=p,
        horizon=float(horizon),
        time_unit=time_unit,
        survival_at_horizon=at_horizon,
        survival_at_horizon_ci=at_horizon_ci,
        hazard_ratio=hr,
        hr_ci_lower=lower,
        hr_ci_upper=upper,
        cox_p=cox_p,
        cox=cph,
        cox_terms=[str(t) for t in cph.params_.index] if cph is not None else ["group", *terms],
        n_cox=n_cox,
        events_per_variable=epv,
        c_index=c_index,
        ci_level=ci_level,
        data=data,
        warnings=notes,
        adjusted_for=_kept_covariates(covariates, cph),
        hazard_ratio_unadjusted=unadjusted[0],
        hr_unadjusted_ci_lower=unadjusted[1],
        hr_unadjusted_ci_upper=unadjusted[2],
        cox_p_unadjusted=unadjusted[3],
    )


def _as_treated(frame: pd.DataFrame, treated: Any, notes: list[str]) -> pd.Series:
    if isinstance(treated, str):
        if treated not in frame.columns:
            raise InputError(
                f"treated={treated!r} is not a column of clinical (columns: {examples(list(frame.columns), 8)})."
            )
        values = frame[treated].copy()
    else:
        values = as_patient_series(treated, name="treated")
        report_dropped(
            frame.index.difference(values.index),
            what="patients",
            reason="have no treatment status",
            notes=notes,
        )
        values = values.reindex(frame.index)
    valid = values.dropna()
    if pd.api.types.is_bool_dtype(valid):
        numeric = valid.astype(float)
    else:
        numeric = pd.to_numeric(valid, errors="coerce")
        bad = set(valid[numeric.isna()].unique().tolist()) | set(
            numeric[numeric.notna() & ~numeric.isin([0, 1])].unique().tolist()
        )
        if bad:
            raise InputError(
                f"treated must be 0/1 or boolean; found values {{{examples(sorted(bad, key=str), 5)}}}."
            )
    return numeric.reindex(values.index).astype(float)


def treatment_interaction(
    clinical: pd.DataFrame,
    groups: pd.Series | str,
    treated: pd.Series | str,
    *,
    duration_col: str = "time",
    event_col: str = "event",
    covariates: Sequence[str] | None = None,
    reference_group: str | None = None,
    ci_level: float = 0.95,
    penalizer: float = 0.0,
) -> InteractionResult:
    """Test whether a signature is predictive (treatment x group interaction) or only prognostic.

    Parameters
    ----------
    clinical : DataFrame of shape (n_patients, n_columns)
        One row per patient, treated and untreated, with ``duration_col`` and ``event_col``.
    groups : Series of shape (n_patients,) or str
        Two group labels per patient (see :func:`survival_analysis`) or a column of ``clinical``.
    treated : Series of shape (n_patients,) or str
        1/``True`` for patients who received the drug, 0/``False`` otherwise; or a column of ``clinical``.
    duration_col, event_col : str, default="time", "event"
        Follow-up time and event indicator columns.
    covariates : sequence of str, optional
        Extra adjustment columns, encoded as in :func:`survival_analysis`.
    reference_group : str, optional
        Reference label of the group contrast (default as in :func:`survival_analysis`).
    ci_level : float, default=0.95
        Confidence level of all intervals.
    penalizer : float, default=0.0
        Ridge penalty of the Cox models.

    Returns
    -------
    result : InteractionResult
        ``interaction_hr`` with CI and Wald p from the joint model, and the per-arm group hazard ratios
        ``hr_treated`` / ``hr_untreated`` from separate Cox models within each arm.

    Raises
    ------
    InputError
        When no untreated (or no treated) patient is present, or on malformed input.

    Notes
    -----
    The joint model is :math:`h(t) = h_0(t) \\exp(\\beta_T T + \\beta_G G + \\beta_{TG} T G + \\gamma' Z)` with
    :math:`T` treatment, :math:`G` the comparison-group indicator and :math:`Z` covariates. The interaction hazard
    ratio :math:`\\exp(\\beta_{TG})` is the ratio of the group hazard ratio among treated patients to the one among
    untreated patients; a predictive signature has :math:`\\exp(\\beta_{TG}) \\ne 1`. The per-arm hazard ratios
    are fitted separately (each arm with its own baseline hazard), so their ratio is close to but not exactly
    the interaction hazard ratio.

    References
    ----------
    Ballman K. V. (2015) Biomarker: predictive or prognostic? J Clin Oncol 33:3968, doi:10.1200/JCO.2015.63.3651.
    """
    if not 0.0 < ci_level < 1.0:
        raise InputError(f"ci_level must be strictly between 0 and 1; got {ci_level!r}.")
    notes: list[str] = []
    frame = clinical_frame(clinical, duration_col=duration_col, event_col=event_col)
    labels, (comparison, reference) = _resolve_groups(frame, groups, reference_group, notes)
    frame = frame.loc[labels.index]
    arm = _as_treated(frame, treated, notes)
    incomplete = frame.index[frame[duration_col].isna() | frame[event_col].isna() | arm.isna()]
    report_dropped(incomplete, what="patients", reason="have a missing time, event or treatment", notes=notes)
    keep = frame.index.difference(incomplete, sort=False)
    frame, labels, arm = frame.loc[keep], labels.loc[keep], arm.loc[keep]
    design, _ = _design(frame, list(covariates or []), notes)
    group = pd.Series((labels == comparison).to_numpy(dtype=float), index=frame.index, name="group")
    base = pd.concat([frame[[duration_col, event_col]], group, design], axis=1)
    incomplete_cov = base.index[base.isna().any(axis=1)]
    report_dropped(incomplete_cov, what="patients", reason="have a missing covariate", notes=notes)
    base = base.dropna()
    arm = arm.loc[base.index]
    n_treated, n_untreated = int((arm == 1).sum()), int((arm == 0).sum())
    if n_untreated == 0 or n_treated == 0:
        raise InputError(
            f"treatment_interaction needs treated and untreated patients; found {n_treated} treated and "
            f"{n_untreated} untreated with a time, an event, a treatment and every covariate. Use "
            "survival_analysis() for a single arm."
        )
    # the model's order: main effects, covariates, then the interaction (aliased terms are taken from the end)
    joint = pd.concat(
        [
            base[[duration_col, event_col]],
            arm.rename("treated"),
            base.drop(columns=[duration_col, event_col]),
        ],
        axis=1,
    ).assign(interaction=arm * base["group"])
    kwargs: dict[str, Any] = {
        "duration_col": duration_col,
        "event_col": event_col,
        "ci_level": ci_level,
        "penalizer": penalizer,
        "notes": notes,
    }
    n_params = _n_parameters(joint, [c for c in joint.columns if c not in (duration_col, event_col)])
    epv = float(joint[event_col].sum()) / n_params
    if epv < MIN_EVENTS_PER_VARIABLE:
        note(
            f"interaction model has {epv:.1f} events per parameter, fewer than {MIN_EVENTS_PER_VARIABLE}",
            notes,
        )
    i_hr, i_lo, i_hi, i_p, cph = _fit_cox(joint, "interaction", context="interaction Cox model", **kwargs)
    per_arm = {}
    for name, value in (("treated", 1.0), ("untreated", 0.0)):
        subset = base.loc[arm == value]
        for label, mask in ((comparison, subset["group"] == 1), (reference, subset["group"] == 0)):
            n_events = int(subset.loc[mask, event_col].sum())
            if int(mask.sum()) < MIN_GROUP_PATIENTS or n_events < MIN_GROUP_EVENTS:
                note(
                    f"{name} arm, group {label!r}: {int(mask.sum())} patients, {n_events} events; unstable",
                    notes,
                )
        per_arm[name] = _fit_cox(subset, "group", context=f"Cox model in {name} arm", **kwargs)[:4]
    return InteractionResult(
        groups=(comparison, reference),
        n={"treated": int((arm == 1).sum()), "untreated": int((arm == 0).sum())},
        events={
            "treated": int(base.loc[arm == 1, event_col].sum()),
            "untreated": int(base.loc[arm == 0, event_col].sum()),
        },
        interaction_hr=i_hr,
        interaction_ci_lower=i_lo,
        interaction_ci_upper=i_hi,
        interaction_p=i_p,
        hr_treated=per_arm["treated"][0],
        hr_treated_ci_lower=per_arm["treated"][1],
        hr_treated_ci_upper=per_arm["treated"][2],
        hr_treated_p=per_arm["treated"][3],
        hr_untreated=per_arm["untreated"][0],
        hr_untreated_ci_lower=per_arm["untreated"][1],
        hr_untreated_ci_upper=per_arm["untreated"][2],
        hr_untreated_p=per_arm["untreated"][3],
        cox=cph,
        ci_level=ci_level,
        warnings=notes,
    )
