"""split_by_prediction: quantile cut-off, tie rule, direction, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.evaluation import NON_RESPONDER, RESPONDER, split_by_prediction


def test_median_split_by_hand():
    predicted = pd.Series([3.0, 1.0, 4.0, 2.0, 5.0], index=list("abcde"))
    groups = split_by_prediction(predicted)
    # median 3: a (=3, tie goes to the sensitive side), b, d are responders
    assert groups.to_dict() == {
        "a": RESPONDER,
        "b": RESPONDER,
        "c": NON_RESPONDER,
        "d": RESPONDER,
        "e": NON_RESPONDER,
    }
    assert list(groups.index) == list("abcde") and groups.name == "group"


def test_ties_at_cutoff_go_to_responders():
    predicted = pd.Series([1.0, 2.0, 2.0, 2.0, 3.0, 4.0], index=list("abcdef"))
    groups = split_by_prediction(predicted)
    assert (groups[["a", "b", "c", "d"]] == RESPONDER).all()
    assert (groups[["e", "f"]] == NON_RESPONDER).all()


def test_direction_and_negation_symmetry():
    rng = np.random.default_rng(0)
    predicted = pd.Series(rng.integers(0, 6, 50).astype(float), index=[f"p{i}" for i in range(50)])
    for q in (0.2, 0.5, 0.7):
        low = split_by_prediction(predicted, quantile=q)
        high = split_by_prediction(-predicted, quantile=q, lower_is_sensitive=False)
        pd.testing.assert_series_equal(low, high)


def test_quantile_controls_group_size_and_order_invariance():
    rng = np.random.default_rng(1)
    predicted = pd.Series(rng.normal(size=100), index=[f"p{i}" for i in range(100)])
    groups = split_by_prediction(predicted, quantile=0.25)
    assert (groups == RESPONDER).sum() == 25
    shuffled = predicted.sample(frac=1.0, random_state=3)
    pd.testing.assert_series_equal(split_by_prediction(shuffled, quantile=0.25), groups.loc[shuffled.index])
    before = predicted.copy()
    split_by_prediction(predicted)
    pd.testing.assert_series_equal(predicted, before)


def test_array_input_gets_positional_ids():
    groups = split_by_prediction(np.array([1.0, 2.0, 3.0, 4.0]))
    assert list(groups.index) == ["0", "1", "2", "3"]


@pytest.mark.parametrize(
    ("predicted", "kwargs", "message"),
    [
        (pd.Series([1.0, 2.0]), {"quantile": 1.0}, "quantile must be strictly between 0 and 1"),
        (pd.Series([1.0, np.nan, 3.0]), {}, r"1 missing values \(patients '1'\)"),
        (pd.Series([2.0, 2.0, 2.0]), {}, "all 3 predictions fall on one side"),
        (pd.Series(["x", "y"]), {}, "must be numeric"),
        (pd.Series([1.0, 2.0], index=["a", "a"]), {}, "duplicated patient ids"),
    ],
)
def test_bad_input(predicted, kwargs, message):
    with pytest.raises(InputError, match=message):
        split_by_prediction(predicted, **kwargs)


def test_stored_cutoff_reproduces_the_split_for_both_directions() -> None:
    from organoidrx.evaluation import assign_groups, prediction_cutoff

    predicted = pd.Series([0.3, -1.2, 2.5, 0.3, 1.1, -0.4], index=list("abcdef"))
    for lower in (True, False):
        split = split_by_prediction(predicted, quantile=0.4, lower_is_sensitive=lower)
        cutoff = prediction_cutoff(predicted, quantile=0.4, lower_is_sensitive=lower)
        assert assign_groups(predicted, cutoff, lower_is_sensitive=lower).equals(split)
