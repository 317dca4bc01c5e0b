"""Acceptance of the whole pipeline: a planted effect is recovered, a null cohort is not, the demo runs."""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from organoidrx import cli
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.pipeline import run_pipeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_planted_effect_is_recovered(tmp_path):
    """Planted pathways are proximal and, but for one in ten (a planted pathway sharing genes with another may
    lose its weight to it in the ridge fit), among the model's top pathways; the predicted responders live longer."""
    hits, pairs, recovered, planted_pairs = 0, 0, 0, 0
    for seed in range(5):
        cohort = make_synthetic_cohort(random_state=seed)
        paths = cohort.write(tmp_path / str(seed))
        result = run_pipeline(
            paths["config"], tmp_path, write=False, n_permutations=0, n_random=200, n_random_sets=0
        )
        planted = cohort.truth[cohort.truth["weight"] != 0]
        for drug in cohort.drugs:
            rows = result.biomarkers.query("drug == @drug")
            mine = set(planted.loc[planted["drug"] == drug, "pathway"])
            assert mine <= set(rows["pathway"]), (seed, drug)  # every planted pathway is proximal
            recovered += len(mine & set(rows.loc[rows["selected"], "pathway"]))
            planted_pairs += len(mine)
            row = result.survival.set_index("drug").loc[drug]
            assert row["hazard_ratio"] < 1, (seed, drug)  # predicted responders live longer
            assert row["survival_at_horizon_responder"] > row["survival_at_horizon_non_responder"]
            hits += row["logrank_p"] < 0.01
            pairs += 1
    assert hits >= 0.8 * pairs
    assert recovered >= 0.9 * planted_pairs, (recovered, planted_pairs)


# Calibration on null cohorts (patient outcomes independent of expression). With B = 19 permutations a p-value is
# <= 0.05 only when the observed statistic beats all 19 refits, which has probability 1/20 under exchangeability
# (less with ties or undefined refits), so over N independent seeds the count K of p <= 0.05 is stochastically at
# most Binomial(N, 0.05). For N = 100 the test allows K <= 13: P(Binomial(100, 0.05) >= 14) = 4.6e-4 < 1e-3, so a
# correct implementation fails with probability below 1e-3 whatever the seeds; a pipeline whose true false-positive
# rate were 0.15 would fail it with probability 0.65. (scipy.stats.binom.sf(13, 100, 0.05) = 4.63e-4.)
N_NULL_SEEDS, N_NULL_PERMUTATIONS, MAX_NULL_HITS = 100, 19, 13


def test_calibration_bound_is_what_the_comment_says():
    from scipy.stats import binom

    assert binom.sf(MAX_NULL_HITS, N_NULL_SEEDS, 0.05) < 1e-3
    assert binom.sf(MAX_NULL_HITS - 1, N_NULL_SEEDS, 0.05) >= 1e-3  # the tightest such bound


@pytest.mark.slow
def test_whole_pipeline_permutation_p_is_calibrated_without_a_link(tmp_path):
    p_values = []
    for seed in range(N_NULL_SEEDS):
        cohort = make_synthetic_cohort(
            n_genes=300,
            n_pathways=20,
            n_organoids=15,
            n_patients_treated=60,
            n_patients_untreated=0,
            drugs=("DRUG_A",),
            patient_effect=0.0,
            random_state=1000 + seed,
        )
        paths = cohort.write(tmp_path / str(seed))
        result = run_pipeline(
            paths["config"],
            tmp_path,
            write=False,
            n_permutations=N_NULL_PERMUTATIONS,
            n_random=50,
            n_random_sets=0,
            covariates=(),
        )
        p_values.append(float(result.survival["permutation_p"].iloc[0]))
    assert all(1 / (1 + N_NULL_PERMUTATIONS) <= p <= 1 for p in p_values)  # the smallest attainable p
    hits = sum(p <= 0.05 for p in p_values)
    assert hits <= MAX_NULL_HITS, (hits, p_values)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    import contextlib

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main(["--quiet", "demo", "--out", str(out)]) == 0
    return out, buffer.getvalue()


def test_demo_writes_every_output_and_says_where_the_report_is(demo):
    out, printed = demo
    for name in (
        "proximity.tsv",
        "biomarkers.tsv",
        "organoid_cv.tsv",
        "patient_predictions.tsv",
        "survival.tsv",
        "report.html",
        "run.json",
        "km_DRUG_A.png",
        "forest.png",
        "feature_sets.png",
        "proximity_DRUG_A.png",
        "organoid_cv_DRUG_A.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "cohort" / "config.toml").is_file()
    last = printed.strip().splitlines()[-1]
    assert last == f"Report: {(out / 'report.html').resolve()}"
    assert "200 permutations" in printed
    report = (out / "report.html").read_text()
    assert "The registered methods this run used" in report and "doi:10.1038/nature08460" in report


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_demo_report_renders_in_headless_chromium_with_the_km_figure(demo, tmp_path):
    from PIL import Image

    out, _ = demo
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            (out / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert [line for line in dom.stderr.splitlines() if ":CONSOLE" in line] == []
    images = {
        html.unescape(alt): base64.b64decode(data)
        for alt, data in re.findall(
            r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', dom.stdout
        )
    }
    km = images.get("Kaplan-Meier curves of DRUG_A")
    assert km is not None, sorted(images)
    assert km == (out / "km_DRUG_A.png").read_bytes()
    picture = Image.open(io.BytesIO(km))
    picture.load()
    assert picture.width > 200 and np.asarray(picture.convert("L")).std() > 5
