"""One validation per concept: the checks every subpackage applies to in-memory inputs.

Readers in :mod:`organoidrx.io` produce these shapes; compute code calls these functions at its boundary, so a user
passing their own DataFrame gets the same messages as a user passing a file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples

logger = logging.getLogger(__name__)

__all__ = [
    "as_expression_frame",
    "as_gene_set_dict",
    "as_long_table",
    "check_overlap",
    "restrict_gene_sets",
]


def as_expression_frame(expression: Any, *, name: str = "expression") -> pd.DataFrame:
    """Validate a samples x genes matrix and return it as a float DataFrame (never the caller's object).

    Accepts a DataFrame (index = samples, columns = genes) or an AnnData object (``obs_names`` x ``var_names``,
    ``X`` dense or sparse). Raises :class:`InputError` on duplicated labels, non-numeric or infinite values, or an
    empty matrix. Missing values (NaN) are allowed here; consumers that cannot handle them say so.
    """
    if type(expression).__name__ == "AnnData":
        matrix = expression.X
        if hasattr(matrix, "toarray"):
            matrix = matrix.toarray()
        expression = pd.DataFrame(
            np.asarray(matrix, dtype=float),
            index=pd.Index(expression.obs_names.astype(str)),
            columns=pd.Index(expression.var_names.astype(str)),
        )
    if not isinstance(expression, pd.DataFrame):
        raise InputError(
            f"{name} must be a pandas DataFrame (samples x genes) or an AnnData object; got {type(expression).__name__}."
        )
    if expression.shape[0] == 0 or expression.shape[1] == 0:
        raise InputError(
            f"{name} is empty (shape {expression.shape}); it needs at least one sample and one gene."
        )
    for axis, labels, what in ((0, expression.index, "sample"), (1, expression.columns, "gene")):
        labels = labels.astype(str)  # as they are used: 1 and "1" are one gene
        duplicated = labels[labels.duplicated()].unique()
        if len(duplicated):
            fix = "aggregate them before scoring" if axis == 1 else "make sample ids unique"
            raise InputError(
                f"{name} has {len(duplicated)} duplicated {what} ids (first: {examples(duplicated)}); {fix}."
            )
    dtypes = expression.dtypes
    numeric = np.fromiter((pd.api.types.is_numeric_dtype(t) for t in dtypes.unique()), bool)
    numeric_by_type = dict(zip(dtypes.unique(), numeric, strict=True))
    non_numeric = [c for c, t in zip(expression.columns, dtypes, strict=True) if not numeric_by_type[t]]
    if non_numeric:
        raise InputError(
            f"{name} has {len(non_numeric)} non-numeric gene columns (first: {examples(non_numeric)}); "
            "pass numbers only (samples as rows, genes as columns)."
        )
    values = expression.to_numpy(dtype=float, copy=True)
    if np.isinf(values).any():
        row, col = np.argwhere(np.isinf(values))[0]
        raise InputError(
            f"{name} has infinite values (first at sample {expression.index[row]!r}, gene {expression.columns[col]!r})."
        )
    return pd.DataFrame(
        values, index=expression.index.astype(str).copy(), columns=expression.columns.astype(str).copy()
    )


def _id_text(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_id(value: Any) -> str | None:
    """A gene or node id as text: an integer id (an Entrez id) stored as a float, as pandas stores integers beside
    a missing value, without its decimal point; None for a missing or empty value."""
    if value is None or (np.ndim(value) == 0 and not isinstance(value, str) and bool(pd.isna(value))):
        return None
    return _id_text(value).strip() or None


def id_strings(values: Any) -> np.ndarray:
    """Ids as text, each as :func:`as_id` writes it (1001.0 -> '1001'), so that integer ids match whatever column
    pandas stored them in; a missing value stays 'nan', which matches no gene."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if pd.api.types.infer_dtype(series, skipna=False) in ("string", "integer", "empty"):
        return series.astype(str).to_numpy()
    return np.array([_id_text(v) for v in series], dtype=object)  # Python strings, as astype(str) gives


def as_gene_set_dict(gene_sets: Any, *, name: str = "gene_sets") -> dict[str, list[str]]:
    """Normalise gene sets to ``{pathway: [genes...]}`` with genes unique and in first-seen order.

    Accepts a long DataFrame with columns ``pathway, gene`` (what :func:`organoidrx.io.read_gmt` returns) or a
    mapping from pathway name to an iterable of genes.
    """
    result: dict[str, list[str]] = {}
    if isinstance(gene_sets, pd.DataFrame):
        missing = {"pathway", "gene"} - set(gene_sets.columns)
        if missing:
            raise InputError(
                f"{name} must have columns 'pathway' and 'gene'; missing {sorted(missing)} "
                f"(columns: {list(gene_sets.columns)})."
            )
        for pathway, gene in zip(
            gene_sets["pathway"].astype(str), id_strings(gene_sets["gene"]), strict=True
        ):
            result.setdefault(pathway, []).append(gene)
    elif isinstance(gene_sets, Mapping):
        for pathway, genes in gene_sets.items():
            if isinstance(genes, str):
                raise InputError(f"{name}[{pathway!r}] is a single string; give a list of genes.")
            result[str(pathway)] = list(id_strings(list(genes)))
    else:
        raise InputError(
            f"{name} must be a DataFrame with columns 'pathway', 'gene' or a dict of lists; got {type(gene_sets).__name__}."
        )
    if not result:
        raise InputError(f"{name} holds no gene sets.")
    return {p: list(dict.fromkeys(g)) for p, g in result.items()}


def as_long_table(
    table: Any, columns: Iterable[str], *, name: str, optional: Iterable[str] = ()
) -> pd.DataFrame:
    """Check that a long table has the required columns and return a copy holding required + present optional ones."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame; got {type(table).__name__}.")
    required = list(columns)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"{name} is missing columns {missing} (has {list(table.columns)}).")
    keep = required + [c for c in optional if c in table.columns]
    return table.loc[:, keep].copy()


_ID_NAMES = {
    "symbol": "gene symbols",
    "ensembl": "Ensembl gene ids",
    "entrez": "Entrez ids",
    "ensp": "Ensembl protein ids",
    "uniprot": "UniProt accessions",
}


def id_mismatch_hint(wanted: Iterable[Any], present: Iterable[Any], *, what: str, where: str) -> str:
    """A sentence naming the cause when two gene lists differ in case or use different identifier types, else ``""``."""
    from organoidrx.io._identifiers import detect_gene_id_type  # io builds on this module

    wanted, present = list(wanted), list(present)
    exact, folded = set(map(str, wanted)) & set(map(str, present)), {str(g).upper() for g in wanted}
    if len({str(g).upper() for g in present} & folded) > 2 * max(len(exact), 1):
        return (
            f" The names of {what} and {where} match when case is ignored: write them alike (e.g. upper-case "
            "human gene symbols; gseapy upper-cases them without a word)."
        )
    kind_a, kind_b = detect_gene_id_type(wanted[:2000]), detect_gene_id_type(present[:2000])
    if kind_a == kind_b or "unknown" in (kind_a, kind_b):
        return ""
    return (
        f" {what} use {_ID_NAMES[kind_a]} but {where} uses {_ID_NAMES[kind_b]}: map one to the other first "
        "(organoidrx.io.harmonize_gene_ids with an id map from read_gene_id_map)."
    )


def check_overlap(
    present: Iterable[str], wanted: Iterable[str], *, what: str, where: str, minimum: int = 1
) -> list[str]:
    """Return the members of ``wanted`` found in ``present`` (in ``wanted`` order); raise if fewer than ``minimum``.

    The error names how many matched and shows examples from both sides, so mismatched identifier types
    (Ensembl ids vs symbols, say) are obvious from the message.
    """
    present_set = set(present)
    wanted_list = list(dict.fromkeys(wanted))
    found = [w for w in wanted_list if w in present_set]
    if len(found) < minimum:
        raise InputError(
            f"only {len(found)} of {len(wanted_list)} {what} are in {where} (need at least {minimum}); "
            f"{what} look like {examples(wanted_list)} while {where} has {examples(sorted(present_set))}."
            + id_mismatch_hint(wanted_list, present_set, what=what, where=where)
        )
    return found


def restrict_gene_sets(
    gene_sets: Mapping[str, list[str]],
    universe: Iterable[str] | None = None,
    *,
    min_size: int = 1,
    max_size: int | None = None,
    where: str = "the data",
    name: str = "gene_sets",
) -> tuple[dict[str, list[str]], pd.DataFrame]:
    """Restrict gene sets to a gene universe and filter them by size, reporting every set dropped and why.

    Parameters
    ----------
    gene_sets : dict of str to list of str
        As returned by :func:`as_gene_set_dict`.
    universe : iterable of str, optional
        Genes present in the data (expression columns, network nodes). ``None`` keeps every gene.
    min_size, max_size : int
        Inclusive bounds on the number of genes a set keeps after restriction.
    where : str
        What the universe is, for messages ("the expression matrix").
    name : str
        Name of the argument, for messages.

    Returns
    -------
    kept : dict of str to list of str
        The surviving sets, genes in their original order.
    report : DataFrame
        One row per input set: ``pathway, n_genes, n_present, kept, reason`` (reason is ``""`` when kept,
        otherwise ``"fewer than min_size"`` or ``"more than max_size"``).

    Raises
    ------
    InputError
        When no set survives; the message says how many sets failed which bound and shows example genes.
    """
    if min_size < 1 or (max_size is not None and max_size < min_size):
        raise InputError(f"need 1 <= min_size <= max_size; got min_size={min_size}, max_size={max_size}.")
    present = None if universe is None else set(universe)
    kept: dict[str, list[str]] = {}
    rows = []
    for pathway, genes in gene_sets.items():
        genes_in = list(genes) if present is None else [g for g in genes if g in present]
        size = len(genes_in)
        if size < min_size:
            reason = "fewer than min_size"
        elif max_size is not None and size > max_size:
            reason = "more than max_size"
        else:
            reason = ""
            kept[pathway] = genes_in
        rows.append((pathway, len(genes), size, reason == "", reason))
    report = pd.DataFrame(rows, columns=["pathway", "n_genes", "n_present", "kept", "reason"])
    if present is not None:
        absent = [
            g for g in dict.fromkeys(g for genes in gene_sets.values() for g in genes) if g not in present
        ]
        if absent:
            n_distinct = len({g for genes in gene_sets.values() for g in genes})
            logger.info(
                "%s: %d of %d distinct genes of the gene sets are not in %s (e.g. %s)",
                name,
                len(absent),
                n_distinct,
                where,
                examples(absent),
            )
    n_small = int((report["reason"] == "fewer than min_size").sum())
    n_large = int((report["reason"] == "more than max_size").sum())
    if n_small or n_large:
        logger.info(
            "%s: kept %d of %d gene sets; %d have fewer than min_size=%d genes in %s, %d more than max_size=%s "
            "(e.g. %s)",
            name,
            len(kept),
            len(gene_sets),
            n_small,
            min_size,
            where,
            n_large,
            max_size,
            examples(report.loc[~report["kept"], "pathway"]),
        )
    if not kept:
        all_genes = [g for genes in gene_sets.values() for g in genes]
        hint = ""
        if present is not None:
            hint = f" Gene sets use ids like {examples(all_genes)}; {where} has {examples(sorted(present))}."
            hint += id_mismatch_hint(all_genes, present, what="the gene sets", where=where)
        raise InputError(
            f"no gene set of {name} survives restriction to {where} with min_size={min_size}, "
            f"max_size={max_size} ({n_small} too small, {n_large} too large).{hint}"
        )
    return kept, report
