"""The NCI GDC portal's clinical download (``clinical.tsv``) as a survival and treatment table."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._clinical import _best_response, _clean, _read_table, _to_float, normalize_response
from organoidrx.io._tables import default_delimiter, read_text, sniff_delimiter
from organoidrx.io._tables import display_name as _display

logger = logging.getLogger(__name__)

__all__ = ["is_gdc_clinical", "read_gdc_clinical"]

# Column names of the two layouts the portal has written: flat (until 2024) and prefixed by entity (portal 2.0).
_COLUMNS = {
    "patient": ("case_submitter_id", "cases.submitter_id"),
    "vital_status": ("vital_status", "demographic.vital_status"),
    "days_to_death": ("days_to_death", "demographic.days_to_death"),
    "last_follow_up": ("days_to_last_follow_up", "diagnoses.days_to_last_follow_up"),
    "follow_up": ("follow_ups.days_to_follow_up",),
    "agent": ("therapeutic_agents", "treatments.therapeutic_agents"),
    "given": ("treatment_or_therapy", "treatments.treatment_or_therapy"),
    "outcome": ("treatment_outcome", "treatments.treatment_outcome"),
}
_VITAL = {"DEAD": 1.0, "DECEASED": 1.0, "ALIVE": 0.0, "LIVING": 0.0}


def _pick(columns: Iterable[str], role: str) -> str | None:
    lowered = {str(c).strip().lower(): str(c) for c in columns}
    return next((lowered[c] for c in _COLUMNS[role] if c in lowered), None)


def is_gdc_clinical(columns: Iterable[str]) -> bool:
    """Whether a header is that of a GDC portal ``clinical.tsv`` (a case submitter id and a vital status)."""
    names = list(columns)
    return _pick(names, "patient") is not None and _pick(names, "vital_status") is not None


def gdc_clinical_header(path: str | os.PathLike[str]) -> list[str]:
    """The header fields of a delimited file (for :func:`is_gdc_clinical`)."""
    lines = [line for line in read_text(path).split("\n", 20)[:20] if line.strip()]
    if not lines:
        return []
    sep = sniff_delimiter(lines, default_delimiter(path))
    return [field.strip().strip('"') for field in lines[0].split(sep)]


def read_gdc_clinical(path: str | os.PathLike[str], *, covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Read the GDC portal's ``clinical.tsv`` into ``patient, time, event, drug, response`` (one row per patient
    and drug).

    Parameters
    ----------
    path : path
        The clinical download of the GDC data portal (``clinical.tsv``, optionally gzipped), in either layout the
        portal has written: flat columns (``case_submitter_id``, ``vital_status``, ``days_to_death``,
        ``days_to_last_follow_up``, ``therapeutic_agents``, ``treatment_outcome`` ...) or columns prefixed by
        their entity (``cases.submitter_id``, ``demographic.vital_status``, ``treatments.therapeutic_agents``
        ...). The portal writes one row per case and treatment (and diagnosis); ``'--`` is a missing value.
    covariates : sequence of str, default ()
        Further columns carried into the output under their own names: per patient the first value present,
        numbers when every present value is a number, else text.

    Returns
    -------
    DataFrame
        Columns ``patient`` (the case submitter id, e.g. ``TCGA-AA-3492``), ``time`` (days), ``event`` (1 dead,
        0 alive), ``drug`` (a therapeutic agent as recorded; missing for a patient with none) and ``response``
        (``CR, PR, SD, PD`` from the treatment outcome, best over the patient's records of that agent), then the
        covariates. Patients in file order, their agents in file order.

    Raises
    ------
    InputError
        A column of the case id, vital status or follow-up missing; a patient recorded both dead and alive; a
        negative time.

    Notes
    -----
    The time is ``days_to_death`` for a dead patient and, for a living one, the largest follow-up recorded
    (``days_to_last_follow_up`` of every diagnosis, and ``follow_ups.days_to_follow_up`` where present), as in
    TCGA-CDR (Liu et al. 2018, doi:10.1016/j.cell.2018.02.052). A vital status of 'Not Reported' or 'Unknown', or
    a dead patient without ``days_to_death``, leaves the patient without survival: such patients are left out
    and counted in a warning. A treatment record with ``treatment_or_therapy = no`` gives no drug.
    """
    name = _display(path)
    table = _read_table(path)
    columns = list(table.columns)
    found = {role: _pick(columns, role) for role in _COLUMNS}
    lacking = [_COLUMNS[r][0] for r in ("patient", "vital_status") if found[r] is None]
    if found["days_to_death"] is None and found["last_follow_up"] is None:
        lacking.append("days_to_death or days_to_last_follow_up")
    if lacking:
        raise InputError(
            f"{name}: a GDC clinical.tsv needs columns {lacking} (or their 'demographic.' / 'diagnoses.' / "
            f"'cases.' forms); found {examples(columns, 8)}. Download 'Clinical' as TSV from the GDC portal."
        )
    absent = [c for c in covariates if c not in table.columns]
    if absent:
        raise InputError(
            f"{name}: covariates {absent} are not columns (columns: {examples(columns, 10)}); check the names "
            "in [patients] covariates."
        )
    patient = _clean(table[found["patient"]])
    if patient.isna().any():
        lines = (np.flatnonzero(patient.isna()) + 2).tolist()
        raise InputError(f"{name}: {len(lines)} rows have no case submitter id (lines {examples(lines)}).")

    def numbers(role: str) -> pd.Series:
        column = found[role]
        if column is None:
            return pd.Series(np.nan, index=table.index)
        cleaned = _clean(table[column])
        values = _to_float(cleaned)
        bad = cleaned[cleaned.notna() & values.isna()]
        if len(bad):
            raise InputError(
                f"{name}: column {column!r} must hold numbers of days; found {examples(bad.unique())}."
            )
        return values

    vital_text = _clean(table[found["vital_status"]]).astype("string").str.upper()
    rows = pd.DataFrame(
        {
            "patient": patient.astype(str),
            "event": vital_text.map(_VITAL).astype(float),
            "death": numbers("days_to_death"),
            "follow": pd.concat([numbers("last_follow_up"), numbers("follow_up")], axis=1).max(axis=1),
        }
    )
    per_patient = rows.groupby("patient", sort=False).agg(
        dead=("event", "max"), alive=("event", "min"), death=("death", "max"), follow=("follow", "max")
    )
    both = per_patient.index[(per_patient["dead"] == 1) & (per_patient["alive"] == 0)]
    if len(both):
        raise InputError(
            f"{name}: {len(both)} patients are recorded both dead and alive (first: {examples(list(both))}); "
            "fix their vital_status."
        )
    event = per_patient["dead"]
    time = per_patient["death"].where(event == 1, per_patient["follow"]).where(event.notna())
    negative = time[time < 0]
    if len(negative):
        raise InputError(
            f"{name}: patient {negative.index[0]!r} has a negative time ({negative.iloc[0]:g} days; "
            f"{len(negative)} patients in all); survival times must be >= 0."
        )
    missing = time.isna()
    if missing.any():
        logger.warning(
            "%s: dropped %d of %d patients without survival (vital status not reported, or dead without "
            "days_to_death, or alive without follow-up; first: %s)",
            name,
            int(missing.sum()),
            len(time),
            examples(list(time.index[missing])),
        )
    survival = pd.DataFrame({"time": time, "event": event})[~missing]
    treatments = _treatments(table, found, rows["patient"])
    out = survival.rename_axis("patient").reset_index()
    out = out.merge(treatments, on="patient", how="left", sort=False)
    for column in covariates:
        first = _clean(table[column]).groupby(rows["patient"], sort=False).first()
        values = _to_float(first)
        numeric = bool(first.notna().any()) and bool((values.notna() == first.notna()).all())
        out[column] = out["patient"].map(values if numeric else first)
    out["event"] = out["event"].astype(int)
    logger.info(
        "%s: %d patients with survival, %d with a recorded therapeutic agent",
        name,
        len(survival),
        int(out.loc[out["drug"].notna(), "patient"].nunique()),
    )
    return out.reset_index(drop=True)


def _treatments(table: pd.DataFrame, found: dict[str, str | None], patient: pd.Series) -> pd.DataFrame:
    """One row per patient and recorded agent with its best outcome (``drug``, ``response``)."""
    if found["agent"] is None:
        return pd.DataFrame({"patient": pd.Series(dtype=str), "drug": [], "response": []})
    agent = _clean(table[found["agent"]])
    given = _clean(table[found["given"]]).astype("string").str.upper() if found["given"] else None
    keep = agent.notna() & (given.ne("NO").fillna(True) if given is not None else True)
    outcome = (
        normalize_response(table[found["outcome"]])
        if found["outcome"]
        else pd.Series(np.nan, index=range(len(table)))
    )
    records = pd.DataFrame({"patient": patient, "drug": agent, "response": outcome.to_numpy()})[
        keep.to_numpy()
    ]
    return records.groupby(["patient", "drug"], sort=False)["response"].agg(_best_response).reset_index()
