"""Clinical readers: generic survival tables, TCGA biotab, treated cohorts, TCGA-CDR and curated responses."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.io import (
    normalize_response,
    read_clinical,
    read_tcga_biotab_drug,
    read_tcga_biotab_patient,
    read_tcga_cdr,
    read_tcga_drug_response,
    tcga_treated_cohort,
)

from ..conftest import shared_file

# --------------------------------------------------------------------------------------------------- fixtures
BIOTAB_PATIENT = (
    "bcr_patient_uuid\tbcr_patient_barcode\tgender\tage_at_initial_pathologic_diagnosis\tvital_status\t"
    "last_contact_days_to\tdeath_days_to\tajcc_pathologic_tumor_stage\n"
    "bcr_patient_uuid\tbcr_patient_barcode\tgender\tage_at_initial_pathologic_diagnosis\tvital_status\t"
    "days_to_last_followup\tdays_to_death\tpathologic_stage\n"
    "CDE_ID:\tCDE_ID:2003301\tCDE_ID:2200604\tCDE_ID:2006657\tCDE_ID:5\tCDE_ID:3008273\tCDE_ID:3165475\tCDE_ID:3203222\n"
    "u1\tTCGA-AA-0001\tMALE\t61\tAlive\t154\t[Not Applicable]\tStage I\n"
    "u2\tTCGA-AA-0002\tFEMALE\t70\tDead\t[Not Available]\t300\tStage IIIB\n"
    "u3\tTCGA-AA-0003\tMALE\t[Not Available]\tDead\t100\t[Not Available]\t[Discrepancy]\n"
    "u4\tTCGA-AA-0004\tFEMALE\t55\t[Discrepancy]\t20\t[Not Applicable]\tStage II\n"
    "u5\tTCGA-AA-0005\tMALE\t48\tAlive\t2000\t[Not Applicable]\t[Not Available]\n"
)
BIOTAB_DRUG = (
    "bcr_patient_uuid\tbcr_patient_barcode\tpharmaceutical_therapy_drug_name\tpharmaceutical_therapy_type\t"
    "pharmaceutical_tx_started_days_to\tpharmaceutical_tx_ended_days_to\ttreatment_best_response\n"
    "bcr_patient_uuid\tbcr_patient_barcode\tdrug_name\ttherapy_type\tdays_to_drug_therapy_start\t"
    "days_to_drug_therapy_end\tmeasure_of_response\n"
    "CDE_ID:\tCDE_ID:2003301\tCDE_ID:2975232\tCDE_ID:2793530\tCDE_ID:3392465\tCDE_ID:3392470\tCDE_ID:2857291\n"
    "u1\tTCGA-AA-0001\t5-FU\tChemotherapy\t30\t120\tClinical Progressive Disease\n"
    "u1\tTCGA-AA-0001\tLeucovorin\tChemotherapy\t30\t120\tPartial Response\n"
    "u1\tTCGA-AA-0001\tFluorouracil\tChemotherapy\t200\t[Not Available]\tStable Disease\n"
    "u2\tTCGA-AA-0002\tFOLFOX\tChemotherapy\t10\t90\t[Not Available]\n"
    "u3\tTCGA-AA-0003\tOxaliplatinum+ 5 FU\tChemotherapy\t15\t60\tComplete Response\n"
    "u4\tTCGA-AA-0004\t5-Fluorouracil\tChemotherapy\t5\t50\t[Unknown]\n"
    "u5\tTCGA-AA-0005\tXeloda\tChemotherapy\t40\t[Not Available]\tComplete Response\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------------- read_clinical
def test_read_clinical_hand_case_with_words_and_units(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "clinical.tsv",
        "id\tmonths\tstatus\tregimen\tbest\n"
        "P1\t12\tDead\tFOLFOX\tComplete Response\n"
        "P2\t6\talive\tFOLFOX\tPD\n"
        "P3\t0\tDECEASED\tXELOX\t[Not Available]\n"
        "P4\t24\tLiving\tXELOX\tStable disease\n",
    )
    table = read_clinical(
        path,
        patient_col="id",
        duration_col="months",
        event_col="status",
        drug_col="regimen",
        response_col="best",
        time_unit="months",
    )
    assert list(table.columns) == ["patient", "time", "event", "drug", "response"]
    assert table["patient"].tolist() == ["P1", "P2", "P3", "P4"]
    np.testing.assert_allclose(table["time"], [365.25, 182.625, 0.0, 730.5])
    assert table["event"].tolist() == [1, 0, 1, 0]
    assert table["drug"].tolist() == ["FOLFOX", "FOLFOX", "XELOX", "XELOX"]
    assert table["response"].tolist()[:2] == ["CR", "PD"] and pd.isna(table["response"][2])


@pytest.mark.parametrize(
    "values",
    [["1", "0", "1"], ["true", "False", "TRUE"], ["1.0", "0.0", "1"], ["1:DECEASED", "0:LIVING", "1"]],
)
def test_read_clinical_event_encodings(tmp_path: Path, values: list[str]) -> None:
    lines = "".join(f"P{i},{10 * (i + 1)},{v}\n" for i, v in enumerate(values))
    table = read_clinical(_write(tmp_path, "c.csv", "patient,time,event\n" + lines))
    assert table["event"].tolist() == [1, 0, 1]


def test_read_clinical_event_value_2_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "clinical.tsv", "patient\ttime\tevent\nA\t1\t2\nB\t2\t3\nC\t3\t1\n")
    with pytest.raises(
        InputError, match=r"^clinical\.tsv: column 'event' must be 0/1 or boolean; found values \{2, 3\}\."
    ):
        read_clinical(path)


def test_read_clinical_negative_time_names_the_patient(tmp_path: Path) -> None:
    path = _write(tmp_path, "clinical.tsv", "patient\ttime\tevent\nA\t10\t1\nB\t-5\t0\n")
    with pytest.raises(InputError, match=r"clinical\.tsv: patient 'B' has a negative time \(-5 days\)"):
        read_clinical(path)


def test_read_clinical_missing_duration_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "clinical.tsv", "patient\tdays\tevent\nA\t10\t1\n")
    with pytest.raises(
        InputError,
        match=r"clinical\.tsv: no duration column 'time'.*\[patients\] duration_col in a run config \(duration_col= in Python\)",
    ):
        read_clinical(path)


def test_read_clinical_non_numeric_time(tmp_path: Path) -> None:
    path = _write(tmp_path, "clinical.tsv", "patient\ttime\tevent\nA\tten\t1\n")
    with pytest.raises(InputError, match=r"clinical\.tsv: column 'time' must hold numbers; found 'ten'"):
        read_clinical(path)


def test_read_clinical_drops_missing_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "clinical.tsv", "patient\ttime\tevent\nA\t10\t1\nB\t\t0\nC\t5\tNA\nD\t7\t0\n")
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        table = read_clinical(path)
    assert table["patient"].tolist() == ["A", "D"]
    assert "dropped 2 of 4 patients" in caplog.text and "'B', 'C'" in caplog.text


def test_read_clinical_duplicated_patients(tmp_path: Path) -> None:
    text = "patient\ttime\tevent\tdrug\nA\t10\t1\tx\nA\t10\t1\ty\n"
    path = _write(tmp_path, "clinical.tsv", text)
    with pytest.raises(
        InputError, match=r"clinical\.tsv: 1 patients appear more than once per patient \(first: 'A'\)"
    ):
        read_clinical(path)
    assert len(read_clinical(path, drug_col="drug")) == 2


def test_read_clinical_numbers_rows_only_when_asked(tmp_path: Path) -> None:
    table = read_clinical(_write(tmp_path, "c.csv", "time,event\n5,1\n6,0\n"), patient_col=None)
    assert table["patient"].tolist() == ["1", "2"]
    # numbered rows match no expression file: a file without the patient column is an error, as for any column
    with pytest.raises(
        InputError, match=r"c\.csv: no patient id column 'patient'; the columns are 'time', 'event'"
    ):
        read_clinical(tmp_path / "c.csv")
    with pytest.raises(InputError, match=r"c\.csv: no patient id column 'id'"):
        read_clinical(tmp_path / "c.csv", patient_col="id")


def test_read_clinical_refuses_what_pandas_would_read_quietly(tmp_path: Path) -> None:
    path = _write(tmp_path, "c.tsv", "patient\ttime\tevent\nP1\t5\t1\nP2\t6\t0\n")
    with pytest.raises(
        InputError, match=r"c\.tsv: column 'event' is named for two roles \(duration_col and event_col\)"
    ):
        read_clinical(path, duration_col="event")
    with pytest.raises(
        InputError, match=r"column 'time' is named for two roles \(duration_col and covariates\)"
    ):
        read_clinical(path, covariates=["time"])
    short = _write(tmp_path, "s.tsv", "patient\ttime\tevent\tage\nP1\t5\t1\t60\nP2\t6\nP3\t7\t0\t70\n")
    with pytest.raises(InputError, match=r"s\.tsv: line 3 has 2 fields but the header has 4"):
        read_clinical(short)
    twice = _write(tmp_path, "d.tsv", "patient\ttime\tevent\ttime\nP1\t5\t1\t50\n")
    with pytest.raises(InputError, match=r"d\.tsv: the duration column 'time' appears more than once"):
        read_clinical(twice)
    unused = _write(tmp_path, "u.tsv", "patient\ttime\tevent\tnote\tnote\nP1\t5\t1\ta\tb\n")
    assert read_clinical(unused)["time"].tolist() == [5.0]  # a repeated column no role reads is left alone
    huge = _write(tmp_path, "h.tsv", "patient\ttime\tevent\nP1\t1e400\t1\n")
    with pytest.raises(
        InputError, match=r"h\.tsv: column 'time' holds a value too large for a float \('1e400'\)"
    ):
        read_clinical(huge)


def test_read_clinical_does_not_depend_on_row_order(tmp_path: Path) -> None:
    rows = ["A\t10\t1", "B\t3\t0", "C\t8\t1", "D\t1\t0"]
    first = read_clinical(_write(tmp_path, "a.tsv", "patient\ttime\tevent\n" + "\n".join(rows)))
    second = read_clinical(_write(tmp_path, "b.tsv", "patient\ttime\tevent\n" + "\n".join(rows[::-1])))
    pd.testing.assert_frame_equal(first, second.sort_values("patient").reset_index(drop=True))


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("empty.tsv", b"", r"empty\.tsv: the file is empty"),
        ("garbage.tsv", bytes(range(256)) * 4, r"garbage\.tsv: the file looks binary"),
        (
            "truncated.tsv.gz",
            gzip.compress(b"patient\ttime\tevent\n" + b"A\t1\t1\n" * 500, mtime=0)[:40],
            r"truncated\.tsv\.gz: ",
        ),
        ("header.tsv", b"patient\ttime\tevent\n", r"header\.tsv: the table has a header but no rows"),
    ],
)
def test_read_clinical_unreadable_files(tmp_path: Path, filename: str, content: bytes, message: str) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_clinical(path)


def test_normalize_response_maps_recist_labels() -> None:
    labels = ["Complete Response", "Complete Remission/Response", "partial response", "Stable Disease"]
    labels += ["Clinical Progressive Disease", "Radiographic Progressive Disease", "[Not Available]", "other"]
    mapped = normalize_response(labels)
    assert mapped.tolist()[:6] == ["CR", "CR", "PR", "SD", "PD", "PD"]
    assert mapped[6:].isna().all()


# --------------------------------------------------------------------------------------------------- biotab
def test_biotab_patient_table_skips_header_rows_and_placeholders(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        table = read_tcga_biotab_patient(_write(tmp_path, "patient.txt", BIOTAB_PATIENT))
    assert table["patient"].tolist() == [f"TCGA-AA-000{i}" for i in range(1, 6)]
    # dead -> death_days_to, alive -> last_contact_days_to; dead without death days and [Discrepancy] are unusable
    np.testing.assert_array_equal(table["time"], [154.0, 300.0, np.nan, np.nan, 2000.0])
    np.testing.assert_array_equal(table["event"], [0.0, 1.0, np.nan, np.nan, 0.0])
    assert table["stage"].isna().tolist() == [False, False, True, False, True]
    assert "2 of 5 patients have no usable survival" in caplog.text


def test_biotab_patient_written_by_r_with_rownames(tmp_path: Path) -> None:
    lines = BIOTAB_PATIENT.strip("\n").split("\n")
    csv = "\n".join(
        ",".join(f'"{v}"' for v in ["" if i == 0 else str(i), *line.split("\t")])
        for i, line in enumerate(lines)
    )
    from_r = read_tcga_biotab_patient(_write(tmp_path, "clinical_patient_table.csv", csv + "\n"))
    direct = read_tcga_biotab_patient(_write(tmp_path, "patient.txt", BIOTAB_PATIENT))
    pd.testing.assert_frame_equal(from_r, direct)


def test_biotab_without_tcga_barcodes_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "patients.txt", "bcr_patient_barcode\tvital_status\nP-1\tAlive\nP-2\tDead\n")
    with pytest.raises(
        InputError, match=r"patients\.txt: no row has a TCGA barcode in 'bcr_patient_barcode'"
    ):
        read_tcga_biotab_patient(path)
    other = _write(tmp_path, "other.txt", "sample\tvalue\nA\t1\n")
    with pytest.raises(
        InputError, match=r"other\.txt: not a TCGA clinical table: no 'bcr_patient_barcode' column"
    ):
        read_tcga_biotab_drug(other)


def test_biotab_drug_table_and_treated_cohort(tmp_path: Path) -> None:
    patients = read_tcga_biotab_patient(_write(tmp_path, "patient.txt", BIOTAB_PATIENT))
    drugs = read_tcga_biotab_drug(_write(tmp_path, "drug.txt", BIOTAB_DRUG))
    assert list(drugs.columns) == [
        "patient",
        "drug_name",
        "therapy_type",
        "start_days",
        "end_days",
        "response",
    ]
    assert len(drugs) == 7
    cohort = tcga_treated_cohort(patients, drugs, "5-FU")
    # 0001 (5-FU, Fluorouracil), 0002 (FOLFOX); 0003 (combination) and 0004 have no usable survival; 0005 Xeloda
    assert cohort["patient"].tolist() == ["TCGA-AA-0001", "TCGA-AA-0002"]
    assert cohort["drug"].unique().tolist() == ["FLUOROURACIL"]
    assert (
        cohort["response"].tolist()[0] == "SD"
    )  # best over the 5-FU records only (PD, SD), not leucovorin's PR
    assert pd.isna(cohort["response"][1])
    without_regimens = tcga_treated_cohort(patients, drugs, "Fluorouracil", include_regimens=False)
    assert without_regimens["patient"].tolist() == ["TCGA-AA-0001"]


def test_treated_cohort_unknown_drug_is_an_error(tmp_path: Path) -> None:
    patients = read_tcga_biotab_patient(_write(tmp_path, "patient.txt", BIOTAB_PATIENT))
    drugs = read_tcga_biotab_drug(_write(tmp_path, "drug.txt", BIOTAB_DRUG))
    with pytest.raises(InputError, match=r"drug 'Qwxzplatin' is not a known drug name"):
        tcga_treated_cohort(patients, drugs, "Qwxzplatin")
    with pytest.raises(InputError, match=r"no record in drug_table names CISPLATIN"):
        tcga_treated_cohort(patients, drugs, "CDDP")


# --------------------------------------------------------------------------------------------------- CDR, Ding
CDR = (
    "bcr_patient_barcode\ttype\tage_at_initial_pathologic_diagnosis\tajcc_pathologic_tumor_stage\tOS\tOS.time\tPFI\tPFI.time\n"
    "TCGA-AA-0001\tCOAD\t60.0\tStage I\t1.0\t400.0\t1.0\t100.0\n"
    "TCGA-AA-0002\tCOAD\t70.0\t[Not Available]\t0.0\t900.0\t\t\n"
    "TCGA-BB-0003\tBLCA\t65.0\tStage IV\t1.0\t50.0\t1.0\t20.0\n"
)


def test_read_tcga_cdr_endpoints_and_cancer_types(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "cdr.tsv", CDR)
    table = read_tcga_cdr(path, cancer_type="COAD")
    assert list(table.columns) == ["patient", "time", "event", "cancer_type", "age", "stage"]
    assert table["time"].tolist() == [400.0, 900.0] and table["event"].tolist() == [1, 0]
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        pfi = read_tcga_cdr(path, endpoint="PFI")
    assert pfi["patient"].tolist() == ["TCGA-AA-0001", "TCGA-BB-0003"]
    assert "dropped 1 of 3 patients without a usable PFI" in caplog.text
    with pytest.raises(
        InputError, match=r"cdr\.tsv: no patients of cancer type \['LUAD'\]; the file has \['BLCA', 'COAD'\]"
    ):
        read_tcga_cdr(path, cancer_type="LUAD")


def test_read_tcga_drug_response_latin1_crlf(tmp_path: Path) -> None:
    text = (
        "cancers\tpatient.arr\tdrug.name\tdrug.id\tresponse\r\n"
        "COAD\tTCGA-AA-0001\tFluorouracil\tDB00544\tStable Disease\r\n"
        "COAD\tTCGA-AA-0001\tFluorouracil\tDB00544\tComplete Response\r\n"
        "BLCA\tTCGA-BB-0002\tCisplatin\tDB00515\tClinical Progressive Disease\r\n"
        "BLCA\tTCGA-BB-0003\tGemcitabine\tDB00441\tPartial Response\r\n"
        "COAD\tTCGA-AA-0004\tBévacizumab\tDB00112\tPartial Response\r\n"
    )
    path = tmp_path / "response.txt"
    path.write_bytes(text.encode("latin1"))
    table = read_tcga_drug_response(path)
    assert list(table.columns) == ["patient", "drug", "response", "cancer", "drugbank_id"]
    assert table.to_dict("list")["response"] == ["CR", "PR", "PD", "PR"]
    assert table["drug"].tolist()[0] == "FLUOROURACIL"


# --------------------------------------------------------------------------------------------------- real data
@pytest.mark.shared_data
def test_colon_trial_loads(shared_data: Path) -> None:
    path = shared_file(shared_data, "survival_colon/colon_levamisole_5fu_trial_moertel.csv")
    table = read_clinical(path, patient_col=None, duration_col="Stime", event_col="event", drug_col="rx")
    assert len(table) == 929
    assert table["drug"].value_counts().to_dict() == {"Obs": 315, "Lev": 310, "Lev+5FU": 304}
    assert table["event"].isin([0, 1]).all() and (table["time"] >= 0).all()


@pytest.mark.shared_data
def test_tcga_coad_fluorouracil_cohort(shared_data: Path) -> None:
    """TCGA-COAD biotab (2019): patients with a fluorouracil record and usable survival.

    Any spelling of fluorouracil counts (5-FU, 5 FU, 5FU, 5- FU, 5-Fluorouracil, Fluorouracil, the misspelt
    5-Fluoruoracil, 'fluorouracilum' in combination cells); regimen names FOLFOX / FOLFIRI add 5 patients.
    Kong et al. counted 124 patients by string matching and kept 114 with expression.
    """
    folder = "kong2020/tcga_coad_clinical/"
    patients = read_tcga_biotab_patient(
        shared_file(shared_data, folder + "nationwidechildrens.org_clinical_patient_coad.txt")
    )
    drugs = read_tcga_biotab_drug(
        shared_file(shared_data, folder + "nationwidechildrens.org_clinical_drug_coad.txt")
    )
    assert len(patients) == 459 and drugs["patient"].nunique() == 154
    cohort = tcga_treated_cohort(patients, drugs, "5-FU")
    assert len(cohort) == 130 and int(cohort["event"].sum()) == 11
    strict = tcga_treated_cohort(patients, drugs, "5-FU", include_regimens=False)
    assert len(strict) == 125 and int(strict["event"].sum()) == 9
    assert set(strict["patient"]) <= set(cohort["patient"])
    assert cohort["response"].value_counts().to_dict() == {
        "CR": 37,
        "PD": 19,
        "PR": 8,
        "SD": 2,
    }  # CR 37: TCGA-DM-A0XF's Mayo 425-20 record


@pytest.mark.shared_data
def test_tcga_blca_cisplatin_cohort_from_howtobook_and_r_table(shared_data: Path) -> None:
    patients = read_tcga_biotab_patient(
        shared_file(shared_data, "tcga_clinical/cesnet_TCGA-BLCA_clinical_patient_table.csv")
    )
    drugs = read_tcga_biotab_drug(shared_file(shared_data, "tcga_clinical/howtobook_tcga.TCGA-BLCA.drug.txt"))
    assert len(patients) == 412
    cohort = tcga_treated_cohort(patients, drugs, "cisplatin")
    assert len(cohort) == 80 and int(cohort["event"].sum()) == 20  # MANIFEST: 80 with a cisplatin record


@pytest.mark.shared_data
def test_tcga_cdr_and_curated_responses(shared_data: Path) -> None:
    cdr = read_tcga_cdr(
        shared_file(shared_data, "tcga_clinical/tcga_cdr_liu2018_outcome_researchSAM.tsv.gz"),
        cancer_type="COAD",
    )
    assert len(cdr) == 458  # 459 COAD patients, one without OS
    response = read_tcga_drug_response(
        shared_file(shared_data, "tcga_clinical/ding2016_vaen_tcga_drug_response.txt")
    )
    counts = {
        (c, d): response[(response["cancer"] == c) & (response["drug"] == d)]["patient"].nunique()
        for c, d in [("COAD", "FLUOROURACIL"), ("READ", "FLUOROURACIL"), ("BLCA", "CISPLATIN")]
    }
    assert counts == {("COAD", "FLUOROURACIL"): 46, ("READ", "FLUOROURACIL"): 23, ("BLCA", "CISPLATIN"): 41}
    assert set(response["response"]) == {"CR", "PR", "SD", "PD"}


def test_covariates_stay_aligned_when_rows_with_missing_times_are_dropped(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text(
        "patient\ttime\tevent\tage\tstage\nP1\t10\t1\t60\tII\nP2\tNA\t0\t70\tIII\nP3\t30\t0\t[Not Available]\tI\n"
    )
    table = read_clinical(path, covariates=["age", "stage"])
    assert table["patient"].tolist() == ["P1", "P3"]
    assert table["age"].tolist()[0] == 60.0 and np.isnan(table["age"].tolist()[1])
    assert table["stage"].tolist() == ["II", "I"]
    with pytest.raises(InputError, match=r"clinical\.tsv: covariates \['grade'\] are not columns"):
        read_clinical(path, covariates=["grade"])
