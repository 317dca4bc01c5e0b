"""Writing a run's outputs: the TSV tables, the patients x drugs table and ``run.json``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from organoidrx import __version__
from organoidrx._utils import atomic_write, sha256_file, versions, write_tsv
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._inputs import input_files

if TYPE_CHECKING:
    from organoidrx.pipeline._run import RunResult

__all__ = ["parameters", "sensitivity_matrix", "write_run_json", "write_tables", "write_tsv"]


def parameters(cfg: PipelineConfig) -> dict[str, Any]:
    params = cfg.to_dict()
    params.pop("source", None)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def sensitivity_matrix(patient_predictions: pd.DataFrame) -> pd.DataFrame:
    """Patients x drugs table of predicted response (first column ``patient``; lower = more sensitive).

    Every patient is scored with every drug's model, so this table ranks drugs within a patient as well as
    patients within a drug; survival is only tested on the patients treated with each drug.
    """
    wide = patient_predictions.pivot(index="patient", columns="drug", values="predicted_response")
    wide = wide.reindex(
        index=pd.unique(patient_predictions["patient"]), columns=pd.unique(patient_predictions["drug"])
    )
    wide.columns.name = None
    return wide.rename_axis("patient").reset_index()


def write_tables(result: RunResult) -> None:
    out = result.out_dir
    write_tsv(result.proximity, out / "proximity.tsv")
    write_tsv(result.biomarkers, out / "biomarkers.tsv")
    write_tsv(result.organoid_cv, out / "organoid_cv.tsv")
    write_tsv(result.cv_predictions, out / "organoid_cv_predictions.tsv")
    if result.patient_predictions is not None:
        write_tsv(result.patient_predictions, out / "patient_predictions.tsv")
        write_tsv(sensitivity_matrix(result.patient_predictions), out / "patient_drug_sensitivity.tsv")
    if result.survival is not None:
        write_tsv(result.survival, out / "survival.tsv")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def write_run_json(cfg: PipelineConfig, result: RunResult, matching: Mapping[str, Any]) -> None:
    record = {
        "organoidrx": __version__,
        "config": str(cfg.source),
        "seed": cfg.seed,
        "parameters": parameters(cfg),
        "mode": "preclinical-only" if result.survival is None else "organoids and patients",
        "drugs": list(result.bundles),
        "matching": matching,
        "versions": versions(),
        "inputs": {
            name: {"path": str(p), "sha256": sha256_file(p)}
            for name, p in input_files(cfg).items()
            if Path(p).is_file()
        },
        "timings_seconds": {k: round(v, 4) for k, v in result.timings.items()},
        "warnings": result.warnings,
        "outputs": sorted(
            p.name
            for p in result.out_dir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name != "run.json"
        ),
    }
    with atomic_write(result.out_dir / "run.json", "w", encoding="utf-8") as handle:
        json.dump(_jsonable(record), handle, indent=2, allow_nan=False)
        handle.write("\n")
