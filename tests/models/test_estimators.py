"""ProximalPathwaySelector and DrugResponseModel: scikit-learn contract, hand-checkable cases, errors."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from organoidrx._utils import InputError
from organoidrx.models import (
    DrugResponseModel,
    KernelRidgeLOO,
    ProximalPathwaySelector,
    make_kong2020_pipeline,
    proximal_pathways,
)
from organoidrx.models._response import rank_order

# every even-numbered column x0, x2, ... is proximal, so any X with >= 1 column keeps something
_CHECK_PROXIMITY = pd.DataFrame(
    {"pathway": [f"x{i}" for i in range(40)], "z": [-2.0 if i % 2 == 0 else 0.5 for i in range(40)]}
)


@parametrize_with_checks(
    [
        ProximalPathwaySelector(_CHECK_PROXIMITY),
        DrugResponseModel(),
        DrugResponseModel("svr"),
        DrugResponseModel("linear", top_k=2),
        DrugResponseModel("elasticnet", top_k=None),
        DrugResponseModel("kernel_ridge", top_k=2),
        DrugResponseModel("kernel_ridge", top_k=None, model_options={"kernel": "linear"}),
        KernelRidgeLOO(kernel="laplacian"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _frame(values: np.ndarray, prefix: str = "P") -> pd.DataFrame:
    return pd.DataFrame(
        values,
        index=[f"s{i}" for i in range(values.shape[0])],
        columns=[f"{prefix}{j}" for j in range(values.shape[1])],
    )


# ------------------------------------------------------------------------------------------ selector
def test_selector_keeps_proximal_columns_in_input_order():
    proximity = pd.DataFrame(
        {
            "drug": ["d1"] * 4 + ["d2"] * 4,
            "pathway": ["P3", "P0", "P1", "P2"] * 2,
            "z": [-3.0, -1.2816, -1.2815, np.nan, 0.0, 0.0, -5.0, 0.0],
        }
    )
    X = _frame(np.arange(12.0).reshape(3, 4))
    sel = ProximalPathwaySelector(proximity, drug="d1").fit(X)
    # z <= threshold is inclusive; -1.2815 and NaN fail
    assert sel.get_feature_names_out().tolist() == ["P0", "P3"]
    assert sel.get_support().tolist() == [True, False, False, True]
    out = sel.transform(X)
    np.testing.assert_array_equal(out, X[["P0", "P3"]].to_numpy())
    assert ProximalPathwaySelector(proximity, drug="d2").fit(X).get_feature_names_out().tolist() == ["P1"]
    assert proximal_pathways(proximity) == {"d1": ["P3", "P0"], "d2": ["P1"]}


def test_selector_accepts_a_callable_and_does_not_mutate():
    proximity = pd.DataFrame({"pathway": ["P0", "P1"], "z": [-2.0, 1.0]})
    before = proximity.copy()
    calls = []

    def compute(drug):
        calls.append(drug)
        return proximity

    sel = ProximalPathwaySelector(compute, drug="x").fit(_frame(np.ones((2, 2))))
    assert calls == ["x"]
    assert sel.selected_features_.tolist() == ["P0"]
    pd.testing.assert_frame_equal(proximity, before)


def test_selector_warns_about_proximal_pathways_missing_from_x(caplog):
    proximity = pd.DataFrame({"pathway": ["P0", "GONE_A", "GONE_B"], "z": [-2.0, -2.0, -2.0]})
    logger = logging.getLogger("organoidrx.models")
    logger.addHandler(caplog.handler)  # direct, in case the CLI switched off propagation
    try:
        ProximalPathwaySelector(proximity).fit(_frame(np.ones((2, 2))))
    finally:
        logger.removeHandler(caplog.handler)
    assert "2 of 3 proximal pathways are not columns of X" in caplog.text
    assert "GONE_A" in caplog.text


def test_selector_errors():
    X = _frame(np.ones((2, 2)))
    with pytest.raises(InputError, match=r"no pathway of 2 in the proximity table has z <= -1\.2816"):
        ProximalPathwaySelector(pd.DataFrame({"pathway": ["P0", "P1"], "z": [0.0, 1.0]})).fit(X)
    with pytest.raises(InputError, match="none of the 1 proximal pathways is a column of X"):
        ProximalPathwaySelector(pd.DataFrame({"pathway": ["Q"], "z": [-3.0]})).fit(X)
    two_drugs = pd.DataFrame({"drug": ["a", "b"], "pathway": ["P0", "P0"], "z": [-3.0, -3.0]})
    with pytest.raises(InputError, match=r"holds 2 drugs .* pass drug="):
        ProximalPathwaySelector(two_drugs).fit(X)
    with pytest.raises(InputError, match="no rows for drug 'c'"):
        ProximalPathwaySelector(two_drugs, drug="c").fit(X)
    with pytest.raises(InputError, match="missing columns \\['z'\\]"):
        ProximalPathwaySelector(pd.DataFrame({"pathway": ["P0"], "score": [1.0]})).fit(X)
    with pytest.raises(InputError, match="more than once"):
        ProximalPathwaySelector(pd.DataFrame({"pathway": ["P0", "P0"], "z": [-3.0, -2.0]})).fit(X)
    with pytest.raises(InputError, match="needs a proximity table"):
        ProximalPathwaySelector().fit(X)


# ------------------------------------------------------------------------------------------ response model
@pytest.mark.parametrize("kind", ["ridge", "svr", "linear", "elasticnet"])
def test_top_k_finds_the_two_planted_features(kind):
    rng = np.random.default_rng(1)
    X = _frame(rng.normal(size=(40, 8)))
    y = 2.0 * X["P5"] - 1.0 * X["P2"]
    model = DrugResponseModel(kind, top_k=2).fit(X, y)
    assert model.selected_features_.tolist() == ["P5", "P2"]
    assert model.ranking_["feature"].tolist()[:2] == ["P5", "P2"]
    assert model.ranking_["rank"].tolist() == list(range(1, 9))
    if kind == "linear":  # exact linear function: least squares recovers it
        np.testing.assert_allclose(model.coef_, [2.0, -1.0], atol=1e-12)
        np.testing.assert_allclose(model.intercept_, 0.0, atol=1e-12)
        np.testing.assert_allclose(model.predict(X), y, atol=1e-12)


def test_ranking_ties_are_broken_by_input_position():
    coef = np.array([0.5, -2.0, 2.0, 0.0, -0.5, 1.0])
    np.testing.assert_array_equal(rank_order(coef), [1, 2, 5, 0, 4, 3])
    # the same rule inside the model: a pure tie between two columns keeps their input order
    model = DrugResponseModel("linear", top_k=1).fit(np.eye(2), [1.0, 1.0])
    assert model.ranking_["coefficient"].tolist() == [0.0, 0.0]
    assert model.ranking_["feature"].tolist() == ["x0", "x1"]


def test_refit_false_keeps_full_model_coefficients():
    rng = np.random.default_rng(2)
    X = _frame(rng.normal(size=(25, 6)))
    y = X["P1"] + 0.5 * X["P4"] + rng.normal(scale=0.3, size=25)
    full = DrugResponseModel("linear", top_k=None).fit(X, y)
    kept = DrugResponseModel("linear", top_k=3, refit=False).fit(X, y)
    refit = DrugResponseModel("linear", top_k=3).fit(X, y)
    lookup = full.ranking_.set_index("feature")["coefficient"]
    np.testing.assert_array_equal(kept.coef_, lookup[kept.selected_features_].to_numpy())
    assert not np.allclose(refit.coef_, kept.coef_)
    # refit coefficients are least squares on the three selected columns
    Xs = np.column_stack([np.ones(25), X[refit.selected_features_].to_numpy()])
    beta = np.linalg.lstsq(Xs, y.to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(refit.coef_, beta[1:], atol=1e-10)
    np.testing.assert_allclose(refit.intercept_, beta[0], atol=1e-10)


@pytest.mark.parametrize("kind", ["ridge", "svr", "linear", "elasticnet"])
def test_deterministic_and_predict_matches_backend(kind):
    rng = np.random.default_rng(3)
    X = _frame(rng.normal(size=(30, 12)))
    y = X.iloc[:, :3].sum(axis=1) + rng.normal(scale=0.5, size=30)
    a = DrugResponseModel(kind, top_k=4, random_state=5).fit(X, y)
    b = DrugResponseModel(kind, top_k=4, random_state=5).fit(X.copy(), y.copy())
    pd.testing.assert_frame_equal(a.ranking_, b.ranking_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    backend = a.estimator_.predict(X.to_numpy()[:, a.selected_indices_])
    np.testing.assert_allclose(a.predict(X), backend, rtol=1e-10, atol=1e-10)


def test_model_errors():
    X = _frame(np.random.default_rng(0).normal(size=(10, 3)))
    y = np.arange(10.0)
    with pytest.raises(InputError, match=r"unknown model 'lasso'"):
        DrugResponseModel("lasso").fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="top_k must be a positive integer or None; got 0"):
        DrugResponseModel(top_k=0).fit(X, y)
    with pytest.raises(InputError, match="'ridge', 'svr' and 'linear'; got 'elasticnet'"):
        make_kong2020_pipeline("elasticnet")  # type: ignore[arg-type]


def test_pipeline_selects_inside_each_fold():
    """Under cross-validation the ranking is recomputed on the training fold only (no peeking)."""
    rng = np.random.default_rng(4)
    X = _frame(rng.normal(size=(20, 30)))
    y = pd.Series(rng.normal(size=20), index=X.index)  # pure noise
    pipe = make_pipeline(StandardScaler(), DrugResponseModel("ridge", top_k=3)).set_output(transform="pandas")
    honest = np.corrcoef(cross_val_predict(pipe, X, y, cv=20), y)[0, 1]
    # the leaky alternative: rank on all 20 samples, then cross-validate only the final fit
    top = pipe.fit(X, y)[-1].selected_features_
    assert set(top) <= set(X.columns) and len(top) == 3
    leaky_pipe = make_pipeline(StandardScaler(), DrugResponseModel("ridge", top_k=None))
    leaky = np.corrcoef(cross_val_predict(leaky_pipe, X[top], y, cv=20), y)[0, 1]
    assert honest < 0.3 < leaky


def test_kong2020_pipeline_structure():
    proximity = pd.DataFrame({"pathway": ["P0", "P2"], "z": [-2.0, -3.0]})
    pipe = make_kong2020_pipeline("ridge", proximity=proximity)
    assert [name for name, _ in pipe.steps] == ["select", "scale", "model"]
    model = pipe.named_steps["model"]
    assert model.cv == 3
    np.testing.assert_allclose(model.alphas, np.arange(0.1, 1, 0.1))
    rng = np.random.default_rng(5)
    X = _frame(rng.normal(size=(12, 4)))
    pipe.fit(X, rng.normal(size=12))
    assert sorted(model.selected_features_) == ["P0", "P2"]
    assert [n for n, _ in make_kong2020_pipeline("svr").steps] == ["scale", "model"]
