"""Gene and sample identifiers: id-type detection, id maps, harmonisation to HGNC symbols, sample-id matching."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx._validation import as_expression_frame
from organoidrx.io._tables import NA_VALUES, column_key

logger = logging.getLogger(__name__)

__all__ = [
    "detect_gene_id_type",
    "harmonize_gene_ids",
    "read_gene_id_map",
    "reconcile_sample_ids",
    "strip_ensembl_version",
]

GeneIdType = Literal["symbol", "ensembl", "entrez", "ensp", "uniprot", "unknown"]

_PATTERNS: dict[str, re.Pattern[str]] = {
    "ensembl": re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?(_PAR_Y)?$"),
    "ensp": re.compile(r"^(\d+\.)?ENS[A-Z]*P\d{6,}(\.\d+)?$"),
    "entrez": re.compile(r"^\d+$"),
    # UniProt accessions (uniprot.org/help/accession_numbers), with an optional isoform suffix
    "uniprot": re.compile(r"^([OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9]([A-Z][A-Z0-9]{2}[0-9]){1,2})(-\d+)?$"),
    "symbol": re.compile(r"^[A-Za-z][A-Za-z0-9\-._@/#:]*$"),
}
_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*[GTP]\d+)\.\d+(_PAR_Y)?$")
# The id type must cover at least this fraction of the non-empty ids to be reported.
_DETECT_FRACTION = 0.6
_AGGREGATES = ("mean", "median", "sum", "max", "first")
_MISSING_IDS = frozenset(NA_VALUES)
# Precedence when one id occurs under several types in a map: official symbols win over aliases.
_TYPE_ORDER = {"symbol": 0, "entrez": 1, "ensembl": 2, "ensp": 3, "uniprot": 4, "alias": 5, "other": 6}


def _id_types(ids: pd.Series) -> pd.Series:
    """Per-id type (vectorised; 'unknown' when no pattern matches). Order of tests matters: a later pattern wins,
    so entrez and UniProt accessions are tested after symbols (a few symbols, e.g. H2AC11, also read as UniProt
    accessions, which is why a type is reported only when it covers most ids)."""
    result = pd.Series("unknown", index=ids.index, dtype=object)
    for kind in ("symbol", "entrez", "uniprot", "ensp", "ensembl"):
        result[ids.str.match(_PATTERNS[kind]).fillna(False).to_numpy(dtype=bool)] = kind
    return result


def detect_gene_id_type(ids: Iterable[Any]) -> GeneIdType:
    """Guess which namespace a collection of gene identifiers belongs to.

    Parameters
    ----------
    ids : iterable of str
        Gene identifiers, e.g. the columns of an expression matrix or the nodes of a network.

    Returns
    -------
    {'symbol', 'ensembl', 'entrez', 'ensp', 'uniprot', 'unknown'}
        ``'ensembl'`` for Ensembl gene ids (``ENSG00000141510``, version suffix allowed), ``'ensp'`` for Ensembl
        protein ids as STRING writes them (``9606.ENSP00000269305``), ``'entrez'`` for all-digit NCBI Gene ids,
        ``'uniprot'`` for UniProt accessions (``P04637``, ``Q9NZQ7-1``),
        ``'symbol'`` for gene symbols (``TP53``, ``HLA-A``, ``C1orf112``); ``'unknown'`` when no type covers at
        least 60% of the non-empty ids (e.g. microarray probe ids such as ``1007_s_at``) or there are none.

    Examples
    --------
    >>> detect_gene_id_type(["ENSG00000141510.16", "ENSG00000146648"])
    'ensembl'
    >>> detect_gene_id_type(["TP53", "EGFR", "7157"])
    'symbol'
    """
    series = pd.Series([str(i).strip() for i in ids if i is not None and str(i).strip()], dtype=object)
    if series.empty:
        return "unknown"
    counts = _id_types(series).value_counts()
    counts = counts.drop("unknown", errors="ignore")
    if counts.empty:
        return "unknown"
    kind = str(counts.idxmax())
    if counts.max() < _DETECT_FRACTION * len(series):
        return "unknown"
    return kind  # type: ignore[return-value]


def strip_ensembl_version(ids: Iterable[Any]) -> list[str]:
    """Remove the ``.N`` version (and GENCODE ``_PAR_Y`` tag) from Ensembl ids; other ids are returned unchanged.

    Examples
    --------
    >>> strip_ensembl_version(["ENSG00000141510.16", "ENSG00000002586.20_PAR_Y", "TP53"])
    ['ENSG00000141510', 'ENSG00000002586', 'TP53']
    """
    return [_ENSEMBL_VERSION.sub(r"\1", str(i)) for i in ids]


def _read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    from organoidrx.io._tables import parse_table as _parse_delimited
    from organoidrx.io._tables import read_text as _read_text

    name = Path(path).name
    text = _read_text(path)
    return _parse_delimited(text, name=name, sep=None, default_sep="\t", all_strings=True)


def _split_column(table: pd.DataFrame, column: str, symbol: str, id_type: str) -> pd.DataFrame:
    ids = table[column].astype(str).str.split("|")
    long = pd.DataFrame({"id": ids, "symbol": table[symbol].astype(str)}).explode("id")
    long["id"] = long["id"].str.strip()
    long = long[long["id"] != ""]
    long["id_type"] = id_type
    return long


def read_gene_id_map(
    path: str | os.PathLike[str] | pd.DataFrame, *, aliases: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Read a gene identifier table into a long map from any identifier to its official symbol.

    Parameters
    ----------
    path : str, path-like or DataFrame
        One of

        - the NCBI gene table (columns ``entrez_id, symbol, ensembl_gene_ids[, uniprot_ids]``, several Ensembl or
          UniProt ids joined by ``|``), e.g. ``idmap/human_gene_info_entrez_symbol_ensembl.tsv.gz``;
        - a two-column table id -> symbol with a header, e.g. Ensembl BioMart's ``Gene stable ID, Gene name``
          (the symbol column is the one named ``symbol``, ``gene name``, ``preferred_name``..., else the one holding
          symbols when the other holds Ensembl, Entrez or STRING ids, else the second);
        - a table already in the returned format (columns ``id, id_type, symbol``).
    aliases : str or path-like, optional
        The alias table (columns ``entrez_id, alias_symbol``, e.g. ``idmap/human_alias_to_entrez.tsv.gz``). Needs
        ``path`` to be the NCBI gene table, which resolves each alias's Entrez id to the current symbol.

    Returns
    -------
    DataFrame
        Columns ``id`` (str), ``id_type`` (``'symbol'``, ``'entrez'``, ``'ensembl'``, ``'ensp'``, ``'uniprot'``,
        ``'alias'`` or ``'other'``) and ``symbol`` (str), one row per (id, symbol) pair, duplicates removed, in file order.

    Raises
    ------
    InputError
        When the file cannot be read, has no usable columns, is an alias table (a column named ``alias...``:
        pass it as ``aliases``), or ``aliases`` is given without an Entrez column in ``path``.
    """
    if isinstance(path, pd.DataFrame):
        table = path.astype(str)
        name = "id_map"
    else:
        table = _read_table(path)
        name = Path(path).name
    columns = {c.strip().lower(): c for c in table.columns}
    if {"id", "id_type", "symbol"} <= set(columns):
        result = table[[columns["id"], columns["id_type"], columns["symbol"]]]
        result.columns = pd.Index(["id", "id_type", "symbol"])
    elif "symbol" in columns and ("entrez_id" in columns or "ensembl_gene_ids" in columns):
        symbol = columns["symbol"]
        parts = [_split_column(table, symbol, symbol, "symbol")]
        if "entrez_id" in columns:
            parts.append(_split_column(table, columns["entrez_id"], symbol, "entrez"))
        for key in ("ensembl_gene_ids", "ensembl_gene_id", "ensembl"):
            if key in columns:
                parts.append(_split_column(table, columns[key], symbol, "ensembl"))
                break
        for key in ("uniprot_ids", "uniprot_id", "uniprot"):
            if key in columns:
                parts.append(_split_column(table, columns[key], symbol, "uniprot"))
                break
        result = pd.concat(parts, ignore_index=True)
    elif table.shape[1] >= 2:
        id_col, symbol_col = _two_column_orientation(table, name)
        result = pd.DataFrame({"id": table[id_col].str.strip(), "symbol": table[symbol_col].str.strip()})
        result = result[(result["id"] != "") & (result["symbol"] != "")]
        types = _id_types(result["id"])
        result["id_type"] = types.replace({"unknown": "other"}).to_numpy()
        result = result[["id", "id_type", "symbol"]]
    else:
        raise InputError(
            f"{name}: an id map needs an id column and a symbol column; found columns {list(table.columns)}."
        )
    result = result[(result["id"] != "") & (result["symbol"] != "") & (result["symbol"] != "-")]
    if aliases is not None:
        if "entrez_id" not in columns:
            raise InputError(
                f"aliases need the NCBI gene table with an 'entrez_id' column as path; {name} has "
                f"{list(table.columns)}."
            )
        alias_table = _read_table(aliases)
        alias_columns = {c.strip().lower(): c for c in alias_table.columns}
        if not {"entrez_id", "alias_symbol"} <= set(alias_columns):
            raise InputError(
                f"{Path(aliases).name}: an alias table needs columns 'entrez_id' and 'alias_symbol'; found "
                f"{list(alias_table.columns)}."
            )
        entrez_to_symbol = dict(
            zip(table[columns["entrez_id"]].astype(str), table[columns["symbol"]].astype(str), strict=True)
        )
        alias_ids = alias_table[alias_columns["alias_symbol"]].str.strip()
        alias_symbols = alias_table[alias_columns["entrez_id"]].str.strip().map(entrez_to_symbol)
        unresolved = int(alias_symbols.isna().sum())
        if unresolved:
            logger.info(
                "%s: %d aliases point to Entrez ids absent from %s", Path(aliases).name, unresolved, name
            )
        alias_long = pd.DataFrame({"id": alias_ids, "id_type": "alias", "symbol": alias_symbols})
        alias_long = alias_long.dropna()
        alias_long = alias_long[alias_long["id"] != ""]
        result = pd.concat([result, alias_long], ignore_index=True)
    result = (
        result.loc[:, ["id", "id_type", "symbol"]].drop_duplicates(["id", "symbol"]).reset_index(drop=True)
    )
    if result.empty:
        raise InputError(f"{name}: the id map holds no (id, symbol) pairs.")
    return result.astype({"id": object, "id_type": object, "symbol": object})


_SYMBOL_COLUMNS = ("symbol", "genesymbol", "genename", "hgncsymbol", "preferredname", "name")


def refuse_alias_columns(columns: Any, name: str, fix: str) -> None:
    """Refuse an id map whose id or symbol column holds aliases (several genes share one: no map)."""
    aliases = [c for c in columns if "alias" in column_key(c)]
    if aliases:
        raise InputError(
            f"{name}: column {aliases[0]!r} holds aliases, which can name several genes, so it cannot be an id "
            f"map on its own; {fix}."
        )


def _two_column_orientation(table: pd.DataFrame, name: str) -> tuple[Any, Any]:
    """(id column, symbol column) of a two-column map: the column named as symbols, else the one holding symbols
    when the other holds Ensembl / Entrez / STRING ids, else the first column -> the second."""
    first, second = table.columns[0], table.columns[1]
    keys = {c: column_key(c) for c in (first, second)}
    refuse_alias_columns(
        (first, second),
        name,
        "pass it as aliases= together with the NCBI gene table (idmap/human_gene_info_entrez_symbol_ensembl.tsv.gz)",
    )
    for symbol_col, id_col in ((second, first), (first, second)):
        if keys[symbol_col] in _SYMBOL_COLUMNS and keys[id_col] not in _SYMBOL_COLUMNS:
            return id_col, symbol_col
    kinds = [detect_gene_id_type(table[c].dropna().astype(str).head(1000)) for c in (first, second)]
    if kinds[0] == "symbol" and kinds[1] in ("ensembl", "entrez", "ensp"):
        logger.info("%s: column %r holds gene symbols, so it maps %r to it", name, first, second)
        return second, first
    return first, second


def _as_lookup(id_map: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(id -> symbol, id -> id type). Symbols win over other types; an id with several symbols is left out, unless
    one of them is the id with a short suffix (HGNC renames such as QARS -> QARS1)."""
    if isinstance(id_map, Mapping):
        return {str(k): str(v) for k, v in id_map.items()}, {}
    if isinstance(id_map, str | os.PathLike):
        id_map = read_gene_id_map(id_map)
    if not isinstance(id_map, pd.DataFrame):
        raise InputError(
            f"id_map must be a path, a DataFrame (id, id_type, symbol) or a dict id -> symbol; got {type(id_map).__name__}."
        )
    if not {"id", "symbol"} <= set(id_map.columns):
        id_map = read_gene_id_map(id_map)
    table = id_map.copy()
    if "id_type" not in table.columns:
        table["id_type"] = "other"
    table["_order"] = table["id_type"].map(_TYPE_ORDER).fillna(len(_TYPE_ORDER))
    table = table.sort_values("_order", kind="stable").drop_duplicates(["id", "symbol"])
    # Keep, per id, only the rows of its best-ranked type (an official symbol beats any alias use of it).
    best = table.groupby("id", sort=False)["_order"].transform("min")
    table = table[table["_order"] == best]
    ambiguous = table["id"].duplicated(keep=False)
    if ambiguous.any():
        # An alias shared by several genes is resolved only when one candidate is the alias with a suffix (HGNC
        # renames such as QARS -> QARS1); other ambiguous ids are dropped from the lookup.
        candidates = table[ambiguous]
        extends = candidates.apply(
            lambda row: bool(re.fullmatch(re.escape(row["id"]) + r"[0-9A-Z-]{1,3}", row["symbol"])), axis=1
        )
        # An Ensembl or Entrez id shared with a placeholder (LOC105373378) or with a read-through or overlapping
        # transcript named after the gene (IPO11-LRRC70, ST7-OT3) is the gene's. Not a UniProt accession: a LOC
        # gene with its own reviewed protein is a paralog not yet named (P0DN79, CBSL, beside CBS).
        named = candidates["id_type"].isin(["ensembl", "entrez"])
        extends |= named & _the_named_gene(candidates, table)
        extended = candidates[extends]
        resolved = extended[~extended["id"].duplicated(keep=False)]
        n_dropped = candidates["id"].nunique() - resolved["id"].nunique()
        if n_dropped:
            logger.debug("id map: %d ids point to several genes and are not used", n_dropped)
        table = pd.concat([table[~ambiguous], resolved])
    ids = table["id"].astype(str)
    return (
        dict(zip(ids, table["symbol"].astype(str), strict=True)),
        dict(zip(ids, table["id_type"].astype(str), strict=True)),
    )


def _the_named_gene(candidates: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """Per row of the symbols of an ambiguous id: whether it is the one symbol that is neither a placeholder
    (``LOC<number>``) nor a read-through / overlapping name containing another candidate (``IPO11-LRRC70``).

    Only when that gene needs the id: if it has another id of the type while a passed-over candidate has no other,
    the id is that candidate's own (Ensembl names ENSG00000270011 ZNF559-ZNF177; ZNF177 has ENSG00000188629), and
    it is left ambiguous.
    """
    ids_per_symbol = table.groupby(["symbol", "id_type"])["id"].nunique()
    chosen = pd.Series(False, index=candidates.index)
    for _, rows in candidates.groupby("id", sort=False):
        symbols = list(rows["symbol"].astype(str))
        keep = [
            i
            for i, s in zip(rows.index, symbols, strict=True)
            if not re.fullmatch(r"LOC\d+", s) and not any(o != s and o in s.split("-") for o in symbols)
        ]
        if len(keep) != 1:
            continue
        kind = rows["id_type"].iloc[0]
        winner = str(rows.at[keep[0], "symbol"])
        others = [s for s in symbols if s != winner]
        if ids_per_symbol.get((winner, kind), 1) > 1 and any(
            ids_per_symbol.get((o, kind), 1) == 1 for o in others
        ):
            continue
        chosen[keep[0]] = True
    return chosen


def harmonize_gene_ids(
    expression: Any,
    id_map: Any,
    *,
    to: Literal["symbol"] = "symbol",
    aggregate: Literal["mean", "median", "sum", "max", "first"] = "mean",
) -> pd.DataFrame:
    """Rename the gene columns of an expression matrix to official symbols, aggregating genes that collide.

    Parameters
    ----------
    expression : DataFrame of shape (n_samples, n_genes) or AnnData
        Gene columns hold Ensembl ids (a ``.N`` version suffix is ignored), Entrez ids, current or outdated
        symbols, or a mix.
    id_map : DataFrame, dict or path
        What :func:`read_gene_id_map` returns (or a path it reads), or a plain dict id -> symbol.
    to : {'symbol'}, default 'symbol'
        Target namespace (HGNC symbols, the namespace of the rest of the package).
    aggregate : {'mean', 'median', 'sum', 'max', 'first'}, default 'mean'
        How columns that map to the same symbol are combined per sample. Use ``'sum'`` for counts.

    Returns
    -------
    DataFrame of shape (n_samples, n_symbols)
        Same index as ``expression``; columns are symbols in first-seen order. Genes without a mapping are left
        out and counted (with examples) in a warning.

    Raises
    ------
    InputError
        When no gene maps (the message shows the detected id types of both sides), or for an unknown option.

    Notes
    -----
    Lookup order per id: the id itself as an official symbol, then as Entrez, Ensembl, Ensembl-protein or
    UniProt id, then as an alias/previous symbol. An alias shared by several genes is used only when one of them is the alias
    plus a short suffix (``QARS`` -> ``QARS1``); otherwise it is ambiguous and left unmapped. An
    alias whose symbol is already a column of ``expression`` is left out (info log) rather than averaged into a
    different measured gene; Ensembl or Entrez ids that share a symbol are combined by ``aggregate``. A GENCODE
    ``_PAR_Y`` id (the Y copy of a pseudoautosomal gene, zero in GDC files) is left out beside its X copy.
    """
    if to != "symbol":
        raise InputError(f"to must be 'symbol'; got {to!r}.")
    if aggregate not in _AGGREGATES:
        raise InputError(f"aggregate must be one of {list(_AGGREGATES)}; got {aggregate!r}.")
    frame = as_expression_frame(expression)
    lookup, id_types = _as_lookup(id_map)
    original = list(frame.columns)
    stripped = strip_ensembl_version(original)
    # a missing-value marker ('NA', written by R for an unmapped symbol) is no gene, although 'NA' is an alias of XK
    targets = [None if g in _MISSING_IDS else lookup.get(g) for g in stripped]
    # An outdated symbol (alias) must not be merged into a gene the matrix already measures under its own symbol.
    official = {g for g, t in zip(stripped, targets, strict=True) if t == g}
    shadowed = [
        g
        for g, t in zip(stripped, targets, strict=True)
        if t is not None and t != g and id_types.get(g) == "alias" and t in official
    ]
    shadowed_set = set(shadowed)
    if shadowed:
        logger.info(
            "expression: %d outdated symbols point to a gene already present under its own symbol and were left "
            "out (e.g. %s)",
            len(shadowed),
            examples(shadowed),
        )
        targets = [None if g in shadowed_set else t for g, t in zip(stripped, targets, strict=True)]
    # GENCODE's _PAR_Y rows are the Y copies of pseudoautosomal genes (reads go to the X copy; GDC files hold
    # zeros there): combined with the X copy they would halve its mean, so they are left out beside it.
    x_copies = {s for g, s in zip(original, stripped, strict=True) if not str(g).endswith("_PAR_Y")}
    par_y = [i for i, g in enumerate(original) if str(g).endswith("_PAR_Y") and stripped[i] in x_copies]
    if par_y:
        nonzero = int((frame.iloc[:, par_y].fillna(0) != 0).any(axis=0).sum())
        (logger.warning if nonzero else logger.info)(
            "expression: %d _PAR_Y gene ids (Y copies of pseudoautosomal genes, e.g. %s) left out beside their X "
            "copy%s",
            len(par_y),
            examples([original[i] for i in par_y]),
            f"; {nonzero} of them hold non-zero values" if nonzero else " (all zero)",
        )
        targets = [None if i in set(par_y) else t for i, t in enumerate(targets)]
        shadowed_set |= {original[i] for i in par_y}
    mapped = np.array([t is not None for t in targets])
    if not mapped.any():
        raise InputError(
            f"none of the {len(original)} gene ids of expression are in the id map; expression ids look like "
            f"{detect_gene_id_type(original)} ({examples(original)}) while the map has "
            f"{examples(list(lookup)[:3])}; pass an id map that covers these ids."
        )
    unmapped = [
        g
        for g, s, ok in zip(original, stripped, mapped, strict=True)
        if not ok and s not in shadowed_set and g not in shadowed_set
    ]
    if unmapped:
        logger.warning(
            "expression: %d of %d gene ids have no unambiguous symbol in the id map and were left out (e.g. %s)",
            len(unmapped),
            len(original),
            examples(unmapped),
        )
    renamed = [t for t in targets if t is not None]
    changed = sum(1 for g, t in zip(stripped, targets, strict=True) if t is not None and t != g)
    kept = frame.loc[:, mapped].copy()
    kept.columns = pd.Index(renamed, dtype=object)
    if changed:
        logger.info("expression: %d gene ids renamed to symbols", changed)
    if kept.columns.has_duplicates:
        duplicated = kept.columns[kept.columns.duplicated()].unique()
        order = kept.columns[~kept.columns.duplicated()]
        if aggregate == "first":
            kept = kept.loc[:, ~kept.columns.duplicated()]
        else:
            kept = kept.T.groupby(level=0, sort=False).agg(aggregate).T.loc[:, order]
        logger.info(
            "expression: %d symbols received several gene ids (e.g. %s); combined by %s",
            len(duplicated),
            examples(duplicated),
            aggregate,
        )
    kept.columns = pd.Index([str(c) for c in kept.columns], dtype=object)
    return kept.astype(float)


def _sample_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.lower())


def reconcile_sample_ids(
    reference_ids: Iterable[Any], other_ids: Iterable[Any], *, what: str = "samples"
) -> dict[str, str]:
    """Match sample ids of two tables that differ only in case or punctuation.

    Parameters
    ----------
    reference_ids : iterable of str
        Ids whose spelling wins (e.g. the expression matrix index).
    other_ids : iterable of str
        Ids to match against them (e.g. the ``sample`` column of a drug-response table).
    what : str, default 'samples'
        What the ids are, for messages (``"organoids"``, ``"patients"``).

    Returns
    -------
    dict of str to str
        ``{other_id: reference_id}`` for every other id that matches, exactly or after lower-casing and removing
        everything but letters and digits (``'P19a'`` -> ``'P19A'``, ``'tcga.aa.3510'`` -> ``'TCGA-AA-3510'``).
        Unmatched ids are absent. Use it as ``table["sample"].map(mapping)``.

    Raises
    ------
    InputError
        When a non-exact match is ambiguous: two reference ids share the normalised form an other id needs, or two
        other ids would map to the same reference id.

    Notes
    -----
    A warning lists the ids matched only after normalisation and how many other ids stayed unmatched (with
    examples); nothing is logged when every id matches exactly.
    """
    reference = list(dict.fromkeys(str(r) for r in reference_ids))
    others = list(dict.fromkeys(str(o) for o in other_ids))
    reference_set = set(reference)
    by_key: dict[str, list[str]] = {}
    for ref in reference:
        by_key.setdefault(_sample_key(ref), []).append(ref)
    mapping: dict[str, str] = {}
    reconciled: list[str] = []
    unmatched: list[str] = []
    for other in others:
        if other in reference_set:
            mapping[other] = other
            continue
        candidates = by_key.get(_sample_key(other), [])
        if len(candidates) > 1:
            raise InputError(
                f"{what} id {other!r} matches {len(candidates)} reference ids ignoring case and punctuation "
                f"({examples(candidates)}); rename them so each is unique."
            )
        if candidates:
            mapping[other] = candidates[0]
            reconciled.append(other)
        else:
            unmatched.append(other)
    targets: dict[str, list[str]] = {}
    for other, ref in mapping.items():
        targets.setdefault(ref, []).append(other)
    collisions = {ref: olds for ref, olds in targets.items() if len(olds) > 1}
    if collisions:
        ref, olds = next(iter(collisions.items()))
        raise InputError(
            f"{len(collisions)} {what} ids receive several matches ignoring case and punctuation (first: "
            f"{examples(olds)} -> {ref!r}); make the ids unique."
        )
    if reconciled or unmatched:
        shown = ", ".join(f"{o!r}->{mapping[o]!r}" for o in reconciled[:5])
        if len(reconciled) > 5:
            shown += f" (+{len(reconciled) - 5} more)"
        logger.warning(
            "%s: %d of %d ids matched only ignoring case/punctuation (%s); %d stayed unmatched%s",
            what,
            len(reconciled),
            len(others),
            shown or "none",
            len(unmatched),
            f" (e.g. {examples(unmatched)})" if unmatched else "",
        )
    return mapping
