"""Aligning patient pathway scores to the organoids: quantile mapping and ComBat-style location/scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
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
    # fractions (r - 1/2)/3 = 1/6, 5/6, 1/2; the reference's k-th value sits at (k - 1/2)/4 (Hazen, R type 5),
    # so position 4p + 1/2 = 7/6, 23/6, 5/2 of 0, 1, 2, 3 (1-based): 1/6, 17/6, 3/2
    out = quantile_to_reference(batch, reference)
    np.testing.assert_allclose(out["A"], [1 / 6, 17 / 6, 1.5])


def test_quantile_maps_the_reference_onto_itself():
    """A batch drawn as the reference is returned as it is, ties included (the same plotting positions)."""
    _, reference = _frames(3)
    np.testing.assert_allclose(quantile_to_reference(reference, reference), reference, rtol=1e-15)
    tied = pd.DataFrame({"A": [1.0, 2.0, 2.0, 5.0]})
    np.testing.assert_allclose(quantile_to_reference(tied, tied)["A"], tied["A"])


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
    # sva scales by the reference's variance over its n samples (var.pooled), the batch's with n - 1 (rowVars)
    np.testing.assert_allclose(out, 20.0 + np.sqrt(200.0 / 3.0) * z.to_numpy())


def test_missing_scores_are_one_clear_line_naming_sample_and_pathway():
    batch, reference = _frames(0)
    batch.iloc[3, 2] = np.nan
    for align in (combat_to_reference, quantile_to_reference):
        with pytest.raises(
            InputError, match=r"1 missing or infinite values \(first: sample 'S3', pathway 'P2'\)"
        ):
            align(batch, reference)


def test_combat_leaves_a_feature_constant_within_a_batch_unchanged():
    """sva::ComBat has no scale to adjust there: the feature is returned as it was and left out of the priors."""
    batch, reference = _frames(1)
    batch["P0"] = 0.25
    reference["P1"] = 7.0
    out = combat_to_reference(batch, reference)
    assert (out["P0"] == 0.25).all() and out["P1"].equals(batch["P1"])
    rest = ["P2", "P3", "P4", "P5", "P6", "P7"]
    np.testing.assert_allclose(out[rest], combat_to_reference(batch[rest], reference[rest]), rtol=1e-15)
