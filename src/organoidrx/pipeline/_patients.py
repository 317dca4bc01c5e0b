"""The patient half of a run: predictions, the responder split, survival, response and permutation tests."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from organoidrx._units import DAYS_PER_UNIT
from organoidrx._utils import InputError
from organoidrx.evaluation import (
    LogrankKernel,
    ResponderSplit,
    permutation_test,
    response_auc,
    survival_analysis,
    treatment_interaction,
)
from organoidrx.evaluation._common import insert_qvalues
from organoidrx.models import (
    align_cohort,
    chosen_pipeline,
    make_response_model,
    patient_reference,
    predict_cohort,
)
from organoidrx.models._predict import alignment_refit
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._inputs import Inputs
from organoidrx.pipeline._patient_inputs import treated_rows

if TYPE_CHECKING:
    from organoidrx.pipeline._organoids import DrugModel
    from organoidrx.pipeline._progress import Timer, WarningCollector
    from organoidrx.pipeline._run import RunResult

logger = logging.getLogger(__name__)

__all__ = ["run_patients"]


def run_patients(
    cfg: PipelineConfig,
    loaded: Inputs,
    models: dict[str, DrugModel],
    organoid_scores: pd.DataFrame,
    patient_scores: pd.DataFrame,
    result: RunResult,
    timer: Timer,
    collector: WarningCollector,
) -> None:
    """Predict, split and test the patients of every drug; fills ``result``'s patient tables and results."""
    clinical = loaded.clinical
    assert clinical is not None
    horizon = cfg.horizon_months * DAYS_PER_UNIT["months"]
    covariates = list(cfg.covariates) or None
    assert loaded.patient_expression is not None
    # the genes every patient was ranked among, in file order: predict ranks new samples among the same ones
    patient_genes = [str(g) for g in loaded.patient_expression.columns]
    prediction_rows, survival_rows = [], []
    for done, (drug, m) in enumerate(models.items()):
        timer.report("patients", done, len(models))
        collector.context = drug
        with timer.phase(f"patients {drug}", show=False):
            predicted = predict_cohort(m.bundle, patient_scores, alignment=cfg.alignment)
            treated = treated_rows(clinical, loaded.drug_keys[drug])
            treated_pred = predicted.reindex(treated["patient"])
            # the split is learned on the treated patients and applied to everyone (and stored in the bundle)
            try:
                split = ResponderSplit(cfg.quantile, cfg.lower_is_sensitive).fit(treated_pred)
            except InputError as exc:  # name the drug and its patients: the split is per drug
                raise InputError(f"drug {drug!r}, {len(treated_pred)} treated patients: {exc}") from None
            groups_treated = split.transform(treated_pred)
            cutoff = split.cutoff_
            groups = split.transform(predicted)
            m.bundle.manifest["metadata"].update(
                {
                    "cutoff": cutoff,
                    "patient_reference": patient_reference(patient_scores, m.bundle.feature_names),
                    "patient_genes": patient_genes,
                }
            )
            prediction_rows.append(
                pd.DataFrame(
                    {
                        "patient": predicted.index,
                        "drug": drug,
                        "predicted_response": predicted.to_numpy(),
                        "group": groups.to_numpy(),
                        "treated": predicted.index.isin(treated["patient"]),
                    }
                )
            )
            surv = survival_analysis(
                treated,
                groups_treated,
                horizon=horizon,
                time_unit="days",
                covariates=covariates,
                prediction=treated_pred,
                lower_is_sensitive=cfg.lower_is_sensitive,
            )
            result.survival_results[drug] = surv
            untreated = clinical[clinical["drug"].isna() | (clinical["drug"].astype(str).str.strip() == "")]
            untreated = untreated[~untreated["patient"].isin(treated["patient"])].drop_duplicates("patient")
            if len(untreated):
                both = pd.concat([treated, untreated], ignore_index=True)
                try:
                    result.interactions[drug] = treatment_interaction(
                        both,
                        groups.reindex(both["patient"]).set_axis(both["patient"]),
                        pd.Series(
                            np.r_[np.ones(len(treated)), np.zeros(len(untreated))], index=both["patient"]
                        ),
                        covariates=covariates,
                    )
                except InputError as exc:
                    logger.warning("%s: treatment x signature interaction not computed: %s", drug, exc)
            if "response" in treated.columns and treated["response"].notna().any():
                try:
                    result.response_auc[drug] = response_auc(
                        treated_pred,
                        treated.set_index("patient")["response"],
                        lower_is_sensitive=cfg.lower_is_sensitive,
                        random_state=cfg.seed,
                        groups=groups_treated,
                    )
                except InputError as exc:
                    logger.warning("%s: response AUC not computed: %s", drug, exc)
        row = surv.to_frame().assign(drug=drug)
        if cfg.n_permutations > 0:
            with timer.phase(f"permutations {drug}", show=False):
                statistic = _permutation_statistic(cfg, m, organoid_scores, patient_scores, treated)
                perm = permutation_test(
                    statistic,
                    m.y.rename("value").rename_axis("sample").reset_index().assign(drug=drug),
                    n_permutations=cfg.n_permutations,
                    random_state=cfg.seed,
                    alternative="greater",
                    progress=timer.callback(f"permutations {drug}"),
                )
            for w in perm.warnings:
                logger.warning("%s", w)
            row = row.assign(
                permutation_p=perm.p_value,
                n_permutations=perm.n_permutations,
                permutation_statistic=perm.observed,
            )
        else:
            row = row.assign(permutation_p=math.nan, n_permutations=0, permutation_statistic=math.nan)
        survival_rows.append(row)
    timer.report("patients", len(models), len(models))
    collector.context = None
    result.patient_predictions = pd.concat(prediction_rows, ignore_index=True)
    survival = pd.concat(survival_rows, ignore_index=True)
    # the larger of the two p is valid under either null: survival unrelated to the split (log-rank) or organoid
    # responses carrying no signal (permutations); neither alone covers both (docs/outputs.md)
    survival.insert(
        survival.columns.get_loc("permutation_statistic") + 1,
        "p",
        np.maximum(survival["logrank_p"], survival["permutation_p"]),  # NaN when either is missing
    )
    # one test per drug: q over the run's drugs, so that the smallest of many p is not read as a finding
    insert_qvalues(survival)
    first = ["drug"]
    result.survival = survival.loc[:, first + [c for c in survival.columns if c not in first]]


def _permutation_statistic(
    cfg: PipelineConfig,
    m: DrugModel,
    organoid_scores: pd.DataFrame,
    patient_scores: pd.DataFrame,
    treated: pd.DataFrame,
) -> Any:
    """The closure refitting the organoid model on permuted responses and returning the signed log-rank z."""
    samples = list(m.y.index)
    X_org = organoid_scores.loc[samples, m.features]
    features = m.features
    aligned_all = align_cohort(m.bundle, patient_scores, alignment=cfg.alignment)
    Z_treated = aligned_all.loc[treated["patient"], features]
    # an alignment that refits the organoid regressor (PRECISE) predicts through that refit, as reported
    refitting = alignment_refit(m.bundle, cfg.alignment)
    cohort = patient_scores.loc[aligned_all.index, features]
    treated_rows = cohort.index.get_indexer(treated["patient"])
    kernel = LogrankKernel(treated["time"].to_numpy(), treated["event"].to_numpy())
    lower = cfg.lower_is_sensitive

    options = cfg.model_options

    def statistic(shuffled: pd.DataFrame) -> float:
        y = shuffled.set_index("sample")["value"].reindex(samples).to_numpy(dtype=float)
        # candidate models are chosen again on every permuted response, so the p accounts for the choice
        fitted = chosen_pipeline(
            make_response_model(cfg.model, cfg.top_k, random_state=cfg.seed, model_options=options).fit(
                X_org, y
            )
        )
        if refitting is None:
            predicted = fitted[-1].predict(Z_treated)
        else:
            refit, refit_options = refitting
            scaler = fitted.named_steps["scale"]
            predicted = refit(
                fitted[-1], cohort, X_org, y, mean=scaler.mean_, scale=scaler.scale_, **refit_options
            )[treated_rows]
        split = ResponderSplit(cfg.quantile, lower, require_both=False).fit(predicted)
        if not split.separates_:
            return math.nan
        return kernel.signed(split.responders(predicted))

    return statistic
