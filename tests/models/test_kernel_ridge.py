"""Kernel ridge regression: a case worked by hand, scikit-learn's KernelRidge on the real organoid scores, the
closed-form leave-one-out against refitting n times, partial derivatives against finite differences, and the
kernel model through DrugResponseModel, bundles and the pipeline.

The reference is ``sklearn.kernel_ridge.KernelRidge(alpha, kernel=..., gamma=1/p, degree, coef0)`` fitted on the
centred response ``y - mean(y)``, whose predictions plus ``mean(y)`` are what :class:`KernelRidgeLOO` predicts;
the reference numbers are computed in the tests below, beside the comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge

from organoidrx._utils import InputError
from organoidrx.models import (
    DrugResponseModel,
    KernelRidgeLOO,
    load_bundle,
    make_response_pipeline,
    predict_from_bundle,
    proximal_pathways,
    save_bundle,
    standardize_columns,
)
from organoidrx.models._kernel import kernel_partial_derivatives

from ..conftest import shared_file

KERNELS = ["linear", "rbf", "laplacian", "polynomial"]
ALPHAS = (0.1, 1.0, 10.0)


# ------------------------------------------------------------------------------------------- by hand
def test_two_points_worked_by_hand():
    # X = [1, -1], y = [1, -1] (mean 0), linear kernel K = [[1, -1], [-1, 1]], alpha = 1:
    # (K + I)^-1 = [[2, 1], [1, 2]] / 3, c = (K + I)^-1 y = [1, -1] / 3, f(1) = 1 * 1/3 + (-1)(-1/3) = 2/3.
    # Leave-one-out: c_i / (K + I)^-1_ii = (1/3) / (2/3) = 1/2; refitting on the other point alone gives
    # c = -1 / (1 + 1), f(1) = -1 * -1/2 = 1/2, residual 1 - 1/2 = 1/2.
    model = KernelRidgeLOO(alphas=[1.0], kernel="linear").fit([[1.0], [-1.0]], [1.0, -1.0])
    np.testing.assert_allclose(model.dual_coef_, [1 / 3, -1 / 3])
    np.testing.assert_allclose(model.predict([[1.0]]), [2 / 3])
    np.testing.assert_allclose(model.loo_mse_, [0.25])
    np.testing.assert_allclose(model.coef_, [2 / 3])
    assert model.intercept_ == 0.0


# ------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def organoids(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The authors' ssGSEA scores of the 38 5-FU-proximal pathways (standardised) and the 19 organoid IC50s."""
    ref = shared_data / "kong2020" / "reference_outputs"
    es = pd.read_csv(
        shared_file(ref, "organoid_ssgsea_normalized_es.tsv"), sep="\t", comment="#", index_col=0
    ).T
    zscores = pd.read_csv(shared_file(ref, "proximity_zscores_string700_reactome.tsv"), sep="\t")
    proximity = zscores.melt(id_vars="Pathway", var_name="drug", value_name="z").rename(
        columns={"Pathway": "pathway"}
    )
    ic50 = pd.read_csv(shared_file(shared_data, "kong2020/organoid_coad/ic50_median.tsv"), sep="\t")
    fu = ic50[ic50["Drug Name"] == "5-Fluorouracil"]
    y = pd.Series(fu["median_IC50"].to_numpy(), index=fu["Organoid"].str.upper())
    features = [p for p in proximal_pathways(proximity)["FLUOROURACIL"] if p in es.columns]
    X = standardize_columns(es.loc[y.index, features].to_numpy(dtype=float))
    return X, np.log(y.to_numpy(dtype=float))


@pytest.mark.shared_data
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_predictions_match_sklearn_kernel_ridge_on_organoid_scores(organoids, kernel, alpha):
    X, y = organoids
    train, test = np.arange(14), np.arange(14, len(y))
    ours = KernelRidgeLOO(alphas=[alpha], kernel=kernel, degree=2, coef0=0.5).fit(X[train], y[train])
    mean = y[train].mean()
    theirs = KernelRidge(alpha=alpha, kernel=kernel, gamma=1 / X.shape[1], degree=2, coef0=0.5)
    theirs.fit(X[train], y[train] - mean)
    for rows in (train, test):
        np.testing.assert_allclose(ours.predict(X[rows]), theirs.predict(X[rows]) + mean, rtol=1e-8)
    np.testing.assert_allclose(ours.dual_coef_, np.ravel(theirs.dual_coef_), rtol=1e-8, atol=1e-12)


def _brute_force_loo_mse(X: np.ndarray, yc: np.ndarray, alpha: float, **kernel: object) -> float:
    """Refit KernelRidge n times, each time without one sample, on the response centred once (as the closed form)."""
    residuals = []
    for i in range(len(yc)):
        keep = np.arange(len(yc)) != i
        fitted = KernelRidge(alpha=alpha, **kernel).fit(X[keep], yc[keep])
        residuals.append(yc[i] - fitted.predict(X[i : i + 1])[0])
    return float(np.mean(np.square(residuals)))


@pytest.mark.shared_data
@pytest.mark.parametrize("kernel", KERNELS)
def test_leave_one_out_choice_matches_refitting_n_times(organoids, kernel):
    X, y = organoids
    grid = (0.01, 0.1, 1.0, 10.0, 100.0)
    ours = KernelRidgeLOO(alphas=grid, kernel=kernel, degree=2).fit(X, y)
    params = {"kernel": kernel, "gamma": 1 / X.shape[1], "degree": 2, "coef0": 1.0}
    brute = [_brute_force_loo_mse(X, y - y.mean(), a, **params) for a in grid]
    np.testing.assert_allclose(ours.loo_mse_, brute, rtol=1e-8)
    assert ours.alpha_ == grid[int(np.argmin(brute))]


@pytest.mark.shared_data
def test_linear_kernel_ranking_is_ridge_coefficients(organoids):
    X, y = organoids
    model = DrugResponseModel("kernel_ridge", top_k=None, model_options={"kernel": "linear"}).fit(X, y)
    alpha = model.estimator_.alpha_
    ridge = Ridge(alpha=alpha).fit(X, y)  # X is column-centred: the same fit, intercept mean(y)
    np.testing.assert_allclose(model.coef_, ridge.coef_[model.selected_indices_], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, ridge.intercept_, rtol=1e-12)
    # the mean |partial derivative| of the kernel expansion is |coef|, and the ranking is by it
    gradient = kernel_partial_derivatives(
        X, model.estimator_.X_fit_, model.estimator_.dual_coef_, kernel="linear", gamma=1.0
    )
    np.testing.assert_allclose(np.abs(gradient).mean(axis=0), np.abs(ridge.coef_), rtol=1e-8, atol=1e-12)
    ranked = model.ranking_.set_index("feature")["coefficient"]
    np.testing.assert_allclose(
        ranked[[f"x{i}" for i in range(X.shape[1])]], ridge.coef_, rtol=1e-8, atol=1e-12
    )


# ------------------------------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("kernel", KERNELS)
def test_partial_derivatives_match_finite_differences(kernel):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(15, 4))
    model = KernelRidgeLOO(kernel=kernel, gamma=0.3, degree=3).fit(X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2])
    points = rng.normal(size=(5, 4))  # away from the training coordinates, where the laplacian is smooth
    h = 1e-6
    numeric = np.empty_like(points)
    for j in range(points.shape[1]):
        step = np.zeros(points.shape[1])
        step[j] = h
        numeric[:, j] = (model.predict(points + step) - model.predict(points - step)) / (2 * h)
    np.testing.assert_allclose(model.partial_derivatives(points), numeric, rtol=1e-5, atol=1e-7)


def test_nonlinear_ranking_is_signed_mean_absolute_derivative():
    rng = np.random.default_rng(2)
    X = standardize_columns(rng.normal(size=(30, 5)))
    y = np.sin(2 * X[:, 3]) + 0.1 * X[:, 0]
    model = DrugResponseModel("kernel_ridge", top_k=2, model_options={"kernel": "rbf"}).fit(X, y)
    gradient = model.full_estimator_.partial_derivatives(X)
    expected = np.where(gradient.mean(axis=0) < 0, -1, 1) * np.abs(gradient).mean(axis=0)
    ranked = model.ranking_.set_index("feature")["coefficient"]
    np.testing.assert_allclose(ranked[[f"x{i}" for i in range(5)]], expected)
    assert model.selected_features_[0] == "x3"
    assert not hasattr(model, "coef_")  # no coefficient vector for a non-linear kernel
    # prediction is the refitted kernel model on the two selected columns
    refit = KernelRidgeLOO(kernel="rbf").fit(X[:, model.selected_indices_], y)
    np.testing.assert_array_equal(model.predict(X), refit.predict(X[:, model.selected_indices_]))


@pytest.mark.parametrize("kernel", ["rbf", "laplacian", "polynomial"])
def test_every_feature_kept_predicts_with_the_columns_in_fitted_order(kernel, tmp_path):
    """A non-linear model kept on all features is not refitted: it must read the columns in the order it was
    fitted on, not in rank order (a permutation of the test columns against the training ones)."""
    rng = np.random.default_rng(4)
    X = standardize_columns(rng.normal(size=(25, 6)))
    y = np.sin(2 * X[:, 4]) + 0.5 * X[:, 1] - X[:, 0] ** 2
    options = {"kernel": kernel, "degree": 2}
    model = DrugResponseModel("kernel_ridge", top_k=None, model_options=options).fit(X, y)
    assert model.ranking_["feature"].tolist() != [
        f"x{i}" for i in range(6)
    ]  # ranked order differs from input
    direct = KernelRidgeLOO(kernel=kernel, degree=2).fit(X, y)
    new = rng.normal(size=(7, 6))
    np.testing.assert_array_equal(model.predict(new), direct.predict(new))
    frame = pd.DataFrame(X, columns=[f"P{j}" for j in range(6)])
    fitted = make_response_pipeline("kernel_ridge", top_k=None, model_options=options).fit(frame, y)
    bundle = load_bundle(save_bundle(tmp_path / "all.zip", fitted, metadata={"drug": "D"}))
    test = pd.DataFrame(new, columns=frame.columns)
    assert np.array_equal(predict_from_bundle(bundle, test).to_numpy(), fitted.predict(test))


# ------------------------------------------------------------------------------------------- refusals
def test_refusals_name_the_problem():
    X = np.random.default_rng(0).normal(size=(10, 4))
    y = X[:, 0]
    with pytest.raises(InputError, match=r"cannot be restricted to the top 2; use refit=True"):
        DrugResponseModel("kernel_ridge", top_k=2, refit=False).fit(X, y)
    with pytest.raises(InputError, match=r"exact leave-one-out; cv must be None, got 3"):
        DrugResponseModel("kernel_ridge", cv=3).fit(X, y)
    with pytest.raises(InputError, match=r"kernel must be one of linear, rbf, laplacian, polynomial"):
        DrugResponseModel("kernel_ridge", model_options={"kernel": "sigmoid"}).fit(X, y)
    with pytest.raises(InputError, match=r"has no option 'gama' \(did you mean 'gamma'\?\)"):
        DrugResponseModel("kernel_ridge", model_options={"gama": 1.0}).fit(X, y)
    with pytest.raises(InputError, match=r"alphas must be positive numbers"):
        KernelRidgeLOO(alphas=[0.0]).fit(X, y)
    # refit=False with every feature kept is a plain fit: accepted
    DrugResponseModel("kernel_ridge", top_k=None, refit=False).fit(X, y)


# ------------------------------------------------------------------------------------------- bundles
@pytest.mark.parametrize("kernel", ["rbf", "laplacian", "polynomial", "linear"])
def test_bundle_replays_the_kernel_model_bit_for_bit(kernel, tmp_path):
    rng = np.random.default_rng(3)
    scores = pd.DataFrame(rng.normal(size=(16, 6)), columns=[f"PATHWAY_{j}" for j in range(6)])
    y = np.tanh(scores["PATHWAY_1"]) + scores["PATHWAY_4"] ** 2
    fitted = make_response_pipeline("kernel_ridge", top_k=3, model_options={"kernel": kernel, "degree": 2})
    fitted.fit(scores, y.to_numpy())
    path = save_bundle(tmp_path / "bundle.zip", fitted, metadata={"drug": "D"})
    bundle = load_bundle(path)
    new = pd.DataFrame(rng.normal(size=(5, 6)), columns=scores.columns)
    assert np.array_equal(predict_from_bundle(bundle, new).to_numpy(), fitted.predict(new))
    step = bundle.manifest["steps"][-1]
    if kernel == "linear":  # a linear kernel has coefficients: the ordinary linear step
        assert step["kind"] == "linear"
    else:
        assert step["kind"] == "kernel" and step["kernel"]["kernel"] == kernel
        assert step["kernel"]["gamma"] == pytest.approx(1 / 3)  # 1 / the 3 pathways it was refitted on
        assert bundle.arrays[step["train"]].shape == (16, 3)
        assert bundle.manifest["steps"][-1]["params"]["model_options"]["kernel"] == kernel
