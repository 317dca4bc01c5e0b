"""The patient half of a run's inputs: expression and clinical table matched by patient and by drug."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io import read_clinical, read_expression, reconcile_sample_ids, tcga_tumour_samples
from organoidrx.io._clinical import TCGA_SAMPLE, best_response
from organoidrx.io._drug_names import cell_drug_keys
from organoidrx.io._gdc_clinical import is_gdc_clinical, read_gdc_clinical
from organoidrx.io._tables import read_header
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._schema import SCHEMA

if TYPE_CHECKING:
    from organoidrx.pipeline._inputs import Inputs

logger = logging.getLogger(__name__)

__all__ = ["load_patients", "treated_rows"]


def _tcga_patient_rows(expression: pd.DataFrame, patients: pd.Series, name: str) -> pd.DataFrame:
    """Expression rows renamed to patient barcodes when they are TCGA sample barcodes and the clinical table names
    12-character patients (one tumour sample per patient, :func:`organoidrx.io.tcga_tumour_samples`)."""
    ids = pd.Series(patients.astype(str).unique())
    if not (ids.str.len() == 12).all() or not ids.str.upper().str.startswith("TCGA-").all():
        return expression
    if expression.index.isin(ids).any():
        return expression
    chosen = tcga_tumour_samples(expression.index, name=name)
    if not chosen:
        return expression
    return expression.loc[list(chosen)].rename(index=chosen)


def _read_clinical(cfg: PipelineConfig) -> pd.DataFrame:
    """The clinical table: a GDC portal clinical.tsv when it is one and no column was named, else the generic
    table of ``[patients]``'s columns."""
    assert cfg.clinical is not None
    cols = cfg.clinical_columns
    keys = ("patient_col", "duration_col", "event_col", "drug_col")
    defaults = {option.name: option.default for option, _ in SCHEMA["patients"] if option.name in keys}
    named = [key for key, default in defaults.items() if cols.get(key) not in (None, default)]
    header = read_header(cfg.clinical)
    generic = {defaults["duration_col"], defaults["event_col"]} <= {h.strip().lower() for h in header}
    if not named and not generic and is_gdc_clinical(header):
        if cfg.time_unit != "days":
            raise InputError(
                f"{cfg.clinical.name}: a GDC clinical.tsv counts time in days; remove [patients] time_unit "
                f"= {cfg.time_unit!r}."
            )
        beside = cfg.clinical.parent / "follow_up.tsv"
        if cfg.follow_up is None and beside.is_file():
            logger.warning(
                '%s: %s lies beside it but is not read; set [patients] follow_up = "follow_up.tsv" so that '
                "living patients' later contacts count",
                cfg.clinical.name,
                beside.name,
            )
        logger.info("%s: read as a GDC portal clinical.tsv", cfg.clinical.name)
        return read_gdc_clinical(cfg.clinical, follow_up=cfg.follow_up, covariates=list(cfg.covariates))
    if cfg.follow_up is not None:
        raise InputError(
            f"[patients] follow_up is for a GDC portal clinical.tsv; {cfg.clinical.name} is read as a plain "
            "clinical table (its follow-up time column is the time): remove follow_up."
        )
    return read_clinical(
        cfg.clinical,
        patient_col=cols.get("patient_col") or "patient",
        duration_col=cols.get("duration_col") or "time",
        event_col=cols.get("event_col") or "event",
        drug_col=cols.get("drug_col") or "drug",
        response_col=cols.get("response_col"),
        time_unit=cfg.time_unit,  # type: ignore[arg-type]
        covariates=list(cfg.covariates),
    )


def load_patients(cfg: PipelineConfig, loaded: Inputs) -> None:
    """Read ``[patients]`` into ``loaded``: the expression (TCGA samples as their patients), the clinical rows
    with expression, each row's drug keys, and the matching counts; a requested drug no patient had is an error."""
    assert cfg.patient_expression is not None and cfg.clinical is not None
    expression = read_expression(cfg.patient_expression, duplicates=cfg.duplicates)  # type: ignore[arg-type]
    clinical = _read_clinical(cfg)
    expression = _tcga_patient_rows(expression, clinical["patient"], cfg.patient_expression.name)
    mapping = reconcile_sample_ids(expression.index, clinical["patient"], what="patients")
    n_rows, given = len(clinical), list(pd.unique(clinical["patient"].astype(str)))
    clinical = clinical.assign(patient=clinical["patient"].map(mapping)).dropna(subset=["patient"])
    if clinical.empty:
        barcodes = all(TCGA_SAMPLE.match(str(i)) for i in [*given[:20], *list(expression.index)[:20]])
        raise InputError(
            f"{cfg.clinical.name}: none of its {n_rows} patient ids (e.g. {examples(given)}) "
            f"is a sample of {cfg.patient_expression.name} (ids like {examples(list(expression.index))}); "
            + (
                "both name TCGA samples, at different levels: give the clinical table 12-character patient "
                "barcodes (TCGA-AA-3492), which are matched to each patient's tumour sample."
                if barcodes
                else "the two files must name patients alike."
            )
        )
    if len(clinical) < n_rows:
        logger.warning(
            "%d of %d clinical rows have no expression profile in %s; they are left out",
            n_rows - len(clinical),
            n_rows,
            cfg.patient_expression.name,
        )
    unlisted = sorted(set(expression.index) - set(clinical["patient"]))
    if unlisted:
        logger.warning(
            "%d of %d patients of %s have no clinical row in %s (e.g. %s); they enter the cohort's "
            "standardisation or alignment and are predicted, but count as treated with no drug and have no outcome",
            len(unlisted),
            expression.shape[0],
            cfg.patient_expression.name,
            cfg.clinical.name,
            examples(unlisted),
        )
    drug_values = clinical["drug"].dropna().astype(str)
    drug_values = drug_values[drug_values.str.strip() != ""]
    cells = sorted(drug_values.unique())
    keys = cell_drug_keys(loaded.resolver, cells)
    known = set(loaded.resolver.canonical_names) | {loaded.drug_keys[d] for d in loaded.drugs}
    _warn_unknown_cells(cfg.clinical.name, cells, keys, known)
    _warn_differing_survival(cfg.clinical.name, clinical)
    clinical["drug_keys"] = clinical["drug"].map(
        lambda d: keys.get(str(d), frozenset()) if isinstance(d, str) else frozenset()
    )
    treated = {}
    for drug in loaded.drugs:
        key = loaded.drug_keys[drug]
        treated[drug] = len(treated_rows(clinical, key))
        combined = sorted({c for c in cells if key in keys[c] and keys[c] != frozenset([key])})
        if combined:
            logger.info(
                "%s: %s counts %d patients, with combination or regimen cells such as %s",
                cfg.clinical.name,
                drug,
                treated[drug],
                examples(combined, 4),
            )
    untreated = [drug for drug in loaded.drugs if treated[drug] == 0]
    if untreated:
        raise InputError(
            f"{cfg.clinical.name}: no patient with expression was treated with {', '.join(untreated)} (drugs in the "
            f"table: {examples(cells, 6)}); check the drug column, or leave {'it' if len(untreated) == 1 else 'them'} "
            "out of [drugs] names (a run without [patients] covers the organoids of every drug)."
        )
    loaded.patient_expression = expression
    loaded.clinical = clinical.reset_index(drop=True)
    loaded.matching["patients_with_expression"] = int(expression.shape[0])
    loaded.matching["clinical_rows_used"] = len(clinical)
    loaded.matching["treated_patients"] = treated


def _warn_unknown_cells(
    name: str, cells: list[str], keys: dict[str, frozenset[str]], known: set[str]
) -> None:
    """Say which drug cells count for no drug, and which count only for the part of them that is known."""
    nothing = [c for c in cells if not keys[c] & known]
    if nothing:
        logger.warning(
            "%s: %d drug cells name no drug a synonym table knows, so they count for no drug (e.g. %s); if one is "
            "a requested drug, spell it as the drug tables do",
            name,
            len(nothing),
            examples(nothing, 5),
        )
    partly = [c for c in cells if keys[c] & known and not keys[c] <= known]
    if partly:
        shown = [f"{sorted(keys[c] - known)[0]!r} in {c!r}" for c in partly[:3]]
        logger.warning(
            "%s: %d drug cells also name something no synonym table knows (%s%s); they count for the drugs of "
            "theirs that are known",
            name,
            len(partly),
            ", ".join(shown),
            f" (+{len(partly) - 3} more)" if len(partly) > 3 else "",
        )


def _warn_differing_survival(name: str, clinical: pd.DataFrame) -> None:
    """Warn about patients whose rows (one per drug) give different follow-up times or events."""
    counts = clinical.groupby("patient", sort=False)[["time", "event"]].nunique()
    differing = counts.index[(counts > 1).any(axis=1)]
    if len(differing):
        logger.warning(
            "%s: %d patients have rows with different follow-up times or events (e.g. %s); each drug's analysis "
            "uses the patient's first row of that drug",
            name,
            len(differing),
            examples(list(differing)),
        )


def treated_rows(clinical: pd.DataFrame, key: str) -> pd.DataFrame:
    """One clinical row per patient treated with the drug of matching ``key`` (any drug of a cell counts); a
    patient with several such rows (``5 FU`` and ``Fluorouracil``) gets the best response of them."""
    rows = clinical[[key in keys for keys in clinical["drug_keys"]]]
    first = rows.drop_duplicates("patient")
    if "response" in rows.columns and len(first) < len(rows):
        best = rows.groupby("patient", sort=False)["response"].agg(best_response)
        first = first.assign(response=first["patient"].map(best).to_numpy())
    return first.reset_index(drop=True)
