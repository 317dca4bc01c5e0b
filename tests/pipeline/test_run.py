"""``organoidrx run`` / ``train`` / ``predict`` / ``demo`` end to end on small synthetic cohorts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx import cli
from organoidrx._utils import InputError
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.evaluation import bh_qvalues
from organoidrx.io import read_expression
from organoidrx.models import load_bundle
from organoidrx.pipeline import predict_with_bundle, run_pipeline, train_bundles

TABLES = (
    "proximity.tsv",
    "biomarkers.tsv",
    "organoid_cv.tsv",
    "patient_predictions.tsv",
    "patient_drug_sensitivity.tsv",
    "survival.tsv",
    "response_auc.tsv",
    "interaction.tsv",
)
SMALL = {"n_random": 200, "n_permutations": 19, "n_random_sets": 5}


def _set(config: Path, **settings) -> Path:
    """Rewrite [settings] keys of a written config (other sections untouched)."""
    text = config.read_text()
    head, _, rest = text.partition("[settings]\n")
    body, bracket, tail = rest.partition("\n[")  # [settings] only: [compare] has keys of the same name
    for key, value in settings.items():
        line = f"{key} = {json.dumps(value)}"
        body, n = re.subn(rf"(?m)^{key} = .*$", line, body)
        if n == 0:
            body = f"{line}\n{body}"
    config.write_text(f"{head}[settings]\n{body}{bracket}{tail}")
    return config


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> tuple[Path, object]:
    cohort = make_synthetic_cohort(
        n_genes=600,
        n_pathways=40,
        n_organoids=20,
        n_patients_treated=160,
        n_patients_untreated=60,
        random_state=3,
    )
    paths = cohort.write(tmp_path_factory.mktemp("cohort"))
    _set(paths["config"], **SMALL)
    return paths["config"], cohort


@pytest.fixture(scope="module")
def cli_run(cohort_dir, tmp_path_factory) -> Path:
    config, _ = cohort_dir
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["--quiet", "run", str(config), "--out", str(out)]) == 0
    return out


def documented_columns(folder: Path, names: list[str]) -> dict[str, list[str]]:
    """Per table of ``folder``, the columns of its header that docs/outputs.md does not describe."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "outputs.md").read_text()
    undocumented = {}
    for name in names:
        header = (folder / name).read_text().split("\n", 1)[0].split("\t")
        section = doc.split(f"`{name}`", 1)[1].split("\n### ", 1)[0]
        undocumented[name] = [c for c in header if f"`{c}`" not in section]
    return undocumented


def test_every_output_column_is_described_in_the_docs(cli_run):
    tables = sorted(p.name for p in cli_run.glob("*.tsv") if p.name != "patient_drug_sensitivity.tsv")
    assert len(tables) >= 6
    assert documented_columns(cli_run, tables) == {name: [] for name in tables}


def test_organoid_cv_q_is_over_the_runs_drugs(cli_run):
    from organoidrx.evaluation import bh_qvalues

    cv = pd.read_csv(cli_run / "organoid_cv.tsv", sep="\t")
    tested = cv[cv["random_p"].notna()]
    assert list(tested["feature_set"]) == ["proximal"] * 2  # one random-set test per drug
    # the configured model (ridge, top 10) is what is tested, on the proximal set and on every random set
    assert set(cv["model"]) == {"ridge_top10"}
    np.testing.assert_allclose(tested["random_q"], bh_qvalues(tested["random_p"].to_numpy()), rtol=1e-9)
    assert cv.loc[cv["random_p"].isna(), "random_q"].isna().all()
    text = (cli_run / "report.html").read_text(encoding="utf-8")
    assert "over the drugs of this run" in text and "the configured model (ridge_top10)" in text
    assert re.search(r"the same model on \d+ random pathway sets", text)


def test_run_writes_every_output(cohort_dir, cli_run):
    from organoidrx.pipeline import read_config

    seed = read_config(cohort_dir[0]).seed
    for name in (*TABLES, "report.html", "run.json", "organoid_cv_predictions.tsv"):
        assert (cli_run / name).is_file(), name
    assert list(cli_run.glob("km_*.png")) and list(cli_run.glob("proximity_*.png"))
    record = json.loads((cli_run / "run.json").read_text())
    assert record["seed"] == seed and record["parameters"]["n_permutations"] == SMALL["n_permutations"]
    assert set(record["versions"]) >= {"numpy", "scipy", "pandas", "scikit-learn", "lifelines", "organoidrx"}
    for entry in record["inputs"].values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
    assert "clinical" in record["inputs"] and "network" in record["inputs"]
    # the synthetic log IC50s are negative for sensitive organoids: the scale used is recorded, not just the setting
    assert record["parameters"]["log_scale"] is None and record["matching"]["response_log_scale"] is True
    assert record["timings_seconds"]["proximity"] >= 0
    survival = pd.read_csv(cli_run / "survival.tsv", sep="\t")
    assert list(survival["drug"]) == ["DRUG_A", "DRUG_B"]
    for column in (
        "n_responder",
        "events_responder",
        "logrank_p",
        "permutation_p",
        "hazard_ratio",
        "hr_ci_lower",
        "hr_ci_upper",
        "c_index",
        "survival_at_horizon_responder",
    ):
        assert survival[column].notna().all(), column
    # smallest attainable permutation p is 1 / (B + 1)
    assert (survival["permutation_p"] >= 1 / (SMALL["n_permutations"] + 1) - 1e-12).all()
    # p, the test of both nulls, is the larger of the two
    np.testing.assert_array_equal(survival["p"], np.maximum(survival["logrank_p"], survival["permutation_p"]))
    for p_column in ("logrank_p", "permutation_p", "p"):  # q over the run's drugs, beside each p
        q_column = p_column[:-1] + "q"
        assert list(survival.columns).index(q_column) == list(survival.columns).index(p_column) + 1
        np.testing.assert_allclose(survival[q_column], bh_qvalues(survival[p_column].to_numpy()), rtol=1e-12)
    predictions = pd.read_csv(cli_run / "patient_predictions.tsv", sep="\t")
    assert list(predictions.columns[:4]) == ["patient", "drug", "predicted_response", "group"]
    wide = pd.read_csv(cli_run / "patient_drug_sensitivity.tsv", sep="\t", index_col="patient")
    assert set(wide.columns) == set(predictions["drug"])
    assert len(wide) == predictions["patient"].nunique()
    first = predictions.iloc[0]
    assert wide.loc[first["patient"], first["drug"]] == first["predicted_response"]
    biomarkers = pd.read_csv(cli_run / "biomarkers.tsv", sep="\t")
    assert {"drug", "pathway", "z", "coefficient", "rank"} <= set(biomarkers.columns)
    assert (biomarkers["z"] <= -1.2816).all()


def test_response_auc_tests_the_split_the_patients_file_records(cohort_dir, cli_run):
    from scipy.stats import fisher_exact

    from organoidrx.evaluation import encode_response

    _, cohort = cohort_dir
    table = pd.read_csv(cli_run / "response_auc.tsv", sep="\t").set_index("drug")
    predictions = pd.read_csv(cli_run / "patient_predictions.tsv", sep="\t")
    report = (cli_run / "report.html").read_text()
    for drug, row in table.iterrows():
        treated = cohort.clinical[cohort.clinical["drug"] == drug].set_index("patient")
        labels = encode_response(treated["response"]).dropna()
        groups = predictions[predictions["drug"] == drug].set_index("patient")["group"].reindex(labels.index)
        predicted, observed = (groups == "predicted responder").to_numpy(), (labels == 1).to_numpy()
        cells = np.array([[(p & observed).sum(), (p & ~observed).sum()] for p in (predicted, ~predicted)])
        columns = ["n_predicted_responder_cr_pr", "n_predicted_responder_sd_pd"]
        columns += ["n_predicted_non_responder_cr_pr", "n_predicted_non_responder_sd_pd"]
        assert row[columns].tolist() == cells.ravel().tolist()
        assert row["fisher_p"] == pytest.approx(fisher_exact(cells).pvalue, rel=1e-12)
        responders = f"CR/PR in {cells[0, 0]} of {cells[0].sum()} predicted responders"
        assert responders in report


def test_same_config_and_seed_give_byte_identical_tables(cohort_dir, cli_run, tmp_path):
    config, _ = cohort_dir
    assert cli.main(["--quiet", "run", str(config), "--out", str(tmp_path), "--no-report"]) == 0
    for name in TABLES:
        assert (tmp_path / name).read_bytes() == (cli_run / name).read_bytes(), name


def test_the_order_of_rows_genes_and_sets_in_the_inputs_gives_the_same_tables(cohort_dir, cli_run, tmp_path):
    """Permutations, shuffles, random sets and the proximity null are drawn in one order whatever the files' order
    (response rows, the GMT's sets and each set's genes, organoid columns); the seed alone decides them."""
    config = _copy_cohort(cohort_dir[0], tmp_path)
    folder = config.parent
    response = pd.read_csv(folder / "organoid_response.tsv", sep="\t")
    response.iloc[::-1].to_csv(folder / "organoid_response.tsv", sep="\t", index=False)
    lines = (folder / "pathways.gmt").read_text().splitlines()
    reversed_sets = ["\t".join(f[:2] + f[2:][::-1]) for f in (line.split("\t") for line in lines[::-1])]
    (folder / "pathways.gmt").write_text("\n".join(reversed_sets) + "\n")
    assert cli.main(["--quiet", "run", str(config), "--out", str(tmp_path / "out")]) == 0
    for name in ("proximity.tsv", "organoid_cv.tsv", "survival.tsv"):
        key = (
            ["drug", "pathway"]
            if name == "proximity.tsv"
            else ["drug", "feature_set"][: 1 + (name != "survival.tsv")]
        )
        again, first = (
            pd.read_csv(f / name, sep="\t").sort_values(key).reset_index(drop=True)
            for f in (tmp_path / "out", cli_run)
        )
        pd.testing.assert_frame_equal(again, first, rtol=1e-12, obj=name)


def test_train_then_predict_reproduces_run_exactly(cohort_dir, cli_run, tmp_path):
    config, _ = cohort_dir
    assert cli.main(["--quiet", "train", str(config), "--out", str(tmp_path / "bundles")]) == 0
    expression = config.parent / "patient_expression.tsv"
    out = tmp_path / "pred.tsv"
    assert (
        cli.main(
            [
                "--quiet",
                "predict",
                "--bundle",
                str(tmp_path / "bundles"),
                "--expression",
                str(expression),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    from_run = pd.read_csv(cli_run / "patient_predictions.tsv", sep="\t")
    predicted = pd.read_csv(out, sep="\t")
    pd.testing.assert_frame_equal(predicted, from_run.loc[:, predicted.columns], check_exact=True)
    # the in-memory values, not just their text, are identical
    result = run_pipeline(config, tmp_path / "again", write=False, n_permutations=0)
    direct = predict_with_bundle(tmp_path / "bundles" / "DRUG_A", expression)
    expected = result.patient_predictions.query("drug == 'DRUG_A'")
    assert np.array_equal(direct["predicted_response"].to_numpy(), expected["predicted_response"].to_numpy())
    assert list(direct["group"]) == list(expected["group"])


def test_predict_reduces_duplicated_genes_only_when_asked(cohort_dir, cli_run, tmp_path, capsys):
    """A patient file with a gene row listed twice: one line naming --duplicates; with it, the run's predictions."""
    config, _ = cohort_dir
    assert cli.main(["--quiet", "train", str(config), "--out", str(tmp_path / "bundles")]) == 0
    lines = (config.parent / "patient_expression.tsv").read_text().splitlines(keepends=True)
    doubled = tmp_path / "doubled.tsv"
    doubled.write_text("".join([*lines, lines[1]]))  # the first gene again, same values
    out = tmp_path / "pred.tsv"
    args = ["--quiet", "predict", "--bundle", str(tmp_path / "bundles"), "--expression", str(doubled)]
    capsys.readouterr()  # what train said
    assert cli.main([*args, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "1 duplicated gene ids" in error and "--duplicates" in error and "\n" not in error
    assert cli.main([*args, "--duplicates", "first", "--out", str(out)]) == 0
    from_run = pd.read_csv(cli_run / "patient_predictions.tsv", sep="\t")
    predicted = pd.read_csv(out, sep="\t")
    pd.testing.assert_frame_equal(predicted, from_run.loc[:, predicted.columns], check_exact=True)


def test_inspect_checks_a_folder_of_bundles_as_predict_reads_it(cohort_dir, tmp_path, capsys):
    config, _ = cohort_dir
    out = tmp_path / "bundles"
    train_bundles(config, out)
    assert cli.main(["inspect", str(out)]) == 0
    assert (
        "problems:    none found (every bundle's checksum verified, the set is the one"
        in capsys.readouterr().out
    )
    shutil.rmtree(out / "DRUG_B")
    assert cli.main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "problems:" in shown and "missing ('DRUG_B')" in shown


def test_predict_on_a_folder_predicts_only_the_set_of_bundles_its_training_wrote(
    cohort_dir, tmp_path, caplog
):
    """bundles.json vouches for the set: a missing drug, a copy, a bundle of another training are refused."""
    config, _ = cohort_dir
    key = tmp_path / "key"
    key.write_text("k" * 32)
    out = tmp_path / "bundles"
    train_bundles(config, out, key=key)
    other = train_bundles(config, tmp_path / "other", key=key, top_k=3)  # another training, the same key
    patients = read_expression(config.parent / "patient_expression.tsv")
    whole = predict_with_bundle(out, patients, key=key)
    assert set(whole["drug"]) == {"DRUG_A", "DRUG_B"}

    def refused(change, message, **kwargs):
        folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        shutil.copytree(out, folder)
        change(folder)
        with pytest.raises(InputError, match=message):
            predict_with_bundle(folder, patients, **kwargs)

    refused(lambda f: shutil.rmtree(f / "DRUG_B"), r"1 bundle\(s\) of its training are missing \('DRUG_B'\)")
    refused(
        lambda f: shutil.copytree(f / "DRUG_A", f / "DRUG_A_copy"),
        r"not written by its training \('DRUG_A_copy'\)",
    )

    def swap(folder):
        shutil.rmtree(folder / "DRUG_B")
        shutil.copytree(other["DRUG_B"], folder / "DRUG_B")

    refused(swap, r"1 bundle\(s\) differ from those its training wrote \('DRUG_B'\)", key=key)

    def edit_index(folder):
        index = json.loads((folder / "bundles.json").read_text())
        del index["bundles"]["DRUG_B"]
        (folder / "bundles.json").write_text(json.dumps(index))

    refused(edit_index, "its checksum does not match its content")
    refused(lambda f: (f / "bundles.json").unlink(), "has no bundles.json", key=key)

    # a folder assembled by hand: predicted with a warning, but one drug twice is refused
    hand = tmp_path / "hand"
    shutil.copytree(out, hand)
    (hand / "bundles.json").unlink()
    with caplog.at_level("WARNING", logger="organoidrx"):
        assert len(predict_with_bundle(hand, patients)) == len(whole)
    assert "no bundles.json (not written by 'organoidrx train')" in caplog.text
    shutil.copytree(hand / "DRUG_A", hand / "DRUG_A_copy")
    with pytest.raises(InputError, match="bundles DRUG_A and DRUG_A_copy both hold drug 'DRUG_A'"):
        predict_with_bundle(hand, patients)


def test_predict_says_how_many_genes_of_the_model_are_missing(cohort_dir, tmp_path, caplog):
    config, _ = cohort_dir
    bundles = train_bundles(config, tmp_path / "bundles")
    patients = read_expression(config.parent / "patient_expression.tsv")
    with caplog.at_level("WARNING", logger="organoidrx"):
        predict_with_bundle(bundles["DRUG_A"], patients)
    assert "lacks" not in caplog.text
    model = load_bundle(bundles["DRUG_A"])
    sets = model.metadata["gene_sets"]
    dropped = sorted({g for p in model.feature_names for g in sets[p]})[:5]
    with caplog.at_level("WARNING", logger="organoidrx"):
        predict_with_bundle(bundles["DRUG_A"], patients.drop(columns=dropped))
    assert "the expression lacks 5 of the " in caplog.text and repr(dropped[0]) in caplog.text


def test_predict_ranks_samples_among_the_training_patients_genes_in_their_order(cohort_dir, tmp_path, caplog):
    """Extra genes and another gene order would move rank-based scores (tied values are ordered by gene order):
    predict ranks each sample among the training patients' genes, in their order, and says what it changed."""
    config, _ = cohort_dir
    bundles = train_bundles(config, tmp_path / "bundles")
    patients = read_expression(config.parent / "patient_expression.tsv").iloc[:6].round(1)  # many ties
    expected = predict_with_bundle(bundles["DRUG_A"], patients)
    rng = np.random.default_rng(0)
    extra = pd.DataFrame(
        rng.normal(size=(6, 300)), index=patients.index, columns=[f"EXTRA{i}" for i in range(300)]
    )
    wider = pd.concat([patients.iloc[:, ::-1], extra], axis=1)
    with caplog.at_level("WARNING", logger="organoidrx"):
        moved = predict_with_bundle(bundles["DRUG_A"], wider)
    pd.testing.assert_frame_equal(moved, expected, check_exact=True)
    n = patients.shape[1]
    assert (
        f"300 of the expression's {n + 300} genes were not among the {n} genes the training patients"
        in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="organoidrx"):
        predict_with_bundle(bundles["DRUG_A"], patients.drop(columns=patients.columns[:3]))
    assert f"lacks 3 of the {n} genes the training patients were ranked among" in caplog.text


def test_predict_warns_when_the_gene_sets_given_define_the_model_pathways_otherwise(
    cohort_dir, tmp_path, caplog
):
    config, _ = cohort_dir
    bundle = train_bundles(config, tmp_path / "bundles")["DRUG_A"]
    patients = read_expression(config.parent / "patient_expression.tsv")
    gmt = config.parent / "pathways.gmt"
    with caplog.at_level("WARNING", logger="organoidrx"):
        same = predict_with_bundle(bundle, patients, gene_sets=gmt)
    assert "other genes than the training did" not in caplog.text
    feature = load_bundle(bundle).feature_names[0]
    lines = [line.split("\t") for line in gmt.read_text().splitlines()]
    edited = ["\t".join(f[:-1] if f[0] == feature else f) for f in lines]  # one gene fewer in one pathway
    (tmp_path / "edited.gmt").write_text("\n".join(edited) + "\n")
    with caplog.at_level("WARNING", logger="organoidrx"):
        moved = predict_with_bundle(bundle, patients, gene_sets=tmp_path / "edited.gmt")
    assert "edited.gmt defines 1 of the model's" in caplog.text and repr(feature) in caplog.text
    assert not np.array_equal(moved["predicted_response"], same["predicted_response"])


def test_train_never_mixes_two_trainings_in_one_folder(cohort_dir, tmp_path, capsys):
    config, _ = cohort_dir
    out = tmp_path / "bundles"
    assert cli.main(["--quiet", "train", str(config), "--out", str(out)]) == 0
    (out / "OLD_DRUG").mkdir()
    (out / "OLD_DRUG" / "manifest.json").write_text("{}")
    capsys.readouterr()
    assert cli.main(["--quiet", "train", str(config), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "--out folder is not empty" in error and "--overwrite" in error and "\n" not in error
    assert cli.main(["--quiet", "train", str(config), "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["DRUG_A", "DRUG_B", "bundles.json"]  # replaced whole
    assert cli.main(["--quiet", "train", str(config), "--out", str(tmp_path / "afile" / "sub")]) == 0
    (tmp_path / "file").write_text("x")
    assert cli.main(["--quiet", "train", str(config), "--out", str(tmp_path / "file" / "sub")]) == 2
    assert "is a file, not a folder; choose another --out" in capsys.readouterr().err


def test_train_does_not_cross_validate(cohort_dir, tmp_path, monkeypatch):
    """A bundle is the model fitted on every organoid: train skips the organoid cross-validation."""
    from organoidrx.pipeline import _run

    config, _ = cohort_dir

    def refuse(*args, **kwargs):
        raise AssertionError("train ran the organoid cross-validation")

    monkeypatch.setattr(_run, "organoid_cv", refuse)
    train_bundles(config, tmp_path / "bundles")
    with pytest.raises(ValueError, match=r"cross_validate=False computes no organoid_cv\.tsv to write"):
        run_pipeline(config, tmp_path / "run", cross_validate=False)


def test_predict_one_patient_uses_the_stored_patient_scaling(cohort_dir, tmp_path, caplog):
    config, _ = cohort_dir
    bundles = train_bundles(config, tmp_path / "bundles")
    patients = read_expression(config.parent / "patient_expression.tsv")
    with caplog.at_level("INFO", logger="organoidrx"):
        single = predict_with_bundle(bundles["DRUG_A"], patients.iloc[[5]])
    assert "standardised with the training patients' mean and scale (reference bundle)" in caplog.text
    assert single.attrs["reference"] == "bundle"
    # a patient's prediction does not depend on who else is in the file
    pair = predict_with_bundle(bundles["DRUG_A"], patients.iloc[[9, 5]])
    fifty = predict_with_bundle(bundles["DRUG_A"], patients.iloc[[*range(100, 149), 5]])
    full = predict_with_bundle(bundles["DRUG_A"], patients)
    alone = single["predicted_response"].iloc[0]
    assert alone == pair["predicted_response"].iloc[1] == fifty["predicted_response"].iloc[-1]
    assert alone == full["predicted_response"].iloc[5]
    assert single["group"].iloc[0] == full["group"].iloc[5]
    # per-cohort standardisation (the paper's): the training cohort gives the same values up to rounding
    cohort = predict_with_bundle(bundles["DRUG_A"], patients, reference="cohort")
    assert cohort.attrs["reference"] == "cohort"
    np.testing.assert_allclose(cohort["predicted_response"], full["predicted_response"], rtol=1e-9)
    subset = predict_with_bundle(bundles["DRUG_A"], patients.iloc[[9, 5, 2]], reference="cohort")
    assert subset["predicted_response"].iloc[1] != pytest.approx(full["predicted_response"].iloc[5], rel=1e-6)
    with pytest.raises(InputError, match=r"1 sample\(s\) cannot be standardised as a cohort .* at least 3"):
        predict_with_bundle(bundles["DRUG_A"], patients.iloc[[5]], reference="cohort")


def test_tampered_and_foreign_bundles_are_refused(cohort_dir, tmp_path, capsys):
    config, _ = cohort_dir
    bundle = train_bundles(config, tmp_path / "bundles")["DRUG_A"]
    manifest = bundle / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"drug": "DRUG_A"', '"drug": "DRUG_Z"', 1))
    expression = config.parent / "patient_expression.tsv"
    args = [
        "predict",
        "--bundle",
        str(bundle),
        "--expression",
        str(expression),
        "--out",
        str(tmp_path / "p.tsv"),
    ]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "checksum mismatch" in err and "modified after it was written" in err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"format": "something-else"}')
    args[2] = str(foreign)
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("organoidrx: error:") and "bundle" in err and err.count("\n") == 0
    assert not (tmp_path / "p.tsv").exists()


def test_preclinical_only_mode(cohort_dir, tmp_path):
    config, _ = cohort_dir
    text = config.read_text()
    start = text.index("[patients]")
    end = text.index("[settings]")
    pre = tmp_path / "pre.toml"
    pre.write_text(text[:start] + text[end:])
    for name in (
        "organoid_expression.tsv",
        "organoid_response.tsv",
        "network.tsv",
        "pathways.gmt",
        "drug_targets.tsv",
    ):
        shutil.copy(config.parent / name, tmp_path / name)
    result = run_pipeline(pre, tmp_path / "out")
    assert result.survival is None and result.patient_predictions is None
    assert (tmp_path / "out" / "biomarkers.tsv").is_file() and (tmp_path / "out" / "report.html").is_file()
    assert not (tmp_path / "out" / "survival.tsv").exists()
    assert json.loads((tmp_path / "out" / "run.json").read_text())["mode"] == "preclinical-only"


def test_precomputed_wide_proximity_table_gives_the_same_biomarkers(cohort_dir, cli_run, tmp_path):
    config, _ = cohort_dir
    prox = pd.read_csv(cli_run / "proximity.tsv", sep="\t")
    wide = prox.pivot(index="pathway", columns="drug", values="z")
    wide.columns = ["drug_a", "Drug B"]  # other spellings of DRUG_A, DRUG_B
    wide.index.name = "Pathway"
    wide.to_csv(config.parent / "wide_proximity.tsv", sep="\t", float_format="%.17g")
    text = config.read_text().replace('edges = "network.tsv"', 'proximity = "wide_proximity.tsv"')
    other = config.parent / "wide.toml"
    other.write_text(text)
    result = run_pipeline(other, tmp_path, write=False, n_permutations=0)
    expected = pd.read_csv(cli_run / "biomarkers.tsv", sep="\t")
    got = result.biomarkers.reset_index(drop=True)
    assert list(got["pathway"]) == list(expected["pathway"])
    np.testing.assert_allclose(got["coefficient"], expected["coefficient"], rtol=1e-9)


def test_a_drug_of_a_joined_column_of_a_wide_proximity_table_is_read_from_it(tmp_path, caplog):
    """The authors' table joins drugs with the same targets (CETUXIMAB_GEFITINIB): Gefitinib is read from it."""
    from organoidrx.io import DrugNameResolver, drug_keys
    from organoidrx.pipeline._inputs import _read_proximity_table

    path = tmp_path / "wide.tsv"
    path.write_text("pathway\tFLUOROURACIL\tCETUXIMAB_GEFITINIB\nP1\t-2\t-1.5\nP2\t0.5\t-3\n")
    resolver = DrugNameResolver()
    with caplog.at_level("WARNING", logger="organoidrx"):  # a warning: run.json and the report list it
        table = _read_proximity_table(path, drug_keys(resolver, ["Gefitinib", "5-FU"]), resolver)
    assert table.set_index(["drug", "pathway"])["z"].to_dict() == {
        ("Gefitinib", "P1"): -1.5,
        ("Gefitinib", "P2"): -3.0,
        ("5-FU", "P1"): -2.0,
        ("5-FU", "P2"): 0.5,
    }
    assert (
        "drug 'Gefitinib' has no column of its own and is read from the joined column 'CETUXIMAB_GEFITINIB'"
        in (caplog.text)
    )
    # a drug in no column lists the table's columns, not the names read out of the joined one
    with pytest.raises(InputError, match=r"it has 'CETUXIMAB_GEFITINIB', 'FLUOROURACIL'\. Fix") as missing:
        _read_proximity_table(path, drug_keys(resolver, ["Irinotecan"]), resolver)
    assert "'CETUXIMAB'" not in str(missing.value)
    # a long table without its z column is one line naming the file, not a wide table read wrong
    long = tmp_path / "long.tsv"
    long.write_text("drug\tpathway\tn_targets\nFLUOROURACIL\tP1\t1\n")
    with pytest.raises(InputError, match=r"long.tsv: has drug and pathway columns but no 'z'"):
        _read_proximity_table(long, drug_keys(resolver, ["5-FU"]), resolver)


@pytest.mark.parametrize("alignment", ["combat", "quantile", "precise"])
def test_aligned_patients_still_separate(cohort_dir, tmp_path, alignment):
    config, _ = cohort_dir
    result = run_pipeline(config, tmp_path, write=False, n_permutations=0, alignment=alignment)
    assert (result.survival["hazard_ratio"] < 1).all()
    assert result.patient_predictions["predicted_response"].notna().all()


@pytest.mark.parametrize(
    "settings",
    [
        {"alignment": "standardize"},
        {"alignment": "combat"},
        {"alignment": "quantile"},
        {"alignment": "precise", "alignment_options": {"n_pc": 3, "min_cosine": 0.0}, "top_k": 2},
        {
            "alignment": "precise",
            "alignment_options": {"n_pc": 3, "min_cosine": 0.0, "refit": False},
            "top_k": 2,
        },
    ],
    ids=["standardize", "combat", "quantile", "precise", "precise-no-refit"],
)
def test_permutation_observes_the_reported_predictor(cohort_dir, tmp_path, settings):
    """The whole-pipeline permutation's observed statistic is the log-rank z of the split that is reported: the
    permutations refit the same predictor (PRECISE's refit included) on shuffled organoid responses."""
    from organoidrx.evaluation import LogrankKernel

    config, cohort = cohort_dir
    result = run_pipeline(config, tmp_path, write=False, n_permutations=3, **settings)
    clinical = cohort.clinical.drop_duplicates("patient").set_index("patient")
    for drug, row in result.survival.set_index("drug").iterrows():
        rows = result.patient_predictions.query("drug == @drug and treated")
        times = clinical.loc[rows["patient"]]
        kernel = LogrankKernel(times["time"].to_numpy(float), times["event"].to_numpy(float))
        reported = kernel.signed((rows["group"] == "predicted responder").to_numpy())
        assert row["permutation_statistic"] == pytest.approx(reported, rel=1e-12, abs=1e-12), drug


# ------------------------------------------------------------------------------------------ bad configs
def _error(args, capsys) -> str:
    assert cli.main(["--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("organoidrx: error:"), err
    return err


def _copy_cohort(config: Path, tmp_path: Path) -> Path:
    target = tmp_path / "cohort"
    shutil.copytree(config.parent, target, ignore=shutil.ignore_patterns("*.toml"))
    shutil.copy(config, target / "config.toml")
    return target / "config.toml"


def test_bad_config_missing_key(cohort_dir, tmp_path, capsys):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    config.write_text(config.read_text().replace('targets = "drug_targets.tsv"\n', ""))
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert "missing key 'targets' in [drugs]" in err


def test_bad_config_unknown_drug_lists_close_matches(cohort_dir, tmp_path, capsys):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    config.write_text(config.read_text().replace('names = ["DRUG_A", "DRUG_B"]', 'names = ["DRUG_AA"]'))
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert "'DRUG_AA'" in err and "DRUG_A" in err.split("close matches")[1]


def test_bad_config_one_drug_under_two_names(cohort_dir, tmp_path, capsys):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    config.write_text(
        config.read_text().replace('names = ["DRUG_A", "DRUG_B"]', 'names = ["DRUG_A", "drug a"]')
    )
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert "[drugs] names lists one drug under several names: 'DRUG_A' and 'drug a'" in err


def test_a_drug_whose_targets_are_off_the_main_component_is_skipped_with_the_reason(
    cohort_dir, tmp_path, caplog
):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    with open(config.parent / "network.tsv", "a") as handle:
        handle.write("ISLAND_1\tISLAND_2\t900\n")
    targets = pd.read_csv(config.parent / "drug_targets.tsv", sep="\t")
    targets = pd.concat(
        [targets[targets["drug"] != "DRUG_B"], pd.DataFrame({"drug": ["DRUG_B"], "target": ["ISLAND_1"]})]
    )
    targets.to_csv(config.parent / "drug_targets.tsv", sep="\t", index=False)
    with caplog.at_level("WARNING", logger="organoidrx"):
        run_pipeline(config, tmp_path / "run", report=False, write=False, n_permutations=0)
    assert (
        "DRUG_B: its proximity could not be computed (targets only outside the network's largest connected "
        "component); the drug is skipped" in caplog.text
    )


def test_bad_config_path_does_not_exist(cohort_dir, tmp_path, capsys):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    config.write_text(config.read_text().replace('"clinical.tsv"', '"nowhere.tsv"'))
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert "'nowhere.tsv' does not exist" in err


def test_bad_config_no_patient_treated_with_the_drug(cohort_dir, tmp_path, capsys):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    clinical = pd.read_csv(config.parent / "clinical.tsv", sep="\t")
    clinical["drug"] = clinical["drug"].replace("DRUG_B", "DRUG_A")
    clinical.to_csv(config.parent / "clinical.tsv", sep="\t", index=False)
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert (
        "no patient with expression was treated with DRUG_B (drugs in the table:" in err
        and "leave it out of [drugs] names" in err
    )


def test_patients_recorded_with_a_combination_cell_count_for_each_of_its_drugs(cohort_dir, tmp_path, caplog):
    """'DRUG_A + Leucovorin' or 'DRUG_A, DRUG_B' is a treatment with DRUG_A (and DRUG_B): such patients are used."""
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs

    config = _copy_cohort(cohort_dir[0], tmp_path)
    clinical = pd.read_csv(config.parent / "clinical.tsv", sep="\t")
    before = {d: clinical.loc[clinical["drug"] == d, "patient"].nunique() for d in ("DRUG_A", "DRUG_B")}
    a_rows = clinical.index[clinical["drug"] == "DRUG_A"]
    clinical.loc[a_rows[::3], "drug"] = "DRUG_A + Leucovorin"
    clinical.loc[a_rows[1::3], "drug"] = "DRUG_A, DRUG_B"
    clinical.loc[clinical.index[clinical["drug"].isna()][0], "drug"] = "Mystery infusion"
    clinical.to_csv(config.parent / "clinical.tsv", sep="\t", index=False)
    with caplog.at_level("INFO", logger="organoidrx"):
        loaded = load_inputs(read_config(config))
    both = len(a_rows[1::3])
    assert loaded.matching["treated_patients"] == {
        "DRUG_A": before["DRUG_A"],
        "DRUG_B": before["DRUG_B"] + both,
    }
    assert "DRUG_A counts" in caplog.text and "'DRUG_A + Leucovorin'" in caplog.text
    assert (
        "1 drug cells name no drug a synonym table knows" in caplog.text
        and "'Mystery infusion'" in caplog.text
    )
    assert "also name something" not in caplog.text
    result = run_pipeline(config, tmp_path / "run", report=False, write=False, n_permutations=0)
    predictions = result.patient_predictions
    treated = predictions[predictions["treated"]].groupby("drug")["patient"].nunique().to_dict()
    assert treated == loaded.matching["treated_patients"]


def test_patients_with_expression_but_no_clinical_row_are_named(cohort_dir, tmp_path, caplog):
    """They stay in the cohort (its standardisation, patient_predictions) but have no drug and no outcome: said."""
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs

    config = _copy_cohort(cohort_dir[0], tmp_path)
    clinical = pd.read_csv(config.parent / "clinical.tsv", sep="\t")
    gone = sorted(clinical["patient"].unique())[:2]
    clinical[~clinical["patient"].isin(gone)].to_csv(config.parent / "clinical.tsv", sep="\t", index=False)
    with caplog.at_level("WARNING", logger="organoidrx"):
        loaded = load_inputs(read_config(config))
    n = loaded.matching["patients_with_expression"]
    assert set(gone) <= set(loaded.patient_expression.index)
    assert (
        f"2 of {n} patients of patient_expression.tsv have no clinical row in clinical.tsv (e.g. "
        in caplog.text
    )
    assert repr(gone[0]) in caplog.text


def test_a_patient_recorded_twice_for_a_drug_gets_its_best_response(cohort_dir, tmp_path, caplog):
    """Rows '5 FU' (no response) and 'Fluorouracil' (SD) of one patient: one treated patient, response SD; a cell
    naming a known drug beside an unknown word counts for the known drug and is named as such."""
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs
    from organoidrx.pipeline._patient_inputs import treated_rows

    config = _copy_cohort(cohort_dir[0], tmp_path)
    clinical = pd.read_csv(config.parent / "clinical.tsv", sep="\t")
    a_rows = clinical.index[clinical["drug"] == "DRUG_A"]
    twice = clinical.loc[a_rows[:2]].assign(drug="DRUG_A + Mysteryol", response="CR")
    twice.loc[twice.index[1], "time"] += 1  # one patient's rows disagree on the follow-up
    clinical.loc[a_rows[:2], "response"] = [np.nan, "PD"]
    clinical = pd.concat([clinical, twice], ignore_index=True)
    clinical.to_csv(config.parent / "clinical.tsv", sep="\t", index=False)
    with caplog.at_level("INFO", logger="organoidrx"):
        loaded = load_inputs(read_config(config))
    rows = treated_rows(loaded.clinical, loaded.drug_keys["DRUG_A"]).set_index("patient")
    first, second = clinical.loc[a_rows[:2], "patient"]
    assert rows.loc[first, "response"] == "CR" and rows.loc[second, "response"] == "CR"
    assert loaded.matching["treated_patients"]["DRUG_A"] == len(a_rows)
    assert (
        "1 drug cells also name something no synonym table knows ('MYSTERYOL' in 'DRUG_A + Mysteryol')"
        in (caplog.text)
    )
    assert "name no drug a synonym table knows" not in caplog.text
    assert f"1 patients have rows with different follow-up times or events (e.g. {second!r})" in caplog.text


def test_tcga_sample_barcodes_match_patient_barcodes_by_their_tumour_sample(cohort_dir, tmp_path, caplog):
    """Expression named by sample (GDC: TCGA-XX-XXXX-01A), clinical by patient: the tumour sample is the patient."""
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs

    config = _copy_cohort(cohort_dir[0], tmp_path)
    clinical = pd.read_csv(config.parent / "clinical.tsv", sep="\t")
    expression = pd.read_csv(config.parent / "patient_expression.tsv", sep="\t", index_col=0)
    barcode = {p: f"TCGA-AA-{i:04d}" for i, p in enumerate(expression.columns)}
    clinical["patient"] = clinical["patient"].map(barcode)
    clinical.to_csv(config.parent / "clinical.tsv", sep="\t", index=False)
    first = expression.columns[0]
    normal = expression[[first]].set_axis([barcode[first] + "-11A"], axis=1) * 0.5
    expression = pd.concat([expression.rename(columns=lambda p: barcode[p] + "-01A"), normal], axis=1)
    expression.to_csv(config.parent / "patient_expression.tsv", sep="\t")
    with caplog.at_level("INFO", logger="organoidrx"):
        loaded = load_inputs(read_config(config))
    assert loaded.matching["clinical_rows_used"] == len(clinical)
    assert set(loaded.clinical["patient"]) == set(clinical["patient"])
    kept = loaded.patient_expression.loc[barcode[first]]
    assert np.array_equal(kept.to_numpy(), expression[barcode[first] + "-01A"].to_numpy())  # not the normal
    assert "left out 1 normal or control samples (e.g. 'TCGA-AA-0000-11A')" in caplog.text

    # R's make.names writes the samples with dots: the same patients
    expression.rename(columns=lambda c: c.replace("-", ".")).to_csv(
        config.parent / "patient_expression.tsv", sep="\t"
    )
    dotted = load_inputs(read_config(config))
    assert dotted.patient_expression.equals(loaded.patient_expression)
    # clinical rows named by sample, expression by aliquot: the fix is named
    (clinical.assign(patient=clinical["patient"] + "-01A")).to_csv(
        config.parent / "clinical.tsv", sep="\t", index=False
    )
    expression.rename(columns=lambda c: c + "-11R-A32Z-07").to_csv(
        config.parent / "patient_expression.tsv", sep="\t"
    )
    with pytest.raises(
        InputError, match=r"both name TCGA samples, at different levels: give the clinical table 12"
    ):
        load_inputs(read_config(config))

    clinical["patient"] = clinical["patient"].str.replace("TCGA-AA", "TCGA-BB")
    clinical.to_csv(config.parent / "clinical.tsv", sep="\t", index=False)
    with pytest.raises(
        InputError,
        match=r"clinical\.tsv: none of its \d+ patient ids \(e\.g\. 'TCGA-BB-0000'.*is a sample of",
    ):
        load_inputs(read_config(config))


def test_bad_config_fewer_than_five_organoids(cohort_dir, tmp_path, capsys):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    response = pd.read_csv(config.parent / "organoid_response.tsv", sep="\t")
    four = ["ORG001", "ORG002", "ORG003", "ORG004"]
    keep = (response["drug"] == "DRUG_A") | response["sample"].isin(four)
    response[keep].to_csv(config.parent / "organoid_response.tsv", sep="\t", index=False)
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert "only 4 organoids have both expression and a DRUG_B response (need at least 5)" in err
    assert "leave DRUG_B out of [drugs]" in err
    # the same floor for a nested choice of model, whose inner leave-one-out then fits 3 organoids
    _set(config, model=["ridge", "linear"])
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert "only 4 organoids have both expression and a DRUG_B response (need at least 5)" in err
    # one response for every organoid: nothing to learn, said before any work
    _set(config, model="ridge")
    flat = np.where(response["drug"] == "DRUG_A", 1.5, response["value"].abs() + 0.1)
    response.assign(value=flat).to_csv(config.parent / "organoid_response.tsv", sep="\t", index=False)
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert "all 20 organoids have the same DRUG_A response (1.5); there is nothing to learn" in err


def test_predictions_that_cannot_split_name_the_drug(cohort_dir, tmp_path, capsys):
    config = _copy_cohort(cohort_dir[0], tmp_path)
    path = config.parent / "patient_expression.tsv"
    expression = pd.read_csv(path, sep="\t", index_col=0)
    expression.loc[:, :] = np.repeat(expression.iloc[:, [0]].to_numpy(), expression.shape[1], axis=1)
    expression.to_csv(path, sep="\t")  # every patient the same: one prediction for all
    err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
    assert re.search(r"drug 'DRUG_A', \d+ treated patients: all \d+ predictions fall on one side", err), err


def test_work_beyond_the_guard_is_refused_before_it_starts_unless_forced(cohort_dir, tmp_path, capsys):
    from organoidrx.pipeline import _config, _inputs, _work

    config = _copy_cohort(cohort_dir[0], tmp_path)
    _set(config, n_permutations=10**6, n_random=10**6, n_random_sets=10**5)
    # 2 drugs x 40 sets x 1e6 draws, 2 x 1e6 permutations, 2 x 1e5 random sets: about 9 hours by the table
    cfg = _config.read_config(config)
    loaded = _inputs.load_inputs(cfg)
    seconds = _work.estimate_work(cfg, loaded)
    assert seconds["permutations"] == pytest.approx(2 * 10**6 * _work.SECONDS_PER_UNIT["permutations"])
    assert seconds["proximity"] == pytest.approx(2 * 40 * 10**6 * _work.SECONDS_PER_UNIT["proximity"])
    # the configured model on every random set and shuffle, its top k refitted in every fold: twice its
    # registered topk_cv_seconds (ridge 2e-3, elastic net 2.2, measured by benchmarks/crossval.py --run-models)
    assert seconds["random pathway sets"] == pytest.approx(2 * 2 * 10**5 * 2 * 2e-3)
    _set(config, model="elasticnet")
    slow = _work.estimate_work(_config.read_config(config), loaded)["random pathway sets"]
    assert slow == pytest.approx(2 * 2 * 10**5 * 2 * 2.2)
    # a costlier measure scales the proximity estimate by its work factor
    _set(config, measure="separation")
    separation = _work.estimate_work(_config.read_config(config), loaded)["proximity"]
    assert separation == pytest.approx(3.5 * seconds["proximity"])  # benchmarks/RESULTS.md: 3.5x closest
    _set(config, measure="diamond")
    diamond = _work.estimate_work(_config.read_config(config), loaded)["proximity"]
    assert diamond == pytest.approx((2 + 50) / 2 * seconds["proximity"])
    _set(config, measure="closest")
    # a nested choice of model and k repeats candidates x inner folds in every outer fold and permutation
    assert seconds["nested model selection"] == 0
    _set(config, model=["ridge", "svr"], top_k=[5, 10])
    nested = _work.estimate_work(_config.read_config(config), loaded)
    n = len(loaded.organoid_expression)
    assert nested["nested model selection"] == pytest.approx(
        2 * 4 * n * (n + 10**6) * _work.SECONDS_PER_UNIT["nested model selection"]
    )
    # every random set repeats the choice in each outer fold: each candidate on all features and on its top k
    assert nested["random pathway sets"] == pytest.approx(2 * 2 * 10**5 * (4e-3 + 8e-3) * 2 * n)
    _set(config, model="ridge", top_k=10)
    _set(config, **SMALL)
    # with a guard of a millisecond even the small run is refused, and --force runs it
    _work.MAX_HOURS, saved = 1e-9, _work.MAX_HOURS
    try:
        err = _error(["run", str(config), "--out", str(tmp_path / "o")], capsys)
        assert "this run is estimated to take" in err and "--force" in err and "n_permutations=19" in err
        assert not (tmp_path / "o").exists()
        assert (
            cli.main(["--quiet", "run", str(config), "--out", str(tmp_path / "o"), "--force", "--no-report"])
            == 0
        )
    finally:
        _work.MAX_HOURS = saved


def test_predict_writes_parquet_and_h5ad_obsm(cohort_dir, tmp_path):
    anndata = pytest.importorskip("anndata", reason="AnnData outputs need the anndata extra")
    config, _ = cohort_dir
    train_bundles(config, tmp_path / "bundles")
    patients = read_expression(config.parent / "patient_expression.tsv").iloc[:12]
    h5ad = tmp_path / "patients.h5ad"
    anndata.AnnData(
        patients.to_numpy(), obs=pd.DataFrame(index=patients.index), var=pd.DataFrame(index=patients.columns)
    ).write_h5ad(h5ad)
    argv = ["--quiet", "predict", "--bundle", str(tmp_path / "bundles"), "--expression", str(h5ad), "--out"]
    assert cli.main([*argv, str(tmp_path / "p.tsv")]) == 0
    assert cli.main([*argv, str(tmp_path / "p.parquet")]) == 0
    assert cli.main([*argv, str(tmp_path / "p.h5ad")]) == 0
    long = pd.read_csv(tmp_path / "p.tsv", sep="\t", float_precision="round_trip")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "p.parquet"), long, check_exact=False, rtol=1e-11
    )
    written = anndata.read_h5ad(tmp_path / "p.h5ad")
    assert list(written.obs_names) == list(patients.index)
    np.testing.assert_array_equal(written.X, patients.to_numpy())  # a copy of the input
    response, group = written.obsm["predicted_response"], written.obsm["predicted_group"]
    assert sorted(response.columns) == sorted(long["drug"].unique())
    for row in long.itertuples(index=False):
        assert response.loc[row.patient, row.drug] == pytest.approx(row.predicted_response, rel=1e-11)
        assert group.loc[row.patient, row.drug] == row.group


def test_predict_with_a_cohort_dependent_scorer_says_so(cohort_dir, tmp_path, caplog):
    config, _ = cohort_dir
    own = tmp_path / "config.toml"
    own.write_text(config.read_text())
    for name in ("organoid_expression.tsv", "organoid_response.tsv", "network.tsv", "pathways.gmt",
                 "drug_targets.tsv", "patient_expression.tsv", "clinical.tsv"):  # fmt: skip
        if (config.parent / name).exists():
            (tmp_path / name).symlink_to(config.parent / name)
    _set(own, scorer="mean_z", n_permutations=0)
    bundles = train_bundles(own, tmp_path / "bundles")
    patients = read_expression(config.parent / "patient_expression.tsv")
    with pytest.raises(
        InputError, match=r"scorer 'mean_z' compares each gene across the samples .*\(give 3 or more\)"
    ):
        predict_with_bundle(bundles["DRUG_A"], patients.iloc[[5]])
    with caplog.at_level("WARNING", logger="organoidrx"):
        table = predict_with_bundle(bundles["DRUG_A"], patients.iloc[:10])
    assert len(table) == 10
    assert "cohort-dependent: these predictions depend on the 10 samples given together" in caplog.text


def test_kernel_ridge_runs_and_its_bundles_predict_as_the_run(cohort_dir, tmp_path):
    config, _ = cohort_dir
    options = {"kernel": "rbf", "gamma": 0.2}
    result = run_pipeline(
        config, tmp_path / "run", write=False, n_permutations=3, model="kernel_ridge", model_options=options
    )
    for model in result.models.values():
        final = model[-1]
        assert final.model == "kernel_ridge" and final.estimator_.gamma_ == 0.2
        assert not hasattr(final, "coef_")  # rbf: ranked by sensitivity, no coefficient vector
    assert result.survival["permutation_p"].notna().all()
    assert result.organoid_cv["spearman"].notna().all()
    paths = train_bundles(config, tmp_path / "bundles", model="kernel_ridge", model_options=options)
    expression = config.parent / "patient_expression.tsv"
    for drug, path in paths.items():
        assert load_bundle(path).manifest["steps"][-1]["kind"] == "kernel"
        direct = predict_with_bundle(path, expression, reference="cohort")
        expected = result.patient_predictions[result.patient_predictions["drug"] == drug]
        assert np.array_equal(
            direct["predicted_response"].to_numpy(), expected["predicted_response"].to_numpy()
        )


def test_precise_alignment_options_reach_the_bundles_and_predict_replays_them(cohort_dir, tmp_path):
    config, _ = cohort_dir
    settings = {"alignment": "precise", "alignment_options": {"n_pc": 5, "min_cosine": 0.3}}
    result = run_pipeline(config, tmp_path / "run", write=False, n_permutations=0, **settings)
    paths = train_bundles(config, tmp_path / "bundles", **settings)
    expression = config.parent / "patient_expression.tsv"
    for drug, path in paths.items():
        metadata = load_bundle(path).metadata
        assert metadata["alignment"] == "precise"
        assert metadata["alignment_options"] == {
            "n_pc": 5,
            "n_pv": None,
            "min_cosine": 0.3,
            "interpolation": "ks",
            "n_representations": 1000,
            "refit": True,
        }
        assert len(metadata["organoid_response"]) == len(metadata["organoid_samples"])
        direct = predict_with_bundle(path, expression, reference="cohort")
        expected = result.patient_predictions[result.patient_predictions["drug"] == drug]
        assert np.array_equal(
            direct["predicted_response"].to_numpy(), expected["predicted_response"].to_numpy()
        )
    with pytest.raises(InputError, match=r"alignment 'precise' adapts to the cohort"):
        predict_with_bundle(next(iter(paths.values())), expression, reference="bundle")


def test_precise_refits_the_organoid_regressor_on_the_projected_organoids(cohort_dir, tmp_path):
    """The run's patient predictions are the organoid model refitted on the projected organoids with their
    responses (precise_refit_predict); refit = false applies the organoid model as fitted; a bundle without
    responses cannot refit and says so."""
    from organoidrx.models import ModelBundle, make_response_pipeline, precise_refit_predict, predict_cohort
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs
    from organoidrx.scoring import score

    config, _ = cohort_dir
    options = {"n_pc": 2, "min_cosine": 0.0}  # fewer consensus features than pathways: a real projection
    runs = {
        refit: run_pipeline(
            config,
            tmp_path / str(refit),
            write=False,
            n_permutations=0,
            alignment="precise",
            alignment_options=options | {"refit": refit},
        )
        for refit in (True, False)
    }
    cfg = read_config(config)
    loaded = load_inputs(cfg)
    patients = score(loaded.patient_expression, loaded.gene_sets, method=cfg.scorer, min_size=cfg.min_size,
                     max_size=cfg.max_size, **cfg.options("scorer"))  # fmt: skip
    for drug, bundle in runs[True].bundles.items():
        meta, features = bundle.metadata, bundle.feature_names
        organoids = pd.DataFrame({f: meta["organoid_scores"][f] for f in features})
        step = next(s for s in bundle.manifest["steps"] if s["kind"] == "scale")
        regressor = make_response_pipeline(cfg.model, top_k=cfg.top_k, random_state=cfg.seed)[-1]
        expected = precise_refit_predict(
            regressor, patients.loc[:, features], organoids, meta["organoid_response"],
            mean=bundle.arrays[step["mean"]], scale=bundle.arrays[step["scale"]], **options,
        )  # fmt: skip
        table = {
            r: run.patient_predictions.set_index(["drug", "patient"]).loc[drug] for r, run in runs.items()
        }
        got = table[True]["predicted_response"].loc[patients.index].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        assert not np.allclose(table[False]["predicted_response"].loc[patients.index].to_numpy(), got)
        manifest = json.loads(json.dumps(bundle.manifest))
        del manifest["metadata"]["organoid_response"]
        with pytest.raises(InputError, match="holds no organoid responses"):
            predict_cohort(
                ModelBundle(manifest, bundle.arrays), patients, alignment="precise", options=options
            )


def test_a_cohort_dependent_scorer_is_refitted_without_each_held_out_organoid(cohort_dir, tmp_path):
    """The organoid CV of a run with mean_z equals a plain loop: score the other organoids alone, fit the run's
    model on them, predict the held-out organoid from its row of the whole table."""
    from organoidrx.models import make_response_model
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs
    from organoidrx.scoring import score

    config, _ = cohort_dir
    result = run_pipeline(config, tmp_path / "run", write=False, scorer="mean_z", n_permutations=0)
    cfg = read_config(config)
    loaded = load_inputs(cfg)
    scores = score(loaded.organoid_expression, loaded.gene_sets, method="mean_z", min_size=cfg.min_size,
                   max_size=cfg.max_size)  # fmt: skip
    drug = "DRUG_A"
    features = list(result.biomarkers.loc[result.biomarkers["drug"] == drug, "pathway"])
    held = result.cv_predictions[result.cv_predictions["drug"] == drug].set_index("sample")
    for sample in held.index:
        others = score(loaded.organoid_expression.drop(index=sample), loaded.gene_sets, method="mean_z",
                       min_size=cfg.min_size, max_size=cfg.max_size)  # fmt: skip
        train = held.index.drop(sample)
        model = make_response_model(
            cfg.model, cfg.top_k, random_state=cfg.seed, model_options=cfg.model_options
        )
        model.fit(others.loc[train, features], held.loc[train, "observed"].to_numpy())
        expected = model.predict(scores.loc[[sample], features])[0]
        assert held.loc[sample, "predicted"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
