"""read_network: edge tables, STRING downloads with id maps, thresholds, cleaning counts, components, fuzzing."""

from __future__ import annotations

import gzip
import logging
import string
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organoidrx._utils import InputError
from organoidrx.io import read_network
from organoidrx.io._tables import NA_VALUES

from ..conftest import shared_file


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _edge_set(network: pd.DataFrame) -> set[tuple[str, str, float]]:
    return {(a, b, s) for a, b, s in network.itertuples(index=False)}


# A hand-checkable table: one reversed duplicate (max score kept), one self-loop, one missing id, one edge exactly at
# the threshold (dropped: the rule is strictly greater), and a separate two-node component.
EDGES = (
    "A\tB\tSCORE\n"
    "TP53\tMDM2\t900\n"
    "MDM2\tTP53\t950\n"
    "TP53\tTP53\t999\n"
    "EGFR\t\t800\n"
    "EGFR\tGRB2\t700\n"
    "EGFR\tTP53\t701\n"
    "KRAS\tBRAF\t999\n"
)


# --------------------------------------------------------------------------------------------------- edge tables
def test_hand_checked_cleaning_counts(tmp_path, caplog):
    path = _write(tmp_path / "edges.tsv", EDGES)
    with caplog.at_level(logging.INFO, logger="organoidrx"):
        network = read_network(path, edge_columns=("A", "B", "SCORE"), min_score=700)
    assert list(network.columns) == ["gene_a", "gene_b", "score"]
    assert _edge_set(network) == {("MDM2", "TP53", 950.0), ("EGFR", "TP53", 701.0), ("BRAF", "KRAS", 999.0)}
    assert network["gene_a"].tolist() == ["MDM2", "EGFR", "BRAF"]  # first appearance, gene_a < gene_b
    summary = network.attrs["summary"]
    expected = {
        "edges_read": 7,
        "missing_id": 1,
        "below_threshold": 1,
        "self_loops": 1,
        "duplicates": 1,
        "unmapped": 0,
        "nodes": 5,
        "edges": 3,
    }
    assert {k: summary[k] for k in expected} == expected
    assert "missing gene id" in caplog.text and "self-loops 1" in caplog.text


def test_missing_markers_and_nothing_left(tmp_path):
    path = _write(tmp_path / "na.tsv", "A\tB\nTP53\tNA\nNULL\tMDM2\nEGFR\tEGFR\nKRAS\tBRAF\n")
    network = read_network(path, edge_columns="A,B")
    assert network.attrs["summary"]["missing_id"] == 2
    assert network[["gene_a", "gene_b"]].values.tolist() == [["BRAF", "KRAS"]]
    assert network.attrs["summary"]["self_loops"] == 1
    only_loops = _write(tmp_path / "loops.tsv", "A\tB\nTP53\tNA\nEGFR\tEGFR\n")
    with pytest.raises(InputError, match=r"loops\.tsv: no edge is left after cleaning .*1 self-loops"):
        read_network(only_loops, edge_columns="A,B")


def test_an_edge_without_its_score_is_said_and_a_header_alone_is_no_network(tmp_path, caplog):
    short = _write(tmp_path / "s.tsv", "A\tB\tSCORE\nTP53\tMDM2\t900\nEGFR\tGRB2\t\nKRAS\tBRAF\t999\n")
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        network = read_network(short, edge_columns="A,B,SCORE", min_score=700)
    assert len(network) == 2 and network.attrs["summary"]["missing_score"] == 1
    assert "s.tsv: 1 edges have no SCORE (first: EGFR-GRB2 at data row 2); they are dropped" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        assert len(read_network(short, edge_columns="A,B,SCORE", min_score=-1)) == 3
    assert "they are kept (no threshold)" in caplog.text
    header = _write(tmp_path / "h.tsv", "A\tB\tSCORE\n")
    with pytest.raises(
        InputError, match=r"h\.tsv: has a header but no edge; give a file with one edge per row"
    ):
        read_network(header, edge_columns="A,B,SCORE", min_score=700)


def test_largest_component_by_hand(tmp_path):
    network = read_network(
        _write(tmp_path / "e.tsv", EDGES), edge_columns="A,B,SCORE", largest_component=True
    )
    assert set(network["gene_a"]) | set(network["gene_b"]) == {"TP53", "MDM2", "EGFR", "GRB2"}
    assert network.attrs["summary"]["outside_lcc_nodes"] == 2
    assert network.attrs["summary"]["outside_lcc_edges"] == 1


def test_no_threshold_keeps_edges_at_any_score_and_no_score_gives_nan(tmp_path):
    path = _write(tmp_path / "e.tsv", EDGES)
    assert len(read_network(path, edge_columns=("A", "B", "SCORE"))) == 4
    unscored = read_network(path, edge_columns=("a", "b"))  # case-insensitive column names
    assert unscored["score"].isna().all()
    assert len(unscored) == 4


def test_edge_order_does_not_change_the_network(tmp_path):
    lines = EDGES.splitlines()
    rng = np.random.default_rng(0)
    shuffled = [lines[0], *(lines[1:][i] for i in rng.permutation(len(lines) - 1))]
    first = read_network(_write(tmp_path / "a.tsv", EDGES), edge_columns="A,B,SCORE")
    second = read_network(_write(tmp_path / "b.tsv", "\n".join(shuffled) + "\n"), edge_columns="A,B,SCORE")
    assert _edge_set(first) == _edge_set(second)


@pytest.mark.parametrize(
    ("header", "expected_columns"),
    [
        (
            "entrez_1\tentrez_2\tsymbol_1\tsymbol_2\tcombined_score",
            ["symbol_1", "symbol_2", "combined_score"],
        ),
        ("EntrezA\tEntrezB\tsymbolA\tsymbolB", ["symbolA", "symbolB", None]),
        ("gene_a,gene_b,score", ["gene_a", "gene_b", "score"]),
        (
            "#node1\tnode2\tnode1_string_id\tnode2_string_id\tcombined_score",
            ["#node1", "node2", "combined_score"],
        ),
    ],
    ids=["dmfind-string", "interactome", "own-csv", "string-web-export"],
)
def test_known_tables_are_recognised(tmp_path, header, expected_columns):
    sep = "," if "," in header else "\t"
    n = len(header.split(sep))
    rows = [["1", "2", "TP53", "MDM2", "950"][:n]] if n >= 4 else [["TP53", "MDM2", "950"]]
    if header.startswith("#node1"):
        rows = [["TP53", "MDM2", "9606.ENSP1", "9606.ENSP2", "0.95"]]
    path = _write(tmp_path / "net.txt", header + "\n" + "\n".join(sep.join(r) for r in rows) + "\n")
    network = read_network(path)
    assert network.attrs["summary"]["columns"] == expected_columns
    assert network[["gene_a", "gene_b"]].values.tolist() == [["MDM2", "TP53"]]


# --------------------------------------------------------------------------------------------------- STRING
LINKS = (
    "protein1 protein2 combined_score\n"
    "9606.ENSP00000000001 9606.ENSP00000000002 999\n"
    "9606.ENSP00000000002 9606.ENSP00000000001 999\n"
    "9606.ENSP00000000001 9606.ENSP00000000003 650\n"
    "9606.ENSP00000000003 9606.ENSP00000000004 800\n"
    "9606.ENSP00000000004 9606.ENSP00000000005 720\n"
    "9606.ENSP00000000005 9606.ENSP00000000009 990\n"
)
INFO = (
    "#string_protein_id\tpreferred_name\tprotein_size\tannotation\n"
    "9606.ENSP00000000001\tTP53\t393\ttumour protein p53\n"
    "9606.ENSP00000000002\tMDM2\t491\tE3 ubiquitin ligase\n"
    "9606.ENSP00000000003\tEGFR\t1210\treceptor\n"
    "9606.ENSP00000000004\tGRB2\t217\tadaptor\n"
    "9606.ENSP00000000005\tGRB2\t217\tsecond isoform mapped to the same gene\n"
)
EXPECTED_STRING = {("MDM2", "TP53", 999.0), ("EGFR", "GRB2", 800.0)}


def test_string_links_with_protein_info(tmp_path, caplog):
    links = _write(tmp_path / "9606.protein.links.v12.0.txt.gz", LINKS)
    info = _write(tmp_path / "9606.protein.info.v12.0.txt.gz", INFO)
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        network = read_network(links, protein_info=info, min_score=700)
    assert _edge_set(network) == EXPECTED_STRING
    summary = network.attrs["summary"]
    # ENSP...9 is not in protein.info; ENSP...4 and ENSP...5 both map to GRB2 and become a self-loop.
    assert (
        summary["unmapped"],
        summary["self_loops"],
        summary["duplicates"],
        summary["below_threshold"],
    ) == (
        1,
        1,
        1,
        1,
    )
    assert "ENSP00000000009" in caplog.text


def test_string_detailed_file_with_aliases(tmp_path):
    detailed = LINKS.replace("combined_score", "neighborhood fusion experimental combined_score")
    detailed = "\n".join(
        line if i == 0 else " ".join([*line.split()[:2], "0", "0", "100", line.split()[2]])
        for i, line in enumerate(detailed.strip().split("\n"))
    )
    links = _write(tmp_path / "9606.protein.links.detailed.v12.0.txt", detailed + "\n")
    aliases = _write(
        tmp_path / "9606.protein.aliases.v12.0.txt",
        "#string_protein_id\talias\tsource\n"
        "9606.ENSP00000000001\tP53_HUMAN\tUniProt_ID\n"
        "9606.ENSP00000000001\tTP53\tEnsembl_HGNC_symbol\n"
        "9606.ENSP00000000002\tMDM2\tBioMart_HUGO Ensembl_HGNC_symbol\n"
        "9606.ENSP00000000003\tERBB1\tUniProt_GN_Synonyms\n"
        "9606.ENSP00000000003\tEGFR\tBioMart_HUGO\n"
        "9606.ENSP00000000004\tGRB2\tEnsembl_HGNC_symbol\n"
        "9606.ENSP00000000005\tGRB2\tEnsembl_HGNC_symbol\n",
    )
    network = read_network(links, id_map=aliases, min_score=700)
    assert _edge_set(network) == EXPECTED_STRING


def test_aliases_without_symbol_source_fall_back_with_a_warning(tmp_path, caplog):
    links = _write(tmp_path / "links.txt", "protein1 protein2 combined_score\n9606.ENSP1 9606.ENSP2 900\n")
    aliases = _write(
        tmp_path / "aliases.txt",
        "#string_protein_id\talias\tsource\n9606.ENSP1\tP04637\tUniProt_AC\n9606.ENSP2\tMDM2\tBioMart_HUGO\n",
    )
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        network = read_network(links, id_map=aliases)
    assert network[["gene_a", "gene_b"]].values.tolist() == [["MDM2", "P04637"]]
    assert "1 proteins have no alias from a gene-symbol source" in caplog.text


def test_two_column_map_without_taxon_prefix_in_either_orientation(tmp_path):
    links = _write(tmp_path / "links.txt", LINKS)
    rows = [line.split("\t")[:2] for line in INFO.strip().split("\n")[1:]]
    symbol_first = "symbol\tensp\n" + "".join(f"{s}\t{e.removeprefix('9606.')}\n" for e, s in rows)
    network = read_network(links, id_map=_write(tmp_path / "map.tsv", symbol_first), min_score=700)
    assert _edge_set(network) == EXPECTED_STRING
    as_dict = {e: s for e, s in rows}
    assert _edge_set(read_network(links, id_map=as_dict, min_score=700)) == EXPECTED_STRING


def test_an_id_with_several_symbols_is_named_by_the_first_with_a_warning(tmp_path, caplog):
    links = _write(tmp_path / "links.txt", "entrez_1 entrez_2\n1 2\n2 3\n3 4\n")
    id_map = _write(tmp_path / "map.tsv", "id\tname\n1\tTP53\n2\tMDM2\n3\tH4C1\n3\tH4C2\n4\tEGFR\n")
    with caplog.at_level(logging.WARNING, logger="organoidrx"):
        network = read_network(links, id_map=id_map)
    assert network[["gene_a", "gene_b"]].values.tolist() == [
        ["MDM2", "TP53"],
        ["H4C1", "MDM2"],
        ["EGFR", "H4C1"],
    ]
    assert (
        "1 network ids have several symbols; each is named by the first (e.g. 3 -> H4C1, H4C2: H4C1)"
        in caplog.text
    )


def test_a_map_giving_most_ids_several_names_is_refused(tmp_path):
    """An alias table (entrez -> every alias) would rename the network to arbitrary aliases and merge genes."""
    links = _write(tmp_path / "links.txt", "entrez_1 entrez_2\n7157 4193\n4193 1956\n")
    aliases = "entrez\tname\n7157\tP53\n7157\tLFS1\n4193\tHDMX\n4193\tMDM2\n1956\tERBB\n"
    with pytest.raises(
        InputError, match=r"2 of the 3 network ids it maps have several symbols \(e\.g\. 7157 -> P53, LFS1\)"
    ):
        read_network(links, id_map=_write(tmp_path / "map.tsv", aliases))
    named = aliases.replace("entrez\tname", "entrez_id\talias_symbol")
    with pytest.raises(InputError, match="column 'alias_symbol' holds aliases"):
        read_network(links, id_map=_write(tmp_path / "alias.tsv", named))


def test_gene_id_map_table_with_id_and_symbol_columns(tmp_path):
    # The shape returned by organoidrx.io.read_gene_id_map: id, id_type, symbol.
    rows = [line.split("\t")[:2] for line in INFO.strip().split("\n")[1:]]
    table = pd.DataFrame({"id": [e for e, _ in rows], "id_type": "ensp", "symbol": [s for _, s in rows]})
    network = read_network(_write(tmp_path / "links.txt", LINKS), id_map=table, min_score=700)
    assert _edge_set(network) == EXPECTED_STRING


# --------------------------------------------------------------------------------------------------- malformed
@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("A\tB\nTP53\tMDM2\n", {"edge_columns": ("X", "B")}, r"has no column 'X' named in edge_columns"),
        (
            "A\tB\tS\nTP53\tMDM2\thigh\n",
            {"edge_columns": "A,B,S"},
            r"non-numeric values \(first 'high' at data row 1",
        ),
        ("A\tB\tS\nTP53\tMDM2\t500\n", {"edge_columns": "A,B,S", "min_score": 700}, r"no edge has S > 700"),
        (
            "A\tB\nTP53\tMDM2\n",
            {"edge_columns": "A,B", "min_score": 700},
            r"min_score=700 needs a score column.*keep every edge with min_score = -1 \(--min-score -1\)",
        ),
        ("foo\tbar\nTP53\tMDM2\n", {}, r"cannot tell which columns hold the two genes.*--edge-columns"),
        ("", {}, r"is empty"),
        (
            "protein1 protein2 combined_score\n9606.ENSP1 9606.ENSP2 900\n",
            {},
            r"STRING protein ids.*as --id-map, \[network\] id_map or id_map=",
        ),
        ("A\tB\nTP53\tMDM2\n", {"edge_columns": "A"}, r"edge_columns must name two or three columns"),
    ],
    ids=[
        "missing-column",
        "non-numeric-score",
        "all-below-threshold",
        "threshold-without-score",
        "unknown-columns",
        "empty-file",
        "string-ids-without-map",
        "one-column",
    ],
)
def test_malformed_network_names_file_and_problem(tmp_path, content, kwargs, message):
    path = _write(tmp_path / "broken_net.tsv", content)
    with pytest.raises(InputError, match=message) as info:
        read_network(path, **kwargs)
    if "edge_columns must" not in message:
        assert "broken_net.tsv" in str(info.value)


def test_negative_threshold_keeps_every_edge_with_or_without_scores(tmp_path):
    """A negative min_score (a config's ``min_score = -1``, ``--min-score -1``) keeps every edge."""
    unscored = _write(tmp_path / "unscored.tsv", "A\tB\nTP53\tMDM2\nEGFR\tGRB2\n")
    assert len(read_network(unscored, edge_columns="A,B", min_score=-1)) == 2
    scored = _write(tmp_path / "scored.tsv", "A\tB\tS\nTP53\tMDM2\t0\nEGFR\tGRB2\t-3\n")
    assert len(read_network(scored, edge_columns="A,B,S", min_score=-1)) == 2
    assert len(read_network(scored, edge_columns="A,B,S", min_score=None)) == 2


def test_unknown_ensp_ids_with_no_mapping(tmp_path):
    links = _write(tmp_path / "links.txt", LINKS)
    other = _write(tmp_path / "other_map.tsv", "ensp\tsymbol\nENSP99999999999\tXYZ\n")
    with pytest.raises(InputError, match=r"links\.txt: none of the network ids .*other_map\.tsv"):
        read_network(links, id_map=other)


def test_corrupt_gzip_is_an_input_error(tmp_path):
    path = tmp_path / "net.tsv.gz"
    path.write_bytes(gzip.compress(EDGES.encode())[:30])
    with pytest.raises(InputError, match=r"net\.tsv\.gz"):
        read_network(path, edge_columns="A,B,SCORE")


# --------------------------------------------------------------------------------------------------- real data
@pytest.mark.shared_data
def test_string_pre_v12_above_700(shared_data):
    path = shared_file(
        shared_data,
        "networks/string_dmfind/string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz",
    )
    network = read_network(path, min_score=700)
    assert len(network) == 161_894
    assert network.attrs["summary"]["nodes"] == 11_883
    assert network["score"].min() > 700
    lcc = read_network(path, min_score=700, largest_component=True)
    assert lcc.attrs["summary"]["nodes"] == 11_508
    # Reference: networkx on the unreduced table.
    graph = nx.from_pandas_edgelist(network, "gene_a", "gene_b")
    assert max(len(c) for c in nx.connected_components(graph)) == 11_508


@pytest.mark.shared_data
def test_interactome_loads_without_self_loops(shared_data):
    path = shared_file(shared_data, "networks/interactome_2017/HumanInteractome_v2017_entrez_symbol.tsv.gz")
    by_entrez = read_network(path, edge_columns=("EntrezA", "EntrezB"), largest_component=True)
    # MANIFEST: 346,330 unique undirected non-self edges; 17,706 genes, of which 44 occur only in the 5,114
    # self-loops (checked with pandas on the raw columns); LCC 17,651 genes.
    summary = by_entrez.attrs["summary"]
    assert summary["self_loops"] == 5_114
    assert len(by_entrez) + summary["outside_lcc_edges"] == 346_330
    assert summary["nodes"] + summary["outside_lcc_nodes"] == 17_706 - 44
    assert summary["nodes"] == 17_651
    by_symbol = read_network(path)
    assert by_symbol.attrs["summary"]["columns"][:2] == ["symbolA", "symbolB"]
    assert (by_symbol["gene_a"] != by_symbol["gene_b"]).all()


@pytest.mark.shared_data
def test_string_v12_physical_with_ensp_map(shared_data):
    path = shared_file(
        shared_data, "networks/string_v12_physical900/string_v12_physical_ge900_ensp_symbol.tsv.gz"
    )
    id_map = shared_file(shared_data, "networks/string_v12_physical900/string_v12_ensp_to_symbol.tsv")
    network = read_network(path, id_map=id_map)
    summary = network.attrs["summary"]
    assert summary["columns"][:2] == ["protein1", "protein2"]
    assert summary["edges_read"] == 44_931
    assert summary["edges"] + summary["unmapped"] + summary["self_loops"] + summary["duplicates"] == 44_931
    assert network["gene_a"].str.startswith("ENSP").sum() == 0
    # The map holds one ENSP per symbol, so 694 proteins of the network (8,221 edges) have no symbol.
    assert (summary["edges"], summary["nodes"], summary["unmapped"]) == (36_710, 7_871, 8_221)


# --------------------------------------------------------------------------------------------------- fuzzing
# The missing-value strings ("NA", "NULL", "-", ...) are read as missing ids; test_missing_markers covers them.
_GENE = st.text(alphabet=string.ascii_uppercase + string.digits + "-", min_size=1, max_size=6).filter(
    lambda g: g not in NA_VALUES
)
_EDGES = st.lists(st.tuples(_GENE, _GENE, st.integers(0, 999)), min_size=1, max_size=30)


def _slow_reference(edges: list[tuple[str, str, int]], min_score: int) -> set[tuple[str, str, float]]:
    best: dict[tuple[str, str], float] = {}
    for a, b, s in edges:
        if a == b or not s > min_score:
            continue
        key = (min(a, b), max(a, b))
        best[key] = max(best.get(key, -np.inf), float(s))
    return {(a, b, s) for (a, b), s in best.items()}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edges=_EDGES, min_score=st.integers(0, 999))
def test_random_edge_tables_match_a_slow_reference(tmp_path, edges, min_score):
    path = tmp_path / "random.tsv"
    path.write_text("A\tB\tW\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in edges))
    expected = _slow_reference(edges, min_score)
    try:
        network = read_network(path, edge_columns="A,B,W", min_score=min_score)
    except InputError as exc:
        assert not expected, exc
        return
    assert _edge_set(network) == expected
    assert (network["gene_a"] < network["gene_b"]).all()
    assert network.attrs["summary"]["edges"] == len(expected)


_JUNK = st.lists(
    st.one_of(
        st.text(max_size=10),
        st.sampled_from(["\t", "\n", " ", ",", "A", "B", "SCORE", "9606.ENSP1", "\x00", '"', "1e3", "nan"]),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_JUNK, named=st.booleans())
def test_junk_parses_or_raises_input_error(tmp_path, text, named):
    path = tmp_path / "junk.tsv"
    path.write_text(text, encoding="utf-8")
    try:
        network = read_network(path, edge_columns=("A", "B", "SCORE") if named else None)
    except InputError:
        return
    assert list(network.columns) == ["gene_a", "gene_b", "score"]
    assert (network["gene_a"] != network["gene_b"]).all()
