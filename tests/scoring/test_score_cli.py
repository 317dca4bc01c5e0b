"""The ``organoidrx score`` subcommand: files in, the library's scores out, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx import method_names
from organoidrx.cli import main
from organoidrx.scoring import score, ssgsea


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame, dict[str, list[str]]]:
    rng = np.random.default_rng(4)
    genes = [f"G{j}" for j in range(60)]
    expression = pd.DataFrame(rng.normal(size=(5, 60)), index=[f"P{i}" for i in range(5)], columns=genes)
    expression_path = tmp_path / "expression.tsv"
    expression.T.rename_axis("gene").to_csv(expression_path, sep="\t")  # files are genes x samples
    gene_sets = {f"SET{i}": list(rng.choice(genes, size=8 + i, replace=False)) for i in range(4)}
    gene_sets["TINY"] = ["G1", "NOT_A_GENE"]
    gmt_path = tmp_path / "sets.gmt"
    gmt_path.write_text(
        "".join(f"{name}\tdescription\t" + "\t".join(g) + "\n" for name, g in gene_sets.items())
    )
    return expression_path, gmt_path, expression, gene_sets


@pytest.mark.parametrize("normalize", ["none", "range", "n_genes"])
def test_score_writes_the_library_result(
    inputs: tuple[Path, Path, pd.DataFrame, dict[str, list[str]]], tmp_path: Path, normalize: str
) -> None:
    expression_path, gmt_path, expression, gene_sets = inputs
    out, report = tmp_path / "scores.tsv", tmp_path / "report.tsv"
    argv = ["--quiet", "score", "--expression", str(expression_path), "--gene-sets", str(gmt_path)]
    argv += ["--min-size", "5", "--normalize", normalize, "--out", str(out), "--report", str(report)]
    assert main(argv) == 0
    written = pd.read_csv(out, sep="\t", index_col=0, float_precision="round_trip")
    assert written.index.name == "sample" and list(written.index) == list(expression.index)
    expected = ssgsea(expression, gene_sets, min_size=5, normalize=normalize)  # type: ignore[arg-type]
    assert list(written.columns) == list(expected.columns) == ["SET0", "SET1", "SET2", "SET3"]
    np.testing.assert_array_equal(written.to_numpy(), expected.to_numpy())  # exact round trip
    dropped = pd.read_csv(report, sep="\t").set_index("pathway")
    assert dropped.loc["TINY", "reason"] == "fewer than min_size"


def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run(
    inputs: tuple[Path, Path, pd.DataFrame, dict[str, list[str]]], tmp_path: Path
) -> None:
    import os

    expression_path, gmt_path, _, _ = inputs
    out = tmp_path / "scores.tsv"
    stale, fresh = (
        tmp_path / ".scores.tsv.organoidrx-dead0000.tmp",
        tmp_path / ".scores.tsv.organoidrx-live0000.tmp",
    )
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "scores.tsv").write_text("half\n")
    os.utime(stale, (0, 0))  # left by a run killed long ago; the fresh one may be a live run's
    argv = ["--quiet", "score", "--expression", str(expression_path), "--gene-sets", str(gmt_path)]
    assert main([*argv, "--out", str(out), "--report", str(tmp_path / "report.tsv")]) == 0
    assert not stale.exists() and fresh.exists() and out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [fresh.name]


def test_score_is_byte_identical_across_runs(
    inputs: tuple[Path, Path, pd.DataFrame, dict[str, list[str]]], tmp_path: Path
) -> None:
    expression_path, gmt_path, _, _ = inputs
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / f"scores{threads}.tsv"
        argv = ["--quiet", "score", "--expression", str(expression_path), "--gene-sets", str(gmt_path)]
        assert main([*argv, "--min-size", "5", "--threads", threads, "--out", str(out)]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_score_bad_input_is_one_line_and_status_2(
    inputs: tuple[Path, Path, pd.DataFrame, dict[str, list[str]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expression_path, gmt_path, _, _ = inputs
    out = tmp_path / "scores.tsv"
    argv = ["--quiet", "score", "--expression", str(expression_path), "--gene-sets", str(gmt_path)]
    assert main([*argv, "--min-size", "500", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("organoidrx: error: no gene set of sets.gmt survives") and "\n" not in error
    assert not out.exists()  # nothing half-written


def test_duplicated_genes_are_reduced_as_asked(
    inputs: tuple[Path, Path, pd.DataFrame, dict[str, list[str]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file with a gene listed twice: one line naming the fix, then ``--duplicates mean`` scores the mean row."""
    _, gmt_path, expression, gene_sets = inputs
    doubled = expression.T.rename_axis("gene")
    second = doubled.loc[["G3"]] + 1.0
    path = tmp_path / "doubled.tsv"
    pd.concat([doubled, second]).to_csv(path, sep="\t")
    out = tmp_path / "scores.tsv"
    argv = ["--quiet", "score", "--expression", str(path), "--gene-sets", str(gmt_path), "--out", str(out)]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert "doubled.tsv has 1 duplicated gene ids (first: 'G3')" in error and "--duplicates" in error
    assert "\n" not in error and not out.exists()
    assert main([*argv, "--duplicates", "mean", "--min-size", "5"]) == 0
    averaged = expression.assign(G3=expression["G3"] + 0.5)
    expected = ssgsea(averaged, gene_sets, min_size=5)
    got = pd.read_csv(out, sep="\t", index_col="sample")
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("method", method_names("scorer"))
def test_every_registered_scorer_runs_from_the_command_line(
    inputs: tuple[Path, Path, pd.DataFrame, dict[str, list[str]]], tmp_path: Path, method: str
) -> None:
    expression_path, gmt_path, expression, gene_sets = inputs
    out = tmp_path / "scores.tsv"
    argv = ["--quiet", "score", "--expression", str(expression_path), "--gene-sets", str(gmt_path)]
    assert main([*argv, "--method", method, "--min-size", "5", "--out", str(out)]) == 0
    written = pd.read_csv(out, sep="\t", index_col=0, float_precision="round_trip")
    expected = score(expression, gene_sets, method=method, min_size=5)
    assert list(written.index) == list(expected.index) and list(written.columns) == list(expected.columns)
    np.testing.assert_array_equal(written.to_numpy(), expected.to_numpy())
