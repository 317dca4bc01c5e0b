from __future__ import annotations

import subprocess
import sys

import pytest

from organoidrx import __version__
from organoidrx.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"organoidrx {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "demo" in out


def test_a_closed_output_pipe_ends_quietly(monkeypatch, capsys) -> None:
    """``organoidrx methods | head -1``: the reader goes away; no 'internal error', no traceback."""
    import io

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            raise io.UnsupportedOperation("fileno")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["methods"]) == 0
    assert capsys.readouterr().err == ""


def test_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "organoidrx", "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert __version__ in done.stdout


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_inputs")
    (folder / "e.tsv").write_text("gene\tS1\tS2\n" + "".join(f"G{i}\t{i}\t{10 - i}\n" for i in range(10)))
    (folder / "s.gmt").write_text("SET\tdesc\tG1\tG2\tG3\tG4\tG5\n")
    (folder / "net.tsv").write_text("gene_a\tgene_b\n" + "".join(f"G{i}\tG{i + 1}\n" for i in range(9)))
    (folder / "t.tsv").write_text("drug\ttarget\nX\tG1\n")
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "--out", "{d}"], "is a folder; --out takes a file name"),
        (["score", "--out", "{d}/e.tsv/x.tsv"], "e.tsv is a file, not a folder; choose another --out"),
        (["score", "--out", "{d}/x.tsv", "--report", "{d}"], "is a folder; --report takes a file name"),
        (
            ["score", "--out", "{d}/x.tsv", "--threads", "0"],
            "argument --threads: must be an integer >= 1 or -1; got 0",
        ),
        (
            ["score", "--out", "{d}/x.tsv", "--min-size", "0"],
            "argument --min-size: must be an integer >= 1; got 0",
        ),
        (
            ["score", "--out", "{d}/x.tsv", "--weight", "abc"],
            "argument --weight: must be a number; got 'abc'",
        ),
        (
            ["proximity", "--out", "{d}/p.tsv", "--seed", "-1"],
            "argument --seed: must be an integer >= 0; got -1",
        ),
        (
            ["proximity", "--out", "{d}/p.tsv", "--threads", "0"],
            "argument --threads: must be an integer >= 1",
        ),
        (["proximity", "--out", "{d}/p.tsv", "--min-bin-size", "0"], "argument --min-bin-size: must be"),
        (
            ["score", "--out", "{d}/e.tsv"],
            "e.tsv is the input --expression {d}/e.tsv; writing it would destroy",
        ),
        (["score", "--out", "{d}/s.gmt"], "s.gmt is the input --gene-sets"),
        (["score", "--out", "{d}/x.tsv", "--report", "{d}/x.tsv"], "--out and --report are the same file"),
        (["proximity", "--out", "{d}/t.tsv"], "t.tsv is the input --targets"),
        (["proximity", "--out", "{d}/net.tsv"], "net.tsv is the input --network"),
        (
            ["demo", "--n-permutations", "-1"],
            "argument --n-permutations: must be an integer between 0 and 1,000,000",
        ),
    ],
)
def test_bad_flags_and_outputs_are_one_line_naming_the_flag(small_files, capsys, args, message):
    inputs = {
        "score": ["--expression", "{d}/e.tsv", "--gene-sets", "{d}/s.gmt"],
        "proximity": ["--network", "{d}/net.tsv", "--targets", "{d}/t.tsv", "--gene-sets", "{d}/s.gmt"],
        "demo": [],
    }[args[0]]
    argv = [a.format(d=small_files) for a in [args[0], *inputs, *args[1:]]]
    message = message.format(d=small_files)
    before = {f.name: f.read_bytes() for f in small_files.iterdir() if f.is_file()}
    with pytest.raises(SystemExit) if "argument" in message else _returns(2) as status:
        status.value = main(argv)
    assert getattr(status.value, "code", status.value) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert sorted(p.name for p in small_files.iterdir()) == ["e.tsv", "net.tsv", "s.gmt", "t.tsv"]
    assert {f.name: f.read_bytes() for f in small_files.iterdir() if f.is_file()} == before


class _returns:
    """``with _returns(2) as status: status.value = main(...)``: the counterpart of pytest.raises(SystemExit)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.value: object = None

    def __enter__(self) -> _returns:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_the_committed_cli_reference_is_generated_from_the_parser():
    from pathlib import Path

    from organoidrx.cli import cli_reference

    committed = Path(__file__).parents[1] / "docs" / "cli.md"
    text = cli_reference()
    assert committed.read_text() == text, "docs/cli.md is stale: run python docs/make_references.py"
    for command in ("demo", "run", "train", "predict", "score", "proximity", "inspect", "methods"):
        assert f"## organoidrx {command}" in text


def test_every_generated_docs_page_is_current():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).parents[1] / "docs" / "make_references.py"
    spec = importlib.util.spec_from_file_location("make_references", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.pages().items():
        assert (script.parent / name).read_text() == text, (
            f"docs/{name} is stale: run python docs/make_references.py"
        )


def test_inspect_summarises_configs_and_bundles(tmp_path, capsys):
    import zipfile

    from organoidrx.datasets import make_synthetic_cohort
    from organoidrx.pipeline import train_bundles

    paths = make_synthetic_cohort(n_genes=300, n_pathways=20, n_organoids=10, random_state=0).write(
        tmp_path / "c"
    )
    assert main(["inspect", str(paths["config"])]) == 0
    out = capsys.readouterr().out
    assert "config - organoidrx run configuration" in out and "DRUG_A, DRUG_B" in out
    bundles = train_bundles(paths["config"], tmp_path / "bundles")
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as archive:  # DRUG_A's bundle as one .zip
        for file in sorted(bundles["DRUG_A"].rglob("*.*")):
            archive.write(file, file.relative_to(bundles["DRUG_A"]).as_posix())
    assert main(["inspect", str(bundles["DRUG_A"])]) == 0
    out = capsys.readouterr().out
    assert (
        "bundle - organoidrx model bundle" in out
        and "drug:        DRUG_A" in out
        and "signed:      no" in out
    )
    assert main(["inspect", str(bundles["DRUG_A"] / "manifest.json")]) == 0  # its bundle, verified
    assert "drug:        DRUG_A" in capsys.readouterr().out
    manifest = bundles["DRUG_A"] / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:-40])  # truncated: an error, not "a table, no problems"
    assert main(["inspect", str(manifest)]) == 2
    assert "organoidrx: error:" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "b.zip")]) == 0
    assert "drug:        DRUG_A" in capsys.readouterr().out
    whole = (tmp_path / "b.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(whole[:-10])  # truncated: named as a damaged bundle, not a workbook
    assert main(["inspect", str(tmp_path / "cut.zip")]) == 2
    assert "cut.zip: is a damaged zip file" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "bundles")]) == 0
    assert f"bundles:     {', '.join(sorted(bundles))}" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "bundles" / "bundles.json")]) == 0  # the index: its folder
    assert f"bundles:     {', '.join(sorted(bundles))}" in capsys.readouterr().out


def test_a_warning_repeated_word_for_word_is_shown_once():
    import logging

    from organoidrx.cli import _EachWarningOnce

    once = _EachWarningOnce()

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("organoidrx", level, __file__, 1, message, None, None)

    assert once.filter(record(logging.WARNING, "2 gene sets have no gene in the network"))
    assert not once.filter(record(logging.WARNING, "2 gene sets have no gene in the network"))
    assert once.filter(record(logging.WARNING, "3 gene sets have no gene in the network"))
    assert once.filter(record(logging.INFO, "load: 0.1 s")) and once.filter(
        record(logging.INFO, "load: 0.1 s")
    )


def test_an_interrupt_while_the_interface_imports_is_one_line(monkeypatch, capsys) -> None:
    """Ctrl-C in the first second (the interface's imports) ends like a later one: status 130, no traceback."""
    import builtins

    from organoidrx.__main__ import run

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "organoidrx.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert run() == 130
    assert capsys.readouterr().err == "organoidrx: interrupted\n"


def test_sigterm_while_a_run_writes_leaves_nothing_behind(tmp_path, monkeypatch, capsys) -> None:
    """A scheduler's kill (SIGTERM) in the middle of the outputs unwinds as Ctrl-C does: no --out folder, no
    staging folder beside it, status 143."""
    import os
    import signal

    from organoidrx.datasets import make_synthetic_cohort
    from organoidrx.pipeline import _outputs

    config = make_synthetic_cohort(random_state=1).write(tmp_path / "cohort")["config"]
    real, calls = _outputs.write_tsv, []

    def killed_midway(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:  # two tables written, the third one's turn
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(_outputs, "write_tsv", killed_midway)
    argv = [
        "--quiet",
        "run",
        str(config),
        "--out",
        str(tmp_path / "out"),
        "--n-permutations",
        "2",
        "--no-report",
    ]
    assert main(argv) == 128 + signal.SIGTERM
    assert capsys.readouterr().err.endswith(
        "\norganoidrx: terminated; each output is complete or as it was before (never half-written)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is the caller's again


def test_a_full_disk_is_one_line_with_the_fix_not_an_internal_error(tmp_path, monkeypatch, capsys) -> None:
    import errno
    import os

    from organoidrx.datasets import make_synthetic_cohort

    paths = make_synthetic_cohort(random_state=1).write(tmp_path / "cohort")
    out = tmp_path / "scores.tsv"

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    argv = ["--quiet", "score", "--expression", str(paths["organoid_expression"])]
    assert main([*argv, "--gene-sets", str(paths["gene_sets"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "organoidrx: error: could not write: No space left on device"
    )
    assert "free disk space" in err and "internal error" not in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["cohort"]


def test_score_writes_its_scores_and_report_as_a_pair(tmp_path, monkeypatch, capsys) -> None:
    import organoidrx._utils
    from organoidrx.datasets import make_synthetic_cohort

    paths = make_synthetic_cohort(random_state=1).write(tmp_path / "cohort")
    out, report = tmp_path / "run" / "scores.tsv", tmp_path / "run" / "sets.tsv"
    argv = ["--quiet", "score", "--expression", str(paths["organoid_expression"]), "--gene-sets"]
    argv += [str(paths["gene_sets"]), "--out", str(out), "--report", str(report)]
    assert main(argv) == 0
    before = out.read_bytes(), report.read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.tsv", "sets.tsv"]

    def no_report(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(organoidrx._utils, "write_tsv", no_report)
    argv[argv.index("--expression") + 1] = str(paths["patient_expression"])  # other samples, other scores
    assert main(argv) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert (out.read_bytes(), report.read_bytes()) == before  # neither replaced
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.tsv", "sets.tsv"]


def test_run_summary_quotes_each_drugs_q_beside_its_p(capsys):
    from types import SimpleNamespace

    import pandas as pd

    from organoidrx.cli import _print_run_summary

    row = dict(n_responder=5, n_non_responder=5, hazard_ratio_unadjusted=0.5, hr_unadjusted_ci_lower=0.2,
               hr_unadjusted_ci_upper=0.9, adjusted_for="", n_permutations=99)  # fmt: skip
    survival = pd.DataFrame(
        [row | dict(drug="A", logrank_p=0.01, logrank_q=0.02, permutation_p=0.03, permutation_q=0.06, p=0.03,
                    q=0.06),
         row | dict(drug="B", logrank_p=0.4, logrank_q=0.4, permutation_p=0.5, permutation_q=0.5, p=0.5, q=0.5)]
    )  # fmt: skip
    _print_run_summary(SimpleNamespace(survival=survival, warnings=[], timings={}, report="r.html"))
    out = capsys.readouterr().out
    assert "log-rank p = 0.01 (q = 0.02)" in out and "permutation p = 0.03 (99 permutations; q = 0.06)" in out
    assert "permutations; q = 0.06), the larger of the two p = 0.03 (q = 0.06)" in out
    _print_run_summary(SimpleNamespace(survival=survival.iloc[:1], warnings=[], timings={}, report="r.html"))
    assert "q =" not in capsys.readouterr().out  # one drug: q is p
    # --no-report: no report to point to
    _print_run_summary(
        SimpleNamespace(survival=None, warnings=["w"], timings={}, report=None, out_dir="o", bundles=[])
    )
    out = capsys.readouterr().out
    assert "1 warning(s); see run.json" in out and "Outputs (no report): " in out and "Report:" not in out
