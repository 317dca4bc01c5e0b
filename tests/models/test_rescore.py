"""Cohort-dependent scorers in the organoid CV: each fold's training samples are scored without the held-out one."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx._utils import InputError
from organoidrx.models import cross_validate_response, loo_predict, make_response_pipeline
from organoidrx.models._crossval import loo_fold_features
from organoidrx.scoring import rescorer, score


def _cohort(n: int = 13, n_genes: int = 150, seed: int = 0):
    """Expression with 15 sets of 10 genes; drug A follows set S0's genes, drug B is noise and lacks one sample."""
    rng = np.random.default_rng(seed)
    samples = [f"org{i}" for i in range(n)]
    genes = [f"G{j}" for j in range(n_genes)]
    expression = pd.DataFrame(rng.normal(size=(n, n_genes)) + rng.normal(size=n_genes) * 3, samples, genes)
    sets = {f"S{k}": genes[10 * k : 10 * k + 10] for k in range(15)}
    signal = expression[sets["S0"]].mean(axis=1).to_numpy()
    response = pd.concat(
        [
            pd.DataFrame({"sample": samples, "drug": "A", "value": signal + 0.2 * rng.normal(size=n)}),
            pd.DataFrame({"sample": samples[1:], "drug": "B", "value": rng.normal(size=n - 1)}),
        ],
        ignore_index=True,
    )
    return expression, sets, response


@pytest.mark.parametrize("method", ["zscore", "gsva", "plage", "mean_z"])
def test_each_fold_trains_on_scores_computed_without_its_held_out_sample(method):
    """Against a plain loop: score the other organoids alone, fit the ridge pipeline on them, predict the held-out
    organoid from its row of the whole table."""
    expression, sets, response = _cohort()
    scores = score(expression, sets, method=method)
    selected = ["S0", "S3", "S7"]
    table = cross_validate_response(
        scores, response, feature_sets={"sel": selected}, n_random=0, include_all=False,
        rescore=rescorer(expression, sets, method=method),
    )  # fmt: skip
    for drug, rows in response.groupby("drug"):
        samples = list(rows["sample"])
        y = rows["value"].to_numpy()
        pred = np.empty(len(y))
        for i, held_out in enumerate(samples):
            others = score(expression.drop(index=held_out), sets, method=method)
            train = [s for s in samples if s != held_out]
            model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(
                others.loc[train, selected], np.delete(y, i)
            )
            pred[i] = model.predict(scores.loc[[held_out], selected])[0]
        expected = pd.Series(pred).rank().corr(pd.Series(y).rank())
        assert table.set_index("drug").loc[drug, "spearman"] == pytest.approx(expected, rel=1e-10)
        leaky = cross_validate_response(
            scores, rows, feature_sets={"sel": selected}, n_random=0, include_all=False
        )
        assert leaky["spearman"].iloc[0] != pytest.approx(
            expected, rel=1e-6
        )  # rescoring changed the features


@pytest.mark.parametrize(
    ("model", "cv"),
    [
        ("ridge", "loo"),
        ("ridge", 4),
        (make_response_pipeline("linear", top_k=None), "loo"),
        (make_response_pipeline("kernel_ridge", top_k=None), "loo"),
        (make_response_pipeline("svr", top_k=None), 3),
    ],
)
def test_rescoring_a_sample_independent_table_changes_nothing(model, cv):
    """Rescoring that returns the same rows gives the shared-matrix numbers, random sets and their p included."""
    expression, sets, response = _cohort(seed=1)
    scores = score(expression, sets, method="zscore")
    kwargs = dict(feature_sets={"sel": ["S0", "S3", "S7"]}, model=model, cv=cv, n_random=20, include_all=True)
    calls = []

    def same(samples: pd.Index) -> pd.DataFrame:
        calls.append(len(samples))
        return scores.loc[samples]

    shared = cross_validate_response(scores, response, **kwargs)
    per_fold = cross_validate_response(scores, response, rescore=same, **kwargs)
    pd.testing.assert_frame_equal(per_fold, shared, rtol=1e-9, atol=1e-12)
    n_groups = len(expression) if cv == "loo" else 2 * cv  # LOO groups shared by both drugs; K folds per drug
    assert len(calls) == n_groups


def test_loo_predict_with_each_folds_features():
    expression, sets, response = _cohort(seed=2)
    scores = score(expression, sets, method="zscore")
    rows = response[response["drug"] == "A"]
    samples, y = list(rows["sample"]), rows["value"].to_numpy()
    model = make_response_pipeline("ridge", top_k=2)
    X = scores.loc[samples, ["S0", "S1", "S2"]]
    tables = loo_fold_features(scores, samples, rescorer(expression, sets, method="zscore"))
    pred, fitted = loo_predict(model, X, y, fold_features=[t.loc[:, X.columns] for t in tables])
    for i, held_out in enumerate(samples):
        others = score(expression.drop(index=held_out), sets, method="zscore").loc[:, X.columns]
        pd.testing.assert_frame_equal(
            tables[i].drop(index=held_out).loc[:, X.columns], others.loc[tables[i].index.drop(held_out)]
        )
        assert pred[i] == pytest.approx(fitted[i].predict(scores.loc[[held_out], X.columns])[0], rel=1e-12)
    with pytest.raises(ValueError, match="fold_features"):
        loo_predict(model, X, y, fold_features=tables[:3])


def test_rescorer_scores_each_subset_once_and_quietly(caplog):
    expression, sets, _ = _cohort()
    sets = sets | {"tiny": ["G0", "G1"]}  # dropped by min_size: said once, for the whole table
    assert rescorer(expression, sets, method="ssgsea") is None  # sample-independent: nothing to rescore
    assert rescorer(expression, sets, method="ssgsea", normalize="range") is not None
    rescore = rescorer(expression, sets, method="gsva")
    subset = expression.index[1:]
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        first = rescore(subset)
    assert rescore(subset) is first
    assert not [r for r in caplog.records if "dropped" in r.getMessage()]
    pd.testing.assert_frame_equal(first, score(expression.loc[subset], sets, method="gsva"))


def test_a_gene_that_varies_only_through_the_held_out_sample_is_named():
    expression, sets, response = _cohort()
    expression["G0"] = 0.0
    expression.loc["org4", "G0"] = 5.0  # constant once org4 is left out
    scores = score(expression, sets, method="zscore")
    with pytest.raises(
        InputError, match=r"zscore of the samples without 'org4' \(a cross-validation fold.*G0.*drop"
    ):
        cross_validate_response(scores, response, feature_sets={"sel": ["S0"]}, n_random=0,
                                rescore=rescorer(expression, sets, method="zscore"))  # fmt: skip


def test_rescoring_samples_the_expression_lacks_is_one_line():
    expression, sets, _ = _cohort()
    rescore = rescorer(expression.iloc[2:], sets, method="mean_z")
    with pytest.raises(
        InputError, match=r"2 samples to rescore are not in the expression matrix \('org0', 'org1'\)"
    ):
        rescore(expression.index)
