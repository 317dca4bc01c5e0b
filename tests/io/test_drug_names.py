"""Drug-name resolution: built-in synonyms, DrugBank vocabulary, close matches, combinations and regimens."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.io import DrugNameResolver, normalize_drug_key, normalize_drug_names
from organoidrx.io._drug_names import cell_drug_keys, drug_keys, match_drugs

from ..conftest import shared_file


def test_normalize_drug_key_ignores_case_space_punctuation_and_accents() -> None:
    assert {normalize_drug_key(n) for n in ["5-FU", "5 FU", "5- FU", "5fu", " 5.F.U "]} == {"5FU"}
    assert normalize_drug_key("Tramétinib") == "TRAMETINIB"


@pytest.mark.parametrize(
    ("name", "canonical", "method"),
    [
        ("FLUOROURACIL", "FLUOROURACIL", "exact"),
        ("fluorouracil", "FLUOROURACIL", "exact"),
        ("5-FU", "FLUOROURACIL", "synonym"),
        ("5 FU", "FLUOROURACIL", "synonym"),
        ("5-Fluorouracil", "FLUOROURACIL", "synonym"),
        ("Adrucil", "FLUOROURACIL", "synonym"),
        ("CDDP", "CISPLATIN", "synonym"),
        ("Platinol", "CISPLATIN", "synonym"),
        ("cisplatinum", "CISPLATIN", "synonym"),
        ("Gemzar", "GEMCITABINE", "synonym"),
        ("Eloxatin", "OXALIPLATIN", "synonym"),
        ("CPT-11", "IRINOTECAN", "synonym"),
        ("Irinotecan HCl", "IRINOTECAN", "synonym"),
        ("Xeloda", "CAPECITABINE", "synonym"),
        ("Folinic acid", "LEUCOVORIN", "synonym"),
        ("Leucovorin Calcium", "LEUCOVORIN", "synonym"),
        ("Erbitux", "CETUXIMAB", "synonym"),
        ("Avastin", "BEVACIZUMAB", "synonym"),
        ("Adriamycin (Doxorubicin)", "DOXORUBICIN", "synonym"),
        ("GSK1120212/Tramatenib", "TRAMETINIB", "synonym"),
        ("Gemcitibine", "GEMCITABINE", "close_match"),
    ],
)
def test_builtin_table_resolves_common_oncology_names(name: str, canonical: str, method: str) -> None:
    table = DrugNameResolver().resolve([name])
    assert table.to_dict("records") == [{"name": name, "canonical": canonical, "method": method}]


def test_close_match_warns_with_the_suggestion(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        DrugNameResolver().resolve(["Gemcitibine"])
    assert "'Gemcitibine'" in caplog.text and "GEMCITABINE" in caplog.text and "close match" in caplog.text


def test_unknown_name_is_returned_unresolved_and_listed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        table = DrugNameResolver().resolve(["Cisplatin", "Zorblaxium", None])
    assert table["name"].tolist()[:2] == ["Cisplatin", "Zorblaxium"]  # nothing dropped, order kept
    assert table["method"].tolist() == ["exact", "unresolved", "unresolved"]
    assert table["canonical"].isna().tolist() == [False, True, True]
    assert "1 drug names could not be resolved: 'Zorblaxium'" in caplog.text


def test_short_codes_and_combinations_never_resolve_by_close_match() -> None:
    table = DrugNameResolver().resolve(["5FC", "Cisplatin/Foo"])
    assert table["method"].tolist() == ["unresolved", "unresolved"]


def test_user_synonyms_take_precedence_and_are_validated() -> None:
    resolver = DrugNameResolver({"Mayo 425-20": "FLUOROURACIL", "5-FU": "MY 5FU"})
    assert resolver.resolve(["mayo 425/20", "5-FU"])["canonical"].tolist() == ["FLUOROURACIL", "MY 5FU"]
    frame = pd.DataFrame({"canonical": ["X1"], "synonym": ["compound x"]})
    assert DrugNameResolver(frame).resolve(["Compound-X"])["canonical"].tolist() == ["X1"]
    with pytest.raises(InputError, match=r"synonyms must have columns 'canonical' and 'synonym'"):
        DrugNameResolver(pd.DataFrame({"name": ["a"]}))


def test_resolution_does_not_depend_on_order() -> None:
    names = ["Gemcitibine", "5 FU", "Xeloda", "nonsense-drug", "CDDP"]
    forward = DrugNameResolver().resolve(names).set_index("name")
    backward = DrugNameResolver().resolve(names[::-1]).set_index("name")
    pd.testing.assert_frame_equal(forward, backward.loc[names])


def test_components_split_combinations_and_expand_regimens() -> None:
    table = DrugNameResolver().components(
        ["FOLFOX", "Oxaliplatinum+ 5-FU", "Irinotecan + Cetuximab", "Xeloda", "Mayo 425-20"]
    )
    by_name = table.groupby("name")["canonical"].apply(sorted).to_dict()
    assert by_name == {
        "FOLFOX": ["FLUOROURACIL", "LEUCOVORIN", "OXALIPLATIN"],
        "Oxaliplatinum+ 5-FU": ["FLUOROURACIL", "OXALIPLATIN"],
        "Irinotecan + Cetuximab": ["CETUXIMAB", "IRINOTECAN"],
        "Xeloda": ["CAPECITABINE"],
        "Mayo 425-20": ["FLUOROURACIL", "LEUCOVORIN"],  # the Mayo Clinic 5-FU + leucovorin regimen
    }
    assert set(table.loc[table["name"] == "FOLFOX", "method"]) == {"regimen"}


def test_cell_drug_keys_name_every_drug_of_a_combination_or_regimen(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        keys = cell_drug_keys(
            DrugNameResolver(),
            ["5-FU", "FOLFOX", "Oxaliplatin, 5-Fluorouracil", "DRUG_X + Leucovorin", "DRUG_X"],
        )
    assert keys == {
        "5-FU": {"FLUOROURACIL"},
        "FOLFOX": {"FLUOROURACIL", "LEUCOVORIN", "OXALIPLATIN"},
        "Oxaliplatin, 5-Fluorouracil": {"FLUOROURACIL", "OXALIPLATIN"},
        "DRUG_X + Leucovorin": {normalize_drug_key("DRUG_X"), "LEUCOVORIN"},  # unknown parts: their spelling
        "DRUG_X": {normalize_drug_key("DRUG_X")},
    }
    assert "could not be resolved" not in caplog.text  # matched by spelling, reported by the caller
    assert cell_drug_keys(DrugNameResolver(), []) == {}


def test_normalize_drug_names_shortcut() -> None:
    table = normalize_drug_names(["5-fu", "Gemzar"])
    assert list(table.columns) == ["name", "canonical", "method"]
    assert table["canonical"].tolist() == ["FLUOROURACIL", "GEMCITABINE"]


def test_drugbank_vocabulary_extends_the_tables(tmp_path: Path) -> None:
    vocabulary = tmp_path / "drugbank_vocabulary.csv"
    vocabulary.write_text(
        "DrugBank ID,Accession Numbers,Common name,CAS,UNII,Synonyms,Standard InChI Key\n"
        'DB00544,APRD00516,Fluorouracil,51-21-8,U3P01618RT,"5-Fluoracil | Fluouracil | FU",\n'
        "DB99999,X,Zorblaxium,1-1-1,U,Zorblax | ZBX-1,\n"
    )
    resolver = DrugNameResolver(drugbank=vocabulary)
    table = resolver.resolve(["ZBX-1", "Fluouracil", "zorblaxium"])
    assert table["canonical"].tolist() == ["ZORBLAXIUM", "FLUOROURACIL", "ZORBLAXIUM"]
    assert table["method"].tolist() == ["drugbank", "drugbank", "drugbank"]


def test_drugbank_file_without_common_name_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "vocab.csv"
    bad.write_text("id,name\n1,aspirin\n")
    with pytest.raises(InputError, match=r"vocab\.csv: a DrugBank vocabulary needs a 'Common name' column"):
        DrugNameResolver(drugbank=bad).resolve(["unknownium"])


def test_bad_cutoff_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"close_match_cutoff must be in \(0, 1\]; got 1.5"):
        DrugNameResolver(close_match_cutoff=1.5)


@pytest.mark.shared_data
def test_organoid_screen_names_map_onto_drug_target_names(shared_data: Path) -> None:
    """GDSC-style organoid names ('5-Fluorouracil', '17-AAG', 'Gemcitibine') reach the drug-target table's names."""
    ic50 = pd.read_csv(shared_file(shared_data, "kong2020/organoid_coad/ic50_median.tsv"), sep="\t")
    targets = pd.read_csv(shared_file(shared_data, "kong2020/drug_targets.tsv"), sep="\t")
    target_names = {n.strip() for cell in targets["drugs"] for n in cell.split(",")}
    resolved = DrugNameResolver().resolve(sorted(ic50["Drug Name"].unique())).set_index("name")["canonical"]
    for organoid_name, canonical in {
        "5-Fluorouracil": "FLUOROURACIL",
        "Gemcitibine": "GEMCITABINE",
        "17-AAG": "TANESPIMYCIN",
        "ABT-263": "NAVITOCLAX",
        "PD-0332991": "PALBOCICLIB",
        "GSK1120212/Tramatenib": "TRAMETINIB",
        "INCB-18424/Ruxolitinib": "RUXOLITINIB",
        "XAV 939": "XAV939",
        "Obatoclax Mesylate": "OBATOCLAX MESYLATE",
    }.items():
        assert resolved[organoid_name] == canonical
        assert canonical in target_names
    # the organoid screen has no doxorubicin, erlotinib, methotrexate, selumetinib, veliparib or vinblastine
    missing = target_names - set(resolved.dropna())
    assert missing == {"DOXORUBICIN", "ERLOTINIB", "METHOTREXATE", "SELUMETINIB", "VELIPARIB", "VINBLASTINE"}
    assert resolved.get("JNK Inhibitor VIII") is None or pd.isna(resolved["JNK Inhibitor VIII"])


@pytest.mark.shared_data
def test_real_drugbank_vocabulary_resolves_tcga_spellings(shared_data: Path) -> None:
    vocabulary = shared_file(shared_data, "kong2020/drugbank_vocabulary.csv")
    resolver = DrugNameResolver(drugbank=vocabulary)
    table = resolver.resolve(["Fluouracil", "Camptothecin-11", "fosaprepitant", "Camptosar"])
    assert table["canonical"].tolist() == ["FLUOROURACIL", "IRINOTECAN", "FOSAPREPITANT", "IRINOTECAN"]
    assert table["method"].tolist() == ["drugbank", "drugbank", "drugbank", "synonym"]


def test_match_drugs_prefers_the_exact_spelling_and_refuses_ambiguity():
    resolver = DrugNameResolver()
    available = ["DRUG A", "DRUG_A", "5-FU"]
    wanted = drug_keys(resolver, ["DRUG_A", "DRUG A", "fluorouracil"])
    matched = match_drugs(wanted, available, resolver, where="ic50.tsv")
    assert matched == {"DRUG_A": "DRUG_A", "DRUG A": "DRUG A", "fluorouracil": "5-FU"}
    with pytest.raises(InputError, match=r"ic50\.tsv: drug 'drug-a' from \[drugs\] names matches 2 drugs"):
        match_drugs(drug_keys(resolver, ["drug-a"]), available, resolver, where="ic50.tsv")
    # a spelling nobody asked for is never left out silently: the rows under it would be lost
    with pytest.raises(InputError, match=r"ic50\.tsv: drug 'DRUG_A' is also written 'DRUG A' in this table"):
        match_drugs(drug_keys(resolver, ["DRUG_A"]), available, resolver, where="ic50.tsv")
