"""``organoidrx run`` / ``train`` / ``predict`` with candidate models and top-k chosen by nested cross-validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from organoidrx import cli
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.models import load_bundle

from .test_run import _set, documented_columns

GRID = {"model": ["ridge", "linear"], "top_k": [2, 5]}
SMALL = {"n_random": 200, "n_permutations": 5, "n_random_sets": 5}
TABLES = ("organoid_cv.tsv", "organoid_cv_predictions.tsv", "model_selection.tsv", "biomarkers.tsv",
          "patient_predictions.tsv", "survival.tsv")  # fmt: skip


@pytest.fixture(scope="module")
def nested_run(tmp_path_factory) -> tuple[Path, Path]:
    cohort = make_synthetic_cohort(n_genes=600, n_pathways=40, n_organoids=16, n_patients_treated=120,
                                   n_patients_untreated=40, random_state=3)  # fmt: skip
    config = cohort.write(tmp_path_factory.mktemp("cohort"))["config"]
    _set(config, **SMALL, **GRID)
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["--quiet", "run", str(config), "--out", str(out)]) == 0
    return config, out


def test_every_column_of_a_nested_run_is_described_in_the_docs(nested_run):
    _, out = nested_run
    tables = sorted(p.name for p in out.glob("*.tsv") if p.name != "patient_drug_sensitivity.tsv")
    assert "model_selection.tsv" in tables
    assert documented_columns(out, tables) == {name: [] for name in tables}


def test_the_choice_is_reported_in_every_output(nested_run):
    _, out = nested_run
    selection = pd.read_csv(out / "model_selection.tsv", sep="\t")
    assert list(selection.columns) == ["drug", "candidate", "model", "top_k", "n_pathways", "inner_mse",
                                       "inner_spearman", "rank", "chosen", "outer_folds_chosen", "n_outer_folds"]  # fmt: skip
    assert selection["candidate"].unique().tolist() == [
        "ridge_top2",
        "linear_top2",
        "ridge_top5",
        "linear_top5",
    ]
    record = json.loads((out / "run.json").read_text())
    assert "model_selection.tsv" in record["outputs"]
    assert record["parameters"]["model"] == GRID["model"] and record["parameters"]["top_k"] == GRID["top_k"]
    cv = pd.read_csv(out / "organoid_cv.tsv", sep="\t")
    biomarkers = pd.read_csv(out / "biomarkers.tsv", sep="\t")
    html = (out / "report.html").read_text()
    assert "Model selection" in html
    for drug, rows in selection.groupby("drug"):
        best = rows[rows["chosen"]]
        assert len(best) == 1 and best["rank"].item() == 1
        assert best["inner_mse"].item() == rows["inner_mse"].min()
        # every outer fold (one per organoid) made a choice of its own
        assert rows["outer_folds_chosen"].sum() == rows["n_outer_folds"].iloc[0] == 16
        assert record["model_selection"][drug]["chosen"] == best["candidate"].item()
        assert (
            biomarkers[(biomarkers["drug"] == drug) & biomarkers["selected"]].shape[0]
            == best["n_pathways"].item()
        )
        # the tested row is the nested selection itself, refitted in every fold of every random set
        nested = cv[(cv["drug"] == drug) & (cv["feature_set"] == "proximal")]
        assert nested["model"].tolist() == ["nested_ridge+linear_top2+5"]
        assert nested["n_samples"].item() == 16 and nested["spearman"].notna().all()
        assert nested["n_random"].item() > 0 and nested["random_p"].notna().all()
        assert best["candidate"].item() in html


def test_same_seed_gives_byte_identical_tables(nested_run, tmp_path):
    config, out = nested_run
    assert cli.main(["--quiet", "run", str(config), "--out", str(tmp_path), "--no-report"]) == 0
    for name in TABLES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_bundles_keep_the_choice_and_predict_reproduces_the_run(nested_run, tmp_path):
    config, out = nested_run
    assert cli.main(["--quiet", "train", str(config), "--out", str(tmp_path / "bundles")]) == 0
    selection = pd.read_csv(out / "model_selection.tsv", sep="\t")
    for drug, rows in selection.groupby("drug"):
        best = rows[rows["chosen"]].iloc[0]
        bundle = load_bundle(tmp_path / "bundles" / drug)
        assert bundle.metadata["model_selection"]["chosen"] == best["candidate"]
        assert bundle.manifest["model_kind"] == best["model"]
        assert len(bundle.manifest["required_features"]) == best["n_pathways"]
    predicted = tmp_path / "pred.tsv"
    expression = config.parent / "patient_expression.tsv"
    args = ["--quiet", "predict", "--bundle", str(tmp_path / "bundles"), "--expression", str(expression)]
    assert cli.main([*args, "--out", str(predicted)]) == 0
    from_run = pd.read_csv(out / "patient_predictions.tsv", sep="\t")
    table = pd.read_csv(predicted, sep="\t")
    pd.testing.assert_frame_equal(table, from_run.loc[:, table.columns], check_exact=True)
