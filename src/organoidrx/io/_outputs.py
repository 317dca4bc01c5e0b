"""Result files in the formats users take them on in: TSV, Parquet, and AnnData h5ad with results in ``.obsm``.

Every writer is atomic (a temporary file beside the target, moved into place when complete) and deterministic:
the same table gives the same bytes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from organoidrx._utils import InputError, atomic_write, examples, write_tsv

__all__ = ["OUTPUT_FORMATS", "OutputFormat", "output_format", "write_obsm", "write_pairs", "write_table"]

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
        named = _SUFFIXES.get(Path(path).suffix.lower())
        # a .parquet file holding TSV text would mislead its readers
        if named not in (None, format):
            raise InputError(
                f"{path}: the name says {named} but the format asked is {format}; rename the file or leave the "
                "format out (it follows the extension)."
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
    if source is not None and not isinstance(source, anndata.AnnData):
        return _copy_with_obsm(tables, path, source, anndata=anndata, h5py=h5py)
    if source is None:
        index = next(iter(tables.values())).index if tables else pd.Index([])
        adata = anndata.AnnData(obs=pd.DataFrame(index=pd.Index(index.astype(str), name=None)))
    else:
        adata = source.copy()
    obs = pd.Index(adata.obs_names.astype(str))
    for key, table in tables.items():
        adata.obsm[key] = _aligned(table, obs, adata.obs_names, key=key, path=path, source=source)
    with atomic_write(path, "w+b") as handle, h5py.File(handle, "w") as store:
        anndata.io.write_elem(store, "/", adata)
    return Path(path)


def _aligned(
    table: pd.DataFrame, obs: pd.Index, obs_names: pd.Index, *, key: str, path: Any, source: Any
) -> pd.DataFrame:
    """``table`` in the order of ``obs`` (string ids), indexed by ``obs_names``; an error unless it covers them."""
    index = pd.Index(table.index.astype(str))
    missing, extra = obs.difference(index, sort=False), index.difference(obs, sort=False)
    if len(missing) or len(extra) or not index.is_unique:
        raise InputError(
            f"{path}: the {key!r} results cover {len(index)} samples and {source or 'the samples'} has "
            f"{len(obs)}; {len(missing)} have no result (e.g. {examples(missing)}) and {len(extra)} are not "
            f"in it (e.g. {examples(extra)}). Write TSV (--format tsv) or score the whole file."
        )
    columns = pd.Index(table.columns.astype(str))
    if table.shape[1] and table.dtypes.nunique() == 1:  # one block: a new frame on the same values, no copy
        values = table.to_numpy()
        if not index.equals(obs):
            values = values[index.get_indexer(obs)]
        return pd.DataFrame(values, index=obs_names, columns=columns, copy=False)
    aligned = table.set_axis(index, axis=0).loc[obs].set_axis(obs_names, axis=0)
    return aligned.set_axis(columns, axis=1)


def _copy_with_obsm(
    tables: Mapping[str, pd.DataFrame], path: str | os.PathLike[str], source: Any, *, anndata: Any, h5py: Any
) -> Path:
    """A byte copy of the h5ad file ``source`` with ``tables`` written into its ``.obsm``.

    Neither ``X`` nor any other element of the source is read into memory: only ``obs`` (for the sample ids), so
    the cost is the tables, whatever the size of the source.
    """
    try:
        with h5py.File(source, "r") as store:
            obs_names = pd.Index(anndata.io.read_elem(store["obs"]).index)
    except FileNotFoundError:
        raise InputError(f"{source}: file not found; check the path.") from None
    except Exception as exc:  # h5py/anndata raise many classes for corrupt files
        raise InputError(f"{source}: not a readable .h5ad file ({type(exc).__name__}: {exc}).") from None
    obs = pd.Index(obs_names.astype(str))
    aligned = {
        key: _aligned(table, obs, obs_names, key=key, path=path, source=source)
        for key, table in tables.items()
    }
    with atomic_write(path, "w+b") as handle:
        with open(source, "rb") as original:
            shutil.copyfileobj(original, handle, 1 << 20)
        handle.flush()
        handle.seek(0)
        with h5py.File(handle, "r+") as store:
            if "obsm" not in store:
                anndata.io.write_elem(store, "obsm", {})
            for key, table in aligned.items():
                if key in store["obsm"]:
                    del store["obsm"][key]
                anndata.io.write_elem(store["obsm"], key, table)
    return Path(path)


def write_pairs(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    rows: str,
    columns: str,
    prefix: str,
    format: OutputFormat | None = None,
    float_format: str | None = "%.12g",
) -> Path:
    """Write a long table of ``rows`` x ``columns`` pairs (e.g. drug x pathway) as TSV, Parquet or h5ad.

    TSV and Parquet hold the long table as it is (:func:`write_table`). h5ad holds one ``obs`` per value of
    ``rows`` and, for every numeric or boolean column, a rows x columns matrix in ``.obsm["<prefix>_<column>"]``
    (pairs absent from the table are NaN, or False for a boolean column); text columns stay in the long forms.

    Parameters
    ----------
    table : DataFrame
        One row per pair; ``rows`` and ``columns`` name its key columns.
    path : path
    rows, columns : str
        The key columns: ``rows`` becomes ``obs``, ``columns`` the columns of every ``.obsm`` matrix.
    prefix : str
        Of the ``.obsm`` keys.
    format : {"tsv", "parquet", "h5ad"}, optional
        Default from the extension (:func:`output_format`).
    float_format : str or None
        TSV only (:func:`write_table`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> table = pd.DataFrame({"drug": ["a", "a"], "pathway": ["P", "Q"], "z": [-2.0, 0.5]})
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "proximity.parquet"
    >>> write_pairs(table, path, rows="drug", columns="pathway", prefix="proximity").name
    'proximity.parquet'
    """
    chosen = output_format(path, format)
    if chosen != "h5ad":
        return write_table(table, path, format=chosen, float_format=float_format)
    missing = [c for c in (rows, columns) if c not in table.columns]
    if missing:
        raise InputError(f"{path}: the table has no column {missing[0]!r}; it cannot be written as h5ad.")
    duplicated = table.duplicated([rows, columns])
    if duplicated.any():
        first = table.loc[duplicated, [rows, columns]].iloc[0].tolist()
        raise InputError(
            f"{path}: {int(duplicated.sum())} {rows} x {columns} pairs occur twice (first: {first}); "
            "write TSV or Parquet (--format), which keep every row."
        )
    obs = pd.Index(pd.unique(table[rows].astype(str)), dtype=object)
    var = pd.Index(pd.unique(table[columns].astype(str)), dtype=object)
    keys = table[rows].astype(str), table[columns].astype(str)
    tables: dict[str, pd.DataFrame] = {}
    for name in table.columns:
        if name in (rows, columns):
            continue
        values = table[name]
        if pd.api.types.is_bool_dtype(values):
            fill: Any = False
        elif pd.api.types.is_numeric_dtype(values):
            fill = float("nan")
        else:
            continue
        wide = pd.DataFrame({rows: keys[0], columns: keys[1], "value": values.to_numpy()}).pivot(
            index=rows, columns=columns, values="value"
        )
        wide = wide.reindex(index=obs, columns=var, fill_value=fill)
        wide = wide.astype(bool) if fill is False else wide.astype(float)
        wide.index.name, wide.columns.name = None, None
        tables[f"{prefix}_{name}"] = wide
    return write_obsm(tables, path)
