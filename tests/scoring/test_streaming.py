"""Streamed scores: the same bits as score() of the whole matrix, for any chunk size and file format; bounded
memory measured in a subprocess; clear refusals up front."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from organoidrx._utils import InputError
from organoidrx.cli import main
from organoidrx.io import write_table
from organoidrx.scoring import plan_scoring, score, score_file, streams

anndata = pytest.importorskip("anndata", reason="AnnData stores need the anndata extra")
pytest.importorskip("pyarrow", reason="Parquet needs the parquet extra")

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _inputs(
    n_samples: int = 23, n_genes: int = 120, seed: int = 5, zeros: bool = True
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(5.0, 2.0, size=(n_samples, n_genes)), 1)  # ties within samples
    if zeros:
        values[:, :10] = 0.0  # a block of zeros, RNA-seq-like
    genes = [f"G{j}" for j in range(n_genes)]
    expression = pd.DataFrame(values, index=[f"S{i}" for i in range(n_samples)], columns=genes)
    sets = {
        f"SET{k}": list(rng.choice(genes, size=int(rng.integers(5, 40)), replace=False)) for k in range(9)
    }
    return expression, sets


def _write(expression: pd.DataFrame, folder: Path, kind: str) -> Path:
    if kind == "parquet":
        path = folder / "e.parquet"
        expression.T.rename_axis("gene").reset_index().to_parquet(path, index=False)
    elif kind == "tsv":
        path = folder / "e.tsv"
        expression.T.rename_axis("gene").to_csv(path, sep="\t")
    else:
        matrix = sp.csr_matrix(expression.to_numpy()) if kind.endswith("csr") else expression.to_numpy()
        adata = anndata.AnnData(
            X=matrix, obs=pd.DataFrame(index=expression.index), var=pd.DataFrame(index=expression.columns)
        )
        if kind.startswith("zarr"):
            path = folder / "e.zarr"
            with warnings.catch_warnings():  # the writer announces format changes
                warnings.simplefilter("ignore")
                adata.write_zarr(path)
        else:
            path = folder / "e.h5ad"
            adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("kind", ["parquet", "h5ad", "h5ad-csr", "zarr", "tsv"])
@pytest.mark.parametrize(
    ("method", "options"),
    [("ssgsea", {}), ("ssgsea", {"ties": "average", "normalize": "n_genes"}), ("singscore", {})],
)
def test_streamed_tsv_is_the_in_memory_file_byte_for_byte(tmp_path, kind, method, options):
    expression, sets = _inputs()
    path = _write(expression, tmp_path, kind)
    expected = score(expression, sets, method=method, **options)
    reference = tmp_path / "reference.tsv"
    write_table(expected.reset_index(), reference, float_format=None)  # what `organoidrx score` wrote before
    for chunk in (1, 7, 23):
        out = tmp_path / f"chunk{chunk}.tsv"
        result = score_file(path, sets, out, method=method, chunk_samples=chunk, memory="1G", **options)
        assert result.chunk_samples == chunk and result.streamed == (kind != "tsv")
        assert out.read_bytes() == reference.read_bytes()


@pytest.mark.parametrize("kind", ["parquet", "h5ad-csr"])
def test_streamed_parquet_and_h5ad_hold_the_in_memory_bits(tmp_path, kind):
    expression, sets = _inputs()
    path = _write(expression, tmp_path, kind)
    expected = score(expression, sets)
    for chunk in (1, 7, 23):
        out = tmp_path / f"c{chunk}.parquet"
        score_file(path, sets, out, chunk_samples=chunk, memory="1G")
        table = pd.read_parquet(out)
        assert list(table.columns) == ["sample", *expected.columns]
        assert table["sample"].tolist() == list(expected.index)
        assert table.iloc[:, 1:].to_numpy().tobytes() == expected.to_numpy().tobytes()
        h5ad = tmp_path / f"c{chunk}.h5ad"
        score_file(path, sets, h5ad, chunk_samples=chunk, memory="1G")
        written = anndata.read_h5ad(h5ad)
        assert written.obsm["score_ssgsea"].to_numpy().tobytes() == expected.to_numpy().tobytes()
        if kind.startswith("h5ad"):  # a copy of the input with the scores added
            assert (written.X != sp.csr_matrix(expression.to_numpy())).nnz == 0


def test_score_chunk_is_a_pure_function_of_its_samples():
    expression, sets = _inputs()
    plan = plan_scoring(expression.columns, sets)
    whole = score(expression, sets)
    order = [5, 0, 22, 3]  # any samples, any order, any worker
    part = plan.score_chunk(expression.to_numpy()[order], expression.index[order])
    assert part.to_numpy().tobytes() == whole.iloc[order].to_numpy().tobytes()
    assert list(part.columns) == list(whole.columns) and part.index.name == "sample"
    values = expression.to_numpy()[:2].copy()
    values[1, 7] = np.nan
    with pytest.raises(InputError, match="first at sample 'S1', gene 'G7'"):
        plan.score_chunk(values, expression.index[:2])


@pytest.mark.parametrize(
    ("method", "options", "reason"),
    [
        ("gsva", {}, "gsva is cohort-dependent"),
        ("zscore", {}, "zscore is cohort-dependent"),
        ("ssgsea", {"normalize": "range"}, "ssgsea with normalize='range' scales every score"),
    ],
)
def test_cohort_dependent_scorers_do_not_stream(tmp_path, method, options, reason):
    expression, sets = _inputs(zeros=False)  # GSVA refuses genes constant across samples
    assert not streams(method, options)
    with pytest.raises(InputError, match=reason):
        plan_scoring(expression.columns, sets, method=method, **options)
    path = _write(expression, tmp_path, "parquet")
    # they score the whole matrix when it fits the budget: the same table as score()
    result = score_file(path, sets, tmp_path / "s.parquet", method=method, memory="1G", **options)
    assert not result.streamed
    written = pd.read_parquet(tmp_path / "s.parquet").set_index("sample")
    np.testing.assert_array_equal(written.to_numpy(), score(expression, sets, method=method, **options))
    with pytest.raises(InputError, match=rf"{reason}.*budget is 10\.0 KiB; raise --memory"):
        score_file(path, sets, tmp_path / "t.parquet", method=method, memory="10K", **options)
    assert not (tmp_path / "t.parquet").exists()


def test_a_job_that_cannot_fit_is_refused_up_front_with_the_numbers(tmp_path):
    expression, sets = _inputs(n_samples=400)
    path = _write(expression, tmp_path, "h5ad")
    with pytest.raises(InputError, match=r"needs at least .* per sample of a chunk: .*budget is 20\.0 KiB"):
        score_file(path, sets, tmp_path / "s.tsv", memory="20K")
    # h5ad output holds the samples x sets score matrix: the message says so and offers the streaming formats
    with pytest.raises(InputError, match=r"400 x 9 score matrix.*write Parquet or TSV"):
        score_file(path, sets, tmp_path / "s.h5ad", memory="60K")
    with pytest.raises(InputError, match=r"chunks of 300 samples need .*use at most \d+ samples per chunk"):
        score_file(path, sets, tmp_path / "s.tsv", memory="2M", chunk_samples=300)
    text = _write(expression, tmp_path, "tsv")
    with pytest.raises(InputError, match=r"e.tsv is a text matrix, which is read whole.*convert it to"):
        score_file(text, sets, tmp_path / "s.tsv", memory="100K")
    assert not list(tmp_path.glob("s.*"))


def test_cli_memory_and_format(tmp_path, capsys):
    expression, sets = _inputs()
    path = _write(expression, tmp_path, "parquet")
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("".join(f"{k}\tna\t" + "\t".join(v) + "\n" for k, v in sets.items()))
    argv = ["score", "--expression", str(path), "--gene-sets", str(gmt), "--out", str(tmp_path / "s.pq")]
    assert main(["--quiet", *argv, "--memory", "1.5G"]) == 0
    assert "in chunks of 23 samples" in capsys.readouterr().out
    assert main(["--quiet", *argv, "--memory", "1.5Q"]) == 2
    assert "--memory '1.5Q' is not a size" in capsys.readouterr().err


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {src!r})
    import anndata, pyarrow.parquet, organoidrx.cli  # imports first: the baseline is the interpreter with them

    def status(key):
        with open("/proc/self/status") as lines:
            return next(int(l.split()[1]) * 1024 for l in lines if l.startswith(key + ":"))

    baseline = status("VmRSS")
    code = organoidrx.cli.main(sys.argv[1:])
    peak = status("VmHWM")  # not ru_maxrss: Linux carries the spawning process's peak over exec into it
    print(json.dumps({{"code": code, "baseline": baseline, "peak": peak}}))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["parquet", "h5ad"])
def test_peak_memory_of_a_file_larger_than_the_budget_stays_under_it(tmp_path, kind):
    """2,500 samples x 10,000 genes (200 MB of float64) scored with a 120 MB budget, in a subprocess.

    The budget covers the data a job holds; the interpreter with numpy, pandas, pyarrow, anndata and organoidrx
    imported (its baseline, measured in the child before scoring: 206 MiB here) is outside it. The bound checked
    is peak RSS (the child's ``VmHWM``) - baseline <= budget; measured 111-118 MiB above the baseline for both
    files. ``ru_maxrss`` of a child is not used: Linux keeps the larger of it and the spawning process's peak
    across ``exec``, so it reported this test's own 400-500 MiB.
    """
    n_samples, n_genes, budget = 2_500, 10_000, 120 * 2**20
    rng = np.random.default_rng(0)
    genes = [f"G{j}" for j in range(n_genes)]
    samples = [f"S{i}" for i in range(n_samples)]
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "big.parquet"
        schema = pa.schema([("gene", pa.string()), *[(s, pa.float64()) for s in samples]])
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(0, n_genes, 1_000):  # blocks of genes: the test itself stays small
                block = rng.normal(size=(1_000, n_samples))
                arrays = [
                    pa.array(genes[start : start + 1_000]),
                    *[pa.array(block[:, i]) for i in range(n_samples)],
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                del block, arrays
    else:
        path = tmp_path / "big.h5ad"
        adata = anndata.AnnData(
            X=rng.normal(size=(n_samples, n_genes)),
            obs=pd.DataFrame(index=samples),
            var=pd.DataFrame(index=genes),
        )
        adata.write_h5ad(path)
        del adata
    assert 8 * n_samples * n_genes > budget
    sets = {f"SET{k}": list(rng.choice(genes, size=50, replace=False)) for k in range(200)}
    gmt = tmp_path / "sets.gmt"
    gmt.write_text("".join(f"{k}\tna\t" + "\t".join(v) + "\n" for k, v in sets.items()))
    argv = ["--quiet", "score", "--expression", str(path), "--gene-sets", str(gmt)]
    argv += ["--out", str(tmp_path / "scores.parquet"), "--memory", str(budget)]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT.format(src=SRC), *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    above = result["peak"] - result["baseline"]
    assert above <= budget, (
        f"peak {result['peak'] / 2**20:.0f} MiB, baseline {result['baseline'] / 2**20:.0f} MiB"
    )
    written = pd.read_parquet(tmp_path / "scores.parquet")
    assert written.shape == (n_samples, 201)
