"""Aligning patient pathway scores to the organoids: quantile mapping and ComBat-style location/scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from organoidrx.models import combat_to_reference, quantile_to_reference


def _frames(seed: int, n: int = 40, n_ref: int = 25, k: int = 8):
    rng = np.random.default_rng(seed)
    cols = [f"P{i}" for i in range(k)]
    reference = pd.DataFrame(rng.normal(0.2, 0.1, (n_ref, k)), columns=cols)
    batch = pd.DataFrame(rng.normal(1.5, 0.6, (n, k)), columns=cols, index=[f"S{i}" for i in range(n)])
    return batch, reference


def test_quantile_hand_checked():
    batch = pd.DataFrame({"A": [10.0, 30.0, 20.0]})
    reference = pd.DataFrame({"A": [0.0, 1.0, 2.0, 3.0]})
    # fractions (r - 1/2)/3 = 1/6, 5/6, 1/2 -> R type-7 quantiles of 0..3: 0.5, 2.5, 1.5
    out = quantile_to_reference(batch, reference)
    np.testing.assert_allclose(out["A"], [0.5, 2.5, 1.5])


def test_quantile_keeps_order_and_takes_reference_range():
    batch, reference = _frames(0)
    out = quantile_to_reference(batch, reference)
    assert out.index.equals(batch.index) and out.columns.equals(batch.columns)
    for col in batch:
        assert (out[col].rank().to_numpy() == batch[col].rank().to_numpy()).all()
        assert reference[col].min() <= out[col].min() and out[col].max() <= reference[col].max()


@pytest.mark.parametrize("seed", range(3))
def test_combat_moves_the_batch_onto_the_reference_and_keeps_order(seed):
    batch, reference = _frames(seed)
    out = combat_to_reference(batch, reference)
    before = np.abs(batch.mean() - reference.mean()).max()
    after = np.abs(out.mean() - reference.mean()).max()
    assert after < 0.1 * before
    np.testing.assert_allclose(out.std(ddof=1), reference.std(ddof=1), rtol=0.35)
    for col in batch:
        assert (out[col].rank().to_numpy() == batch[col].rank().to_numpy()).all()
    assert batch.equals(_frames(seed)[0])  # argument not mutated


def test_combat_without_shrinkage_is_plain_location_scale():
    # One feature: no prior across features, so the batch is standardised and put on the reference's scale.
    batch = pd.DataFrame({"A": [1.0, 2.0, 3.0, 4.0]})
    reference = pd.DataFrame({"A": [10.0, 20.0, 30.0]})
    out = combat_to_reference(batch, reference)["A"].to_numpy()
    z = (batch["A"] - batch["A"].mean()) / batch["A"].std(ddof=1)
    np.testing.assert_allclose(out, 20.0 + 10.0 * z.to_numpy())
