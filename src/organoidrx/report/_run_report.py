"""The run report: one self-contained ``report.html`` plus the same figures as PNG files.

The report leads with what was run (parameters, inputs with their SHA-256, package versions) and the warnings, then a
plain-words summary per drug, then the figures and tables. Nothing is computed here beyond counting and formatting:
every number comes from the tables the pipeline produced.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import multiprocessing
import os
import re
import signal
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from organoidrx._registry import KINDS, get_method
from organoidrx._units import horizon_words
from organoidrx._utils import InputError, atomic_write, examples, sha256_file, versions
from organoidrx.evaluation import InteractionResult, ResponseAUCResult, SurvivalResult
from organoidrx.evaluation._common import results_frame
from organoidrx.report._html import HtmlReport, figure_png
from organoidrx.report._plots import (
    PROXIMAL_Z,
    plot_cv_scatter,
    plot_cv_summary,
    plot_forest,
    plot_km,
    plot_proximity,
)

logger = logging.getLogger(__name__)

__all__ = ["safe_filename", "write_run_report"]


_REQUIRED = {
    "proximity": ("drug", "pathway", "z"),
    "biomarkers": ("drug", "pathway", "coefficient", "rank"),
    "organoid_cv": ("drug", "feature_set", "n_features", "spearman", "n_samples"),
    "cv_predictions": ("drug", "sample", "observed", "predicted"),
    "patient_predictions": ("patient", "drug", "predicted_response", "group"),
    "survival": ("drug", "logrank_p"),
    "model_selection": (
        "drug",
        "candidate",
        "n_pathways",
        "inner_mse",
        "inner_spearman",
        "chosen",
        "outer_folds_chosen",
        "n_outer_folds",
    ),
}

_ALPHA = 0.05

_TRUST_PERMUTATION = (
    "What each p answers. The log-rank p asks whether the two groups' survival differs; no step of the pipeline "
    "sees the patients' outcomes, so it is valid for that question, but it does not say that the drug response "
    "learned from organoids is what separates them: pathway scores often carry prognosis of their own. The "
    "permutation p reruns the whole pipeline (pathway selection, model fit, cut-off) on organoid responses "
    "shuffled among organoids and asks how often the predicted responders then fare at least this much better "
    "than the non-responders (one-sided, in the responders' favour). It is exact when the organoid responses "
    "carry no signal, but it is not a test of survival: when they do carry signal and survival is unrelated to "
    "the scores, the shuffled models' splits can resemble each other more than the observed one, and the "
    "permutation p falls below 0.05 more often than 5% of the time. Evidence that the organoid drug response "
    "separates the patients needs both small, which is what p, the larger of the two, measures: it is valid "
    "under either null."
)
_NO_PERMUTATION = (
    "No whole-pipeline permutation p was computed (set n_permutations > 0 to get one). The log-rank p alone does "
    "not show that the organoid drug response, rather than prognosis carried by the pathways, separates the "
    "groups."
)
_NO_STATISTIC = (
    "No whole-pipeline permutation p: the permutations compare log-rank statistics, and this drug's is not "
    "estimable (no events, or no event time with patients of both groups at risk; see the warnings)."
)


#: Longest file stem made from a drug name: file systems allow 255 bytes, and prefixes and suffixes are added.
_MAX_STEM = 100


def safe_filename(name: str) -> str:
    """A file-name-safe form of a drug name: letters, digits, ``.``, ``_`` and ``-`` kept, any other run -> ``_``;
    a form longer than 100 characters keeps its first 91 and a hash of the whole name.

    Examples
    --------
    >>> safe_filename("5-FU / leucovorin")
    '5-FU_leucovorin'
    >>> len(safe_filename("x" * 300))
    100
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "drug"
    if len(cleaned) > _MAX_STEM:
        digest = hashlib.sha256(str(name).encode()).hexdigest()[:8]
        cleaned = f"{cleaned[: _MAX_STEM - 9]}-{digest}"
    return cleaned


def _unique_stems(drugs: Sequence[str]) -> dict[str, str]:
    """Distinct file stems per drug, also distinct when compared case-insensitively (macOS, Windows)."""
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for drug in drugs:
        stem = base = safe_filename(drug)
        suffix = 2
        while stem.lower() in taken:
            stem = f"{base}-{suffix}"
            suffix += 1
        taken.add(stem.lower())
        stems[drug] = stem
    return stems


def _check_table(frame: Any, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name} must be a DataFrame; got {type(frame).__name__}.")
    missing = [c for c in _REQUIRED[name] if c not in frame.columns]
    if missing:
        raise InputError(
            f"{name} is missing columns {missing} (has {examples(list(frame.columns), 8)}); "
            f"pass the table produced by the pipeline step."
        )
    out = frame.copy()
    out["drug"] = out["drug"].astype(str)
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "NA"
    if not math.isfinite(number):
        return "NA"
    return f"{number:.{digits}f}"


def _fmt_p(value: Any) -> str:
    try:
        p = float(value)
    except (TypeError, ValueError):
        return "NA"
    if not math.isfinite(p):
        return "NA"
    if p < 1e-3:
        return f"{p:.1e}"
    # never rounded across the threshold the text compares it with (0.0496 -> 0.0496); 17 digits are exact
    for digits in range(2, 18):
        text = f"{p:.{digits}g}"
        if (float(text) < _ALPHA) == (p < _ALPHA):
            break
    return text


def _versions() -> pd.DataFrame:
    return pd.DataFrame([{"package": k, "version": v} for k, v in versions().items()])


def _inputs_table(inputs: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for name, value in inputs.items():
        if isinstance(value, Mapping):
            path = str(value.get("path", ""))
            digest = str(value.get("sha256", "")) or (
                sha256_file(path) if path and Path(path).is_file() else "file not found"
            )
        else:
            path = os.fspath(value)
            digest = sha256_file(path) if Path(path).is_file() else "file not found"
        rows.append({"input": str(name), "path": path, "sha256": digest})
    return pd.DataFrame(rows, columns=["input", "path", "sha256"])


def _methods_table(parameters: Mapping[str, Any]) -> pd.DataFrame | None:
    """kind, method, options, summary and reference of each chosen method, read from the registries."""
    rows = []
    given = parameters.get("method_options") or {}
    for kind in KINDS:
        value = parameters.get(kind)
        names = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else []
        for name in names:  # a list of models: every candidate of the nested selection
            if isinstance(name, str):
                rows.append(_method_row(kind, name, given))
    return pd.DataFrame(rows) if rows else None


def _method_row(kind: str, name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    method = get_method(kind, name)
    options = method.resolve(given.get(kind, {}))
    return {
        "kind": kind,
        "method": name,
        "options": ", ".join(f"{k}={v}" for k, v in options.items()),
        "summary": method.summary,
        "reference": method.reference,
    }


def _parameters_table(parameters: Mapping[str, Any]) -> pd.DataFrame:
    rows = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows.append({"parameter": prefix, "value": str(value)})

    walk("", parameters)
    return pd.DataFrame(rows, columns=["parameter", "value"])


def _model_label(row: pd.Series | None) -> str:
    """The model a CV row was fitted with (``ridge_top10``, ...); empty for a table without a ``model`` column."""
    if row is None or "model" not in row.index or not isinstance(row["model"], str):
        return ""
    return row["model"]


def _primary_cv_row(cv: pd.DataFrame, primary: str | None) -> pd.Series | None:
    if cv.empty:
        return None
    if primary is not None:
        rows = cv[cv["feature_set"].astype(str) == primary]
        return rows.iloc[0] if len(rows) else None
    if "n_random" in cv.columns:
        with_random = cv[pd.to_numeric(cv["n_random"], errors="coerce").fillna(0) > 0]
        if len(with_random):
            return with_random.iloc[0]
    return cv.iloc[0]


def _proximity_sentence(drug: str, rows: pd.DataFrame, threshold: float) -> str:
    z = pd.to_numeric(rows["z"], errors="coerce")
    finite = int(z.notna().sum())
    if finite == 0:
        return (
            f"No pathway has a proximity z-score for {drug} (none of its targets is in the network), so no "
            "pathway could be called proximal."
        )
    proximal = rows["proximal"].astype(bool) if "proximal" in rows.columns else z <= threshold
    n_prox = int(proximal.sum())
    best = rows.loc[z.idxmin()]
    return (
        f"{n_prox} of {finite} pathways are drug-proximal (z <= {threshold:g}) on the network; the closest is "
        f"{best['pathway']} (z = {_fmt(best['z'])})."
    )


def _cv_sentence(row: pd.Series | None, all_row: pd.Series | None) -> str:
    if row is None:
        return "No organoid cross-validation result for this drug."
    name = str(row["feature_set"]).replace("_", " ")
    label = _model_label(row)
    model = f"the configured model ({label})" if label else "the model"
    text = (
        f"Organoids: leave-one-out predictions of {model} on the {int(row['n_features'])} {name} features of "
        f"{int(row['n_samples'])} organoids correlate with the observed response at Spearman "
        f"{_fmt(row['spearman'])}"
    )
    n_random = int(row["n_random"]) if "n_random" in row and pd.notna(row["n_random"]) else 0
    if n_random > 0:
        text += (
            f"; the same model on {n_random} random pathway sets of the same size reaches a median of "
            f"{_fmt(row.get('random_spearman_median'))} (95% range {_fmt(row.get('random_spearman_q025'))} to "
            f"{_fmt(row.get('random_spearman_q975'))}), empirical p = {_fmt_p(row.get('random_p'))} "
            f"(the smallest attainable with {n_random} sets is {_fmt_p(1.0 / (n_random + 1))})"
        )
        if pd.notna(row.get("random_q", np.nan)):
            text += f", q = {_fmt_p(row.get('random_q'))} over the drugs of this run"
        if pd.notna(row.get("shuffled_p", np.nan)):
            text += (
                f"; against the same pathways refitted with the organoids' responses shuffled "
                f"({int(row['n_shuffles'])} shuffles), p = {_fmt_p(row.get('shuffled_p'))}"
            )
        if pd.notna(row.get("p", np.nan)):
            text += f"; the larger of the two, p = {_fmt_p(row['p'])}{_q_text(row, 'q')}"
    else:
        text += "; no random-set null was computed"
    if all_row is not None:
        text += f". On all {int(all_row['n_features'])} pathways it reaches {_fmt(all_row['spearman'])}"
    return text + "."


def _survival_sentences(row: pd.Series) -> list[str]:
    def get(key: str) -> Any:
        return row[key] if key in row.index else np.nan

    responder = get("responder_label") if isinstance(get("responder_label"), str) else "predicted responders"
    reference = (
        get("non_responder_label")
        if isinstance(get("non_responder_label"), str)
        else "predicted non-responders"
    )
    parts = []
    if pd.notna(get("n_responder")):
        parts.append(
            f"Patients: '{responder}' {int(get('n_responder'))} ({int(get('events_responder'))} events), "
            f"'{reference}' {int(get('n_non_responder'))} ({int(get('events_non_responder'))} events)."
        )
    perm = get("permutation_p")
    p_text = f"log-rank p = {_fmt_p(get('logrank_p'))}"
    if pd.notna(get("logrank_q")):
        p_text += f" (q = {_fmt_p(get('logrank_q'))} over the drugs of this run)"
    p_text += f"; whole-pipeline permutation p = {_fmt_p(perm)}"
    n_perm = get("n_permutations")
    if pd.notna(perm) and pd.notna(n_perm) and int(n_perm) > 0:
        p_text += (
            f" ({int(n_perm)} permutations; the smallest attainable p is {_fmt_p(1.0 / (int(n_perm) + 1))}"
        )
        if pd.notna(get("permutation_q")):
            p_text += f"; q = {_fmt_p(get('permutation_q'))} over the drugs of this run"
        p_text += ")"
    if pd.notna(get("p")):
        p_text += f"; the larger of the two, p = {_fmt_p(get('p'))}"
        if pd.notna(get("q")):
            p_text += f" (q = {_fmt_p(get('q'))} over the drugs of this run)"
    if pd.notna(get("hazard_ratio")):
        adjusted_for = get("adjusted_for")
        adjusted_for = (
            adjusted_for.replace(";", ", ") if isinstance(adjusted_for, str) and adjusted_for else ""
        )
        p_text += (
            f"; hazard ratio of '{responder}' vs '{reference}' {_fmt(get('hazard_ratio'))} "
            f"({_fmt(get('hr_ci_lower'))} to {_fmt(get('hr_ci_upper'))})"
        )
        if adjusted_for:
            p_text += f" adjusted for {adjusted_for}"
            if pd.notna(get("hazard_ratio_unadjusted")):
                p_text += (
                    f", {_fmt(get('hazard_ratio_unadjusted'))} ({_fmt(get('hr_unadjusted_ci_lower'))} to "
                    f"{_fmt(get('hr_unadjusted_ci_upper'))}) unadjusted"
                )
    if pd.notna(get("c_index")):
        p_text += f"; C-index {_fmt(get('c_index'))}"
    if pd.notna(get("survival_at_horizon_responder")):
        unit = get("time_unit") if isinstance(get("time_unit"), str) else "days"
        p_text += (
            f"; {_horizon(get('horizon'), unit)}: {_with_ci(get, 'survival_at_horizon_responder')} vs "
            f"{_with_ci(get, 'survival_at_horizon_non_responder')}"
        )
    parts.append(p_text[0].upper() + p_text[1:] + ".")
    logrank = float(get("logrank_p")) if pd.notna(get("logrank_p")) else np.nan
    if pd.notna(perm):
        parts.append(_TRUST_PERMUTATION)
    elif np.isnan(logrank):  # the permutations shuffle a statistic this drug does not have
        parts.append(_NO_STATISTIC)
    else:
        parts.append(_NO_PERMUTATION)
    hr = get("hazard_ratio_unadjusted")
    hr = get("hazard_ratio") if pd.isna(hr) else hr
    if logrank < _ALPHA and pd.notna(hr) and float(hr) > 1:
        parts.append(
            f"Here the log-rank p is below {_ALPHA:g} but the predicted responders fare worse (hazard ratio "
            "above 1): the signature separates the patients in the direction opposite to the prediction"
            + (", which the one-sided permutation p does not count as support" if pd.notna(perm) else "")
            + "; read it as a reversed signature, not as evidence for the drug."
        )
    elif pd.notna(perm) and logrank < _ALPHA <= float(perm):
        parts.append(
            f"Here the two disagree: the log-rank p is below {_ALPHA:g} but the permutation p is not, so a "
            "separation this large also arises from models fitted to shuffled organoid responses; do not read "
            "it as evidence that the drug response separates the patients."
        )
    elif pd.notna(perm) and float(perm) < _ALPHA <= logrank:
        parts.append(
            f"Here the two disagree: the permutation p is below {_ALPHA:g} but the log-rank p is not, so the "
            "split beats the shuffled models' splits without a clear survival difference between its groups; do "
            "not read it as evidence that the drug response separates the patients."
        )
    return parts


def _split_response_sentence(row: pd.Series) -> str:
    """The responder split against recorded clinical response, with Fisher's exact p."""
    responders = int(row["n_predicted_responder_cr_pr"]), int(row["n_predicted_responder_sd_pd"])
    others = int(row["n_predicted_non_responder_cr_pr"]), int(row["n_predicted_non_responder_sd_pd"])
    return (
        f"The split against clinical response: CR/PR in {responders[0]} of {sum(responders)} predicted responders "
        f"and {others[0]} of {sum(others)} predicted non-responders; Fisher's exact p = {_fmt_p(row['fisher_p'])}"
        f"{_q_text(row, 'fisher_q')}."
    )


def _q_text(row: pd.Series, column: str) -> str:
    """``", q = 0.04 over the drugs of this run"`` when the row has that q."""
    return f", q = {_fmt_p(row[column])} over the drugs of this run" if pd.notna(row.get(column)) else ""


def _interaction_sentence(row: pd.Series) -> str:
    """Treated against untreated patients: the interaction test and which way the hazard ratios point."""
    treated, untreated = float(row["hr_treated"]), float(row["hr_untreated"])
    q = _q_text(row, "interaction_q")
    text = (
        f"Treated vs untreated: hazard ratio {_fmt(treated)} in treated and {_fmt(untreated)} in untreated "
        f"patients; interaction p = {_fmt_p(row['interaction_p'])}{q} (with the run's covariates, if any, that each "
        "model could estimate). A small p says the signature separates treated patients differently from those "
        "with no record of the drug"
    )
    if treated < 1.0 and treated < untreated:  # NaN compares False
        return (
            f"{text}; here the predicted responders fare better among the treated, which would suggest benefit "
            "from the drug rather than prognosis alone (the arms are not randomised)."
        )
    if treated < untreated:
        return (
            f"{text}; here the predicted responders fare relatively better among the treated than among the "
            "untreated, but not better than the predicted non-responders among the treated (hazard ratio 1 or "
            "more), so it is no support for benefit from the drug."
        )
    if math.isfinite(treated) and math.isfinite(untreated):
        return (
            f"{text}; here the predicted responders, against the predicted non-responders, do not fare better "
            "among the treated than among the untreated, so it is no support for benefit from the drug."
        )
    return f"{text}."


def _with_ci(get: Any, column: str) -> str:
    """``0.63 (0.55-0.70)``: a value with its confidence interval when the row has one."""
    lower, upper = get(f"{column}_ci_lower"), get(f"{column}_ci_upper")
    interval = f" ({_fmt(lower)}-{_fmt(upper)})" if pd.notna(lower) and pd.notna(upper) else ""
    return f"{_fmt(get(column))}{interval}"


def _permutation_p(surv: pd.DataFrame | None, drug: str) -> float | None:
    """The drug's whole-pipeline permutation p from the survival table, if it has one."""
    if surv is None or "permutation_p" not in surv.columns:
        return None
    values = pd.to_numeric(surv.loc[surv["drug"].astype(str) == drug, "permutation_p"], errors="coerce")
    return float(values.iloc[0]) if len(values) and pd.notna(values.iloc[0]) else None


def _horizon(horizon: Any, unit: str) -> str:
    try:
        return horizon_words(float(horizon), unit)
    except (TypeError, ValueError, KeyError):
        return f"survival at {horizon} {unit}"


def _ci(row: pd.Series, hr: str, lower: str, upper: str) -> str:
    if hr not in row.index or not pd.notna(row[hr]):
        return "NA"
    return f"{_fmt(row[hr])} ({_fmt(row[lower])}-{_fmt(row[upper])})"


def _key_table(
    drugs: Sequence[str],
    prox: pd.DataFrame,
    cv: pd.DataFrame,
    surv: pd.DataFrame | None,
    threshold: float,
    primary: str | None,
) -> pd.DataFrame:
    """One short row per drug with the numbers a reader looks for first, formatted to fit without scrolling."""
    any_adjusted = (
        surv is not None
        and "adjusted_for" in surv.columns
        and bool(surv["adjusted_for"].fillna("").astype(str).str.len().gt(0).any())
    )
    rows = []
    for drug in drugs:
        drug_prox = prox[prox["drug"] == drug]
        z = pd.to_numeric(drug_prox["z"], errors="coerce")
        proximal = drug_prox["proximal"].astype(bool) if "proximal" in drug_prox.columns else z <= threshold
        row: dict[str, Any] = {
            "drug": drug,
            "proximal pathways": f"{int(proximal.sum())}/{int(z.notna().sum())}",
        }
        cv_row = _primary_cv_row(cv[cv["drug"] == drug], primary)
        row["organoid CV rho"] = _fmt(cv_row["spearman"]) if cv_row is not None else "NA"
        row["organoid p (q)"] = _p_with_q(cv_row)
        if surv is not None:
            found = surv[surv["drug"] == drug]
            if len(found):
                s_row = found.iloc[0]
                n = sum(int(s_row[c]) for c in ("n_responder", "n_non_responder") if pd.notna(s_row.get(c)))
                events = sum(
                    int(s_row[c])
                    for c in ("events_responder", "events_non_responder")
                    if pd.notna(s_row.get(c))
                )
                adjusted = s_row.get("adjusted_for")
                adjusted = adjusted.replace(";", ", ") if isinstance(adjusted, str) and adjusted else ""
                row |= {
                    "treated (events)": f"{n} ({events})",
                    "patients p (q)": _p_with_q(s_row),
                    "log-rank p": _fmt_p(s_row.get("logrank_p")),
                    "permutation p": _fmt_p(s_row.get("permutation_p")),
                    "HR (95% CI)": _ci(s_row, "hazard_ratio", "hr_ci_lower", "hr_ci_upper"),
                }
                if any_adjusted:  # the same columns for every drug: a model can drop a covariate for one drug
                    row["HR adjusted for"] = adjusted or "nothing"
                    row["HR unadjusted"] = _ci(
                        s_row, "hazard_ratio_unadjusted", "hr_unadjusted_ci_lower", "hr_unadjusted_ci_upper"
                    )
                row["survival R / NR"] = (
                    f"{_fmt(s_row.get('survival_at_horizon_responder'))} / "
                    f"{_fmt(s_row.get('survival_at_horizon_non_responder'))}"
                )
        rows.append(row)
    return pd.DataFrame(rows).fillna("NA")


def _p_with_q(row: pd.Series | None) -> str:
    """``0.012 (0.024)``: a row's ``p`` and its ``q``, NA when the row has no p."""
    if row is None or pd.isna(row.get("p", np.nan)):
        return "NA"
    return f"{_fmt_p(row['p'])} ({_fmt_p(row.get('q', np.nan))})"


# the figures being drawn: set before worker processes fork, read by them by position
_MAKERS: list[Callable[[], Any]] = []


def _draw(index: int) -> bytes:
    """PNG bytes of figure ``index`` of :data:`_MAKERS` (its maker returns the Axes it drew on)."""
    import matplotlib.pyplot as plt

    figure = _MAKERS[index]().figure
    figure.set_layout_engine("none")  # one axes, saved cropped to its content: no layout pass needed
    try:
        return figure_png(figure)
    finally:
        plt.close(figure)


def _end_with(parent: int) -> None:
    """In a drawing worker: end when the parent process ends, even by SIGKILL (Linux), instead of waiting
    forever on the pool's queue; a parent gone before this ran ends the worker now."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the worker outlives a killed parent
            pass
    if os.getppid() != parent:
        os._exit(1)


def render_figures(makers: Mapping[str, Callable[[], Any]], *, n_jobs: int | None = None) -> dict[str, bytes]:
    """Draw every figure (``name -> maker returning an Axes``) to PNG bytes, in worker processes when allowed.

    Workers are forked (Linux), so they start in milliseconds with the data already in memory; elsewhere, or
    with ``n_jobs=1``, or when a worker cannot start, the figures are drawn here. A figure's bytes do not depend
    on where it was drawn.
    """
    global _MAKERS
    names = list(makers)
    jobs = min(2, os.cpu_count() or 1) if n_jobs is None else max(1, int(n_jobs))
    _MAKERS = [makers[name] for name in names]
    try:
        if jobs > 1 and len(names) > 2 and "fork" in multiprocessing.get_all_start_methods():
            try:
                with (
                    warnings.catch_warnings()
                ):  # Python >= 3.12 warns on fork with threads; workers only draw
                    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                    context = multiprocessing.get_context("fork")
                    # the first figure is drawn here: it loads the fonts and caches that the workers then inherit
                    pngs = [_draw(0)]
                    with ProcessPoolExecutor(
                        max_workers=jobs, mp_context=context, initializer=_end_with, initargs=(os.getpid(),)
                    ) as pool:
                        chunk = max(1, len(names) // (4 * jobs))
                        pngs += pool.map(_draw, range(1, len(names)), chunksize=chunk)
                return dict(zip(names, pngs, strict=True))
            except (BrokenProcessPool, OSError) as exc:
                logger.debug("drawing the figures in this process (%s)", exc)
        return {name: _draw(i) for i, name in enumerate(names)}
    finally:
        _MAKERS = []


def write_run_report(
    out_dir: str | os.PathLike[str],
    *,
    parameters: Mapping[str, Any],
    proximity: pd.DataFrame,
    biomarkers: pd.DataFrame,
    organoid_cv: pd.DataFrame,
    cv_predictions: pd.DataFrame | None = None,
    model_selection: pd.DataFrame | None = None,
    patient_predictions: pd.DataFrame | None = None,
    survival: pd.DataFrame | None = None,
    survival_results: Mapping[str, SurvivalResult] | None = None,
    interactions: Mapping[str, InteractionResult] | None = None,
    response_auc: Mapping[str, ResponseAUCResult] | None = None,
    inputs: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
    timings: Mapping[str, float] | None = None,
    primary_feature_set: str | None = None,
    threshold: float = PROXIMAL_Z,
    title: str = "organoidrx run report",
    n_jobs: int | None = None,
) -> Path:
    """Write ``report.html`` and the figures as PNG files into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Output folder, created when needed. Files of the same names are replaced, each one atomically.
    parameters : dict
        The settings of the run (nested dicts are flattened to ``section.key``), shown as a table.
    proximity : DataFrame
        Long table, one row per drug and pathway, with at least ``drug, pathway, z`` and usually ``n_targets,
        n_pathway_genes, closest_distance, p_value, proximal`` (:func:`organoidrx.network.proximity`). Without
        ``proximal``, a pathway is proximal when ``z <= threshold``.
    biomarkers : DataFrame
        Ranked pathways per drug: ``drug, pathway, coefficient, rank`` (rank 1 = largest |coefficient|) and
        optionally ``z``.
    organoid_cv : DataFrame
        :func:`organoidrx.models.cross_validate_response` output: ``drug, feature_set, n_features, spearman,
        n_samples`` and optionally ``pearson, n_random, random_spearman_median, random_spearman_q025,
        random_spearman_q975, random_p``.
    cv_predictions : DataFrame, optional
        Held-out predictions of the primary model: ``drug, sample, observed, predicted``; drawn as the organoid
        CV scatter of each drug.
    model_selection : DataFrame, optional
        The candidate models of each drug (:func:`organoidrx.models.selection_table`): ``drug, candidate,
        inner_mse, inner_spearman, chosen, outer_folds_chosen, n_outer_folds``; shown as a short table.
    patient_predictions : DataFrame, optional
        ``patient, drug, predicted_response, group``. ``None`` (with ``survival`` and ``survival_results``) is
        the preclinical-only mode: no patient sections, a note saying why.
    survival : DataFrame, optional
        One row per drug: ``drug, logrank_p`` and the other columns of
        :meth:`organoidrx.evaluation.SurvivalResult.to_frame` (``n_responder, events_responder, hazard_ratio,
        hr_ci_lower, hr_ci_upper, c_index, survival_at_horizon_*`` ...) plus ``permutation_p``, the
        whole-pipeline permutation p (and optionally ``n_permutations``). Built from ``survival_results``
        when omitted.
    survival_results : dict of str to SurvivalResult, optional
        Per drug, the fitted result whose Kaplan-Meier curves are drawn.
    interactions : dict of str to InteractionResult, optional
        Per drug, the treatment-by-signature interaction (predictive vs prognostic).
    response_auc : dict of str to ResponseAUCResult, optional
        Per drug, the AUC of the prediction against clinical response (CR/PR vs SD/PD).
    inputs : dict, optional
        ``{name: path}`` or ``{name: {"path": ..., "sha256": ...}}``; the SHA-256 is computed when absent.
    warnings : list of str
        Shown prominently at the top of the report.
    timings : dict of str to float, optional
        Seconds per step. Accepted for compatibility and not shown: the report holds no clock times, so the
        same inputs give the same bytes; ``run.json`` records the timings of a pipeline run.
    primary_feature_set : str, optional
        Feature set of ``organoid_cv`` summarised up front; default the first set compared with random sets.
    threshold : float, default=-1.2816
        Proximity z threshold used when ``proximity`` has no ``proximal`` column.
    title : str, default="organoidrx run report"
    n_jobs : int, optional
        Processes drawing the figures (``None``: 2, or the CPUs when fewer; 1 draws them in this process). The
        figures are the same bytes whatever the number.

    Returns
    -------
    Path
        Path of ``report.html``. Beside it: ``proximity_<drug>.png``,
        ``organoid_cv_<drug>.png`` (with ``cv_predictions``), ``km_<drug>.png`` (with ``survival_results``) and
        ``feature_sets.png`` (every drug's organoid cross-validation) and, with survival, ``forest.png`` (hazard
        ratios of every drug), where ``<drug>`` is :func:`safe_filename` of the drug (made unique).

    Raises
    ------
    InputError
        When a table is not a DataFrame or lacks its required columns.

    Notes
    -----
    PNG files are written at a fixed dpi without the software metadata chunk, so the same inputs give
    byte-identical figures; the HTML embeds the very same bytes and holds no clock time, date or random id, so
    it is byte-identical too. The HTML has no scripts and no external
    resources, so it can be mailed or archived as one file.
    """
    if not isinstance(parameters, Mapping):
        raise InputError(f"parameters must be a dict; got {type(parameters).__name__}.")
    prox = _check_table(proximity, "proximity")
    bio = _check_table(biomarkers, "biomarkers")
    cv = _check_table(organoid_cv, "organoid_cv")
    preds = None if cv_predictions is None else _check_table(cv_predictions, "cv_predictions")
    patients = (
        None if patient_predictions is None else _check_table(patient_predictions, "patient_predictions")
    )
    surv = _check_table(survival, "survival") if survival is not None else results_frame(survival_results)
    interaction_table = results_frame(interactions)
    auc_table = results_frame(response_auc)
    km_results = {str(drug): result for drug, result in (survival_results or {}).items()}
    preclinical_only = patients is None and surv is None and not km_results

    extra = [*(surv["drug"] if surv is not None else []), *km_results]
    drugs = list(dict.fromkeys([*prox["drug"], *bio["drug"], *cv["drug"], *extra]))
    stems = _unique_stems(drugs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    report = HtmlReport(title)
    makers: dict[str, Callable[[], Any]] = {}

    def figure(name: str, make: Callable[[], Any], *, caption: str, alt: str) -> None:
        """Place figure ``name`` here; every figure is drawn at the end, in parallel (see :func:`render_figures`)."""
        makers[name] = make
        report.image_placeholder(name, caption=caption, alt=alt)

    report.paragraph(
        f"Drugs: {', '.join(drugs) if drugs else 'none'}. "
        + (
            "Preclinical-only run (no patient data)."
            if preclinical_only
            else "Organoid models carried to patients treated with each drug."
        ),
        css_class="note",
    )
    messages = list(warnings)
    for label, table in (("survival", surv), ("interaction", interaction_table), ("response AUC", auc_table)):
        if table is not None and "warnings" in table.columns:
            for drug, text in zip(table["drug"], table["warnings"], strict=True):
                if isinstance(text, str) and text:
                    messages.extend(
                        f"{drug} ({label}): {w}"
                        for w in text.split(" | ")
                        # the run logged it already, for this drug (prefixed with it, or naming it quoted)
                        if not any(
                            m.endswith(w) and (m.startswith(f"{drug}: ") or repr(str(drug)) in m)
                            for m in messages
                        )
                    )
    report.heading("Warnings")
    if messages:
        report.warnings(messages)
    else:
        report.paragraph("No warnings were raised.", css_class="note")

    # ------------------------------------------------------------------ key numbers up front
    report.heading("Key results")
    horizon_note = ""
    if surv is not None and len(surv) and "horizon" in surv.columns:
        first = surv.iloc[0]
        unit = first["time_unit"] if isinstance(first.get("time_unit"), str) else "days"
        horizon_note = f" 'survival R / NR': {_horizon(first['horizon'], unit)} of predicted responders / non-responders."
    report.table(
        _key_table(drugs, prox, cv, surv, threshold, primary_feature_set),
        max_rows=len(drugs) + 1,
        css_class="key",
        caption="One row per drug; the full tables are below and in the TSV files. 'organoid CV rho': "
        "cross-validated Spearman of the configured model (the one carried to the patients, its top k pathways "
        "chosen again in every fold) on the drug's proximal pathways; 'organoid p (q)': the larger of its "
        "empirical p against the same model on random pathway sets of the same size and against the same "
        "pathways refitted on shuffled responses, with its q over the drugs"
        + (
            "; 'patients p (q)': the larger of the log-rank and whole-pipeline permutation p, with its q over the "
            "drugs"
            if surv is not None
            else ""
        )
        + ". Read q: a test is small only when both of its p are."
        + horizon_note,
    )
    if (
        surv is not None
        and "hazard_ratio" in surv.columns
        and pd.to_numeric(surv["hazard_ratio"], errors="coerce").notna().any()
    ):
        survival_table = surv
        figure(
            "forest.png",
            lambda: plot_forest(survival_table),
            caption="Hazard ratio of predicted responders vs non-responders among each drug's treated patients, "
            "adjusted (filled) and unadjusted (open) when covariates were given; < 1 means the predicted "
            "responders lived longer (forest.png).",
            alt="Forest plot of hazard ratios",
        )

    # ------------------------------------------------------------------ summary
    report.heading("Summary")
    if preclinical_only:
        report.paragraph(
            "No patient expression or clinical data were given, so this is a preclinical-only run: there are no "
            "patient groups, Kaplan-Meier curves or survival tests. Add patients to carry the models to the clinic.",
            css_class="note",
        )
    for drug in drugs:
        items = [_proximity_sentence(drug, prox[prox["drug"] == drug], threshold)]
        drug_cv = cv[cv["drug"] == drug]
        all_rows = drug_cv[drug_cv["feature_set"].astype(str) == "all_pathways"]
        items.append(
            _cv_sentence(
                _primary_cv_row(drug_cv, primary_feature_set), all_rows.iloc[0] if len(all_rows) else None
            )
        )
        drug_bio = bio[bio["drug"] == drug].sort_values("rank", kind="stable")
        if len(drug_bio):
            items.append(f"Top-ranked pathways: {', '.join(map(str, drug_bio['pathway'].head(5)))}.")
        if surv is not None:
            rows = surv[surv["drug"] == drug]
            if len(rows):
                items.extend(_survival_sentences(rows.iloc[0]))
            elif not preclinical_only:
                items.append("Patients: no survival analysis for this drug (no treated patients matched).")
        if auc_table is not None and (auc_table["drug"] == drug).any():
            row = auc_table[auc_table["drug"] == drug].iloc[0]
            items.append(
                f"Clinical response: AUC {_fmt(row['auc'])} ({_fmt(row['ci_lower'])} to {_fmt(row['ci_upper'])}) "
                f"over {int(row['n_responders'])} responders and {int(row['n_non_responders'])} non-responders; "
                f"Mann-Whitney p = {_fmt_p(row['mannwhitney_p'])}{_q_text(row, 'mannwhitney_q')}."
            )
            if pd.notna(row.get("fisher_p", math.nan)):
                items.append(_split_response_sentence(row))
        if interaction_table is not None and (interaction_table["drug"] == drug).any():
            row = interaction_table[interaction_table["drug"] == drug].iloc[0]
            items.append(_interaction_sentence(row))
        report.heading(drug, level=3)
        report.bullets(items)

    # ------------------------------------------------------------------ figures per drug
    report.heading("Figures per drug")
    for drug in drugs:
        stem = stems[drug]
        model_label = _model_label(
            _primary_cv_row(cv[cv["drug"] == drug] if len(cv) else cv, primary_feature_set)
        )
        report.heading(f"{drug}: figures", level=3)
        if preclinical_only:
            pass
        elif drug in km_results:
            figure(
                f"km_{stem}.png",
                functools.partial(plot_km, km_results[drug], permutation_p=_permutation_p(surv, drug)),
                caption=f"{drug}: survival of predicted responders vs non-responders (km_{stem}.png).",
                alt=f"Kaplan-Meier curves of {drug}",
            )
        else:
            report.paragraph(
                f"No Kaplan-Meier curves for {drug}: no survival result was given.", css_class="note"
            )
        drug_prox = prox[prox["drug"] == drug]
        if pd.to_numeric(drug_prox["z"], errors="coerce").notna().any():
            figure(
                f"proximity_{stem}.png",
                functools.partial(plot_proximity, drug_prox, drug, threshold=threshold),
                caption=f"{drug}: pathway proximity z-scores (proximity_{stem}.png).",
                alt=f"Proximity of {drug}",
            )
        drug_bio = bio[bio["drug"] == drug].sort_values("rank", kind="stable").head(20)
        if len(drug_bio):
            report.bar_table(
                drug_bio.assign(pathway=drug_bio["pathway"].astype(str).str.removeprefix("REACTOME_")),
                label="pathway",
                value="coefficient",
                highlight=int(drug_bio["selected"].sum()) if "selected" in drug_bio.columns else 10,
                caption=f"{drug}: model coefficients of the {len(drug_bio)} best-ranked pathways (rank 1 = largest "
                "|coefficient|; a kernel model's coefficient is its mean |partial derivative|, signed by the mean "
                "slope); dark bars: the pathways the model uses (biomarkers.tsv has them all).",
            )
        if preds is not None:
            rows = preds[preds["drug"] == drug].drop_duplicates("sample")
            if len(rows) >= 3:
                figure(
                    f"organoid_cv_{stem}.png",
                    functools.partial(
                        plot_cv_scatter,
                        rows.set_index("sample")["predicted"],
                        rows.set_index("sample")["observed"],
                        title=f"{drug}: {model_label}" if model_label else drug,
                    ),
                    caption=f"{drug}: observed response of each organoid against the leave-one-out prediction "
                    f"of the configured model{f' ({model_label})' if model_label else ''} "
                    f"(organoid_cv_{stem}.png). No p-value: the tests are the random-set and shuffled-response "
                    "p of the summary.",
                    alt=f"Organoid cross-validation of {drug}",
                )
            else:
                report.paragraph(
                    f"Fewer than 3 cross-validated organoid predictions for {drug}.", css_class="note"
                )
    if preclinical_only:
        report.paragraph(
            "No Kaplan-Meier curves: this run has no patient data (preclinical-only).", css_class="note"
        )

    if len(cv):
        report.heading("Feature-set comparison")
        figure(
            "feature_sets.png",
            functools.partial(plot_cv_summary, cv),
            caption="Cross-validated Spearman of each drug's feature sets on the organoids; grey: 95% range of "
            "random pathway sets of the proximal set's size, with their median (feature_sets.png).",
            alt="Feature-set comparison",
        )

    # ------------------------------------------------------------------ tables
    report.heading("Tables")
    report.heading("Drug-proximal pathways", level=3)
    prox_z = pd.to_numeric(prox["z"], errors="coerce")
    proximal_mask = prox["proximal"].astype(bool) if "proximal" in prox.columns else prox_z <= threshold
    shown = (
        prox[proximal_mask.to_numpy()]
        .assign(_z=prox_z[proximal_mask])
        .sort_values(["drug", "_z"], kind="stable")
    )
    report.table(shown.drop(columns="_z"), caption="Pathways with z at or below the threshold, per drug.")
    report.heading("Biomarker pathways", level=3)
    report.table(bio.sort_values(["drug", "rank"], kind="stable"))
    report.heading("Organoid cross-validation", level=3)
    report.table(cv)
    if model_selection is not None:
        selection = _check_table(model_selection, "model_selection")
        report.heading("Model selection", level=3)
        report.table(
            selection.loc[:, list(_REQUIRED["model_selection"])],
            max_rows=len(selection) + 1,
            caption="Candidate models per drug, scored by leave-one-out cross-validation over the organoids; "
            "'chosen': the smallest inner error over every organoid (ties: fewer pathways, then the earlier "
            "model), the model carried to patients and bundles. 'outer_folds_chosen': how many of the outer "
            "leave-one-out folds of the organoid CV chose the same candidate without the held-out organoid.",
        )
    if surv is not None:
        report.heading("Survival", level=3)
        report.table(surv.drop(columns=[c for c in ("warnings", "cox_terms") if c in surv.columns]))
    if interaction_table is not None:
        report.heading("Treatment interaction", level=3)
        report.table(interaction_table.drop(columns=["warnings"], errors="ignore"))
    if auc_table is not None:
        report.heading("Clinical response AUC", level=3)
        report.table(auc_table.drop(columns=["warnings"], errors="ignore"))
    if patients is not None:
        report.heading("Patient predictions", level=3)
        if "treated" in patients.columns:
            treated = patients[patients["treated"].astype(bool)]
            counts = (
                treated.groupby(["drug", "group"], sort=True).size().rename("treated patients").reset_index()
            )
            report.table(
                counts,
                caption="Treated patients per drug and predicted group: the patients of the survival analysis. "
                f"Every one of the {patients['patient'].nunique()} scored patients gets a prediction for every drug "
                "(patient_predictions.tsv).",
            )
        else:
            counts = patients.groupby(["drug", "group"], sort=True).size().rename("patients").reset_index()
            report.table(counts, caption="Patients per drug and predicted group.")
        report.table(patients, max_rows=30)

    # ------------------------------------------------------------------ what was run
    report.heading("What was run")
    methods = _methods_table(parameters)
    if methods is not None:
        report.heading("Methods", level=3)
        report.table(
            methods, caption="The registered methods this run used ('organoidrx methods' lists all)."
        )
    report.heading("Parameters", level=3)
    report.table(_parameters_table(parameters), max_rows=200)
    if inputs:
        report.heading("Inputs", level=3)
        report.table(_inputs_table(inputs), max_rows=200)
    report.heading("Versions", level=3)
    report.table(_versions())
    images = render_figures(makers, n_jobs=n_jobs)
    for name, png in images.items():
        with atomic_write(out / name, mode="wb") as handle:
            handle.write(png)
    report.fill_images(images)
    path = report.write(out / "report.html")
    logger.debug("report written to %s", path)  # the run prints its final path once it is swapped in
    return path
