"""PRECISE consensus features: principal angles against scipy, a literal loop-by-loop reference, a synthetic
cohort whose shared subspace is recovered exactly, the real organoid scores split into two batches, and the
alignment through the pipeline.

The reference implementation below follows the paper's recipe step by step with other tools than the code under
test: scikit-learn's PCA for the principal axes, one principal vector at a time as a sum over the axes, the
geodesic written as the slerp formula, and the interpolation point chosen as PRECISE's ``ConsensusRepresentation``
does (NKI-CCB/PRECISE ``pipeline_routine.py``: ``scipy.stats.ks_2samp`` of the source and target data projected
on the geodesic at ``np.linspace(0, 1, n_representations + 1)``, default 1000, and the first ``np.argmin`` of
the statistics) or, for ``interpolation="variance"``, the
variance-equality point found by scanning a grid of tau for a sign change of
``np.var(source @ g) - np.var(target @ g)`` and refining it with ``scipy.optimize.brentq``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from scipy.optimize import brentq
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression, Ridge

from organoidrx._utils import InputError
from organoidrx.models import precise_align, precise_consensus, precise_refit_predict, standardize_columns
from organoidrx.models._precise import ks_statistics

from ..conftest import shared_file


def _reference(
    source: np.ndarray,
    target: np.ndarray,
    n_pc: int,
    min_cosine: float,
    interpolation: str = "ks",
    n_representations: int = 1000,
):
    """Cosines, tau and consensus vectors, literally, pair by pair."""
    Ps = PCA(n_components=n_pc, svd_solver="full").fit(source).components_
    Pt = PCA(n_components=n_pc, svd_solver="full").fit(target).components_
    U, sigma, Vt = scipy.linalg.svd(Ps @ Pt.T)
    taus, vectors = [], []
    for i in range(n_pc):
        if sigma[i] < min_cosine:
            continue
        s = sum(U[j, i] * Ps[j] for j in range(n_pc))
        t = sum(Vt[i, j] * Pt[j] for j in range(n_pc))
        theta = math.acos(min(sigma[i], 1.0))

        def gamma(tau, s=s, t=t, theta=theta):
            return (math.sin((1 - tau) * theta) * s + math.sin(tau * theta) * t) / math.sin(theta)

        def difference(tau, gamma=gamma):
            g = gamma(tau)
            return np.var(source @ g) - np.var(target @ g)

        def slope(tau, s=s, t=t, theta=theta, gamma=gamma):  # d/dtau of difference
            g = gamma(tau)
            dg = theta * (-math.cos((1 - tau) * theta) * s + math.cos(tau * theta) * t) / math.sin(theta)
            return 2 * (np.mean((source @ g) * (source @ dg)) - np.mean((target @ g) * (target @ dg)))

        if interpolation == "ks":
            steps = np.linspace(0, 1, n_representations + 1)
            ks = [scipy.stats.ks_2samp(source @ gamma(tau), target @ gamma(tau)).statistic for tau in steps]
            taus.append(float(steps[int(np.argmin(ks))]))
            vectors.append(gamma(taus[-1]))
            continue
        grid = np.linspace(0.0, 1.0, 4001)
        values = [difference(x) for x in grid]
        changes = [k for k in range(len(grid) - 1) if values[k] == 0 or values[k] * values[k + 1] < 0]
        if changes:  # the first point of equal variances
            k = changes[0]
            tau = grid[k] if values[k] == 0 else brentq(difference, grid[k], grid[k + 1], xtol=1e-15)
        else:  # none: the point where they are closest, an end or a turning point of the difference
            k = int(np.argmin(np.abs(values)))
            tau = grid[k] if k in (0, len(grid) - 1) else brentq(slope, grid[k - 1], grid[k + 1], xtol=1e-15)
        taus.append(tau)
        vectors.append(gamma(tau))
    return sigma, np.array(taus), np.array(vectors)


def _two_batches(seed: int, n_source: int = 30, n_target: int = 45, p: int = 12):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(4, p))
    source = rng.normal(size=(n_source, 4)) @ mixing + 0.5 * rng.normal(size=(n_source, p))
    target = rng.normal(size=(n_target, 4)) @ (mixing + 0.6 * rng.normal(size=(4, p)))
    target = target + rng.normal(size=(n_target, p)) * rng.uniform(0.3, 1.5, size=p)
    return standardize_columns(source), standardize_columns(target)


@pytest.mark.parametrize("seed", range(3))
def test_principal_angles_are_scipys_subspace_angles(seed):
    source, target = _two_batches(seed)
    fit = precise_consensus(source, target, n_pc=5, min_cosine=0.0)
    Ps = PCA(n_components=5, svd_solver="full").fit(source).components_
    Pt = PCA(n_components=5, svd_solver="full").fit(target).components_
    angles = scipy.linalg.subspace_angles(Ps.T, Pt.T)  # largest first
    np.testing.assert_allclose(fit.cosines, np.sort(np.cos(angles))[::-1], rtol=1e-10, atol=1e-12)
    # each pair's cosine is the inner product of its vectors; vectors of different pairs are orthogonal
    np.testing.assert_allclose(fit.source_vectors @ fit.target_vectors.T, np.diag(fit.cosines), atol=1e-12)


def test_ks_statistics_are_scipys_with_ties():
    rng = np.random.default_rng(4)
    for n_s, n_t in [(2, 3), (19, 130), (7, 7), (30, 12)]:
        for values in (
            rng.normal(size=(40, n_s + n_t)),
            rng.integers(0, 4, size=(40, n_s + n_t)).astype(float),
        ):
            source, target = values[:, :n_s], values[:, n_s:]
            pairs = zip(source, target, strict=True)
            expected = [scipy.stats.ks_2samp(a, b, method="asymp").statistic for a, b in pairs]
            ours = ks_statistics(source, target)
            assert ours.tolist() == np.round(np.asarray(expected) * n_s * n_t).astype(int).tolist()
            np.testing.assert_allclose(ours / (n_s * n_t), expected, rtol=1e-13)
    # hand-worked: {1, 2} against {2, 3}: F_s - F_t is 1/2 after 1, 1/2 after 2 (both), 0 after 3
    assert ks_statistics(np.array([[1.0, 2.0]]), np.array([[2.0, 3.0]])).tolist() == [2]


@pytest.mark.parametrize(
    ("interpolation", "n_representations"), [("ks", 1000), ("ks", 100), ("variance", 1000)]
)
@pytest.mark.parametrize("seed", range(3))
def test_consensus_matches_the_literal_reference(seed, interpolation, n_representations):
    source, target = _two_batches(seed)
    fit = precise_consensus(
        source,
        target,
        n_pc=6,
        min_cosine=0.3,
        interpolation=interpolation,
        n_representations=n_representations,
    )
    sigma, taus, vectors = _reference(source, target, 6, 0.3, interpolation, n_representations)
    np.testing.assert_allclose(fit.cosines, sigma, rtol=1e-10)
    assert fit.kept.tolist() == np.flatnonzero(sigma >= 0.3).tolist()
    np.testing.assert_allclose(fit.tau, taus, rtol=1e-8, atol=1e-10)
    # consensus vectors are defined up to the sign of each pair: compare the projections
    np.testing.assert_allclose(fit.projection, vectors.T @ vectors, atol=1e-8)
    np.testing.assert_allclose(np.abs(np.sum(fit.consensus * vectors, axis=1)), 1.0, rtol=1e-8)
    np.testing.assert_allclose(fit.consensus @ fit.consensus.T, np.eye(len(taus)), atol=1e-10)

    # along each consensus feature the two variances are at least as close as along either principal vector
    def gap(vectors: np.ndarray) -> np.ndarray:
        return np.abs(np.var(source @ vectors.T, axis=0) - np.var(target @ vectors.T, axis=0))

    kept = fit.kept
    closest = np.minimum(gap(fit.source_vectors[kept]), gap(fit.target_vectors[kept]))
    if interpolation == "variance":
        assert np.all(gap(fit.consensus) <= closest + 1e-12)


def test_shared_subspace_up_to_rotation_and_shift_is_recovered():
    rng = np.random.default_rng(5)
    p, k = 20, 3
    basis, _ = np.linalg.qr(rng.normal(size=(p, k + 2)))
    shared, only_organoids, only_patients = basis[:, :k].T, basis[:, k], basis[:, k + 1]
    rotation, _ = np.linalg.qr(rng.normal(size=(k, k)))
    latent_s = rng.normal(size=(40, k)) * [3.0, 2.0, 1.5]
    latent_t = rng.normal(size=(60, k)) * [2.5, 2.0, 1.0]
    source = latent_s @ shared + 2.0 * rng.normal(size=(40, 1)) * only_organoids
    patients_shared = (latent_t @ rotation) @ shared
    target = patients_shared + 5.0 + 2.5 * rng.normal(size=(60, 1)) * only_patients  # shifted, own direction
    fit = precise_consensus(source, target, n_pc=k + 1)
    np.testing.assert_allclose(fit.cosines[:k], 1.0, atol=1e-10)
    assert fit.cosines[k] < 1e-8 and fit.kept.tolist() == [0, 1, 2]  # the specific directions are dropped
    np.testing.assert_allclose(fit.projection, shared.T @ shared, atol=1e-10)
    aligned = (target - target.mean(axis=0)) @ fit.projection
    expected = patients_shared - patients_shared.mean(axis=0)
    np.testing.assert_allclose(aligned, expected, atol=1e-10)
    # in the organoids' shared basis, the patients' coordinates are their rotated latent values
    np.testing.assert_allclose(aligned @ shared.T, (latent_t - latent_t.mean(axis=0)) @ rotation, atol=1e-10)


def test_alignment_contract_and_options():
    source, target = _two_batches(7)
    columns = [f"PATHWAY_{j}" for j in range(source.shape[1])]
    organoids = pd.DataFrame(source * 2.0 + 1.0, columns=columns)
    patients = pd.DataFrame(target * 3.0 - 4.0, index=[f"P{i}" for i in range(len(target))], columns=columns)
    mean, scale = np.full(len(columns), 1.0), np.full(len(columns), 2.0)
    out = precise_align(patients, organoids, mean=mean, scale=scale, n_pc=6, n_pv=2, min_cosine=0.0)
    assert out.index.equals(patients.index) and out.columns.equals(patients.columns)
    fit = precise_consensus(source, standardize_columns(patients.to_numpy()), n_pc=6, n_pv=2, min_cosine=0.0)
    assert fit.kept.tolist() == [0, 1]
    np.testing.assert_allclose(out.to_numpy(), standardize_columns(patients.to_numpy()) @ fit.projection)
    with pytest.raises(InputError, match=r"no principal-vector pair .* reaches cosine min_cosine=0\.9999"):
        precise_consensus(source, target, n_pc=3, min_cosine=0.9999)


@pytest.mark.shared_data
def test_real_organoid_scores_in_two_batches_match_the_reference(shared_data: Path):
    ref = shared_data / "kong2020" / "reference_outputs"
    es = pd.read_csv(
        shared_file(ref, "organoid_ssgsea_normalized_es.tsv"), sep="\t", comment="#", index_col=0
    ).T
    es = es.loc[:, es.std() > 0].iloc[:, :60]  # 60 pathways of the authors' organoid ssGSEA scores
    rng = np.random.default_rng(11)
    first, second = es.iloc[::2], es.iloc[1::2]
    second = second * np.exp(rng.normal(0.0, 0.3, es.shape[1])) + rng.normal(0.5, 0.5, es.shape[1])
    source, target = standardize_columns(first.to_numpy()), standardize_columns(second.to_numpy())
    n_pc = min(len(first), len(second)) - 1
    for interpolation in ("variance", "ks"):
        fit = precise_consensus(source, target, n_pc=n_pc, min_cosine=0.3, interpolation=interpolation)
        sigma, taus, vectors = _reference(source, target, n_pc, 0.3, interpolation)
        np.testing.assert_allclose(fit.cosines, sigma, rtol=1e-8)
        np.testing.assert_allclose(fit.tau, taus, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fit.projection, vectors.T @ vectors, atol=1e-8)
    # the refit on real scores: ridge on the reference consensus coordinates, as PRECISE trains its predictor
    y = first.iloc[:, 0].to_numpy() - first.iloc[:, 1].to_numpy()
    mean, scale = first.mean().to_numpy(), first.std(ddof=0).to_numpy()
    got = precise_refit_predict(Ridge(alpha=1.0), second, first, y, mean=mean, scale=scale, n_pc=n_pc,
                                min_cosine=0.3)  # fmt: skip
    expected = Ridge(alpha=1.0).fit(source @ vectors.T, y).predict(target @ vectors.T)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "regressor",
    [Ridge(alpha=2.0), LinearRegression(), KernelRidge(alpha=0.5, kernel="rbf", gamma=0.1)],
    ids=["ridge", "least squares", "rbf kernel ridge"],
)
def test_refit_is_the_regressor_trained_on_consensus_coordinates(regressor):
    """PRECISE's recipe with the literal reference consensus: fit on the organoids' consensus coordinates
    Z_s C', predict the patients' Z_t C'; equal to the refit in pathway space for models of inner products."""
    source, target = _two_batches(3)
    columns = [f"PATHWAY_{j}" for j in range(source.shape[1])]
    organoids = pd.DataFrame(source * 2.0 + 1.0, columns=columns)
    patients = pd.DataFrame(target * 3.0 - 4.0, index=[f"P{i}" for i in range(len(target))], columns=columns)
    mean, scale = np.full(len(columns), 1.0), np.full(len(columns), 2.0)
    y = source[:, 0] - source[:, 3] + np.random.default_rng(4).normal(size=len(source))
    got = precise_refit_predict(
        regressor, patients, organoids, y, mean=mean, scale=scale, n_pc=6, min_cosine=0.3
    )
    _, _, consensus = _reference(source, standardize_columns(patients.to_numpy()), 6, 0.3)
    fitted = clone(regressor).fit(source @ consensus.T, y)
    expected = fitted.predict(standardize_columns(patients.to_numpy()) @ consensus.T)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
    with pytest.raises(InputError, match="one value per organoid"):
        precise_refit_predict(regressor, patients, organoids, y[:-1], mean=mean, scale=scale, n_pc=6)
