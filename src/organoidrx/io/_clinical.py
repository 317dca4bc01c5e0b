"""Clinical readers: survival tables, TCGA BCR biotab patient/drug tables, TCGA-CDR, curated drug responses.

Every reader returns a long table with one row per patient (or per patient and drug) and the columns
``patient, time, event[, drug][, response]``: ``time`` in days, ``event`` 1 for death (or the endpoint) and 0 for
censoring, ``response`` one of ``CR, PR, SD, PD`` (RECIST-like best response) when the source has it.
"""

from __future__ import annotations

import io as _io
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from organoidrx._units import DAYS_PER_UNIT, TimeUnit
from organoidrx._utils import InputError, examples
from organoidrx.io._drug_names import DrugNameResolver
from organoidrx.io._tables import (
    NA_VALUES,
    default_delimiter,
    find_column,
    first_ragged_line,
    read_text,
    sniff_delimiter,
    split_fields,
)
from organoidrx.io._tables import display_name as _display

logger = logging.getLogger(__name__)

__all__ = [
    "normalize_response",
    "read_clinical",
    "read_tcga_biotab_drug",
    "read_tcga_biotab_patient",
    "read_tcga_cdr",
    "read_tcga_drug_response",
    "tcga_treated_cohort",
    "tcga_tumour_samples",
]

Endpoint = Literal["OS", "DSS", "DFI", "PFI"]

# BCR biotab placeholders: '[Not Available]', '[Not Applicable]', '[Unknown]', '[Discrepancy]', '[Completed]' ...
_PLACEHOLDER = re.compile(r"^\s*\[[^\]]*\]\s*$")
_MISSING_STRINGS = frozenset(value.upper() for value in NA_VALUES)
_RESPONSES = ("CR", "PR", "SD", "PD")
_RESPONSE_MAP = {
    "CR": "CR",
    "COMPLETE RESPONSE": "CR",
    "COMPLETE REMISSION": "CR",
    "COMPLETE REMISSION/RESPONSE": "CR",
    "PR": "PR",
    "PARTIAL RESPONSE": "PR",
    "PARTIAL REMISSION": "PR",
    "PARTIAL REMISSION/RESPONSE": "PR",
    "SD": "SD",
    "STABLE DISEASE": "SD",
    "PD": "PD",
    "PROGRESSIVE DISEASE": "PD",
    "CLINICAL PROGRESSIVE DISEASE": "PD",
    "RADIOGRAPHIC PROGRESSIVE DISEASE": "PD",
}
_EVENT_WORDS = {
    "1": 1,
    "0": 0,
    "TRUE": 1,
    "FALSE": 0,
    "DEAD": 1,
    "ALIVE": 0,
    "DECEASED": 1,
    "LIVING": 0,
    "1:DECEASED": 1,
    "0:LIVING": 0,
}


# --------------------------------------------------------------------------------------------------- parsing
def _read_table(
    path: str | os.PathLike[str], *, encoding: str = "utf-8-sig", sep: str | None = None
) -> pd.DataFrame:
    """Whole delimited file as strings (no type guessing); empty, binary or undecodable files are InputErrors."""
    name = _display(path)
    text = read_text(path, encoding=encoding)
    lines = text.split("\n", 40)[:40]
    if not any(line.strip() for line in lines):
        raise InputError(f"{name}: the file is empty; expected a table with a header line.")
    if sep is None:
        sep = sniff_delimiter([line for line in lines if line.strip()][:20], default_delimiter(path))
    try:
        table = pd.read_csv(
            _io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[], quotechar='"'
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(
            f"{name}: cannot be parsed as a delimited table ({' '.join(str(exc).split())})."
        ) from None
    first = next(line for line in text.split("\n") if line.strip())
    header = [h.strip() for h in split_fields(first.rstrip("\r"), sep)]
    repeated = pd.Index([h for h in header if h])
    # pandas reads a repeated name's second column as 'time.1'; a reader that uses that name refuses it
    table.attrs["repeated"] = [str(h) for h in repeated[repeated.duplicated()].unique()]
    ragged = first_ragged_line(
        text.split("\n"), sep, table.shape[1]
    )  # pandas pads a short line with empty cells
    if ragged is not None:
        raise InputError(
            f"{name}: line {ragged[0]} has {ragged[1]} fields but the header has {table.shape[1]}; the file may be "
            "truncated or use a different delimiter there."
        )
    table.columns = [str(c).strip() for c in table.columns]
    return table


_NUMBER = r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?\s*"


def _to_float(values: pd.Series) -> pd.Series:
    """Strings that spell a decimal number -> float, everything else NaN.

    Cells are screened with a regular expression before conversion: pandas' own string-to-number parser can
    crash the interpreter on some hexadecimal strings (MD5 sums in GDC manifests).
    """
    text = values.astype("string")
    plausible = text.str.fullmatch(_NUMBER).fillna(False).astype(bool)
    out = pd.Series(np.nan, index=values.index, dtype=float)
    if plausible.any():
        out[plausible] = [float(v) for v in text[plausible]]
    return out


def _clean(values: pd.Series) -> pd.Series:
    """Strip strings and turn blanks, 'NA' and bracketed biotab placeholders into missing values."""
    text = values.astype("string").str.strip()
    missing = (
        text.isna() | text.str.upper().isin(_MISSING_STRINGS) | text.str.match(_PLACEHOLDER).fillna(False)
    )
    return text.mask(missing).astype(object).where(~missing, np.nan)


def _numeric(values: pd.Series, *, name: str, column: str) -> pd.Series:
    cleaned = _clean(values)
    numbers = _to_float(cleaned)
    bad = cleaned[cleaned.notna() & numbers.isna()]
    if len(bad):
        raise InputError(
            f"{name}: column {column!r} must hold numbers; found {examples(bad.unique())}; "
            "fix or blank those cells."
        )
    huge = cleaned[np.isinf(numbers)]
    if len(huge):
        raise InputError(
            f"{name}: column {column!r} holds a value too large for a float ({examples(huge.unique())}); fix "
            "those cells."
        )
    return numbers.astype(float)


def _format_set(values: Iterable[Any]) -> str:
    shown = []
    for v in values:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        shown.append(v)
    try:
        shown = sorted(set(shown))
    except TypeError:
        shown = sorted(set(shown), key=str)
    return "{" + ", ".join(repr(v) for v in shown[:10]) + (", ..." if len(shown) > 10 else "") + "}"


def _parse_event(values: pd.Series, *, name: str, column: str) -> pd.Series:
    """0/1, booleans, dead/alive, deceased/living (any case) -> 0/1 floats; anything else is an InputError."""
    out = pd.Series(np.nan, index=values.index, dtype=float)
    bad: list[Any] = []
    for index, value in values.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if isinstance(value, bool | np.bool_):
            out[index] = float(value)
            continue
        if isinstance(value, int | float | np.integer | np.floating):
            if value in (0, 1):
                out[index] = float(value)
            else:
                bad.append(value)
            continue
        text = str(value).strip()
        if not text or text.upper() in _MISSING_STRINGS or _PLACEHOLDER.match(text):
            continue
        key = text.upper()
        if key in _EVENT_WORDS:
            out[index] = float(_EVENT_WORDS[key])
            continue
        try:
            number = float(text)
        except ValueError:
            bad.append(text)
            continue
        if number in (0.0, 1.0):
            out[index] = number
        else:
            bad.append(number)
    if bad:
        raise InputError(
            f"{name}: column {column!r} must be 0/1 or boolean; found values {_format_set(bad)}."
            " Use 1 (or dead/deceased) for the event and 0 (or alive/living) for censoring."
        )
    return out


def normalize_response(values: Iterable[Any]) -> pd.Series:
    """Map RECIST-like response labels to ``CR``, ``PR``, ``SD``, ``PD``; anything else becomes missing.

    'Complete Response', 'Complete Remission/Response', 'Partial Response', 'Stable Disease',
    'Clinical Progressive Disease', 'Radiographic Progressive Disease' and the abbreviations are recognised, in any
    case. Biotab placeholders ('[Not Available]') and unknown labels are missing.
    """
    series = pd.Series(list(values), dtype=object)
    keys = _clean(series).astype("string").str.upper().str.replace(r"\s+", " ", regex=True)
    return keys.map(_RESPONSE_MAP).astype(object).where(keys.map(_RESPONSE_MAP).notna(), np.nan)


def _check_covariates(table: pd.DataFrame, covariates: Sequence[str], name: str) -> None:
    absent = [c for c in covariates if c not in table.columns]
    if absent:
        raise InputError(
            f"{name}: covariates {absent} are not columns (columns: {examples(list(table.columns), 10)}); "
            "check the names in [patients] covariates."
        )
    for column in covariates:
        _require(table, column, name=name, what="covariate", parameter="covariates")


def _typed(cleaned: pd.Series) -> pd.Series:
    """A covariate's cleaned cells as numbers when every present one is a number, else as text."""
    numbers = _to_float(cleaned)
    numeric = bool(cleaned.notna().any()) and bool((numbers.notna() == cleaned.notna()).all())
    return numbers if numeric else cleaned


def _best_response(responses: pd.Series) -> Any:
    present = [r for r in _RESPONSES if r in set(responses.dropna())]
    return present[0] if present else np.nan


def best_response(responses: pd.Series) -> Any:
    """The best RECIST-like label of a patient's records (CR, then PR, SD, PD); without one, the first label
    recorded; missing when there is none."""
    best = _best_response(responses)
    if isinstance(best, str):
        return best
    recorded = responses.dropna()
    return recorded.iloc[0] if len(recorded) else np.nan


def _require(table: pd.DataFrame, column: str | None, *, name: str, what: str, parameter: str) -> str:
    if column is None or column not in table.columns:
        raise InputError(
            f"{name}: no {what} column {column!r}; the columns are {examples(list(table.columns), 8)}; "
            f"name it with [patients] {parameter} in a run config ({parameter}= in Python)."
        )
    if column in table.attrs.get("repeated", ()):
        raise InputError(
            f"{name}: the {what} column {column!r} appears more than once in the header; make the column names "
            "unique."
        )
    return column


def check_roles(name: str, *, covariates: Sequence[str] = (), **columns: str | None) -> None:
    """Refuse one column named for two roles (the event column as the duration): every role reads its own."""
    seen: dict[str, str] = {}
    named = [(role, column) for role, column in columns.items() if column is not None]
    named += [("covariates", column) for column in covariates]
    for role, column in named:
        if column in seen:
            raise InputError(
                f"{name}: column {column!r} is named for two roles ({seen[column]} and {role}); name a different "
                "column for each (the [patients] keys of a run config)."
            )
        seen[column] = role


# --------------------------------------------------------------------------------------------------- generic
def read_clinical(
    path: str | os.PathLike[str],
    *,
    patient_col: str | None = "patient",
    duration_col: str = "time",
    event_col: str = "event",
    drug_col: str | None = None,
    response_col: str | None = None,
    time_unit: TimeUnit = "days",
    covariates: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a survival table (CSV/TSV, optionally gzipped) into ``patient, time, event[, drug][, response]``.

    Parameters
    ----------
    path : path
        Delimited text file with one row per patient (or per patient and drug); the delimiter (tab or comma) is
        detected from the header line.
    patient_col : str or None, default "patient"
        Column of patient ids. ``None`` numbers the rows 1, 2, ... (logged), which no expression file matches
        unless its samples are named so.
    duration_col, event_col : str, default "time", "event"
        Source columns of the follow-up time and the event indicator, named as in lifelines. The event may be
        0/1, boolean (true/false) or the words dead/alive, deceased/living (any case).
    drug_col, response_col : str, optional
        Source columns of the drug and of the clinical response. RECIST-like labels are normalised to
        ``CR, PR, SD, PD`` (see :func:`normalize_response`); other labels are kept as given.
    time_unit : {"days", "weeks", "months", "years"}, default "days"
        Unit of ``duration_col``; the output ``time`` is always in days (1 month = 365.25 / 12 days).
    covariates : sequence of str, default ()
        Further columns carried into the output under their own names (e.g. ``age``, ``stage``): numbers when
        every present value is a number, else text; blanks, 'NA' and biotab placeholders are missing.

    Returns
    -------
    DataFrame of shape (n_patients, 3 to 5)
        Columns ``patient`` (str), ``time`` (float, days, >= 0), ``event`` (int 0/1), then ``drug`` and
        ``response`` when requested, in file order.

    Raises
    ------
    InputError
        Missing columns, one column named for two roles (``duration_col`` = ``event_col``), a line with fewer
        fields than the header, a column it reads named twice in the header, an event value other than the
        accepted ones, a negative time (the message names the patient), non-numeric or infinite times, or a
        patient listed twice (twice for the same drug when ``drug_col`` is given).

    Notes
    -----
    Rows with a missing time or event are dropped and counted in a warning. Biotab placeholders such as
    '[Not Available]' count as missing.
    """
    if time_unit not in DAYS_PER_UNIT:
        raise InputError(f"time_unit must be one of {sorted(DAYS_PER_UNIT)}; got {time_unit!r}.")
    name = _display(path)
    table = _read_table(path)
    if table.empty:
        raise InputError(f"{name}: the table has a header but no rows.")
    check_roles(
        name,
        patient_col=patient_col,
        duration_col=duration_col,
        event_col=event_col,
        drug_col=drug_col,
        response_col=response_col,
        covariates=covariates,
    )
    duration = _require(table, duration_col, name=name, what="duration", parameter="duration_col")
    event = _require(table, event_col, name=name, what="event", parameter="event_col")
    if patient_col is not None:
        _require(table, patient_col, name=name, what="patient id", parameter="patient_col")
        patients = _clean(table[patient_col])
        if patients.isna().any():
            rows = (np.flatnonzero(patients.isna()) + 2).tolist()
            raise InputError(
                f"{name}: column {patient_col!r} has {len(rows)} empty patient ids (lines {examples(rows)})."
            )
        patients = patients.astype(str)
    else:
        logger.info("%s: patient_col=None; numbering the %d rows 1..%d", name, len(table), len(table))
        patients = pd.Series([str(i + 1) for i in range(len(table))], index=table.index)
    out = pd.DataFrame(
        {
            "patient": patients,
            "time": _numeric(table[duration], name=name, column=duration) * DAYS_PER_UNIT[time_unit],
            "event": _parse_event(table[event], name=name, column=event),
        }
    )
    if drug_col is not None:
        out["drug"] = _clean(table[_require(table, drug_col, name=name, what="drug", parameter="drug_col")])
    if response_col is not None:
        column = _require(table, response_col, name=name, what="response", parameter="response_col")
        out["response"] = _response_column(table[column], name=name, column=column)
    _check_covariates(table, covariates, name)
    for column in covariates:
        out[column] = _typed(_clean(table[column]))
    negative = out[out["time"] < 0]
    if len(negative):
        first = negative.iloc[0]
        raise InputError(
            f"{name}: patient {first['patient']!r} has a negative time ({first['time']:g} days) in column "
            f"{duration!r} ({len(negative)} patients in all); survival times must be >= 0."
        )
    missing = out["time"].isna() | out["event"].isna()
    if missing.any():
        logger.warning(
            "%s: dropped %d of %d patients with a missing %r or %r (first: %s)",
            name,
            int(missing.sum()),
            len(out),
            duration,
            event,
            examples(out.loc[missing, "patient"]),
        )
        out = out.loc[~missing]
    keys = ["patient", "drug"] if drug_col is not None else ["patient"]
    duplicated = out[out.duplicated(keys, keep=False)]
    if len(duplicated):
        what = "patient and drug" if drug_col is not None else "patient"
        raise InputError(
            f"{name}: {duplicated['patient'].nunique()} patients appear more than once per {what} "
            f"(first: {examples(duplicated['patient'].unique())}); keep one row per {what}"
            + ("" if drug_col is not None else " or pass drug_col= if rows are per drug")
            + "."
        )
    out["event"] = out["event"].astype(int)
    return out.reset_index(drop=True)


def _response_column(values: pd.Series, *, name: str, column: str) -> pd.Series:
    cleaned = _clean(values)
    mapped = normalize_response(cleaned).set_axis(values.index)
    unknown = cleaned[cleaned.notna() & mapped.isna()]
    if mapped.notna().any() and len(unknown):
        logger.warning(
            "%s: %d values of %r are not RECIST-like responses and are set missing: %s",
            name,
            len(unknown),
            column,
            examples(unknown.unique()),
        )
    if mapped.isna().all():
        return cleaned
    return mapped


# --------------------------------------------------------------------------------------------------- TCGA
# '-' or '.' between the fields: R's make.names writes TCGA-AA-3492-01A as TCGA.AA.3492.01A
TCGA_SAMPLE = re.compile(r"^(TCGA[-.][A-Z0-9]{2}[-.][A-Z0-9]{4})[-.](\d{2})([A-Z]?)", re.IGNORECASE)


def tcga_tumour_samples(sample_ids: Iterable[Any], *, name: str = "expression") -> dict[str, str]:
    """One tumour sample per patient: ``{sample barcode: 12-character patient barcode}``.

    Parameters
    ----------
    sample_ids : iterable of str
        TCGA sample or aliquot barcodes (``TCGA-AA-3492-01A...``, or ``TCGA.AA.3492.01A...`` as R writes column
        names), e.g. the rows of a matrix read with :func:`organoidrx.io.read_gdc_expression`; other ids are
        ignored.
    name : str, default "expression"
        What the ids belong to, for the log message.

    Returns
    -------
    dict of str to str
        Per patient its tumour sample (sample type 01-09) of the lowest type code (01, primary tumour, first),
        then the lowest vial letter, then the first in sorted order. Normal (10-19) and control (20-29) samples
        and further tumour samples of the same patient are absent; a log line counts them with examples.

    Examples
    --------
    >>> tcga_tumour_samples(["TCGA-AA-3492-11A", "TCGA-AA-3492-01A", "TCGA-D5-6531-06A", "TCGA-D5-6531-01B"])
    {'TCGA-AA-3492-01A': 'TCGA-AA-3492', 'TCGA-D5-6531-01B': 'TCGA-D5-6531'}
    """
    best: dict[str, tuple[int, str, str]] = {}
    normal: list[str] = []
    n_tumour = 0
    for sample in dict.fromkeys(str(s) for s in sample_ids):
        match = TCGA_SAMPLE.match(sample)
        if match is None:
            continue
        patient, code, vial = (
            match.group(1).upper().replace(".", "-"),
            int(match.group(2)),
            match.group(3).upper(),
        )
        if code >= 10:
            normal.append(sample)
            continue
        n_tumour += 1
        rank = (code, vial, sample)
        if patient not in best or rank < best[patient]:
            best[patient] = rank
    chosen = {rank[2]: patient for patient, rank in best.items()}
    extra = n_tumour - len(chosen)
    if normal or extra:
        logger.warning(
            "%s: TCGA sample barcodes matched to patients by their tumour sample (%d patients); left out %d normal "
            "or control samples%s and %d further tumour samples of the same patients (primary tumour 01 first)",
            name,
            len(chosen),
            len(normal),
            f" (e.g. {examples(normal)})" if normal else "",
            extra,
        )
    elif chosen:
        logger.info(
            "%s: TCGA sample barcodes matched to patients by their tumour sample (%d)", name, len(chosen)
        )
    return chosen


def _tcga_rows(table: pd.DataFrame, *, name: str, barcode_col: str = "bcr_patient_barcode") -> pd.DataFrame:
    """Drop the biotab's extra header rows (and an R rownames column); keep rows with a TCGA barcode."""
    first = table.columns[0]
    if first in ("", "Unnamed: 0") or first.startswith("Unnamed:"):
        table = table.drop(columns=first)
    if barcode_col not in table.columns:
        raise InputError(
            f"{name}: not a TCGA clinical table: no {barcode_col!r} column (columns: "
            f"{examples(list(table.columns), 6)})."
        )
    barcodes = table[barcode_col].astype("string").str.strip()
    keep = barcodes.str.startswith("TCGA-").fillna(False)
    if not keep.any():
        raise InputError(
            f"{name}: no row has a TCGA barcode in {barcode_col!r} (values like "
            f"{examples(barcodes.dropna().unique())}); expected barcodes such as 'TCGA-A6-2671'."
        )
    dropped = int((~keep).sum())
    if dropped > 2:
        logger.info("%s: skipped %d rows without a TCGA barcode (header and CDE rows)", name, dropped)
    table = table.loc[keep].copy()
    table[barcode_col] = barcodes[keep].str.slice(0, 12).astype(str)
    return table.reset_index(drop=True)


def read_tcga_biotab_patient(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a TCGA BCR biotab patient table (``nationwidechildrens.org_clinical_patient_<type>.txt``).

    Also reads the same table written by R (comma-separated, with a rownames first column).

    Parameters
    ----------
    path : path
        The biotab file; its two extra header rows (alternative names, CDE ids) are skipped.

    Returns
    -------
    DataFrame of shape (n_patients, 7)
        Columns ``patient`` (12-character barcode), ``time`` (days; ``death_days_to`` when dead, else
        ``last_contact_days_to``), ``event`` (1 dead, 0 alive, missing otherwise), ``vital_status``, ``age``
        (years at diagnosis), ``sex`` and ``stage`` (AJCC pathologic stage). Patients without usable survival
        keep missing ``time``/``event`` and are counted in a warning.

    Raises
    ------
    InputError
        No ``bcr_patient_barcode`` column, no TCGA barcode, no vital-status column, or duplicated patients.

    Notes
    -----
    Bracketed placeholders ('[Not Available]', '[Not Applicable]', '[Unknown]', '[Discrepancy]', '[Completed]'
    ...) are missing values. Older releases name the columns ``days_to_death`` / ``days_to_last_followup``; both
    spellings are accepted. Negative times are set missing with a warning.
    """
    name = _display(path)
    table = _tcga_rows(_read_table(path), name=name)
    columns = list(table.columns)
    status_col = find_column(columns, ["vital_status"])
    if status_col is None:
        raise InputError(f"{name}: a biotab patient table needs a 'vital_status' column; none found.")
    status = _clean(table[status_col]).astype("string").str.upper()
    event = status.map({"DEAD": 1.0, "DECEASED": 1.0, "ALIVE": 0.0, "LIVING": 0.0}).astype(float)
    death_col = find_column(columns, ["death_days_to", "days_to_death"])
    contact_col = find_column(
        columns, ["last_contact_days_to", "days_to_last_followup", "days_to_last_follow_up"]
    )
    if death_col is None or contact_col is None:
        raise InputError(
            f"{name}: a biotab patient table needs 'death_days_to' and 'last_contact_days_to' columns "
            f"(or days_to_death / days_to_last_followup); found {examples(columns, 6)}."
        )
    death = _to_float(_clean(table[death_col]))
    contact = _to_float(_clean(table[contact_col]))
    time = death.where(event == 1, contact).where(event.notna())
    negative = time < 0
    if negative.any():
        logger.warning(
            "%s: %d patients have a negative survival time and are treated as missing (first: %s)",
            name,
            int(negative.sum()),
            examples(table.loc[negative, "bcr_patient_barcode"]),
        )
        time = time.mask(negative)
    age_col = find_column(columns, ["age_at_initial_pathologic_diagnosis", "age_at_diagnosis"])
    birth_col = find_column(columns, ["birth_days_to", "days_to_birth"])
    if age_col is not None:
        age = _to_float(_clean(table[age_col]))
    elif birth_col is not None:
        age = -_to_float(_clean(table[birth_col])) / 365.25
    else:
        age = pd.Series(np.nan, index=table.index)
    sex_col = find_column(columns, ["gender", "sex"])
    stage_col = find_column(columns, ["ajcc_pathologic_tumor_stage", "pathologic_stage"])
    out = pd.DataFrame(
        {
            "patient": table["bcr_patient_barcode"],
            "time": time.astype(float),
            "event": event.where(time.notna()),
            "vital_status": _clean(table[status_col]),
            "age": age.astype(float),
            "sex": _clean(table[sex_col]) if sex_col else np.nan,
            "stage": _clean(table[stage_col]) if stage_col else np.nan,
        }
    )
    duplicated = out["patient"][out["patient"].duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"{name}: {len(duplicated)} patient barcodes appear twice (first: {examples(duplicated)}); "
            "a biotab patient table has one row per patient."
        )
    unusable = out["time"].isna() | out["event"].isna()
    if unusable.any():
        logger.warning(
            "%s: %d of %d patients have no usable survival (missing vital status or days; first: %s)",
            name,
            int(unusable.sum()),
            len(out),
            examples(out.loc[unusable, "patient"]),
        )
    return out


_DRUG_COLUMNS = {
    "drug_name": ["pharmaceutical_therapy_drug_name", "drug_name"],
    "therapy_type": ["pharmaceutical_therapy_type", "therapy_type", "therapy_types"],
    "start_days": ["pharmaceutical_tx_started_days_to", "days_to_drug_therapy_start"],
    "end_days": ["pharmaceutical_tx_ended_days_to", "days_to_drug_therapy_end"],
    "response": ["treatment_best_response", "measure_of_response"],
}


def read_tcga_biotab_drug(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read TCGA drug-treatment records: a BCR biotab drug table or a TCGAbiolinks ``drug`` table.

    Parameters
    ----------
    path : path
        ``nationwidechildrens.org_clinical_drug_<type>.txt`` (columns ``pharmaceutical_therapy_drug_name``,
        ``treatment_best_response`` ...) or the TCGAbiolinks ``GDCprepare_clinic(..., "drug")`` export
        (``drug_name``, ``measure_of_response``, ``days_to_drug_therapy_start`` ...).

    Returns
    -------
    DataFrame of shape (n_records, 6)
        Columns ``patient`` (12-character barcode), ``drug_name`` (free text as recorded), ``therapy_type``,
        ``start_days``, ``end_days`` (days from diagnosis) and ``response`` (``CR, PR, SD, PD`` or missing).
        One row per record; resolve ``drug_name`` with :class:`DrugNameResolver` or use
        :func:`tcga_treated_cohort`.

    Raises
    ------
    InputError
        No barcode column, no TCGA barcode, or no drug-name column.
    """
    name = _display(path)
    table = _tcga_rows(_read_table(path), name=name)
    columns = list(table.columns)
    drug_col = find_column(columns, _DRUG_COLUMNS["drug_name"])
    if drug_col is None:
        raise InputError(
            f"{name}: a TCGA drug table needs a 'pharmaceutical_therapy_drug_name' or 'drug_name' column; "
            f"found {examples(columns, 6)}."
        )
    out = pd.DataFrame({"patient": table["bcr_patient_barcode"], "drug_name": _clean(table[drug_col])})
    for column in ("therapy_type", "start_days", "end_days", "response"):
        source = find_column(columns, _DRUG_COLUMNS[column])
        if source is None:
            out[column] = np.nan
        elif column in ("start_days", "end_days"):
            out[column] = _to_float(_clean(table[source])).astype(float)
        elif column == "response":
            out[column] = normalize_response(table[source]).to_numpy()
        else:
            out[column] = _clean(table[source])
    missing = out["drug_name"].isna()
    if missing.any():
        logger.info("%s: %d drug records have no drug name", name, int(missing.sum()))
    return out


def tcga_treated_cohort(
    patient_table: pd.DataFrame,
    drug_table: pd.DataFrame,
    drug: str,
    *,
    resolver: DrugNameResolver | None = None,
    include_regimens: bool = True,
) -> pd.DataFrame:
    """Patients with a record of ``drug`` and usable survival: the cohort to test a drug-response predictor on.

    Parameters
    ----------
    patient_table : DataFrame
        Columns ``patient, time, event`` (from :func:`read_tcga_biotab_patient`, :func:`read_tcga_cdr` or
        :func:`read_clinical`).
    drug_table : DataFrame
        Columns ``patient`` and ``drug_name`` (or ``drug``), optionally ``response`` (from
        :func:`read_tcga_biotab_drug` or :func:`read_tcga_drug_response`).
    drug : str
        The drug, in any spelling the resolver knows ('5-FU', 'Fluorouracil').
    resolver : DrugNameResolver, optional
        Defaults to the built-in tables (``DrugNameResolver()``); pass one with a DrugBank vocabulary for rarer
        drugs.
    include_regimens : bool, default True
        Whether a regimen name implies its drugs ('FOLFOX' counts as fluorouracil). Combination cells
        ('Oxaliplatin + 5-FU') are always split.

    Returns
    -------
    DataFrame of shape (n_patients, 4 or 5)
        Columns ``patient, time, event, drug`` (the canonical name) and ``response`` when ``drug_table`` has
        one: the best response over the patient's records of the drug (CR > PR > SD > PD), sorted by patient.

    Raises
    ------
    InputError
        The drug name does not resolve, or no patient has both a record of it and usable survival.

    Notes
    -----
    Drug cells are split into components and resolved with :meth:`DrugNameResolver.components`; a patient is
    in the cohort when any component of any record resolves to the drug. Patients with a record but without
    survival are counted in a warning.
    """
    resolver = resolver if resolver is not None else DrugNameResolver()
    target = resolver.resolve([drug])
    canonical = target["canonical"].iloc[0]
    if not isinstance(canonical, str):
        raise InputError(
            f"drug {drug!r} is not a known drug name; give its common name (e.g. 'FLUOROURACIL') or pass a "
            "resolver with synonyms= or drugbank=."
        )
    patients = _as_clinical_frame(patient_table, name="patient_table")
    name_col = "drug_name" if "drug_name" in drug_table.columns else "drug"
    if "patient" not in drug_table.columns or name_col not in drug_table.columns:
        raise InputError(
            f"drug_table needs columns 'patient' and 'drug_name' (or 'drug'); has {list(drug_table.columns)}."
        )
    names = drug_table[name_col].dropna().astype(str).unique()
    components = resolver.components(names)
    if not include_regimens:
        components = components[components["method"] != "regimen"]
    matching = set(components.loc[components["canonical"] == canonical, "name"])
    records = drug_table[drug_table[name_col].isin(matching)]
    if records.empty:
        raise InputError(
            f"no record in drug_table names {canonical} (drug names look like {examples(names, 5)})."
        )
    logger.info(
        "%s: %d records of %d patients match (%s)",
        canonical,
        len(records),
        records["patient"].nunique(),
        examples(sorted(matching), 6),
    )
    treated = pd.DataFrame({"patient": sorted(records["patient"].astype(str).unique())})
    if "response" in records.columns:
        best = records.groupby("patient")["response"].agg(_best_response)
        treated["response"] = treated["patient"].map(best)
    cohort = treated.merge(patients[["patient", "time", "event"]], on="patient", how="left")
    unusable = cohort["time"].isna() | cohort["event"].isna()
    if unusable.any():
        logger.warning(
            "%s: %d of %d treated patients have no usable survival and are left out (first: %s)",
            canonical,
            int(unusable.sum()),
            len(cohort),
            examples(cohort.loc[unusable, "patient"]),
        )
    cohort = cohort.loc[~unusable].copy()
    if cohort.empty:
        raise InputError(f"none of the {len(treated)} patients treated with {canonical} has usable survival.")
    cohort["drug"] = canonical
    cohort["event"] = cohort["event"].astype(int)
    order = ["patient", "time", "event", "drug"] + (["response"] if "response" in cohort.columns else [])
    return cohort[order].reset_index(drop=True)


def _as_clinical_frame(clinical: Any, *, name: str = "clinical") -> pd.DataFrame:
    """Check an in-memory clinical table (``patient, time, event``) and return a copy with string patient ids."""
    if not isinstance(clinical, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame; got {type(clinical).__name__}.")
    missing = [c for c in ("patient", "time", "event") if c not in clinical.columns]
    if missing:
        raise InputError(f"{name} is missing columns {missing} (has {list(clinical.columns)}).")
    out = clinical.copy()
    out["patient"] = out["patient"].astype(str)
    return out


def read_tcga_cdr(
    path: str | os.PathLike[str],
    *,
    cancer_type: str | Sequence[str] | None = None,
    endpoint: Endpoint = "OS",
) -> pd.DataFrame:
    """Read the TCGA Pan-Cancer Clinical Data Resource (Liu et al. 2018, Table S1) as a survival table.

    Parameters
    ----------
    path : path
        TSV/CSV (optionally gzipped) with columns ``bcr_patient_barcode, type``, the endpoint and
        ``<endpoint>.time``.
    cancer_type : str or sequence of str, optional
        TCGA study abbreviations to keep ('COAD', ['COAD', 'READ']); default all.
    endpoint : {"OS", "DSS", "DFI", "PFI"}, default "OS"
        Overall, disease-specific survival, disease-free interval or progression-free interval.

    Returns
    -------
    DataFrame of shape (n_patients, 6)
        Columns ``patient, time`` (days), ``event`` (0/1), ``cancer_type``, ``age`` (years at diagnosis) and
        ``stage`` (AJCC pathologic stage, placeholders missing). Patients without the endpoint are dropped and
        counted in a warning.

    Raises
    ------
    InputError
        Missing columns, or a cancer type absent from the file (the message lists those present).

    References
    ----------
    Liu J. et al. (2018) An integrated TCGA pan-cancer clinical data resource to drive high-quality survival
    outcome analytics. Cell 173:400. doi:10.1016/j.cell.2018.02.052
    """
    if endpoint not in ("OS", "DSS", "DFI", "PFI"):
        raise InputError(f"endpoint must be one of 'OS', 'DSS', 'DFI', 'PFI'; got {endpoint!r}.")
    name = _display(path)
    table = _tcga_rows(_read_table(path), name=name)
    for column in ("type", endpoint, f"{endpoint}.time"):
        if column not in table.columns:
            raise InputError(
                f"{name}: not a TCGA-CDR table: no {column!r} column (columns: {examples(list(table.columns), 6)})."
            )
    if cancer_type is not None:
        wanted = [cancer_type] if isinstance(cancer_type, str) else list(cancer_type)
        wanted = [w.upper().removeprefix("TCGA-") for w in wanted]
        present = sorted(table["type"].dropna().unique())
        absent = [w for w in wanted if w not in present]
        if absent:
            raise InputError(f"{name}: no patients of cancer type {absent}; the file has {present}.")
        table = table[table["type"].isin(wanted)].reset_index(drop=True)
    time = _numeric(table[f"{endpoint}.time"], name=name, column=f"{endpoint}.time")
    event = _parse_event(_clean(table[endpoint]), name=name, column=endpoint)
    age_col = find_column(list(table.columns), ["age_at_initial_pathologic_diagnosis", "age"])
    stage_col = find_column(list(table.columns), ["ajcc_pathologic_tumor_stage", "stage"])
    out = pd.DataFrame(
        {
            "patient": table["bcr_patient_barcode"],
            "time": time,
            "event": event,
            "cancer_type": table["type"].astype(str),
            "age": _to_float(_clean(table[age_col])) if age_col else np.nan,
            "stage": _clean(table[stage_col]) if stage_col else np.nan,
        }
    )
    unusable = out["time"].isna() | out["event"].isna() | (out["time"] < 0)
    if unusable.any():
        logger.warning(
            "%s: dropped %d of %d patients without a usable %s (first: %s)",
            name,
            int(unusable.sum()),
            len(out),
            endpoint,
            examples(out.loc[unusable, "patient"]),
        )
        out = out.loc[~unusable]
    duplicated = out["patient"][out["patient"].duplicated()].unique()
    if len(duplicated):
        raise InputError(f"{name}: {len(duplicated)} barcodes appear twice (first: {examples(duplicated)}).")
    out["event"] = out["event"].astype(int)
    return out.reset_index(drop=True)


def read_tcga_drug_response(path: str | os.PathLike[str], *, encoding: str = "latin1") -> pd.DataFrame:
    """Read the curated TCGA drug-response table of Ding, Zu & Gu (2016).

    Parameters
    ----------
    path : path
        Tab-separated file with columns ``cancers, patient.arr, drug.name, drug.id, response`` (CRLF line ends
        are fine).
    encoding : str, default "latin1"
        Text encoding of the file (the public file is Latin-1).

    Returns
    -------
    DataFrame of shape (n_patient_drug_pairs, 5)
        Columns ``patient`` (12-character barcode), ``drug`` (upper-case DrugBank common name), ``response``
        (``CR, PR, SD, PD``), ``cancer`` (TCGA study) and ``drugbank_id``. A patient with several records of the
        same drug keeps the best response (CR > PR > SD > PD); records without a recognised response are
        dropped and counted in a warning.

    References
    ----------
    Ding Z., Zu S., Gu J. (2016) Evaluating the molecule-based prediction of clinical drug responses in cancer.
    Bioinformatics 32:2891. doi:10.1093/bioinformatics/btw344
    """
    name = _display(path)
    table = _read_table(path, encoding=encoding, sep="\t")
    required = {"patient.arr": "patient", "drug.name": "drug", "response": "response"}
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise InputError(
            f"{name}: not a TCGA drug-response table: missing columns {absent} (columns: "
            f"{examples(list(table.columns), 6)})."
        )
    table = _tcga_rows(table.rename(columns={"patient.arr": "bcr_patient_barcode"}), name=name)
    out = pd.DataFrame(
        {
            "patient": table["bcr_patient_barcode"],
            "drug": _clean(table["drug.name"]).astype("string").str.upper().astype(object),
            "response": normalize_response(table["response"]).to_numpy(),
            "cancer": _clean(table["cancers"]) if "cancers" in table.columns else np.nan,
            "drugbank_id": _clean(table["drug.id"]) if "drug.id" in table.columns else np.nan,
        }
    )
    unusable = out["drug"].isna() | out["response"].isna()
    if unusable.any():
        logger.warning(
            "%s: dropped %d of %d records without a drug or a recognised response (first values: %s)",
            name,
            int(unusable.sum()),
            len(out),
            examples(table.loc[unusable, "response"].unique()),
        )
        out = out.loc[~unusable]
    rank = out["response"].map({r: i for i, r in enumerate(_RESPONSES)})
    out = out.assign(_rank=rank).sort_values(["patient", "drug", "_rank"], kind="stable")
    collapsed = out.duplicated(["patient", "drug"])
    if collapsed.any():
        logger.info(
            "%s: %d repeated patient-drug records collapsed to the best response", name, int(collapsed.sum())
        )
    out = out.loc[~collapsed].drop(columns="_rank")
    return out.reset_index(drop=True)
