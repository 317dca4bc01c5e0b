"""One code path for fitting a drug's organoid model, bundling it and predicting a patient cohort with it.

``run``, ``train``, ``predict`` and the permutation loop all go through these functions, so a bundle written by
``train`` and read by ``predict`` reproduces the predictions of ``run`` exactly.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from organoidrx._registry import get_method
from organoidrx._utils import InputError
from organoidrx.models._alignment import check_finite_scores, column_scale
from organoidrx.models._bundle import ModelBundle, load_bundle, predict_from_bundle, save_bundle
from organoidrx.models._nested import NestedModelSelector, make_response_model
from organoidrx.models._response import DrugResponseModel

logger = logging.getLogger(__name__)

__all__ = [
    "align_cohort",
    "alignment_refit",
    "fit_drug_model",
    "in_memory_bundle",
    "patient_reference",
    "predict_cohort",
]


def fit_drug_model(
    scores: pd.DataFrame,
    response: pd.Series,
    features: list[str],
    *,
    model: str | Sequence[str],
    top_k: int | Sequence[int],
    seed: int,
    model_options: Mapping[str, Any] | None = None,
) -> Pipeline | NestedModelSelector:
    """Fit the organoid model of one drug on ``scores[features]`` of the samples in ``response``'s index.

    One ``model`` and ``top_k``: the fitted :func:`make_response_pipeline`. Lists of them: a fitted
    :class:`NestedModelSelector` whose ``best_estimator_`` (see :func:`chosen_pipeline`) is the candidate chosen
    by leave-one-out cross-validation of these samples, refitted on all of them.
    """
    X = scores.loc[response.index, features]
    estimator = make_response_model(model, top_k, random_state=seed, model_options=model_options)
    return estimator.fit(X, response.to_numpy(dtype=float))


def in_memory_bundle(fitted: Pipeline, metadata: Mapping[str, Any]) -> ModelBundle:
    """The bundle of a fitted model as :func:`organoidrx.models.load_bundle` would read it back from disk."""
    with tempfile.TemporaryDirectory(prefix="organoidrx-bundle-") as tmp:
        path = save_bundle(f"{tmp}/bundle", fitted, metadata=dict(metadata))
        bundle = load_bundle(path)
    return bundle


def _scale_step(bundle: ModelBundle) -> tuple[np.ndarray, np.ndarray]:
    step = next(s for s in bundle.manifest["steps"] if s["kind"] == "scale")
    return bundle.arrays[step["mean"]], bundle.arrays[step["scale"]]


#: Where a cohort's standardisation comes from: the training patients stored in the bundle, or the cohort itself.
Reference = Literal["bundle", "cohort"]


def align_cohort(
    bundle: ModelBundle,
    scores: pd.DataFrame,
    *,
    alignment: str,
    reference: Reference = "cohort",
    options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
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
    reference : {"cohort", "bundle"}, default "cohort"
        ``"cohort"``: the alignment is fitted on ``scores`` themselves (the paper's per-cohort standardisation;
        a sample's value depends on the others, and at least the alignment's minimum of samples, 3, is needed).
        ``"bundle"``: every sample is z-scored with the training patients' mean and scale stored in the bundle,
        so one patient's value never depends on who else is scored (``"standardize"`` bundles trained with
        patients only: the other alignments adapt to the cohort and store nothing to replay).
    options : mapping, optional
        Options of the alignment; default the bundle's ``alignment_options`` when ``alignment`` is the bundle's
        own alignment, else the alignment's defaults.

    Returns
    -------
    DataFrame of shape (n_samples, n_features)

    Raises
    ------
    InputError
        Missing pathways; ``"cohort"`` with too few samples; ``"bundle"`` without a stored patient reference or
        with a cohort-adaptive alignment; an option the alignment does not take.
    """
    method = get_method("alignment", alignment)
    resolved = _alignment_options(bundle, alignment, options)
    if reference not in get_args(Reference):
        raise InputError(f"reference must be 'bundle' or 'cohort'; got {reference!r}.")
    features = bundle.feature_names
    missing = [f for f in features if f not in scores.columns]
    if missing:
        raise InputError(
            f"the pathway scores lack {len(missing)} of the model's {len(features)} pathways "
            f"(first: {missing[0]!r}); score the expression with the bundle's gene sets."
        )
    X = scores.loc[:, features]
    if reference == "bundle":
        stored = bundle.metadata.get("patient_reference")
        if stored is None:
            raise InputError(
                "the bundle holds no patient reference (it was trained without patients); pass reference="
                "'cohort' (--reference cohort) to standardise over the samples given (at least "
                f"{int(method.attrs.get('min_samples', 1))})."
            )
        if alignment != "standardize":
            raise InputError(
                f"alignment {alignment!r} adapts to the cohort it is given and the bundle stores nothing to replay "
                "for one patient; pass reference='cohort' (--reference cohort) with at least "
                f"{int(method.attrs.get('min_samples', 1))} samples."
            )
        z = X.to_numpy(dtype=float) - np.asarray(stored["mean"])
        return pd.DataFrame(z / np.asarray(stored["scale"]), index=X.index.copy(), columns=list(features))
    minimum = int(method.attrs.get("min_samples", 1))
    if len(scores) < minimum:
        raise InputError(
            f"{len(scores)} sample(s) cannot be standardised as a cohort (alignment {alignment!r} needs at least "
            f"{minimum}); pass reference='bundle' (--reference bundle) to use the training patients' scale."
        )
    check_finite_scores(X, "the pathway scores")
    mean, scale = _scale_step(bundle)
    return method.func(X, _organoids(bundle), mean=mean, scale=scale, **resolved)


def _alignment_options(
    bundle: ModelBundle, alignment: str, options: Mapping[str, Any] | None
) -> dict[str, Any]:
    if options is None:
        own = bundle.metadata.get("alignment") == alignment
        options = bundle.metadata.get("alignment_options", {}) if own else {}
        if not isinstance(options, Mapping):
            raise InputError(
                f"the bundle's alignment_options must be an object, got {type(options).__name__}; train it again."
            )
    return get_method("alignment", alignment).resolve(options, where="alignment options")


def _organoids(bundle: ModelBundle) -> pd.DataFrame:
    """The training organoids' scores of the bundle's pathways."""
    stored = bundle.metadata["organoid_scores"]
    return pd.DataFrame({f: np.asarray(stored[f], dtype=float) for f in bundle.feature_names})


def predict_cohort(
    bundle: ModelBundle,
    scores: pd.DataFrame,
    *,
    alignment: str,
    reference: Reference = "cohort",
    options: Mapping[str, Any] | None = None,
) -> pd.Series:
    """Predicted response of every sample of ``scores`` with a bundle, after the requested alignment.

    See :func:`align_cohort` for the alignment, ``reference`` and ``options``; returns a Series named
    ``predicted_response``.
    """
    z = align_cohort(bundle, scores, alignment=alignment, reference=reference, options=options)
    refitting = alignment_refit(bundle, alignment, options)
    if refitting is not None:
        return _refit(bundle, *refitting, scores.loc[z.index, bundle.feature_names])
    return predict_from_bundle(bundle, z, standardize="none")


def alignment_refit(
    bundle: ModelBundle, alignment: str, options: Mapping[str, Any] | None = None
) -> tuple[Any, dict[str, Any]] | None:
    """The alignment's ``refit_predict`` and the options to call it with when it refits the organoid regressor
    (PRECISE with ``refit = true``); None when the organoid model is applied as fitted."""
    refit = get_method("alignment", alignment).attrs.get("refit_predict")
    resolved = _alignment_options(bundle, alignment, options)
    if refit is None or not resolved["refit"]:
        return None
    return refit, {k: v for k, v in resolved.items() if k != "refit"}


def _refit(bundle: ModelBundle, refit: Any, options: Mapping[str, Any], scores: pd.DataFrame) -> pd.Series:
    """An alignment's ``refit_predict`` (PRECISE: :func:`precise_refit_predict`) of the bundle's regressor,
    refitted on its organoids and their responses."""
    response = bundle.metadata.get("organoid_response")
    if response is None:
        raise InputError(
            "the bundle holds no organoid responses, which PRECISE's refit needs (an earlier organoidrx trained "
            "it); train it again ([alignment] refit = false applies the organoid model as fitted instead)."
        )
    step = next(s for s in bundle.manifest["steps"] if s["kind"] in ("linear", "kernel"))
    params = dict(step["params"])
    if not (params.get("cv") is None or isinstance(params.get("cv"), int)):
        raise InputError(
            f"the bundle's regressor was fitted with cv={params['cv']!r}, which cannot be rebuilt for PRECISE's "
            "refit; train it with [alignment] refit = false, which applies the organoid model as fitted."
        )
    mean, scale = _scale_step(bundle)
    predicted = refit(
        DrugResponseModel(**params), scores, _organoids(bundle), response, mean=mean, scale=scale, **options
    )
    return pd.Series(predicted, index=scores.index.copy(), name="predicted_response")


def patient_reference(scores: pd.DataFrame, features: list[str]) -> dict[str, list[float]]:
    """Mean and population standard deviation of the training patients' scores (constant columns scale 1)."""
    mean, scale = column_scale(scores.loc[:, features].to_numpy(dtype=float))
    return {"mean": mean.tolist(), "scale": scale.tolist()}
