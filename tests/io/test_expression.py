"""read_expression / write_expression: formats, annotation columns, duplicates, malformed input, fuzzing."""

from __future__ import annotations

import gzip
import logging
import string
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organoidrx._utils import InputError
from organoidrx.io import read_expression, write_expression
from organoidrx.io._expression import is_annotation_column

from ..conftest import shared_file

GENES_BY_SAMPLES = "gene\tS1\tS2\tS3\nTP53\t1.5\t2\t-0.25\nEGFR\t0\tNA\t3e2\nMYC\t7\t8\t9\n"
EXPECTED = pd.DataFrame(
    [[1.5, 0.0, 7.0], [2.0, np.nan, 8.0], [-0.25, 300.0, 9.0]],
    index=pd.Index(["S1", "S2", "S3"], dtype=object),
    columns=pd.Index(["TP53", "EGFR", "MYC"], dtype=object),
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------- formats


def test_tsv_is_transposed_to_samples_by_genes(tmp_path):
    result = read_expression(_write(tmp_path / "e.tsv", GENES_BY_SAMPLES))
    pd.testing.assert_frame_equal(result, EXPECTED)


def test_csv_and_semicolon_are_sniffed(tmp_path):
    comma = read_expression(_write(tmp_path / "e.txt", GENES_BY_SAMPLES.replace("\t", ",")))
    semicolon = read_expression(_write(tmp_path / "e2.txt", GENES_BY_SAMPLES.replace("\t", ";")))
    pd.testing.assert_frame_equal(comma, EXPECTED)
    pd.testing.assert_frame_equal(semicolon, EXPECTED)


def test_gzip_and_crlf(tmp_path):
    path = tmp_path / "e.tsv.gz"
    path.write_bytes(gzip.compress(GENES_BY_SAMPLES.replace("\n", "\r\n").encode()))
    pd.testing.assert_frame_equal(read_expression(path), EXPECTED)


def test_r_write_table_header_without_row_label_column(tmp_path):
    text = "S1\tS2\tS3\nTP53\t1.5\t2\t-0.25\nEGFR\t0\tNA\t3e2\nMYC\t7\t8\t9\n"
    pd.testing.assert_frame_equal(read_expression(_write(tmp_path / "r.tsv", text)), EXPECTED)


def test_gct(tmp_path):
    text = "#1.2\n3\t3\nNAME\tDescription\tS1\tS2\tS3\n" + "\n".join(
        f"{g}\tna\t{row}"
        for g, row in zip(["TP53", "EGFR", "MYC"], ["1.5\t2\t-0.25", "0\tNA\t3e2", "7\t8\t9"], strict=True)
    )
    pd.testing.assert_frame_equal(read_expression(_write(tmp_path / "e.gct", text)), EXPECTED)


def test_gct_with_wrong_counts_is_truncated(tmp_path):
    text = "#1.2\n5\t3\nNAME\tDescription\tS1\tS2\tS3\nTP53\tna\t1\t2\t3\n"
    with pytest.raises(InputError, match=r"e\.gct: the GCT header declares 5 genes x 3 samples"):
        read_expression(_write(tmp_path / "e.gct", text))


def test_gsea_text_matrix_drops_description(tmp_path, caplog):
    text = "NAME\tDESCRIPTION\tS1\tS2\tS3\nTP53\tna\t1.5\t2\t-0.25\nEGFR\tna\t0\tNA\t3e2\nMYC\tna\t7\t8\t9\n"
    with caplog.at_level(logging.INFO, logger="organoidrx.io._expression"):
        result = read_expression(_write(tmp_path / "gsea.txt", text))
    pd.testing.assert_frame_equal(result, EXPECTED)
    assert "DESCRIPTION" in caplog.text


def test_annotation_column_detected_by_content(tmp_path, caplog):
    text = "geneID\tuniprot_acc\tS1\nTP53\tP04637\t1\nEGFR\tP00533\t2\nMYC\t123\t3\n"
    with caplog.at_level(logging.INFO, logger="organoidrx.io._expression"):
        result = read_expression(_write(tmp_path / "a.tsv", text))
    assert list(result.index) == ["S1"]
    assert "uniprot_acc" in caplog.text
    # dropped for its content, a column might be a sample written wrongly: a warning, not a note
    assert any(r.levelname == "WARNING" and "if one is a sample" in r.getMessage() for r in caplog.records)


def test_gene_identifier_columns_are_not_samples(tmp_path, caplog):
    rng = np.random.default_rng(0)
    n = 1200
    genes = [f"G{i}" for i in range(n)]
    entrez = rng.choice(100_000, size=n, replace=False) + 1
    counts = rng.poisson(3, size=n)  # whole numbers too, but they tie: a sample
    table = pd.DataFrame(
        {
            "symbol": genes,
            "ENTREZ_GENE_ID": entrez,
            "ids": entrez + 7,
            "S1": rng.normal(8, 2, n),
            "S2": counts,
        }
    )
    path = tmp_path / "e.tsv"
    table.to_csv(path, sep="\t", index=False)
    with caplog.at_level(logging.INFO, logger="organoidrx.io._expression"):
        result = read_expression(path)
    assert list(result.index) == ["S1", "S2"]
    # by name (case, spaces and '_' ignored), a note; by content alone (distinct whole numbers), a warning
    assert "ENTREZ_GENE_ID" in caplog.text
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "as gene identifiers such as Entrez ids, not samples ('ids')" in warned[0]
    # a panel of counts whose every sample holds distinct whole numbers: samples, all of them
    panel = pd.DataFrame({"symbol": genes, "A": entrez, "B": entrez + 3})
    panel.to_csv(path, sep="\t", index=False)
    assert list(read_expression(path).index) == ["A", "B"]
    for name in ("Ensembl Gene ID", "ncbi_gene_id", "probeset_id", "hgnc_symbol", "Gene.Name", "entrez"):
        assert is_annotation_column(name), name
    for name in ("S1", "TCGA-AA-3510-01A", "gene1", "Organoid_12", "ProbeA"):
        assert not is_annotation_column(name), name


def test_a_sample_written_with_decimal_commas_is_an_error_not_an_annotation_column(tmp_path):
    text = "gene\tS1\tS2\nTP53\t1.5\t1,25\nEGFR\t2.0\t2,5\nMYC\t3.5\t-0,75\n"
    with pytest.raises(
        InputError, match=r"c\.tsv: sample column 'S2' writes decimals with a comma \('1,25', 3 cells"
    ):
        read_expression(_write(tmp_path / "c.tsv", text))


def test_gene_column_by_name(tmp_path):
    text = "probe\tsymbol_x\tS1\np1\tTP53\t1\np2\tEGFR\t2\n"
    result = read_expression(_write(tmp_path / "g.tsv", text), gene_column="symbol_x")
    assert list(result.columns) == ["TP53", "EGFR"]
    assert list(result.index) == ["S1"]


def test_entrez_gene_ids_stay_strings_and_na_like_ids_are_kept(tmp_path):
    text = "gene\tS1\n7157\t1\nNA\t2\n0001\t3\n"
    result = read_expression(_write(tmp_path / "e.tsv", text))
    assert list(result.columns) == ["7157", "NA", "0001"]


def test_parquet_round_trip_with_gene_index(tmp_path):
    path = tmp_path / "e.parquet"
    EXPECTED.T.rename_axis("gene").to_parquet(path)
    pd.testing.assert_frame_equal(read_expression(path), EXPECTED)


def test_h5ad_and_anndata_object(tmp_path):
    anndata = pytest.importorskip("anndata")
    adata = anndata.AnnData(EXPECTED.fillna(0.0).to_numpy())
    adata.obs_names = list(EXPECTED.index)
    adata.var_names = list(EXPECTED.columns)
    path = tmp_path / "e.h5ad"
    adata.write_h5ad(path)
    pd.testing.assert_frame_equal(read_expression(path), EXPECTED.fillna(0.0))
    pd.testing.assert_frame_equal(read_expression(adata), EXPECTED.fillna(0.0))


def test_h5ad_without_anndata_says_how_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "anndata":
            raise ImportError("no anndata")
        return real_import(name, *args, **kwargs)

    (tmp_path / "e.h5ad").write_bytes(b"")
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(InputError, match=r"e\.h5ad: reading \.h5ad needs the optional dependency anndata"):
        read_expression(tmp_path / "e.h5ad")


# --------------------------------------------------------------------------------------------------- duplicates


DUPLICATED = "gene\tS1\tS2\nMT-ND1\t1\t10\nTP53\t5\t5\nMT-ND1\t3\t20\n"


def test_duplicated_genes_are_an_error_by_default(tmp_path):
    with pytest.raises(
        InputError,
        match=r"dup\.tsv has 1 duplicated gene ids \(first: 'MT-ND1'\); aggregate them, or set duplicates",
    ):
        read_expression(_write(tmp_path / "dup.tsv", DUPLICATED))


@pytest.mark.parametrize(
    ("how", "expected"), [("mean", [2.0, 15.0]), ("max", [3.0, 20.0]), ("first", [1.0, 10.0])]
)
def test_duplicated_genes_aggregated_on_request(tmp_path, caplog, how, expected):
    with caplog.at_level(logging.INFO, logger="organoidrx.io._expression"):
        result = read_expression(_write(tmp_path / "dup.tsv", DUPLICATED), duplicates=how)
    assert list(result.columns) == ["MT-ND1", "TP53"]
    assert result["MT-ND1"].tolist() == expected
    assert f"collapsed by {how}" in caplog.text


# --------------------------------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"bad\.tsv is empty"),
        (b"\n\n  \n", r"bad\.tsv is empty"),
        (b"gene\tS1\tS2\n", r"bad\.tsv has a header line but no data rows"),
        (b"gene S1 S2\nTP53 1 2\n", r"bad\.tsv parses as a single column .* the delimiter looks wrong"),
        (
            b"gene\tS1\tS2\nTP53\t1\tabc\nEGFR\t2\t3\nMYC\t4\t5\n",
            r"bad\.tsv: non-numeric value 'abc' at gene 'TP53'.*'S2'",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"bad\.tsv: the file looks binary"),
        (b"gene\tS1\nTP\xe953\t1\n", r"bad\.tsv: the file is not valid UTF-8 text"),
        (b"gene\tS1\tS1\nTP53\t1\t2\n", r"bad\.tsv has 1 duplicated column names \(first: 'S1'\)"),
        (b"gene\tS1\tS2\nTP53\t1\t2\nEGFR\t1\n", r"bad\.tsv: line 3 has 2 fields but the header has 3"),
        (b"gene\tS1\n\t1\n", r"bad\.tsv: 1 rows have an empty gene id"),
        (b"gene\tS1\nTP53\tinf\n", r"bad\.tsv: infinite value at gene 'TP53'"),
        (b"gene\tdesc\nTP53\tfoo\n", r"bad\.tsv has no numeric sample columns"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "header-only",
        "wrong-delimiter",
        "non-numeric-cell",
        "binary",
        "latin1",
        "duplicated-samples",
        "ragged-row",
        "empty-gene-id",
        "infinite",
        "annotation-only",
    ],
)
def test_malformed_text_raises_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_expression(path)
    assert "\n" not in str(info.value)


def test_truncated_gzip(tmp_path):
    data = gzip.compress((GENES_BY_SAMPLES * 50).encode())
    path = tmp_path / "cut.tsv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.tsv\.gz: the gzip data is truncated or corrupt"):
        read_expression(path)


def test_gz_name_without_gzip_content(tmp_path):
    path = _write(tmp_path / "plain.tsv.gz", GENES_BY_SAMPLES)
    with pytest.raises(
        InputError, match=r"plain\.tsv\.gz: the name ends in \.gz but the content is not gzip"
    ):
        read_expression(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match=r"nope\.tsv: file not found"):
        read_expression(tmp_path / "nope.tsv")
    with pytest.raises(InputError, match=r"is a folder, not a file"):
        read_expression(tmp_path)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match=r"x\.parquet: not a readable Parquet file"):
        read_expression(path)


def test_bad_options():
    with pytest.raises(InputError, match="duplicates must be one of"):
        read_expression("x.tsv", duplicates="median")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="format must be one of"):
        read_expression("x.tsv", format="xlsx")  # type: ignore[arg-type]


def test_explicit_wrong_sep_is_reported(tmp_path):
    with pytest.raises(InputError, match=r"e\.tsv parses as a single column with delimiter ','"):
        read_expression(_write(tmp_path / "e.tsv", GENES_BY_SAMPLES), sep=",")


# --------------------------------------------------------------------------------------------------- writer


def test_write_is_genes_by_samples_and_deterministic(tmp_path):
    first = write_expression(EXPECTED, tmp_path / "a.tsv.gz")
    second = write_expression(EXPECTED, tmp_path / "b.tsv.gz")
    assert first.read_bytes() == second.read_bytes()
    lines = gzip.decompress(first.read_bytes()).decode().splitlines()
    assert lines[0] == "gene\tS1\tS2\tS3"
    assert lines[2] == "EGFR\t0.0\tNA\t300.0"
    pd.testing.assert_frame_equal(read_expression(first), EXPECTED)


def test_write_does_not_mutate_and_leaves_no_temp_files(tmp_path):
    frame = EXPECTED.copy()
    write_expression(frame, tmp_path / "out.tsv")
    pd.testing.assert_frame_equal(frame, EXPECTED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


# --------------------------------------------------------------------------------------------------- properties

_LABEL_ALPHABET = string.ascii_letters + string.digits + "-_.:/ "
# Names reserved for gene annotation columns (DESCRIPTION, uniprotID, Length...) are never sample ids.
labels = (
    st.text(_LABEL_ALPHABET, min_size=1, max_size=12)
    .map(str.strip)
    .filter(lambda label: bool(label) and not is_annotation_column(label))
)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def matrices(draw):
    n_samples = draw(st.integers(1, 5))
    n_genes = draw(st.integers(1, 6))
    samples = draw(st.lists(labels, min_size=n_samples, max_size=n_samples, unique=True))
    genes = draw(st.lists(labels, min_size=n_genes, max_size=n_genes, unique=True))
    values = draw(
        st.lists(
            st.lists(st.one_of(finite, st.just(np.nan)), min_size=n_genes, max_size=n_genes),
            min_size=n_samples,
            max_size=n_samples,
        )
    )
    return pd.DataFrame(
        np.array(values, dtype=float).reshape(n_samples, n_genes),
        index=pd.Index(samples, dtype=object),
        columns=pd.Index(genes, dtype=object),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=matrices(), gz=st.booleans())
def test_round_trip_is_exact(tmp_path, frame, gz):
    path = tmp_path / ("m.tsv.gz" if gz else "m.tsv")
    write_expression(frame, path)
    pd.testing.assert_frame_equal(read_expression(path), frame, check_exact=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_junk_either_parses_or_raises_input_error(tmp_path, content):
    path = tmp_path / "junk.tsv"
    path.write_bytes(content)
    try:
        result = read_expression(path)
    except InputError as exc:
        assert "junk.tsv" in str(exc)
    else:
        assert result.shape[0] >= 1 and result.shape[1] >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.lists(
            st.sampled_from(["1", "2.5", "x", "", "NA", "TP53", '"q"', "-1e3", "nan", " "]),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=5,
    ),
    sep=st.sampled_from(["\t", ",", ";"]),
)
def test_table_like_junk_either_parses_or_raises_input_error(tmp_path, rows, sep):
    path = tmp_path / "junk.csv"
    path.write_text("\n".join(sep.join(r) for r in rows))
    try:
        read_expression(path)
    except InputError as exc:
        assert "junk.csv" in str(exc)


# --------------------------------------------------------------------------------------------------- real data


@pytest.mark.shared_data
def test_kong_organoid_expression(shared_data, caplog):
    path = shared_file(shared_data, "kong2020/organoid_coad/expression_gene_median.tsv")
    with caplog.at_level(logging.INFO, logger="organoidrx.io._expression"):
        expression = read_expression(path)
    assert expression.shape == (22, 12037)
    assert "uniprotID" in caplog.text and "uniprotID" not in expression.columns
    assert expression.index[0] == "P10" and expression.columns[0] == "UBE2Q1"
    assert expression.loc["P10", "UBE2Q1"] == 10.77948
    assert np.isfinite(expression.to_numpy()).all()


@pytest.mark.shared_data
def test_kong_ssgsea_input_matrix(shared_data):
    gsea = read_expression(shared_file(shared_data, "kong2020/organoid_coad/ssgsea_input_expression.tsv"))
    median = read_expression(shared_file(shared_data, "kong2020/organoid_coad/expression_gene_median.tsv"))
    assert gsea.shape == (22, 12037)
    pd.testing.assert_frame_equal(gsea.loc[median.index, median.columns], median)


@pytest.mark.parametrize("how", ["mean", "max"])
def test_a_missing_value_in_a_duplicated_gene_is_not_left_out_of_its_mean(tmp_path, how):
    text = "gene\tS1\tS2\nMT-ND1\t1\t10\nTP53\t5\t5\nMT-ND1\tNA\t20\n"
    result = read_expression(_write(tmp_path / "dup.tsv", text), duplicates=how)
    assert np.isnan(result.loc["S1", "MT-ND1"])  # stays missing, so scoring refuses it like any missing value
    assert result.loc["S2", "MT-ND1"] == (15.0 if how == "mean" else 20.0)


@pytest.mark.parametrize("duplicates", ["error", "mean", "max", "first"])
def test_h5ad_duplicated_genes_follow_duplicates_as_text_files(tmp_path, duplicates):
    """An AnnData file with a repeated gene is collapsed (or refused) exactly as the same table in a TSV, read
    whole or streamed."""
    anndata = pytest.importorskip("anndata")
    from organoidrx.io import open_expression

    values = np.arange(12, dtype=float).reshape(3, 4) ** 1.5
    genes = ["G1", "G2", "G1", "G3"]
    samples = ["s1", "s2", "s3"]
    adata = anndata.AnnData(values)
    adata.obs_names = samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata warns that var names are not unique
        adata.var_names = genes
        adata.write_h5ad(tmp_path / "e.h5ad")
    text = tmp_path / "e.tsv"
    pd.DataFrame(values.T, index=pd.Index(genes, name="gene"), columns=samples).to_csv(text, sep="\t")
    if duplicates == "error":
        for path in (tmp_path / "e.h5ad", text):
            with pytest.raises(InputError, match="1 duplicated gene ids"):
                read_expression(path, duplicates=duplicates)
        with pytest.raises(InputError, match="1 duplicated gene ids"):
            open_expression(tmp_path / "e.h5ad", duplicates=duplicates)
        return
    expected = read_expression(text, duplicates=duplicates)
    assert list(expected.columns) == ["G1", "G2", "G3"]
    pd.testing.assert_frame_equal(read_expression(tmp_path / "e.h5ad", duplicates=duplicates), expected)
    with open_expression(tmp_path / "e.h5ad", duplicates=duplicates) as source:
        assert list(source.genes) == ["G1", "G2", "G3"]
        np.testing.assert_array_equal(np.vstack([v for _, v in source.chunks(2)]), expected.to_numpy())


def test_a_number_beyond_float_range_is_named_as_such(tmp_path):
    text = "gene\tS1\tS2\nTP53\t1\t2\nEGFR\t1e400\t3\nMYC\t2\t2\n"
    with pytest.raises(InputError, match=r"value too large for a float '1e400' at gene 'EGFR'"):
        read_expression(_write(tmp_path / "big.tsv", text))


def test_ids_that_differ_only_in_case_are_named(tmp_path, caplog):
    text = "gene\tP10\tp10\tS3\nUBE2Q1\t1\t2\t3\nube2q1\t4\t5\t6\nTP53\t7\t8\t9\n"
    with caplog.at_level(logging.WARNING, logger="organoidrx.io._expression"):
        result = read_expression(_write(tmp_path / "c.tsv", text))
    assert result.shape == (3, 3)  # kept apart, as written
    assert "2 gene ids differ from another only in case (e.g. 'UBE2Q1', 'ube2q1')" in caplog.text
    assert "2 sample ids differ from another only in case (e.g. 'P10', 'p10')" in caplog.text
