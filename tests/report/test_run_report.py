"""The run report: files, per-drug sections, preclinical-only mode, byte-identical figures, headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import Ridge
from sklearn.model_selection import LeaveOneOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from organoidrx._utils import InputError
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.evaluation import (
    bh_qvalues,
    permutation_test,
    response_auc,
    split_by_prediction,
    survival_analysis,
    treatment_interaction,
)
from organoidrx.models import DrugResponseModel, cross_validate_response, proximal_pathways
from organoidrx.network import proximity
from organoidrx.report import safe_filename, write_run_report
from organoidrx.scoring import ssgsea

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FIGURE_KINDS = ("km", "proximity", "organoid_cv")


def _zscore(frame: pd.DataFrame) -> pd.DataFrame:
    return (frame - frame.mean()) / frame.std(ddof=0)


def _build_inputs(tmp_root: Path) -> dict:
    """Run the real library steps on a small synthetic cohort and collect the tables the report takes."""
    cohort = make_synthetic_cohort(
        n_genes=500,
        n_pathways=30,
        n_organoids=20,
        n_patients_treated=120,
        n_patients_untreated=60,
        drugs=("DRUG_A", "5-FU/LV"),
        random_state=1,
    )
    paths = cohort.write(tmp_root / "cohort")
    prox = proximity(
        cohort.network, cohort.targets, cohort.gene_sets, n_random=100, random_state=0, use_cache=False
    )
    organoid_scores = _zscore(ssgsea(cohort.organoid_expression, cohort.gene_sets, min_size=5))
    patient_scores = _zscore(ssgsea(cohort.patient_expression, cohort.gene_sets, min_size=5))
    sets = proximal_pathways(prox)
    response = cohort.organoid_response
    organoid_cv = cross_validate_response(
        organoid_scores, response, feature_sets={"proximal": sets}, n_random=20, random_state=0
    )
    clinical = cohort.clinical
    biomarkers, cv_predictions, predictions = [], [], []
    survival_results, interactions, aucs, survival_rows = {}, {}, {}, []
    for drug in cohort.drugs:
        features = sets[drug]
        y = response[response["drug"] == drug].set_index("sample")["value"]
        X = organoid_scores.loc[y.index, features]
        model = DrugResponseModel(model="ridge", top_k=3).fit(X, y)
        z = prox[prox["drug"] == drug].set_index("pathway")["z"]
        ranking = model.ranking_.rename(columns={"feature": "pathway"})
        biomarkers.append(ranking.assign(drug=drug, z=z.reindex(ranking["pathway"]).to_numpy()))
        held_out = cross_val_predict(make_pipeline(StandardScaler(), Ridge()), X, y, cv=LeaveOneOut())
        cv_predictions.append(
            pd.DataFrame({"drug": drug, "sample": y.index, "observed": y.to_numpy(), "predicted": held_out})
        )
        treated = clinical[clinical["drug"] == drug]
        predicted = pd.Series(
            model.predict(patient_scores.loc[treated["patient"], features]), index=treated["patient"]
        )
        groups = split_by_prediction(predicted)
        predictions.append(
            pd.DataFrame(
                {
                    "patient": predicted.index,
                    "drug": drug,
                    "predicted_response": predicted.to_numpy(),
                    "group": groups.to_numpy(),
                }
            )
        )
        result = survival_analysis(treated, groups)
        survival_results[drug] = result

        def chi2(shuffled: pd.DataFrame, drug=drug, features=features, treated=treated) -> float:
            y_perm = shuffled[shuffled["drug"] == drug].set_index("sample")["value"]
            fitted = DrugResponseModel(model="ridge", top_k=3).fit(
                organoid_scores.loc[y_perm.index, features], y_perm
            )
            pred = pd.Series(
                fitted.predict(patient_scores.loc[treated["patient"], features]), index=treated["patient"]
            )
            return survival_analysis(treated, split_by_prediction(pred)).logrank_chi2

        perm = permutation_test(chi2, response, n_permutations=9, random_state=0)
        survival_rows.append(
            result.to_frame().assign(
                drug=drug, permutation_p=perm.p_value, n_permutations=perm.n_permutations
            )
        )
        aucs[drug] = response_auc(predicted, treated.set_index("patient")["response"])
        both = clinical[(clinical["drug"] == drug) | clinical["drug"].isna()]
        all_pred = pd.Series(
            model.predict(patient_scores.loc[both["patient"], features]), index=both["patient"]
        )
        interactions[drug] = treatment_interaction(
            both, split_by_prediction(all_pred), both.set_index("patient")["drug"].notna()
        )
    return {
        "parameters": {"settings": {"n_random": 100, "top_k": 3, "n_permutations": 9}, "seed": 0},
        "proximity": prox,
        "biomarkers": pd.concat(biomarkers, ignore_index=True),
        "organoid_cv": organoid_cv,
        "cv_predictions": pd.concat(cv_predictions, ignore_index=True),
        "patient_predictions": pd.concat(predictions, ignore_index=True),
        "survival": pd.concat(survival_rows, ignore_index=True).pipe(
            lambda t: t.assign(
                logrank_q=bh_qvalues(t["logrank_p"]), permutation_q=bh_qvalues(t["permutation_p"])
            )
        ),  # as the run writes it: q over its drugs beside each p
        "survival_results": survival_results,
        "interactions": interactions,
        "response_auc": aucs,
        "inputs": {k: v for k, v in paths.items() if k in ("network", "gene_sets", "clinical")},
        "warnings": ["an example warning shown at the top"],
        "drugs": cohort.drugs,
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    return _build_inputs(tmp_path_factory.mktemp("cohort"))


def _report_args(inputs: dict, *, preclinical: bool = False) -> dict:
    keys = ["parameters", "proximity", "biomarkers", "organoid_cv", "cv_predictions", "inputs", "warnings"]
    if not preclinical:
        keys += ["patient_predictions", "survival", "survival_results", "interactions", "response_auc"]
    return {k: inputs[k] for k in keys}


@pytest.fixture(scope="module")
def full_report(inputs, tmp_path_factory) -> Path:
    return write_run_report(tmp_path_factory.mktemp("report"), **_report_args(inputs))


def _png_sources(text: str) -> dict[str, bytes]:
    return {
        html.unescape(alt): base64.b64decode(data)
        for alt, data in re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    }


def test_every_expected_file_and_section(inputs, full_report):
    out = full_report.parent
    assert full_report.name == "report.html"
    text = full_report.read_text(encoding="utf-8")
    for drug in inputs["drugs"]:
        stem = safe_filename(drug)
        for kind in FIGURE_KINDS:
            png = (out / f"{kind}_{stem}.png").read_bytes()
            assert png.startswith(b"\x89PNG") and len(png) > 2000
        assert f">{html.escape(drug)}</h3>" in text
        assert f"{html.escape(drug)}: figures" in text
    assert (out / "feature_sets.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temporary files left
    images = _png_sources(text)
    assert "Kaplan-Meier curves of DRUG_A" in images
    # the HTML embeds exactly the bytes written to the PNG file
    assert images["Kaplan-Meier curves of DRUG_A"] == (out / "km_DRUG_A.png").read_bytes()
    assert len(images) == 3 * len(inputs["drugs"]) + 2  # and feature_sets.png, forest.png


def test_summary_states_the_numbers(inputs, full_report):
    text = html.unescape(full_report.read_text(encoding="utf-8"))
    prox, cv, surv = inputs["proximity"], inputs["organoid_cv"], inputs["survival"]
    for drug in inputs["drugs"]:
        rows = prox[prox["drug"] == drug]
        assert f"{int(rows['proximal'].sum())} of {len(rows)} pathways are drug-proximal" in text
        row = cv[(cv["drug"] == drug) & (cv["feature_set"] == "proximal")].iloc[0]
        assert f"Spearman {row['spearman']:.2f}" in text
        assert f"median of {row['random_spearman_median']:.2f}" in text
        assert f"empirical p = {row['random_p']:.2g} (the smallest attainable with 20 sets is 0.048)" in text
        assert "5-year survival: " in text
        s = surv[surv["drug"] == drug].iloc[0]

        def p_text(p: float) -> str:
            return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"

        assert (
            f"Log-rank p = {p_text(s['logrank_p'])} (q = {p_text(s['logrank_q'])} over the drugs of this run); "
            f"whole-pipeline permutation p = {s['permutation_p']:.2g} (9 permutations; the smallest attainable p "
            f"is 0.1; q = {p_text(s['permutation_q'])} over the drugs of this run)"
        ) in text
    assert text.count("What each p answers.") == len(inputs["drugs"])
    assert '<div class="warn">an example warning shown at the top</div>' in text
    assert text.index("an example warning") < text.index('<h2 id="summary">')
    for name in ("network", "gene_sets", "clinical"):  # inputs with their SHA-256
        digest = hashlib.sha256(Path(inputs["inputs"][name]).read_bytes()).hexdigest()
        assert digest in text
    assert "scikit-learn" in text and "lifelines" in text  # versions


def test_permutation_sentences(inputs, tmp_path):
    args = _report_args(inputs)
    survival = args["survival"]
    disagree = survival.assign(logrank_p=0.01, permutation_p=0.3, hazard_ratio_unadjusted=0.5)
    text = html.unescape(
        write_run_report(tmp_path / "a", **(args | {"survival": disagree})).read_text("utf-8")
    )
    assert text.count("Here the two disagree") == len(survival)
    reversed_ = disagree.assign(hazard_ratio_unadjusted=2.0)  # responders fare worse: a reversed signature
    text = html.unescape(
        write_run_report(tmp_path / "r", **(args | {"survival": reversed_})).read_text("utf-8")
    )
    assert "Here the two disagree" not in text
    assert text.count("the direction opposite to the prediction") == len(survival)
    only_shuffles = survival.assign(logrank_p=0.3, permutation_p=0.01)  # no survival difference to speak of
    text = html.unescape(
        write_run_report(tmp_path / "s", **(args | {"survival": only_shuffles})).read_text("utf-8")
    )
    assert text.count("the permutation p is below 0.05 but the log-rank p is not") == len(survival)
    agree = survival.assign(logrank_p=0.01, permutation_p=0.02, p=0.02, q=0.03)
    text = html.unescape(write_run_report(tmp_path / "b", **(args | {"survival": agree})).read_text("utf-8"))
    assert "Here the two disagree" not in text
    assert text.count("the larger of the two, p = 0.02 (q = 0.03 over the drugs of this run)") == len(
        survival
    )
    without = survival.drop(columns=["permutation_p", "n_permutations"])
    text = html.unescape(
        write_run_report(tmp_path / "c", **(args | {"survival": without})).read_text("utf-8")
    )
    assert "whole-pipeline permutation p = NA" in text
    assert text.count("No whole-pipeline permutation p was computed") == len(survival)
    assert "What each p answers." not in text
    # a reversed signature is named whether or not permutations ran
    reversed_alone = without.assign(logrank_p=0.01, hazard_ratio_unadjusted=2.0)
    text = html.unescape(
        write_run_report(tmp_path / "d", **(args | {"survival": reversed_alone})).read_text("utf-8")
    )
    assert text.count("the direction opposite to the prediction; read it as a reversed") == len(survival)
    # permutations asked for but not run, as the log-rank statistic they shuffle is not estimable
    no_statistic = without.assign(logrank_p=np.nan, n_permutations=0)
    text = html.unescape(
        write_run_report(tmp_path / "e", **(args | {"survival": no_statistic})).read_text("utf-8")
    )
    assert text.count("this drug's is not estimable") == len(survival)
    assert "set n_permutations > 0" not in text


@pytest.mark.parametrize(
    ("p", "shown"),
    [(0.0496, "0.0496"), (0.0504, "0.05"), (0.04999, "0.04999"), (0.04999999, "0.04999999"), (0.31, "0.31")],
)
def test_a_p_near_the_threshold_is_not_rounded_across_it(inputs, tmp_path, p, shown):
    args = _report_args(inputs)
    survival = args["survival"].assign(logrank_p=p, permutation_p=0.3)
    text = html.unescape(write_run_report(tmp_path, **(args | {"survival": survival})).read_text("utf-8"))
    assert f"Log-rank p = {shown} " in text


def test_interaction_sentence_says_benefit_only_when_the_hazard_ratios_point_to_it():
    from organoidrx.report._run_report import _interaction_sentence

    row = pd.Series({"hr_treated": 0.5, "hr_untreated": 1.1, "interaction_p": 0.01, "interaction_q": 0.02})
    assert "would suggest benefit from the drug" in _interaction_sentence(row)
    assert "q = 0.02 over the drugs of this run" in _interaction_sentence(row)
    # worse on the drug; better, but less than untreated; relatively better, but not better than non-responders
    for treated, untreated in ((2.0, 1.0), (0.5, 0.4), (1.2, 1.5)):
        text = _interaction_sentence(
            pd.Series(row.to_dict() | {"hr_treated": treated, "hr_untreated": untreated})
        )
        assert "benefit from the drug rather than" not in text and "no support for benefit" in text
    assert (
        "benefit"
        not in _interaction_sentence(pd.Series(row.to_dict() | {"hr_treated": np.nan})).split(
            "record of the drug"
        )[1]
    )


def test_a_warning_of_a_drug_whose_name_holds_another_s_is_kept(inputs, tmp_path):
    args = _report_args(inputs)
    text = "an example note"
    survival = args["survival"].assign(warnings=text, n_warnings=1)
    first = str(survival["drug"].iloc[0])
    survival.loc[survival.index[1], "drug"] = f"{first}+oxaliplatin"
    report = write_run_report(tmp_path, **(args | {"survival": survival, "warnings": []}))
    boxes = re.findall(r'<div class="warn">(.*?)</div>', html.unescape(report.read_text("utf-8")))
    assert f"{first} (survival): {text}" in boxes and f"{first}+oxaliplatin (survival): {text}" in boxes


def test_the_key_table_has_one_hazard_ratio_column_when_a_drug_s_model_dropped_a_covariate(inputs, tmp_path):
    args = _report_args(inputs)
    survival = args["survival"].assign(adjusted_for="age;stage")
    survival.loc[survival.index[1], "adjusted_for"] = "age"
    report = write_run_report(tmp_path, **(args | {"survival": survival}))
    key = re.search(r'<table[^>]*class="[^"]*key[^"]*".*?</table>', report.read_text("utf-8"), flags=re.S)
    assert key is not None
    headers = re.findall(r"<th>([^<]*)</th>", key.group(0))
    assert headers.count("HR (95% CI)") == 1 and [h for h in headers if "HR" in h] == [
        "HR (95% CI)",
        "HR adjusted for",
        "HR unadjusted",
    ]
    assert "<td>age, stage</td>" in key.group(0) and "<td>age</td>" in key.group(0)


def test_a_warning_of_one_drug_does_not_hide_the_same_warning_of_another(inputs, tmp_path):
    args = _report_args(inputs)
    text = "no events among the 100 patients; an example note"
    survival = args["survival"].assign(warnings=text, n_warnings=1)
    first, second = list(survival["drug"])[:2]
    assert first not in second and second not in first
    report = write_run_report(tmp_path, **(args | {"survival": survival, "warnings": [f"{first}: {text}"]}))
    boxes = re.findall(r'<div class="warn">(.*?)</div>', html.unescape(report.read_text("utf-8")))
    assert f"{first}: {text}" in boxes and f"{second} (survival): {text}" in boxes
    assert f"{first} (survival): {text}" not in boxes  # the run logged it for that drug already


def test_self_contained(full_report):
    text = full_report.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r'(src|href)="(?!data:|#)', text)  # embedded images and links within the page only
    assert "@import" not in text and "url(" not in text


def test_preclinical_only(inputs, tmp_path):
    path = write_run_report(tmp_path, **_report_args(inputs, preclinical=True))
    text = path.read_text(encoding="utf-8")
    assert "preclinical-only" in text
    assert "No Kaplan-Meier curves" in text
    assert not list(tmp_path.glob("km_*.png"))
    assert not any(alt.startswith("Kaplan-Meier") for alt in _png_sources(text))
    assert "log-rank" not in text.lower()
    for drug in inputs["drugs"]:
        assert (tmp_path / f"proximity_{safe_filename(drug)}.png").is_file()
    assert (tmp_path / "feature_sets.png").is_file()


def test_figures_and_html_are_byte_identical_across_runs(inputs, full_report, tmp_path):
    again = write_run_report(tmp_path, **_report_args(inputs))
    first = {p.name: p.read_bytes() for p in full_report.parent.iterdir()}
    second = {p.name: p.read_bytes() for p in again.parent.iterdir()}
    assert first.keys() == second.keys()
    for name, data in first.items():
        assert data == second[name], name
    km = Image.open(io.BytesIO(first["km_DRUG_A.png"]))
    assert "Software" not in km.info  # no version metadata


def test_safe_and_unique_filenames(inputs, tmp_path):
    assert safe_filename("5-FU/LV") == "5-FU_LV"
    assert safe_filename("../../etc") == "etc"
    assert safe_filename("***") == "drug"
    prox = inputs["proximity"]
    a = prox[prox["drug"] == "DRUG_A"]
    twins = pd.concat([a, a.assign(drug="drug a")], ignore_index=True)
    bio = inputs["biomarkers"]
    bio = bio[bio["drug"] == "DRUG_A"]
    cv = inputs["organoid_cv"]
    cv = cv[cv["drug"] == "DRUG_A"]
    write_run_report(
        tmp_path,
        parameters={},
        proximity=twins,
        biomarkers=pd.concat([bio, bio.assign(drug="drug a")]),
        organoid_cv=pd.concat([cv, cv.assign(drug="drug a")]),
    )
    assert (tmp_path / "proximity_DRUG_A.png").is_file()
    assert (tmp_path / "proximity_drug_a-2.png").is_file()
    # a name longer than a file system allows keeps a prefix and a hash of the whole name
    long = safe_filename("A" * 300)
    assert len(long) == 100 and long.startswith("A" * 91) and long != safe_filename("A" * 299)


def test_bad_tables_are_input_errors(inputs, tmp_path):
    args = _report_args(inputs, preclinical=True)
    with pytest.raises(InputError, match=r"biomarkers is missing columns \['coefficient'\]"):
        write_run_report(tmp_path, **(args | {"biomarkers": args["biomarkers"].drop(columns="coefficient")}))
    with pytest.raises(InputError, match="proximity must be a DataFrame; got dict"):
        write_run_report(tmp_path, **(args | {"proximity": {}}))
    assert not (tmp_path / "report.html").exists()


def _chromium(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_report_renders_in_headless_chromium(full_report, tmp_path):
    url = full_report.resolve().as_uri()
    dom = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # page errors (e.g. "Uncaught ...") are logged as CONSOLE lines
    assert "<title>organoidrx run report</title>" in dom.stdout
    assert "Summary</h2>" in dom.stdout and "</body>" in dom.stdout
    images = _png_sources(dom.stdout)
    km = images["Kaplan-Meier curves of DRUG_A"]
    decoded = Image.open(io.BytesIO(km))
    decoded.load()
    assert decoded.width > 200 and decoded.height > 200
    assert np.asarray(decoded.convert("L")).std() > 5  # drawn, not blank
    shot = tmp_path / "shot.png"
    rendered = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", url)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1200) and pixels.std() > 5


def test_contents_key_results_and_forest(inputs, full_report):
    text = full_report.read_text(encoding="utf-8")
    contents = re.search(r'<nav class="toc">(.*?)</nav>', text, flags=re.S)
    assert contents is not None
    for anchor in re.findall(r'href="#([^"]+)"', contents.group(1)):
        assert f'id="{anchor}"' in text  # every entry leads somewhere
    for section in ("Key results", "Summary", "Figures per drug", "Tables", "What was run"):
        assert f">{section}</a>" in contents.group(1)
    key = re.search(r'<table[^>]*class="[^"]*key[^"]*".*?</table>', text, flags=re.S)
    assert key is not None
    headers = re.findall(r"<th>([^<]*)</th>", key.group(0))
    for column in (
        "drug",
        "organoid p (q)",
        "patients p (q)",
        "log-rank p",
        "permutation p",
        "HR (95% CI)",
        "treated (events)",
    ):
        assert column in headers
    surv = inputs["survival"]
    for row in surv.itertuples(index=False):
        assert f"{row.hazard_ratio:.2f} ({row.hr_ci_lower:.2f}-{row.hr_ci_upper:.2f})" in key.group(0)
        n = row.n_responder + row.n_non_responder
        assert f"{n} ({row.events_responder + row.events_non_responder})" in key.group(0)
    assert (full_report.parent / "forest.png").read_bytes().startswith(b"\x89PNG")
    assert "Forest plot of hazard ratios" in _png_sources(text)


def test_patient_counts_are_the_treated_patients(inputs, tmp_path):
    predictions = inputs["patient_predictions"]
    everyone = pd.concat(
        [
            predictions.assign(treated=True),
            predictions.assign(patient=predictions["patient"] + "_u", treated=False),
        ],
        ignore_index=True,
    )
    text = html.unescape(
        write_run_report(tmp_path, **(_report_args(inputs) | {"patient_predictions": everyone})).read_text(
            "utf-8"
        )
    )
    assert "Treated patients per drug and predicted group" in text
    counts = predictions.groupby(["drug", "group"]).size()
    table = re.search(r"<th>treated patients</th>.*?</table>", text, flags=re.S).group(0)
    assert [int(v) for v in re.findall(r"<td>(\d+)</td>\s*</tr>", table)] == list(counts.sort_index())


def test_figures_are_the_same_bytes_drawn_here_or_in_workers(inputs, full_report, tmp_path):
    serial = write_run_report(tmp_path, **_report_args(inputs), n_jobs=1)
    for png in full_report.parent.glob("*.png"):
        assert (serial.parent / png.name).read_bytes() == png.read_bytes(), png.name
    assert serial.read_bytes() == full_report.read_bytes()


def test_coefficients_are_a_table_with_bars(inputs, full_report):
    text = full_report.read_text(encoding="utf-8")
    bio = inputs["biomarkers"]
    top = bio[bio["drug"] == "DRUG_A"].sort_values("rank").iloc[0]
    assert f"<td>{html.escape(str(top['pathway']))}</td><td>{top['coefficient']:.3g}</td>" in text
    assert text.count('<table class="bars">') == len(inputs["drugs"])


_KILLED_PARENT = """
import os, sys, time
from organoidrx.report._run_report import render_figures


def maker(i):
    def make():
        if i > 0:  # in a worker: say who it is, then draw slowly
            open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
            time.sleep(120)
        import matplotlib.pyplot as plt

        return plt.figure().add_subplot()

    return make


render_figures({f"f{i}": maker(i) for i in range(6)}, n_jobs=2)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by the container's init, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked drawing workers are a Linux feature")
def test_drawing_workers_end_with_a_killed_parent(tmp_path):
    """A run killed while drawing (SIGKILL) leaves no worker behind waiting forever on its queue."""
    parent = subprocess.Popen([sys.executable, "-c", _KILLED_PARENT, str(tmp_path)])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline and parent.poll() is None:
        time.sleep(0.05)
    workers = [int(p.name) for p in tmp_path.iterdir()]
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert len(workers) == 2, "the two drawing workers did not start"
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"drawing workers {left} outlived their killed parent"
