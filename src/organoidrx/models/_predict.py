"""One code path for fitting a drug's organoid model, bundling it and predicting a patient cohort with it.

``run``, ``train``, ``predict`` and the permutation loop all go through these functions, so a bundle written by
``train`` and read by ``predict`` reproduces the predictions of ``run`` exactly.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from organoidrx._registry import get_method
from organoidrx._utils import InputError
from organoidrx.models._alignment import column_scale
from organoidrx.models._bundle import ModelBundle, load_bundle, predict_from_bundle, save_bundle
from organoidrx.models._response import make_response_pipeline

logger = logging.getLogger(__name__)

__all__ = ["align_cohort", "fit_drug_model", "in_memory_bundle", "patient_reference", "predict_cohort"]


def fit_drug_model(
    scores: pd.DataFrame, response: pd.Series, features: list[str], *, model: str, top_k: int, seed: int
) -> Pipeline:
    """Fit the organoid model of one drug on ``scores[features]`` of the samples in ``response``'s index."""
    X = scores.loc[response.index, features]
    pipeline = make_response_pipeline(model, top_k=top_k, random_state=seed)
    return pipeline.fit(X, response.to_numpy(dtype=float))


def in_memory_bundle(fitted: Pipeline, metadata: Mapping[str, Any]) -> ModelBundle:
    """The bundle of a fitted model as :func:`organoidrx.models.load_bundle` would read it back from disk."""
    with tempfile.TemporaryDirectory(prefix="organoidrx-bundle-") as tmp:
        path = save_bundle(f"{tmp}/bundle", fitted, metadata=dict(metadata))
        bundle = load_bundle(path)
    return bundle


def _scale_step(bundle: ModelBundle) -> tuple[np.ndarray, np.ndarray]:
    step = next(s for s in bundle.manifest["steps"] if s["kind"] == "scale")
    return bundle.arrays[step["mean"]], bundle.arrays[step["scale"]]


def align_cohort(bundle: ModelBundle, scores: pd.DataFrame, *, alignment: str) -> pd.DataFrame:
    """A cohort's standardised scores of the bundle's pathways, as the model's regressor sees them.

    Parameters
    ----------
    bundle : ModelBundle
        Its metadata holds ``organoid_scores`` (the training organoids' scores of its pathways) and, when it was
        trained with patients, ``patient_reference`` (mean and scale of the training patients' scores).
    scores : DataFrame of shape (n_samples, n_pathways)
        Pathway scores of the cohort; must hold the bundle's input pathways.
    alignment : str
        A registered alignment (``"standardize"``: every pathway z-scored over this cohort, as Kong et al.
        (2020); ``"combat"``, ``"quantile"``: scores first put on the organoids' scale).

    Returns
    -------
    DataFrame of shape (n_samples, n_features)

    Notes
    -----
    A cohort smaller than the alignment's minimum (3 samples) cannot be standardised or aligned on its own: it is
    z-scored with the training patients' mean and scale stored in the bundle (or, without them, the organoids'
    scaler), and a log line says so.
    """
    method = get_method("alignment", alignment)
    features = bundle.feature_names
    missing = [f for f in features if f not in scores.columns]
    if missing:
        raise InputError(
            f"the pathway scores lack {len(missing)} of the model's {len(features)} pathways "
            f"(first: {missing[0]!r}); score the expression with the bundle's gene sets."
        )
    mean, scale = _scale_step(bundle)
    X = scores.loc[:, features]
    if len(scores) < int(method.attrs.get("min_samples", 1)):
        reference = bundle.metadata.get("patient_reference")
        if reference is not None:
            logger.info(
                "%d sample(s) cannot be standardised on their own: using the training patients' mean and scale "
                "stored in the bundle",
                len(scores),
            )
            mean, scale = np.asarray(reference["mean"]), np.asarray(reference["scale"])
        else:
            logger.info(
                "%d sample(s) cannot be standardised on their own and the bundle holds no patient reference: "
                "using the organoids' scaling",
                len(scores),
            )
        z = X.to_numpy(dtype=float) - mean
        return pd.DataFrame(z / scale, index=X.index.copy(), columns=list(features))
    stored = bundle.metadata["organoid_scores"]
    organoids = pd.DataFrame({f: np.asarray(stored[f], dtype=float) for f in features})
    return method.func(X, organoids, mean=mean, scale=scale)


def predict_cohort(bundle: ModelBundle, scores: pd.DataFrame, *, alignment: str) -> pd.Series:
    """Predicted response of every sample of ``scores`` with a bundle, after the requested alignment.

    See :func:`align_cohort` for the alignment; returns a Series named ``predicted_response``.
    """
    z = align_cohort(bundle, scores, alignment=alignment)
    return predict_from_bundle(bundle, z, standardize="none")


def patient_reference(scores: pd.DataFrame, features: list[str]) -> dict[str, list[float]]:
    """Mean and population standard deviation of the training patients' scores (constant columns scale 1)."""
    mean, scale = column_scale(scores.loc[:, features].to_numpy(dtype=float))
    return {"mean": mean.tolist(), "scale": scale.tolist()}
