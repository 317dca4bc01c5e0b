"""Progress: every phase and drug of a run reports to the callback; the CLI draws bars only on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import sys
import termios
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx.datasets import make_synthetic_cohort
from organoidrx.pipeline import run_pipeline, train_bundles
from organoidrx.scoring import score


def _on_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``python -m organoidrx ARGV`` on a 30 x 110 pseudo-terminal; its exit status and everything printed."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "organoidrx", *argv])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    cohort = make_synthetic_cohort(
        n_genes=400,
        n_pathways=30,
        n_organoids=15,
        n_patients_treated=60,
        n_patients_untreated=20,
        random_state=2,
    )
    return cohort.write(tmp_path_factory.mktemp("cohort"))


def _recorder():
    calls: list[tuple[str, int, int]] = []
    return calls, lambda phase, done, total: calls.append((phase, done, total))


def test_a_run_reports_every_phase_and_drug(cohort, tmp_path):
    calls, progress = _recorder()
    result = run_pipeline(
        cohort["config"], tmp_path / "run", n_permutations=20, n_random_sets=5, progress=progress
    )
    drugs = list(result.bundles)
    phases = list(dict.fromkeys(phase for phase, _, _ in calls))
    expected = ["load", "proximity: distances", "proximity: null", "ssgsea organoids", "organoid models"]
    expected += ["organoid cv: ridge_top10 vs random sets", "ssgsea patients", "patients"]
    expected += [f"permutations {d}" for d in drugs] + ["write", "report"]
    assert sorted(phases) == sorted(expected)
    for phase in phases:
        mine = [(done, total) for p, done, total in calls if p == phase]
        assert mine[-1][0] == mine[-1][1], phase  # every phase ends complete
        assert [d for d, _ in mine] == sorted(d for d, _ in mine), phase  # and only moves forward
    assert ("patients", 0, len(drugs)) in calls and ("organoid models", len(drugs), len(drugs)) in calls
    assert (f"permutations {drugs[0]}", 20, 20) in calls


def test_progress_does_not_change_results(cohort, tmp_path):
    calls, progress = _recorder()
    silent = run_pipeline(cohort["config"], tmp_path / "a", n_permutations=5, n_random_sets=3)
    shown = run_pipeline(
        cohort["config"], tmp_path / "b", n_permutations=5, n_random_sets=3, progress=progress
    )
    for name in ("proximity.tsv", "biomarkers.tsv", "patient_predictions.tsv", "survival.tsv", "report.html"):
        assert (silent.out_dir / name).read_bytes() == (shown.out_dir / name).read_bytes(), name
    bundles = train_bundles(cohort["config"], tmp_path / "bundles", progress=progress)
    assert calls[-1] == ("patients", len(bundles), len(bundles))  # train fits the patient cut-offs too


def test_scoring_in_blocks_gives_the_same_bits():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(500)]
    expression = pd.DataFrame(rng.normal(size=(70, 500)), columns=genes)
    sets = {f"P{i}": list(rng.choice(genes, size=20 + i, replace=False)) for i in range(12)}
    calls: list[tuple[int, int]] = []
    blocks = score(expression, sets, chunk_size=16, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 70), (16, 70), (32, 70), (48, 70), (64, 70), (70, 70)]
    assert np.array_equal(blocks.to_numpy(), score(expression, sets).to_numpy())


def _score_argv(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(1)
    genes = [f"G{i}" for i in range(200)]
    pd.DataFrame(rng.normal(size=(200, 8)), index=pd.Index(genes, name="gene")).to_csv(
        tmp_path / "x.tsv", sep="\t"
    )
    (tmp_path / "s.gmt").write_text(
        "".join(f"S{i}\tna\t" + "\t".join(genes[i : i + 15]) + "\n" for i in range(5))
    )
    return ["score", "--expression", "x.tsv", "--gene-sets", "s.gmt", "--out", "scores.tsv"]


def test_cli_draws_bars_on_a_terminal_only(tmp_path):
    argv = _score_argv(tmp_path)
    status, printed = _on_terminal(argv, tmp_path)
    assert status == 0
    assert "read: 100%|" in printed and "score: 100%|" in printed and "8/8" in printed
    status, printed = _on_terminal(["--quiet", *argv], tmp_path)
    assert status == 0 and "100%|" not in printed
