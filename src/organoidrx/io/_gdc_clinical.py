"""The NCI GDC portal's clinical download (``clinical.tsv``) as a survival and treatment table."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._clinical import (
    _best_response,
    _check_covariates,
    _clean,
    _numeric,
    _read_table,
    _typed,
    normalize_response,
)
from organoidrx.io._gdc import _pick
from organoidrx.io._tables import display_name as _display

logger = logging.getLogger(__name__)

__all__ = ["is_gdc_clinical", "read_gdc_clinical"]

# Column names of the two layouts the portal has written: flat (until 2024) and prefixed by entity (portal 2.0).
_COLUMNS = {
    "patient": ("case_submitter_id", "cases.submitter_id", "submitter_id"),
    "vital_status": ("vital_status", "demographic.vital_status"),
    "days_to_death": ("days_to_death", "demographic.days_to_death"),
    "last_follow_up": ("days_to_last_follow_up", "diagnoses.days_to_last_follow_up"),
    "follow_up": ("follow_ups.days_to_follow_up",),
    "agent": ("therapeutic_agents", "treatments.therapeutic_agents"),
    "given": ("treatment_or_therapy", "treatments.treatment_or_therapy"),
    "outcome": ("treatment_outcome", "treatments.treatment_outcome"),
    "tumor": ("classification_of_tumor", "diagnoses.classification_of_tumor"),
}
_VITAL = {"DEAD": 1.0, "DECEASED": 1.0, "ALIVE": 0.0, "LIVING": 0.0}
# Agent cells that name no agent.
_NO_AGENT = frozenset({"UNKNOWN", "NOT REPORTED", "NOT APPLICABLE", "NONE"})
# The follow-up table of the portal's clinical download (follow_up.tsv): one row per follow-up of a case.
_FOLLOW_UP = {
    "patient": ("cases.submitter_id", "case_submitter_id"),
    "days": ("follow_ups.days_to_follow_up",),
}


def is_gdc_clinical(columns: Iterable[str]) -> bool:
    """Whether a header is that of a GDC portal ``clinical.tsv``: a case submitter id (a bare ``submitter_id``
    beside ``case_id`` or ``project_id``, as the 2019 portal and TCGAbiolinks write it) and a vital status."""
    names = [str(c) for c in columns]
    lowered = {c.strip().lower() for c in names}
    patient = _pick(names, _COLUMNS["patient"])
    if (
        patient is not None
        and patient.strip().lower() == "submitter_id"
        and not lowered & {"case_id", "project_id"}
    ):
        return False
    return patient is not None and _pick(names, _COLUMNS["vital_status"]) is not None


def read_gdc_clinical(
    path: str | os.PathLike[str],
    *,
    follow_up: str | os.PathLike[str] | None = None,
    covariates: Sequence[str] = (),
) -> pd.DataFrame:
    """Read the GDC portal's ``clinical.tsv`` into ``patient, time, event, drug, response`` (one row per patient
    and drug).

    Parameters
    ----------
    path : path
        The clinical download of the GDC data portal (``clinical.tsv``, optionally gzipped), in any layout the
        portal has written: flat columns (``case_submitter_id`` or, before 2020, ``submitter_id``,
        ``vital_status``, ``days_to_death``, ``days_to_last_follow_up``, ``therapeutic_agents``,
        ``treatment_outcome`` ...) or columns prefixed by their entity (``cases.submitter_id``,
        ``demographic.vital_status``, ``treatments.therapeutic_agents`` ...). The portal writes one row per case,
        diagnosis and treatment; ``'--`` is a missing value.
    follow_up : path, optional
        The download's ``follow_up.tsv`` (``cases.submitter_id``, ``follow_ups.days_to_follow_up``): a living
        patient's time is then the last contact of either file.
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
        A column of the case id, vital status or follow-up missing; a patient recorded both dead and alive.

    Notes
    -----
    The time is ``days_to_death`` for a dead patient and, for a living one, the largest follow-up recorded
    (``days_to_last_follow_up`` of every diagnosis, and ``days_to_follow_up`` of ``follow_up``), as in TCGA-CDR
    (Liu et al. 2018, doi:10.1016/j.cell.2018.02.052). Patients left out, and counted in a warning: a vital
    status of 'Not Reported' or 'Unknown'; dead without ``days_to_death`` or alive without follow-up; a negative
    time (a data error of the source: TCGA-PL-A8LV's last follow-up is -7 days). Treatments give no drug when
    ``treatment_or_therapy`` is 'no', when the agent is 'Unknown' or 'Not Reported', or when they treated a
    prior cancer (``classification_of_tumor`` 'Prior primary').
    """
    name = _display(path)
    table = _read_table(path)
    columns = list(table.columns)
    found = {role: _pick(columns, names) for role, names in _COLUMNS.items()}
    lacking = [_COLUMNS[r][0] for r in ("patient", "vital_status") if found[r] is None]
    if found["days_to_death"] is None and found["last_follow_up"] is None:
        lacking.append("days_to_death or days_to_last_follow_up")
    if lacking:
        raise InputError(
            f"{name}: a GDC clinical.tsv needs columns {lacking} (or their 'demographic.' / 'diagnoses.' / "
            f"'cases.' forms); found {examples(columns, 8)}. Download 'Clinical' as TSV from the GDC portal."
        )
    _check_covariates(table, covariates, name)
    patient = _clean(table[found["patient"]])
    if patient.isna().any():
        lines = (np.flatnonzero(patient.isna()) + 2).tolist()
        raise InputError(f"{name}: {len(lines)} rows have no case submitter id (lines {examples(lines)}).")
    vital_text = _clean(table[found["vital_status"]]).astype("string").str.upper()
    rows = pd.DataFrame(
        {
            "patient": patient.astype(str),
            "event": vital_text.map(_VITAL).astype(float),
            "death": _days(table, found["days_to_death"], name),
            "follow": _days(table, found["last_follow_up"], name),
        }
    )
    per_patient = rows.groupby("patient", sort=False).agg(
        dead=("event", "max"), alive=("event", "min"), death=("death", "max"), follow=("follow", "max")
    )
    if follow_up is not None:
        later = _follow_ups(follow_up)
        per_patient["follow"] = np.fmax(per_patient["follow"], later.reindex(per_patient.index).to_numpy())
    both = per_patient.index[(per_patient["dead"] == 1) & (per_patient["alive"] == 0)]
    if len(both):
        raise InputError(
            f"{name}: {len(both)} patients are recorded both dead and alive (first: {examples(list(both))}); "
            "fix their vital_status."
        )
    event = per_patient["dead"]
    time = per_patient["death"].where(event == 1, per_patient["follow"]).where(event.notna())
    negative = time < 0
    if negative.any():
        logger.warning(
            "%s: %d patients have a negative follow-up time and are left out (e.g. %s: %g days)",
            name,
            int(negative.sum()),
            examples(list(time.index[negative])),
            float(time[negative].iloc[0]),
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
    survival = pd.DataFrame({"time": time, "event": event})[~missing & ~negative]
    treatments = _treatments(table, found, rows["patient"], name)
    out = survival.rename_axis("patient").reset_index()
    out = out.merge(treatments, on="patient", how="left", sort=False)
    for column in covariates:
        first = _clean(table[column]).groupby(rows["patient"], sort=False).first()
        out[column] = out["patient"].map(_typed(first))
    out["event"] = out["event"].astype(int)
    logger.info(
        "%s: %d patients with survival, %d with a recorded therapeutic agent",
        name,
        len(survival),
        int(out.loc[out["drug"].notna(), "patient"].nunique()),
    )
    return out.reset_index(drop=True)


def _days(table: pd.DataFrame, column: str | None, name: str) -> pd.Series:
    """A column of days as floats (missing when the file has no such column)."""
    if column is None:
        return pd.Series(np.nan, index=table.index)
    return _numeric(table[column], name=name, column=column)


def _follow_ups(path: str | os.PathLike[str]) -> pd.Series:
    """The last follow-up day per case of a GDC ``follow_up.tsv``."""
    name = _display(path)
    table = _read_table(path)
    patient, days = (_pick(list(table.columns), _FOLLOW_UP[role]) for role in ("patient", "days"))
    if patient is None or days is None:
        raise InputError(
            f"{name}: a GDC follow_up.tsv needs columns 'cases.submitter_id' and 'follow_ups.days_to_follow_up'; "
            f"found {examples(list(table.columns), 8)}."
        )
    values = _days(table, days, name)
    return values.groupby(_clean(table[patient]).astype(str), sort=False).max()


def _treatments(
    table: pd.DataFrame, found: dict[str, str | None], patient: pd.Series, name: str
) -> pd.DataFrame:
    """One row per patient and recorded agent with its best outcome (``drug``, ``response``)."""
    if found["agent"] is None:
        return pd.DataFrame({"patient": pd.Series(dtype=str), "drug": [], "response": []})
    agent = _clean(table[found["agent"]])
    agent = agent.where(
        ~agent.astype("string").str.upper().isin(_NO_AGENT).fillna(False).to_numpy(dtype=bool)
    )
    keep = agent.notna().to_numpy(dtype=bool)
    if found["given"] is not None:
        keep &= ~_clean(table[found["given"]]).astype("string").str.upper().eq("NO").fillna(False).to_numpy(
            bool
        )
    if found["tumor"] is not None:
        prior = _clean(table[found["tumor"]]).astype("string").str.upper().eq("PRIOR PRIMARY").fillna(False)
        prior_rows = keep & prior.to_numpy(dtype=bool)
        if prior_rows.any():
            logger.info(
                "%s: %d treatment records of a prior cancer (classification_of_tumor 'Prior primary') give no drug",
                name,
                int(prior_rows.sum()),
            )
        keep &= ~prior.to_numpy(dtype=bool)
    outcome = (
        normalize_response(table[found["outcome"]]).to_numpy()
        if found["outcome"] is not None
        else np.full(len(table), np.nan)
    )
    records = pd.DataFrame({"patient": patient.to_numpy(), "drug": agent.to_numpy(), "response": outcome})[
        keep
    ]
    return records.groupby(["patient", "drug"], sort=False)["response"].agg(_best_response).reset_index()
