"""The end-to-end run: load and reconcile inputs, proximity, ssGSEA, organoid models, patients, outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from organoidrx._compute import dask_backend
from organoidrx.evaluation import InteractionResult, ResponseAUCResult, SurvivalResult
from organoidrx.models import (
    ModelBundle,
)
from organoidrx.pipeline._config import PipelineConfig, apply_overrides, read_config
from organoidrx.pipeline._inputs import (
    input_files,
    load_inputs,
    run_proximity,
)
from organoidrx.pipeline._organoids import biomarker_table, fit_models, organoid_cv
from organoidrx.pipeline._outputs import RunFolder, write_run_outputs
from organoidrx.pipeline._patients import run_patients
from organoidrx.pipeline._progress import Progress, Timer, collect_warnings
from organoidrx.pipeline._work import check_work
from organoidrx.scoring import rescorer, score

logger = logging.getLogger(__name__)

__all__ = ["RunResult", "run_pipeline"]


@dataclass
class RunResult:
    """Everything a run produced; the tables are also written as TSV files into ``out_dir``.

    Attributes
    ----------
    out_dir : Path
        The output folder (its final place, also while the run is written into a temporary sibling).
    proximity, biomarkers, organoid_cv, cv_predictions : DataFrame
    model_selection : DataFrame or None
        With several candidate models or top-k: one row per drug and candidate (see
        :func:`organoidrx.models.selection_table`).
    patient_predictions, survival : DataFrame or None
        ``None`` in preclinical-only mode.
    survival_results, interactions, response_auc : dict of drug to result
    bundles : dict of drug to ModelBundle
        The fitted organoid model of every drug, as ``train`` saves it.
    warnings : list of str
    timings : dict of phase to seconds
    report : Path or None
    inputs : dict
        Path and SHA-256 of every input file, taken before the run read it (``run.json``'s ``inputs``).
    """

    out_dir: Path
    proximity: pd.DataFrame
    biomarkers: pd.DataFrame
    organoid_cv: pd.DataFrame
    cv_predictions: pd.DataFrame
    model_selection: pd.DataFrame | None = None
    patient_predictions: pd.DataFrame | None = None
    survival: pd.DataFrame | None = None
    survival_results: dict[str, SurvivalResult] = field(default_factory=dict)
    interactions: dict[str, InteractionResult] = field(default_factory=dict)
    response_auc: dict[str, ResponseAUCResult] = field(default_factory=dict)
    bundles: dict[str, ModelBundle] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    report: Path | None = None
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- pipeline
def _scores(cfg: PipelineConfig, expression: pd.DataFrame, gene_sets: pd.DataFrame) -> pd.DataFrame:
    return score(
        expression,
        gene_sets,
        method=cfg.scorer,
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        **cfg.options("scorer"),
    )


def run_pipeline(
    config: PipelineConfig | str | Path,
    out_dir: str | Path | RunFolder,
    *,
    report: bool = True,
    write: bool = True,
    patients: bool = True,
    cross_validate: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
    **overrides: Any,
) -> RunResult:
    """Run the whole pipeline of a configuration and write its outputs into ``out_dir``.

    Parameters
    ----------
    config : PipelineConfig or path
        A configuration from :func:`read_config` or the path of a TOML file.
    out_dir : str or Path or RunFolder
        Output folder (created). Receives ``proximity.tsv``, ``biomarkers.tsv``, ``organoid_cv.tsv``,
        ``organoid_cv_predictions.tsv``, ``model_selection.tsv`` (with candidate models or top-k) and, with
        patients, ``patient_predictions.tsv``, ``patient_drug_sensitivity.tsv`` and ``survival.tsv``; then
        ``report.html`` with PNG figures and ``run.json``. The whole run is written into a temporary sibling
        ``.NAME.organoidrx-XXXXXXXX.tmp`` and replaces the folder whole at the end, so the folder never mixes two
        runs and a killed run leaves it as it was. A :class:`~organoidrx.pipeline._outputs.RunFolder` that is
        already staged is written into as is and swapped in by its owner (the demo writes its cohort into the same folder).
    report : bool, default True
        Write ``report.html`` and the figures.
    write : bool, default True
        Write the tables and ``run.json``; ``False`` only computes (``report`` is then ignored).
    patients : bool, default True
        Run the patient half when the configuration has ``[patients]``; ``False`` stops after the organoid models.
    cross_validate : bool, default True
        Cross-validate the organoid models (leave-one-organoid-out, nested selection included); ``False`` only
        with ``write=False`` (``organoid_cv`` and ``cv_predictions`` are then empty), as ``train`` does.
    overwrite : bool, default False
        Replace a non-empty ``out_dir`` (a previous run or anything else) whole. Without it a non-empty folder is
        refused before anything is computed.
        A :class:`~organoidrx.pipeline._outputs.RunFolder` carries its own ``overwrite``.
    progress : callable, optional
        ``progress(phase, done, total)``, called as each phase starts and ends and per drug, distance block,
        null-draw block and permutation within it (the command line draws it as progress bars). Without it,
        long loops log their progress at every tenth.
    **overrides
        Settings replacing the configuration's (e.g. ``n_permutations=200``).

    Returns
    -------
    RunResult

    Raises
    ------
    InputError
        On an unusable configuration or input: missing files, unknown drugs (with close matches), fewer than 3
        organoids with a response for a drug, no patient treated with a drug, mismatched identifiers; on an
        ``out_dir`` that is not empty without ``overwrite``, is a file or holds one of the run's inputs.

    Notes
    -----
    Per drug: pathways with proximity :math:`z \\le -1.2816` (Guney et al. 2016) are the features; their ssGSEA
    scores are z-scored over the organoids and a :class:`~organoidrx.models.DrugResponseModel` (``model``,
    ``top_k``) is fitted to the response; when ``model`` or ``top_k`` list candidates, they are chosen by the
    leave-one-out error over the organoids, and the organoid CV repeats that choice inside every outer fold.
    Patients are scored with the same model after standardising each
    pathway over the patient cohort (or aligning the cohort to the organoids), split at the ``quantile`` of the
    treated patients' predictions, and compared with Kaplan-Meier, log-rank and Cox (lifelines). The
    whole-pipeline permutation p permutes organoid responses among organoids, refits the model, re-splits the
    patients and recomputes the one-sided log-rank statistic (predicted responders living longer):
    :math:`p = (1 + \\#\\{s_b \\ge s\\}) / (1 + B)`.

    References
    ----------
    Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8.
    Guney E. et al. (2016) Nat Commun 7:10331, doi:10.1038/ncomms10331.
    """
    if write and not cross_validate:
        raise ValueError("cross_validate=False computes no organoid_cv.tsv to write; pass write=False too.")
    cfg = config if isinstance(config, PipelineConfig) else read_config(config)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    folder = out_dir if isinstance(out_dir, RunFolder) else RunFolder(Path(out_dir), overwrite=overwrite)
    if write:
        folder.check(input_files(cfg).values())  # refuse before computing anything
    out = folder.final
    timer = Timer(progress)
    with collect_warnings() as collected, dask_backend(cfg.dask):
        with timer.phase("load"):
            loaded = load_inputs(cfg)
            check_work(cfg, loaded)
        with timer.phase("proximity", show=cfg.proximity is not None):
            prox = run_proximity(
                cfg,
                loaded,
                None if progress is None else (lambda p, d, t: timer.report(f"proximity: {p}", d, t)),
            )[cfg.measure]
        with timer.phase(f"{cfg.scorer} organoids"):
            organoid_scores = _scores(cfg, loaded.organoid_expression, loaded.gene_sets)
        with timer.phase("organoid models", total=len(loaded.drugs)):
            models = fit_models(cfg, loaded, prox, organoid_scores, timer.callback("organoid models"))
            biomarkers = biomarker_table(models, prox)
        cv, cv_predictions, selection = pd.DataFrame(), pd.DataFrame(), None
        if cross_validate:
            with timer.phase("organoid cv", show=False):
                rescore = rescorer(
                    loaded.organoid_expression, loaded.gene_sets, method=cfg.scorer, min_size=cfg.min_size,
                    max_size=cfg.max_size, **cfg.options("scorer"),
                )  # fmt: skip
                cv, cv_predictions, selection = organoid_cv(
                    cfg, models, organoid_scores, loaded.response, timer, rescore
                )
        result = RunResult(
            out_dir=out,
            proximity=prox,
            biomarkers=biomarkers,
            organoid_cv=cv,
            cv_predictions=cv_predictions,
            model_selection=selection,
            bundles={d: m.bundle for d, m in models.items()},
            models={d: m.fitted for d, m in models.items()},
            inputs=loaded.checksums,
        )
        if patients and loaded.patient_expression is not None:
            with timer.phase(f"{cfg.scorer} patients"):
                patient_scores = _scores(cfg, loaded.patient_expression, loaded.gene_sets)
            run_patients(cfg, loaded, models, organoid_scores, patient_scores, result, timer, collected)
        elif not cfg.has_patients:
            logger.info("no [patients] section: preclinical-only mode (proximity, biomarkers, organoid CV)")
    result.warnings = list(collected.messages)
    result.timings = dict(timer.timings)
    if not write:
        return result
    if folder.staging is not None:
        write_run_outputs(cfg, result, loaded.matching, folder, timer, report=report)
    else:
        with folder.staged(input_files(cfg).values()):
            write_run_outputs(cfg, result, loaded.matching, folder, timer, report=report)
    return result
