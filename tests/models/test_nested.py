"""NestedModelSelector: scikit-learn contract, hand-checked inner CV, tie-breaks, and no leakage of held-out rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.utils.estimator_checks import parametrize_with_checks

from organoidrx._utils import InputError
from organoidrx.models import (
    DrugResponseModel,
    NestedModelSelector,
    chosen_pipeline,
    cross_validate_response,
    loo_predict,
    make_nested_selector,
    make_response_model,
    selection_record,
    selection_table,
)


@parametrize_with_checks(
    [
        NestedModelSelector([("mean", DummyRegressor()), ("linear", LinearRegression())], cv=3),
        NestedModelSelector(
            [("ridge2", DrugResponseModel(top_k=2)), ("linear", DrugResponseModel("linear"))]
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, index=[f"s{i}" for i in range(len(values))],
                        columns=[f"P{j}" for j in range(values.shape[1])])  # fmt: skip


# ------------------------------------------------------------------------------------------ hand-checked
def test_inner_leave_one_out_error_of_the_mean_by_hand():
    # y = 1, 2, 3, 4: leaving out y_i, the mean of the others is (10 - y_i) / 3 -> 3, 8/3, 7/3, 2; errors -2, -2/3,
    # 2/3, 2; MSE = (4 + 4/9 + 4/9 + 4) / 4 = 20/9. A line through x = y fits exactly: MSE 0, chosen.
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    selector = NestedModelSelector([("mean", DummyRegressor()), ("linear", LinearRegression())]).fit(X, y)
    results = selector.cv_results_.set_index("candidate")
    assert results.loc["mean", "inner_mse"] == pytest.approx(20 / 9, rel=1e-12)
    assert results.loc["linear", "inner_mse"] == pytest.approx(0.0, abs=1e-20)
    # Spearman of the mean's held-out predictions (3, 8/3, 7/3, 2) with y: exactly reversed ranks
    assert results.loc["mean", "inner_spearman"] == pytest.approx(-1.0)
    assert selector.best_name_ == "linear" and results["chosen"].tolist() == [False, True]
    assert selector.predict(np.array([[10.0]]))[0] == pytest.approx(10.0)


def test_matches_a_plain_loop_over_candidates():
    rng = np.random.default_rng(4)
    X = _frame(rng.normal(size=(15, 6)))
    y = X["P0"].to_numpy() - X["P3"].to_numpy() + 0.5 * rng.normal(size=15)
    selector = make_nested_selector(["ridge", "linear"], [1, 3]).fit(X, y)
    for name, estimator in selector.estimators:
        pred = cross_val_predict(estimator, X, y, cv=LeaveOneOut())  # the reference: scikit-learn's own loop
        row = selector.cv_results_.set_index("candidate").loc[name]
        assert row["inner_mse"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-10)


def test_three_informative_features_choose_top3_and_a_linear_signal_beats_the_mean():
    rng = np.random.default_rng(0)
    X = _frame(rng.normal(size=(24, 12)))
    y = 3 * X["P2"] - 2 * X["P5"] + 1.5 * X["P7"] + 0.2 * rng.normal(size=24)
    selector = make_nested_selector(["linear"], [3, 12]).fit(X, y.to_numpy())
    assert selector.best_name_ == "linear_top3"
    assert sorted(chosen_pipeline(selector)[-1].selected_features_) == ["P2", "P5", "P7"]
    noise = NestedModelSelector([("mean", DummyRegressor()), ("linear", make_response_model("linear", 3))])
    assert noise.fit(X, y.to_numpy()).best_name_ == "linear"


def test_ties_go_to_the_earlier_candidate_and_capped_k_is_scored_once():
    rng = np.random.default_rng(1)
    X = _frame(rng.normal(size=(12, 4)))
    y = X["P0"].to_numpy() + 0.1 * rng.normal(size=12)
    twins = [("a", LinearRegression()), ("b", LinearRegression())]
    assert NestedModelSelector(twins).fit(X, y).best_name_ == "a"
    assert NestedModelSelector(twins[::-1]).fit(X, y).best_name_ == "b"
    # 4 features: top_k 5 and 9 are one model; the smaller k wins the tie, candidates are ordered k first
    selector = make_nested_selector(["linear", "ridge"], [9, 5]).fit(X, y)
    assert [n for n, _ in selector.estimators] == ["linear_top5", "ridge_top5", "linear_top9", "ridge_top9"]
    res = selector.cv_results_.set_index("candidate")
    assert res.loc["linear_top5", "inner_mse"] == res.loc["linear_top9", "inner_mse"]
    assert selector.best_name_ in ("linear_top5", "ridge_top5")
    table = selection_table("d", selector)
    assert table["n_pathways"].tolist() == [4, 4, 4, 4] and table["top_k"].tolist() == [5, 5, 9, 9]


def test_the_record_states_the_criterion_the_selector_used():
    rng = np.random.default_rng(0)
    X, y = _frame(rng.normal(size=(20, 6))), rng.normal(size=20)
    base = make_nested_selector(["ridge", "linear"], [1, 6])
    loo = selection_record(selection_table("d", base.fit(X, y)))
    assert loo["criterion"] == (
        "smallest mean squared error of inner leave-one-out predictions over the training organoids"
    )
    folds = NestedModelSelector(base.estimators, cv=4, scoring="spearman", random_state=3).fit(X, y)
    assert selection_record(selection_table("d", folds))["criterion"] == (
        "largest Spearman correlation of inner 4-fold (shuffled with seed 3) predictions over the training organoids"
    )


def test_bad_parameters_are_refused():
    X, y = np.zeros((5, 2)), np.arange(5.0)
    with pytest.raises(InputError, match="non-empty list of \\(name, estimator\\)"):
        NestedModelSelector([]).fit(X, y)
    with pytest.raises(InputError, match="'a' is given twice"):
        NestedModelSelector([("a", DummyRegressor()), ("a", DummyRegressor())]).fit(X, y)
    with pytest.raises(InputError, match="scoring must be 'mse' or 'spearman'"):
        NestedModelSelector([("a", DummyRegressor())], scoring="r2").fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="top_k lists 5 twice"):
        make_nested_selector(["ridge"], [5, 5])


def test_spearman_scoring_ranks_a_constant_prediction_last():
    X = np.arange(8.0)[:, None]
    y = X[:, 0] ** 3
    selector = NestedModelSelector(
        [("mean", DummyRegressor()), ("linear", LinearRegression())], scoring="spearman"
    ).fit(X, y)
    assert selector.best_name_ == "linear"


# ------------------------------------------------------------------------------------------ leakage
_FITS: list[frozenset[float]] = []
_OUTER: list[tuple[frozenset[float], int, int]] = []


class _SpyRegressor(RegressorMixin, BaseEstimator):
    """Least squares that logs the ids (column 0) of the rows it is fitted on."""

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        _FITS.append(frozenset(X[:, 0].tolist()))
        self.model_ = LinearRegression().fit(X[:, 1:], y)
        return self

    def predict(self, X):
        return self.model_.predict(np.asarray(X, dtype=float)[:, 1:])


class _SpySelector(NestedModelSelector):
    """Logs, per fit, its own training rows and the range of candidate fits made inside it."""

    def fit(self, X, y):
        start = len(_FITS)
        super().fit(X, y)
        _OUTER.append((frozenset(np.asarray(X, dtype=float)[:, 0].tolist()), start, len(_FITS)))
        return self


def _spy_data(n: int = 9) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"id": np.arange(n, dtype=float) * 1000.0, "a": rng.normal(size=n), "b": rng.normal(size=n)},
                     index=[f"o{i}" for i in range(n)])  # fmt: skip
    return X, pd.Series(X["a"].to_numpy() + 0.1 * rng.normal(size=n), index=X.index, name="drug")


def _check_no_leak(n: int, expected_outer: int) -> None:
    assert len(_OUTER) == expected_outer
    everyone = frozenset(np.arange(n, dtype=float) * 1000.0)
    for train, start, stop in _OUTER:
        held_out = everyone - train
        assert len(held_out) == 1  # leave-one-out: one organoid is held out of this selection
        inner = _FITS[start:stop]
        assert len(inner) == 2 * (n - 1) + 1  # 2 candidates x inner LOO folds + the refit of the best
        for rows in inner:
            assert rows <= train and not rows & held_out


def test_the_held_out_organoid_never_reaches_an_inner_fit():
    X, y = _spy_data()
    selector = _SpySelector([("one", _SpyRegressor()), ("two", _SpyRegressor())])
    _FITS.clear(), _OUTER.clear()
    cross_validate_response(X, y, feature_sets={"all": list(X.columns)}, model=selector, n_random=0,
                            include_all=False)  # fmt: skip
    _check_no_leak(len(X), len(X))
    _FITS.clear(), _OUTER.clear()
    _, fitted = loo_predict(selector, X, y.to_numpy())
    _check_no_leak(len(X), len(X))
    chosen = [f.best_name_ for f in fitted]
    assert len(chosen) == len(X) and set(chosen) <= {"one", "two"}


def test_random_sets_rerun_the_selection_per_set_and_fold():
    X, y = _spy_data()
    selector = _SpySelector([("one", _SpyRegressor()), ("two", _SpyRegressor())])
    _FITS.clear(), _OUTER.clear()
    # one feature set of 2 of the 3 columns and 4 random sets of size 2 drawn from the same 3 columns
    scores = X.assign(c=X["b"] * 2)
    table = cross_validate_response(scores, y, feature_sets={"set": ["id", "a"]}, model=selector, n_random=4,
                                    include_all=False, random_state=0)  # fmt: skip
    assert table["n_random"].iloc[0] == 4
    assert len(_OUTER) == len(X) * (1 + 4)  # a whole selection in every outer fold of every set


def test_outer_predictions_equal_cross_validate_response():
    rng = np.random.default_rng(5)
    X = _frame(rng.normal(size=(10, 4)))
    y = pd.Series(X["P1"].to_numpy() + 0.3 * rng.normal(size=10), index=X.index, name="d")
    selector = make_nested_selector(["ridge", "linear"], [1, 2])
    pred, _ = loo_predict(selector, X, y.to_numpy())
    assert np.array_equal(pred, cross_val_predict(selector, X, y.to_numpy(), cv=LeaveOneOut()))
    row = cross_validate_response(X, y, feature_sets={"s": list(X.columns)}, model=selector, n_random=0,
                                  include_all=False).iloc[0]  # fmt: skip
    expected = pd.Series(pred).rank().corr(pd.Series(y.to_numpy()).rank())
    assert row["spearman"] == pytest.approx(expected, rel=1e-12)
