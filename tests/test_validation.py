from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx._validation import as_expression_frame, as_gene_set_dict, check_overlap


def test_expression_duplicated_gene() -> None:
    frame = pd.DataFrame([[1.0, 2.0]], index=["s1"], columns=["MT-ND1", "MT-ND1"])
    with pytest.raises(InputError, match="duplicated gene ids"):
        as_expression_frame(frame)


def test_expression_labels_that_become_one_string_are_duplicates() -> None:
    """Labels are used as strings: a gene 1 and a gene "1" are one gene listed twice, never one dropped."""
    frame = pd.DataFrame([[1.0, 2.0, 3.0]], index=["s1"], columns=pd.Index([1, "1", "A"], dtype=object))
    with pytest.raises(InputError, match=r"1 duplicated gene ids \(first: '1'\)"):
        as_expression_frame(frame)
    samples = pd.DataFrame([[1.0], [2.0]], index=pd.Index([7, "7"], dtype=object), columns=["A"])
    with pytest.raises(InputError, match="duplicated sample ids"):
        as_expression_frame(samples)


def test_expression_inf_and_copy() -> None:
    frame = pd.DataFrame([[1.0, np.inf]], index=["s1"], columns=["A", "B"])
    with pytest.raises(InputError, match="infinite"):
        as_expression_frame(frame)
    ok = pd.DataFrame([[1, 2]], index=["s1"], columns=["A", "B"])
    out = as_expression_frame(ok)
    out.iloc[0, 0] = 9
    assert ok.iloc[0, 0] == 1


def test_gene_sets_from_long_table_and_dict() -> None:
    long = pd.DataFrame({"pathway": ["P", "P", "Q", "P"], "gene": ["a", "b", "c", "a"]})
    assert as_gene_set_dict(long) == {"P": ["a", "b"], "Q": ["c"]}
    assert as_gene_set_dict({"P": ("x",)}) == {"P": ["x"]}
    with pytest.raises(InputError, match="single string"):
        as_gene_set_dict({"P": "abc"})


def test_check_overlap_message() -> None:
    with pytest.raises(InputError, match="only 0 of 1 genes"):
        check_overlap(["ENSG00000141510"], ["TP53"], what="genes", where="the expression matrix")


def test_restrict_gene_sets_reports_drops(caplog) -> None:
    from organoidrx._validation import restrict_gene_sets

    sets = {"A": ["g1", "g2", "g3"], "B": ["g1", "x"], "C": ["g1", "g2", "g3", "g4"]}
    with caplog.at_level("INFO", logger="organoidrx"):
        kept, report = restrict_gene_sets(sets, ["g1", "g2", "g3", "g4"], min_size=2, max_size=3, where="E")
    assert "gene_sets: 1 of 5 distinct genes of the gene sets are not in E (e.g. 'x')" in caplog.text
    assert kept == {"A": ["g1", "g2", "g3"]}
    assert report.set_index("pathway")["reason"].to_dict() == {
        "A": "",
        "B": "fewer than min_size",
        "C": "more than max_size",
    }
    with pytest.raises(InputError, match="no gene set"):
        restrict_gene_sets(sets, ["ENSG1"], min_size=1)


def test_names_that_differ_only_in_case_are_named_as_the_cause():
    from organoidrx._validation import id_mismatch_hint

    hint = id_mismatch_hint(
        ["TP53", "EGFR", "MYC"], ["Tp53", "Egfr", "Myc", "Kras"], what="the sets", where="x.tsv"
    )
    assert "match when case is ignored" in hint
    assert (
        id_mismatch_hint(["TP53", "EGFR", "MYC"], ["TP53", "EGFR", "KRAS"], what="the sets", where="x.tsv")
        == ""
    )
