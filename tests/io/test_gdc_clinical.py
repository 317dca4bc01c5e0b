"""The GDC portal's clinical.tsv, in both layouts the portal has written, read as survival and treatments."""

from __future__ import annotations

import logging
import shutil

import pandas as pd
import pytest

from organoidrx import cli
from organoidrx._utils import InputError
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.io import inspect_file, read_gdc_clinical

from ..pipeline.test_run import _set

# The flat layout (portal until 2024): one row per case, diagnosis and treatment; columns in the portal's
# order, with unused ones in between so that the reader must find its columns by name.
FLAT = [
    "case_id", "case_submitter_id", "project_id", "age_at_index", "days_to_birth", "days_to_death", "gender",
    "race", "vital_status", "year_of_birth", "ajcc_pathologic_stage", "classification_of_tumor",
    "days_to_last_follow_up", "primary_diagnosis", "therapeutic_agents", "treatment_or_therapy",
    "treatment_outcome", "treatment_type",
]  # fmt: skip
# The layout of portal 2.0: columns prefixed by their entity (follow-ups come in a separate follow_up.tsv).
PREFIXED = [
    "project.project_id", "cases.case_id", "cases.submitter_id", "demographic.days_to_death",
    "demographic.vital_status", "demographic.age_at_index", "diagnoses.ajcc_pathologic_stage",
    "diagnoses.classification_of_tumor", "diagnoses.days_to_last_follow_up", "treatments.therapeutic_agents",
    "treatments.treatment_or_therapy", "treatments.treatment_outcome", "treatments.treatment_type",
]  # fmt: skip
# The 2019 portal (and TCGAbiolinks): a bare submitter_id, '--' without the apostrophe, lower-case vital status.
OLD_FLAT = [
    "case_id", "submitter_id", "project_id", "gender", "classification_of_tumor", "vital_status",
    "days_to_death", "days_to_last_follow_up", "therapeutic_agents", "treatment_or_therapy", "treatment_outcome",
]  # fmt: skip
# case, vital, death, follow-up, agent, given, outcome, age, stage, tumour
RECORDS = [
    ("TCGA-AA-0001", "Dead", "500", "'--", "Fluorouracil", "yes", "Complete Response", "61", "Stage II", "primary"),
    ("TCGA-AA-0001", "Dead", "500", "'--", "'--", "yes", "'--", "61", "Stage II", "primary"),  # radiation
    ("TCGA-AA-0002", "Alive", "'--", "300", "Oxaliplatin", "yes", "Progressive Disease", "70", "Stage III", "primary"),
    ("TCGA-AA-0002", "Alive", "'--", "800", "Oxaliplatin", "yes", "Partial Response", "70", "Stage III", "primary"),
    ("TCGA-AA-0002", "Alive", "'--", "800", "Tamoxifen", "yes", "'--", "70", "Stage III", "Prior primary"),
    ("TCGA-AA-0003", "Not Reported", "'--", "400", "Fluorouracil", "yes", "'--", "55", "'--", "primary"),
    ("TCGA-AA-0004", "Alive", "'--", "1200", "'--", "no", "'--", "48", "Stage I", "primary"),
    ("TCGA-AA-0004", "Alive", "'--", "1200", "Unknown", "not reported", "Unknown", "48", "Stage I", "primary"),
    ("TCGA-AA-0005", "Dead", "'--", "90", "Irinotecan", "yes", "'--", "80", "Stage IV", "primary"),  # no death day
    ("TCGA-AA-0006", "Alive", "'--", "-7", "'--", "no", "'--", "50", "Stage I", "primary"),  # as TCGA-PL-A8LV
]  # fmt: skip


def flat_text(records=RECORDS) -> str:
    lines = ["\t".join(FLAT)]
    for case, vital, death, follow, agent, given, outcome, age, stage, tumour in records:
        row = dict.fromkeys(FLAT, "'--")
        row.update(case_id=f"uuid-{case}", case_submitter_id=case, project_id="TCGA-COAD", vital_status=vital,
                   days_to_death=death, days_to_last_follow_up=follow, therapeutic_agents=agent,
                   treatment_or_therapy=given, treatment_outcome=outcome, age_at_index=age,
                   ajcc_pathologic_stage=stage, classification_of_tumor=tumour,
                   treatment_type="Pharmaceutical Therapy, NOS")  # fmt: skip
        lines.append("\t".join(row[c] for c in FLAT))
    return "\n".join(lines) + "\n"


def prefixed_text(records=RECORDS) -> str:
    lines = ["\t".join(PREFIXED)]
    for case, vital, death, follow, agent, given, outcome, age, stage, tumour in records:
        row = dict.fromkeys(PREFIXED, "'--")
        row.update({
            "project.project_id": "TCGA-COAD", "cases.case_id": f"uuid-{case}", "cases.submitter_id": case,
            "demographic.days_to_death": death, "demographic.vital_status": vital,
            "demographic.age_at_index": age, "diagnoses.days_to_last_follow_up": follow,
            "diagnoses.ajcc_pathologic_stage": stage, "diagnoses.classification_of_tumor": tumour,
            "treatments.therapeutic_agents": agent, "treatments.treatment_or_therapy": given,
            "treatments.treatment_outcome": outcome,
        })  # fmt: skip
        lines.append("\t".join(row[c] for c in PREFIXED))
    return "\n".join(lines) + "\n"


def old_flat_text(records=RECORDS) -> str:
    lines = ["\t".join(OLD_FLAT)]
    for case, vital, death, follow, agent, given, outcome, _, _, tumour in records:
        cells = [f"uuid-{case}", case, "TCGA-COAD", "female", tumour, vital.lower(), death, follow, agent, given,
                 outcome]  # fmt: skip
        lines.append("\t".join(c.replace("'--", "--") for c in cells))
    return "\n".join(lines) + "\n"


EXPECTED = pd.DataFrame(
    {
        "patient": ["TCGA-AA-0001", "TCGA-AA-0002", "TCGA-AA-0004"],
        "time": [500.0, 800.0, 1200.0],
        "event": [1, 0, 0],
        "drug": ["Fluorouracil", "Oxaliplatin", float("nan")],
        "response": ["CR", "PR", float("nan")],
    }
)


@pytest.mark.parametrize("layout", [flat_text, prefixed_text, old_flat_text])
def test_every_layout_gives_survival_agents_and_best_outcome(tmp_path, caplog, layout):
    path = tmp_path / "clinical.tsv"
    path.write_text(layout())
    with caplog.at_level(logging.INFO):
        out = read_gdc_clinical(path, covariates=["age_at_index"] if layout is flat_text else [])
    # dead: days_to_death; alive: the largest follow-up of any row. Left out and counted: 'Not Reported', a
    # death without its day, a negative follow-up. No drug: no agent, 'Unknown', given 'no', a prior cancer's.
    pd.testing.assert_frame_equal(out[EXPECTED.columns], EXPECTED)
    assert "dropped 2 of 6 patients without survival" in caplog.text and "TCGA-AA-0003" in caplog.text
    assert (
        "1 patients have a negative follow-up time and are left out (e.g. 'TCGA-AA-0006': -7 days)"
        in caplog.text
    )
    assert "1 treatment records of a prior cancer" in caplog.text
    if layout is flat_text:
        assert out["age_at_index"].tolist() == [61.0, 70.0, 48.0]


def test_follow_up_records_extend_the_follow_up(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text(prefixed_text())
    follow_up = tmp_path / "follow_up.tsv"
    follow_up.write_text(
        "project.project_id\tcases.submitter_id\tfollow_ups.days_to_follow_up\tfollow_ups.timepoint_category\n"
        "TCGA-COAD\tTCGA-AA-0004\t1500\tLast Contact\n"
        "TCGA-COAD\tTCGA-AA-0004\t'--\tFollow-up\n"
        "TCGA-COAD\tTCGA-AA-0002\t300\tFollow-up\n"  # earlier than the clinical table's 800
        "TCGA-COAD\tTCGA-AA-0001\t900\tLast Contact\n"  # dead at 500: the death day stands
    )
    out = read_gdc_clinical(path, follow_up=follow_up).drop_duplicates("patient").set_index("patient")
    assert out["time"].to_dict() == {"TCGA-AA-0001": 500.0, "TCGA-AA-0002": 800.0, "TCGA-AA-0004": 1500.0}


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([RECORDS[0], ("TCGA-AA-0001", "Alive", "'--", "100", "'--", "no", "'--", "61", "'--", "primary")],
         "both dead and alive"),
        ([("TCGA-AA-0009", "Alive", "'--", "ten", "'--", "no", "'--", "40", "'--", "primary")], "must hold numbers"),
    ],
)  # fmt: skip
def test_contradictions_are_errors_naming_the_file(tmp_path, records, message):
    path = tmp_path / "clinical.tsv"
    path.write_text(flat_text(records))
    with pytest.raises(InputError, match=message) as info:
        read_gdc_clinical(path)
    assert "clinical.tsv" in str(info.value)


def test_a_table_without_vital_status_names_what_is_missing(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text("case_submitter_id\tdays_to_death\nTCGA-AA-0001\t5\n")
    with pytest.raises(InputError, match=r"\['vital_status'\].*Download 'Clinical'"):
        read_gdc_clinical(path)


def test_inspect_names_the_reader(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text(prefixed_text())
    report = inspect_file(path)
    assert report.reader == "read_gdc_clinical"
    assert "Fluorouracil 1, Oxaliplatin 1" in str(report) and "dropped 2 of 6 patients" in str(report)
    assert report.details["events"] == "1 of 3 patients with usable survival"


def _as_gdc(clinical: pd.DataFrame) -> str:
    """A plain clinical table written in the portal's flat layout (one row per patient; stage as text)."""
    records = []
    for row in clinical.itertuples():
        dead = row.event == 1
        records.append((row.patient, "Dead" if dead else "Alive", str(row.time) if dead else "'--",
                        "'--" if dead else str(row.time), row.drug if isinstance(row.drug, str) else "'--",
                        "yes" if isinstance(row.drug, str) else "no", str(row.response) if isinstance(row.response, str) else "'--",
                        str(row.age), str(row.stage), "primary"))  # fmt: skip
    return flat_text(records).replace("CR\t", "Complete Response\t").replace("PR\t", "Partial Response\t")


def test_a_run_reads_a_gdc_clinical_tsv_as_its_plain_table(tmp_path):
    cohort = make_synthetic_cohort(n_genes=400, n_pathways=30, n_organoids=14, n_patients_treated=60,
                                   n_patients_untreated=20, random_state=1)  # fmt: skip
    plain = cohort.write(tmp_path / "plain")
    _set(plain["config"], n_random=100, n_permutations=5, n_random_sets=5)
    gdc_dir = tmp_path / "gdc"
    shutil.copytree(tmp_path / "plain", gdc_dir)
    clinical = pd.read_csv(plain["clinical"], sep="\t")
    (gdc_dir / "clinical.tsv").write_text(_as_gdc(clinical))
    config = gdc_dir / "config.toml"
    text = config.read_text().replace('response_col = "response"\n', "")
    config.write_text(text.replace('covariates = ["age", "stage"]', 'covariates = ["age_at_index"]'))
    plain_text = plain["config"].read_text().replace('covariates = ["age", "stage"]', 'covariates = ["age"]')
    plain["config"].write_text(plain_text)
    outs = {}
    for name, cfg in (("plain", plain["config"]), ("gdc", config)):
        outs[name] = tmp_path / f"out_{name}"
        assert cli.main(["--quiet", "run", str(cfg), "--out", str(outs[name]), "--no-report"]) == 0
    for table in ("patient_predictions.tsv", "survival.tsv"):
        # the same table but for the covariate's name
        plain_table = (outs["plain"] / table).read_text()
        assert plain_table == (outs["gdc"] / table).read_text().replace("age_at_index", "age")


def test_named_columns_keep_the_generic_reader(tmp_path, caplog):
    from organoidrx.pipeline._config import read_config
    from organoidrx.pipeline._patient_inputs import _read_clinical

    folder = tmp_path
    make_synthetic_cohort(n_genes=200, n_pathways=20, n_organoids=10, n_patients_treated=20,
                          n_patients_untreated=5, random_state=2).write(folder)  # fmt: skip
    (folder / "gdc.tsv").write_text(prefixed_text())
    config = folder / "config.toml"
    text = config.read_text().replace('clinical = "clinical.tsv"', 'clinical = "gdc.tsv"')
    config.write_text(text.replace('covariates = ["age", "stage"]', "covariates = []"))
    assert len(_read_clinical(read_config(config))) == 3
    config.write_text(config.read_text().replace('time_unit = "days"', 'time_unit = "months"'))
    with pytest.raises(InputError, match="time in days"):
        _read_clinical(read_config(config))
    config.write_text(config.read_text().replace('time_unit = "months"', 'time_unit = "days"'))
    (folder / "follow_up.tsv").write_text(
        "cases.submitter_id\tfollow_ups.days_to_follow_up\nTCGA-AA-0004\t2000\n"
    )
    with caplog.at_level("WARNING"):
        assert len(_read_clinical(read_config(config))) == 3
    assert (
        'follow_up.tsv lies beside it but is not read; set [patients] follow_up = "follow_up.tsv"'
        in caplog.text
    )
    config.write_text(
        config.read_text().replace('time_unit = "days"', 'time_unit = "days"\nfollow_up = "follow_up.tsv"')
    )
    table = _read_clinical(read_config(config))
    assert table.set_index("patient").loc["TCGA-AA-0004", "time"] == 2000.0
    named = config.read_text().replace(
        'follow_up = "follow_up.tsv"', 'duration_col = "demographic.days_to_death"'
    )
    config.write_text(named)
    with pytest.raises(InputError, match="event"):  # the generic reader: no 'event' column
        _read_clinical(read_config(config))
    # a plain table that also carries GDC columns is read as the plain table it is
    plain = pd.read_csv(folder / "clinical.tsv", sep="\t").assign(case_submitter_id="x", vital_status="Alive")
    plain.to_csv(folder / "gdc.tsv", sep="\t", index=False)
    config.write_text(config.read_text().replace('duration_col = "demographic.days_to_death"', ""))
    table = _read_clinical(read_config(config))
    assert table["patient"].tolist() == plain["patient"].tolist()  # not 'x': the generic reader's patients
    assert table["time"].tolist() == plain["time"].astype(float).tolist()
    with_follow_up = config.read_text().replace(
        'time_unit = "days"', 'time_unit = "days"\nfollow_up = "follow_up.tsv"'
    )
    config.write_text(with_follow_up)
    with pytest.raises(InputError, match=r"\[patients\] follow_up is for a GDC portal clinical.tsv"):
        _read_clinical(read_config(config))
