"""GEO series matrix files (``GSExxxx_series_matrix.txt[.gz]``): sample annotations and the probe table."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._expression import _to_samples_by_genes
from organoidrx.io._tables import parse_table as _parse_delimited
from organoidrx.io._tables import read_text as _read_text

logger = logging.getLogger(__name__)

__all__ = ["read_geo_series_matrix"]

_BEGIN = "!series_matrix_table_begin"
_END = "!series_matrix_table_end"
_GENE_COLUMN_NAMES = ("gene symbol", "gene_symbol", "symbol", "gene", "genesymbol", "gene_assignment")
_PROBE_COLUMN_NAMES = ("id", "id_ref", "probe", "probe_id", "probeset_id")
_MULTI_GENE_SEPARATOR = "///"


def _fields(line: str) -> list[str]:
    return next(csv.reader([line], delimiter="\t"))


def _sample_annotations(lines: list[str], name: str) -> pd.DataFrame:
    """The ``!Sample_*`` header lines as a DataFrame indexed by GSM accession (characteristics split on ':')."""
    columns: dict[str, list[str]] = {}
    n_characteristics: dict[str, int] = {}
    for line in lines:
        fields = _fields(line)
        key = fields[0][len("!Sample_") :]
        values = [v.strip() for v in fields[1:]]
        if key.startswith("characteristics"):
            n_characteristics[key] = n_characteristics.get(key, 0) + 1
            labels = {v.split(":", 1)[0].strip() for v in values if ":" in v}
            if len(labels) == 1 and all(":" in v or not v for v in values):
                column = labels.pop()
                values = [v.split(":", 1)[1].strip() if ":" in v else "" for v in values]
            else:
                column = f"{key}_{n_characteristics[key]}"
        else:
            column = key
        while column in columns:
            # Repeated keys (e.g. several !Sample_data_processing lines) get a numbered suffix.
            column = f"{column}_{sum(c.startswith(column) for c in columns) + 1}"
        columns[column] = values
    if "geo_accession" not in columns:
        raise InputError(
            f"{name} has no '!Sample_geo_accession' line; it does not look like a GEO series matrix file."
        )
    accessions = columns.pop("geo_accession")
    lengths = {k: len(v) for k, v in columns.items() if len(v) != len(accessions)}
    if lengths:
        key = next(iter(lengths))
        raise InputError(
            f"{name}: '!Sample_{key}' has {lengths[key]} values but there are {len(accessions)} samples; "
            "the header is malformed."
        )
    samples = pd.DataFrame(columns, index=pd.Index(accessions, name="geo_accession"))
    return samples


def _read_probe_map(
    probe_map: str | os.PathLike[str] | pd.DataFrame, probe_column: str | None, gene_column: str | None
) -> tuple[pd.Series, str]:
    """probe id -> gene symbol (str), from a GPL annotation file or a DataFrame."""
    if isinstance(probe_map, pd.DataFrame):
        table = probe_map.astype(str)
        name = "probe_map"
    else:
        name = Path(probe_map).name
        text = _read_text(probe_map)
        # GPL annotation tables downloaded from GEO start with '#' comment lines.
        text = "\n".join(line for line in text.split("\n") if not line.startswith("#"))
        table = _parse_delimited(text, name=name, sep=None, default_sep="\t", all_strings=True)
    lowered = {str(c).strip().lower(): str(c) for c in table.columns}
    if probe_column is None:
        probe_column = next((lowered[c] for c in _PROBE_COLUMN_NAMES if c in lowered), str(table.columns[0]))
    if gene_column is None:
        gene_column = next((lowered[c] for c in _GENE_COLUMN_NAMES if c in lowered), None)
        if gene_column is None:
            if table.shape[1] < 2:
                raise InputError(
                    f"{name} needs a probe column and a gene column; found {list(table.columns)}."
                )
            gene_column = str(table.columns[1])
    for wanted, option in ((probe_column, "probe_column"), (gene_column, "gene_column")):
        if wanted not in table.columns:
            raise InputError(
                f"{name} has no column {wanted!r} (columns: {examples(list(table.columns), 6)}); pass {option}=."
            )
    probes = table[probe_column].astype(str).str.strip()
    genes = table[gene_column].fillna("").astype(str).str.strip()
    genes = genes.where(~genes.isin(["", "nan", "NA", "---", "-"]), "")
    mapping = pd.Series(genes.to_numpy(), index=probes.to_numpy())
    mapping = mapping[~mapping.index.duplicated(keep="first")]
    return mapping, name


def read_geo_series_matrix(
    path: str | os.PathLike[str],
    *,
    probe_map: str | os.PathLike[str] | pd.DataFrame | None = None,
    probe_column: str | None = None,
    gene_column: str | None = None,
) -> pd.DataFrame:
    """Read a GEO series matrix file: the expression table and the sample annotations.

    Parameters
    ----------
    path : str or path-like
        A ``GSExxxx_series_matrix.txt`` or ``.txt.gz`` file as GEO serves it: ``!Series_*`` and ``!Sample_*``
        header lines, then the probes x samples table between ``!series_matrix_table_begin`` and
        ``!series_matrix_table_end``.
    probe_map : str, path-like or DataFrame, optional
        Probe -> gene table, e.g. the platform's GPL annotation file (``#`` comment lines are skipped). Probes are
        collapsed to genes by the per-sample median. Without it the columns are the probe ids.
    probe_column : str, optional
        Probe id column of ``probe_map``. Default: ``ID`` (or ``ID_REF``, ``probe_id``...), else the first column.
    gene_column : str, optional
        Gene symbol column of ``probe_map``. Default: ``Gene Symbol`` (or ``symbol``, ``gene``...), else the
        second column.

    Returns
    -------
    DataFrame of shape (n_samples, n_genes)
        Index = GSM accessions, float values. ``.attrs["samples"]`` holds a DataFrame of sample annotations indexed
        by accession: ``title``, ``source_name_ch1`` and the other ``!Sample_`` fields, with each
        ``!Sample_characteristics_ch1`` line of the form ``key: value`` as a column named ``key``.
        ``.attrs["series"]`` holds the ``!Series_`` fields as a dict of str.

    Raises
    ------
    InputError
        When the file is empty, truncated or binary, lacks the table markers or ``!Sample_geo_accession``, when a
        table cell is not a number, or when no probe maps to a gene.

    Notes
    -----
    Probes annotated with several genes (``A /// B``) are ambiguous and left out; probes without a gene are left
    out; both counts are logged. GEO writes missing values as ``null`` or an empty cell; both become NaN.
    """
    name = Path(path).name
    text = _read_text(path)
    lines = text.split("\n")
    if not any(line.strip() for line in lines):
        raise InputError(f"{name} is empty; expected a GEO series matrix file.")
    stripped = [line.strip().strip('"').lower() for line in lines]
    if _BEGIN not in stripped:
        raise InputError(
            f"{name} has no '{_BEGIN}' line; it is not a GEO series matrix file (or it was cut before the table)."
        )
    begin = stripped.index(_BEGIN)
    if _END not in stripped[begin:]:
        raise InputError(f"{name} has no '{_END}' line after the table begins; the file is truncated.")
    end = begin + stripped[begin:].index(_END)
    header_lines = lines[:begin]
    series: dict[str, str] = {}
    for line in header_lines:
        if line.startswith("!Series_"):
            fields = _fields(line)
            key = fields[0][len("!Series_") :]
            value = "; ".join(v.strip() for v in fields[1:])
            series[key] = f"{series[key]}; {value}" if key in series else value
    samples = _sample_annotations([line for line in header_lines if line.startswith("!Sample_")], name)
    table_text = "\n".join(lines[begin + 1 : end])
    if not table_text.strip():
        raise InputError(f"{name}: the table between '{_BEGIN}' and '{_END}' is empty.")
    table = _parse_delimited(table_text, name=name, sep="\t", default_sep="\t")
    matrix = _to_samples_by_genes(table, name=name, gene_column=None, duplicates="error")
    missing = [s for s in matrix.index if s not in samples.index]
    if missing:
        logger.warning(
            "%s: %d table columns have no !Sample_ annotation (e.g. %s)",
            name,
            len(missing),
            examples(missing),
        )
    if probe_map is not None:
        matrix = _collapse_probes(matrix, probe_map, probe_column, gene_column, name)
    result = matrix.copy()
    result.attrs["samples"] = samples.reindex(result.index)
    result.attrs["series"] = series
    return result


def _collapse_probes(
    matrix: pd.DataFrame,
    probe_map: str | os.PathLike[str] | pd.DataFrame,
    probe_column: str | None,
    gene_column: str | None,
    name: str,
) -> pd.DataFrame:
    mapping, map_name = _read_probe_map(probe_map, probe_column, gene_column)
    genes = pd.Series(matrix.columns, index=matrix.columns).map(mapping).fillna("")
    not_in_map = int((~matrix.columns.isin(mapping.index)).sum())
    multi = genes.str.contains(_MULTI_GENE_SEPARATOR, regex=False)
    no_gene = genes == ""
    keep = ~(multi | no_gene)
    if not keep.any():
        raise InputError(
            f"no probe of {name} maps to a single gene in {map_name}; the table has probes like "
            f"{examples(list(matrix.columns))} while the map has {examples(list(mapping.index))}."
        )
    if not keep.all():
        logger.warning(
            "%s: %d of %d probes had no gene (%d absent from %s) and %d mapped to several genes; left out (e.g. %s)",
            name,
            int(no_gene.sum()),
            len(genes),
            not_in_map,
            map_name,
            int(multi.sum()),
            examples(list(genes.index[~keep])),
        )
    kept = matrix.loc[:, keep.to_numpy()]
    symbols = genes[keep].to_numpy()
    collapsed = kept.T.groupby(symbols, sort=False).median().T
    logger.info("%s: %d probes collapsed to %d genes by median", name, int(keep.sum()), collapsed.shape[1])
    collapsed.columns = pd.Index([str(c) for c in collapsed.columns], dtype=object)
    return collapsed.astype(float)
