"""One code path for fitting a drug's organoid model, bundling it and predicting patients with it.

``run``, ``train`` and ``predict`` all go through these functions, so a bundle written by ``train`` and read by
``predict`` reproduces the predictions of ``run`` exactly.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx._utils import InputError
from organoidrx.models import DrugResponseModel, ModelBundle, load_bundle, predict_from_bundle, save_bundle
from organoidrx.pipeline._align import combat_to_reference, quantile_to_reference

logger = logging.getLogger(__name__)

__all__ = ["Alignment", "fit_drug_model", "in_memory_bundle", "predict_cohort"]

Alignment = Literal["standardize", "combat", "quantile"]
ALIGNMENTS: tuple[str, ...] = ("standardize", "combat", "quantile")


def make_model(model: str, top_k: int, seed: int) -> Pipeline:
    """The unfitted organoid model: z-scores of the pathway scores, then :class:`DrugResponseModel`."""
    return make_pipeline(
        StandardScaler(),
        DrugResponseModel(model=model, top_k=top_k, random_state=seed),  # type: ignore[arg-type]
    ).set_output(transform="pandas")


def fit_drug_model(
    scores: pd.DataFrame, response: pd.Series, features: list[str], *, model: str, top_k: int, seed: int
) -> Pipeline:
    """Fit the organoid model of one drug on ``scores[features]`` of the samples in ``response``'s index."""
    X = scores.loc[response.index, features]
    return make_model(model, top_k, seed).fit(X, response.to_numpy(dtype=float))


def in_memory_bundle(fitted: Pipeline, metadata: Mapping[str, Any]) -> ModelBundle:
    """The bundle of a fitted model as :func:`organoidrx.models.load_bundle` would read it back from disk."""
    with tempfile.TemporaryDirectory(prefix="organoidrx-bundle-") as tmp:
        path = save_bundle(f"{tmp}/bundle", fitted, metadata=dict(metadata))
        bundle = load_bundle(path)
    return bundle


def _frame(mapping: Mapping[str, Any], features: list[str]) -> pd.DataFrame:
    return pd.DataFrame({f: np.asarray(mapping[f], dtype=float) for f in features})


def predict_cohort(bundle: ModelBundle, scores: pd.DataFrame, *, alignment: Alignment) -> pd.Series:
    """Predicted response of every sample of ``scores`` with a bundle, after the requested alignment.

    Parameters
    ----------
    bundle : ModelBundle
        Its metadata holds ``organoid_scores`` (for ``"combat"``/``"quantile"``) and, when it was trained with
        patients, ``patient_reference`` (mean and scale of the training patients' scores).
    scores : DataFrame of shape (n_samples, n_pathways)
        Pathway scores of the cohort; must hold the bundle's input pathways.
    alignment : {"standardize", "combat", "quantile"}
        ``"standardize"``: every pathway z-scored over this cohort (Kong et al. 2020); ``"combat"`` or
        ``"quantile"``: scores first put on the organoids' scale, then the organoids' scaler is applied.

    Returns
    -------
    Series of shape (n_samples,)
        Named ``predicted_response``.

    Notes
    -----
    A cohort of fewer than 3 samples cannot be standardised or aligned on its own: it is z-scored with the
    training patients' mean and scale stored in the bundle (or, without them, the organoids' scaler), and a log
    line says so.
    """
    if alignment not in ALIGNMENTS:
        raise InputError(f"alignment must be one of {', '.join(ALIGNMENTS)}; got {alignment!r}.")
    features = bundle.feature_names
    missing = [f for f in features if f not in scores.columns]
    if missing:
        raise InputError(
            f"the pathway scores lack {len(missing)} of the model's {len(features)} pathways "
            f"(first: {missing[0]!r}); score the expression with the bundle's gene sets."
        )
    meta = bundle.metadata
    if len(scores) < 3:
        reference = meta.get("patient_reference")
        scale_step = next(s for s in bundle.manifest["steps"] if s["kind"] == "scale")
        org_mean = bundle.arrays[scale_step["mean"]]
        org_scale = bundle.arrays[scale_step["scale"]]
        X = scores.loc[:, features].to_numpy(dtype=float)
        if reference is not None:
            logger.info(
                "%d sample(s) cannot be standardised on their own: using the training patients' mean and scale "
                "stored in the bundle",
                len(scores),
            )
            z = (X - np.asarray(reference["mean"])) / np.asarray(reference["scale"])
            X = z * org_scale + org_mean
        else:
            logger.info(
                "%d sample(s) cannot be standardised on their own and the bundle holds no patient reference: "
                "using the organoids' scaling",
                len(scores),
            )
        frame = pd.DataFrame(X, index=scores.index, columns=features)
        return predict_from_bundle(bundle, frame, standardize="reference")
    if alignment == "standardize":
        return predict_from_bundle(bundle, scores.loc[:, features], standardize="cohort")
    organoids = _frame(meta["organoid_scores"], features)
    align = combat_to_reference if alignment == "combat" else quantile_to_reference
    aligned = align(scores.loc[:, features], organoids)
    return predict_from_bundle(bundle, aligned, standardize="reference")


def patient_reference(scores: pd.DataFrame, features: list[str]) -> dict[str, list[float]]:
    """Mean and population standard deviation of the training patients' scores (constant columns scale 1)."""
    X = scores.loc[:, features].to_numpy(dtype=float)
    scale = X.std(axis=0)
    scale = np.where(scale < 10 * np.finfo(float).eps, 1.0, scale)
    return {"mean": X.mean(axis=0).tolist(), "scale": scale.tolist()}
