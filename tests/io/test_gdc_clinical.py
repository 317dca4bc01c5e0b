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

# The flat layout (portal until 2024): one row per case and treatment; columns in the portal's order, with
# the unused ones in between kept so that the reader must find its columns by name.
FLAT = [
    "case_id", "case_submitter_id", "project_id", "age_at_index", "days_to_birth", "days_to_death", "gender",
    "race", "vital_status", "year_of_birth", "ajcc_pathologic_stage", "days_to_last_follow_up",
    "primary_diagnosis", "therapeutic_agents", "treatment_or_therapy", "treatment_outcome", "treatment_type",
]  # fmt: skip
# The layout of portal 2.0: columns prefixed by their entity.
PREFIXED = [
    "project.project_id", "cases.case_id", "cases.submitter_id", "demographic.days_to_death",
    "demographic.vital_status", "demographic.age_at_index", "diagnoses.days_to_last_follow_up",
    "diagnoses.ajcc_pathologic_stage", "follow_ups.days_to_follow_up", "treatments.therapeutic_agents",
    "treatments.treatment_or_therapy", "treatments.treatment_outcome", "treatments.treatment_type",
]  # fmt: skip
# case, vital, death, follow-up, agent, given, outcome, age, stage
RECORDS = [
    ("TCGA-AA-0001", "Dead", "500", "'--", "Fluorouracil", "yes", "Complete Response", "61", "Stage II"),
    ("TCGA-AA-0001", "Dead", "500", "'--", "'--", "yes", "'--", "61", "Stage II"),  # radiation, no agent
    ("TCGA-AA-0002", "Alive", "'--", "300", "Oxaliplatin", "yes", "Progressive Disease", "70", "Stage III"),
    ("TCGA-AA-0002", "Alive", "'--", "800", "Oxaliplatin", "yes", "Partial Response", "70", "Stage III"),
    ("TCGA-AA-0003", "Not Reported", "'--", "400", "Fluorouracil", "yes", "'--", "55", "'--"),
    ("TCGA-AA-0004", "Alive", "'--", "1200", "'--", "no", "'--", "48", "Stage I"),
    ("TCGA-AA-0005", "Dead", "'--", "90", "Irinotecan", "yes", "'--", "80", "Stage IV"),  # no days_to_death
]


def flat_text(records=RECORDS) -> str:
    lines = ["\t".join(FLAT)]
    for case, vital, death, follow, agent, given, outcome, age, stage in records:
        row = dict.fromkeys(FLAT, "'--")
        row.update(case_id=f"uuid-{case}", case_submitter_id=case, project_id="TCGA-COAD", vital_status=vital,
                   days_to_death=death, days_to_last_follow_up=follow, therapeutic_agents=agent,
                   treatment_or_therapy=given, treatment_outcome=outcome, age_at_index=age,
                   ajcc_pathologic_stage=stage, treatment_type="Pharmaceutical Therapy, NOS")  # fmt: skip
        lines.append("\t".join(row[c] for c in FLAT))
    return "\n".join(lines) + "\n"


def prefixed_text(records=RECORDS, follow_ups=None) -> str:
    lines = ["\t".join(PREFIXED)]
    for i, (case, vital, death, follow, agent, given, outcome, age, stage) in enumerate(records):
        row = dict.fromkeys(PREFIXED, "'--")
        row.update({
            "project.project_id": "TCGA-COAD", "cases.case_id": f"uuid-{case}", "cases.submitter_id": case,
            "demographic.days_to_death": death, "demographic.vital_status": vital,
            "demographic.age_at_index": age, "diagnoses.days_to_last_follow_up": follow,
            "diagnoses.ajcc_pathologic_stage": stage, "treatments.therapeutic_agents": agent,
            "treatments.treatment_or_therapy": given, "treatments.treatment_outcome": outcome,
            "follow_ups.days_to_follow_up": (follow_ups or {}).get(i, "'--"),
        })  # fmt: skip
        lines.append("\t".join(row[c] for c in PREFIXED))
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


@pytest.mark.parametrize("layout", [flat_text, prefixed_text])
def test_both_layouts_give_survival_agents_and_best_outcome(tmp_path, caplog, layout):
    path = tmp_path / "clinical.tsv"
    path.write_text(layout())
    with caplog.at_level(logging.WARNING):
        out = read_gdc_clinical(path, covariates=["age_at_index"] if layout is flat_text else [])
    # dead: days_to_death; alive: the largest follow-up of any row; 'Not Reported' and a death without days
    # are left out and counted; a treatment record with no agent or 'treatment_or_therapy = no' is no drug
    pd.testing.assert_frame_equal(out[EXPECTED.columns], EXPECTED)
    assert "dropped 2 of 5 patients without survival" in caplog.text and "TCGA-AA-0003" in caplog.text
    if layout is flat_text:
        assert out["age_at_index"].tolist() == [61.0, 70.0, 48.0]


def test_follow_up_records_extend_the_follow_up(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text(prefixed_text(follow_ups={5: "1500"}))
    out = read_gdc_clinical(path)
    assert out.set_index("patient").loc["TCGA-AA-0004", "time"] == 1500.0


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([RECORDS[0], ("TCGA-AA-0001", "Alive", "'--", "100", "'--", "no", "'--", "61", "'--")], "both dead and alive"),
        ([("TCGA-AA-0009", "Alive", "'--", "-5", "'--", "no", "'--", "40", "'--")], "negative time"),
        ([("TCGA-AA-0009", "Alive", "'--", "ten", "'--", "no", "'--", "40", "'--")], "numbers of days"),
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
    assert "Fluorouracil 1, Oxaliplatin 1" in str(report) and "dropped 2 of 5 patients" in str(report)


def _as_gdc(clinical: pd.DataFrame) -> str:
    """A plain clinical table written in the portal's flat layout (one row per patient; stage as text)."""
    records = []
    for row in clinical.itertuples():
        dead = row.event == 1
        records.append((row.patient, "Dead" if dead else "Alive", str(row.time) if dead else "'--",
                        "'--" if dead else str(row.time), row.drug if isinstance(row.drug, str) else "'--",
                        "yes" if isinstance(row.drug, str) else "no", str(row.response) if isinstance(row.response, str) else "'--",
                        str(row.age), str(row.stage)))  # fmt: skip
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


def test_named_columns_keep_the_generic_reader(tmp_path):
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
    named = config.read_text().replace('time_unit = "months"', 'duration_col = "demographic.days_to_death"')
    config.write_text(named)
    with pytest.raises(InputError, match="event"):  # the generic reader: no 'event' column
        _read_clinical(read_config(config))
