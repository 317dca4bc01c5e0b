"""Protein-protein interaction networks: STRING downloads and any edge table, as a long ``gene_a, gene_b, score``.

STRING's own files (``9606.protein.links[.detailed].vNN.txt.gz``) are space-separated with ids such as
``9606.ENSP00000000233``; they are mapped to gene symbols with STRING's ``protein.info`` or ``protein.aliases`` file
or any two-column id table. Other tables are read by their column names (given, or recognised automatically).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from organoidrx._utils import InputError, examples
from organoidrx.io._identifiers import refuse_alias_columns
from organoidrx.io._tables import WHITESPACE, column_key, find_column, read_header, read_table

logger = logging.getLogger(__name__)

__all__ = ["read_network"]

# Known endpoint columns, compared case-insensitively after stripping a leading '#'. Symbol columns are preferred
# unless an id map is given, in which case the id columns are mapped instead.
_SYMBOL_PAIRS = (
    ("gene_a", "gene_b"),
    ("symbol_1", "symbol_2"),
    ("symbola", "symbolb"),
    ("symbol1", "symbol2"),
    ("node1", "node2"),
    ("preferred_name_a", "preferred_name_b"),
    ("gene1", "gene2"),
    ("gene_1", "gene_2"),
)
_ID_PAIRS = (
    ("protein1", "protein2"),
    ("node1_string_id", "node2_string_id"),
    ("stringid_a", "stringid_b"),
    ("entrez_1", "entrez_2"),
    ("entreza", "entrezb"),
    ("entrez1", "entrez2"),
)
_SCORE_NAMES = ("combined_score", "score", "weight")
# Alias sources of STRING's protein.aliases file that carry HGNC symbols, best first.
_ALIAS_SOURCES = (
    "Ensembl_HGNC_symbol",
    "BioMart_HUGO",
    "Ensembl_HGNC",
    "UniProt_GN_Name",
    "Ensembl_EntrezGene",
)
_TAXON = re.compile(r"^\d+\.(?=[A-Za-z])")
_STRING_PROTEIN = re.compile(r"^(\d+\.)?ENSP\d+")

IdMap: TypeAlias = str | os.PathLike[str] | pd.DataFrame | Mapping[str, str]


def _strip_taxon(ids: pd.Series) -> pd.Series:
    """``9606.ENSP00000000233`` -> ``ENSP00000000233``; other ids unchanged."""
    return ids.str.replace(_TAXON, "", regex=True)


def _choose_columns(
    path: Path, columns: list[str], edge_columns: Sequence[str] | str | None, mapping: bool
) -> tuple[str, str, str | None]:
    """Endpoint and score columns: the ones given, or the first known pair present in the header."""
    if edge_columns is not None:
        names = edge_columns.split(",") if isinstance(edge_columns, str) else list(edge_columns)
        names = [str(n).strip() for n in names]
        if len(names) not in (2, 3) or not all(names):
            raise InputError(
                f"edge_columns must name two or three columns (A,B[,SCORE]); got {edge_columns!r}."
            )
        found = [find_column(columns, [n]) for n in names]
        missing = [n for n, f in zip(names, found, strict=True) if f is None]
        if missing:
            raise InputError(
                f"{path}: has no column {examples(missing)} named in edge_columns; its columns are "
                f"{examples(columns, 8)}."
            )
        a, b = str(found[0]), str(found[1])
        return a, b, (str(found[2]) if len(found) == 3 else None)
    pairs = (_ID_PAIRS + _SYMBOL_PAIRS) if mapping else (_SYMBOL_PAIRS + _ID_PAIRS)
    for first, second in pairs:
        a_col, b_col = find_column(columns, [first]), find_column(columns, [second])
        if a_col is not None and b_col is not None:
            score_col = find_column(columns, _SCORE_NAMES)
            return a_col, b_col, score_col
    raise InputError(
        f"{path}: cannot tell which columns hold the two genes of each edge (columns: {examples(columns, 8)}); "
        "pass edge_columns=('A', 'B') or ('A', 'B', 'SCORE') (command line: --edge-columns A,B[,SCORE])."
    )


def _recode(codes: np.ndarray, labels: pd.Series, *, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Codes into ``labels`` (``-1`` = missing) re-expressed against the distinct non-missing new labels.

    ``labels`` may hold NaN (those codes become ``-1``) or repeated values (merged). Work on the few distinct ids
    instead of the millions of rows of a STRING file. With ``sort`` the new code order is the labels' order.
    """
    new_ids, uniques = pd.factorize(labels, sort=sort)
    recoded = (
        np.where(codes < 0, -1, new_ids[np.maximum(codes, 0)]) if len(new_ids) else np.full(len(codes), -1)
    )
    return recoded.astype(np.int64), np.asarray(uniques, dtype=object)


def _map_table(id_map: IdMap, name: str) -> pd.DataFrame:
    """Two string columns ``source, target`` (not yet oriented) from a mapping, DataFrame or file."""
    if isinstance(id_map, Mapping):
        return pd.DataFrame(
            {"a": [str(k) for k in id_map.keys()], "b": [str(v) for v in id_map.values()]}, dtype=object
        )
    if isinstance(id_map, pd.DataFrame):
        table = id_map.copy()
        where = name
    else:
        path = Path(id_map)
        table = read_table(path, sep=None, default_sep=WHITESPACE)
        where = str(path)
    keys = {column_key(c): c for c in table.columns}
    if "alias" in keys and "source" in keys:
        # STRING protein.aliases: pick, per protein, the alias from the best symbol source.
        id_col = table.columns[0]
        rank = {s.lower(): i for i, s in enumerate(_ALIAS_SOURCES)}
        sources = table[keys["source"]].astype(str).str.split()
        best = sources.map(lambda s: min((rank.get(x.lower(), len(rank)) for x in s), default=len(rank)))
        table = table.assign(_rank=best.to_numpy())
        table = table.sort_values("_rank", kind="stable").drop_duplicates(id_col)
        fallback = table["_rank"] == len(rank)
        if fallback.any():
            logger.warning(
                "%s: %d proteins have no alias from a gene-symbol source (%s); their first alias is used, e.g. %s",
                where,
                int(fallback.sum()),
                ", ".join(_ALIAS_SOURCES),
                examples(table.loc[fallback, keys["alias"]]),
            )
        return pd.DataFrame(
            {"a": table[id_col].to_numpy(), "b": table[keys["alias"]].to_numpy()}, dtype=object
        )
    if "preferredname" in keys:
        id_col = table.columns[0]
        return pd.DataFrame(
            {"a": table[id_col].to_numpy(), "b": table[keys["preferredname"]].to_numpy()}, dtype=object
        )
    if {"id", "idtype", "symbol"} <= set(keys):
        # organoidrx.io.read_gene_id_map's long table: per id, the symbol of its best-ranked id type
        from organoidrx.io._identifiers import _as_lookup

        lookup, _ = _as_lookup(
            table.rename(columns={keys["id"]: "id", keys["idtype"]: "id_type", keys["symbol"]: "symbol"})
        )
        return pd.DataFrame({"a": list(lookup), "b": list(lookup.values())}, dtype=object)
    if "symbol" in keys and table.shape[1] > 2:
        ignored = {"symbol", "idtype", "source", "type"}
        id_col = next(c for c in table.columns if column_key(c) not in ignored)
        return pd.DataFrame(
            {"a": table[id_col].to_numpy(), "b": table[keys["symbol"]].to_numpy()}, dtype=object
        )
    if table.shape[1] < 2:
        raise InputError(
            f"{where}: an id map needs two columns (id and gene symbol); found columns {list(table.columns)}."
        )
    refuse_alias_columns(
        table.columns[:2],
        where,
        "pass STRING's protein.info, the NCBI gene table or a two-column id -> symbol table",
    )
    return pd.DataFrame({"a": table.iloc[:, 0].to_numpy(), "b": table.iloc[:, 1].to_numpy()}, dtype=object)


def _build_mapping(maps: list[tuple[IdMap, str]], ids: pd.Series, path: Path) -> tuple[dict[str, str], str]:
    """One dict from network id (taxon prefix stripped) to symbol; each table oriented by overlap with ``ids``."""
    wanted = set(ids)
    mapping: dict[str, str] = {}
    described = []
    for id_map, name in maps:
        table = _map_table(id_map, name).dropna()
        table = table.astype(str)
        a = _strip_taxon(table["a"].str.strip())
        b = _strip_taxon(table["b"].str.strip())
        hits_a, hits_b = int(a.isin(wanted).sum()), int(b.isin(wanted).sum())
        keys, values = (a, b) if hits_a >= hits_b else (b, a)
        pairs = pd.DataFrame({"k": keys.to_numpy(), "v": values.to_numpy()}).drop_duplicates()
        several = pairs["k"].duplicated(keep=False) & pairs["k"].isin(wanted)
        if several.any():
            ambiguous = pairs.loc[several, "k"].unique()
            n_hit = int(pairs["k"].isin(wanted).sum()) - int(several.sum()) + len(ambiguous)
            first = pairs.loc[pairs["k"] == ambiguous[0], "v"].tolist()[:3]
            example = f"{ambiguous[0]} -> {', '.join(first)}"
            if 2 * len(ambiguous) > n_hit:
                raise InputError(
                    f"{name}: {len(ambiguous)} of the {n_hit} network ids it maps have several symbols (e.g. "
                    f"{example}); an id map names each node once: pass STRING's protein.info, the NCBI gene "
                    "table or a two-column id -> symbol table."
                )
            logger.warning(
                "%s: %d network ids have several symbols; each is named by the first (e.g. %s: %s)",
                name,
                len(ambiguous),
                example,
                first[0],
            )
        for k, v in zip(pairs["k"], pairs["v"], strict=True):
            mapping.setdefault(k, v)
        described.append(name)
    return mapping, ", ".join(described)


def read_network(
    path: str | os.PathLike[str],
    *,
    edge_columns: Sequence[str] | str | None = None,
    min_score: float | None = None,
    id_map: IdMap | None = None,
    protein_info: str | os.PathLike[str] | None = None,
    largest_component: bool = False,
) -> pd.DataFrame:
    """Read an interaction network into an undirected edge table ``gene_a, gene_b, score``.

    Parameters
    ----------
    path : str or path-like
        A delimited text file, optionally gzipped (tab, comma or whitespace separated, sniffed from the header).
        STRING's ``9606.protein.links.vNN.txt.gz`` and ``.detailed`` files are read as they are downloaded.
    edge_columns : sequence of 2 or 3 str, or "A,B[,SCORE]", optional
        Names of the two endpoint columns and optionally the score column. Without it the columns are recognised
        from the header: ``gene_a/gene_b``, ``symbol_1/symbol_2`` (dmfind STRING tables), ``symbolA/symbolB``
        (human interactome 2017), ``symbol1/symbol2``, ``node1/node2`` (STRING web export), ``protein1/protein2``
        (STRING downloads), ``entrez_1/entrez_2``...; the score is ``combined_score``, ``score`` or ``weight``.
        Symbol columns are preferred, id columns when ``id_map`` or ``protein_info`` is given.
    min_score : float, optional
        Keep edges with score strictly greater than this (``700`` reproduces STRING "combined score > 700" of
        Kong et al. 2020). Requires a score column. ``None`` or a negative value keeps every edge, with or
        without a score column (``min_score = -1`` in a config, ``--min-score -1`` on the command line).
    id_map : path, DataFrame or dict, optional
        Maps the file's ids to gene symbols: STRING's ``protein.info`` (``#string_protein_id preferred_name ...``)
        or ``protein.aliases`` (``#string_protein_id alias source``; HGNC-symbol sources preferred) file, a table
        with ``id`` and ``symbol`` columns (:func:`organoidrx.io.read_gene_id_map`), or any two-column table in
        either orientation (the column whose values match the network's ids is the key).
        The ``9606.`` taxon prefix is ignored on both sides.
    protein_info : path, optional
        STRING's ``9606.protein.info.vNN.txt.gz``; used for ids ``id_map`` does not cover.
    largest_component : bool, default=False
        Keep only the largest connected component.

    Returns
    -------
    network : DataFrame of shape (n_edges, 3)
        ``gene_a, gene_b`` (str, ``gene_a < gene_b``) and ``score`` (float, NaN when the file has no score), each
        undirected edge once, in order of first appearance. ``network.attrs["summary"]`` is a dict of counts:
        ``edges_read, missing_id, missing_score, below_threshold, unmapped, self_loops, duplicates,
        outside_lcc_edges, outside_lcc_nodes, nodes, edges`` plus the columns and id map used.

    Raises
    ------
    InputError
        When the file is empty or not a table, the endpoint columns cannot be found, a score is not a number,
        ``min_score`` is given without a score column, no edge passes the threshold or is left after cleaning,
        STRING protein ids are given without an id map, or no id can be mapped.

    Notes
    -----
    Steps, each counted in the summary: drop rows with a missing id (an empty cell or ``NA``, ``NaN``, ``NULL``,
    ``None``, as R and pandas write missing values); keep ``score > min_score``; map ids to
    symbols (edges with an unmapped end are dropped); drop self-loops (also those created by mapping two proteins
    to one gene); merge duplicate undirected edges keeping the maximum score; optionally keep the largest
    connected component (:func:`scipy.sparse.csgraph.connected_components`).

    References
    ----------
    .. [1] Szklarczyk D. et al. (2023) The STRING database in 2023. Nucleic Acids Res 51:D638.
       doi:10.1093/nar/gkac1000
    .. [2] Guney E. et al. (2016) Network-based in silico drug efficacy screening. Nat Commun 7:10331.
       doi:10.1038/ncomms10331

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "edges.tsv"
    >>> _ = target.write_text("A\\tB\\tSCORE\\nTP53\\tMDM2\\t999\\nMDM2\\tTP53\\t950\\nEGFR\\tGRB2\\t400\\n")
    >>> read_network(target, edge_columns="A,B,SCORE", min_score=700)
      gene_a gene_b  score
    0   MDM2   TP53  999.0
    """
    path = Path(path)
    if min_score is not None and not np.isfinite(float(min_score)):
        raise InputError(f"min_score must be a finite number; got {min_score!r}.")
    if min_score is not None and float(min_score) < 0:
        min_score = None  # every edge: the one meaning of a negative threshold (config and command line)
    mapping_given = id_map is not None or protein_info is not None
    columns = read_header(path, default_sep=WHITESPACE)
    a_col, b_col, score_col = _choose_columns(path, columns, edge_columns, mapping_given)
    usecols = list(dict.fromkeys([a_col, b_col] + ([score_col] if score_col else [])))
    if len(usecols) < 2 + (score_col is not None):
        raise InputError(
            f"{path}: edge_columns name the same column twice ({a_col!r}, {b_col!r}, {score_col!r})."
        )
    table = read_table(path, default_sep=WHITESPACE, usecols=usecols, strings=[a_col, b_col])
    summary: dict[str, Any] = {"columns": [a_col, b_col, score_col], "edges_read": len(table)}

    n_rows = len(table)
    codes, labels = pd.factorize(pd.concat([table[a_col], table[b_col]], ignore_index=True))
    stripped = pd.Series(labels, dtype=object).str.strip()
    codes, labels = _recode(codes, stripped.where(stripped != ""))
    ca, cb = codes[:n_rows], codes[n_rows:]
    missing = (ca < 0) | (cb < 0)
    summary["missing_id"] = int(missing.sum())
    if missing.any():
        logger.warning(
            "%s: dropped %d of %d edges with a missing gene id (first at data row %d)",
            path,
            int(missing.sum()),
            n_rows,
            int(np.flatnonzero(missing)[0]) + 1,
        )
    if score_col is None:
        score = np.full(n_rows, np.nan)
    else:
        raw = table[score_col]
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = (numeric.isna() & raw.notna()).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: score column {score_col!r} has {int(bad.sum())} non-numeric values (first "
                f"{raw.iloc[row]!r} at data row {row + 1}, edge {table[a_col].iloc[row]!r}-"
                f"{table[b_col].iloc[row]!r}); scores must be numbers."
            )
        score = numeric.to_numpy(dtype=float)
    keep = ~missing
    summary["missing_score"] = int((np.isnan(score) & keep).sum()) if score_col is not None else 0
    if summary["missing_score"]:  # an empty cell or a short row: said, not folded into the threshold's count
        row = int(np.flatnonzero(np.isnan(score) & keep)[0])
        logger.warning(
            "%s: %d edges have no %s (first: %s-%s at data row %d); they are %s",
            path, summary["missing_score"], score_col, table[a_col].iloc[row], table[b_col].iloc[row], row + 1,
            "dropped (below any min_score)" if min_score is not None else "kept (no threshold)",
        )  # fmt: skip
    if min_score is not None:
        if score_col is None:
            raise InputError(
                f"{path}: min_score={min_score} needs a score column, but none was found (columns: "
                f"{examples(columns, 8)}); name it with edge_columns=('A', 'B', 'SCORE') or keep every edge "
                "with min_score = -1 (--min-score -1)."
            )
        passing = score > float(min_score)
        summary["below_threshold"] = int((keep & ~passing).sum())
        keep &= passing
        if not len(score):
            raise InputError(f"{path}: has a header but no edge; give a file with one edge per row.")
        if not keep.any():
            largest = np.nanmax(score) if np.isfinite(score).any() else np.nan
            raise InputError(
                f"{path}: no edge has {score_col} > {min_score} (largest score {largest:g}); lower min_score or "
                "check the score scale (STRING combined scores run 0-999, some tables 0-1)."
            )
    else:
        summary["below_threshold"] = 0
    ca, cb, score = ca[keep], cb[keep], score[keep]

    summary["unmapped"] = 0
    summary["id_map"] = None
    if mapping_given:
        maps: list[tuple[IdMap, str]] = []
        if id_map is not None:
            maps.append((id_map, str(id_map) if isinstance(id_map, str | os.PathLike) else "id_map"))
        if protein_info is not None:
            maps.append((protein_info, str(protein_info)))
        used = np.unique(np.concatenate([ca, cb]))
        keys = _strip_taxon(pd.Series(labels, dtype=object))
        mapping, described = _build_mapping(maps, keys.iloc[used], path)
        summary["id_map"] = described
        original = labels
        codes_ab, labels = _recode(np.concatenate([ca, cb]), keys.map(mapping))
        ca_new, cb_new = codes_ab[: len(ca)], codes_ab[len(ca) :]
        unmapped = (ca_new < 0) | (cb_new < 0)
        if unmapped.all():
            raise InputError(
                f"{path}: none of the network ids (e.g. {examples(original[used])}) are in the id map "
                f"{described} (its ids look like {examples(list(mapping)[:3])}); pass the matching STRING "
                "protein.info / aliases file or a two-column id -> symbol table."
            )
        if unmapped.any():
            lost = np.unique(np.concatenate([ca[ca_new < 0], cb[cb_new < 0]]))
            logger.warning(
                "%s: dropped %d of %d edges whose ids are not in the id map (%d ids, e.g. %s)",
                path,
                int(unmapped.sum()),
                len(unmapped),
                len(lost),
                examples(original[lost]),
            )
        summary["unmapped"] = int(unmapped.sum())
        ca, cb, score = ca_new[~unmapped], cb_new[~unmapped], score[~unmapped]
    else:
        sample = labels[np.unique(ca[:1000])]
        if len(sample) and bool(pd.Series(sample, dtype=object).str.match(_STRING_PROTEIN).all()):
            raise InputError(
                f"{path}: holds STRING protein ids ({sample[0]!r}) but no id map was given; give the id -> symbol "
                "table (e.g. 9606.protein.info.vNN.txt.gz) as --id-map, [network] id_map or id_map=, or use the "
                "file's symbol columns (--edge-columns / [network] edge_columns) if it has them."
            )

    # Relabel so that code order is the genes' lexical order: then gene_a < gene_b is a comparison of integers.
    codes_ab, labels = _recode(np.concatenate([ca, cb]), pd.Series(labels, dtype=object), sort=True)
    ca, cb = codes_ab[: len(ca)], codes_ab[len(ca) :]
    loops = ca == cb
    summary["self_loops"] = int(loops.sum())
    if loops.any():
        logger.info(
            "%s: removed %d self-loops (e.g. %s)",
            path,
            int(loops.sum()),
            examples(labels[np.unique(ca[loops])]),
        )
    ca, cb, score = ca[~loops], cb[~loops], score[~loops]
    low, high = np.minimum(ca, cb), np.maximum(ca, cb)
    pairs = pd.DataFrame({"low": low, "high": high, "score": score})
    n_before = len(pairs)
    pairs = pairs.groupby(["low", "high"], sort=False)["score"].max().reset_index()
    summary["duplicates"] = n_before - len(pairs)
    if summary["duplicates"]:
        logger.info(
            "%s: merged %d duplicate undirected edges (kept the maximum score)", path, summary["duplicates"]
        )
    if pairs.empty:
        raise InputError(
            f"{path}: no edge is left after cleaning ({summary['edges_read']} read: {summary['missing_id']} with a "
            f"missing id, {summary['below_threshold']} below min_score, {summary['unmapped']} unmapped, "
            f"{summary['self_loops']} self-loops); check the columns and the threshold."
        )
    low, high = pairs["low"].to_numpy(), pairs["high"].to_numpy()
    summary["outside_lcc_edges"] = 0
    summary["outside_lcc_nodes"] = 0
    if largest_component:
        n = len(labels)
        graph = sparse.coo_matrix((np.ones(len(low)), (low, high)), shape=(n, n))
        _, component = csgraph.connected_components(graph, directed=False)
        present = np.zeros(n, dtype=bool)
        present[low] = present[high] = True
        sizes = np.bincount(component[present])
        biggest = int(np.argmax(sizes))
        inside = component[low] == biggest
        summary["outside_lcc_nodes"] = int(present.sum() - sizes[biggest])
        summary["outside_lcc_edges"] = int((~inside).sum())
        pairs = pairs.loc[inside]
        low, high = low[inside], high[inside]
    edges = pd.DataFrame(
        {
            "gene_a": labels[low].astype(object),
            "gene_b": labels[high].astype(object),
            "score": pairs["score"].to_numpy(dtype=float),
        }
    )
    summary["nodes"] = int(np.unique(np.concatenate([low, high])).size)
    summary["edges"] = len(edges)
    edges.attrs["summary"] = summary
    edges.attrs["source"] = str(path)
    outside = (
        f", outside the largest component {summary['outside_lcc_edges']} edges / {summary['outside_lcc_nodes']} genes"
        if largest_component
        else ""
    )
    logger.info(
        "%s: %d edges read; kept %d edges on %d genes (missing id %d, below threshold %d, unmapped %d, "
        "self-loops %d, duplicates %d%s)",
        path,
        summary["edges_read"],
        summary["edges"],
        summary["nodes"],
        summary["missing_id"],
        summary["below_threshold"],
        summary["unmapped"],
        summary["self_loops"],
        summary["duplicates"],
        outside,
    )
    return edges
