"""Result files in the formats users take them on in: TSV, Parquet, and AnnData h5ad with results in ``.obsm``.

Every writer is atomic (a temporary file beside the target, moved into place when complete) and deterministic:
the same table gives the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from organoidrx._utils import InputError, atomic_write, examples, write_tsv

__all__ = ["OUTPUT_FORMATS", "OutputFormat", "output_format", "write_obsm", "write_table"]

OutputFormat = Literal["tsv", "parquet", "h5ad"]
#: the formats of result files; TSV unless the option or the file's extension says otherwise
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
_SUFFIXES = {".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet", ".pq": "parquet", ".h5ad": "h5ad"}


def output_format(path: str | os.PathLike[str], format: str | None = None) -> OutputFormat:
    """The format of a result file: ``format`` when given, else from the extension (``.parquet``, ``.pq``,
    ``.h5ad``), else ``"tsv"``.

    Examples
    --------
    >>> output_format("scores.h5ad"), output_format("scores.txt"), output_format("x.out", "parquet")
    ('h5ad', 'tsv', 'parquet')
    """
    if format is not None:
        if format not in OUTPUT_FORMATS:
            raise InputError(
                f"output format {format!r} is not known; use one of {', '.join(OUTPUT_FORMATS)}."
            )
        return format  # type: ignore[return-value]
    return _SUFFIXES.get(Path(path).suffix.lower(), "tsv")  # type: ignore[return-value]


def _optional(module: str, extra: str, path: str | os.PathLike[str]) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"{path}: writing this format needs the optional dependency {module}; install it with "
            f"`pip install 'organoidrx[{extra}]'` or write TSV (--format tsv)."
        ) from None


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    format: Literal["tsv", "parquet"] | None = None,
    float_format: str | None = "%.12g",
) -> Path:
    """Write a long or wide result table as TSV or Parquet, atomically, without the index.

    Parameters
    ----------
    frame : DataFrame
    path : path
    format : {"tsv", "parquet"}, optional
        Default from the extension (:func:`output_format`).
    float_format : str or None, default "%.12g"
        TSV only: number format (``None``: the shortest form that reads back exactly). Parquet stores the
        doubles themselves.
    """
    chosen = output_format(path, format)
    if chosen == "h5ad":
        raise InputError(f"{path}: this table is long, not one row per sample; write it as TSV or Parquet.")
    if chosen == "tsv":
        write_tsv(frame, path, float_format=float_format)
        return Path(path)
    _optional("pyarrow", "parquet", path)
    with atomic_write(path, "wb") as handle:
        frame.to_parquet(handle, index=False, engine="pyarrow")
    return Path(path)


def write_obsm(
    tables: Mapping[str, pd.DataFrame],
    path: str | os.PathLike[str],
    *,
    source: Any = None,
) -> Path:
    """Write per-sample results into ``.obsm`` of an AnnData h5ad file, atomically.

    As decoupler does (``adata.obsm["score_<method>"]``), results go back into the object scverse tools read.

    Parameters
    ----------
    tables : dict of str to DataFrame
        ``.obsm`` key -> samples x columns table (index = sample ids).
    path : path
        The ``.h5ad`` file written.
    source : path or AnnData, optional
        The samples' own h5ad (or AnnData): the file written is a copy of it with the tables added to its
        ``.obsm`` (the source is not modified). Every table must then hold exactly its ``obs_names``. Without a
        source, the file holds only the samples (``.obs``) and the tables.

    Returns
    -------
    Path
    """
    anndata = _optional("anndata", "anndata", path)
    h5py = _optional("h5py", "anndata", path)
    if source is None:
        index = next(iter(tables.values())).index if tables else pd.Index([])
        adata = anndata.AnnData(obs=pd.DataFrame(index=pd.Index(index.astype(str), name=None)))
    elif isinstance(source, anndata.AnnData):
        adata = source.copy()
    else:
        try:
            adata = anndata.read_h5ad(source)
        except Exception as exc:  # h5py/anndata raise many classes for corrupt files
            raise InputError(f"{source}: not a readable .h5ad file ({type(exc).__name__}: {exc}).") from None
    obs = pd.Index(adata.obs_names.astype(str))
    for key, table in tables.items():
        index = pd.Index(table.index.astype(str))
        missing, extra = obs.difference(index, sort=False), index.difference(obs, sort=False)
        if len(missing) or len(extra) or not index.is_unique:
            raise InputError(
                f"{path}: the {key!r} results cover {len(index)} samples and {source or 'the samples'} has "
                f"{len(obs)}; {len(missing)} have no result (e.g. {examples(missing)}) and {len(extra)} are not "
                f"in it (e.g. {examples(extra)}). Write TSV (--format tsv) or score the whole file."
            )
        aligned = table.copy()
        aligned.index = index
        aligned = aligned.loc[obs]
        aligned.index = adata.obs_names
        aligned.columns = aligned.columns.astype(str)
        adata.obsm[key] = aligned
    with atomic_write(path, "w+b") as handle, h5py.File(handle, "w") as store:
        anndata.io.write_elem(store, "/", adata)
    return Path(path)
