"""``train``: fit the organoid models of a configuration and save them as bundles; ``predict``: score new samples."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from organoidrx._utils import InputError
from organoidrx.evaluation import ResponderSplit, assign_groups
from organoidrx.io import read_expression, read_gmt
from organoidrx.models import load_bundle, predict_cohort, save_bundle
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._outputs import write_tsv
from organoidrx.pipeline._run import run_pipeline
from organoidrx.scoring import score

logger = logging.getLogger(__name__)

__all__ = ["predict_with_bundle", "train_bundles"]


def _safe(name: str) -> str:
    from organoidrx.report import safe_filename

    return safe_filename(name)


def train_bundles(
    config: PipelineConfig | str | Path, out_dir: str | Path, **overrides: Any
) -> dict[str, Path]:
    """Fit every drug's organoid model of a configuration and save one bundle per drug.

    Parameters
    ----------
    config : PipelineConfig or path
        The run configuration (see :func:`run_pipeline`).
    out_dir : str or Path
        Folder receiving one bundle folder per drug (``<drug>/manifest.json`` + ``arrays/*.npy``).
    **overrides
        Settings replacing the configuration's.

    Returns
    -------
    dict of str to Path
        Drug -> bundle path.

    Notes
    -----
    The models are fitted exactly as :func:`run_pipeline` fits them. Each bundle holds, beside the model, the
    gene sets of its pathways, the ssGSEA settings, the organoids' scores of its pathways (for aligned
    predictions) and, when the configuration has patients, the patients' mean and scale of those scores and the
    responder cut-off, so that :func:`predict_with_bundle` needs only the bundle and an expression file.
    """
    result = run_pipeline(config, out_dir, write=False, report=False, n_permutations=0, **overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for drug, fitted in result.models.items():
        path = out / _safe(drug)
        save_bundle(path, fitted, metadata=result.bundles[drug].metadata)
        paths[drug] = path
        logger.info("%s: bundle written to %s", drug, path)
    return paths


def predict_with_bundle(
    bundle: str | os.PathLike[str],
    expression: str | os.PathLike[str] | pd.DataFrame,
    *,
    gene_sets: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Predict drug response of new samples (a cohort or one patient) with a bundle written by ``train``.

    Parameters
    ----------
    bundle : path
        A bundle folder or ``.zip``, or a folder written by :func:`train_bundles` (every drug); its checksum is verified (a modified or foreign bundle is refused).
    expression : path or DataFrame
        Expression of the new samples (a file is genes x samples; a DataFrame samples x genes).
    gene_sets : path, optional
        GMT file; default the gene sets stored in the bundle.
    out : path, optional
        When given, the table is written there as TSV (atomically).

    Returns
    -------
    DataFrame
        Columns ``patient, drug, predicted_response, group``. The group uses the cut-off learned on the training
        patients when the bundle has one, otherwise the bundle's quantile of these samples.

    Raises
    ------
    InputError
        On an unreadable or tampered bundle, or expression lacking the genes of the model's pathways.
    """
    folder = Path(bundle)
    if folder.is_dir() and not (folder / "manifest.json").exists():
        found = sorted(p.parent for p in folder.glob("*/manifest.json"))
        if not found:
            raise InputError(
                f"{folder}: holds no bundle (no manifest.json); pass a folder written by 'organoidrx train'."
            )
        tables = [predict_with_bundle(p, expression, gene_sets=gene_sets) for p in found]
        table = pd.concat(tables, ignore_index=True)
        if out is not None:
            write_tsv(table, out)
        return table
    model = load_bundle(bundle)
    meta = model.metadata
    if "gene_sets" not in meta or not ("scoring" in meta or "ssgsea" in meta):
        raise InputError(
            f"{bundle}: this bundle was not written by 'organoidrx train' (no gene sets stored); "
            "retrain it with 'organoidrx train CONFIG --out DIR'."
        )
    data = read_expression(expression)
    if gene_sets is not None:
        sets: Any = read_gmt(gene_sets)
    else:
        sets = {p: list(g) for p, g in meta["gene_sets"].items()}
    if "scoring" in meta:
        scoring = meta["scoring"]
    else:  # bundles written before scorers were registered: ssGSEA
        old = meta["ssgsea"]
        scoring = {
            "method": "ssgsea",
            "min_size": old["min_size"],
            "max_size": old["max_size"],
            "options": {"normalize": old["normalize"]},
        }
    scores = score(
        data,
        sets,
        method=scoring["method"],
        min_size=scoring["min_size"],
        max_size=scoring["max_size"],
        **scoring["options"],
    )
    predicted = predict_cohort(model, scores, alignment=meta.get("alignment", "standardize"))
    lower = bool(meta.get("lower_is_sensitive", True))
    if meta.get("cutoff") is not None:
        groups = assign_groups(predicted, float(meta["cutoff"]), lower_is_sensitive=lower)
    elif len(predicted) >= 2:
        logger.info("the bundle holds no patient cut-off: samples split at their own quantile")
        split = ResponderSplit(float(meta.get("quantile", 0.5)), lower).fit(predicted)
        groups = split.transform(predicted)
    else:
        logger.info("the bundle holds no patient cut-off and one sample cannot be split: group left empty")
        groups = pd.Series([pd.NA] * len(predicted), index=predicted.index)
    table = pd.DataFrame(
        {
            "patient": predicted.index,
            "drug": model.drug,
            "predicted_response": predicted.to_numpy(),
            "group": groups.to_numpy(),
        }
    )
    if out is not None:
        write_tsv(table, out)
    return table
