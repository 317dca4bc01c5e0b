"""Input checks shared by the evaluation modules: patient-indexed series and clinical tables."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.evaluation._multiple import bh_qvalues

logger = logging.getLogger(__name__)

RESPONDER = "predicted responder"
NON_RESPONDER = "predicted non-responder"

T = TypeVar("T")


def as_patient_series(values: Any, *, name: str, numeric: bool = False) -> pd.Series:
    """Return ``values`` as a new Series indexed by string patient ids; raise on duplicated ids.

    Accepts a Series (index = patient ids), a mapping ``{patient: value}`` or, for numeric values only, a 1-d array
    (index = 0..n-1).
    """
    if isinstance(values, pd.Series):
        series = values.copy()
    elif isinstance(values, Mapping):
        series = pd.Series(dict(values))
    elif isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise InputError(
                f"{name} must be a Series indexed by patient (or a one-column DataFrame); got a DataFrame with "
                f"columns {examples(list(values.columns))}."
            )
        series = values.iloc[:, 0].copy()
    else:
        array = np.asarray(values)
        if array.ndim != 1:
            raise InputError(f"{name} must be one-dimensional; got an array of shape {array.shape}.")
        series = pd.Series(array)
    series.index = pd.Index(series.index.astype(str))
    duplicated = series.index[series.index.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"{name} has {len(duplicated)} duplicated patient ids (first: {examples(duplicated)}); make them unique."
        )
    if numeric:
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            converted = pd.to_numeric(series, errors="coerce")
            bad = series[converted.isna() & series.notna()]
            if len(bad):
                raise InputError(
                    f"{name} must be numeric; found non-numeric values {examples(bad.unique().tolist())} "
                    f"(patients {examples(bad.index)})."
                )
            series = converted
        series = series.astype(float)
        if np.isinf(series.to_numpy()).any():
            raise InputError(
                f"{name} has infinite values (patients {examples(series.index[np.isinf(series)])})."
            )
    return series


def clinical_frame(
    clinical: Any, *, duration_col: str, event_col: str, name: str = "clinical"
) -> pd.DataFrame:
    """Validate a clinical table and return a copy indexed by patient id with float time and 0/1 event columns.

    The patient ids are the ``patient`` column when present, otherwise the index. Rows with a missing time or event
    are kept as NaN here; callers drop and report them.
    """
    if not isinstance(clinical, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame; got {type(clinical).__name__}.")
    missing = [c for c in (duration_col, event_col) if c not in clinical.columns]
    if missing:
        raise InputError(
            f"{name} is missing columns {missing} (has {list(clinical.columns)}); "
            "pass duration_col=/event_col= naming the time and event columns."
        )
    frame = clinical.copy()
    if "patient" in frame.columns:
        frame = frame.set_index("patient")
    frame.index = pd.Index(frame.index.astype(str), name="patient")
    duplicated = frame.index[frame.index.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"{name} has {len(duplicated)} duplicated patient ids (first: {examples(duplicated)}); "
            "keep one row per patient."
        )
    time = pd.to_numeric(frame[duration_col], errors="coerce")
    bad = frame.loc[time.isna() & frame[duration_col].notna(), duration_col]
    if len(bad):
        raise InputError(
            f"{name}: column {duration_col!r} must be numeric; found values {examples(bad.unique())}."
        )
    infinite = time[np.isinf(time.to_numpy(dtype=float))]
    if len(infinite):
        raise InputError(
            f"{name}: column {duration_col!r} has {len(infinite)} infinite times (patients "
            f"{examples(infinite.index)}); give the follow-up in days or months, or leave it empty when unknown."
        )
    negative = time[time < 0]
    if len(negative):
        raise InputError(
            f"{name}: column {duration_col!r} has {len(negative)} negative times (first: {examples(negative.tolist())}, "
            f"patients {examples(negative.index)}); times must be >= 0."
        )
    event_raw = frame[event_col]
    if pd.api.types.is_bool_dtype(event_raw):
        event = event_raw.astype(float)
    else:
        event = pd.to_numeric(event_raw, errors="coerce")
        invalid = set(event_raw[event.isna() & event_raw.notna()].unique().tolist()) | set(
            event[event.notna() & ~event.isin([0, 1])].unique().tolist()
        )
        if invalid:
            shown = sorted(invalid, key=str)
            raise InputError(
                f"{name}: column {event_col!r} must be 0/1 or boolean; found values {{{examples(shown, 5)}}}."
            )
    frame[duration_col] = time.astype(float)
    frame[event_col] = event.astype(float)
    return frame


def report_dropped(
    ids: Any, *, what: str, reason: str, notes: list[str], analysis: str | None = None
) -> None:
    """Log and record a warning that ``ids`` were left out of an analysis (nothing is dropped silently)."""
    ids = list(ids)
    if ids:
        where = f"are left out of {analysis}" if analysis else "are excluded"
        message = f"{len(ids)} {what} {reason} and {where} (e.g. {examples(ids)})"
        logger.warning(message)
        notes.append(message)


def note(message: str, notes: list[str]) -> None:
    """Log a warning and record it in a result's ``warnings`` list."""
    logger.warning(message)
    notes.append(message)


@contextmanager
def captured_warnings(notes: list[str], context: str) -> Iterator[None]:
    """Turn Python warnings raised by a third-party fit (lifelines convergence, ...) into recorded notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    seen: set[str] = set()
    for item in caught:
        text = " ".join(str(item.message).split())
        if text not in seen:
            seen.add(text)
            note(f"{context}: {text}", notes)


def call_with_notes(fn: Callable[[], T], notes: list[str], context: str) -> T:
    """Run ``fn`` with :func:`captured_warnings`."""
    with captured_warnings(notes, context):
        return fn()


#: Per-drug p-values of the run's tables that get a Benjamini-Hochberg q over the drugs beside them.
PER_DRUG_P = ("logrank_p", "permutation_p", "p", "interaction_p", "mannwhitney_p", "fisher_p")


def insert_qvalues(table: pd.DataFrame, columns: Sequence[str] = PER_DRUG_P) -> pd.DataFrame:
    """Insert beside each p column of ``table`` (one row per drug) its Benjamini-Hochberg q over the rows
    (``logrank_p`` -> ``logrank_q``, ``p`` -> ``q``); NaN p (no test) stays NaN and is not counted."""
    for column in columns:
        if column in table.columns and column[:-1] + "q" not in table.columns:
            p = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
            table.insert(table.columns.get_loc(column) + 1, column[:-1] + "q", bh_qvalues(p))
    return table


def results_frame(results: Mapping[str, Any] | None) -> pd.DataFrame | None:
    """One row per drug of per-drug result objects (their ``to_frame()``), ``drug`` first, each per-drug p
    (:data:`PER_DRUG_P`) with its q over the drugs beside it; None when empty."""
    if not results:
        return None
    frames = []
    for drug, result in results.items():
        if not hasattr(result, "to_frame"):
            raise InputError(
                f"result for drug {drug!r} has no to_frame(); pass organoidrx.evaluation result objects."
            )
        frame = result.to_frame()
        frame.insert(0, "drug", str(drug))
        frames.append(frame)
    return insert_qvalues(pd.concat(frames, ignore_index=True))
