"""Expression matrices read in chunks of samples, so that a cohort larger than memory can be scored.

:func:`open_expression` opens a file without reading its values and returns an :class:`ExpressionSource`: the
sample and gene ids, and :meth:`ExpressionSource.read` of any run of samples as a float64 array of shape
(n_chunk_samples, n_genes) (samples as rows, the in-memory convention). Which files stream:

=================  ===============================================================  ==========================
format             layout on disk                                                   a chunk of samples is
=================  ===============================================================  ==========================
Parquet            genes x samples (the layout :func:`read_expression` reads): a    a column selection
                   gene-id column, then one numeric column per sample
h5ad               AnnData, samples as ``obs``; ``X`` dense or CSR                  rows of ``X`` (backed mode)
Zarr (``.zarr``)   an AnnData store (``AnnData.write_zarr``); ``X`` dense or CSR    rows of ``X``
TSV/CSV/GCT        genes x samples text                                             not streamed: read whole
=================  ===============================================================  ==========================

A genes x samples Parquet file streams by reading only the chunk's columns (measured on 3,000 samples x 10,000
genes: 0.56 s and a 201 MB peak for the whole file in chunks of 100 samples). A samples-as-rows Parquet file does
not: with 10^4 gene columns pyarrow decodes a whole row group per batch and holds per-column metadata for every
row group (1.05 GB peak for the same 240 MB matrix in one row group, 680 MB with row groups of 200 samples), so
samples-as-rows Parquet is not a streaming layout here. Text matrices hold genes as rows, so one sample's values
are spread over every line: they are read whole (:attr:`ExpressionSource.streams` is ``False``) and the memory
check counts the whole matrix. The values of a chunk are exactly those :func:`read_expression` returns for the
same samples.
"""

from __future__ import annotations

import abc
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._expression import (
    Duplicates,
    _guess_format,
    _resolve_duplicates,
    is_annotation_column,
    read_expression,
)
from organoidrx.io._tables import check_regular_file, display_name

logger = logging.getLogger(__name__)

__all__ = ["ExpressionSource", "iter_expression_chunks", "open_expression"]

#: resident bytes of a Parquet footer once decoded, per byte of the footer on disk (measured 11.3; with margin)
_FOOTER_FACTOR = 16


class ExpressionSource(abc.ABC):
    """An expression matrix on disk, read in chunks of samples (made by :func:`open_expression`).

    Attributes
    ----------
    path : Path
    name : str
        The file's name, for messages.
    samples : Index of str, length n_samples
    genes : Index of str, length n_genes
        Gene ids after duplicates are resolved: the columns of every array :meth:`read` returns.
    streams : bool
        ``True`` when a chunk is read without reading the whole file; ``False`` for text matrices, which
        :meth:`read` reads whole once and then slices.
    format : str
        ``"parquet"``, ``"h5ad"``, ``"zarr"``, ``"text"`` or ``"gct"``.

    Notes
    -----
    Memory: :meth:`read` of ``k`` samples allocates ``k x n_genes x 8`` bytes for the result plus the reader's
    buffers (:attr:`read_bytes_per_sample`); the source itself holds only the sample and gene ids (a text source
    holds the whole matrix once read).
    """

    path: Path
    name: str
    format: str
    samples: pd.Index
    genes: pd.Index
    streams: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_samples, n_genes)``."""
        return len(self.samples), len(self.genes)

    @property
    def read_bytes_per_sample(self) -> int:
        """Bytes the reader holds per sample of a chunk besides the float64 result (its own buffers)."""
        return 8 * len(self.genes)

    @property
    def read_fixed_bytes(self) -> int:
        """Bytes the open reader holds whatever the chunk (e.g. a Parquet file's decoded footer)."""
        return 0

    @abc.abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Values of samples ``start`` to ``stop - 1``: a new float64 array of shape (stop - start, n_genes)."""

    def chunks(self, chunk_samples: int) -> Iterator[tuple[pd.Index, np.ndarray]]:
        """``(sample ids, values)`` of consecutive chunks of at most ``chunk_samples`` samples, in file order."""
        if chunk_samples < 1:
            raise InputError(f"chunk_samples must be a positive integer; got {chunk_samples!r}.")
        n = len(self.samples)
        for start in range(0, n, chunk_samples):
            stop = min(start + chunk_samples, n)
            yield self.samples[start:stop], self.read(start, stop)

    def read_frame(self) -> pd.DataFrame:
        """The whole matrix as a samples x genes DataFrame (what :func:`read_expression` returns)."""
        frame = pd.DataFrame(
            self.read(0, len(self.samples)), index=self.samples.copy(), columns=self.genes.copy()
        )
        frame.attrs["source"] = str(self.path)
        return frame

    def close(self) -> None:  # noqa: B027 - sources with nothing open need not override it
        """Release the open file, if any."""

    def __enter__(self) -> ExpressionSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "streams" if self.streams else "read whole"
        return f"<{type(self).__name__} {self.name}: {len(self.samples)} samples x {len(self.genes)} genes, {kind}>"


def _check_ids(ids: pd.Index, *, name: str, what: str, fix: str) -> None:
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"{name} has {len(duplicated)} duplicated {what} ids (first: {examples(duplicated)}); {fix}."
        )


def _finite(values: np.ndarray, samples: pd.Index, genes: pd.Index, *, name: str) -> np.ndarray:
    if not np.isfinite(values).all():
        infinite = np.isinf(values)
        if infinite.any():
            row, col = np.argwhere(infinite)[0]
            raise InputError(
                f"{name}: infinite value at gene {genes[col]!r}, sample {samples[row]!r}; "
                "replace it with a finite number, or drop that gene."
            )
    return values


# ------------------------------------------------------------------------------------------------- Parquet


class _ParquetSource(ExpressionSource):
    """A genes x samples Parquet file; a chunk of samples is a selection of its columns."""

    format = "parquet"

    def __init__(self, path: Path, *, name: str, gene_column: str | None, duplicates: Duplicates) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(
                f"{name}: reading Parquet needs the optional dependency pyarrow; "
                "install it with `pip install 'organoidrx[parquet]'`."
            ) from None
        self.path, self.name = path, name
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises its own exception classes for corrupt files
            raise InputError(f"{name}: not a readable Parquet file ({type(exc).__name__}: {exc}).") from None
        schema = self._file.schema_arrow
        names = [str(n) for n in schema.names]
        index_columns = []
        if schema.pandas_metadata:
            index_columns = [c for c in schema.pandas_metadata.get("index_columns", []) if isinstance(c, str)]
        if gene_column is not None:
            if gene_column not in names:
                raise InputError(
                    f"{name} has no column {gene_column!r} (columns: {examples(names, 5)}); pass gene_column=<name>."
                )
            gene = gene_column
        else:
            gene = index_columns[0] if index_columns else (names[0] if names else "")
        if len(names) < 2:
            raise InputError(f"{name} has {len(names)} column(s); expected a gene column and sample columns.")
        samples, annotation = [], []
        for field in schema:
            column = str(field.name)
            if column == gene or column in index_columns:
                continue
            numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
            if is_annotation_column(column) or not numeric:
                annotation.append(column)
            else:
                samples.append(column)
        if annotation:
            logger.info(
                "%s: dropped %d annotation columns %s", name, len(annotation), examples(annotation, 5)
            )
        if not samples:
            raise InputError(
                f"{name} has no numeric sample columns (columns: {examples(names, 5)}); "
                "expected genes as rows and one numeric column per sample."
            )
        self.samples = pd.Index(samples, dtype=object)
        _check_ids(self.samples, name=name, what="sample", fix="make sample ids unique")
        raw = self._file.read(columns=[gene]).column(0)
        if raw.null_count:
            raise InputError(f"{name}: {raw.null_count} rows have an empty gene id; fill in or remove them.")
        raw_genes = pd.Index([str(g).strip() for g in raw.to_pylist()], dtype=object)
        if len(raw_genes) == 0:
            raise InputError(f"{name} has no data rows; it needs one row per gene.")
        self._raw_genes = raw_genes
        self._duplicates: Duplicates = duplicates
        self._has_duplicates = bool(raw_genes.duplicated().any())
        if self._has_duplicates:
            probe = pd.DataFrame(np.zeros((len(raw_genes), 1)), index=raw_genes)
            self.genes = pd.Index(
                _resolve_duplicates(probe, name=name, duplicates=duplicates).index, dtype=object
            )
        else:
            self.genes = raw_genes

    @property
    def read_bytes_per_sample(self) -> int:
        # the column chunks as read, their Arrow arrays and the concatenation of a column's row groups (3.4 x 8
        # bytes per value measured on 2,500 samples x 10,000 genes in 10 row groups), plus the genes x chunk
        # frame when duplicates are collapsed
        return 8 * len(self._raw_genes) * (4 + (2 if self._has_duplicates else 0))

    @property
    def read_fixed_bytes(self) -> int:
        # the decoded footer (metadata of every column chunk: 33 MB resident for a 2.9 MB footer of 2,501
        # columns x 10 row groups) and the gene ids
        return int(_FOOTER_FACTOR * self._file.metadata.serialized_size) + 8 * 8 * len(self._raw_genes)

    def read(self, start: int, stop: int) -> np.ndarray:
        columns = list(self.samples[start:stop])
        table = self._file.read(columns=columns, use_threads=False)
        out = np.empty((len(columns), len(self._raw_genes)), dtype=np.float64)
        for i in range(len(columns)):
            start_row = 0
            for piece in table.column(i).chunks:  # one per row group: copied in place, never concatenated
                stop_row = start_row + len(piece)
                out[i, start_row:stop_row] = piece.to_numpy(zero_copy_only=False)  # nulls become NaN
                start_row = stop_row
        del table
        if self._has_duplicates:
            frame = pd.DataFrame(out.T, index=self._raw_genes, columns=pd.Index(columns, dtype=object))
            out = np.ascontiguousarray(
                _resolve_duplicates(frame, name=self.name, duplicates=self._duplicates)
                .to_numpy(dtype=float)
                .T
            )
        return _finite(out, self.samples[start:stop], self.genes, name=self.name)

    def close(self) -> None:
        self._file.close()


# ------------------------------------------------------------------------------------------- AnnData stores


def _optional_anndata(name: str, what: str) -> Any:
    try:
        import anndata
    except ImportError:
        raise InputError(
            f"{name}: reading {what} needs the optional dependency anndata; "
            "install it with `pip install 'organoidrx[anndata]'`."
        ) from None
    return anndata


#: anndata's warning about repeated obs or var names, which the reader collapses or refuses itself
NOT_UNIQUE = r"(Variable|Observation) names are not unique"


class _AnnDataSource(ExpressionSource):
    """Rows of ``X`` of an AnnData store: an h5ad file opened in backed mode, or a Zarr store."""

    def __init__(self, path: Path, *, name: str, format: str, duplicates: Duplicates = "error") -> None:
        anndata = _optional_anndata(name, ".h5ad" if format == "h5ad" else "a Zarr store")
        self.path, self.name, self.format = path, name, format
        self._handle: Any = None
        try:
            with warnings.catch_warnings():  # repeated ids are handled below, as in every format
                warnings.filterwarnings("ignore", message=NOT_UNIQUE)
                if format == "h5ad":
                    adata = anndata.read_h5ad(path, backed="r")
                    self._handle = adata
                    x, obs_names, var_names = adata.X, adata.obs_names, adata.var_names
                else:
                    try:
                        import zarr
                    except ImportError:
                        raise InputError(
                            f"{name}: reading a Zarr store needs the optional dependency zarr; install it with "
                            "`pip install 'organoidrx[anndata]'`."
                        ) from None
                    group = zarr.open_group(str(path), mode="r")
                    obs_names = anndata.io.read_elem(group["obs"]).index
                    var_names = anndata.io.read_elem(group["var"]).index
                    x = group["X"]
                    if not hasattr(x, "shape"):  # a sparse matrix is a group
                        x = anndata.io.sparse_dataset(x)
        except InputError:
            raise
        except Exception as exc:  # h5py/zarr/anndata raise many classes for corrupt stores
            what = ".h5ad file" if format == "h5ad" else "AnnData Zarr store"
            raise InputError(f"{name}: not a readable {what} ({type(exc).__name__}: {exc}).") from None
        if x is None:
            raise InputError(f"{name} has no X matrix; write the expression into X.")
        self._x = x
        self._sparse = isinstance(x, anndata.abc.CSRDataset | anndata.abc.CSCDataset)
        if isinstance(x, anndata.abc.CSCDataset):
            self.streams = False
            logger.info(
                "%s: X is a %s matrix; rows of a column-compressed matrix cannot be read alone, so it is read "
                "whole (store it as CSR to stream it)",
                name,
                x.format.upper(),
            )
        self.samples = pd.Index(np.asarray(obs_names).astype(str), dtype=object)
        self._raw_genes = pd.Index(np.asarray(var_names).astype(str), dtype=object)
        self._duplicates: Duplicates = duplicates
        self.genes = self._raw_genes
        if self._raw_genes.duplicated().any():  # collapsed (or refused) as in every other format
            probe = pd.DataFrame(np.zeros((len(self._raw_genes), 1)), index=self._raw_genes)
            self.genes = pd.Index(
                _resolve_duplicates(probe, name=name, duplicates=duplicates).index, dtype=object
            )
        _check_ids(self.samples, name=name, what="sample", fix="make sample ids unique")
        if len(self.samples) == 0 or len(self.genes) == 0:
            raise InputError(
                f"{name} is empty (shape {self.shape}); it needs at least one sample and one gene."
            )
        self._whole: np.ndarray | None = None

    @property
    def read_bytes_per_sample(self) -> int:
        n_genes = len(self._raw_genes)
        # a dense row as stored (at most float64), or a CSR row: values and indices, then densified; plus the
        # genes x chunk frame when duplicates are collapsed
        collapsed = 16 * n_genes if len(self.genes) < n_genes else 0
        return 8 * n_genes + (12 * n_genes if self._sparse else 0) + collapsed

    def read(self, start: int, stop: int) -> np.ndarray:
        if not self.streams:
            if self._whole is None:
                self._whole = self._dense(self._x.to_memory(), self.samples)
            return self._whole[start:stop].copy()
        return self._dense(self._x[start:stop], self.samples[start:stop])

    def _dense(self, block: Any, samples: pd.Index) -> np.ndarray:
        if hasattr(block, "toarray"):
            block = block.toarray()
        values = np.require(np.asarray(block), dtype=np.float64, requirements="C")
        if len(self.genes) < len(self._raw_genes):
            frame = pd.DataFrame(values.T, index=self._raw_genes, columns=samples)
            resolved = _resolve_duplicates(frame, name=self.name, duplicates=self._duplicates)
            values = np.ascontiguousarray(resolved.to_numpy(dtype=float).T)
        return _finite(values, samples, self.genes, name=self.name)

    def close(self) -> None:
        if self._handle is not None and getattr(self._handle, "file", None) is not None:
            self._handle.file.close()
        self._handle = None


# ---------------------------------------------------------------------------------------------------- text


class _TextSource(ExpressionSource):
    """A genes x samples text (or GCT) matrix: read whole by :func:`read_expression` on first use."""

    streams = False

    def __init__(self, path: Path, *, name: str, format: str, options: dict[str, Any]) -> None:
        self.path, self.name, self.format = path, name, format
        self._options = options
        # the sample and gene ids need the whole file parsed: the matrix is read now and kept
        self._frame: pd.DataFrame | None = read_expression(path, **options)
        self.samples = pd.Index(self._frame.index, dtype=object)
        self.genes = pd.Index(self._frame.columns, dtype=object)

    def read(self, start: int, stop: int) -> np.ndarray:
        assert self._frame is not None  # set in __init__
        return np.array(self._frame.iloc[start:stop].to_numpy(dtype=np.float64), order="C", copy=True)

    def read_frame(self) -> pd.DataFrame:
        assert self._frame is not None
        return self._frame


def text_matrix_bytes(path: str | os.PathLike[str]) -> int | None:
    """Estimated peak bytes of reading a genes x samples text matrix whole, before reading it.

    The file's text four times (the decoded text, its lines, the UTF-8 bytes pandas parses and its tokens) plus
    three float64 copies of (lines x header fields) cells (the parsed table, the numeric block, the transposed
    matrix). Measured peaks on 1,000 x 15,000 TSVs of 104 and 263 MiB: 671 and 1,284 MiB, against estimates of
    760 and 1,395. Read in 1 MiB blocks (the line count), nothing kept.
    ``None`` when the file cannot be read this way (a corrupt gzip file, say): the reader then says what is wrong.
    """
    import gzip
    import zlib

    path = Path(path)
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    lines, size, head = 0, 0, b""
    try:
        with opener(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                if not head:
                    head = block
                lines += block.count(b"\n")
                size += len(block)
    except (OSError, EOFError, zlib.error):
        return None
    # the widest of the first lines (a GCT file's header is its third line)
    fields = max(
        (max(line.count(b"\t"), line.count(b","), line.count(b";")) for line in head.split(b"\n")[:3]),
        default=0,
    )
    return 4 * size + 3 * 8 * max(lines, 1) * max(fields, 1)


# ------------------------------------------------------------------------------------------------- opening


def open_expression(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    gene_column: str | None = None,
    duplicates: Duplicates = "error",
) -> ExpressionSource:
    """Open an expression matrix for reading in chunks of samples, without reading its values.

    Parameters
    ----------
    path : str or path-like
        A genes x samples Parquet file, an AnnData ``.h5ad`` file (opened in backed mode), an AnnData Zarr store
        (a folder ending in ``.zarr``), or any text matrix :func:`read_expression` reads (read whole).
    format : {"parquet", "h5ad", "zarr", "text", "gct"}, optional
        Default: from the suffix.
    gene_column : str, optional
        Parquet and text: the column of gene ids (default: the pandas index column, else the first column).
    duplicates : {"error", "mean", "max", "first"}, default "error"
        Parquet and text: what to do with a gene id on several rows (as :func:`read_expression`); applied to
        each chunk, which gives the same values as applying it to the whole matrix.

    Returns
    -------
    ExpressionSource
        Use as a context manager (it keeps the file open), or call :meth:`ExpressionSource.close`.

    Raises
    ------
    InputError
        For a missing or unreadable file, duplicated sample ids, no numeric sample columns, or a missing
        optional dependency (pyarrow for Parquet: the ``parquet`` extra; anndata for h5ad and Zarr: the
        ``anndata`` extra).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "e.tsv").write_text("gene\\tS1\\tS2\\nTP53\\t1.5\\t2.0\\nEGFR\\t0.1\\t3.0\\n")
    >>> with open_expression(folder / "e.tsv") as source:
    ...     [(list(samples), values.tolist()) for samples, values in source.chunks(1)]
    [(['S1'], [[1.5, 0.1]]), (['S2'], [[2.0, 3.0]])]
    """
    path = Path(path)
    name = display_name(path)
    suffix = path.suffix.lower()
    fmt = format or ("zarr" if suffix == ".zarr" else _guess_format(path))
    known = ("parquet", "h5ad", "zarr", "text", "gct")
    if fmt not in known:
        raise InputError(f"format must be one of {list(known)}; got {fmt!r}.")
    if fmt == "zarr":
        if not path.is_dir():
            raise InputError(f"{path}: no Zarr store (a folder) here; check the path.")
        return _AnnDataSource(path, name=name, format="zarr", duplicates=duplicates)
    check_regular_file(path)
    if fmt == "h5ad":
        return _AnnDataSource(path, name=name, format="h5ad", duplicates=duplicates)
    if fmt == "parquet":
        return _ParquetSource(path, name=name, gene_column=gene_column, duplicates=duplicates)
    return _TextSource(
        path,
        name=name,
        format=fmt,
        options={"gene_column": gene_column, "duplicates": duplicates, "format": fmt},
    )


def iter_expression_chunks(
    path: str | os.PathLike[str], *, chunk_samples: int, **options: Any
) -> Iterator[pd.DataFrame]:
    """Samples x genes DataFrames of at most ``chunk_samples`` samples each, in file order.

    A convenience over :func:`open_expression` (``**options`` are its keywords); the file is closed when the
    iterator is exhausted or dropped.
    """
    with open_expression(path, **options) as source:
        for samples, values in source.chunks(chunk_samples):
            yield pd.DataFrame(values, index=samples, columns=source.genes)
