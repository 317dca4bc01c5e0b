"""organoidrx compare: every combination against random sets, q-values over all tests, calibrated on null cohorts."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from organoidrx._utils import InputError, sha256_file
from organoidrx.cli import main
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.evaluation import bh_qvalues
from organoidrx.evaluation._multiple import n_tests_needed_at, random_sets_for_one_finding
from organoidrx.models import cross_validate_response, make_response_pipeline
from organoidrx.pipeline import compare_methods

SMALL = {
    "n_genes": 500,
    "n_pathways": 40,
    "n_organoids": 20,
    "n_patients_treated": 40,
    "n_patients_untreated": 0,
}


def _cohort(tmp_path, seed=0, effect=1.0, drugs=("DRUG_A", "DRUG_B")):
    cohort = make_synthetic_cohort(**SMALL, drugs=drugs, effect=effect, random_state=seed)
    return cohort.write(tmp_path / f"cohort{seed}")["config"]


def test_bh_qvalues_match_scipy_and_the_hand_worked_case():
    assert bh_qvalues([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    p = np.random.default_rng(0).uniform(size=50) ** 3
    np.testing.assert_allclose(bh_qvalues(p), stats.false_discovery_control(p))
    with pytest.raises(InputError, match=r"p-values must lie in \[0, 1\]"):
        bh_qvalues([0.5, 1.5])
    for infinite in (np.inf, -np.inf):  # only NaN means "no test"
        with pytest.raises(InputError, match=r"p-values must lie in \[0, 1\]"):
            bh_qvalues([0.01, infinite, 0.02])
    assert np.isnan(bh_qvalues([0.01, np.nan, 0.02])[1])


def test_advice_on_random_sets_is_exact_at_the_boundary():
    """q < 0.05 is strict: 100 tests need 2,000 draws (1,999 give q = 0.05 exactly), and at p = 0.001 three
    tests (two give q = 100 x 0.001 / 2 = 0.05)."""
    assert random_sets_for_one_finding(100) == 2000
    assert bh_qvalues([1 / 2000] + [1.0] * 99)[0] == pytest.approx(0.05)
    assert bh_qvalues([1 / 2001] + [1.0] * 99)[0] < 0.05
    assert random_sets_for_one_finding(7) == 140 and random_sets_for_one_finding(1) == 20
    assert n_tests_needed_at(0.001, 100) == 3 and n_tests_needed_at(1 / 1001, 100) == 2
    assert bh_qvalues([0.001] * 2 + [1.0] * 98)[0] == pytest.approx(0.05)
    assert (bh_qvalues([0.001] * 3 + [1.0] * 97)[:3] < 0.05).all()
    assert (bh_qvalues([1 / 1001] * 2 + [1.0] * 98)[:2] < 0.05).all()


def test_compare_writes_a_ranked_leaderboard_with_q_over_every_test(tmp_path):
    config = _cohort(tmp_path)
    result = compare_methods(
        config, tmp_path / "out", measures=["closest", "shortest"], models=["ridge"], n_random_sets=99
    )
    board = result.leaderboard
    assert list(board["rank"]) == list(range(1, len(board) + 1))
    tested = board[board["p"].notna()]
    assert result.n_tests == len(tested) > 0
    assert tested.query("scorer == 'ssgsea' and selection == 'closest'")["drug"].nunique() == 2
    np.testing.assert_allclose(tested["q"], bh_qvalues(tested["p"].to_numpy()))
    assert (np.diff(tested["p"].to_numpy()) >= 0).all()  # ranked by p
    assert set(board["selection"]) >= {"closest", "all_pathways", "all_genes", "target_genes"}
    assert board.loc[board["selection"] == "all_pathways", "p"].isna().all()
    assert (tested["p"] >= 1 / 100).all()  # the smallest attainable p with 99 random sets
    out = tmp_path / "out"
    for name in ("leaderboard.tsv", "combinations.tsv", "heatmap.png", "report.html", "compare.json"):
        assert (out / name).is_file(), name
    written = pd.read_csv(out / "leaderboard.tsv", sep="\t")
    assert len(written) == len(board)
    record = json.loads((out / "compare.json").read_text())
    assert record["n_tests"] == result.n_tests and record["n_random_sets"] == 99
    # docs/outputs.md: the inputs with their SHA-256, the settings and the matching, as in run.json
    assert record["inputs"]["organoid_response"]["sha256"] == sha256_file(
        config.parent / "organoid_response.tsv"
    )
    assert record["inputs"]["config"]["path"] == str(config)
    assert (
        record["parameters"]["seed"] == record["seed"] and "organoids_with_expression" in record["matching"]
    )
    text = (out / "report.html").read_text()
    assert "only q &lt; 0.05 is evidence" in text


def test_a_planted_signal_survives_the_correction(tmp_path):
    cohort = make_synthetic_cohort(n_patients_treated=40, n_patients_untreated=0, random_state=0)  # demo size
    config = cohort.write(tmp_path / "planted")["config"]
    result = compare_methods(config, models=["ridge"], measures=["closest"], n_random_sets=399)
    closest = result.leaderboard.query("selection == 'closest'")
    assert (closest["q"] < 0.05).all()  # both drugs' planted pathways beat random sets after correction


def test_too_few_random_sets_for_the_number_of_tests_is_said(tmp_path):
    result = compare_methods(
        _cohort(tmp_path), measures=["closest", "shortest"], models=["ridge"], n_random_sets=9
    )
    summary = " ".join(result.summary())
    assert "no test can reach q < 0.05" in summary and "n_random_sets to at least" in summary
    # 1 / 100 <= 0.05: q < 0.05 needs enough tests at p = 0.01, as Benjamini-Hochberg steps up
    m = result.n_tests
    p = np.array([0.01] * math.ceil(m * 0.01 / 0.05) + [1.0] * (m - math.ceil(m * 0.01 / 0.05)))
    assert (bh_qvalues(p)[p == 0.01] < 0.05).all() and (bh_qvalues(p[1:])[p[1:] == 0.01] >= 0.05).all()
    result = compare_methods(
        _cohort(tmp_path / "b"), measures=["closest", "shortest"], models=["ridge"], n_random_sets=99
    )
    needed = math.floor(
        result.n_tests * 0.01 / 0.05 + 1e-9
    )  # k > m p / 0.05 tests, so floor(m p / 0.05) others
    assert f"only together with at least {needed} others as small" in " ".join(result.summary())


def test_ridge_in_the_comparison_is_the_registered_ridge_with_one_penalty(tmp_path):
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(
        rng.normal(size=(12, 8)), index=[f"s{i}" for i in range(12)], columns=list("abcdefgh")
    )
    response = pd.Series(rng.normal(size=12), index=scores.index, name="D")
    sets = {"chosen": ["a", "b", "c"]}
    fast = cross_validate_response(scores, response, feature_sets=sets, model="ridge", alpha=1.0, n_random=20,
                                   include_all=False)  # fmt: skip
    from organoidrx.models import DrugResponseModel  # the pipeline's model with the same single penalty

    pipeline = make_response_pipeline("ridge", top_k=None, alphas=[1.0])
    assert isinstance(pipeline[-1], DrugResponseModel)
    slow = cross_validate_response(scores, response, feature_sets=sets, model=pipeline, n_random=20,
                                   include_all=False)  # fmt: skip
    np.testing.assert_allclose(fast["spearman"], slow["spearman"], rtol=1e-10)
    np.testing.assert_allclose(fast["random_p"], slow["random_p"])


def test_unknown_methods_and_baselines_are_one_line(tmp_path):
    config = _cohort(tmp_path)
    with pytest.raises(InputError, match="did you mean 'ridge'"):
        compare_methods(config, models=["ridgge"])
    text = config.read_text().replace(
        "[compare]\n", '[compare]\nbaselines = ["all_pathways", "everything"]\n'
    )
    config.write_text(text)
    with pytest.raises(InputError, match=r"baselines 'everything' are not known"):
        compare_methods(config, models=["ridge"])


def test_work_beyond_the_guard_is_refused_before_any_computing(tmp_path, monkeypatch):
    """An iterative model over many random sets is estimated at thousands of hours and refused up front, naming
    the phase and the fix; closed-form models with the same settings are not."""
    from organoidrx.pipeline import _compare

    config = _cohort(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("proximity started")

    monkeypatch.setattr(_compare, "run_proximity", refuse)
    with pytest.raises(
        InputError,
        match=r"estimated to take [\d,]+ hours on 2 cores \(.*cv: elasticnet [\d.]+ h.*stop_after=0.*--force",
    ):
        compare_methods(config, models=["ridge", "elasticnet"], n_random_sets=100_000, stop_after=0)
    with pytest.raises(AssertionError, match="proximity started"):  # stopping early: ~100 sets per null test
        compare_methods(config, models=["ridge", "elasticnet"], n_random_sets=100_000, stop_after=10)
    with pytest.raises(AssertionError, match="proximity started"):  # under the guard: it goes on to proximity
        compare_methods(config, models=["ridge", "linear", "kernel_ridge"], n_random_sets=100_000)
    with pytest.raises(AssertionError, match="proximity started"):  # forced (--force)
        compare_methods(config, models=["elasticnet"], n_random_sets=100_000, force=True)


def test_cli_compare(tmp_path, capsys):
    config = _cohort(tmp_path)
    argv = ["--quiet", "compare", str(config), "--out", str(tmp_path / "cli"), "--models", "ridge"]
    assert main([*argv, "--measures", "closest", "--n-random-sets", "49"]) == 0
    printed = capsys.readouterr().out
    assert "tests:" in printed and "q < 0.05" in printed
    assert (tmp_path / "cli" / "leaderboard.tsv").is_file()
    from .test_run import documented_columns

    tables = ["leaderboard.tsv", "combinations.tsv"]
    assert documented_columns(tmp_path / "cli", tables) == {name: [] for name in tables}


@pytest.mark.slow
def test_null_cohorts_reach_q_below_005_in_at_most_5_percent_of_seeds(tmp_path):
    """Outcomes independent of expression: any q < 0.05 over all tests of a comparison in about 5% of cohorts.

    200 null cohorts, each a full comparison (closest and shortest selections, target and gene baselines, two
    drugs, up to 199 random sets with the default early stop after 10 at least as good: 42 fitted per test on
    average). Benjamini-Hochberg holds the chance of any rejection under the complete null at 5%; with the
    random-set p alone, 9 of these 200 reached q < 0.05 (4.5%; 9 also with all 199 sets fitted), and compare's p,
    the larger of that and the shuffled-response p, can only reach it in fewer. The test fails above 17 of 200, the 99th percentile of Binomial(200,
    0.05) (a calibrated comparison fails with probability 0.012), and a miscalibrated rate of 12% would pass with
    probability 0.07, 15% with 0.004.
    """
    hits = []
    for seed in range(200):
        config = _cohort(tmp_path, seed=seed, effect=0.0)
        result = compare_methods(
            config, measures=["closest", "shortest"], models=["ridge"], n_random_sets=199
        )
        if (result.leaderboard["q"] < 0.05).any():
            hits.append(seed)
    assert stats.binom.sf(17, 200, 0.05) < 0.013 and stats.binom.cdf(17, 200, 0.12) < 0.08
    assert len(hits) <= 17, f"{len(hits)} of 200 null cohorts reached q < 0.05 (seeds {hits})"


@pytest.mark.shared_data
def test_compare_runs_on_the_kong_organoids(shared_data, tmp_path):
    """The Kong example's comparison config, cut to three drugs, two scorers and one measure, on the real data."""
    from ..conftest import shared_file

    shared_file(shared_data, "networks/string_dmfind")
    example = Path(__file__).resolve().parents[2] / "examples" / "kong2020_coad" / "compare.toml"
    text = example.read_text().replace("../../../shared/data", str(shared_data))
    start, end = text.index("names = ["), text.index("]", text.index("names = [")) + 1
    text = text[:start] + 'names = ["FLUOROURACIL", "CAMPTOTHECIN", "PALBOCICLIB"]' + text[end:]
    config = tmp_path / "compare.toml"
    config.write_text(text)
    result = compare_methods(config, scorers=["ssgsea", "singscore"], measures=["closest"], n_random_sets=599)
    board = result.leaderboard
    assert set(board["drug"]) == {"FLUOROURACIL", "CAMPTOTHECIN", "PALBOCICLIB"}
    assert set(board["model"]) == {"ridge", "linear", "kernel_ridge", "svr"}  # the example's models
    # per drug and model: two scorers' proximal sets and the target genes
    assert result.n_tests == 3 * 4 * (2 + 1)
    assert board["n_organoids"].eq(19).all()
    # 36 tests: a lone test needs p <= 0.0014, below 1/600, but several tests at 1/600 can pass together
    assert "no test can reach q < 0.05" not in " ".join(result.summary())


def test_kernel_ridge_is_compared_with_its_configured_options(tmp_path):
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._compare import _estimator

    config = _cohort(tmp_path, drugs=("DRUG_A",))
    text = re.sub(r"(?m)^model = .*$", 'model = "kernel_ridge"', config.read_text())
    config.write_text(text + '\n[model]\nkernel = "laplacian"\n')
    cfg = read_config(config)
    assert _estimator("kernel_ridge", cfg)[-1].model_options == {"kernel": "laplacian"}
    result = compare_methods(
        config, scorers=["ssgsea"], measures=["closest"], models=["ridge", "kernel_ridge"], n_random_sets=19
    )
    board = result.leaderboard
    assert set(board["model"]) == {"ridge", "kernel_ridge"}
    kernel = board[(board["model"] == "kernel_ridge") & board["p"].notna()]
    assert len(kernel) > 0 and kernel["spearman"].notna().all()


def test_a_scorer_that_rescales_another_is_tested_once(tmp_path):
    """zscore = mean_z x sqrt(set size): after each model's standardisation the same tests, counted once."""
    from organoidrx.io import read_gmt
    from organoidrx.scoring import score

    config = _cohort(tmp_path)
    result = compare_methods(
        config,
        scorers=["mean_z", "zscore", "ssgsea"],
        measures=["closest"],
        models=["ridge"],
        n_random_sets=19,
    )
    assert set(result.leaderboard["scorer"]) - {"(expression)"} == {"mean_z", "ssgsea"}
    assert any(
        "scorer zscore gives every pathway mean_z's scores times a constant" in w for w in result.warnings
    )
    expression = pd.read_csv(config.parent / "organoid_expression.tsv", sep="\t", index_col=0).T
    sets = read_gmt(config.parent / "pathways.gmt")
    ratio = score(expression, sets, method="zscore") / score(expression, sets, method="mean_z")
    assert np.allclose(ratio, ratio.iloc[0], rtol=1e-12)  # a constant per pathway


def test_a_cohort_dependent_scorer_is_rescored_without_each_held_out_organoid(tmp_path):
    """compare's z-score rows are the cross-validation with each fold's training organoids scored alone."""
    from organoidrx.models import proximal_pathways
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs, run_proximity
    from organoidrx.scoring import rescorer, score

    config = _cohort(tmp_path)
    result = compare_methods(
        config, scorers=["zscore"], measures=["closest"], models=["ridge"], n_random_sets=19
    )
    cfg = read_config(config)
    loaded = load_inputs(cfg)
    selection = proximal_pathways(
        run_proximity(cfg, loaded, lambda *a: None, measures=["closest"])["closest"]
    )
    options = {"method": "zscore", "min_size": cfg.min_size, "max_size": cfg.max_size}
    scores = score(loaded.organoid_expression, loaded.gene_sets, **options)
    expected = cross_validate_response(
        scores, loaded.response.loc[:, ["sample", "drug", "value"]], feature_sets={"closest": selection},
        n_random=19, alpha=cfg.compare_alpha, include_all=False, random_state=cfg.seed, min_samples=5,
        rescore=rescorer(loaded.organoid_expression, loaded.gene_sets, **options),
    )  # fmt: skip
    rows = result.leaderboard.query("selection == 'closest'").set_index("drug").sort_index()
    expected = expected.set_index("drug").sort_index()
    np.testing.assert_allclose(rows["spearman"], expected["spearman"], rtol=1e-12)
    np.testing.assert_allclose(rows["p"], expected["random_p"], rtol=1e-12)


def test_a_selection_empty_for_every_drug_ranks_without_numpy_warnings():
    """A selection that chose nothing for any drug (separation often does) has NaN medians, not a warning."""
    from organoidrx.pipeline._leaderboard import rank_tests

    rows = [
        {"scorer": "s", "selection": sel, "model": "ridge", "drug": d, "n_features": 0 if sel == "none" else 3,
         "n_samples": 19, "spearman": np.nan if sel == "none" else 0.5, "random_spearman_median": np.nan
         if sel == "none" else 0.1, "random_spearman_q975": np.nan, "n_random": 0 if sel == "none" else 99,
         "random_p": np.nan if sel == "none" else 0.01, "n_shuffles": 0 if sel == "none" else 99,
         "shuffled_p": np.nan if sel == "none" else 0.02}
        for sel in ("none", "closest") for d in ("A", "B")
    ]  # fmt: skip
    result = rank_tests(pd.DataFrame(rows), 99, 10)  # warnings are errors here
    by_selection = result.combinations.set_index("selection")
    assert np.isnan(by_selection.loc["none", "median_spearman"])
    assert by_selection.loc["closest", "median_spearman"] == 0.5
    assert by_selection.loc["closest", "median_excess"] == pytest.approx(0.4)
    summary = " ".join(result.summary())
    assert "1 combinations selected nothing for any drug and have no test ('s / none / ridge')" in summary
    assert "baseline combinations" not in summary  # an empty selection is not a baseline


def test_an_empty_method_list_on_the_command_line_is_refused(tmp_path, capsys):
    """``--models ''`` is a mistake, not "every model": one line naming the registered ones."""
    config = _cohort(tmp_path)
    assert main(["--quiet", "compare", str(config), "--out", str(tmp_path / "o"), "--models", " , "]) == 2
    error = capsys.readouterr().err.strip()
    assert "--models names no model; give one or more of ridge" in error and "\n" not in error
    assert not (tmp_path / "o").exists()


def test_a_test_must_beat_both_random_sets_and_permuted_responses():
    """The leaderboard's p is the larger of random_p and shuffled_p: a selection that beats random sets doing
    even worse (negative Spearman, tiny random_p) but not chance is no finding; a missing p of either is none."""
    from organoidrx.pipeline._leaderboard import rank_tests

    rows = [
        {"scorer": "s", "selection": "closest", "model": "ridge", "drug": drug, "n_features": 5, "n_samples": 19,
         "spearman": rho, "random_spearman_median": -0.7, "random_spearman_q975": -0.6, "n_random": 999,
         "random_p": random_p, "n_shuffles": n_perm, "shuffled_p": perm_p}
        for drug, rho, random_p, n_perm, perm_p in [
            ("NEGATIVE", -0.4, 0.001, 999, 0.93), ("BOTH", 0.7, 0.002, 999, 0.001), ("NO_PERM", 0.5, 0.01, 0, np.nan)
        ]
    ]  # fmt: skip
    board = rank_tests(pd.DataFrame(rows), 999, None).leaderboard.set_index("drug")
    assert board.loc["NEGATIVE", "p"] == 0.93 and board.loc["BOTH", "p"] == 0.002
    assert np.isnan(board.loc["NO_PERM", "p"]) and np.isnan(board.loc["NO_PERM", "shuffled_p"])
    assert list(board.index[:2]) == ["BOTH", "NEGATIVE"]
    assert board.loc["BOTH", "q"] == pytest.approx(0.004)  # two tests with a p
