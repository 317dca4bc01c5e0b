"""read_gmt / write_gmt: file order, duplicates, size filter and report, MSigDB files without descriptions, fuzzing."""

from __future__ import annotations

import gzip
import logging
import pickle
import string
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organoidrx._utils import InputError
from organoidrx.io import read_gmt, write_gmt

from ..conftest import shared_file


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


SMALL = (
    "SET_B\thttp://example.org/b\tTP53\tMDM2\tTP53\tCDKN1A\n\nSET_A\tdesc a\tEGFR\t\tGRB2 \nSET_C\tna\tMYC\n"
)


# --------------------------------------------------------------------------------------------------- reading
def test_small_file_keeps_file_order_and_removes_duplicates(tmp_path):
    table = read_gmt(_write(tmp_path / "sets.gmt", SMALL))
    assert list(table.columns) == ["pathway", "gene"]
    assert table["pathway"].tolist() == ["SET_B"] * 3 + ["SET_A"] * 2 + ["SET_C"]
    assert table["gene"].tolist() == ["TP53", "MDM2", "CDKN1A", "EGFR", "GRB2", "MYC"]
    assert table.attrs["descriptions"] == {"SET_B": "http://example.org/b", "SET_A": "desc a", "SET_C": "na"}
    report = pd.DataFrame(table.attrs["report"])
    assert report["pathway"].tolist() == ["SET_B", "SET_A", "SET_C"]
    assert report["n_genes"].tolist() == [3, 2, 1]
    assert report["kept"].all()


def test_gzip_and_crlf_give_the_same_table(tmp_path):
    plain = read_gmt(_write(tmp_path / "sets.gmt", SMALL))
    crlf = tmp_path / "crlf.gmt"
    crlf.write_bytes(SMALL.replace("\n", "\r\n").encode())
    packed = tmp_path / "sets.gmt.gz"
    packed.write_bytes(gzip.compress(SMALL.encode()))
    pd.testing.assert_frame_equal(read_gmt(crlf), plain)
    pd.testing.assert_frame_equal(read_gmt(packed), plain)


def test_size_filter_reports_each_dropped_set(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="organoidrx"):
        table = read_gmt(_write(tmp_path / "sets.gmt", SMALL), min_size=2, max_size=2)
    assert table["pathway"].unique().tolist() == ["SET_A"]
    report = pd.DataFrame(table.attrs["report"]).set_index("pathway")
    assert report.loc["SET_B", "reason"] == "more than max_size"
    assert report.loc["SET_C", "reason"] == "fewer than min_size"
    assert list(table.attrs["descriptions"]) == ["SET_A"]
    assert (
        "kept 1 of 3 gene sets; 1 have fewer than min_size=2" in caplog.text
        and "(e.g. 'SET_B', 'SET_C')" in caplog.text
    )


def test_two_gene_set_tables_concatenate(tmp_path):
    first = read_gmt(_write(tmp_path / "a.gmt", SMALL))
    second = read_gmt(_write(tmp_path / "b.gmt", "OTHER\tx\tKRAS\n"))
    both = pd.concat([first, second], ignore_index=True)
    assert both["pathway"].nunique() == 4


def test_metadata_is_shared_by_derived_tables_and_pickles(tmp_path):
    table = read_gmt(_write(tmp_path / "sets.gmt", SMALL))
    subset = table.loc[table["pathway"] == "SET_A"]
    assert subset.attrs["descriptions"] is table.attrs["descriptions"]
    again = pickle.loads(pickle.dumps(table))
    assert again.attrs == table.attrs
    pd.testing.assert_frame_equal(again, table)


def test_file_without_description_column_is_read_the_standard_way(tmp_path, caplog):
    # MSigDB files of Kong et al. were written without descriptions: the first gene is taken as the description,
    # and a one-gene line becomes an empty set that is skipped with a warning (gseapy does the same).
    path = _write(tmp_path / "nodesc.gmt", "SET_A\tTP53\tMDM2\tCDKN1A\nSET_ONE\tLHB\n")
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        table = read_gmt(path)
    assert table["gene"].tolist() == ["MDM2", "CDKN1A"]
    assert table.attrs["descriptions"] == {"SET_A": "TP53"}
    report = pd.DataFrame(table.attrs["report"]).set_index("pathway")
    assert report.loc["SET_ONE", "n_genes"] == 0
    assert not report.loc["SET_ONE", "kept"]
    assert "SET_ONE" in caplog.text and "description but no genes" in caplog.text


# --------------------------------------------------------------------------------------------------- writing
def test_write_then_read_round_trips_with_descriptions(tmp_path):
    table = read_gmt(_write(tmp_path / "sets.gmt", SMALL))
    write_gmt(table, tmp_path / "copy.gmt")
    again = read_gmt(tmp_path / "copy.gmt")
    pd.testing.assert_frame_equal(again, table.assign())
    assert again.attrs["descriptions"] == table.attrs["descriptions"]


def test_write_from_dict_uses_na_description(tmp_path):
    write_gmt({"S": ["A", "B", "A"]}, tmp_path / "d.gmt")
    assert (tmp_path / "d.gmt").read_text() == "S\tNA\tA\tB\n"


def test_write_refuses_tabs_and_leaves_no_file(tmp_path):
    target = tmp_path / "bad.gmt"
    with pytest.raises(InputError, match=r"bad\.gmt.*gene 'A\\tB' of gene set 'S'"):
        write_gmt({"S": ["A\tB"]}, target)
    assert not target.exists()


# --------------------------------------------------------------------------------------------------- malformed
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("SET_A\tdesc\tTP53\nLONELY\n", r"line 2, gene set 'LONELY' has no genes and no description"),
        ("SET A TP53 MDM2\n", r"line 1, gene set 'SET A TP53 MDM2'.*space-separated"),
        ("SET_A\td\tTP53\nSET_B\td\tEGFR\nSET_A\td\tMYC\n", r"'SET_A' appears twice \(lines 1 and 3\)"),
        ("", r"holds no gene sets \(the file is empty\)"),
        ("\n  \n\n", r"holds no gene sets"),
        ("\tdesc\tTP53\n", r"line 1 has no gene-set name"),
        ("SET_A\tonly_description\n", r"none of its 1 gene sets has between min_size=1"),
    ],
    ids=[
        "name-only",
        "space-separated",
        "duplicated-set",
        "empty-file",
        "blank-lines",
        "no-name",
        "all-empty",
    ],
)
def test_malformed_gmt_names_file_line_and_problem(tmp_path, content, message):
    path = _write(tmp_path / "broken.gmt", content)
    with pytest.raises(InputError, match=r"broken\.gmt.*" + message):
        read_gmt(path)


def test_binary_file_is_an_input_error(tmp_path):
    path = tmp_path / "binary.gmt"
    path.write_bytes(b"SET\tdesc\tTP53\n\xff\xfe\x00\x01\n")
    with pytest.raises(InputError, match=r"binary\.gmt: line 2 is not valid UTF-8"):
        read_gmt(path)


def test_bad_size_bounds_are_rejected(tmp_path):
    with pytest.raises(InputError, match="min_size <= max_size"):
        read_gmt(_write(tmp_path / "sets.gmt", SMALL), min_size=5, max_size=2)


# --------------------------------------------------------------------------------------------------- real data
@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("relative", "n_lines", "n_kept"),
    [
        ("kong2020/reactome_msigdb_v6.1_organoid.gmt", 646, 629),
        ("kong2020/reactome_msigdb_v6.1_tcga.gmt", 674, 674),
        ("gene_sets/reactome_official/ReactomePathways.gmt", 2512, 2512),
    ],
)
def test_real_gmt_files_match_gseapy(shared_data, relative, n_lines, n_kept):
    from gseapy.parser import read_gmt as gseapy_read_gmt

    path = shared_file(shared_data, relative)
    table = read_gmt(path)
    assert len(table.attrs["report"]["pathway"]) == n_lines
    assert table["pathway"].nunique() == n_kept
    # gseapy (the reader the authors used) skips lines with fewer than three fields and keeps genes as listed.
    reference = {k: list(dict.fromkeys(v)) for k, v in gseapy_read_gmt(str(path)).items()}
    ours = {p: g["gene"].tolist() for p, g in table.groupby("pathway", sort=False)}
    assert ours == reference


@pytest.mark.shared_data
def test_official_reactome_descriptions_are_stable_ids(shared_data):
    table = read_gmt(shared_file(shared_data, "gene_sets/reactome_official/ReactomePathways.gmt"))
    assert all(d.startswith("R-HSA-") for d in table.attrs["descriptions"].values())
    assert table["gene"].nunique() == 11023


# --------------------------------------------------------------------------------------------------- fuzzing
_NAME = st.text(alphabet=string.ascii_letters + string.digits + "_-.:/()+", min_size=1, max_size=12)
_GENE_SETS = st.dictionaries(_NAME, st.lists(_NAME, min_size=1, max_size=6), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=_GENE_SETS)
def test_random_gene_sets_round_trip(tmp_path, sets):
    path = tmp_path / "random.gmt"
    write_gmt(sets, path)
    table = read_gmt(path)
    back = {p: g["gene"].tolist() for p, g in table.groupby("pathway", sort=False)}
    assert back == {p: list(dict.fromkeys(genes)) for p, genes in sets.items()}
    assert list(back) == list(sets)


_JUNK = st.lists(
    st.one_of(st.text(max_size=15), st.sampled_from(["\t", "\n", "\r\n", "SET", "TP53", "\x00", "\ufeff"])),
    max_size=25,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_JUNK)
def test_junk_text_parses_or_raises_input_error(tmp_path, text):
    path = tmp_path / "junk.gmt"
    path.write_text(text, encoding="utf-8")
    try:
        table = read_gmt(path)
    except InputError:
        return
    assert list(table.columns) == ["pathway", "gene"]
    assert len(table) > 0
    assert not table.duplicated().any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_junk_bytes_parse_or_raise_input_error(tmp_path, raw):
    path = tmp_path / "junk.gmt"
    path.write_bytes(raw)
    try:
        read_gmt(path)
    except InputError:
        pass


def test_a_gmt_without_descriptions_is_named(tmp_path, caplog):
    # written without the description column: each set's first gene becomes its description, as GSEA reads it
    lines = [
        "SET_A\tTP53\tMDM2\tCDKN1A",
        "SET_B\tMDM2\tTP53\tATM",
        "SET_C\tEGFR\tKRAS\tTP53",
        "SET_D\tATM\tEGFR",
    ]
    path = tmp_path / "bare.gmt"
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level("WARNING", logger="organoidrx"):
        sets = read_gmt(path)
    assert sets.groupby("pathway")["gene"].apply(list)["SET_A"] == [
        "MDM2",
        "CDKN1A",
    ]  # TP53 is the description
    assert (
        "4 of 4 gene sets have a gene of the file as their description (e.g. 'TP53' for SET_A)" in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="organoidrx"):  # descriptions that are not genes: no warning
        full = tmp_path / "full.gmt"
        full.write_text("\n".join(line.replace("\t", "\tna\t", 1) for line in lines) + "\n")
        read_gmt(full)
    assert "as their description" not in caplog.text
