"""The organoid half of a run: per drug, the fitted model and its bundle, the ranked biomarkers and the organoid CV."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx._validation import as_gene_set_dict
from organoidrx.evaluation import bh_qvalues
from organoidrx.models import (
    ModelBundle,
    NestedModelSelector,
    chosen_pipeline,
    cross_validate_response,
    fit_drug_model,
    in_memory_bundle,
    loo_predict,
    make_response_model,
    proximal_pathways,
    selection_record,
    selection_table,
)
from organoidrx.models._crossval import loo_fold_features
from organoidrx.network import PROXIMAL_Z
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._inputs import (
    MIN_ORGANOIDS,
    Inputs,
)
from organoidrx.pipeline._progress import Timer
from organoidrx.scoring import streams

logger = logging.getLogger(__name__)

__all__ = ["DrugModel", "biomarker_table", "fit_models", "organoid_cv"]


def _bundle_metadata(
    cfg: PipelineConfig,
    drug: str,
    features: list[str],
    organoid_scores: pd.DataFrame,
    gene_sets: dict[str, list[str]],
    all_pathways: list[str],
    response: pd.Series,
    config_sha256: str,
) -> dict[str, Any]:
    options = cfg.options("scorer")
    # a score that depends on the whole scored table needs every pathway to be rescored the same way
    kept = features if streams(cfg.scorer, options) else all_pathways
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
        "organoid_response": [float(v) for v in response],
        "config_sha256": config_sha256,
    }


@dataclass
class DrugModel:
    drug: str
    features: list[str]
    y: pd.Series
    fitted: Any
    bundle: ModelBundle
    selector: NestedModelSelector | None = None


def fit_models(
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
            own = prox[prox["drug"] == drug]
            if (
                "computable" in own and len(own) and not own["computable"].any()
            ):  # a precomputed table has none
                logger.warning(
                    "%s: its proximity could not be computed (%s); the drug is skipped",
                    drug,
                    own["note"].iloc[0] if "note" in own and own["note"].iloc[0] else "no row is computable",
                )
            else:
                logger.warning(
                    "%s: no scored pathway is drug-proximal (z <= %.4f); the drug is skipped",
                    drug,
                    PROXIMAL_Z,
                )
            continue
        rows = loaded.response[loaded.response["drug"] == drug]
        # in sample order whatever the file's: the permutations draw over the samples in this order
        y = pd.Series(
            rows["value"].to_numpy(dtype=float), index=rows["sample"].astype(str).to_numpy(), name=drug
        ).sort_index(kind="stable")
        fitted = fit_drug_model(
            organoid_scores,
            y,
            features,
            model=cfg.model,
            top_k=cfg.top_k,
            seed=cfg.seed,
            model_options=cfg.model_options,
        )
        meta = _bundle_metadata(
            cfg,
            drug,
            features,
            organoid_scores.loc[y.index],
            gene_set_dict,
            list(organoid_scores.columns),
            y,
            loaded.checksums.get("config", {}).get("sha256", ""),
        )
        selector = fitted if isinstance(fitted, NestedModelSelector) else None
        if selector is not None:  # the choice made on every organoid, without the outer folds' counts
            meta["model_selection"] = selection_record(selection_table(drug, selector))
        final = chosen_pipeline(fitted)
        models[drug] = DrugModel(drug, features, y, final, in_memory_bundle(final, meta), selector)
    if not models:
        raise InputError(
            "no drug has a drug-proximal pathway among the scored gene sets; check the network, the targets and "
            "[pathways] min_size."
        )
    return models


def biomarker_table(models: dict[str, DrugModel], prox: pd.DataFrame) -> pd.DataFrame:
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


def organoid_cv(
    cfg: PipelineConfig,
    models: dict[str, DrugModel],
    organoid_scores: pd.DataFrame,
    response: pd.DataFrame,
    timer: Timer,
    rescore: Callable[[pd.Index], pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Leave-one-organoid-out CV of every drug's configured model (its top-k selection and, for a nested
    selection, its choice refitted in every fold) on the proximal pathways, tested against size-matched random
    pathway sets and against permuted responses, and on every pathway; with the held-out predictions and the
    nested selection's choice in each fold. ``rescore`` (cohort-dependent scorers,
    :func:`organoidrx.scoring.rescorer`) rescores each fold's training organoids without the held-out one; a
    nested selection's inner folds use their outer fold's scores (an inner held-out organoid's expression enters
    that fold's choice, the outer one's never)."""
    used = response[response["drug"].isin(list(models))].loc[:, ["sample", "drug", "value"]]
    estimator = make_response_model(
        cfg.model, cfg.top_k, random_state=cfg.seed, model_options=cfg.model_options
    )
    table = cross_validate_response(
        organoid_scores,
        used,
        feature_sets={"proximal": {d: m.features for d, m in models.items()}},
        model=estimator,
        n_random=cfg.n_random_sets,
        n_shuffles=cfg.n_random_sets,
        min_samples=MIN_ORGANOIDS,
        random_state=cfg.seed,
        rescore=rescore,
        progress=timer.callback(f"organoid cv: {cfg.model_label} vs random sets"),
    )
    table.insert(table.columns.get_loc("feature_set") + 1, "model", cfg.model_label)
    predictions, choices = [], []
    for drug, m in models.items():  # the held-out predictions and each fold's choice, for the outputs
        X = organoid_scores.loc[m.y.index, m.features]
        folds = None
        if rescore is not None:
            folds = [
                t.loc[:, m.features] for t in loo_fold_features(organoid_scores, list(m.y.index), rescore)
            ]
        held_out, fitted = loo_predict(estimator, X, m.y.to_numpy(), fold_features=folds)
        if m.selector is not None and isinstance(estimator, NestedModelSelector):
            choices.append(selection_table(drug, m.selector, [f.best_name_ for f in fitted]))
        predictions.append(
            pd.DataFrame(
                {"drug": drug, "sample": m.y.index, "observed": m.y.to_numpy(), "predicted": held_out}
            )
        )
    table = table.sort_values("drug", kind="stable").reset_index(drop=True)
    # one test per drug: the q over the run's drugs (a NaN p, no random sets, is not counted), so that the
    # smallest of many p is not read as a finding
    table["random_q"] = bh_qvalues(table["random_p"].to_numpy(dtype=float))
    # the test to read, as compare's: beat both random sets of the size and chance (NaN when either is missing)
    table["p"] = np.maximum(table["random_p"], table["shuffled_p"])
    table["q"] = bh_qvalues(table["p"].to_numpy(dtype=float))
    selection = pd.concat(choices, ignore_index=True) if choices else None
    return table, pd.concat(predictions, ignore_index=True), selection
