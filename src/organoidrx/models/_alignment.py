"""Organoid-to-patient alignments: how a cohort's pathway scores reach the scale the organoid model was fitted on.

Every alignment is registered with the signature ``func(scores, organoids, *, mean, scale, **options) ->
DataFrame``: the cohort's scores (samples x the model's pathways), the training organoids' scores of the same
pathways, the mean and scale of the organoid model's own standardisation and the alignment's options; it returns
the cohort's standardised scores, the values the fitted regressor is applied to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from organoidrx._registry import Method, register
from organoidrx._utils import InputError

__all__ = [
    "check_finite_scores",
    "column_scale",
    "combat_to_reference",
    "quantile_to_reference",
    "scaler_constant",
    "standardize_columns",
]


def scaler_constant(var: Any, mean: Any, n_samples: int) -> Any:
    """StandardScaler's test for a constant column (scikit-learn's ``_is_constant_feature``): a variance within
    rounding of zero *relative to the column's mean*, ``var <= n eps var + (n mean eps)^2``, so that a column
    constant at 1234.5 (whose computed variance is a rounding residue, not 0) is constant too."""
    eps = np.finfo(np.float64).eps
    return var <= n_samples * eps * var + (n_samples * mean * eps) ** 2


def column_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and population standard deviations; a constant column gets scale 1 (as StandardScaler,
    :func:`scaler_constant`).

    Computed on a column-major copy so that each column is one contiguous (pairwise) sum: the result is then the
    same to the last bit whatever the layout or the column subset of ``X``.
    """
    X = np.asfortranarray(X, dtype=float)
    mean = np.mean(X, axis=0)
    var = np.var(X, axis=0)
    scale = np.where(scaler_constant(var, mean, X.shape[0]), 1.0, np.sqrt(var))
    return mean, scale


def standardize_columns(X: np.ndarray) -> np.ndarray:
    """Column z-scores over the rows of ``X`` (population sd; constant columns keep scale 1)."""
    mean, scale = column_scale(X)
    return (X - mean) / scale


def combat_to_reference(
    scores: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    ddof: int = 1,
) -> pd.DataFrame:
    """Adjust ``scores`` to the location and scale of ``reference`` per column, with empirical-Bayes shrinkage.

    Parameters
    ----------
    scores : DataFrame of shape (n_samples, n_features)
        The batch to adjust (e.g. patients' pathway scores).
    reference : DataFrame of shape (n_reference, n_features)
        The batch left unchanged (the organoids); same columns as ``scores``.
    max_iter, tol : int, float
        Iterations and relative tolerance of the empirical-Bayes fixed point.
    ddof : {1, 0}, default 1
        Degrees of freedom removed from the batch's variances and the priors' moments across features: 1 as R's
        ``sva::ComBat`` (``rowVars``, ``var``), 0 as inmoose's ``pycombat_norm`` (numpy's default). Both scale
        by the reference batch's variance over its n samples.

    Returns
    -------
    DataFrame of shape (n_samples, n_features)
        Adjusted scores, same labels as ``scores``.

    Raises
    ------
    InputError
        On a missing or infinite value in either batch.

    Notes
    -----
    Reference-batch ComBat without covariates (``sva::ComBat(ref.batch=)``): with the reference mean
    :math:`\\alpha_g` and standard deviation :math:`\\sigma_g` (over its :math:`n_r` samples),
    :math:`z_{ig} = (x_{ig} - \\alpha_g)/\\sigma_g`; the batch's location :math:`\\gamma_g` and variance
    :math:`\\delta^2_g` of :math:`z` are shrunk towards a normal and an inverse-gamma prior fitted across
    features, and :math:`x^*_{ig} = \\sigma_g (z_{ig} - \\gamma^*_g)/\\delta^*_g + \\alpha_g`. As in sva,
    a feature constant within a batch of two or more samples has no scale to adjust and is returned unchanged
    (and left out of the priors), and a batch of one sample has its location alone adjusted (``mean.only``).

    References
    ----------
    Johnson W. E. et al. (2007) Biostatistics 8:118-127, doi:10.1093/biostatistics/kxj037.
    Zhang Y. et al. (2018) BMC Bioinformatics 19:262, doi:10.1186/s12859-018-2263-6.
    """
    if ddof not in (0, 1):
        raise InputError(f"ddof must be 0 or 1; got {ddof!r}.")
    check_finite_scores(scores, "the scores to align")
    check_finite_scores(reference.loc[:, scores.columns], "the reference scores")
    x = scores.to_numpy(dtype=float)
    ref = reference.loc[:, scores.columns].to_numpy(dtype=float)
    constant = np.zeros(x.shape[1], dtype=bool)
    for batch in (ref, x):
        if len(batch) > 1:
            constant |= np.ptp(batch, axis=0) == 0
    adjusted = x.copy()
    keep = ~constant
    if keep.any():
        adjusted[:, keep] = _combat_columns(x[:, keep], ref[:, keep], max_iter, tol, ddof)
    return pd.DataFrame(adjusted, index=scores.index.copy(), columns=scores.columns.copy())


def _combat_columns(x: np.ndarray, ref: np.ndarray, max_iter: int, tol: float, ddof: int) -> np.ndarray:
    """:func:`combat_to_reference` on features that vary within each batch of two or more samples."""
    alpha = ref.mean(axis=0)
    sigma = ref.std(axis=0) if len(ref) > 1 else np.ones(x.shape[1])  # sva's var.pooled: over n_r
    z = (x - alpha) / sigma
    n = z.shape[0]
    gamma_hat = z.mean(axis=0)
    mean_only = n == 1  # no variance to estimate (sva switches to mean.only)
    delta_hat = np.ones(z.shape[1]) if mean_only else z.var(axis=0, ddof=ddof)
    gamma_star, delta_star = gamma_hat, delta_hat
    if z.shape[1] > 1:
        gamma_bar = gamma_hat.mean()
        tau2 = gamma_hat.var(ddof=ddof)
        m = delta_hat.mean()
        s2 = delta_hat.var(ddof=ddof)
        if mean_only and tau2 > 0:
            gamma_star = (tau2 * gamma_hat + gamma_bar) / (tau2 + 1.0)  # sva's postmean with n = 1, delta = 1
        elif tau2 > 0 and s2 > 0:
            a = (2 * s2 + m**2) / s2
            b = (m * s2 + m**3) / s2
            delta_star = delta_hat.copy()
            for _ in range(max_iter):
                gamma_new = (n * tau2 * gamma_hat + delta_star * gamma_bar) / (n * tau2 + delta_star)
                sum2 = ((z - gamma_new) ** 2).sum(axis=0)
                delta_new = (b + 0.5 * sum2) / (n / 2 + a - 1)
                change = max(
                    np.max(np.abs(gamma_new - gamma_star) / np.maximum(np.abs(gamma_star), 1e-12)),
                    np.max(np.abs(delta_new - delta_star) / delta_star),
                )
                gamma_star, delta_star = gamma_new, delta_new
                if change < tol:
                    break
    return sigma * (z - gamma_star) / np.sqrt(delta_star) + alpha


def check_finite_scores(scores: pd.DataFrame, name: str) -> None:
    """Raise :class:`InputError` naming the first sample and pathway of a missing or infinite score."""
    values = scores.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{name} have {int(bad.sum())} missing or infinite values (first: sample {scores.index[row]!r}, pathway "
            f"{scores.columns[col]!r}); an alignment uses every sample of a pathway: drop the samples or pathways "
            "the scorer could not score."
        )


def quantile_to_reference(scores: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Map each column of ``scores`` onto the empirical distribution of the same column of ``reference``.

    Parameters
    ----------
    scores : DataFrame of shape (n_samples, n_features)
    reference : DataFrame of shape (n_reference, n_features)

    Returns
    -------
    DataFrame of shape (n_samples, n_features)

    Notes
    -----
    A sample of average rank :math:`r` among :math:`n` gets :math:`Q_{ref}((r - 1/2)/n)`, the reference
    quantile at the same plotting position (Hazen's, :math:`(k - 1/2)/n_{ref}` for the reference's
    :math:`k`-th value, linear in between), so the adjusted column has the reference's distribution and the
    batch's order: a batch equal to the reference is returned unchanged.
    """
    check_finite_scores(scores, "the scores to align")
    check_finite_scores(reference.loc[:, scores.columns], "the reference scores")
    ranks = scores.rank(axis=0, method="average").to_numpy(dtype=float)
    fractions = (ranks - 0.5) / scores.shape[0]
    ref = reference.loc[:, scores.columns].to_numpy(dtype=float)
    out = np.column_stack(
        [np.quantile(ref[:, j], fractions[:, j], method="hazen") for j in range(ref.shape[1])]
    )
    return pd.DataFrame(out, index=scores.index.copy(), columns=scores.columns.copy())


def _to_organoid_z(adjusted: pd.DataFrame, mean: np.ndarray, scale: np.ndarray) -> pd.DataFrame:
    """The organoid scaler's transform, ``(x - mean) / scale``, with its exact floating-point steps."""
    X = adjusted.to_numpy(dtype=float) - mean
    X = X / scale
    return pd.DataFrame(X, index=adjusted.index.copy(), columns=adjusted.columns.copy())


def _standardize(scores: pd.DataFrame, organoids: pd.DataFrame, *, mean: Any, scale: Any) -> pd.DataFrame:
    z = standardize_columns(scores.to_numpy(dtype=float))
    return pd.DataFrame(z, index=scores.index.copy(), columns=scores.columns.copy())


def _combat(scores: pd.DataFrame, organoids: pd.DataFrame, *, mean: Any, scale: Any) -> pd.DataFrame:
    return _to_organoid_z(combat_to_reference(scores, organoids), mean, scale)


def _quantile(scores: pd.DataFrame, organoids: pd.DataFrame, *, mean: Any, scale: Any) -> pd.DataFrame:
    return _to_organoid_z(quantile_to_reference(scores, organoids), mean, scale)


STANDARDIZE = register(
    Method(
        kind="alignment",
        name="standardize",
        summary="z-score every pathway over the patient cohort itself, as Kong et al. did per TCGA cohort",
        reference="Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8",
        func=_standardize,
        sample_independent=False,
        attrs={"min_samples": 3},
    )
)

COMBAT = register(
    Method(
        kind="alignment",
        name="combat",
        summary="reference-batch ComBat: patient location and scale moved onto the organoids', empirical Bayes",
        reference="Zhang Y. et al. (2018) BMC Bioinformatics 19:262, doi:10.1186/s12859-018-2263-6",
        func=_combat,
        sample_independent=False,
        attrs={"min_samples": 3},
    )
)

QUANTILE = register(
    Method(
        kind="alignment",
        name="quantile",
        summary="quantile mapping of every pathway onto the organoids' empirical distribution",
        reference="Bolstad B. M. et al. (2003) Bioinformatics 19:185-193, doi:10.1093/bioinformatics/19.2.185",
        func=_quantile,
        sample_independent=False,
        attrs={"min_samples": 3},
    )
)
