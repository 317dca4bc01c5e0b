"""Reference-batch ComBat against inmoose's pycombat_norm and against sva::ComBat, on the real organoid matrix.

The matrix is GSE64392's 22 organoids x 12,037 genes (shared data). The reference batch is 11 organoids as
measured; the other 11 carry a batch effect per gene (a shift and a scale drawn once with a fixed seed), the
situation ComBat is for. Both references scale by the reference batch's variance over its n samples; for the
empirical-Bayes variances and the priors' moments inmoose uses numpy's default (ddof=0) and R's sva n - 1, so
our ``ddof=0`` is compared with inmoose and our default with ``sva_combat`` below, a line-by-line transcription
of sva's ``ComBat`` (R/ComBat.R and R/helper.R of sva 3.50: ``ref.batch``, ``mod = NULL``, parametric priors) kept
beside the test as the code that produces its reference numbers (R is not a test dependency). inmoose and sva stop
their fixed point at a relative change of 1e-4, so every side is run to 1e-13 here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from organoidrx.io import read_expression
from organoidrx.models import combat_to_reference

from ..conftest import shared_file

pycombat = pytest.importorskip(
    "inmoose.pycombat.pycombat_norm", reason="inmoose is the ComBat oracle (test extra)"
)


@pytest.fixture(scope="module")
def batches(shared_data):
    path = shared_file(shared_data, "kong2020/organoid_coad/ssgsea_input_expression.tsv")
    expression = read_expression(path)
    expression = expression.loc[:, expression.std() > 0.1]  # genes that vary: ComBat scales every gene
    rng = np.random.default_rng(7)
    reference, other = expression.iloc[::2], expression.iloc[1::2]
    shift = rng.normal(0.5, 0.5, size=expression.shape[1])
    scale = np.exp(rng.normal(0.0, 0.3, size=expression.shape[1]))
    other = other.mul(scale, axis=1).add(shift, axis=1)
    return reference, other


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # inmoose builds numpy.matrix objects
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # and divides by the reference batch's zero shift
def test_reference_batch_combat_matches_inmoose_to_1e8(batches, monkeypatch):
    reference, other = batches
    defaults = list(pycombat.it_sol.__defaults__)
    defaults[0] = 1e-13  # conv: run inmoose's fixed point to convergence as ours
    monkeypatch.setattr(pycombat.it_sol, "__defaults__", tuple(defaults))
    data = pd.concat([reference, other])
    batch = [0] * len(reference) + [1] * len(other)
    theirs = pycombat.pycombat_norm(data.T, batch, ref_batch=0).T
    ours = combat_to_reference(other, reference, ddof=0, tol=1e-13, max_iter=10_000)
    expected = np.asarray(theirs.loc[other.index, other.columns], dtype=float)
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-8, atol=1e-10)
    # the reference batch is left as it was
    np.testing.assert_allclose(np.asarray(theirs.loc[reference.index], dtype=float), reference.to_numpy())


def test_sva_variances_differ_from_inmoose_by_the_degrees_of_freedom_only(batches):
    reference, other = batches
    r_like = combat_to_reference(other, reference, tol=1e-13, max_iter=10_000)
    numpy_like = combat_to_reference(other, reference, ddof=0, tol=1e-13, max_iter=10_000)
    difference = np.abs(r_like.to_numpy() - numpy_like.to_numpy())
    assert 0 < difference.max() < 0.1 * other.to_numpy().std()  # small, and not zero


def sva_combat(reference: np.ndarray, other: np.ndarray, conv: float = 1e-13) -> np.ndarray:
    """sva::ComBat(dat, batch, ref.batch = reference) for two batches, no covariates, parametric priors: the
    adjusted ``other`` (samples x features). Comments quote the R lines transcribed."""
    dat = np.vstack([reference, other]).T  # genes x arrays
    n_ref, n_other = len(reference), len(other)
    batch = np.r_[np.zeros(n_ref, int), np.ones(n_other, int)]
    # zero.rows: genes with var 0 within a batch of 2+ arrays are kept aside and returned unadjusted
    zero = np.zeros(dat.shape[0], dtype=bool)
    for b, size in ((0, n_ref), (1, n_other)):
        if size > 1:
            zero |= np.var(dat[:, batch == b], axis=1, ddof=1) == 0
    d = dat[~zero]
    mean_only = n_ref == 1 or n_other == 1  # "Note: one batch has only one sample, setting mean.only=TRUE"
    design = np.column_stack([np.ones(n_ref + n_other), batch.astype(float)])  # batchmod[, ref] <- 1
    b_hat = np.linalg.solve(design.T @ design, design.T @ d.T)  # B.hat
    grand_mean = b_hat[0]  # grand.mean <- t(B.hat[ref, ])
    residual = d[:, batch == 0] - (design[batch == 0] @ b_hat).T
    var_pooled = (residual**2) @ np.full(n_ref, 1.0 / n_ref)  # %*% rep(1/n.batches[ref], n.batches[ref])
    s_data = (d - grand_mean[:, None]) / np.sqrt(var_pooled)[:, None]
    gamma_hat = np.linalg.solve(design.T @ design, design.T @ s_data.T)[1]  # the other batch's row
    s_other = s_data[:, batch == 1]
    delta_hat = np.ones(len(d)) if mean_only else np.var(s_other, axis=1, ddof=1)  # rowVars
    gamma_bar, t2 = gamma_hat.mean(), np.var(gamma_hat, ddof=1)  # rowMeans, rowVars
    m, s2 = delta_hat.mean(), np.var(delta_hat, ddof=1)  # aprior / bprior: mean(), var()
    if mean_only:
        gamma_star, delta_star = (
            (t2 * gamma_hat + gamma_bar) / (t2 + 1),
            np.ones(len(d)),
        )  # postmean(.., 1, 1, t2)
    else:
        a_prior, b_prior = (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2
        n = n_other
        g_old, d_old, change = gamma_hat.copy(), delta_hat.copy(), 1.0
        while change > conv:  # it.sol
            g_new = (t2 * n * gamma_hat + d_old * gamma_bar) / (t2 * n + d_old)  # postmean
            sum2 = ((s_other - g_new[:, None]) ** 2).sum(axis=1)
            d_new = (0.5 * sum2 + b_prior) / (n / 2 + a_prior - 1)  # postvar
            change = max(np.max(np.abs(g_new - g_old) / g_old), np.max(np.abs(d_new - d_old) / d_old))
            g_old, d_old = g_new, d_new
        gamma_star, delta_star = g_new, d_new
    adjusted = (s_other - gamma_star[:, None]) / np.sqrt(delta_star)[:, None]
    adjusted = adjusted * np.sqrt(var_pooled)[:, None] + grand_mean[:, None]
    out = dat[:, batch == 1].copy()
    out[~zero] = adjusted
    return out.T


def test_default_combat_equals_sva(batches):
    reference, other = batches
    ours = combat_to_reference(other, reference, tol=1e-13, max_iter=10_000)
    expected = sva_combat(reference.to_numpy(), other.to_numpy())
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-8, atol=1e-10)


def test_one_patient_and_constant_genes_as_sva(batches):
    """A batch of one sample: its location alone is adjusted (mean.only); a gene constant within the batch is
    returned as it was; both as sva."""
    reference, other = batches
    reference, other = reference.iloc[:, :400], other.iloc[:, :400].copy()
    one = other.iloc[[2]]
    np.testing.assert_allclose(
        combat_to_reference(one, reference).to_numpy(),
        sva_combat(reference.to_numpy(), one.to_numpy()),
        rtol=1e-10,
    )
    other.iloc[:, 5] = 3.0
    ours = combat_to_reference(other, reference, tol=1e-13, max_iter=10_000)
    assert (ours.iloc[:, 5] == 3.0).all()
    np.testing.assert_allclose(
        ours.to_numpy(), sva_combat(reference.to_numpy(), other.to_numpy()), rtol=1e-8, atol=1e-10
    )
