"""``inspect_file`` and ``organoidrx inspect``: format detection, summaries, problems, and one-line errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.cli import main
from organoidrx.io import inspect_file

from ..conftest import SHARED_DATA

# --------------------------------------------------------------------------------------------------- small files


def _expression(tmp_path: Path, values: np.ndarray, name: str = "expr.tsv") -> Path:
    genes = [f"GENE{i}" for i in range(values.shape[0])]
    frame = pd.DataFrame(
        values, index=pd.Index(genes, name="gene"), columns=[f"S{j}" for j in range(values.shape[1])]
    )
    path = tmp_path / name
    frame.to_csv(path, sep="\t")
    return path


def test_log_expression_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    report = inspect_file(_expression(tmp_path, rng.uniform(2, 14, size=(30, 4))))
    assert report.format == "expression" and report.reader == "read_expression"
    assert report.shape == (4, 30)  # samples x genes, as the reader returns it
    assert report.scale is not None and report.scale.startswith("log-like")
    assert report.value_min is not None and 2 <= report.value_min < report.value_max <= 14  # type: ignore[operator]
    assert report.problems == []


def test_what_scoring_refuses_or_warns_of_is_a_problem(tmp_path: Path) -> None:
    """Missing values (every scorer refuses them) and samples flat over every gene (every scorer warns)."""
    rng = np.random.default_rng(0)
    values = rng.uniform(2, 14, size=(30, 4))
    values[3, 2] = np.nan
    values[:, 1] = 5.0
    report = inspect_file(_expression(tmp_path, values))
    assert report.problems == [
        "1 missing values (first at sample 'S2', gene 'GENE3'); scoring refuses them: impute or drop them first",
        "1 samples have the same value for every gene ('S1'); no gene stands out in them",
    ]


def test_linear_counts_are_flagged_as_linear(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    report = inspect_file(_expression(tmp_path, rng.poisson(500, size=(30, 4)).astype(float)))
    assert report.scale is not None and report.scale.startswith("linear")


def test_binary_and_matrix_formats(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    genes = ["ENSG00000141510", "ENSG00000135679", "ENSG00000124762", "ENSG00000146648"]
    matrix = pd.DataFrame(rng.uniform(1, 10, (3, 4)), index=["S1", "S2", "S3"], columns=genes)
    matrix.T.to_parquet(tmp_path / "e.parquet")
    (tmp_path / "e.gct").write_text(
        "#1.2\n4\t3\nName\tDescription\tS1\tS2\tS3\n"
        + "".join(f"{g}\tna\t" + "\t".join(f"{v:.3f}" for v in matrix[g]) + "\n" for g in genes)
    )
    (tmp_path / "GSE1_series_matrix.txt").write_text(
        '!Series_geo_accession\t"GSE1"\n!Sample_geo_accession\t"GSM1"\t"GSM2"\n!Sample_title\t"a"\t"b"\n'
        '!series_matrix_table_begin\n"ID_REF"\t"GSM1"\t"GSM2"\n"TP53"\t5.1\t6.2\n"MDM2"\t7.0\t8.1\n'
        "!series_matrix_table_end\n"
    )
    found = {
        name: (r.format, r.shape, r.id_type)
        for name in ("e.parquet", "e.gct", "GSE1_series_matrix.txt")
        for r in [inspect_file(tmp_path / name)]
    }
    assert found == {
        "e.parquet": ("parquet", (3, 4), "ensembl"),
        "e.gct": ("gct", (3, 4), "ensembl"),
        "GSE1_series_matrix.txt": ("geo_series_matrix", (2, 2), "symbol"),
    }


def test_gmt_and_network_and_targets(tmp_path: Path) -> None:
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("SET_A\tdesc\tTP53\tMDM2\tCDKN1A\nSET_B\tdesc\tEGFR\tERBB2\n")
    report = inspect_file(gmt)
    assert (report.format, report.shape, report.id_type) == ("gmt", (2, 5), "symbol")
    edges = tmp_path / "edges.tsv"
    edges.write_text("gene_a\tgene_b\tscore\nTP53\tMDM2\t999\nMDM2\tCDKN1A\t800\nEGFR\tERBB2\t400\n")
    report = inspect_file(edges)
    assert report.format == "network" and report.details["score > 700"] == "2 edges"
    targets = tmp_path / "targets.tsv"
    targets.write_text("drugs\ttargets\nFLUOROURACIL\tTYMS\nCETUXIMAB,GEFITINIB\tEGFR\n")
    assert inspect_file(targets).format == "drug_targets"


def test_clinical_table_with_problems_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "clinical.tsv"
    path.write_text("patient\ttime\tevent\nA\t10\t1\nB\t-5\t0\n")
    report = inspect_file(path)
    assert report.format == "table"
    assert "read_clinical rejects it" in report.problems[0] and "negative time" in report.problems[0]
    good = tmp_path / "good.tsv"
    good.write_text("patient\ttime\tevent\nA\t10\t1\nB\t5\t0\nC\t\t1\n")
    report = inspect_file(good)
    assert report.format == "clinical" and report.details["events"] == "1 of 2 patients with usable survival"
    assert any("dropped 1 of 3 patients" in p for p in report.problems)


def test_biotab_placeholders_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "patient.txt"
    path.write_text(
        "bcr_patient_barcode\tvital_status\tlast_contact_days_to\tdeath_days_to\n"
        "bcr_patient_barcode\tvital_status\tdays_to_last_followup\tdays_to_death\n"
        "CDE_ID:2003301\tCDE_ID:5\tCDE_ID:3008273\tCDE_ID:3165475\n"
        "TCGA-AA-0001\tAlive\t100\t[Not Applicable]\nTCGA-AA-0002\tDead\t[Not Available]\t50\n"
    )
    report = inspect_file(path)
    assert report.format == "tcga_biotab_patient"
    assert report.details["placeholders"].startswith("2 ")


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("empty.tsv", b"", r"empty\.tsv: the file is empty"),
        ("blank.tsv", b"\n\n  \n", r"blank\.tsv: the file is empty"),
        ("garbage.bin", bytes(range(256)) * 8, r"garbage\.bin: the file looks binary"),
        (
            "table.tsv.gz",
            gzip.compress(b"gene\tS1\n" + b"TP53\t1.0\n" * 2000, mtime=0)[:60],
            r"table\.tsv\.gz: the gzip data is truncated",
        ),
        (
            "notgzip.tsv.gz",
            b"gene\tS1\nTP53\t1\n",
            r"notgzip\.tsv\.gz: the name ends in \.gz but the content is not gzip",
        ),
        ("book.xlsx", b"PK\x03\x04" + b"\x14" * 100, r"book\.xlsx: a zip/Excel workbook is not supported"),
    ],
)
def test_bad_files_raise_input_error_naming_the_file(
    tmp_path: Path, filename: str, content: bytes, message: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        inspect_file(path)


# --------------------------------------------------------------------------------------------------- CLI
def test_cli_bad_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 8)
    assert main(["inspect", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("organoidrx: error: garbage.bin: the file looks binary")
    assert "Traceback" not in captured.err


def test_cli_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "empty.tsv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.tsv: the file is empty"):
        main(["--debug", "inspect", str(path)])


def test_cli_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("SET_A\tdesc\tTP53\tMDM2\tCDKN1A\n")
    assert main(["inspect", "--json", str(gmt)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "gmt" and report["shape"] == [1, 3]


# --------------------------------------------------------------------------------------------------- real data
def _shared_files() -> list[str]:
    if not SHARED_DATA.is_dir():
        return ["<absent>"]
    skip_suffixes = {".md", ".xlsx"}
    return sorted(
        str(p.relative_to(SHARED_DATA))
        for p in SHARED_DATA.rglob("*")
        if p.is_file() and p.suffix not in skip_suffixes and not p.name.startswith("LICENSE")
    )


EXPECTED_FORMATS = {
    "gene_sets/reactome_official/ReactomePathways.gmt": "gmt",
    "kong2020/organoid_coad/expression_gene_median.tsv": "expression",
    "kong2020/organoid_coad/ssgsea_input_expression.tsv": "expression",
    "kong2020/organoid_coad/ic50_median.tsv": "drug_response",
    "kong2020/drug_targets.tsv": "drug_targets",
    "kong2020/drugbank_vocabulary.csv": "drugbank_vocabulary",
    "kong2020/tcga_coad_clinical/gdc_fpkm_uq_manifest.txt": "gdc_manifest",
    "kong2020/tcga_coad_clinical/nationwidechildrens.org_clinical_patient_coad.txt": "tcga_biotab_patient",
    "kong2020/tcga_coad_clinical/nationwidechildrens.org_clinical_drug_coad.txt": "tcga_biotab_drug",
    "networks/string_v12_physical900/string_v12_physical_ge900_ensp_symbol.tsv.gz": "network",
    "survival_colon/colon_levamisole_5fu_trial_moertel.csv": "clinical",
    "tcga_clinical/cesnet_TCGA-BLCA_clinical_patient_table.csv": "tcga_biotab_patient",
    "tcga_clinical/ding2016_vaen_tcga_drug_response.txt": "tcga_drug_response",
    "tcga_clinical/howtobook_tcga.TCGA-COAD.drug.txt": "tcga_biotab_drug",
    "tcga_clinical/tcga_cdr_liu2018_outcome_researchSAM.tsv.gz": "tcga_cdr",
    "idmap/human_gene_info_entrez_symbol_ensembl.tsv.gz": "gene_id_map",
}


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", _shared_files())
def test_cli_inspects_every_shared_data_file(
    shared_data: Path, relative: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(shared_data / relative)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"file:        {shared_data / relative}\n")
    fmt = out.split("\n")[1].removeprefix("format:").strip().split(" - ")[0]
    assert fmt == EXPECTED_FORMATS.get(relative, fmt)
    shape = out.split("\n")[2].removeprefix("shape:").strip()
    assert all(int(n) > 0 for n in shape.split(" x ")) or relative.endswith("single_pathway_predictions.tsv")


@pytest.mark.shared_data
def test_real_file_reports(shared_data: Path) -> None:
    expression = inspect_file(shared_data / "kong2020/organoid_coad/expression_gene_median.tsv")
    assert expression.shape == (22, 12037) and expression.id_type == "symbol"
    assert expression.scale is not None and expression.scale.startswith("log-like")
    manifest = inspect_file(shared_data / "kong2020/tcga_coad_clinical/gdc_fpkm_uq_manifest.txt")
    assert manifest.problems[0].startswith("82 files have no id (") and manifest.n_missing == 164
    drugs = inspect_file(
        shared_data / "kong2020/tcga_coad_clinical/nationwidechildrens.org_clinical_drug_coad.txt"
    )
    assert drugs.details["drugs"].startswith("FLUOROURACIL 130")
    assert any("could not be resolved" in p for p in drugs.problems)


def test_inspect_knows_the_package_s_own_tables(tmp_path):
    proximity = tmp_path / "proximity.tsv"
    proximity.write_text(
        "drug\tpathway\tz\tcomputable\nX\tP1\t-2.0\tTrue\nX\tP2\t0.5\tTrue\nY\tP1\t\tFalse\n"
    )
    report = inspect_file(proximity)
    assert report.format == "proximity" and report.shape == (2, 2)
    assert report.details["proximal (z <= -1.2816)"].startswith("1 pairs")
    assert any("1 drugs have no proximal pathway: 'Y'" in p for p in report.problems)
    wide = tmp_path / "zscores.tsv"
    wide.write_text("Pathway\tDRUG_A\tDRUG_B\nP1\t-2.0\t0.1\nP2\t-1.5\t3.0\n")
    report = inspect_file(wide)
    assert report.format == "proximity_wide" and report.shape == (2, 2)
    scores = tmp_path / "scores.tsv"
    scores.write_text("sample\tREACTOME_A\tREACTOME_B\nS1\t0.1\t0.2\nS2\t0.3\t0.4\n")
    report = inspect_file(scores)
    assert report.format == "scores" and report.shape == (2, 2)
    clinical = tmp_path / "clinical.tsv"
    clinical.write_text("patient\ttime\tevent\tdrug\tresponse\nP1\t10\t1\tX\tPR\nP2\t20\t0\tX\tPD\n")
    assert inspect_file(clinical).format == "clinical"
