"""The end-to-end run: load and reconcile inputs, proximity, ssGSEA, organoid models, patients, outputs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from organoidrx._registry import get_method
from organoidrx._utils import InputError, examples, sha256_file
from organoidrx._validation import as_gene_set_dict
from organoidrx.evaluation import InteractionResult, ResponseAUCResult, SurvivalResult
from organoidrx.models import (
    ModelBundle,
    cross_validate_response,
    fit_drug_model,
    in_memory_bundle,
    make_response_pipeline,
    proximal_pathways,
)
from organoidrx.network import PROXIMAL_Z
from organoidrx.pipeline._config import PipelineConfig, apply_overrides, read_config
from organoidrx.pipeline._inputs import (
    MIN_ORGANOIDS,
    Inputs,
    check_work,
    input_files,
    load_inputs,
    run_proximity,
)
from organoidrx.pipeline._outputs import RunFolder, write_run_outputs
from organoidrx.pipeline._patients import run_patients
from organoidrx.pipeline._progress import Progress, Timer, collect_warnings
from organoidrx.scoring import score

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
    patient_predictions, survival : DataFrame or None
        ``None`` in preclinical-only mode.
    survival_results, interactions, response_auc : dict of drug to result
    bundles : dict of drug to ModelBundle
        The fitted organoid model of every drug, as ``train`` saves it.
    warnings : list of str
    timings : dict of phase to seconds
    report : Path or None
    """

    out_dir: Path
    proximity: pd.DataFrame
    biomarkers: pd.DataFrame
    organoid_cv: pd.DataFrame
    cv_predictions: pd.DataFrame
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


def _bundle_metadata(
    cfg: PipelineConfig,
    drug: str,
    features: list[str],
    organoid_scores: pd.DataFrame,
    gene_sets: dict[str, list[str]],
    all_pathways: list[str],
) -> dict[str, Any]:
    scorer = get_method("scorer", cfg.scorer)
    options = cfg.options("scorer")
    coupled = scorer.attrs.get("cohort_dependent_options", {})
    # a score that depends on the whole scored table needs every pathway to be rescored the same way
    whole_table = not scorer.sample_independent or any(options.get(k) == v for k, v in coupled.items())
    kept = all_pathways if whole_table else features
    return {
        "drug": drug,
        "response_metric": cfg.response_metric,
        "lower_is_sensitive": cfg.lower_is_sensitive,
        "alignment": cfg.alignment,
        "alignment_options": cfg.options("alignment"),
        "quantile": cfg.quantile,
        "scoring": {
            "method": cfg.scorer,
            "min_size": cfg.min_size,
            "max_size": cfg.max_size,
            "options": options,
        },
        "gene_sets": {p: gene_sets[p] for p in kept},
        "organoid_scores": {f: organoid_scores[f].tolist() for f in features},
        "organoid_samples": [str(s) for s in organoid_scores.index],
        "config_sha256": sha256_file(cfg.source),
    }


@dataclass
class DrugModel:
    drug: str
    features: list[str]
    y: pd.Series
    fitted: Any
    bundle: ModelBundle


def _fit_models(
    cfg: PipelineConfig,
    loaded: Inputs,
    prox: pd.DataFrame,
    organoid_scores: pd.DataFrame,
    progress: Callable[[int, int], None],
) -> dict[str, DrugModel]:
    sets = proximal_pathways(prox)
    gene_set_dict = as_gene_set_dict(loaded.gene_sets)
    models: dict[str, DrugModel] = {}
    for done, drug in enumerate(loaded.drugs):
        progress(done, len(loaded.drugs))
        proximal = sets.get(drug, [])
        features = [p for p in proximal if p in organoid_scores.columns]
        if len(features) < len(proximal):
            logger.warning(
                "%s: %d of %d proximal pathways were not scored (too few genes in the organoid expression): %s",
                drug,
                len(proximal) - len(features),
                len(proximal),
                examples([p for p in proximal if p not in organoid_scores.columns]),
            )
        if not features:
            logger.warning(
                "%s: no scored pathway is drug-proximal (z <= %.4f); the drug is skipped", drug, PROXIMAL_Z
            )
            continue
        rows = loaded.response[loaded.response["drug"] == drug]
        y = pd.Series(
            rows["value"].to_numpy(dtype=float), index=rows["sample"].astype(str).to_numpy(), name=drug
        )
        fitted = fit_drug_model(
            organoid_scores,
            y,
            features,
            model=cfg.model,
            top_k=cfg.top_k,
            seed=cfg.seed,
            model_options=cfg.options("model"),
        )
        meta = _bundle_metadata(
            cfg, drug, features, organoid_scores.loc[y.index], gene_set_dict, list(organoid_scores.columns)
        )
        models[drug] = DrugModel(drug, features, y, fitted, in_memory_bundle(fitted, meta))
    if not models:
        raise InputError(
            "no drug has a drug-proximal pathway among the scored gene sets; check the network, the targets and "
            "[pathways] min_size."
        )
    return models


def _biomarkers(models: dict[str, DrugModel], prox: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for drug, m in models.items():
        ranking = m.fitted[-1].ranking_.rename(columns={"feature": "pathway"})
        z = prox[prox["drug"] == drug].drop_duplicates("pathway").set_index("pathway")["z"]
        selected = set(m.fitted[-1].selected_features_)
        parts.append(
            pd.DataFrame(
                {
                    "drug": drug,
                    "pathway": ranking["pathway"].to_numpy(),
                    "z": z.reindex(ranking["pathway"]).to_numpy(),
                    "coefficient": ranking["coefficient"].to_numpy(),
                    "rank": ranking["rank"].to_numpy(),
                    "selected": [p in selected for p in ranking["pathway"]],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _organoid_cv(
    cfg: PipelineConfig,
    models: dict[str, DrugModel],
    organoid_scores: pd.DataFrame,
    response: pd.DataFrame,
    timer: Timer,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    used = response[response["drug"].isin(list(models))].loc[:, ["sample", "drug", "value"]]
    proximal = {d: m.features for d, m in models.items()}
    # Random feature sets are compared with the exact batched ridge (fast); the configured model itself is
    # cross-validated on the proximal pathways in a second row per drug.
    baseline = cross_validate_response(
        organoid_scores,
        used,
        feature_sets={"proximal": proximal},
        n_random=cfg.n_random_sets,
        min_samples=MIN_ORGANOIDS,
        random_state=cfg.seed,
        progress=timer.callback("organoid cv: proximal vs random sets"),
    )
    model_progress = timer.callback(f"organoid cv: {cfg.model}")
    configured = cross_validate_response(
        organoid_scores,
        used,
        feature_sets={f"proximal_{cfg.model}_top{cfg.top_k}": proximal},
        model=make_response_pipeline(
            cfg.model, top_k=cfg.top_k, random_state=cfg.seed, model_options=cfg.options("model")
        ),
        n_random=0,
        include_all=False,
        min_samples=MIN_ORGANOIDS,
        random_state=cfg.seed,
        progress=lambda done, total: model_progress(done, 2 * total),
    )
    table = pd.concat([baseline, configured], ignore_index=True)
    table = table.sort_values("drug", kind="stable").reset_index(drop=True)
    predictions = []
    for done, (drug, m) in enumerate(models.items(), start=len(models) + 1):
        X = organoid_scores.loc[m.y.index, m.features]
        held_out = cross_val_predict(
            make_response_pipeline(
                cfg.model, top_k=cfg.top_k, random_state=cfg.seed, model_options=cfg.options("model")
            ),
            X,
            m.y.to_numpy(),
            cv=LeaveOneOut(),
        )
        predictions.append(
            pd.DataFrame(
                {"drug": drug, "sample": m.y.index, "observed": m.y.to_numpy(), "predicted": held_out}
            )
        )
        model_progress(done, 2 * len(models))
    return table, pd.concat(predictions, ignore_index=True)


def run_pipeline(
    config: PipelineConfig | str | Path,
    out_dir: str | Path | RunFolder,
    *,
    report: bool = True,
    write: bool = True,
    patients: bool = True,
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
        ``organoid_cv_predictions.tsv`` and, with patients, ``patient_predictions.tsv``,
        ``patient_drug_sensitivity.tsv`` and ``survival.tsv``; then ``report.html`` with PNG figures and
        ``run.json``. The whole run is written into a temporary sibling ``.NAME.XXXXXXXX.tmp`` and replaces the
        folder whole at the end, so the folder never mixes two runs and a killed run leaves it as it was. A
        :class:`~organoidrx.pipeline._outputs.RunFolder` that is already staged is written into as is and
        swapped in by its owner (the demo writes its cohort into the same folder).
    report : bool, default True
        Write ``report.html`` and the figures.
    write : bool, default True
        Write the tables and ``run.json``; ``False`` only computes (``report`` is then ignored).
    patients : bool, default True
        Run the patient half when the configuration has ``[patients]``; ``False`` stops after the organoid models.
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
    ``top_k``) is fitted to the response. Patients are scored with the same model after standardising each
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
    cfg = config if isinstance(config, PipelineConfig) else read_config(config)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    folder = out_dir if isinstance(out_dir, RunFolder) else RunFolder(Path(out_dir), overwrite=overwrite)
    if write:
        folder.check(input_files(cfg).values())  # refuse before computing anything
    out = folder.final
    timer = Timer(progress)
    with collect_warnings() as collected:
        with timer.phase("load"):
            loaded = load_inputs(cfg)
            check_work(cfg, loaded)
        with timer.phase("proximity", show=cfg.proximity is not None):
            prox = run_proximity(
                cfg,
                loaded,
                None if progress is None else (lambda p, d, t: timer.report(f"proximity: {p}", d, t)),
            )[cfg.measure]
        with timer.phase("ssgsea organoids"):
            organoid_scores = _scores(cfg, loaded.organoid_expression, loaded.gene_sets)
        with timer.phase("organoid models", total=len(loaded.drugs)):
            models = _fit_models(cfg, loaded, prox, organoid_scores, timer.callback("organoid models"))
            biomarkers = _biomarkers(models, prox)
        with timer.phase("organoid cv", show=False):
            cv, cv_predictions = _organoid_cv(cfg, models, organoid_scores, loaded.response, timer)
        result = RunResult(
            out_dir=out,
            proximity=prox,
            biomarkers=biomarkers,
            organoid_cv=cv,
            cv_predictions=cv_predictions,
            bundles={d: m.bundle for d, m in models.items()},
            models={d: m.fitted for d, m in models.items()},
        )
        if patients and loaded.patient_expression is not None:
            with timer.phase("ssgsea patients"):
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
