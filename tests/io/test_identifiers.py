"""Gene id detection, id maps, harmonisation to symbols, and sample-id reconciliation."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.io import (
    detect_gene_id_type,
    harmonize_gene_ids,
    read_expression,
    read_gene_id_map,
    reconcile_sample_ids,
    strip_ensembl_version,
)

from ..conftest import shared_file

# A few rows in the exact layout of idmap/human_gene_info_entrez_symbol_ensembl.tsv.gz and the alias table.
GENE_INFO = (
    "entrez_id\tsymbol\tgene_name\tgene_type\tensembl_gene_ids\tuniprot_ids\n"
    "7157\tTP53\ttumor protein p53\tprotein-coding\tENSG00000141510\tP04637\n"
    "1956\tEGFR\tepidermal growth factor receptor\tprotein-coding\tENSG00000146648\tP00533\n"
    "4609\tMYC\tMYC proto-oncogene\tprotein-coding\tENSG00000136997\tP01106\n"
    "3105\tHLA-A\tmajor histocompatibility complex, class I, A\tprotein-coding\tENSG00000206503|ENSG00000235657\t\n"
    "100\tADA\tadenosine deaminase\tprotein-coding\t\tP00813\n"
)
ALIASES = (
    "entrez_id\talias_symbol\n7157\tP53\n7157\tLFS1\n1956\tERBB\n1956\tERBB1\n4609\tMYCC\n999999\tGHOST\n"
)


@pytest.fixture
def id_map(tmp_path) -> pd.DataFrame:
    info = tmp_path / "gene_info.tsv.gz"
    info.write_bytes(gzip.compress(GENE_INFO.encode()))
    aliases = tmp_path / "aliases.tsv.gz"
    aliases.write_bytes(gzip.compress(ALIASES.encode()))
    return read_gene_id_map(info, aliases=aliases)


# --------------------------------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["ENSG00000141510.16", "ENSG00000146648", "ENSG00000002586.20_PAR_Y"], "ensembl"),
        (["9606.ENSP00000269305", "9606.ENSP00000275493"], "ensp"),
        (["ENSP00000269305"], "ensp"),
        (["7157", "1956", "4609"], "entrez"),
        (["P04637", "Q9UBS8", "O00231", "A0A024RBG1", "P04637-2"], "uniprot"),
        (["TP53", "H2AC11", "EGFR"], "symbol"),  # a histone symbol that also reads as a UniProt accession
        (["TP53", "HLA-A", "C1orf112", "MT-ND1", "7157"], "symbol"),
        (["1007_s_at", "1053_at", "117_at"], "unknown"),
        ([], "unknown"),
        (["TP53", "7157", "ENSG00000141510", "1007_s_at"], "unknown"),
    ],
)
def test_detect_gene_id_type(ids, expected):
    assert detect_gene_id_type(ids) == expected


def test_strip_ensembl_version_leaves_other_ids():
    assert strip_ensembl_version(["ENSG00000141510.16", "ENSG00000002586.20_PAR_Y", "TP53", "A.1"]) == [
        "ENSG00000141510",
        "ENSG00000002586",
        "TP53",
        "A.1",
    ]


# --------------------------------------------------------------------------------------------------- id maps


def test_read_gene_id_map_long_format(id_map):
    assert list(id_map.columns) == ["id", "id_type", "symbol"]
    rows = set(map(tuple, id_map.to_numpy()))
    assert ("7157", "entrez", "TP53") in rows
    assert ("ENSG00000235657", "ensembl", "HLA-A") in rows  # |-joined ids are split
    assert ("ERBB1", "alias", "EGFR") in rows
    assert ("TP53", "symbol", "TP53") in rows
    assert not any(r[0] == "GHOST" for r in rows)  # alias of an Entrez id absent from the table
    assert not any(r[0] == "" for r in rows)  # ADA has no Ensembl id


def test_read_two_column_biomart_table(tmp_path):
    path = tmp_path / "biomart.tsv"
    path.write_text("Gene stable ID\tGene name\nENSG00000141510\tTP53\nENSG00000146648\tEGFR\n")
    table = read_gene_id_map(path)
    assert table.to_dict("list") == {
        "id": ["ENSG00000141510", "ENSG00000146648"],
        "id_type": ["ensembl", "ensembl"],
        "symbol": ["TP53", "EGFR"],
    }


@pytest.mark.parametrize(
    "text",
    [
        "symbol\tensp\nTP53\tENSP00000269305\nEGFR\tENSP00000275493\n",  # named: symbol column first
        "gene\tprotein\nTP53\tENSP00000269305\nEGFR\tENSP00000275493\n",  # unnamed: symbols first, ids second
        "ensp\tpreferred_name\nENSP00000269305\tTP53\nENSP00000275493\tEGFR\n",  # the documented order
    ],
)
def test_two_column_map_points_to_its_symbol_column(tmp_path, text):
    path = tmp_path / "map.tsv"
    path.write_text(text)
    table = read_gene_id_map(path)
    assert dict(zip(table["id"], table["symbol"], strict=True)) == {
        "ENSP00000269305": "TP53",
        "ENSP00000275493": "EGFR",
    }
    expression = pd.DataFrame(np.ones((1, 2)), index=["s1"], columns=["ENSP00000269305", "TP53"])
    assert harmonize_gene_ids(expression, path).columns.tolist() == ["TP53"]  # never renames TP53 to its ENSP


def test_an_alias_table_is_not_an_id_map(tmp_path):
    path = tmp_path / "human_alias_to_entrez.tsv"
    path.write_text(ALIASES)
    with pytest.raises(
        InputError, match=r"human_alias_to_entrez\.tsv: column 'alias_symbol' holds aliases.*aliases="
    ):
        read_gene_id_map(path)


def test_aliases_need_the_ncbi_table(tmp_path):
    path = tmp_path / "biomart.tsv"
    path.write_text("Gene stable ID\tGene name\nENSG00000141510\tTP53\n")
    with pytest.raises(InputError, match="aliases need the NCBI gene table"):
        read_gene_id_map(path, aliases=path)


def test_one_column_id_map_is_rejected(tmp_path):
    path = tmp_path / "one.tsv"
    path.write_text("symbol\nTP53\nEGFR\n")
    with pytest.raises(InputError, match=r"one\.tsv parses as a single column"):
        read_gene_id_map(path)


# --------------------------------------------------------------------------------------------------- harmonise


def test_harmonize_mixed_ids_to_symbols(id_map, caplog):
    expression = pd.DataFrame(
        [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]],
        index=["s1", "s2"],
        columns=["ENSG00000141510.16", "1956", "MYCC", "ENSG00000206503", "ENSG00000235657.2", "NOVEL1"],
    )
    before = expression.copy()
    with caplog.at_level(logging.INFO, logger="organoidrx.io._identifiers"):
        result = harmonize_gene_ids(expression, id_map)
    pd.testing.assert_frame_equal(expression, before)
    assert list(result.columns) == ["TP53", "EGFR", "MYC", "HLA-A"]
    assert result["HLA-A"].tolist() == [4.5, 9.0]  # two Ensembl ids of one gene: mean
    assert result.loc["s2", "MYC"] == 6.0
    assert "1 of 6 gene ids have no unambiguous symbol" in caplog.text and "'NOVEL1'" in caplog.text


def test_par_y_copies_are_left_out_beside_their_x_copy(caplog):
    """GENCODE's ENSG..._PAR_Y rows (zeros in GDC files) must not halve the X copy's mean."""
    id_map = {"ENSG00000002586": "CD99", "ENSG00000141510": "TP53"}
    expression = pd.DataFrame(
        [[6.0, 0.0, 3.0], [4.0, 0.0, 5.0]],
        index=["s1", "s2"],
        columns=["ENSG00000002586.20", "ENSG00000002586.20_PAR_Y", "ENSG00000141510.18"],
    )
    with caplog.at_level(logging.INFO, logger="organoidrx"):
        result = harmonize_gene_ids(expression, id_map)
    assert result.to_dict("list") == {"CD99": [6.0, 4.0], "TP53": [3.0, 5.0]}
    assert "1 _PAR_Y gene ids" in caplog.text and "(all zero)" in caplog.text
    assert "left out (e.g." not in caplog.text  # not counted as unmapped


def test_a_missing_value_marker_is_no_gene_although_it_is_an_alias(caplog):
    """R writes 'NA' for an unmapped symbol; NCBI lists NA as an alias of XK: the row must not become XK."""
    expression = pd.DataFrame([[1.0, 2.0]], index=["s1"], columns=["NA", "TP53"])
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        result = harmonize_gene_ids(expression, {"NA": "XK", "TP53": "TP53"})
    assert result.columns.tolist() == ["TP53"]
    assert "1 of 2 gene ids have no unambiguous symbol" in caplog.text and "'NA'" in caplog.text


def test_harmonize_sum_for_counts(id_map):
    expression = pd.DataFrame([[1.0, 2.0]], index=["s1"], columns=["ENSG00000206503", "ENSG00000235657"])
    assert harmonize_gene_ids(expression, id_map, aggregate="sum")["HLA-A"].tolist() == [3.0]


def test_alias_does_not_merge_into_a_measured_gene(id_map, caplog):
    expression = pd.DataFrame([[1.0, 100.0]], index=["s1"], columns=["TP53", "P53"])
    with caplog.at_level(logging.INFO, logger="organoidrx.io._identifiers"):
        result = harmonize_gene_ids(expression, id_map)
    assert result.to_dict("list") == {"TP53": [1.0]}
    assert "outdated symbols" in caplog.text


def test_harmonize_accepts_a_plain_dict():
    expression = pd.DataFrame([[1.0, 2.0]], index=["s1"], columns=["a", "b"])
    result = harmonize_gene_ids(expression, {"a": "X", "b": "X"}, aggregate="max")
    assert result.to_dict("list") == {"X": [2.0]}


def test_harmonize_without_overlap_names_both_id_types(id_map):
    expression = pd.DataFrame([[1.0]], index=["s1"], columns=["1007_s_at"])
    with pytest.raises(InputError, match=r"none of the 1 gene ids of expression are in the id map.*unknown"):
        harmonize_gene_ids(expression, id_map)


def test_harmonize_bad_options(id_map):
    expression = pd.DataFrame([[1.0]], index=["s1"], columns=["TP53"])
    with pytest.raises(InputError, match="aggregate must be one of"):
        harmonize_gene_ids(expression, id_map, aggregate="mode")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="to must be 'symbol'"):
        harmonize_gene_ids(expression, id_map, to="entrez")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------- samples


def test_reconcile_case_and_punctuation(caplog):
    with caplog.at_level(logging.WARNING, logger="organoidrx.io._identifiers"):
        mapping = reconcile_sample_ids(
            ["P19A", "P10", "TCGA-AA-3510"], ["P19a", "P10", "tcga.aa.3510", "P99"], what="organoids"
        )
    assert mapping == {"P19a": "P19A", "P10": "P10", "tcga.aa.3510": "TCGA-AA-3510"}
    assert "organoids: 2 of 4 ids matched only ignoring case/punctuation" in caplog.text
    assert "'P19a'->'P19A'" in caplog.text
    assert "1 stayed unmatched (e.g. 'P99')" in caplog.text


def test_reconcile_exact_matches_are_silent(caplog):
    with caplog.at_level(logging.WARNING, logger="organoidrx.io._identifiers"):
        assert reconcile_sample_ids(["a", "b"], ["b"]) == {"b": "b"}
    assert caplog.text == ""


def test_reconcile_ambiguous_reference_raises():
    with pytest.raises(InputError, match=r"samples id 'p19a' matches 2 reference ids"):
        reconcile_sample_ids(["P19A", "P19-a"], ["p19a"])


def test_reconcile_two_others_on_one_reference_raises():
    with pytest.raises(InputError, match=r"receive several matches.*'P19A'"):
        reconcile_sample_ids(["P19A"], ["p19a", "P19.a"])


@pytest.mark.shared_data
def test_kong_ic50_organoids_all_match_expression(shared_data):
    expression = read_expression(
        shared_file(shared_data, "kong2020/organoid_coad/expression_gene_median.tsv")
    )
    ic50 = pd.read_csv(shared_file(shared_data, "kong2020/organoid_coad/ic50_median.tsv"), sep="\t")
    organoids = ic50["Organoid"].astype(str).unique()
    assert len(organoids) == 19
    mapping = reconcile_sample_ids(expression.index, organoids, what="organoids")
    assert len(mapping) == 19
    assert set(mapping.values()) <= set(expression.index)
    assert mapping["P19a"] == "P19A"


@pytest.mark.shared_data
def test_real_id_map_harmonises_organoid_symbols(shared_data):
    info = shared_file(shared_data, "idmap/human_gene_info_entrez_symbol_ensembl.tsv.gz")
    aliases = shared_file(shared_data, "idmap/human_alias_to_entrez.tsv.gz")
    id_map = read_gene_id_map(info, aliases=aliases)
    assert set(id_map["id_type"]) == {"symbol", "entrez", "ensembl", "uniprot", "alias"}
    tp53 = id_map[id_map["symbol"] == "TP53"]
    assert {"7157", "ENSG00000141510", "TP53"} <= set(tp53["id"])
    expression = read_expression(
        shared_file(shared_data, "kong2020/organoid_coad/expression_gene_median.tsv")
    )
    result = harmonize_gene_ids(expression, id_map)
    assert result.shape[0] == 22
    # Nearly every 2015 symbol is current or a resolvable alias.
    assert result.shape[1] > 0.99 * expression.shape[1]
    assert np.isfinite(result.to_numpy()).all()
    assert detect_gene_id_type(id_map.loc[id_map["id_type"] == "ensembl", "id"]) == "ensembl"


@pytest.mark.shared_data
def test_uniprot_accessions_map_to_the_symbols_beside_them(shared_data, caplog):
    """The organoid table lists each gene's UniProt accession beside its symbol: mapped through the NCBI table,
    the accessions give back those symbols."""
    id_map = read_gene_id_map(shared_file(shared_data, "idmap/human_gene_info_entrez_symbol_ensembl.tsv.gz"))
    table = pd.read_csv(
        shared_file(shared_data, "kong2020/organoid_coad/expression_gene_median.tsv"), sep="\t", nrows=3000
    )
    table = table[table["uniprotID"].notna() & ~table["uniprotID"].duplicated(keep=False)]
    assert detect_gene_id_type(table["uniprotID"]) == "uniprot"
    by_accession = pd.DataFrame([table["P10"].to_numpy()], columns=table["uniprotID"].to_numpy())
    with caplog.at_level("WARNING"):
        mapped = harmonize_gene_ids(by_accession, id_map)
    uniprot = id_map[id_map["id_type"] == "uniprot"].drop_duplicates("id", keep=False)
    symbol = table["uniprotID"].map(uniprot.set_index("id")["symbol"])
    # the others: symbols renamed since 2015, retired accessions
    assert (symbol == table["geneID"]).mean() > 0.8
    assert mapped.shape[1] > 0.9 * len(table)
    single = symbol.notna() & ~symbol.duplicated(keep=False)  # no other accession averaged into the symbol
    assert single.sum() > 0.8 * len(table)
    np.testing.assert_array_equal(
        mapped.iloc[0][symbol[single]].to_numpy(), table.loc[single, "P10"].to_numpy()
    )


def test_ambiguous_alias_resolves_only_to_its_suffixed_rename(caplog):
    id_map = pd.DataFrame(
        {
            "id": ["QARS1", "EPRS1", "QARS", "QARS", "NOV", "NOV"],
            "id_type": ["symbol", "symbol", "alias", "alias", "alias", "alias"],
            "symbol": ["QARS1", "EPRS1", "EPRS1", "QARS1", "CCN3", "PLXNA1"],
        }
    )
    expression = pd.DataFrame([[1.0, 2.0]], index=["s1"], columns=["QARS", "NOV"])
    with caplog.at_level(logging.WARNING, logger="organoidrx.io._identifiers"):
        result = harmonize_gene_ids(expression, id_map)
    assert result.to_dict("list") == {"QARS1": [1.0]}
    assert "'NOV'" in caplog.text


def test_an_id_shared_with_a_placeholder_or_a_read_through_is_the_genes():
    """NCBI lists ENSG00000086200 for IPO11 and the read-through IPO11-LRRC70, ENSG00000063587 for ZNF275 and the
    placeholder LOC105373378; ENSG00000099977 for DDT and DDTL, two genes, and stays unmapped."""
    id_map = pd.DataFrame(
        {
            "id": ["ENSG00000086200"] * 2 + ["ENSG00000063587"] * 2 + ["ENSG00000099977"] * 2 + ["ACE"] * 2
            + ["ENSG00000270011"] * 2 + ["ENSG00000188629"],
            "id_type": ["ensembl"] * 6 + ["alias"] * 2 + ["ensembl"] * 3,
            "symbol": ["IPO11", "IPO11-LRRC70", "LOC105373378", "ZNF275", "DDT", "DDTL", "ACE", "ACE-AS1",
                       "ZNF177", "ZNF559-ZNF177", "ZNF177"],
        }
    )  # fmt: skip
    # ENSG00000270011 is also listed for ZNF177, which has its own ENSG00000188629: it is the read-through's
    columns = ["ENSG00000086200.17", "ENSG00000063587", "ENSG00000099977", "ACE", "ENSG00000270011"]
    result = harmonize_gene_ids(pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 5.0]], columns=columns), id_map)
    # an alias keeps its own rule: ambiguous unless one candidate is it with a short suffix
    assert result.to_dict("list") == {"IPO11": [1.0], "ZNF275": [2.0]}
