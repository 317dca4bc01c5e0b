"""Reference-batch ComBat against inmoose's pycombat_norm on the real organoid expression matrix.

The matrix is GSE64392's 22 organoids x 12,037 genes (shared data). The reference batch is 11 organoids as
measured; the other 11 carry a batch effect per gene (a shift and a scale drawn once with a fixed seed), the
situation ComBat is for. inmoose computes variances with numpy's default (ddof=0) where R's sva uses n - 1, so our
``ddof=0`` is compared with it; and inmoose stops its empirical-Bayes iterations at a relative change of 1e-4, so
both are run to 1e-13 here (inmoose's tolerance is a default argument of its ``it_sol``, raised for the test only).
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
