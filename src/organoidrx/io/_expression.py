"""Expression matrices from disk: TSV/CSV (optionally gzipped), Parquet, GCT, GSEA text matrices and AnnData.

Files keep their source orientation (genes x samples); :func:`read_expression` transposes once and returns the
in-memory convention, a float DataFrame of shape (n_samples, n_genes).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from organoidrx._registry import Option
from organoidrx._utils import InputError, atomic_write, examples
from organoidrx._validation import as_expression_frame
from organoidrx.io._tables import (
    check_regular_file,
    column_key,
    default_delimiter,
    display_name,
    parse_table,
    read_text,
)

logger = logging.getLogger(__name__)

__all__ = ["read_expression", "write_expression"]

Duplicates = Literal["error", "mean", "max", "first"]
ExpressionFormat = Literal["text", "parquet", "gct", "h5ad"]

#: Duplicated gene rows of an expression file: the one definition (config key, ``--duplicates``, the readers).
DUPLICATES = Option(
    "duplicates",
    "error",
    str,
    "what to do with duplicated gene rows in expression files: error, or keep their mean, max or first row",
    choices=get_args(Duplicates),
)
_FORMATS = ("text", "parquet", "gct", "h5ad")
# Column names that describe genes rather than samples; dropped even when their values look numeric.
_ANNOTATION_NAMES = frozenset(
    {
        "description",
        "desc",
        "uniprotid",
        "uniprot",
        "uniprot_id",
        "gene_name",
        "genename",
        "gene_symbol",
        "genesymbol",
        "symbol",
        "gene_type",
        "gene_biotype",
        "biotype",
        "entrez",
        "entrezid",
        "entrez_id",
        "entrezgeneid",
        "chr",
        "chrom",
        "chromosome",
        "start",
        "end",
        "strand",
        "length",
    }
)
_ANNOTATION_KEYS = frozenset(column_key(n) for n in _ANNOTATION_NAMES)
# identifier columns by name: ENTREZ_GENE_ID, Ensembl Gene ID, ncbi_gene_id, probeset_id, hgnc_symbol, ...
_IDENTIFIER_KEY = re.compile(
    r"(?:entrez|ensembl|hgnc|ncbi|refseq|probe|probeset|transcript|gene)(?:gene)?(?:ids?|symbols?|names?|accession)?"
)
# A column is an annotation column when more than this fraction of its non-missing cells are not numbers.
_ANNOTATION_FRACTION = 0.5
# A numeric column of distinct whole numbers on at least this many rows holds identifiers (Entrez ids), not a
# sample, when some sample column is not so: counts of this many genes tie (zeros), log values and intensities
# are not whole.
_IDENTIFIER_ROWS = 1000


def is_annotation_column(column: str) -> bool:
    """Whether a column of an expression table is named as gene annotation (a symbol, an id, a position), not a
    sample: names compared as :func:`~organoidrx.io._tables.column_key` does (case, spaces, ``_`` ignored)."""
    key = column_key(column)
    return key in _ANNOTATION_KEYS or _IDENTIFIER_KEY.fullmatch(key) is not None


def _holds_identifiers(values: np.ndarray) -> bool:
    """Distinct positive integers on every row: an identifier column (Entrez ids), not a sample (the column is of
    an integer dtype; a count of zero ends the check before any sorting)."""
    return bool(
        len(values) >= _IDENTIFIER_ROWS and values.min() >= 1 and len(np.unique(values)) == len(values)
    )


# --------------------------------------------------------------------------------------------------- matrix


def _finite_or_text(value: Any) -> bool:
    """False for a number that overflows a float (1e400), which pandas leaves as text."""
    try:
        return bool(np.isfinite(float(str(value).strip())))
    except ValueError:
        return True


def _to_samples_by_genes(
    table: pd.DataFrame, *, name: str, gene_column: str | None, duplicates: Duplicates
) -> pd.DataFrame:
    """Gene column -> index, drop annotation columns, check numbers, resolve duplicates, transpose once."""
    columns = [str(c) for c in table.columns]
    table = table.set_axis(columns, axis=1)
    if gene_column is None:
        gene_position = 0
    elif gene_column in columns:
        gene_position = columns.index(gene_column)
    else:
        raise InputError(
            f"{name} has no column {gene_column!r} (columns: {examples(columns, 5)}); pass gene_column=<name>."
        )
    if table.shape[0] == 0:
        raise InputError(f"{name} has a header line but no data rows; it needs one row per gene.")
    genes = table.iloc[:, gene_position]
    missing_gene = genes.isna() | (genes.astype(str).str.strip() == "")
    if missing_gene.any():
        row = int(np.flatnonzero(missing_gene.to_numpy())[0])
        raise InputError(
            f"{name}: {int(missing_gene.sum())} rows have an empty gene id (first at data row {row + 1}); "
            "fill in or remove them."
        )
    gene_index = pd.Index(genes.astype(str).str.strip().to_numpy(), dtype=object)

    # Numeric columns are gathered into one block (a wide file has 10^4-10^5 of them); others are checked one by one.
    dtypes = table.dtypes.tolist()
    kept: list[str] = []
    numeric: list[int] = []
    parsed: dict[int, np.ndarray] = {}
    annotation: list[str] = []
    textual: list[str] = []  # dropped for their content, not their name: could be a sample written wrongly
    identifiers: list[tuple[int, str]] = []  # likewise: distinct whole numbers, as Entrez ids are
    for position, column in enumerate(columns):
        if position == gene_position:
            continue
        dtype = dtypes[position]
        if is_annotation_column(column) or pd.api.types.is_bool_dtype(dtype):
            annotation.append(column)
            continue
        if pd.api.types.is_numeric_dtype(dtype):
            if pd.api.types.is_integer_dtype(dtype) and _holds_identifiers(
                table.iloc[:, position].to_numpy()
            ):
                identifiers.append((position, column))
            kept.append(column)
            numeric.append(position)
            continue
        values = table.iloc[:, position]
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        present = int(values.notna().sum())
        if present and bad.sum() > _ANNOTATION_FRACTION * present:
            commas = values[bad].astype(str).str.fullmatch(r"\s*[-+]?\d*,\d+(?:[eE][-+]?\d+)?\s*")
            if commas.mean() > _ANNOTATION_FRACTION:
                first = values[bad][commas].iloc[0]
                raise InputError(
                    f"{name}: sample column {column!r} writes decimals with a comma ({first!r}, "
                    f"{int(commas.sum())} cells); write them with a point (5.25), as the other columns do."
                )
            textual.append(column)
            continue
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            kind = "non-numeric value" if _finite_or_text(values.iloc[row]) else "value too large for a float"
            raise InputError(
                f"{name}: {kind} {values.iloc[row]!r} at gene {gene_index[row]!r} (data row {row + 1}), "
                f"sample column {column!r} ({int(bad.sum())} such cells); fix the value or write NA for missing."
            )
        kept.append(column)
        parsed[position] = numbers.to_numpy(dtype=float)
    if annotation:
        logger.info("%s: dropped %d annotation columns %s", name, len(annotation), examples(annotation, 5))
    if textual:
        logger.warning(
            "%s: dropped %d columns whose cells are mostly not numbers, as annotation (%s); if one is a sample, "
            "fix its values",
            name,
            len(textual),
            examples(textual, 5),
        )
    if identifiers and len(identifiers) < len(kept):  # not when every sample looks so (a panel of counts)
        for position, column in identifiers:
            kept.remove(column)
            numeric.remove(position)
        logger.warning(
            "%s: dropped %d columns holding a distinct whole number on every row, as gene identifiers such as "
            "Entrez ids, not samples (%s)",
            name,
            len(identifiers),
            examples([column for _, column in identifiers], 5),
        )
    if not kept:
        raise InputError(
            f"{name} has no numeric sample columns (columns: {examples(columns, 5)}); "
            "expected genes as rows and one numeric column per sample."
        )
    positions = sorted([*numeric, *parsed])  # the kept columns' positions, in file order like ``kept``
    # Column-major, as the per-column build was: one contiguous array per sample.
    values_block = np.empty((len(gene_index), len(positions)), dtype=float, order="F")
    if numeric:
        where = np.searchsorted(positions, numeric)
        values_block[:, where] = table.iloc[:, numeric].to_numpy(dtype=float)
    for position, array in parsed.items():
        values_block[:, int(np.searchsorted(positions, position))] = array
    matrix = pd.DataFrame(values_block, index=gene_index, columns=pd.Index(kept, dtype=object))
    if np.isinf(values_block).any():
        row, col = np.argwhere(np.isinf(values_block))[0]
        raise InputError(
            f"{name}: infinite value at gene {matrix.index[row]!r}, sample {matrix.columns[col]!r}; "
            "replace it with a finite number, or drop that gene."
        )
    matrix = _resolve_duplicates(matrix, name=name, duplicates=duplicates)
    for what, ids in (("gene", matrix.index), ("sample", matrix.columns)):
        _warn_case_twins(ids, name=name, what=what)
    result = matrix.T
    result.index = pd.Index([str(s) for s in result.index], dtype=object)
    result.columns = pd.Index(list(result.columns), dtype=object)
    return result.astype(float)


def _warn_case_twins(ids: pd.Index, *, name: str, what: str) -> None:
    """Warn about ids that differ from another only in case (``UBE2Q1``, ``ube2q1``): kept apart, as written."""
    folded = pd.Index([str(i).casefold() for i in ids])
    twins = ids[folded.duplicated(keep=False)]
    if len(twins):
        logger.warning(
            "%s: %d %s ids differ from another only in case (e.g. %s); they are kept apart as written",
            name,
            len(twins),
            what,
            examples(list(twins)[:4]),
        )


def _resolve_duplicates(matrix: pd.DataFrame, *, name: str, duplicates: Duplicates) -> pd.DataFrame:
    """Aggregate duplicated gene rows (genes x samples) or raise, as ``duplicates`` says."""
    is_duplicated = matrix.index.duplicated(keep=False)
    if not is_duplicated.any():
        return matrix
    duplicated_ids = matrix.index[matrix.index.duplicated()].unique()
    if duplicates == "error":
        raise InputError(
            f"{name} has {len(duplicated_ids)} duplicated gene ids (first: {examples(duplicated_ids)}); "
            "aggregate them, or set duplicates to mean, max or first (the config's duplicates key, --duplicates "
            "of 'score' and 'predict')."
        )
    if duplicates == "first":
        result = matrix.loc[~matrix.index.duplicated(keep="first")]
    else:
        grouped = matrix.groupby(level=0, sort=False)
        result = grouped.mean() if duplicates == "mean" else grouped.max()
        # a missing value stays missing (and is refused like any other), not silently left out of the mean
        missing = matrix.isna().groupby(level=0, sort=False).any()
        result = result.mask(missing.loc[result.index, result.columns])
        result = result.loc[matrix.index[~matrix.index.duplicated()]]
    logger.info(
        "%s: %d duplicated gene ids (%d rows, e.g. %s) collapsed by %s",
        name,
        len(duplicated_ids),
        int(is_duplicated.sum()),
        examples(duplicated_ids),
        duplicates,
    )
    return result


def _read_gct(text: str, *, name: str) -> tuple[pd.DataFrame, tuple[int, int]]:
    lines = text.split("\n")
    if not lines[0].strip():
        raise InputError(f"{name} is empty; a GCT file starts with '#1.2'.")
    version = lines[0].strip().split("\t")[0]
    if version != "#1.2":
        raise InputError(
            f"{name}: GCT version line is {version!r}; only '#1.2' is supported (save as GCT 1.2 or as TSV)."
        )
    try:
        n_rows, n_cols = (int(v) for v in lines[1].strip().split("\t")[:2])
    except (ValueError, IndexError):
        raise InputError(
            f"{name}: the second line of a GCT file must hold the row and column counts; found {lines[1][:40]!r}."
        ) from None
    table = parse_table(text, name=name, sep="\t", default_sep="\t", skip_lines=2)
    return table, (n_rows, n_cols)


def _read_whole(
    path: str | os.PathLike[str], *, name: str, fmt: str, gene_column: str | None, duplicates: Duplicates
) -> pd.DataFrame:
    """An h5ad or Parquet matrix read whole through its streaming reader: one loader per format."""
    from organoidrx.io._streaming import _AnnDataSource, _ParquetSource

    source = (
        _AnnDataSource(Path(path), name=name, format="h5ad", duplicates=duplicates)
        if fmt == "h5ad"
        else _ParquetSource(Path(path), name=name, gene_column=gene_column, duplicates=duplicates)
    )
    try:
        values = source.read(0, len(source.samples))
    finally:
        source.close()
    return as_expression_frame(pd.DataFrame(values, index=source.samples, columns=source.genes), name=name)


def _guess_format(path: Path) -> ExpressionFormat:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".parquet", ".pq"):
        return "parquet"
    if last == ".gct":
        return "gct"
    if last == ".h5ad":
        return "h5ad"
    return "text"


def read_expression(
    path: str | os.PathLike[str] | Any,
    *,
    sep: str | None = None,
    gene_column: str | None = None,
    duplicates: Duplicates = "error",
    format: ExpressionFormat | None = None,
) -> pd.DataFrame:
    """Read an expression matrix stored genes x samples and return it samples x genes.

    Parameters
    ----------
    path : str, path-like, or AnnData / DataFrame
        A TSV/CSV/TXT file (optionally ``.gz``), a Parquet file, a GCT 1.2 file, a GSEA-format text matrix
        (``NAME``, ``DESCRIPTION``, samples...) or an AnnData ``.h5ad`` file. The file holds genes as rows and
        samples as columns (AnnData: samples as ``obs``). An in-memory AnnData object or samples x genes DataFrame
        is validated and returned as a copy.
    sep : str, optional
        Field delimiter of a text file. Default: sniffed among tab, comma and semicolon from the first lines.
    gene_column : str, optional
        Name of the column holding gene ids. Default: the first column.
    duplicates : {'error', 'mean', 'max', 'first'}, default 'error'
        What to do with gene ids that occur on several rows: raise, or collapse them per sample by mean, maximum
        or the first row.
    format : {'text', 'parquet', 'gct', 'h5ad'}, optional
        File format. Default: from the suffix (``.parquet``/``.pq``, ``.gct``, ``.h5ad``, anything else is text).

    Returns
    -------
    DataFrame of shape (n_samples, n_genes)
        Float values; index = sample ids (the file's column names), columns = gene ids, both strings in file
        order. Missing cells (empty, ``NA``, ``NaN``, ``null``...) are NaN.

    Raises
    ------
    InputError
        With one line naming the file, for: a missing, empty, header-only, truncated, binary or non-UTF-8 file;
        a delimiter that yields a single column; a non-numeric cell in a sample column (the message gives the gene,
        the sample and the value); duplicated gene ids with ``duplicates='error'``; duplicated sample ids; a
        missing optional dependency (pyarrow for Parquet, anndata for .h5ad).

    Notes
    -----
    Columns whose name is a known gene annotation (``DESCRIPTION``, ``uniprotID``, ``gene_name``...) or whose
    non-missing cells are mostly not numbers are annotation columns: they are dropped and named in an info log
    line. A column that is mostly numeric but holds a few non-numeric cells is an error, not an annotation.
    Numbers are parsed exactly (``float_precision='round_trip'``), so :func:`write_expression` followed by
    :func:`read_expression` returns identical values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "expr.tsv").write_text("gene\\tS1\\tS2\\nTP53\\t1.5\\t2.0\\nEGFR\\t0.1\\tNA\\n")
    >>> read_expression(folder / "expr.tsv")
        TP53  EGFR
    S1   1.5   0.1
    S2   2.0   NaN
    """
    DUPLICATES.validate(duplicates)
    if format is not None and format not in _FORMATS:
        raise InputError(f"format must be one of {list(_FORMATS)}; got {format!r}.")
    if not isinstance(path, str | os.PathLike):
        return as_expression_frame(path)
    frame = _read_file(Path(path), sep=sep, gene_column=gene_column, duplicates=duplicates, format=format)
    frame.attrs["source"] = str(path)  # messages downstream name the file
    return frame


def _read_file(
    path: Path,
    *,
    sep: str | None,
    gene_column: str | None,
    duplicates: Duplicates,
    format: ExpressionFormat | None,
) -> pd.DataFrame:
    name = display_name(path)
    check_regular_file(path)
    fmt = format or _guess_format(path)
    if fmt in ("h5ad", "parquet"):
        return _read_whole(path, name=name, fmt=fmt, gene_column=gene_column, duplicates=duplicates)
    text = read_text(path)
    if text.lstrip().startswith(("!Series_", "!Sample_", "!series_matrix")):  # a GEO series matrix
        from organoidrx.io._geo import read_geo_series_matrix

        logger.info("%s: a GEO series matrix; read with read_geo_series_matrix", name)
        return read_geo_series_matrix(path, gene_column=gene_column)
    if fmt == "gct":
        table, (n_rows, n_cols) = _read_gct(text, name=name)
        result = _to_samples_by_genes(table, name=name, gene_column=gene_column, duplicates=duplicates)
        if table.shape[0] != n_rows or result.shape[0] != n_cols:
            raise InputError(
                f"{name}: the GCT header declares {n_rows} genes x {n_cols} samples but the table has "
                f"{table.shape[0]} x {result.shape[0]}; the file may be truncated."
            )
        return result
    table = parse_table(text, name=name, sep=sep, default_sep=default_delimiter(path))
    return _to_samples_by_genes(table, name=name, gene_column=gene_column, duplicates=duplicates)


def _format_genes_by_samples(frame: pd.DataFrame) -> str:
    """Genes x samples TSV text; floats as ``repr`` (shortest string that reads back to the same double)."""
    labels = [*frame.index, *frame.columns]
    if any(("\t" in label or "\n" in label or "\r" in label or '"' in label) for label in labels):
        # Labels that need quoting go through pandas' CSV writer (slower, same numbers).
        table = frame.T
        table.index.name = "gene"
        return table.to_csv(sep="\t", na_rep="NA", lineterminator="\n")
    lines = ["\t".join(["gene", *frame.index])]
    values = frame.to_numpy(dtype=float).T
    for gene, row in zip(frame.columns, values.tolist(), strict=True):
        lines.append("\t".join([gene, *["NA" if v != v else repr(v) for v in row]]))
    return "\n".join(lines) + "\n"


def write_expression(expression: Any, path: str | os.PathLike[str]) -> Path:
    """Write a samples x genes matrix to a genes x samples tab-separated file, atomically.

    Parameters
    ----------
    expression : DataFrame of shape (n_samples, n_genes) or AnnData
        Validated with :func:`organoidrx._validation.as_expression_frame`.
    path : str or path-like
        Destination; a name ending in ``.gz`` is gzip-compressed (with a fixed header, so equal inputs give
        byte-identical files).

    Returns
    -------
    Path
        The path written.

    Notes
    -----
    The first header cell is ``gene``; missing values are written as ``NA``; floats are written with the shortest
    representation that reads back to the same double, so :func:`read_expression` round-trips exactly.
    """
    frame = as_expression_frame(expression)
    path = Path(path)
    text = _format_genes_by_samples(frame)
    if path.name.lower().endswith(".gz"):
        with atomic_write(path, "wb") as handle:
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as compressed:
                compressed.write(text.encode("utf-8"))
    else:
        with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return path
