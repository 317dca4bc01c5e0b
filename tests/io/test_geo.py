"""GEO series matrix reader on small files written in GEO's exact layout."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.io import read_geo_series_matrix

# The layout GEO serves (quoted strings, tab-separated, characteristics as 'key: value').
SERIES_MATRIX = """!Series_title\t"5-FU treated colorectal tumours"
!Series_geo_accession\t"GSE000001"
!Series_platform_id\t"GPL570"

!Sample_title\t"tumour A"\t"tumour B"\t"tumour C"
!Sample_geo_accession\t"GSM100001"\t"GSM100002"\t"GSM100003"
!Sample_status\t"Public on Jan 01 2015"\t"Public on Jan 01 2015"\t"Public on Jan 01 2015"
!Sample_source_name_ch1\t"colon tumour"\t"colon tumour"\t"colon tumour"
!Sample_characteristics_ch1\t"tissue: colon"\t"tissue: colon"\t"tissue: rectum"
!Sample_characteristics_ch1\t"response: responder"\t"response: non-responder"\t"response: responder"
!Sample_characteristics_ch1\t"age: 61"\t"age: 70"\t"age: 55"
!Sample_data_processing\t"RMA"\t"RMA"\t"RMA"
!series_matrix_table_begin
"ID_REF"\t"GSM100001"\t"GSM100002"\t"GSM100003"
"1007_s_at"\t8.5\t9.0\t7.5
"1053_at"\t6.0\t6.5\t5.0
"117_at"\t3.0\tnull\t4.0
"121_at"\t10.0\t11.0\t12.0
"1255_g_at"\t1.0\t2.0\t3.0
!series_matrix_table_end
"""

# GPL annotation layout: '#' comment lines, then ID and 'Gene Symbol' with '///' for multi-gene probes.
PLATFORM = """#ID = Affymetrix probe set id
#Gene Symbol = gene symbol
ID\tGB_ACC\tGene Title\tGene Symbol
1007_s_at\tU48705\tdiscoidin domain receptor\tDDR1
1053_at\tM87338\treplication factor C\tRFC2
117_at\tX51757\theat shock protein\tDDR1
121_at\tX69699\tpaired box 8\tPAX8 /// PAX8-AS1
1255_g_at\tL36861\t\t
"""


@pytest.fixture
def series_path(tmp_path):
    path = tmp_path / "GSE000001_series_matrix.txt.gz"
    path.write_bytes(gzip.compress(SERIES_MATRIX.encode()))
    return path


def test_probe_table_and_sample_annotations(series_path):
    result = read_geo_series_matrix(series_path)
    assert list(result.index) == ["GSM100001", "GSM100002", "GSM100003"]
    assert list(result.columns) == ["1007_s_at", "1053_at", "117_at", "121_at", "1255_g_at"]
    assert result.loc["GSM100003", "1053_at"] == 5.0
    assert np.isnan(result.loc["GSM100002", "117_at"])
    samples = result.attrs["samples"]
    assert samples["title"].tolist() == ["tumour A", "tumour B", "tumour C"]
    assert samples["response"].tolist() == ["responder", "non-responder", "responder"]
    assert samples.loc["GSM100003", "tissue"] == "rectum"
    assert samples.loc["GSM100002", "age"] == "70"
    assert result.attrs["series"]["geo_accession"] == "GSE000001"


def test_probes_collapse_to_genes_by_median(series_path, tmp_path, caplog):
    platform = tmp_path / "GPL570.annot.txt"
    platform.write_text(PLATFORM)
    with caplog.at_level(logging.INFO, logger="organoidrx.io._geo"):
        result = read_geo_series_matrix(series_path, probe_map=platform)
    assert list(result.columns) == ["DDR1", "RFC2"]
    # DDR1 = median of 1007_s_at and 117_at per sample; NaN ignored.
    assert result["DDR1"].tolist() == [5.75, 9.0, 5.75]
    assert result["RFC2"].tolist() == [6.0, 6.5, 5.0]
    assert "1 of 5 probes had no gene" in caplog.text and "1 mapped to several genes" in caplog.text
    assert list(result.attrs["samples"].index) == list(result.index)


def test_probe_map_as_dataframe_with_named_columns(series_path):
    table = pd.DataFrame({"probe": ["1053_at", "121_at"], "hgnc": ["RFC2", "PAX8"]})
    result = read_geo_series_matrix(series_path, probe_map=table, probe_column="probe", gene_column="hgnc")
    assert list(result.columns) == ["RFC2", "PAX8"]
    assert result["PAX8"].tolist() == [10.0, 11.0, 12.0]


def test_no_table_markers(tmp_path):
    path = tmp_path / "GSE1_series_matrix.txt"
    path.write_text(SERIES_MATRIX.split("!series_matrix_table_begin")[0])
    with pytest.raises(InputError, match=r"GSE1_series_matrix\.txt has no '!series_matrix_table_begin' line"):
        read_geo_series_matrix(path)


def test_table_without_end_marker_is_truncated(tmp_path):
    path = tmp_path / "GSE1_series_matrix.txt"
    path.write_text(SERIES_MATRIX.replace("!series_matrix_table_end\n", ""))
    with pytest.raises(
        InputError, match=r"GSE1_series_matrix\.txt has no '!series_matrix_table_end'.*truncated"
    ):
        read_geo_series_matrix(path)


def test_truncated_gzip_series(tmp_path):
    data = gzip.compress(SERIES_MATRIX.encode())
    path = tmp_path / "GSE1_series_matrix.txt.gz"
    path.write_bytes(data[:-12])
    with pytest.raises(InputError, match=r"GSE1_series_matrix\.txt\.gz: the gzip data is truncated"):
        read_geo_series_matrix(path)


def test_missing_accession_line(tmp_path):
    path = tmp_path / "GSE1_series_matrix.txt"
    path.write_text("\n".join(line for line in SERIES_MATRIX.splitlines() if "geo_accession" not in line))
    with pytest.raises(InputError, match=r"GSE1_series_matrix\.txt has no '!Sample_geo_accession' line"):
        read_geo_series_matrix(path)


def test_non_numeric_cell_in_table(tmp_path):
    path = tmp_path / "GSE1_series_matrix.txt"
    path.write_text(SERIES_MATRIX.replace("6.0\t6.5\t5.0", "6.0\thigh\t5.0"))
    with pytest.raises(InputError, match=r"non-numeric value 'high' at gene '1053_at'.*'GSM100002'"):
        read_geo_series_matrix(path)


def test_probe_map_without_overlap(series_path):
    table = pd.DataFrame({"ID": ["A_1", "A_2"], "Gene Symbol": ["TP53", "EGFR"]})
    with pytest.raises(
        InputError, match=r"no probe of GSE000001_series_matrix\.txt\.gz maps to a single gene"
    ):
        read_geo_series_matrix(series_path, probe_map=table)


def test_probe_map_missing_named_column(series_path):
    table = pd.DataFrame({"ID": ["1053_at"], "Gene Symbol": ["RFC2"]})
    with pytest.raises(InputError, match=r"probe_map has no column 'symbol'.*pass gene_column="):
        read_geo_series_matrix(series_path, probe_map=table, gene_column="symbol")


def test_read_expression_and_inspect_agree_on_a_series_matrix(tmp_path):
    from organoidrx.io import inspect_file, read_expression

    path = tmp_path / "GSE000001_series_matrix.txt"
    path.write_text(SERIES_MATRIX)
    pd.testing.assert_frame_equal(read_expression(path), read_geo_series_matrix(path), check_like=False)
    path.write_text(SERIES_MATRIX.replace("!series_matrix_table_end\n", ""))
    for read in (read_expression, read_geo_series_matrix, inspect_file):
        with pytest.raises(InputError, match=r"series_matrix\.txt has no '!series_matrix_table_end' line"):
            read(path)
