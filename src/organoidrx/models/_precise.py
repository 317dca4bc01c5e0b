"""PRECISE: patient scores projected onto the consensus features shared by organoid and patient principal components.

Registered as the alignment ``"precise"`` (signature in :mod:`organoidrx._registry`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from sklearn.base import clone

from organoidrx._registry import Method, Option, register
from organoidrx._utils import InputError
from organoidrx.models._alignment import standardize_columns

__all__ = ["PreciseConsensus", "ks_statistics", "precise_align", "precise_consensus", "precise_refit_predict"]

#: Angles below this (radians) are treated as 0: the two principal vectors coincide.
_SMALL_ANGLE = 1e-9


@dataclass(frozen=True)
class PreciseConsensus:
    """Principal vectors of two PCA subspaces and the consensus features built from the most similar pairs.

    Attributes
    ----------
    cosines : ndarray of shape (n_pc,)
        Cosine similarity of every principal-vector pair, decreasing: the cosines of the principal angles.
    source_vectors, target_vectors : ndarray of shape (n_pc, n_features)
        Principal vectors of the source (organoid) and target (patient) subspaces, row ``i`` paired with row
        ``i``.
    kept : ndarray of int, shape (n_kept,)
        The pairs used, most similar first.
    tau : ndarray of shape (n_kept,)
        Interpolation point of every kept pair on the geodesic from its source to its target vector.
    consensus : ndarray of shape (n_kept, n_features)
        The consensus features (orthonormal rows).
    """

    cosines: np.ndarray
    source_vectors: np.ndarray
    target_vectors: np.ndarray
    kept: np.ndarray
    tau: np.ndarray
    consensus: np.ndarray

    @property
    def projection(self) -> np.ndarray:
        """:math:`C^\\top C`, the orthogonal projection onto the consensus subspace, shape (n_features, n_features)."""
        return np.asarray(self.consensus.T @ self.consensus)


def _principal_axes(X: np.ndarray, n_pc: int) -> np.ndarray:
    """The first ``n_pc`` principal axes of the column-centred ``X``, as rows."""
    centred = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return np.asarray(vt[:n_pc])


def _crossing(s: np.ndarray, t: np.ndarray, cosine: float, delta: np.ndarray) -> float:
    """The interpolation point ``tau`` in [0, 1] where source and target variances along the geodesic are equal.

    Along :math:`\\gamma(\\varphi) = \\cos\\varphi\\, s + \\sin\\varphi\\, u`, :math:`u` the unit vector of
    :math:`t` orthogonal to :math:`s` and :math:`\\varphi = \\tau\\theta`, the variance difference is
    :math:`d(\\varphi) = \\gamma^\\top \\Delta \\gamma = m + R \\cos(2\\varphi - \\delta)` with
    :math:`\\Delta = \\Sigma_s - \\Sigma_t`, :math:`m = (a + b)/2`, :math:`R \\cos\\delta = (a - b)/2`,
    :math:`R \\sin\\delta = c`, :math:`a = s^\\top\\Delta s`, :math:`b = u^\\top\\Delta u`,
    :math:`c = s^\\top\\Delta u`. The first root in :math:`[0, \\theta]` is returned; without a root, the point of
    smallest :math:`|d|`.
    """
    theta = math.acos(min(1.0, max(-1.0, cosine)))
    if theta < _SMALL_ANGLE:
        return 0.5
    u = (t - cosine * s) / math.sin(theta)
    a, b, c = s @ delta @ s, u @ delta @ u, s @ delta @ u
    m, half = (a + b) / 2.0, (a - b) / 2.0
    radius, phase = math.hypot(half, c), math.atan2(c, half)

    def d(phi: float) -> float:
        return m + half * math.cos(2 * phi) + c * math.sin(2 * phi)

    eps = 1e-12 * theta
    if radius > 0 and abs(m) <= radius:
        spread = math.acos(-m / radius)
        roots = [(phase + sign * spread) / 2.0 + k * math.pi for sign in (1.0, -1.0) for k in range(-2, 3)]
        inside = sorted(min(max(r, 0.0), theta) for r in roots if -eps <= r <= theta + eps)
        if inside:
            return inside[0] / theta
    candidates = [0.0, theta] + [
        phase / 2.0 + k * math.pi / 2.0 for k in range(-4, 5) if 0.0 < phase / 2.0 + k * math.pi / 2.0 < theta
    ]
    best = min(candidates, key=lambda phi: (abs(d(phi)), phi))
    return best / theta


#: How the point on each geodesic is chosen: PRECISE's smallest Kolmogorov-Smirnov statistic, or equal variances.
Interpolation = Literal["ks", "variance"]

#: Steps of PRECISE's search along each geodesic (``ConsensusRepresentation(n_representations=1000)``).
N_REPRESENTATIONS = 1000


def ks_statistics(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov statistics of every row pair, as exact integers ``n_s n_t D``.

    ``source`` (rows x n_s) and ``target`` (rows x n_t); ``D`` is :func:`scipy.stats.ks_2samp`'s statistic,
    the largest distance between the two empirical distribution functions, evaluated after every distinct value
    (ties count on both sides at once, as scipy's ``searchsorted(..., side="right")``). Integers compare
    exactly, so the smallest statistic of a search is found without rounding.
    """
    n_s, n_t = source.shape[1], target.shape[1]
    values = np.concatenate([source, target], axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    below_s = np.cumsum(order < n_s, axis=1, dtype=np.int64)  # source values <= the current one
    below_t = np.arange(1, n_s + n_t + 1, dtype=np.int64)[None, :] - below_s
    last = np.ones(ordered.shape, dtype=bool)  # the last of a run of tied values
    last[:, :-1] = ordered[:, 1:] != ordered[:, :-1]
    return np.where(last, np.abs(below_s * n_t - below_t * n_s), 0).max(axis=1)


def _ks_point(
    zs_s: np.ndarray,
    zs_t: np.ndarray,
    zt_s: np.ndarray,
    zt_t: np.ndarray,
    theta: float,
    n_representations: int,
) -> float:
    """PRECISE's interpolation point: the step of ``np.linspace(0, 1, n_representations + 1)`` whose projected
    source and target samples have the smallest two-sample Kolmogorov-Smirnov statistic (the first, smallest
    step among equal statistics, as ``np.argmin``).

    ``zs_s`` is the source data projected on the source vector, ``zs_t`` on the target vector, likewise ``zt_*``
    for the target data; the projection on the geodesic is combined from them as PRECISE's
    ``project_on_interpolate_PV`` does.
    """
    if theta < _SMALL_ANGLE:
        return 0.5
    grid = np.linspace(0.0, 1.0, int(n_representations) + 1)
    a = np.sin((1 - grid) * theta)[:, None]
    b = np.sin(grid * theta)[:, None]
    source = (a * zs_s[None, :] + b * zs_t[None, :]) / math.sin(theta)
    target = (a * zt_s[None, :] + b * zt_t[None, :]) / math.sin(theta)
    return float(grid[int(np.argmin(ks_statistics(source, target)))])


def precise_consensus(
    source: np.ndarray,
    target: np.ndarray,
    *,
    n_pc: int = 10,
    n_pv: int | None = None,
    min_cosine: float = 0.5,
    interpolation: Interpolation = "ks",
    n_representations: int = N_REPRESENTATIONS,
) -> PreciseConsensus:
    """PRECISE's consensus features of two data sets measured on the same features.

    Parameters
    ----------
    source : ndarray of shape (n_source, n_features)
        Source samples (organoids), already standardised per feature.
    target : ndarray of shape (n_target, n_features)
        Target samples (patients), already standardised per feature.
    n_pc : int, default 10
        Principal components of each data set; capped at ``n_source - 1``, ``n_target - 1`` and ``n_features``.
    n_pv : int or None, default None
        Most principal-vector pairs kept (the most similar ones); ``None``: every pair with cosine
        ``>= min_cosine``.
    min_cosine : float, default 0.5
        Pairs less similar than this are dropped (principal angle above :math:`\\arccos` of it; 60 degrees for
        0.5).
    interpolation : {"ks", "variance"}, default "ks"
        The point of each geodesic taken as the consensus feature: ``"ks"``, PRECISE's, the step of
        ``np.linspace(0, 1, n_representations + 1)`` where the source and target data projected on it differ
        least by the two-sample Kolmogorov-Smirnov statistic; ``"variance"``, the point where their variances
        are equal (closed form).
    n_representations : int, default 1000
        Steps of the ``"ks"`` search along each geodesic: PRECISE's ``ConsensusRepresentation`` default (its
        figure code, ``compute_optimal_tau``, used 100).

    Returns
    -------
    PreciseConsensus

    Raises
    ------
    InputError
        When a data set has fewer than 2 samples, the feature counts differ, or no pair reaches ``min_cosine``.

    Notes
    -----
    With :math:`P_s, P_t` (:math:`d \\times p`, orthonormal rows) the first :math:`d` principal axes of each
    data set and the singular value decomposition :math:`P_s P_t^\\top = U \\Sigma V^\\top`, the principal
    vectors are :math:`S = U^\\top P_s` and :math:`T = V^\\top P_t`, and :math:`\\sigma_i = s_i^\\top t_i =
    \\cos\\theta_i` are the cosines of the principal angles. Each kept pair is joined by the geodesic
    :math:`\\gamma_i(\\tau) = \\frac{\\sin((1 - \\tau)\\theta_i)}{\\sin\\theta_i} s_i +
    \\frac{\\sin(\\tau\\theta_i)}{\\sin\\theta_i} t_i`, :math:`\\tau \\in [0, 1]`, and the consensus feature is
    :math:`c_i = \\gamma_i(\\tau_i)`. PRECISE (``interpolation="ks"``) takes the :math:`\\tau` of the grid
    ``np.linspace(0, 1, n_representations + 1)`` where the source and target data projected on
    :math:`\\gamma_i(\\tau)` have the smallest two-sample Kolmogorov-Smirnov statistic
    (``ConsensusRepresentation._find_common_representation``). The statistic is a step function, so several
    steps often tie; PRECISE's ``np.argmin`` takes the first, the smallest :math:`\\tau`, and so does this
    function, comparing the statistics as exact integers (:func:`ks_statistics`). ``"variance"`` takes instead
    the point where the projected variances are equal, :math:`\\gamma^\\top \\Sigma_s \\gamma =
    \\gamma^\\top \\Sigma_t \\gamma` (population covariances; the first such point, or the closest to
    equality when there is none, see :func:`_crossing`), a smooth choice that needs no search. Either way
    :math:`\\tau = 1/2` for :math:`\\theta_i = 0`, where both vectors coincide. Because
    :math:`s_i^\\top t_j = 0` for :math:`i \\ne j`, the :math:`c_i` are orthonormal.

    References
    ----------
    Mourragui S. et al. (2019) PRECISE: a domain adaptation approach to transfer predictors of drug response
    from pre-clinical models to tumors. Bioinformatics 35:i510-i519, doi:10.1093/bioinformatics/btz372.
    """
    source = np.asarray(source, dtype=float)
    target = np.asarray(target, dtype=float)
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise InputError(
            f"source and target must be matrices with the same features; got shapes {source.shape} and "
            f"{target.shape}."
        )
    if min(len(source), len(target)) < 2:
        raise InputError(
            f"PRECISE needs at least 2 samples on each side; got {len(source)} source and {len(target)} target."
        )
    d = min(int(n_pc), len(source) - 1, len(target) - 1, source.shape[1])
    Ps, Pt = _principal_axes(source, d), _principal_axes(target, d)
    U, sigma, Vt = np.linalg.svd(Ps @ Pt.T)
    S, T = U.T @ Ps, Vt @ Pt
    cosines = np.clip(sigma, 0.0, 1.0)
    kept = np.flatnonzero(cosines >= min_cosine)
    if n_pv is not None:
        kept = kept[: int(n_pv)]
    if kept.size == 0:
        raise InputError(
            f"no principal-vector pair of the {d} organoid and patient components reaches cosine min_cosine="
            f"{min_cosine:g} (the most similar has {cosines[0]:.3f}); lower [alignment] min_cosine or use "
            "another alignment."
        )
    delta = np.cov(source, rowvar=False, bias=True).reshape(source.shape[1], -1)
    delta = delta - np.cov(target, rowvar=False, bias=True).reshape(target.shape[1], -1)
    if interpolation not in get_args(Interpolation):
        raise InputError(f"interpolation must be 'ks' or 'variance'; got {interpolation!r}.")
    if int(n_representations) < 1:
        raise InputError(f"n_representations must be an integer >= 1; got {n_representations!r}.")
    taus, consensus = [], []
    for i in kept:
        theta = math.acos(float(cosines[i]))
        if interpolation == "ks":
            tau = _ks_point(
                source @ S[i], source @ T[i], target @ S[i], target @ T[i], theta, n_representations
            )
        else:
            tau = _crossing(S[i], T[i], float(cosines[i]), delta)
        if theta < _SMALL_ANGLE:
            vector = (S[i] + T[i]) / np.linalg.norm(S[i] + T[i])
        else:
            vector = (math.sin((1 - tau) * theta) * S[i] + math.sin(tau * theta) * T[i]) / math.sin(theta)
        taus.append(tau)
        consensus.append(vector)
    return PreciseConsensus(
        cosines=cosines,
        source_vectors=S,
        target_vectors=T,
        kept=kept.astype(np.intp),
        tau=np.asarray(taus),
        consensus=np.asarray(consensus),
    )


def precise_align(
    scores: pd.DataFrame,
    organoids: pd.DataFrame,
    *,
    mean: Any,
    scale: Any,
    n_pc: int = 10,
    n_pv: int | None = None,
    min_cosine: float = 0.5,
    interpolation: Interpolation = "ks",
    n_representations: int = N_REPRESENTATIONS,
    refit: bool = True,
) -> pd.DataFrame:
    """A patient cohort's standardised scores projected onto PRECISE's consensus features, in pathway space.

    Parameters
    ----------
    scores : DataFrame of shape (n_patients, n_pathways)
        The cohort's pathway scores (the organoid model's pathways).
    organoids : DataFrame of shape (n_organoids, n_pathways)
        The training organoids' scores of the same pathways.
    mean, scale : ndarray of shape (n_pathways,)
        The organoid model's standardisation (its ``StandardScaler``).
    n_pc, n_pv, min_cosine, interpolation, n_representations
        See :func:`precise_consensus`.
    refit : bool, default True
        Not used here: whether :func:`organoidrx.models.predict_cohort` refits the organoid regressor on the
        projected organoids (:func:`precise_refit_predict`) or applies it as fitted to these values.

    Returns
    -------
    DataFrame of shape (n_patients, n_pathways)
        :math:`Z_t C^\top C`, same labels as ``scores``: the values the organoid regressor is applied to.

    Notes
    -----
    The organoids are put on the scale the regressor was fitted on, :math:`Z_s = (X_s - \\mu)/s`, and the
    patients are z-scored over their cohort, :math:`Z_t` (as the ``"standardize"`` alignment). The consensus
    features :math:`C` (:math:`k \times p`, orthonormal rows) of :math:`Z_s` and :math:`Z_t` are computed from
    the scores alone, never from a patient outcome. Each patient's consensus coordinates :math:`Z_t C^\top`
    are mapped back to pathway space with the same loadings, :math:`Z_t C^\top C`, so the columns keep their
    pathway names and any registered model (linear or kernel) applies unchanged.

    PRECISE trains its regressor on the organoids' consensus coordinates :math:`Z_s C^\top`; with ``refit``
    (the default) :func:`organoidrx.models.predict_cohort` does the same (:func:`precise_refit_predict`).
    Without it, the organoid model fitted once on :math:`Z_s` is applied to :math:`Z_t C^\top C`: for a linear
    model :math:`b + w^\top C^\top C z_t`, the organoid regressor restricted to the directions organoids and
    patients share, while what it learned along organoid-only directions does not reach the patients.

    References
    ----------
    Mourragui S. et al. (2019) Bioinformatics 35:i510-i519, doi:10.1093/bioinformatics/btz372.
    """
    _, z_patients, projection = _projected(
        scores, organoids, mean, scale, n_pc, n_pv, min_cosine, interpolation, n_representations
    )
    return pd.DataFrame(z_patients @ projection, index=scores.index.copy(), columns=scores.columns.copy())


def precise_refit_predict(
    regressor: Any,
    scores: pd.DataFrame,
    organoids: pd.DataFrame,
    response: Any,
    *,
    mean: Any,
    scale: Any,
    n_pc: int = 10,
    n_pv: int | None = None,
    min_cosine: float = 0.5,
    interpolation: Interpolation = "ks",
    n_representations: int = N_REPRESENTATIONS,
) -> np.ndarray:
    """PRECISE's transfer: a regressor fitted on the organoids projected onto the consensus features, predicting
    the cohort projected onto the same features.

    Parameters
    ----------
    regressor : scikit-learn regressor
        Unfitted (cloned here), fitted on standardised features: the organoid model's last step.
    scores, organoids, mean, scale, n_pc, n_pv, min_cosine, interpolation, n_representations
        As :func:`precise_align`.
    response : array-like of shape (n_organoids,)
        The organoids' drug response, in the rows' order of ``organoids``.

    Returns
    -------
    ndarray of shape (n_patients,)

    Notes
    -----
    With :math:`Z_s, Z_t` and :math:`C` as in :func:`precise_align`, the regressor is fitted to
    :math:`(Z_s C^\top C, y)` and predicts :math:`Z_t C^\top C`. Working in pathway space with the projection
    :math:`C^\top C` gives the same predictions as working in consensus coordinates :math:`Z C^\top` for any
    model that depends on the features through inner products or Euclidean distances (ridge, least squares,
    kernel ridge with a linear, polynomial or rbf kernel), since :math:`C` has orthonormal rows; a model that
    keeps its top-k pathways selects them on the projected organoids. Only organoid responses enter the fit,
    never a patient outcome.
    """
    z_organoids, z_patients, projection = _projected(
        scores, organoids, mean, scale, n_pc, n_pv, min_cosine, interpolation, n_representations
    )
    y = np.asarray(response, dtype=float)
    if y.shape != (len(z_organoids),):
        raise InputError(
            f"response must hold one value per organoid ({len(z_organoids)}); got shape {y.shape}."
        )
    columns = scores.columns.copy()
    fitted = clone(regressor).fit(pd.DataFrame(z_organoids @ projection, columns=columns), y)
    return np.asarray(fitted.predict(pd.DataFrame(z_patients @ projection, columns=columns)), dtype=float)


def _projected(
    scores: pd.DataFrame,
    organoids: pd.DataFrame,
    mean: Any,
    scale: Any,
    n_pc: int,
    n_pv: int | None,
    min_cosine: float,
    interpolation: Interpolation,
    n_representations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised organoids and patients, and the projection onto their consensus features."""
    z_organoids = (organoids.loc[:, scores.columns].to_numpy(dtype=float) - np.asarray(mean)) / np.asarray(
        scale
    )
    z_patients = standardize_columns(scores.to_numpy(dtype=float))
    fit = precise_consensus(
        z_organoids,
        z_patients,
        n_pc=n_pc,
        n_pv=n_pv,
        min_cosine=min_cosine,
        interpolation=interpolation,
        n_representations=n_representations,
    )
    return z_organoids, z_patients, fit.projection


PRECISE = register(
    Method(
        kind="alignment",
        name="precise",
        summary="PRECISE: organoid and patient z-scores projected onto the consensus of their principal "
        "vectors, the organoid regressor refitted on the projected organoids (refit = false: not refitted)",
        reference="Mourragui S. et al. (2019) Bioinformatics 35:i510-i519, doi:10.1093/bioinformatics/btz372",
        func=precise_align,
        options=(
            Option(
                "n_pc",
                10,
                int,
                "principal components of organoids and of patients (capped at samples - 1 and pathways)",
                minimum=1,
            ),
            Option(
                "n_pv",
                None,
                int,
                "most principal-vector pairs kept, most similar first; unset: all with cosine >= min_cosine",
                minimum=1,
                nullable=True,
            ),
            Option(
                "min_cosine",
                0.5,
                float,
                "pairs with a smaller cosine similarity (a principal angle above 60 degrees for 0.5) are dropped",
                minimum=0.0,
                maximum=1.0,
            ),
            Option(
                "interpolation",
                "ks",
                str,
                "point of each principal-vector geodesic taken as consensus feature: ks (PRECISE's smallest "
                "Kolmogorov-Smirnov statistic between projected organoids and patients) or variance (equal variances)",
                choices=get_args(Interpolation),
            ),
            Option(
                "n_representations",
                N_REPRESENTATIONS,
                int,
                "steps of the ks search along each geodesic (PRECISE's default 1000)",
                minimum=1,
            ),
            Option(
                "refit",
                True,
                bool,
                "refit the organoid regressor on the organoids projected onto the consensus features, as PRECISE "
                "trains its predictor (false: apply the organoid model as fitted to the projected patients)",
            ),
        ),
        sample_independent=False,
        # with option refit, predict_cohort refits the organoid regressor through this instead of applying it
        attrs={"min_samples": 3, "refit_predict": precise_refit_predict},
    )
)
