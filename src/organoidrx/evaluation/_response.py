"""Agreement of a prediction with clinical response (RECIST CR/PR vs SD/PD): AUROC, CI, Mann-Whitney, and Fisher's
exact test of the responder split."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from organoidrx._utils import InputError, check_random_state, examples
from organoidrx.evaluation._common import NON_RESPONDER, RESPONDER, as_patient_series, note, report_dropped

logger = logging.getLogger(__name__)

__all__ = ["ResponseAUCResult", "delong_variance", "encode_response", "response_auc"]

#: Clinical response labels (lower case, spaces collapsed) and whether they count as a response.
RESPONSE_LABELS: dict[str, int] = {
    "cr": 1,
    "pr": 1,
    "sd": 0,
    "pd": 0,
    "complete response": 1,
    "partial response": 1,
    "stable disease": 0,
    "progressive disease": 0,
    "clinical progressive disease": 0,
    "radiographic progressive disease": 0,
    "responder": 1,
    "non-responder": 0,
    "nonresponder": 0,
    "1": 1,
    "0": 0,
    "1.0": 1,
    "0.0": 0,
    "true": 1,
    "false": 0,
}


@dataclass
class ResponseAUCResult:
    """Outcome of :func:`response_auc`; ``to_frame()`` gives one tidy row."""

    auc: float
    ci_lower: float
    ci_upper: float
    ci_method: str
    ci_level: float
    mannwhitney_u: float
    mannwhitney_p: float
    n_responders: int
    n_non_responders: int
    n_missing_response: int
    n_unmatched: int
    n_predicted_responder_cr_pr: int | None = None
    n_predicted_responder_sd_pd: int | None = None
    n_predicted_non_responder_cr_pr: int | None = None
    n_predicted_non_responder_sd_pd: int | None = None
    fisher_p: float = math.nan
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """One flat record; ``warnings`` joined with ``" | "``."""
        record = {k: v for k, v in self.__dict__.items() if k != "warnings"}
        record["n_warnings"] = len(self.warnings)
        record["warnings"] = " | ".join(self.warnings)
        return record

    def to_frame(self) -> pd.DataFrame:
        """The :meth:`to_dict` record as a one-row DataFrame."""
        return pd.DataFrame([self.to_dict()])


def encode_response(response: Any, *, name: str = "response") -> pd.Series:
    """Map clinical response labels to 1 (CR/PR) / 0 (SD/PD), keeping NaN for missing responses.

    Accepts the abbreviations CR, PR, SD, PD, the TCGA spellings ("Complete Response", "Clinical Progressive
    Disease", ...), "responder"/"non-responder", booleans and 0/1 (case and surrounding spaces ignored).

    Raises
    ------
    InputError
        On any other label; the message lists the unknown values.
    """
    series = as_patient_series(response, name=name)
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        bad = set(series.dropna().unique().tolist()) - {0, 1}
        if bad:
            raise InputError(f"{name} must be 0/1 when numeric; found values {{{examples(sorted(bad), 5)}}}.")
        return series.astype(float)
    present = series.notna()
    keys = series[present].astype(str).str.strip().str.lower().str.split().str.join(" ")
    mapped = keys.map(RESPONSE_LABELS)
    unknown = sorted(series[present][mapped.isna()].astype(str).unique())
    if unknown:
        raise InputError(
            f"{name} has unknown response labels {{{examples(unknown, 5)}}}; use CR/PR (responders) and SD/PD "
            "(non-responders), their spelled-out forms, or 0/1."
        )
    out = pd.Series(np.nan, index=series.index, name=series.name)
    out[present] = mapped.astype(float)
    return out


def _midrank(values: np.ndarray) -> np.ndarray:
    return stats.rankdata(values, method="average")


def delong_variance(positive: np.ndarray, negative: np.ndarray) -> tuple[float, float]:
    """AUROC and its DeLong variance, with the midrank algorithm of Sun & Xu (2014).

    Parameters
    ----------
    positive : ndarray of shape (m,)
        Scores of the positive class (higher = more likely positive).
    negative : ndarray of shape (n,)
        Scores of the negative class.

    Returns
    -------
    auc, variance : float
        ``variance`` is NaN when either class has fewer than two members.

    Notes
    -----
    With placement values :math:`V_{10}(X_i) = \\frac1n \\sum_j \\psi(X_i, Y_j)` and
    :math:`V_{01}(Y_j) = \\frac1m \\sum_i \\psi(X_i, Y_j)`, :math:`\\psi(x, y) = 1[x > y] + \\tfrac12 1[x = y]`,
    :math:`\\mathrm{AUC} = \\bar V_{10}` and :math:`\\mathrm{Var} = S_{10}/m + S_{01}/n`, with :math:`S` the sample
    variances of the placement values. Midranks give the placements in :math:`O((m + n) \\log(m + n))`.

    References
    ----------
    DeLong E. R. et al. (1988) Biometrics 44:837, doi:10.2307/2531595.
    Sun X., Xu W. (2014) IEEE Signal Process Lett 21:1389, doi:10.1109/LSP.2014.2337313.
    """
    x = np.asarray(positive, dtype=float)
    y = np.asarray(negative, dtype=float)
    m, n = len(x), len(y)
    tz = _midrank(np.concatenate([x, y]))
    tx, ty = _midrank(x), _midrank(y)
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    if m < 2 or n < 2:
        return auc, math.nan
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return auc, float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)


def response_auc(
    predicted: Any,
    response: Any,
    *,
    lower_is_sensitive: bool = True,
    ci_method: Literal["delong", "bootstrap"] = "delong",
    ci_level: float = 0.95,
    n_bootstrap: int = 2000,
    random_state: int | np.random.Generator | None = 0,
    groups: Any = None,
) -> ResponseAUCResult:
    """AUROC of a continuous prediction for clinical responders (CR/PR) vs non-responders (SD/PD).

    Parameters
    ----------
    predicted : Series of shape (n_patients,)
        Predicted drug response per patient (index = patient ids), e.g. predicted IC50.
    response : Series of shape (n_patients,)
        Clinical response per patient: CR/PR/SD/PD (or the spelled-out TCGA labels, or 0/1 with 1 = responder).
        Missing responses (NaN) are excluded and counted in ``n_missing_response``.
    lower_is_sensitive : bool, default=True
        ``True`` when a low prediction means a likely responder (IC50); the score ranked is then ``-predicted``.
    ci_method : {"delong", "bootstrap"}, default="delong"
        DeLong's asymptotic interval or a stratified percentile bootstrap.
    ci_level : float, default=0.95
        Confidence level.
    n_bootstrap : int, default=2000
        Bootstrap resamples (``ci_method="bootstrap"`` only).
    random_state : int or numpy Generator, default=0
        Seed of the bootstrap.
    groups : Series of shape (n_patients,), optional
        The responder split of the same patients (``"predicted responder"`` / ``"predicted non-responder"``, as
        :meth:`ResponderSplit.transform` gives). With it, the patients counted in the AUROC are also cross-tabulated
        by group and clinical response and tested with Fisher's exact test.

    Returns
    -------
    result : ResponseAUCResult
        ``auc``, ``ci_lower``, ``ci_upper``, the two-sided Mann-Whitney ``mannwhitney_u`` (U of the responders)
        and ``mannwhitney_p``, class counts, excluded counts and ``warnings``; with ``groups``, the four cells
        ``n_predicted_responder_cr_pr`` ... ``n_predicted_non_responder_sd_pd`` and the two-sided ``fisher_p``.

    Raises
    ------
    InputError
        Unknown response labels, no responder or no non-responder, bad options.

    Notes
    -----
    :math:`\\mathrm{AUC} = U / (m n)` where :math:`U` is the Mann-Whitney statistic of the *m* responders' scores
    against the *n* non-responders' (ties count one half): the probability that a random responder is predicted
    more sensitive than a random non-responder. The DeLong interval is :math:`\\mathrm{AUC} \\pm
    z_{1-\\alpha/2}\\sqrt{\\mathrm{Var}}` clipped to [0, 1], as in R's pROC ``ci.auc(method = "delong")``; the
    bootstrap resamples responders and non-responders separately (pROC's ``stratified = TRUE``) and takes
    percentiles. Either interval needs two patients per class (NaN otherwise); a DeLong variance of 0
    (separated classes) gives an interval of no width, which a warning points out. The Mann-Whitney p is scipy's
    (exact for small samples without ties, otherwise normal approximation with tie correction).

    The AUROC tests the continuous prediction; Fisher's test tests the split a clinician would act on. With
    :math:`a` of the :math:`r` predicted responders responding, among :math:`N` patients of whom :math:`c`
    responded, the two-sided p sums the hypergeometric probabilities :math:`P(X = x) = \binom{c}{x}
    \binom{N - c}{r - x} / \binom{N}{r}` of every table no more probable than the observed one (R's
    ``fisher.test``, scipy's ``fisher_exact``).

    References
    ----------
    Hanley J. A., McNeil B. J. (1982) Radiology 143:29, doi:10.1148/radiology.143.1.7063747.
    DeLong E. R. et al. (1988) Biometrics 44:837, doi:10.2307/2531595.
    Fisher R. A. (1922) J R Stat Soc 85:87-94, doi:10.2307/2340521.
    """
    if ci_method not in ("delong", "bootstrap"):
        raise InputError(f"ci_method must be 'delong' or 'bootstrap'; got {ci_method!r}.")
    if not 0.0 < ci_level < 1.0:
        raise InputError(f"ci_level must be strictly between 0 and 1; got {ci_level!r}.")
    if ci_method == "bootstrap" and (isinstance(n_bootstrap, bool) or int(n_bootstrap) < 1):
        raise InputError(f"n_bootstrap must be a positive integer; got {n_bootstrap!r}.")
    notes: list[str] = []
    analysis = "the clinical-response AUC" + ("" if groups is None else " and Fisher test")
    scores = as_patient_series(predicted, name="predicted", numeric=True)
    labels = encode_response(response)
    unmatched = scores.index.symmetric_difference(labels.index)
    report_dropped(
        unmatched,
        what="patients",
        reason="appear in only one of predicted and response",
        notes=notes,
        analysis=analysis,
    )
    common = scores.index.intersection(labels.index, sort=False)
    scores, labels = scores.loc[common], labels.loc[common]
    no_prediction = scores.index[scores.isna()]
    report_dropped(
        no_prediction,
        what="patients",
        reason="have no prediction",
        notes=notes,
        analysis=analysis,
    )
    missing = labels.index[labels.isna() & scores.notna()]
    report_dropped(
        missing,
        what="patients",
        reason="have no clinical response (NaN)",
        notes=notes,
        analysis=analysis,
    )
    keep = scores.notna() & labels.notna()
    values = scores[keep].to_numpy()
    if lower_is_sensitive:
        values = -values
    y = labels[keep].to_numpy().astype(int)
    positive, negative = values[y == 1], values[y == 0]
    m, n = len(positive), len(negative)
    if m == 0 or n == 0:
        raise InputError(
            f"response needs both responders (CR/PR) and non-responders (SD/PD) among the matched patients; "
            f"found {m} responders and {n} non-responders."
        )
    if min(m, n) < 5:
        note(f"only {m} responders and {n} non-responders; the AUROC is very uncertain", notes)
    auc, variance = delong_variance(positive, negative)
    alpha = 1.0 - ci_level
    if np.ptp(values) == 0:
        note("every patient has the same prediction: the AUROC is 0.5 by ties alone", notes)
    if min(m, n) < 2:
        note(f"a {ci_method} interval needs at least two patients per class; CI is NaN", notes)
        lower = upper = math.nan
    elif ci_method == "delong":
        half = stats.norm.ppf(1.0 - alpha / 2.0) * math.sqrt(variance)
        lower, upper = max(0.0, auc - half), min(1.0, auc + half)
        if variance == 0.0:
            note(
                "the DeLong variance is 0 (the classes are separated, or every prediction is equal), so the "
                "interval has no width; that is no certainty: see the Mann-Whitney p",
                notes,
            )
    else:
        rng = check_random_state(random_state)
        pos_idx = rng.integers(0, m, size=(int(n_bootstrap), m))
        neg_idx = rng.integers(0, n, size=(int(n_bootstrap), n))
        aucs = np.array(
            [delong_variance(positive[p], negative[q])[0] for p, q in zip(pos_idx, neg_idx, strict=True)]
        )
        lower, upper = (float(v) for v in np.quantile(aucs, [alpha / 2.0, 1.0 - alpha / 2.0]))
    test = stats.mannwhitneyu(positive, negative, alternative="two-sided")
    table = {} if groups is None else _split_table(groups, labels[keep])
    return ResponseAUCResult(
        auc=auc,
        ci_lower=float(lower),
        ci_upper=float(upper),
        ci_method=ci_method,
        ci_level=ci_level,
        mannwhitney_u=float(test.statistic),
        mannwhitney_p=float(test.pvalue),
        n_responders=m,
        n_non_responders=n,
        n_missing_response=len(missing),
        n_unmatched=len(unmatched),
        **table,
        warnings=notes,
    )


def _split_table(groups: Any, labels: pd.Series) -> dict[str, Any]:
    """The 2 x 2 table of the responder split against clinical response (1 = CR/PR), and Fisher's two-sided p."""
    split = as_patient_series(groups, name="groups").reindex(labels.index)
    unknown = sorted(set(split.astype(str)) - {RESPONDER, NON_RESPONDER})
    if unknown:
        raise InputError(
            f"groups must be {RESPONDER!r} or {NON_RESPONDER!r} for every patient of the AUROC; found "
            f"{{{examples(unknown, 5)}}}."
        )
    predicted = (split == RESPONDER).to_numpy()
    observed = labels.to_numpy() == 1
    cells = [[int((predicted & observed).sum()), int((predicted & ~observed).sum())]]
    cells.append([int((~predicted & observed).sum()), int((~predicted & ~observed).sum())])
    return {
        "n_predicted_responder_cr_pr": cells[0][0],
        "n_predicted_responder_sd_pd": cells[0][1],
        "n_predicted_non_responder_cr_pr": cells[1][0],
        "n_predicted_non_responder_sd_pd": cells[1][1],
        "fisher_p": float(stats.fisher_exact(cells, alternative="two-sided").pvalue),
    }
