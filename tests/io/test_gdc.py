"""GDC STAR - Counts and legacy HTSeq FPKM-UQ files joined by sample sheet, on files in GDC's exact layout."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.io import read_gdc_expression, read_gdc_sample_sheet

STAR_HEADER = (
    "# gene-model: GENCODE v36\n"
    "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\ttpm_unstranded\t"
    "fpkm_unstranded\tfpkm_uq_unstranded\n"
    "N_unmapped\t\t\t2000\t2000\t2000\t\t\t\n"
    "N_multimapping\t\t\t3000\t3000\t3000\t\t\t\n"
    "N_noFeature\t\t\t400\t500\t600\t\t\t\n"
    "N_ambiguous\t\t\t70\t80\t90\t\t\t\n"
)
# gene_id, gene_name, counts, tpm, fpkm_uq; the two PAR copies and two loci of one symbol test aggregation.
STAR_GENES = [
    ("ENSG00000141510.16", "TP53", "protein_coding"),
    ("ENSG00000146648.18", "EGFR", "protein_coding"),
    ("ENSG00000002586.20", "CD99", "protein_coding"),
    ("ENSG00000002586.20_PAR_Y", "CD99", "protein_coding"),
    ("ENSG00000228253.1", "MT-ATP8", "protein_coding"),
    ("ENSG00000288000.1", "MT-ATP8", "lncRNA"),
]


def star_text(counts: list[int], tpm: list[float], fpkm_uq: list[float]) -> str:
    rows = [
        f"{gid}\t{name}\t{kind}\t{c}\t{c // 2}\t{c - c // 2}\t{t}\t{t / 2}\t{f}"
        for (gid, name, kind), c, t, f in zip(STAR_GENES, counts, tpm, fpkm_uq, strict=True)
    ]
    return STAR_HEADER + "\n".join(rows) + "\n"


SAMPLES = {
    "TCGA-AA-3510-01A": (
        [10, 30, 5, 0, 1, 2],
        [1.0, 3.0, 0.5, 0.0, 0.25, 0.75],
        [7.0, 1.0, 2.0, 0.0, 4.0, 4.0],
    ),
    "TCGA-AA-3492-01A": (
        [0, 15, 3, 0, 0, 0],
        [0.0, 15.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 31.0, 3.0, 0.0, 0.0, 0.0],
    ),
}


def write_star_download(folder: Path) -> Path:
    """gdc-client layout <folder>/<file id>/<file name> plus the matching sample sheet; returns the sheet."""
    rows = ["File ID\tFile Name\tData Category\tData Type\tProject ID\tCase ID\tSample ID\tSample Type"]
    for i, (barcode, values) in enumerate(SAMPLES.items()):
        file_id = f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd"
        file_name = f"1111111{i}-eeee-ffff-0000-111111111111.rna_seq.augmented_star_gene_counts.tsv"
        (folder / file_id).mkdir(parents=True)
        (folder / file_id / file_name).write_text(star_text(*values))
        case = barcode.rsplit("-", 1)[0]
        rows.append(
            f"{file_id}\t{file_name}\tTranscriptome Profiling\tGene Expression Quantification\tTCGA-COAD\t"
            f"{case}\t{barcode}\tPrimary Tumor"
        )
    sheet = folder / "gdc_sample_sheet.2024-01-01.tsv"
    sheet.write_text("\n".join(rows) + "\n")
    return sheet


@pytest.fixture
def star_sheet(tmp_path) -> Path:
    return write_star_download(tmp_path / "star")


def test_star_tpm_log2_with_symbol_aggregation(star_sheet, caplog):
    with caplog.at_level(logging.INFO, logger="organoidrx.io._gdc"):
        result = read_gdc_expression(star_sheet.parent, star_sheet)
    assert list(result.index) == list(SAMPLES)
    assert list(result.columns) == ["TP53", "EGFR", "CD99", "MT-ATP8"]
    linear = 2.0**result - 1.0
    np.testing.assert_allclose(linear.loc["TCGA-AA-3510-01A"], [1.0, 3.0, 0.5, 1.0])
    np.testing.assert_allclose(linear.loc["TCGA-AA-3492-01A"], [0.0, 15.0, 1.0, 0.0])
    assert "summed" in caplog.text


@pytest.mark.parametrize(
    ("unit", "expected"), [("counts", [10, 30, 5, 3]), ("fpkm_uq", [7.0, 1.0, 2.0, 8.0])]
)
def test_star_other_units_without_log(star_sheet, unit, expected):
    result = read_gdc_expression(star_sheet.parent, star_sheet, unit=unit, log2=False)
    assert result.loc["TCGA-AA-3510-01A"].tolist() == expected


def test_star_summary_rows_are_not_genes(star_sheet):
    result = read_gdc_expression(star_sheet.parent, star_sheet, unit="counts")
    assert not any(c.startswith("N_") for c in result.columns)


def test_star_with_id_map_overrides_gene_names(star_sheet):
    id_map = {"ENSG00000141510": "TP53", "ENSG00000146648": "EGFR"}
    result = read_gdc_expression(star_sheet.parent, star_sheet, unit="counts", log2=False, id_map=id_map)
    assert result.to_dict("list") == {"TP53": [10.0, 0.0], "EGFR": [30.0, 15.0]}


def test_flat_folder_and_case_file_barcode_table(tmp_path):
    star = write_star_download(tmp_path / "nested")
    sheet = read_gdc_sample_sheet(star)
    flat = tmp_path / "flat"
    flat.mkdir()
    for file_id, name in zip(sheet["file_id"], sheet["file_name"], strict=True):
        (flat / name).write_text((star.parent / file_id / name).read_text())
    table = flat / "case_file_barcode.tsv"
    table.write_text(
        "caseID\tfileName\tbarcodeID\n"
        + "".join(
            f"c{i}\t{n}\t{b}\n"
            for i, (n, b) in enumerate(zip(sheet["file_name"], sheet["barcode"], strict=True))
        )
    )
    pd.testing.assert_frame_equal(read_gdc_expression(flat, table), read_gdc_expression(star.parent, star))


# --------------------------------------------------------------------------------------------------- HTSeq


def write_htseq_download(folder: Path) -> Path:
    """Legacy FPKM-UQ files (two columns, no header, versioned ids, a trailing __no_feature row) + barcode table."""
    values = {
        "TCGA-AA-3492": [
            ("ENSG00000141510.15", 7.5),
            ("ENSG00000146648.14", 1.0),
            ("ENSG00000999999.1", 9.0),
        ],
        "TCGA-D5-6531": [
            ("ENSG00000141510.15", 0.0),
            ("ENSG00000146648.14", 3.0),
            ("ENSG00000999999.1", 1.0),
        ],
    }
    rows = ["caseID\tfileName\tbarcodeID"]
    for i, (barcode, genes) in enumerate(values.items()):
        file_id = f"008fb32b-3359-4ee5-a3b8-4a7f78b7d81{i}"
        name = f"ced37a67-bf80-468d-8299-940bb9b8810{i}.FPKM-UQ.txt.gz"
        text = "".join(f"{g}\t{v}\n" for g, v in genes) + "__no_feature\t12345\n"
        (folder / file_id).mkdir(parents=True)
        (folder / file_id / name).write_bytes(gzip.compress(text.encode()))
        rows.append(f"85e95dda-6198-464a-9187-fd0832bebb7{i}\t{name}\t{barcode}")
    sheet = folder / "gdc_case_file_barcode.tsv"
    sheet.write_text("\n".join(rows) + "\n")
    return sheet


ID_MAP = pd.DataFrame(
    {"id": ["ENSG00000141510", "ENSG00000146648"], "id_type": ["ensembl"] * 2, "symbol": ["TP53", "EGFR"]}
)


def test_htseq_fpkm_uq_with_id_map(tmp_path, caplog):
    sheet = write_htseq_download(tmp_path / "htseq")
    with caplog.at_level(logging.WARNING, logger="organoidrx.io._gdc"):
        result = read_gdc_expression(sheet.parent, sheet, unit="fpkm_uq", id_map=ID_MAP)
    assert list(result.index) == ["TCGA-AA-3492", "TCGA-D5-6531"]
    assert list(result.columns) == ["TP53", "EGFR"]
    np.testing.assert_allclose(result.to_numpy(), np.log2(np.array([[7.5, 1.0], [0.0, 3.0]]) + 1))
    assert "1 of 3 Ensembl ids have no symbol" in caplog.text and "ENSG00000999999" in caplog.text


def test_htseq_fpkm_uq_cannot_give_tpm(tmp_path):
    sheet = write_htseq_download(tmp_path / "htseq")
    with pytest.raises(
        InputError, match=r"FPKM-UQ\.txt\.gz: legacy HTSeq files like this hold FPKM-UQ values only"
    ):
        read_gdc_expression(sheet.parent, sheet, unit="tpm", id_map=ID_MAP)


def test_htseq_needs_an_id_map(tmp_path):
    sheet = write_htseq_download(tmp_path / "htseq")
    with pytest.raises(InputError, match=r"HTSeq files carry Ensembl ids only; pass id_map="):
        read_gdc_expression(sheet.parent, sheet, unit="fpkm_uq")


def test_id_map_without_overlap(tmp_path):
    sheet = write_htseq_download(tmp_path / "htseq")
    with pytest.raises(InputError, match=r"none of the 3 Ensembl ids of the GDC files .* are in id_map"):
        read_gdc_expression(sheet.parent, sheet, unit="fpkm_uq", id_map={"TP53": "TP53"})


# --------------------------------------------------------------------------------------------------- malformed


def test_unknown_unit(star_sheet):
    with pytest.raises(InputError, match=r"unit must be one of \['tpm', 'fpkm_uq', 'counts'\]; got 'rpkm'"):
        read_gdc_expression(star_sheet.parent, star_sheet, unit="rpkm")  # type: ignore[arg-type]


def test_sample_sheet_row_whose_file_is_missing(star_sheet):
    sheet = read_gdc_sample_sheet(star_sheet)
    (star_sheet.parent / sheet["file_id"][1] / sheet["file_name"][1]).unlink()
    with pytest.raises(
        InputError, match=r"1 of 2 files listed in gdc_sample_sheet\.2024-01-01\.tsv are not under"
    ):
        read_gdc_expression(star_sheet.parent, star_sheet)


def test_file_missing_from_sample_sheet_is_reported(star_sheet, caplog):
    lines = star_sheet.read_text().splitlines()
    star_sheet.write_text("\n".join(lines[:2]) + "\n")
    with caplog.at_level(logging.WARNING, logger="organoidrx.io._gdc"):
        result = read_gdc_expression(star_sheet.parent, star_sheet)
    assert list(result.index) == ["TCGA-AA-3510-01A"]
    assert "1 expression files under" in caplog.text and "not in the sample sheet" in caplog.text


def test_sample_sheet_without_barcode_column(tmp_path):
    path = tmp_path / "manifest.txt"
    path.write_text("id\tfilename\tmd5\tsize\tstate\nabc\tabc/x.FPKM-UQ.txt.gz\t00\t1\tvalidated\n")
    with pytest.raises(InputError, match=r"manifest\.txt needs a file-name column .* and a barcode column"):
        read_gdc_sample_sheet(path)


def test_two_files_with_one_barcode(star_sheet):
    text = star_sheet.read_text().replace("TCGA-AA-3492-01A", "TCGA-AA-3510-01A")
    star_sheet.write_text(text)
    with pytest.raises(
        InputError, match=r"maps several files to the same barcode \(first: 'TCGA-AA-3510-01A'\)"
    ):
        read_gdc_expression(star_sheet.parent, star_sheet)


def test_star_file_missing_unit_column(star_sheet):
    sheet = read_gdc_sample_sheet(star_sheet)
    path = star_sheet.parent / sheet["file_id"][0] / sheet["file_name"][0]
    path.write_text(path.read_text().replace("tpm_unstranded", "tpm"))
    with pytest.raises(
        InputError, match=r"augmented_star_gene_counts\.tsv: a GDC STAR - Counts file needs columns"
    ):
        read_gdc_expression(star_sheet.parent, star_sheet)


def test_truncated_htseq_gzip(tmp_path):
    sheet = write_htseq_download(tmp_path / "htseq")
    table = read_gdc_sample_sheet(sheet)
    path = next((sheet.parent).rglob(table["file_name"][0]))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(InputError, match=r"FPKM-UQ\.txt\.gz: the gzip data is truncated or corrupt"):
        read_gdc_expression(sheet.parent, sheet, unit="fpkm_uq", id_map=ID_MAP)


def test_different_gene_lists(star_sheet):
    sheet = read_gdc_sample_sheet(star_sheet)
    path = star_sheet.parent / sheet["file_id"][1] / sheet["file_name"][1]
    path.write_text(path.read_text().replace("ENSG00000146648.18", "ENSG00000000001.1"))
    with pytest.raises(InputError, match=r"has a different gene list from .* \(2 ids differ"):
        read_gdc_expression(star_sheet.parent, star_sheet)


def test_unknown_file_kind(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "x.bam").write_text("")
    sheet = pd.DataFrame({"File Name": ["x.bam"], "Sample ID": ["TCGA-AA-0000-01A"]})
    with pytest.raises(InputError, match=r"neither GDC STAR - Counts nor HTSeq files \(first: 'x\.bam'\)"):
        read_gdc_expression(folder, sheet)


# --------------------------------------------------------------------------------------------------- real data


@pytest.mark.shared_data
def test_real_case_file_barcode_table_is_a_sample_sheet(shared_data):
    path = shared_data / "kong2020/tcga_coad_clinical/gdc_case_file_barcode.tsv"
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    sheet = read_gdc_sample_sheet(path)
    assert len(sheet) == 158
    assert sheet["file_name"].str.endswith(".FPKM-UQ.txt.gz").all()
    assert sheet["barcode"].str.match(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$").all()
