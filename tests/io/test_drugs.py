"""read_drug_targets / read_drug_response / response_matrix / select_drugs: forms, replicates, scales, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organoidrx._utils import InputError
from organoidrx.io import read_drug_response, read_drug_targets, response_matrix, select_drugs

from ..conftest import shared_file


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------- targets
def test_wide_targets_give_every_drug_of_a_row_every_target(tmp_path):
    path = _write(
        tmp_path / "targets.tsv",
        "drugs\ttargets\nCETUXIMAB,GEFITINIB\tEGFR\nBMS-536924, LINSITINIB\tIGF1R\nFluorouracil \tTYMS, TYMS\n",
    )
    targets = read_drug_targets(path)
    assert targets.values.tolist() == [
        ["CETUXIMAB", "EGFR"],
        ["GEFITINIB", "EGFR"],
        ["BMS-536924", "IGF1R"],
        ["LINSITINIB", "IGF1R"],
        ["Fluorouracil", "TYMS"],
    ]


def test_long_targets_with_other_header_case_and_commas(tmp_path):
    path = _write(tmp_path / "t.csv", 'Drug,Target\nCISPLATIN,TF\nCISPLATIN,"MPG,A2M"\nCISPLATIN,TF\n')
    targets = read_drug_targets(path)
    assert targets.values.tolist() == [["CISPLATIN", "TF"], ["CISPLATIN", "MPG"], ["CISPLATIN", "A2M"]]


def test_long_targets_keep_commas_in_drug_names(tmp_path):
    # A singular 'drug' header marks a long table, where a comma belongs to the name (chemical names have them).
    path = _write(tmp_path / "t.tsv", "drug\ttarget\n2,4-DINITROPHENOL\tUCP1\n")
    assert read_drug_targets(path)["drug"].tolist() == ["2,4-DINITROPHENOL"]


@pytest.mark.shared_data
def test_kong_drug_targets(shared_data):
    targets = read_drug_targets(shared_file(shared_data, "kong2020/drug_targets.tsv"))
    # 43 rows, of which 5 name two drugs ('BMS-536924, LINSITINIB', 'CETUXIMAB,GEFITINIB', 'PACLITAXEL,DOCETAXEL',
    # 'TRAMETINIB,SELUMETINIB', 'VELIPARIB,TALAZOPARIB'): 48 distinct names.
    assert targets["drug"].nunique() == 48
    assert not targets.duplicated().any()
    by_drug = targets.groupby("drug")["target"].apply(set)
    assert by_drug["CETUXIMAB"] == by_drug["GEFITINIB"] == {"EGFR"}
    assert by_drug["FLUOROURACIL"] == {"TYMS"}
    assert by_drug["CISPLATIN"] == {"TF", "MPG", "A2M", "ATOX1"}
    assert "LINSITINIB" in by_drug.index and " LINSITINIB" not in by_drug.index


# --------------------------------------------------------------------------------------------------- responses
LONG = "Organoid\tDrug Name\tmedian_IC50\nP1\t5-FU\t1.5\nP1\t5-FU\t2.5\nP1\t5-FU\t4\nP2\t5-FU\t0.3\nP2\tSN-38\t2\n"


def test_long_response_with_replicates_reduced_by_median(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="organoidrx"):
        response = read_drug_response(_write(tmp_path / "r.tsv", LONG), replicates="median")
    assert response.values.tolist() == [["P1", "5-FU", 2.5], ["P2", "5-FU", 0.3], ["P2", "SN-38", 2.0]]
    assert response.attrs["metric"] == "IC50"
    assert response.attrs["lower_is_sensitive"] is True
    assert response.attrs["log_scale"] is None
    assert "1 sample-drug pairs have replicates (3 measurements, 1 with different values)" in caplog.text
    mean = read_drug_response(_write(tmp_path / "r.tsv", LONG), replicates="mean")
    assert mean.loc[0, "value"] == pytest.approx((1.5 + 2.5 + 4.0) / 3)


def test_the_metric_names_the_column_read_when_there_are_several(tmp_path):
    both = "sample\tdrug\tAUC\tIC50\nP1\t5-FU\t0.8\t2.5\nP2\t5-FU\t0.3\t4.0\n"
    path = _write(tmp_path / "r.tsv", both)
    auc = read_drug_response(path, metric="AUC", lower_is_sensitive=False)
    assert auc["value"].tolist() == [0.8, 0.3] and auc.attrs["metric"] == "AUC"
    assert read_drug_response(path)["value"].tolist() == [2.5, 4.0]  # IC50, the default metric


@pytest.mark.parametrize(
    ("header", "metric", "found"),
    [("median_IC50", "AUC", "IC50"), ("AUC", "IC50", "AUC"), ("ln_IC50", "EC50", "IC50")],
)
def test_a_value_column_of_another_metric_is_refused(tmp_path, header, metric, found):
    # read as the metric asked for, an IC50 would be taken in the AUC's direction (or the reverse)
    path = _write(tmp_path / "r.tsv", f"sample\tdrug\t{header}\nP1\t5-FU\t0.8\nP2\t5-FU\t0.3\n")
    with pytest.raises(
        InputError,
        match=rf"r\.tsv: the response metric is '{metric}' but the file has no such column; its value column "
        rf"'{header}' holds {found}s\. Set the metric to '{found}'",
    ):
        read_drug_response(path, metric=metric)
    assert read_drug_response(path, metric=found)["value"].tolist() == [0.8, 0.3]
    generic = _write(tmp_path / "g.tsv", "sample\tdrug\tvalue\nP1\t5-FU\t0.8\n")  # says no metric: read
    assert read_drug_response(generic, metric=metric).attrs["metric"] == metric


def test_conflicting_replicates_are_an_error_by_default(tmp_path):
    with pytest.raises(
        InputError,
        match=r"r\.tsv: 1 sample-drug pairs are measured more than once with different values \(first: 'P1', "
        r"'5-FU': 1\.5, 2\.5, 4\.0\); .*replicates='median'",
    ):
        read_drug_response(_write(tmp_path / "r.tsv", LONG))
    with pytest.raises(InputError, match=r"replicates must be one of error, median, mean; got 'max'"):
        read_drug_response(_write(tmp_path / "r.tsv", LONG), replicates="max")


def test_exact_repeats_are_collapsed(tmp_path):
    text = "Organoid\tDrug Name\tmedian_IC50\nP1\tX\t1.5\nP1\tX\t1.5\nP2\tX\t0.5\n"
    response = read_drug_response(_write(tmp_path / "r.tsv", text))
    assert response.values.tolist() == [["P1", "X", 1.5], ["P2", "X", 0.5]]


def test_named_columns_and_metric_attributes(tmp_path):
    path = _write(tmp_path / "r.csv", "who,what,viability_auc,extra\nA,X,0.4,1\nB,X,0.9,2\n")
    response = read_drug_response(
        path,
        sample_column="who",
        drug_column="what",
        value_column="viability_auc",
        metric="AUC",
        lower_is_sensitive=True,
        log_scale=False,
    )
    assert response.values.tolist() == [["A", "X", 0.4], ["B", "X", 0.9]]
    assert response.attrs["metric"] == "AUC" and response.attrs["log_scale"] is False


def test_gdsc_style_table(tmp_path):
    path = _write(
        tmp_path / "gdsc.csv",
        "COSMIC_ID,CELL_LINE_NAME,DRUG_ID,DRUG_NAME,LN_IC50,AUC\n"
        "906826,CAL-29,1073,5-Fluorouracil,2.1,0.9\n906826,CAL-29,1005,Cisplatin,-0.4,0.8\n",
    )
    response = read_drug_response(path)
    assert response.values.tolist() == [["CAL-29", "5-Fluorouracil", 2.1], ["CAL-29", "Cisplatin", -0.4]]
    assert response.attrs["log_scale"] is True


def test_negative_values_mean_log_scale_when_not_stated(tmp_path):
    path = _write(tmp_path / "r.tsv", "sample\tdrug\tln_IC50\nA\tX\t-1.2\nB\tX\t0.5\n")
    assert read_drug_response(path).attrs["log_scale"] is True


def test_a_lone_non_positive_value_among_many_is_a_warning(tmp_path, caplog):
    """One 0 among 40 linear IC50s switches the table to log scale: said as a warning naming it, not in passing."""
    rows = "".join(f"S{i}\tX\t{1.5 + i}\n" for i in range(39)) + "S39\tX\t0\n"
    path = _write(tmp_path / "r.tsv", "sample\tdrug\tIC50\n" + rows)
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        assert read_drug_response(path).attrs["log_scale"] is True
    assert "1 of 40 IC50 values are non-positive (first: 0 for sample 'S39')" in caplog.text
    assert "those are typos" in caplog.text


def test_wide_samples_by_drugs(tmp_path, caplog):
    path = _write(tmp_path / "w.tsv", "organoid\t5-FU\tSN-38\nP1\t1.5\t\nP2\t0.3\t2\n")
    with caplog.at_level(logging.INFO, logger="organoidrx"):
        response = read_drug_response(path)
    assert response.values.tolist() == [["P1", "5-FU", 1.5], ["P2", "5-FU", 0.3], ["P2", "SN-38", 2.0]]
    assert "1 empty cells" in caplog.text and "samples (rows) x drugs (columns)" in caplog.text


def test_wide_drugs_by_samples_is_transposed(tmp_path):
    wide = read_drug_response(_write(tmp_path / "w.tsv", "organoid\t5-FU\tSN-38\nP1\t1.5\t3\nP2\t0.3\t2\n"))
    transposed = read_drug_response(_write(tmp_path / "t.tsv", "drug\tP1\tP2\n5-FU\t1.5\t0.3\nSN-38\t3\t2\n"))
    pd.testing.assert_frame_equal(response_matrix(transposed), response_matrix(wide))


def test_response_matrix_and_drug_selection(tmp_path):
    response = read_drug_response(_write(tmp_path / "r.tsv", LONG), replicates="median")
    matrix = response_matrix(response)
    assert matrix.index.tolist() == ["P1", "P2"] and matrix.columns.tolist() == ["5-FU", "SN-38"]
    assert np.isnan(matrix.loc["P1", "SN-38"]) and matrix.loc["P1", "5-FU"] == 2.5
    assert response_matrix(response, drugs="sn-38").columns.tolist() == ["SN-38"]
    selected = select_drugs(response, [" 5-fu", "SN-38"])
    assert selected is not response and len(selected) == 3
    assert selected.attrs["metric"] == "IC50"


def test_response_matrix_rejects_repeated_pairs():
    response = pd.DataFrame({"sample": ["A", "A"], "drug": ["X", "X"], "value": [1.0, 2.0]})
    with pytest.raises(
        InputError, match=r"response has 1 repeated \(sample, drug\) pairs \(first: 'A', 'X'\)"
    ):
        response_matrix(response)


@pytest.mark.shared_data
def test_van_de_wetering_ic50(shared_data):
    path = shared_file(shared_data, "kong2020/organoid_coad/ic50_median.tsv")
    response = read_drug_response(path)
    matrix = response_matrix(response)
    assert matrix.shape == (19, 83)
    raw = pd.read_csv(path, sep="\t")
    assert len(response) == len(raw) == int(matrix.notna().sum().sum())
    assert matrix.loc["P10", "PF-02341066"] == pytest.approx(2.815117)
    assert response.attrs["log_scale"] is True  # the file holds negative values, so they are log-scale


@pytest.mark.shared_data
def test_select_drugs_on_real_targets(shared_data):
    targets = read_drug_targets(shared_file(shared_data, "kong2020/drug_targets.tsv"))
    assert set(select_drugs(targets, "fluorouracil")["target"]) == {"TYMS"}
    with pytest.raises(InputError, match=r"unknown drug 'FLUOROURACL' \(did you mean 'FLUOROURACIL'\?\)"):
        select_drugs(targets, "FLUOROURACL")


# --------------------------------------------------------------------------------------------------- malformed
@pytest.mark.parametrize(
    ("content", "reader", "kwargs", "message"),
    [
        (
            "drugs\ttargets\nCISPLATIN\tTF\nAICAR\t\n",
            read_drug_targets,
            {},
            r"line 3, drug 'AICAR' has no targets",
        ),
        ("drugs\ttargets\n\tTF\n", read_drug_targets, {}, r"line 2 has no drug name"),
        ("name\tgenes_x\nA\tB\n", read_drug_targets, {}, r"needs a drug column and a target column"),
        ("", read_drug_targets, {}, r"is empty"),
        (
            "sample\tdrug\tIC50\nP9\tX\t1\nP10\tX\t-0.3\n",
            read_drug_response,
            {"log_scale": False},
            r"IC50 must be positive on a linear scale; found -0.3 for sample 'P10', drug 'X' \(line 3\); "
            r"if the values are log-transformed, say so \(\[preclinical\] log_scale = true in a config",
        ),
        (
            "sample\tdrug\tIC50\nP9\tX\t1\nP10\tX\tresistant\n",
            read_drug_response,
            {},
            r"line 3: IC50 'resistant' for sample 'P10', drug 'X' is not a number",
        ),
        ("sample\tdrug\tIC50\n", read_drug_response, {}, r"has a header but no rows"),
        (
            "a\tb\tc\nP1\tX\t1\n",
            read_drug_response,
            {"value_column": "IC50"},
            r"has no column 'IC50' \(value_column\)",
        ),
        (
            "Organoid\tDrug Name\tIC50 (uM)\nP1\tX\t1\n",
            read_drug_response,
            {},
            r"has a drug column 'Drug Name' but no recognised value column.*value_column=",
        ),
        (
            "sample\tdrug\tIC50\nP1\tX\tinf\n",
            read_drug_response,
            {},
            r"line 2: IC50 for sample 'P1', drug 'X' is infinite",
        ),
    ],
    ids=[
        "empty-targets",
        "empty-drug",
        "no-target-column",
        "empty-targets-file",
        "negative-linear-ic50",
        "non-numeric-ic50",
        "no-measurements",
        "unknown-value-column",
        "no-value-column",
        "infinite-ic50",
    ],
)
def test_malformed_drug_files_name_file_and_problem(tmp_path, content, reader, kwargs, message):
    path = _write(tmp_path / "bad_drugs.tsv", content)
    with pytest.raises(InputError, match=r"bad_drugs\.tsv.*" + message):
        reader(path, **kwargs)


def test_unknown_drug_lists_close_matches(tmp_path):
    response = read_drug_response(_write(tmp_path / "r.tsv", LONG), replicates="median")
    with pytest.raises(InputError, match=r"unknown drug 'SN38' \(did you mean 'SN-38'\?\) in .*r\.tsv"):
        select_drugs(response, ["5-FU", "SN38"])
    with pytest.raises(InputError, match=r"unknown drug 'zzz' \(no close match\)"):
        response_matrix(response, drugs=["zzz"])


# --------------------------------------------------------------------------------------------------- fuzzing
_JUNK = st.lists(
    st.one_of(
        st.text(max_size=8),
        st.sampled_from(
            ["\t", "\n", ",", "drug", "drugs", "targets", "sample", "IC50", "P1", "1.5", "-2", '"']
        ),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_JUNK, which=st.sampled_from(["targets", "response"]))
def test_junk_parses_or_raises_input_error(tmp_path, text, which):
    path = tmp_path / "junk.tsv"
    path.write_text(text, encoding="utf-8")
    try:
        table = read_drug_targets(path) if which == "targets" else read_drug_response(path)
    except InputError:
        return
    expected = ["drug", "target"] if which == "targets" else ["sample", "drug", "value"]
    assert list(table.columns) == expected
    assert len(table) > 0
