"""Malformed and extreme inputs through every command: one line on stderr, exit status 2, nothing written.

Each case builds the smallest input that shows one fault (in ``tmp_path``, from a small valid file set or a small
synthetic cohort copied and changed in one place), runs ``organoidrx.cli.main`` in-process and checks the three
promises of the command line: exit status 2 (never 1 for an internal error, never 0), exactly one line on stderr
starting with ``organoidrx`` that names the file or key and the problem, and nothing at ``--out``. A second test
feeds random junk to every reader: a well-formed result or an :class:`InputError`, never another exception.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from organoidrx._utils import InputError
from organoidrx.cli import main
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.io import read_clinical, read_drug_targets, read_expression, read_gmt, read_network
from organoidrx.pipeline import train_bundles

# ------------------------------------------------------------------------------------------------ inputs
EXPRESSION = "gene\tS1\tS2\tS3\n" + "".join(f"G{i}\t{i}.5\t{10 - i}.25\t{i % 3}.0\n" for i in range(10))
GMT = "SET_A\tdesc\tG1\tG2\tG3\tG4\tG5\nSET_B\tdesc\tG5\tG6\tG7\tG8\tG9\n"
NETWORK = "gene_a\tgene_b\tscore\n" + "".join(f"G{i}\tG{i + 1}\t900\n" for i in range(9))
TARGETS = "drug\ttarget\nX\tG1\n"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Valid minimal inputs of score, proximity and predict (never changed by a case)."""
    folder = tmp_path_factory.mktemp("small")
    for name, text in {"e.tsv": EXPRESSION, "s.gmt": GMT, "net.tsv": NETWORK, "t.tsv": TARGETS}.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid cohort with its config.toml (copied, then changed, by each run/train case)."""
    folder = tmp_path_factory.mktemp("cohort")
    data = make_synthetic_cohort(
        n_genes=300,
        n_pathways=20,
        n_organoids=10,
        n_patients_treated=30,
        n_patients_untreated=5,
        random_state=0,
    )
    paths = data.write(folder)
    paths["truth"].unlink()
    _set_key(paths["config"], "settings", "n_random", "50")
    _set_key(paths["config"], "settings", "n_permutations", "0")
    _set_key(paths["config"], "settings", "n_random_sets", "2")
    return folder


@pytest.fixture(scope="module")
def bundles(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of bundles ``train`` writes for the cohort (read by the predict cases, never changed)."""
    folder = tmp_path_factory.mktemp("bundles") / "models"
    train_bundles(cohort / "config.toml", folder)
    return folder


@dataclass
class Ctx:
    """Where a case builds its inputs and where its command must write nothing."""

    tmp: Path
    small: Path
    cohort_source: Path
    bundles: Path
    out_dir: Path  # an empty folder holding --out; it must still be empty after the command

    @property
    def out_file(self) -> str:
        return str(self.out_dir / "out.tsv")

    @property
    def out_folder(self) -> str:
        return str(self.out_dir / "run")

    def write(self, name: str, content: str | bytes) -> str:
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return str(path)

    def cohort(self) -> Path:
        """A private copy of the cohort, to change one file of."""
        target = self.tmp / "cohort"
        if not target.exists():
            shutil.copytree(self.cohort_source, target)
        return target


def _set_key(config: Path, section: str, key: str, value: str) -> None:
    """Set ``key = value`` (TOML text) in ``[section]`` of a config, adding the section when it is absent."""
    lines = config.read_text().split("\n")
    header = f"[{section}]"
    if header not in lines:
        lines += ["", header]
    start = lines.index(header) + 1
    stop = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start, stop):
        if re.match(rf"{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            break
    else:
        lines.insert(start, f"{key} = {value}")
    config.write_text("\n".join(lines))


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def _zip(member: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, text)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------- commands
Build = Callable[[Ctx], list[str]]


def score(
    expression: Callable[[Ctx], str] | str | bytes, gmt: str | None = None, name: str = "e.tsv"
) -> Build:
    """``score`` with a bad expression file (content, or a function making the path) and a valid GMT."""

    def build(ctx: Ctx) -> list[str]:
        path = expression(ctx) if callable(expression) else ctx.write(name, expression)
        sets = str(ctx.small / "s.gmt") if gmt is None else ctx.write("s.gmt", gmt)
        return ["score", "--expression", path, "--gene-sets", sets, "--out", ctx.out_file]

    return build


def score_gmt(content: str | bytes, name: str = "s.gmt") -> Build:
    def build(ctx: Ctx) -> list[str]:
        sets = ctx.write(name, content)
        return ["score", "--expression", str(ctx.small / "e.tsv"), "--gene-sets", sets, "--out", ctx.out_file]

    return build


def proximity(
    network: str | None = None, targets: str | None = None, *flags: str, min_score: str = "700"
) -> Build:
    """``proximity`` on the small files with one of them replaced."""

    def build(ctx: Ctx) -> list[str]:
        net = str(ctx.small / "net.tsv") if network is None else ctx.write("net.tsv", network)
        tgt = str(ctx.small / "t.tsv") if targets is None else ctx.write("t.tsv", targets)
        return [
            "proximity",
            "--network",
            net,
            "--targets",
            tgt,
            "--gene-sets",
            str(ctx.small / "s.gmt"),
            "--min-score",
            min_score,
            "--n-random",
            "10",
            "--no-cache",
            "--out",
            ctx.out_file,
            *flags,
        ]

    return build


def run(
    change: Callable[[Path], object] | None = None,
    *flags: str,
    command: str = "run",
    config: str | None = None,
) -> Build:
    """``run`` (or ``train``) of the cohort copy after ``change(folder)``; ``config`` names another config file."""

    def build(ctx: Ctx) -> list[str]:
        folder = ctx.cohort()
        if change is not None:
            change(folder)
        path = str(folder / (config or "config.toml"))
        return [command, path, "--out", ctx.out_folder, *flags]

    return build


def setting(section: str, key: str, value: str, command: str = "run") -> Build:
    return run(lambda folder: _set_key(folder / "config.toml", section, key, value), command=command)


def replace_file(name: str, content: str | bytes) -> Callable[[Path], object]:
    def change(folder: Path) -> None:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return change


def edit_file(name: str, edit: Callable[[str], str]) -> Callable[[Path], object]:
    def change(folder: Path) -> None:
        path = folder / name
        path.write_text(edit(path.read_text()))

    return change


def edit_table(name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], object]:
    def change(folder: Path) -> None:
        path = folder / name
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        edit(table).to_csv(path, sep="\t", index=False)

    return change


def _set_cell(column: str, row: int, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[row, column] = value
        return table

    return edit


def _duplicate_first_row(table: pd.DataFrame, column: str | None = None, value: str = "") -> pd.DataFrame:
    row = table.iloc[[0]].copy()
    if column is not None:
        row[column] = value
    return pd.concat([table, row], ignore_index=True)


def predict(bundle: Callable[[Ctx], str] | None = None, expression: str | None = None, *flags: str) -> Build:
    """``predict`` with a bad bundle (a function making it; default the trained ones) or expression file."""

    def build(ctx: Ctx) -> list[str]:
        folder = str(ctx.bundles) if bundle is None else bundle(ctx)
        if expression is None:
            data = str(ctx.cohort_source / "patient_expression.tsv")
        else:
            data = ctx.write("e.tsv", expression)
        keys = {"@short.key": "k" * 8, "@long.key": "k" * 32}  # written into tmp and passed by path
        given = [ctx.write(f[1:], keys[f] + "\n") if f in keys else f for f in flags]
        return ["predict", "--bundle", folder, "--expression", data, "--out", ctx.out_file, *given]

    return build


def inspect(path: Callable[[Ctx], str]) -> Build:
    return lambda ctx: ["inspect", path(ctx)]


# -------------------------------------------------------------------------------------------- special files
def _missing(ctx: Ctx) -> str:
    return str(ctx.tmp / "absent.tsv")


def _folder(ctx: Ctx) -> str:
    (ctx.tmp / "data.tsv").mkdir()
    return str(ctx.tmp / "data.tsv")


def _fifo(ctx: Ctx) -> str:
    os.mkfifo(ctx.tmp / "pipe.tsv")  # no writer: opening it for reading would block forever
    return str(ctx.tmp / "pipe.tsv")


def _dev_zero(ctx: Ctx) -> str:
    if not os.path.exists("/dev/zero"):
        pytest.skip("/dev/zero does not exist on this system")
    (ctx.tmp / "zero.tsv").symlink_to("/dev/zero")
    return str(ctx.tmp / "zero.tsv")


def _bundle_manifest(text: str) -> Callable[[Ctx], str]:
    def make(ctx: Ctx) -> str:
        folder = ctx.tmp / "bundle"
        folder.mkdir()
        (folder / "manifest.json").write_text(text)
        return str(folder)

    return make


def _empty_folder(ctx: Ctx) -> str:
    (ctx.tmp / "bundles").mkdir()
    return str(ctx.tmp / "bundles")


# -------------------------------------------------------------------------------------------------- cases
def case(build: Build, *expected: str, id: str, xfail: str | None = None) -> object:
    """One fault: the command it runs, the substrings its error line must hold (all of them) and an id."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(build, expected, id=id, marks=marks)


def _drop_section(section: str) -> Callable[[str], str]:
    return lambda text: re.sub(rf"(?ms)^\[{section}\]\n.*?(?=^\[)", "", text)


def _precomputed_proximity(content: str | bytes) -> Callable[[Path], object]:
    """Replace ``[network] edges`` (and its min_score, then unused) by a precomputed proximity table with
    ``content``."""

    def change(folder: Path) -> None:
        replace_file("prox.tsv", content)(folder)
        edit_file(
            "config.toml",
            lambda t: re.sub(
                r"min_score = \S+\n", "", t.replace('edges = "network.tsv"', 'proximity = "prox.tsv"')
            ),
        )(folder)

    return change


def _negative_first_time(text: str) -> str:
    lines = text.split("\n")
    fields = lines[1].split("\t")
    fields[1] = "-5"
    lines[1] = "\t".join(fields)
    return "\n".join(lines)


LATIN1 = "gene\tS1\tS2\nG\xe9ne1\t1\t2\nG2\t3\t4\n".encode("latin-1")
CASES = [
    # ------------------------------------------------------------------------------ expression files (score)
    case(score(""), "e.tsv", "empty", id="expression-empty"),
    case(score("gene\tS1\tS2\n"), "e.tsv", "no data rows", id="expression-header-only"),
    case(score("gene\nG1\nG2\n"), "e.tsv", "single column", id="expression-one-column"),
    case(
        score("gene\tS1\tS2\nG1\t1\t2\nG2\t3\t4\t5\n"),
        "e.tsv: line 3 has 4 fields but the header has 3;",
        id="expression-ragged",
    ),
    case(score('gene\tS1\n"G1\t1\nG2\t2\n'), "e.tsv", "quot", id="expression-unclosed-quote"),
    case(
        score("gene\tS1\tS1\nG1\t1\t2\nG2\t3\t4\n"),
        "e.tsv",
        "duplicated",
        "'S1'",
        id="expression-dup-samples",
    ),
    case(
        score("gene\tS1\tS2\nG1\t1\t2\nG1\t3\t4\n"),
        "e.tsv",
        "duplicated gene",
        "'G1'",
        id="expression-dup-genes",
    ),
    case(
        score("gene\tS1\tS2\nG1\t1\t2\nG2\t3\tabc\nG3\t5\t6\n"),
        "e.tsv",
        "'abc'",
        "S2",
        id="expression-text-cell",
    ),
    case(score("gene\tS1\tS2\nG1\t1\tinf\nG2\t3\t4\n"), "e.tsv", "infinite", id="expression-inf"),
    case(score("gene\tS1\tS2\nG1\t1\t-inf\nG2\t3\t4\n"), "e.tsv", "infinite", id="expression-minus-inf"),
    case(score(b"gene\tS1\nG1\t1\x00\nG2\t2\n"), "e.tsv", "NUL", id="expression-nul-bytes"),
    case(score(_zip("e.tsv", EXPRESSION)), "e.tsv", "zip", id="expression-zip-bytes"),
    case(score(_zip("xl/workbook.xml", "<x/>"), name="e.xlsx"), "e.xlsx", "Excel", id="expression-xlsx"),
    case(
        score(b"\x1f\x8b\x08\x00garbage-not-deflate", name="e.tsv.gz"),
        "e.tsv.gz",
        "gzip",
        id="expression-bad-gzip",
    ),
    case(
        score(_gzip(EXPRESSION)[:40], name="e.tsv.gz"),
        "e.tsv.gz",
        "truncated",
        id="expression-truncated-gzip",
    ),
    case(score(EXPRESSION, name="e.tsv.gz"), "e.tsv.gz", "not gzip", id="expression-gz-not-gzip"),
    case(score(LATIN1), "e.tsv", "UTF-8", "0xe9", id="expression-latin1"),
    case(
        score(b"\xef\xbb\xbfgene\tS1\nG1\tx1\nG2\t2\nG3\t3\n"), "e.tsv", "'x1'", id="expression-bom-text-cell"
    ),
    case(score("\ufeffgene\tS1\tS1\r\nG1\t1\t2\r\n"), "e.tsv", "'S1'", id="expression-bom-dup-samples"),
    case(score("\ufeffgene\tS1\tS2\nG1\t1\t2\n".encode("utf-16")), "e.tsv", "UTF-16", id="expression-utf16"),
    case(
        score("gene\tS1\tS2\r\nG1\t1\tbad\r\nG2\t3\t4\r\nG3\t5\t6\r\n"),
        "e.tsv",
        "'bad'",
        id="expression-crlf-text-cell",
    ),
    case(score("gene\tS1\r\nG1\t1\r\nG1\t2\r\n"), "e.tsv", "'G1'", id="expression-crlf-dup-genes"),
    case(
        score(
            "sample\t"
            + "\t".join(f"G{i}" for i in range(10))
            + "\n"
            + "".join(
                f"S{s}\t" + "\t".join(f"{(7 * i + 3 * s) % 11}.{s}" for i in range(10)) + "\n"
                for s in range(1, 4)
            )
        ),
        "e.tsv",
        "'S1'",
        id="expression-transposed",
    ),
    case(
        score("gene\tS1\tS2\n" + "".join(f"G{i}\t{i}\tNA\n" for i in range(10))),
        "e.tsv",
        "'S2'",
        id="expression-all-na-sample",
    ),
    case(
        score("gene\tS1\tS2\nG1\t1\t2\n"),
        "e.tsv",
        "'G1'",
        id="expression-one-gene",
    ),
    case(score("gene\tS1\tS2\nG1\t1\t2\n\t3\t4\n"), "e.tsv", "empty gene id", id="expression-empty-gene-id"),
    case(score(_dev_zero), "zero.tsv", "not a regular file", id="expression-dev-zero"),
    case(score(_fifo), "pipe.tsv", "FIFO", id="expression-fifo"),
    case(score(_folder), "data.tsv", "folder", id="expression-folder"),
    case(score(_missing), "absent.tsv", "not found", id="expression-missing"),
    # ------------------------------------------------------------------------------------ GMT files (score)
    case(score_gmt(""), "s.gmt", "no gene sets", id="gmt-empty"),
    case(score_gmt("SET_A\tdesc\nSET_B\tdesc\t\t\n"), "s.gmt", "genes", id="gmt-no-genes"),
    case(score_gmt(GMT + "SET_A\tdesc\tG1\n"), "s.gmt", "'SET_A'", "twice", id="gmt-duplicate-names"),
    case(score_gmt(b"\x00\x01\x02SET\tdesc\tG1\x00\n" * 4), "s.gmt", "binary", id="gmt-binary"),
    case(score_gmt(_zip("s.gmt", GMT)), "s.gmt", "zip", id="gmt-zip"),
    case(score_gmt(GMT.encode("utf-16")), "s.gmt", "UTF-16", id="gmt-utf16"),
    case(score_gmt("SET_A\nSET_B\n"), "s.gmt", "'SET_A'", "no genes", id="gmt-one-field-per-line"),
    case(score_gmt("SET_A desc G1 G2 G3\n"), "s.gmt", "space-separated", id="gmt-space-separated"),
    case(score_gmt("\tdesc\tG1\tG2\n"), "s.gmt", "no gene-set name", id="gmt-no-name"),
    case(
        score_gmt("SET_A\tdesc\tZZ1\tZZ2\tZZ3\tZZ4\tZZ5\n"),
        "s.gmt",
        "'ZZ1'",
        id="gmt-no-overlap",
    ),
    # --------------------------------------------------------------------------------- networks (proximity)
    case(
        proximity("foo\tbar\nG1\tG2\n"), "net.tsv", "cannot tell which columns", id="network-unknown-columns"
    ),
    case(proximity("gene_a\nG1\nG2\n"), "net.tsv", "cannot tell which columns", id="network-one-column"),
    case(
        proximity("gene_a\tgene_b\tscore\nG1\tG2\thigh\n"),
        "net.tsv",
        "'high'",
        "score",
        id="network-text-score",
    ),
    case(
        proximity("gene_a\tgene_b\tscore\nG1\tG2\t100\nG2\tG3\t200\n"),
        "net.tsv",
        "no edge has",
        id="network-all-below-threshold",
    ),
    case(
        proximity("gene_a\tgene_b\tscore\nG1\tG1\t900\nG2\tG2\t900\n"),
        "net.tsv",
        "self-loops",
        id="network-self-loops-only",
    ),
    case(proximity(""), "net.tsv", "empty", id="network-empty"),
    case(
        proximity("gene_a\tgene_b\nG1\tG2\n"), "net.tsv", "score column", id="network-threshold-without-score"
    ),
    case(proximity(None, None, "--edge-columns", "A,B"), "net.tsv", "'A'", id="network-edge-columns-absent"),
    case(
        proximity("gene_a\tgene_b\tscore\n" + "G1\tG2\t900\n" * 3 + "G2\tG3\t900\t1\n"),
        "net.tsv",
        "line 5",
        id="network-ragged",
    ),
    case(
        proximity("score\tgene_a\tgene_b\nhigh\tG1\tG2\n"),
        "net.tsv",
        "'high'",
        "'score'",
        id="network-score-first-text",
    ),
    # ------------------------------------------------------------------------------ drug targets (proximity)
    case(
        proximity(None, "compound_x\tprotein\nX\tG1\n"), "t.tsv", "drug column", id="targets-no-drug-column"
    ),
    case(proximity(None, "drug\ttarget\nX\t\n"), "t.tsv", "'X'", "no targets", id="targets-empty-target"),
    case(proximity(None, "drug\ttarget\n\tG1\n"), "t.tsv", "no drug name", id="targets-empty-drug"),
    case(proximity(None, "drug\ttarget\n"), "t.tsv", "no rows", id="targets-header-only"),
    # ------------------------------------------------------------------------------------ proximity flags
    case(
        proximity(None, None, "--n-random", str(10**9)), "n_random", "1,000,000", id="proximity-n-random-huge"
    ),
    case(proximity(None, None, "--n-random", "0"), "n_random", id="proximity-n-random-zero"),
    case(
        proximity(None, None, "--drugs", "NOPE"), "'NOPE'", "not in this table", id="proximity-unknown-drug"
    ),
    case(proximity(None, None, "--seed", "-1"), "--seed", ">= 0", id="proximity-negative-seed"),
    case(proximity(None, None, "--measure", "nope"), "--measure", "'nope'", id="proximity-unknown-measure"),
    case(proximity(None, None, min_score="nan"), "min_score", "finite", id="proximity-min-score-nan"),
    # ------------------------------------------------------------------------------- drug responses (run)
    case(
        run(edit_table("organoid_response.tsv", lambda t: t.rename(columns={"value": "foo"}))),
        "organoid_response.tsv",
        "value column",
        id="response-no-value-column",
    ),
    case(
        run(edit_table("organoid_response.tsv", _set_cell("value", 2, "potent"))),
        "organoid_response.tsv",
        "'potent'",
        "not a number",
        id="response-text-value",
    ),
    case(
        run(edit_table("organoid_response.tsv", lambda t: _duplicate_first_row(t, "value", "9.5"))),
        "organoid_response.tsv",
        "more than once",
        id="response-conflicting-duplicates",
    ),
    case(
        run(
            lambda folder: (
                edit_table("organoid_response.tsv", _set_cell("value", 0, "-3.0"))(folder),
                _set_key(folder / "config.toml", "preclinical", "log_scale", "false"),
            )
        ),
        "organoid_response.tsv",
        "positive",
        id="response-negative-linear-scale",
    ),
    case(
        run(replace_file("organoid_response.tsv", "sample\tdrug\tvalue\n")),
        "organoid_response.tsv",
        "no rows",
        id="response-header-only",
    ),
    case(
        run(lambda folder: _set_key(folder / "config.toml", "drugs", "names", '["DRUG_A", "DRUG_Q"]')),
        "'DRUG_Q'",
        id="run-unknown-drug",
    ),
    case(
        run(_precomputed_proximity(b"\x00\x01PK\xff\xfe")),
        "prox.tsv",
        "binary",
        id="proximity-table-binary",
    ),
    case(
        run(_precomputed_proximity("drug\tpathway\tz\nDRUG_A\tP1\t1\t2\nDRUG_B\tP1\n")),
        "prox.tsv",
        "line 2",
        id="proximity-table-ragged",
    ),
    # ----------------------------------------------------------------------------- clinical tables (run)
    case(
        run(edit_table("clinical.tsv", lambda t: t.rename(columns={"time": "follow_up"}))),
        "clinical.tsv",
        "'time'",
        id="clinical-no-time-column",
    ),
    case(
        run(edit_file("clinical.tsv", _negative_first_time)),
        "clinical.tsv",
        "negative time",
        id="clinical-negative-time",
    ),
    case(
        run(edit_table("clinical.tsv", _set_cell("event", 3, "2"))),
        "clinical.tsv",
        "'event'",
        "0/1",
        id="clinical-event-not-binary",
    ),
    case(
        run(edit_table("clinical.tsv", _duplicate_first_row)),
        "clinical.tsv",
        "more than once",
        id="clinical-duplicated-patient",
    ),
    case(
        run(edit_table("clinical.tsv", _set_cell("time", 1, "soon"))),
        "clinical.tsv",
        "'soon'",
        id="clinical-text-time",
    ),
    # ------------------------------------------------------------------------------------ configs (run)
    case(
        run(edit_file("config.toml", lambda t: t + "\n[settings\nseed = 1\n")),
        "config.toml",
        "TOML",
        id="config-toml-syntax",
    ),
    case(
        run(edit_file("config.toml", lambda t: t + "\n[setings]\nseed = 1\n")),
        "config.toml",
        "[setings]",
        "'settings'",
        id="config-unknown-section",
    ),
    case(
        setting("settings", "n_permutation", "5"),
        "config.toml",
        "'n_permutation'",
        "'n_permutations'",
        id="config-unknown-key-close",
    ),
    case(setting("settings", "seed", '"zero"'), "config.toml", "seed", "integer", id="config-wrong-type"),
    case(setting("settings", "top_k", "2.5"), "config.toml", "top_k", "integer", id="config-float-for-int"),
    case(
        setting("settings", "n_permutations", str(10**9)),
        "config.toml",
        "n_permutations",
        "1,000,000",
        id="config-n-permutations-huge",
    ),
    case(
        setting("settings", "n_random", str(10**9)),
        "config.toml",
        "n_random",
        "1,000,000",
        id="config-n-random-huge",
    ),
    case(
        setting("settings", "n_random_sets", str(10**9)),
        "config.toml",
        "n_random_sets",
        "100,000",
        id="config-n-random-sets-huge",
    ),
    case(setting("settings", "top_k", str(10**9)), "config.toml", "top_k", "100,000", id="config-top-k-huge"),
    case(
        setting("settings", "quantile", "3.0"),
        "config.toml",
        "quantile",
        "between 0 and 1",
        id="config-quantile-3",
    ),
    case(
        setting("settings", "quantile", "nan"), "config.toml", "quantile", "finite", id="config-quantile-nan"
    ),
    case(
        setting("settings", "horizon_months", "-10"),
        "config.toml",
        "horizon_months",
        "> 0",
        id="config-horizon-negative",
    ),
    case(setting("settings", "seed", "-1"), "config.toml", "seed", ">= 0", id="config-seed-negative"),
    case(
        setting("preclinical", "expression", '"nowhere.tsv"'),
        "config.toml",
        "expression",
        "does not exist",
        id="config-path-missing",
    ),
    case(
        setting("pathways", "gene_sets", '"."'),
        "config.toml",
        "gene_sets",
        "folder",
        id="config-path-is-folder",
    ),
    case(
        setting("settings", "scorer", '"ssgsae"'),
        "config.toml",
        "scorer",
        "'ssgsea'",
        id="config-unknown-scorer",
    ),
    case(
        setting("settings", "model", '"ridgee"'), "config.toml", "model", "'ridge'", id="config-unknown-model"
    ),
    case(
        setting("settings", "alignment", '"standardise"'),
        "config.toml",
        "alignment",
        "'standardize'",
        id="config-unknown-alignment",
    ),
    case(
        setting("settings", "measure", '"closets"'),
        "config.toml",
        "measure",
        "'closest'",
        id="config-unknown-measure",
    ),
    case(setting("scorer", "wieght", "1.0"), "config.toml", "'wieght'", id="config-unknown-method-option"),
    case(
        setting("patients", "time_unit", '"fortnights"'),
        "config.toml",
        "time_unit",
        "'fortnights'",
        id="config-bad-choice",
    ),
    case(
        run(edit_file("config.toml", lambda t: t.replace("[drugs]", "[drugz]"))),
        "config.toml",
        "[drugz]",
        id="config-misspelled-section",
    ),
    case(
        run(edit_file("config.toml", _drop_section("pathways"))),
        "config.toml",
        "missing section [pathways]",
        id="config-missing-section",
    ),
    case(setting("pathways", "min_size", "0"), "config.toml", "min_size", ">= 1", id="config-min-size-zero"),
    case(
        run(replace_file("config.toml", b"\xff\xfe[settings]\n")), "config.toml", "TOML", id="config-not-utf8"
    ),
    case(run(None, config="absent.toml"), "absent.toml", "does not exist", id="config-missing-file"),
    case(
        run(lambda folder: (folder / "conf.toml").mkdir(), config="conf.toml"),
        "conf.toml",
        "folder",
        id="config-is-folder",
    ),
    case(
        run(lambda folder: os.mkfifo(folder / "conf.toml"), config="conf.toml"),
        "conf.toml",
        "not a regular file",
        id="config-fifo",
    ),
    case(
        run(None, "--n-permutations", str(10**9)),
        "--n-permutations",
        "1,000,000",
        id="run-flag-n-permutations-huge",
    ),
    case(
        setting("settings", "top_k", "0", command="train"),
        "config.toml",
        "top_k",
        id="train-config-top-k-zero",
    ),
    case(
        run(edit_file("config.toml", lambda t: t + "\n[settings\n"), command="train"),
        "config.toml",
        "TOML",
        id="train-config-syntax",
    ),
    # -------------------------------------------------------------------------------- bundles (predict)
    case(predict(lambda ctx: str(ctx.tmp / "no_such_bundle")), "no_such_bundle", id="bundle-missing-folder"),
    case(predict(_bundle_manifest("{not json")), "manifest.json", "JSON", id="bundle-manifest-not-json"),
    case(predict(_bundle_manifest("[1, 2, 3]")), "manifest.json", id="bundle-manifest-not-object"),
    case(predict(_empty_folder), "bundles", "no bundle", id="bundle-empty-folder"),
    case(predict(None, "gene\tP1\nG0001\tx\nG0002\t1\n"), "e.tsv", "'x'", id="predict-text-cell"),
    case(
        predict(None, "gene\tP1\tP2\nZZ1\t1\t2\nZZ2\t3\t4\n"), "e.tsv", "'ZZ1'", id="predict-no-shared-genes"
    ),
    case(
        predict(None, None, "--gene-sets", "/nonexistent/s.gmt"),
        "s.gmt",
        "not found",
        id="predict-gmt-missing",
    ),
    case(
        predict(None, None, "--verify-key", "/nonexistent/secret.key"),
        "secret.key",
        "key file",
        id="predict-key-missing",
    ),
    case(
        predict(None, None, "--verify-key", "@short.key"), "short.key", "at least 16", id="predict-key-short"
    ),
    case(
        predict(None, None, "--verify-key", "@long.key"),
        "DRUG_A",
        "sign",
        id="predict-unsigned-bundle-with-key",
    ),
    case(
        run(None, "--sign-key", "/nonexistent/secret.key", command="train"),
        "secret.key",
        id="train-sign-key-missing",
    ),
    # -------------------------------------------------------------------------------------------- inspect
    case(inspect(_missing), "absent.tsv", "not found", id="inspect-missing"),
    case(inspect(_fifo), "pipe.tsv", "FIFO", id="inspect-fifo"),
    case(inspect(_dev_zero), "zero.tsv", "not a regular file", id="inspect-dev-zero"),
    case(inspect(lambda ctx: ctx.write("e.tsv", "")), "e.tsv", "empty", id="inspect-empty"),
    case(
        inspect(lambda ctx: ctx.write("e.tsv.gz", b"\x1f\x8b\x08\x00junk")),
        "e.tsv.gz",
        "gzip",
        id="inspect-bad-gzip",
    ),
]


@pytest.mark.parametrize(("build", "expected"), CASES)
def test_fault_is_one_line_exit_2_and_writes_nothing(
    build: Build,
    expected: tuple[str, ...],
    small: Path,
    cohort: Path,
    bundles: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "result").mkdir()
    ctx = Ctx(tmp=tmp_path, small=small, cohort_source=cohort, bundles=bundles, out_dir=tmp_path / "result")
    argv = ["--quiet", *build(ctx)]
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse refuses a flag value before main's handler runs
        status = exc.code
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status == 2, f"exit status {status}; stderr: {captured.err!r}"
    assert len(lines) == 1, f"stderr is not one line: {captured.err!r}"
    assert lines[0].startswith("organoidrx"), lines[0]
    assert "Traceback" not in captured.err
    missing = [text for text in expected if text not in lines[0]]
    assert not missing, f"{missing} not in {lines[0]!r}"
    assert not any(ctx.out_dir.iterdir()), f"written despite the error: {sorted(ctx.out_dir.iterdir())}"


# ------------------------------------------------------------------------------------------- random junk
TOKENS = [
    *"\t,;\"'\n\r \x00#!.-=[]",
    "\r\n",
    "\ufeff",
    "NA",
    "inf",
    "-inf",
    "nan",
    "1e308",
    "-1",
    "0",
    "1",
    "2.5",
]
TOKENS += [
    "G1",
    "G2",
    "S1",
    "X",
    "SET",
    "desc",
    "gene",
    "drug",
    "target",
    "time",
    "event",
    "patient",
    "score",
]
CHARS = st.one_of(st.sampled_from(TOKENS), st.characters(codec="utf-8", exclude_categories=("Cs",)))
CELLS = st.one_of(st.sampled_from(TOKENS), st.lists(CHARS, max_size=6).map("".join))
# junk text, and junk laid out as rows of cells (so that some of it gets past the header checks)
JUNK = st.one_of(
    st.lists(CHARS, max_size=120).map("".join),
    st.tuples(
        st.sampled_from(["\t", ",", ";", " "]),
        st.sampled_from(["\n", "\r\n"]),
        st.lists(st.lists(CELLS, min_size=1, max_size=5), max_size=8),
    ).map(lambda t: "".join(t[0].join(row) + t[1] for row in t[2])),
)
READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "expression.tsv": read_expression,
    "sets.gmt": read_gmt,
    "network.tsv": read_network,
    "targets.tsv": read_drug_targets,
    "clinical.tsv": read_clinical,
}


def _check_result(name: str, result: pd.DataFrame) -> None:
    assert isinstance(result, pd.DataFrame)
    if name == "expression.tsv":
        assert result.index.is_unique and result.columns.is_unique
        assert all(dtype.kind == "f" for dtype in result.dtypes)
    elif name == "sets.gmt":
        assert list(result.columns) == ["pathway", "gene"] and len(result)
    elif name == "network.tsv":
        assert list(result.columns) == ["gene_a", "gene_b", "score"] and len(result)
        assert (result["gene_a"] < result["gene_b"]).all()
    elif name == "targets.tsv":
        assert list(result.columns) == ["drug", "target"] and len(result)
    else:
        assert list(result.columns)[:3] == ["patient", "time", "event"]
        assert (result["time"] >= 0).all() and set(result["event"]) <= {0, 1}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=JUNK,
    header=st.sampled_from(
        [
            "",
            "gene\tS1\tS2\n",
            "gene_a\tgene_b\tscore\n",
            "drug\ttarget\n",
            "patient\ttime\tevent\n",
            "SET\tdesc\tG1\n",
        ]
    ),
)
def test_readers_return_a_table_or_raise_input_error(tmp_path: Path, text: str, header: str) -> None:
    for name, reader in READERS.items():
        path = tmp_path / name
        path.write_bytes((header + text).encode("utf-8", errors="surrogatepass"))
        try:
            result = reader(path)
        except InputError as exc:
            assert str(exc).strip(), f"{name}: empty message"
            continue
        _check_result(name, result)
