"""Drug targets and drug responses: long ``drug, target`` and ``sample, drug, value`` tables, and drug selection."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._tables import column_key, find_column, read_table

logger = logging.getLogger(__name__)

Replicates = Literal["error", "median", "mean"]

__all__ = ["read_drug_response", "read_drug_targets", "response_matrix", "select_drugs"]

_DRUG_NAMES = ("drug", "drugs", "drugname", "drug_name", "compound", "compoundname", "drugid", "treatment")
_TARGET_NAMES = ("target", "targets", "gene", "genes", "targetgene", "targetgenes", "symbol", "genesymbol")
_SAMPLE_NAMES = (
    "sample",
    "sampleid",
    "organoid",
    "organoidid",
    "cellline",
    "celllinename",
    "cellname",
    "model",
    "modelid",
    "patient",
    "line",
)
_VALUE_NAMES = (
    "value",
    "medianic50",
    "ic50",
    "lnic50",
    "logic50",
    "log10ic50",
    "meanic50",
    "auc",
    "response",
    "ec50",
    "gi50",
)


def _read_delimited(path: Path, what: str) -> pd.DataFrame:
    """All cells as strings (missing as NaN), the delimiter sniffed; a table with no rows is an InputError."""
    table = read_table(path)
    if table.empty:
        raise InputError(f"{path}: has a header but no rows; expected a {what} table.")
    return table


def read_drug_targets(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read drug targets into a long table ``drug, target``.

    Parameters
    ----------
    path : str or path-like
        Tab- or comma-separated text with a header. Two forms are recognised (headers case-insensitive):

        - long: columns ``drug`` and ``target`` (also ``drug_name``/``compound`` and ``gene``/``symbol``), one
          pair per row; a target cell may still list several comma-separated targets;
        - wide: columns ``drugs`` and ``targets`` (the form of Kong et al.'s ``drug_drugTarget.txt``), where a
          cell may name several drugs and several targets, comma-separated; every drug named in a row gets every
          target of that row (``CETUXIMAB,GEFITINIB -> EGFR`` gives both drugs EGFR).

    Returns
    -------
    targets : DataFrame of shape (n_pairs, 2)
        Columns ``drug, target`` (str), names whitespace-trimmed but otherwise spelled as in the file, in file
        order, duplicate pairs removed.

    Raises
    ------
    InputError
        When the file is empty, the drug or target column cannot be found, or a row has no drug or no target (the
        message names the drug and the line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "targets.tsv"
    >>> _ = target.write_text("drugs\\ttargets\\nCETUXIMAB,GEFITINIB\\tEGFR\\nFLUOROURACIL\\tTYMS\\n")
    >>> read_drug_targets(target)
               drug target
    0     CETUXIMAB   EGFR
    1     GEFITINIB   EGFR
    2  FLUOROURACIL   TYMS
    """
    path = Path(path)
    table = _read_delimited(path, "drug-target")
    drug_col = find_column(table.columns, _DRUG_NAMES)
    target_col = find_column(table.columns, _TARGET_NAMES)
    if drug_col is None or target_col is None:
        raise InputError(
            f"{path}: needs a drug column and a target column (e.g. 'drug', 'target' or 'drugs', 'targets'); "
            f"found columns {examples(list(table.columns), 8)}."
        )
    split_drugs = column_key(drug_col) == "drugs"
    drugs_out: list[str] = []
    targets_out: list[str] = []
    for row, (drug_cell, target_cell) in enumerate(zip(table[drug_col], table[target_col], strict=True)):
        line = row + 2
        drug_text = "" if pd.isna(drug_cell) else str(drug_cell)
        names = [d.strip() for d in drug_text.split(",")] if split_drugs else [drug_text.strip()]
        names = [d for d in names if d]
        if not names:
            raise InputError(
                f"{path}: line {line} has no drug name (targets {target_cell!r}); fill in the drug or delete the row."
            )
        target_text = "" if pd.isna(target_cell) else str(target_cell)
        genes = [t.strip() for t in target_text.split(",")]
        genes = [t for t in genes if t]
        if not genes:
            raise InputError(
                f"{path}: line {line}, drug {', '.join(names)!r} has no targets; list its target genes "
                "(comma-separated) or delete the row."
            )
        for name in names:
            for gene in genes:
                drugs_out.append(name)
                targets_out.append(gene)
    result = pd.DataFrame({"drug": drugs_out, "target": targets_out}, dtype=object)
    n_all = len(result)
    result = result.drop_duplicates().reset_index(drop=True)
    if n_all > len(result):
        logger.info("%s: removed %d duplicate drug-target pairs", path, n_all - len(result))
    logger.info(
        "%s: %d drugs, %d targets, %d drug-target pairs",
        path,
        result["drug"].nunique(),
        result["target"].nunique(),
        len(result),
    )
    result.attrs["source"] = str(path)
    return result


def _metric_family(name: str) -> str | None:
    """``ic50``, ``ec50``, ``gi50`` or ``auc`` when ``name`` names one of these metrics (``ln_IC50``, ``AUC``)."""
    key = column_key(name)
    return next((family for family in ("ic50", "ec50", "gi50", "auc") if family in key), None)


def _check_metric(path: Path, metric: str, value_col: str) -> None:
    """Refuse a value column that names another metric than the one asked for: an IC50 read as an AUC would be
    read in the wrong direction (``lower_is_sensitive`` goes with the metric)."""
    asked, found = _metric_family(metric), _metric_family(value_col)
    if asked is not None and found is not None and asked != found:
        raise InputError(
            f"{path}: the response metric is {metric!r} but the file has no such column; its value column "
            f"{value_col!r} holds {found.upper()}s. Set the metric to {found.upper()!r} (config: [preclinical] "
            f"metric, with lower_is_sensitive as that metric needs) or add a column named {metric!r}."
        )


def read_drug_response(
    path: str | os.PathLike[str],
    *,
    sample_column: str | None = None,
    drug_column: str | None = None,
    value_column: str | None = None,
    metric: str = "IC50",
    lower_is_sensitive: bool = True,
    log_scale: bool | None = None,
    replicates: Replicates = "error",
) -> pd.DataFrame:
    """Read drug-response measurements (IC50, AUC...) into a long table ``sample, drug, value``.

    Parameters
    ----------
    path : str or path-like
        Tab- or comma-separated text with a header, in one of two forms:

        - long: one measurement per row, with a sample, a drug and a value column. Columns are found by name
          (case, spaces and underscores ignored): sample ``sample``, ``organoid``, ``cell_line``, ``model``...;
          drug ``drug``, ``drug name``, ``compound``...; value ``value``, ``median_IC50``, ``IC50``, ``ln_IC50``,
          ``AUC``... (e.g. ``Organoid, Drug Name, median_IC50``), or named with the ``*_column`` arguments.
        - wide: a matrix. Assumed **samples x drugs** (first column = sample ids, other columns = drugs), unless
          the first column's header is a drug header (``drug``, ``compound``...), in which case it is read as
          drugs x samples. Empty cells are untested pairs and are skipped (counted in the log).
    sample_column, drug_column, value_column : str, optional
        Column names of the long form, when they are not recognised automatically.
    metric : str, default="IC50"
        What the values measure; recorded in ``attrs``. In a long table with a column of that name (e.g.
        ``AUC`` beside ``IC50``), that column is read; a table whose value column names another metric (only
        ``median_IC50`` when the metric is ``AUC``, or the reverse) is refused.
    lower_is_sensitive : bool, default=True
        Whether a lower value means a more sensitive sample (true for IC50, false for AUC of viability above 0).
    log_scale : bool, optional
        ``False``: values are on a linear scale and must be positive (checked). ``True``: values are
        log-transformed (any sign). ``None`` (default): not stated; recorded as ``True`` when non-positive
        values show the scale must be logarithmic, else left ``None``.
    replicates : {"error", "median", "mean"}, default "error"
        What to do when a (sample, drug) pair is measured more than once with different values: refuse the
        file (the default: two IC50s for one organoid are a conflict to resolve, not noise to hide), or reduce
        them to their median or mean (the count is logged). Exact repeats of one value are always collapsed.

    Returns
    -------
    response : DataFrame of shape (n_measurements, 3)
        Columns ``sample, drug`` (str, trimmed, spelled as in the file) and ``value`` (float), one row per
        (sample, drug) in order of first appearance; replicates reduced as ``replicates`` says (logged).
        ``response.attrs`` holds ``metric``, ``lower_is_sensitive``, ``log_scale`` and ``source``.

    Raises
    ------
    InputError
        When columns cannot be found, the value column names another metric than ``metric``, a value is not a
        number (the message names the row, sample and drug), a linear-scale value is zero or negative, the file
        holds no measurement, or (``replicates="error"``) a pair has conflicting values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "ic50.tsv"
    >>> _ = target.write_text("Organoid\\tDrug Name\\tmedian_IC50\\nP1\\t5-FU\\t1.5\\nP1\\t5-FU\\t2.5\\nP2\\t5-FU\\t0.3\\n")
    >>> read_drug_response(target, replicates="median")
      sample  drug  value
    0     P1  5-FU    2.0
    1     P2  5-FU    0.3
    """
    path = Path(path)
    table = _read_delimited(path, "drug-response")
    columns = list(table.columns)
    given = {"sample_column": sample_column, "drug_column": drug_column, "value_column": value_column}
    for argument, name in given.items():
        if name is not None and name not in columns:
            raise InputError(
                f"{path}: has no column {name!r} ({argument}); its columns are {examples(columns, 8)}."
            )
    sample_col = sample_column or find_column(columns, _SAMPLE_NAMES)
    drug_col = drug_column or find_column(columns, _DRUG_NAMES)
    # a column named as the metric (``AUC`` beside ``IC50``) holds it; else the usual value columns
    value_col = value_column or find_column(columns, (metric,)) or find_column(columns, _VALUE_NAMES)
    if value_column is None and value_col is not None:
        _check_metric(path, metric, value_col)
    if drug_col is not None and value_col is not None and len(columns) >= 3:
        if sample_col is None:
            others = [c for c in columns if c not in (drug_col, value_col)]
            raise InputError(
                f"{path}: cannot tell which column holds the sample ids (columns {examples(columns, 8)}); pass "
                f"sample_column= (perhaps {others[0]!r})."
            )
        long = pd.DataFrame(
            {
                "sample": table[sample_col].str.strip(),
                "drug": table[drug_col].str.strip(),
                "raw": table[value_col].str.strip(),
                "row": np.arange(len(table)) + 2,
            }
        )
        layout = f"long table (sample {sample_col!r}, drug {drug_col!r}, value {value_col!r})"
        missing_ids = long["sample"].isna() | long["drug"].isna()
        if missing_ids.any():
            row = long.loc[missing_ids, "row"].iloc[0]
            raise InputError(
                f"{path}: line {row} has no sample or no drug ({int(missing_ids.sum())} such rows); fill them in "
                "or delete the rows."
            )
    else:
        if drug_col is not None and column_key(drug_col) != column_key(columns[0]):
            raise InputError(
                f"{path}: has a drug column {drug_col!r} but no recognised value column (columns "
                f"{examples(columns, 8)}); pass value_column= (and sample_column= if needed)."
            )
        first = columns[0]
        drugs_as_rows = column_key(first) in {column_key(n) for n in _DRUG_NAMES}
        stacked = table.set_index(first)
        stacked.index = stacked.index.astype(str).str.strip()
        stacked.columns = [str(c).strip() for c in stacked.columns]
        if stacked.shape[1] == 0:
            raise InputError(
                f"{path}: is neither a long table (sample, drug, value columns) nor a matrix with drug columns; "
                f"found columns {examples(columns, 8)}; name them with sample_column=, drug_column=, value_column=."
            )
        line = pd.Series(np.arange(len(stacked)) + 2, index=stacked.index)
        melted = stacked.reset_index(names="_row_id").melt(
            id_vars="_row_id", var_name="_col_id", value_name="raw"
        )
        melted["row"] = np.tile(line.to_numpy(), stacked.shape[1])
        if drugs_as_rows:
            melted = melted.rename(columns={"_row_id": "drug", "_col_id": "sample"})
            layout = "matrix of drugs (rows) x samples (columns)"
        else:
            melted = melted.rename(columns={"_row_id": "sample", "_col_id": "drug"})
            layout = "matrix of samples (rows) x drugs (columns)"
        # Row-major order: all drugs of the first row, then the second row...
        melted = melted.sort_values("row", kind="stable")
        long = melted.loc[:, ["sample", "drug", "raw", "row"]].copy()
        long["raw"] = long["raw"].str.strip()
        empty = long["raw"].isna()
        if empty.any():
            logger.info(
                "%s: %d empty cells of the matrix (untested sample-drug pairs) skipped",
                path,
                int(empty.sum()),
            )
        long = long.loc[~empty]
    values = pd.to_numeric(long["raw"], errors="coerce")
    bad = values.isna() & long["raw"].notna()
    if bad.any():
        first_bad = long.loc[bad].iloc[0]
        raise InputError(
            f"{path}: line {first_bad['row']}: {metric} {first_bad['raw']!r} for sample {first_bad['sample']!r}, "
            f"drug {first_bad['drug']!r} is not a number ({int(bad.sum())} such values); use numbers and leave "
            "missing values empty."
        )
    long = long.assign(value=values.astype(float))
    missing = long["value"].isna()
    if missing.any():
        logger.warning(
            "%s: %d measurements have no value and were skipped (e.g. sample %r, drug %r)",
            path,
            int(missing.sum()),
            long.loc[missing, "sample"].iloc[0],
            long.loc[missing, "drug"].iloc[0],
        )
        long = long.loc[~missing]
    if long.empty:
        raise InputError(f"{path}: holds no {metric} measurement (read as a {layout}).")
    infinite = ~np.isfinite(long["value"].to_numpy())
    if infinite.any():
        row = long.loc[infinite].iloc[0]
        raise InputError(
            f"{path}: line {row['row']}: {metric} for sample {row['sample']!r}, drug {row['drug']!r} is infinite; "
            "use finite numbers."
        )
    non_positive = long["value"] <= 0
    if log_scale is False and non_positive.any():
        row = long.loc[non_positive].iloc[0]
        raise InputError(
            f"{path}: {metric} must be positive on a linear scale; found {row['value']:g} for sample "
            f"{row['sample']!r}, drug {row['drug']!r} (line {row['row']}); if the values are log-transformed, say so "
            "([preclinical] log_scale = true in a config, log_scale=True in Python)."
        )
    if log_scale is None and non_positive.any():
        log_scale = True
        few = int(non_positive.sum()) <= max(
            1, len(long) // 20
        )  # a log table has many: a few look like typos
        (logger.warning if few else logger.info)(
            "%s: %d of %d %s values are non-positive (first: %g for sample %r), so every value is taken as "
            "log-transformed (log_scale=True)%s",
            path,
            int(non_positive.sum()),
            len(long),
            metric,
            float(long.loc[non_positive, "value"].iloc[0]),
            str(long.loc[non_positive, "sample"].iloc[0]),
            "; if the values are linear, those are typos: fix them, or set log_scale = false" if few else "",
        )
    if replicates not in get_args(Replicates):
        raise InputError(f"replicates must be one of {', '.join(get_args(Replicates))}; got {replicates!r}.")
    grouped = long.groupby(["sample", "drug"], sort=False)["value"]
    sizes = grouped.size()
    replicated = sizes[sizes > 1]
    conflicting = (
        (grouped.nunique() > 1).loc[replicated.index] if len(replicated) else replicated.astype(bool)
    )
    conflicting = conflicting[conflicting]
    if len(conflicting) and replicates == "error":
        sample, drug = conflicting.index[0]
        values = long.loc[(long["sample"] == sample) & (long["drug"] == drug), "value"].tolist()
        raise InputError(
            f"{path}: {len(conflicting)} sample-drug pairs are measured more than once with different values "
            f"(first: {sample!r}, {drug!r}: {examples(values)}); remove the wrong rows, or pass "
            "replicates='median' or 'mean' (config: [preclinical] replicates) to reduce them."
        )
    response = (grouped.median() if replicates != "mean" else grouped.mean()).reset_index()
    if len(replicated):
        logger.info(
            "%s: %d sample-drug pairs have replicates (%d measurements, %d with different values); reduced each "
            "to its %s",
            path,
            len(replicated),
            int(replicated.sum()),
            len(conflicting),
            "mean" if replicates == "mean" else "median",
        )
    response["sample"] = response["sample"].astype(object)
    response["drug"] = response["drug"].astype(object)
    response.attrs.update(
        {
            "metric": metric,
            "lower_is_sensitive": bool(lower_is_sensitive),
            "log_scale": log_scale,
            "source": str(path),
        }
    )
    logger.info(
        "%s: read a %s: %d samples, %d drugs, %d measurements",
        path,
        layout,
        response["sample"].nunique(),
        response["drug"].nunique(),
        len(response),
    )
    return response


def unknown_drugs_error(unknown: Sequence[str], available: Iterable[str], *, where: str) -> InputError:
    """The one message for requested drug names absent from a table: each with its close matches."""
    by_key: dict[str, str] = {}
    for drug in available:
        by_key.setdefault(str(drug).strip().casefold(), str(drug))
    hints = []
    for name in unknown[:3]:
        close = difflib.get_close_matches(name.strip().casefold(), list(by_key), n=3, cutoff=0.6)
        if close:
            hints.append(f"{name!r} (did you mean {', '.join(repr(by_key[c]) for c in close)}?)")
        else:
            hints.append(f"{name!r} (no close match)")
    more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    return InputError(
        f"unknown drug {'; '.join(hints)}{more} in {where}, which has {len(by_key)} drugs such as "
        f"{examples(sorted(by_key.values()))}."
    )


def _resolve_drugs(available: Sequence[str], names: Iterable[str], *, where: str) -> list[str]:
    """Map requested names to the spelling in ``available`` (case-insensitive); raise listing close matches."""
    by_key: dict[str, list[str]] = {}
    for drug in available:
        by_key.setdefault(drug.strip().casefold(), []).append(drug)
    resolved: list[str] = []
    unknown: list[str] = []
    for name in names:
        matches = by_key.get(str(name).strip().casefold())
        if matches is None:
            unknown.append(str(name))
        else:
            resolved.extend(m for m in matches if m not in resolved)
    if unknown:
        raise unknown_drugs_error(unknown, available, where=where)
    return resolved


def select_drugs(response_or_targets: pd.DataFrame, names: str | Iterable[str]) -> pd.DataFrame:
    """Rows of a long table with a ``drug`` column for the named drugs, matched case-insensitively.

    Parameters
    ----------
    response_or_targets : DataFrame with a ``drug`` column
        A response table (:func:`read_drug_response`), a target table (:func:`read_drug_targets`) or any long
        table keyed by drug.
    names : str or iterable of str
        Drug names; case and surrounding whitespace are ignored.

    Returns
    -------
    selected : DataFrame
        The matching rows in their original order, with the original spelling and ``attrs``; a new object.

    Raises
    ------
    InputError
        When a name matches no drug; the message lists close matches (:func:`difflib.get_close_matches`).

    Examples
    --------
    >>> import pandas as pd
    >>> targets = pd.DataFrame({"drug": ["FLUOROURACIL", "CISPLATIN"], "target": ["TYMS", "TF"]})
    >>> select_drugs(targets, "fluorouracil")
               drug target
    0  FLUOROURACIL   TYMS
    """
    if not isinstance(response_or_targets, pd.DataFrame) or "drug" not in response_or_targets.columns:
        raise InputError(
            "select_drugs needs a DataFrame with a 'drug' column (from read_drug_response or read_drug_targets); "
            f"got {type(response_or_targets).__name__}."
        )
    wanted = [names] if isinstance(names, str) else list(names)
    if not wanted:
        raise InputError("select_drugs needs at least one drug name; got none.")
    drugs = response_or_targets["drug"].astype(str)
    where = response_or_targets.attrs.get("source", "the table")
    resolved = _resolve_drugs(list(pd.unique(drugs.to_numpy())), wanted, where=str(where))
    return response_or_targets.loc[drugs.isin(resolved).to_numpy()].copy()


def response_matrix(response: pd.DataFrame, drugs: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Pivot a long response table into a samples x drugs matrix.

    Parameters
    ----------
    response : DataFrame with columns ``sample, drug, value``
        As returned by :func:`read_drug_response`; at most one row per (sample, drug).
    drugs : str or iterable of str, optional
        Drugs to keep (case-insensitive, see :func:`select_drugs`); default all.

    Returns
    -------
    matrix : DataFrame of shape (n_samples, n_drugs)
        Samples and drugs in order of first appearance; NaN where a pair was not measured. ``attrs`` are kept.

    Raises
    ------
    InputError
        When columns are missing, a (sample, drug) pair occurs twice, or a drug name is unknown.
    """
    if not isinstance(response, pd.DataFrame):
        raise InputError(
            f"response must be a DataFrame with columns sample, drug, value; got {type(response).__name__}."
        )
    missing = [c for c in ("sample", "drug", "value") if c not in response.columns]
    if missing:
        raise InputError(f"response is missing columns {missing} (has {list(response.columns)}).")
    table = response if drugs is None else select_drugs(response, drugs)
    duplicated = table.duplicated(["sample", "drug"])
    if duplicated.any():
        first = table.loc[duplicated].iloc[0]
        raise InputError(
            f"response has {int(duplicated.sum())} repeated (sample, drug) pairs (first: {first['sample']!r}, "
            f"{first['drug']!r}); reduce replicates first (read_drug_response takes their median)."
        )
    samples = pd.unique(table["sample"].astype(str).to_numpy())
    drug_order = pd.unique(table["drug"].astype(str).to_numpy())
    matrix = table.pivot(index="sample", columns="drug", values="value")
    matrix = matrix.reindex(index=samples, columns=drug_order).astype(float)
    matrix.index.name = "sample"
    matrix.columns.name = "drug"
    matrix.attrs = dict(response.attrs)
    return matrix
