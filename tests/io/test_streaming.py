"""Chunked expression readers: every chunk holds exactly the values read_expression returns for its samples."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from organoidrx._utils import InputError
from organoidrx.io import ExpressionSource, iter_expression_chunks, open_expression, read_expression

anndata = pytest.importorskip("anndata", reason="AnnData stores need the anndata extra")
pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra")


def _expression(n_samples: int = 15, n_genes: int = 40, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(5.0, 2.0, size=(n_samples, n_genes)), 1)  # rounded: ties within samples
    values[:, 1] = 0.0
    return pd.DataFrame(
        values, index=[f"S{i}" for i in range(n_samples)], columns=[f"G{j}" for j in range(n_genes)]
    )


def _write(expression: pd.DataFrame, folder: Path, kind: str) -> Path:
    if kind == "parquet":
        path = folder / "e.parquet"
        table = expression.T.rename_axis("gene")
        table.insert(0, "Description", "na")  # an annotation column, dropped
        table.to_parquet(path)  # the gene ids are the pandas index, stored as a column
        return path
    if kind == "tsv":
        path = folder / "e.tsv"
        expression.T.rename_axis("gene").to_csv(path, sep="\t")
        return path
    matrix: object = expression.to_numpy()
    if kind.endswith("csr"):
        matrix = sp.csr_matrix(expression.to_numpy())
    elif kind.endswith("csc"):
        matrix = sp.csc_matrix(expression.to_numpy())
    adata = anndata.AnnData(
        X=matrix, obs=pd.DataFrame(index=expression.index), var=pd.DataFrame(index=expression.columns)
    )
    if kind.startswith("zarr"):
        path = folder / "e.zarr"
        with (
            warnings.catch_warnings()
        ):  # anndata and zarr announce format changes of the writer, not the reader
            warnings.simplefilter("ignore")
            adata.write_zarr(path)
        return path
    path = folder / "e.h5ad"
    adata.write_h5ad(path)
    return path


KINDS = ["parquet", "tsv", "h5ad", "h5ad-csr", "h5ad-csc", "zarr", "zarr-csr"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk", [1, 7, 15])
def test_chunks_hold_the_values_read_expression_returns(tmp_path, kind, chunk):
    expression = _expression()
    path = _write(expression, tmp_path, kind)
    with open_expression(path) as source:
        assert isinstance(source, ExpressionSource)
        assert source.shape == expression.shape
        assert source.streams == (kind not in ("tsv", "h5ad-csc"))
        assert list(source.genes) == list(expression.columns)
        parts = list(source.chunks(chunk))
    assert [len(s) for s, _ in parts] == [min(chunk, 15 - i) for i in range(0, 15, chunk)]
    samples = [s for part, _ in parts for s in part]
    values = np.concatenate([v for _, v in parts])
    assert samples == list(expression.index)
    assert values.dtype == np.float64 and values.flags.c_contiguous
    np.testing.assert_array_equal(values, expression.to_numpy())
    if kind != "zarr" and kind != "zarr-csr":  # read_expression reads no Zarr
        np.testing.assert_array_equal(values, read_expression(path).to_numpy())


def test_iter_expression_chunks_yields_labelled_frames(tmp_path):
    expression = _expression()
    path = _write(expression, tmp_path, "parquet")
    frames = list(iter_expression_chunks(path, chunk_samples=4))
    assert [len(f) for f in frames] == [4, 4, 4, 3]
    pd.testing.assert_frame_equal(pd.concat(frames), expression, check_names=False)


def test_parquet_duplicated_genes_collapse_per_chunk_as_read_expression_does(tmp_path):
    expression = _expression()
    table = expression.T.rename_axis("gene").reset_index()
    table.loc[3, "gene"] = "G0"
    path = tmp_path / "dup.parquet"
    table.to_parquet(path, index=False)
    with pytest.raises(InputError, match="1 duplicated gene ids"):
        open_expression(path)
    expected = read_expression(path, duplicates="mean")
    with open_expression(path, duplicates="mean") as source:
        assert list(source.genes) == list(expected.columns)
        values = np.concatenate([v for _, v in source.chunks(4)])
    np.testing.assert_array_equal(values, expected.to_numpy())


def test_missing_pyarrow_names_the_extra(tmp_path, monkeypatch):
    path = _write(_expression(), tmp_path, "parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(InputError, match=r"pip install 'organoidrx\[parquet\]'"):
        open_expression(path)


def test_missing_anndata_names_the_extra(tmp_path, monkeypatch):
    path = _write(_expression(), tmp_path, "h5ad")
    monkeypatch.setitem(sys.modules, "anndata", None)
    with pytest.raises(InputError, match=r"pip install 'organoidrx\[anndata\]'"):
        open_expression(path)


def test_unreadable_and_missing_stores_are_one_line(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        open_expression(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="no Zarr store"):
        open_expression(tmp_path / "none.zarr")


def test_infinite_value_names_gene_and_sample(tmp_path):
    expression = _expression()
    expression.iloc[9, 5] = np.inf
    path = _write(expression, tmp_path, "h5ad")
    with open_expression(path) as source, pytest.raises(InputError, match="gene 'G5', sample 'S9'"):
        list(source.chunks(4))


def test_missing_zarr_names_the_extra(tmp_path, monkeypatch):
    path = _write(_expression(), tmp_path, "zarr")
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(InputError, match=r"needs the optional dependency zarr.*organoidrx\[anndata\]"):
        open_expression(path)
