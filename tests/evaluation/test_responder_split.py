"""ResponderSplit: the cut-off learned on the treated patients, applied to anyone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from organoidrx import InputError
from organoidrx.evaluation import ResponderSplit, split_by_prediction


def test_hand_checked_median_split() -> None:
    treated = pd.Series([4.0, 1.0, 3.0, 2.0], index=list("abcd"))
    split = ResponderSplit().fit(treated)
    assert split.cutoff_ == 2.5 and split.n_responders_ == 2 and split.separates_
    assert split.transform(treated).tolist() == split_by_prediction(treated).tolist()
    others = pd.Series([2.5, 2.6], index=["tie", "above"])
    assert split.transform(others).tolist() == ["predicted responder", "predicted non-responder"]


def test_higher_is_sensitive_and_quantile() -> None:
    rng = np.random.default_rng(0)
    treated = pd.Series(rng.normal(size=50))
    for quantile in (0.25, 0.5, 0.7):
        for lower in (True, False):
            split = ResponderSplit(quantile, lower).fit(treated)
            expected = split_by_prediction(treated, quantile=quantile, lower_is_sensitive=lower)
            assert split.transform(treated).tolist() == expected.tolist()
            flipped = ResponderSplit(quantile, not lower).fit(-treated)
            assert flipped.transform(-treated).tolist() == expected.tolist()


def test_negated_predictions_split_the_same_to_the_last_bit() -> None:
    """A patient tied at the cut-off stays a responder when the predictions are negated and the direction flipped:
    1 - 0.7 is 0.30000000000000004, which once moved a tied cut-off of 0.7 to 0.6999999999999998."""
    x = pd.Series([0.9, 0.6, -0.4, -0.6, 0.7, 0.2, 0.5, 1.2, 1.2, 0.8, 0.6, -1.3, -1.1, 0.8, 0.6, 0.5, 0.8, -0.6,
                   0.6, -1.0, 0.1])  # fmt: skip
    for quantile in (0.3, 0.5, 0.7, 0.9):
        lower = split_by_prediction(x, quantile=quantile)
        higher = split_by_prediction(-x, quantile=quantile, lower_is_sensitive=False)
        assert lower.tolist() == higher.tolist(), quantile


def test_one_sided_predictions() -> None:
    same = pd.Series([1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="fall on one side of the cut-off"):
        ResponderSplit().fit(same)
    assert not ResponderSplit(require_both=False).fit(same).separates_
    with pytest.raises(InputError, match="quantile must be strictly between 0 and 1"):
        ResponderSplit(1.5, require_both=False).fit(same)


def test_is_a_scikit_learn_estimator() -> None:
    split = ResponderSplit(0.3, False)
    assert clone(split).get_params() == {"quantile": 0.3, "lower_is_sensitive": False, "require_both": True}
