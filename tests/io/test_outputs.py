"""Result files: TSV, Parquet, and h5ad with results in ``.obsm`` (a copy of the input AnnData), atomic and exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.cli import main
from organoidrx.io import output_format, read_expression, write_obsm, write_table
from organoidrx.scoring import ssgsea

anndata = pytest.importorskip("anndata", reason="AnnData outputs need the anndata extra")


@pytest.fixture()
def inputs(tmp_path: Path):
    rng = np.random.default_rng(11)
    genes = [f"G{j}" for j in range(80)]
    samples = [f"S{i}" for i in range(6)]
    expression = pd.DataFrame(rng.normal(size=(6, 80)), index=samples, columns=genes)
    adata = anndata.AnnData(
        X=expression.to_numpy(),
        obs=pd.DataFrame({"batch": list("aabbcc")}, index=samples),
        var=pd.DataFrame(index=genes),
    )
    adata.obsm["X_pca"] = rng.normal(size=(6, 2))
    h5ad = tmp_path / "cohort.h5ad"
    adata.write_h5ad(h5ad)
    tsv = tmp_path / "cohort.tsv"
    expression.T.rename_axis("gene").to_csv(tsv, sep="\t")
    gene_sets = {f"SET{i}": list(rng.choice(genes, size=10, replace=False)) for i in range(3)}
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("".join(f"{k}\tna\t" + "\t".join(v) + "\n" for k, v in gene_sets.items()))
    return expression, gene_sets, h5ad, tsv, gmt


@pytest.mark.parametrize(
    ("path", "format", "expected"),
    [
        ("a.tsv", None, "tsv"),
        ("a.parquet", None, "parquet"),
        ("a.PQ", None, "parquet"),
        ("a.h5ad", None, "h5ad"),
        ("a.out", None, "tsv"),
        ("a.out", "h5ad", "h5ad"),
        ("a.tsv", "tsv", "tsv"),
    ],
)
def test_the_format_comes_from_the_option_else_the_extension(path, format, expected):
    assert output_format(path, format) == expected


def test_a_format_the_name_contradicts_is_refused():
    """A .parquet file holding TSV text (or a .tsv holding h5ad) would mislead whoever reads it."""
    with pytest.raises(InputError, match=r"a\.parquet: the name says parquet but the format asked is tsv"):
        output_format("a.parquet", "tsv")
    with pytest.raises(InputError, match=r"a\.tsv: the name says tsv but the format asked is h5ad"):
        output_format("a.tsv", "h5ad")


def test_unknown_format_is_one_line():
    with pytest.raises(InputError, match=r"output format 'xlsx' is not known; use one of tsv, parquet, h5ad"):
        output_format("a.tsv", "xlsx")


def test_parquet_round_trips_exactly(tmp_path):
    frame = pd.DataFrame({"sample": ["a", "b"], "P1": [0.1 + 0.2, 1 / 3], "P2": [np.pi, -0.0]})
    write_table(frame, tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back, frame)
    first = (tmp_path / "t.parquet").read_bytes()
    write_table(frame, tmp_path / "t.parquet")
    assert (tmp_path / "t.parquet").read_bytes() == first


def test_long_tables_are_not_written_as_h5ad(tmp_path):
    with pytest.raises(InputError, match="write it as TSV or Parquet"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.h5ad")
    assert not list(tmp_path.iterdir())


def test_score_h5ad_in_writes_a_copy_with_scores_in_obsm(inputs, tmp_path):
    expression, gene_sets, h5ad, _, gmt = inputs
    before = h5ad.read_bytes()
    out = tmp_path / "scored.h5ad"
    argv = ["--quiet", "score", "--expression", str(h5ad), "--gene-sets", str(gmt), "--out", str(out)]
    assert main(argv) == 0
    assert h5ad.read_bytes() == before  # the input is not modified
    written = anndata.read_h5ad(out)
    assert list(written.obs_names) == list(expression.index)
    assert list(written.obs["batch"]) == list("aabbcc")  # a copy of the input: obs, X, other obsm kept
    np.testing.assert_array_equal(written.X, expression.to_numpy())
    assert set(written.obsm) == {"X_pca", "score_ssgsea"}
    scores = written.obsm["score_ssgsea"]
    expected = ssgsea(expression, gene_sets)
    assert list(scores.columns) == list(expected.columns)
    np.testing.assert_array_equal(scores.to_numpy(), expected.to_numpy())
    first = out.read_bytes()
    assert main(argv) == 0
    assert out.read_bytes() == first  # same inputs, same bytes


def test_score_tsv_in_h5ad_out_holds_the_samples_and_scores(inputs, tmp_path):
    expression, gene_sets, _, tsv, gmt = inputs
    out = tmp_path / "scores.out"
    argv = ["--quiet", "score", "--expression", str(tsv), "--gene-sets", str(gmt), "--out", str(out)]
    assert main([*argv, "--format", "h5ad"]) == 0
    written = anndata.read_h5ad(out)
    assert written.shape == (6, 0)
    np.testing.assert_array_equal(
        written.obsm["score_ssgsea"].to_numpy(), ssgsea(expression, gene_sets).to_numpy()
    )


def test_score_parquet_equals_tsv(inputs, tmp_path):
    _, _, _, tsv, gmt = inputs
    argv = ["--quiet", "score", "--expression", str(tsv), "--gene-sets", str(gmt), "--out"]
    assert main([*argv, str(tmp_path / "s.tsv")]) == 0
    assert main([*argv, str(tmp_path / "s.parquet")]) == 0
    text = pd.read_csv(tmp_path / "s.tsv", sep="\t", float_precision="round_trip")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet"), text)


def test_obsm_results_must_cover_the_source_samples(inputs, tmp_path):
    _, _, h5ad, _, _ = inputs
    partial = pd.DataFrame({"P": [1.0, 2.0]}, index=["S0", "X9"])
    with pytest.raises(InputError, match=r"1 have no result|5 have no result"):
        write_obsm({"score_x": partial}, tmp_path / "o.h5ad", source=h5ad)
    assert not (tmp_path / "o.h5ad").exists()


def test_read_expression_of_the_written_copy_is_the_input(inputs, tmp_path):
    expression, _, h5ad, _, _ = inputs
    write_obsm(
        {"score_x": pd.DataFrame({"P": range(6)}, index=expression.index)}, tmp_path / "c.h5ad", source=h5ad
    )
    pd.testing.assert_frame_equal(read_expression(tmp_path / "c.h5ad"), read_expression(h5ad))
