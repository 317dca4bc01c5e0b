"""The one table-reading layer: special files, wide headers, the delimiter rule, the NA list, the column finder."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.io import (
    inspect_file,
    read_clinical,
    read_drug_response,
    read_drug_targets,
    read_expression,
    read_gmt,
    read_network,
)
from organoidrx.io._tables import (
    NA_VALUES,
    find_column,
    parse_table,
    read_header,
    read_table,
    sniff_delimiter,
    split_fields,
)

READERS = {
    "expression": read_expression,
    "gmt": read_gmt,
    "network": read_network,
    "drug_targets": read_drug_targets,
    "drug_response": read_drug_response,
    "clinical": read_clinical,
    "inspect": inspect_file,
}


# --------------------------------------------------------------------------------------------------- special files
@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_before_reading(tmp_path, reader, device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist on this system")
    link = tmp_path / "input.tsv"
    link.symlink_to(device)
    for path in (device, link):
        with pytest.raises(InputError, match=r"is not a regular file \(it is a character device"):
            READERS[reader](path)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_fifos_and_folders_are_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)  # opening it for reading would block forever: no writer
    with pytest.raises(InputError, match=r"pipe\.tsv is not a regular file \(it is a FIFO"):
        READERS[reader](fifo)
    with pytest.raises(InputError, match=r"is a folder, not a file"):
        READERS[reader](tmp_path)
    with pytest.raises(InputError, match=r"missing\.tsv: file not found"):
        READERS[reader](tmp_path / "missing.tsv")


# --------------------------------------------------------------------------------------------------- wide files
def _wide(n_samples: int, n_genes: int, sep: str) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n_genes, n_samples)).round(3)
    samples = [f"TCGA-{i:06d}-01A" for i in range(n_samples)]
    genes = [f"G{j}" for j in range(n_genes)]
    lines = [sep.join(["gene", *samples])]
    lines += [sep.join([g, *map(repr, row)]) for g, row in zip(genes, values.tolist(), strict=True)]
    return "\n".join(lines) + "\n", pd.DataFrame(values.T, index=samples, columns=genes)


@pytest.mark.parametrize(("suffix", "sep", "n_genes"), [(".tsv", "\t", 300), (".csv", ",", 20)])
def test_a_20000_sample_matrix_reads(tmp_path, suffix, sep, n_genes):
    text, expected = _wide(20_000, n_genes, sep)
    assert len(text.split("\n", 1)[0]) > 131_072  # wider than the csv module's field limit
    path = tmp_path / f"wide{suffix}"
    path.write_text(text)
    frame = read_expression(path)
    assert frame.shape == (20_000, n_genes)
    np.testing.assert_array_equal(frame.to_numpy(), expected.to_numpy())
    assert list(frame.index[:2]) == ["TCGA-000000-01A", "TCGA-000001-01A"]


def test_a_two_million_sample_header_splits(tmp_path):
    n = 2_000_000
    path = tmp_path / "huge_header.tsv.gz"
    header = "gene\t" + "\t".join(f"S{i}" for i in range(n))
    with gzip.open(path, "wt") as handle:
        handle.write(header + "\n" + "G1" + "\t1" * n + "\n")
    names = read_header(path)
    assert len(names) == n + 1 and names[-1] == f"S{n - 1}"


# --------------------------------------------------------------------------------------------------- rules
def test_split_fields_handles_quotes_like_a_csv_reader():
    assert split_fields('a,"b,c",d', ",") == ["a", "b,c", "d"]
    assert split_fields('"say ""hi""",x', ",") == ['say "hi"', "x"]
    assert split_fields("a  b\tc", r"\s+") == ["a", "b", "c"]
    assert split_fields("x" * 300_000 + "\ty", "\t") == ["x" * 300_000, "y"]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["g\ts1\ts2", "A\t1\t2"], "\t"),
        (["g,s1,s2", "A,1,2"], ","),
        (["g;s1;s2", "A;1,5;2,5"], ";"),  # decimal commas: the semicolon splits consistently
        (['g,"s 1, a",s2', 'A,1,"2"'], ","),  # a quoted delimiter does not count
        (["protein1 protein2 combined_score", "a b 900"], "?"),  # none: the reader's default
    ],
)
def test_one_delimiter_rule(lines, expected):
    assert sniff_delimiter(lines, "?") == expected


def test_find_column_prefers_exact_then_key_in_candidate_order():
    columns = ["Drug Name", "drug", "IC50 (uM)", "#sample_id"]
    assert find_column(columns, ["drug", "drug_name"]) == "drug"
    assert find_column(columns, ["drug_name"]) == "Drug Name"
    assert find_column(columns, ["SampleID"]) == "#sample_id"
    assert find_column(columns, ["target"]) is None


def test_one_na_list_in_every_reader(tmp_path):
    assert {"", "NA", "NaN", "NULL", "-", "."} <= set(NA_VALUES)
    expression = tmp_path / "e.tsv"
    expression.write_text("gene\tS1\tS2\nA\t1\t-\nB\t.\t2\nC\tNA\t3\n")
    frame = read_expression(expression)
    assert frame.isna().sum().sum() == 3
    response = tmp_path / "r.tsv"
    response.write_text("sample\tdrug\tic50\nO1\tX\t-\nO2\tX\t1.5\nO3\tX\t.\n")
    assert read_drug_response(response)["value"].isna().sum() == 0  # missing responses are dropped ...
    assert len(read_drug_response(response)) == 1  # ... not read as numbers
    table = read_table(response)
    assert table["ic50"].isna().tolist() == [True, False, True]


def test_parse_table_reports_the_first_ragged_line_and_unclosed_quotes():
    with pytest.raises(InputError, match=r"t\.tsv: line 3 has 2 fields but the header has 3"):
        parse_table("g\ta\tb\nA\t1\t2\nB\t1\n", name="t.tsv", sep=None, default_sep="\t")
    with pytest.raises(
        InputError, match=r"malformed quoting \(the quoted field opened on line 2 is never closed"
    ):
        parse_table('g,a,b\n"A,1,2\nB,1,2\n', name="t.csv", sep=",", default_sep=",")
    quoted = parse_table('g,a,b\n"A\nB",1,2\n', name="t.csv", sep=",", default_sep=",")
    assert quoted.iloc[0, 0] == "A\nB" and quoted.shape == (1, 3)
