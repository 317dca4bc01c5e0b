"""Two runs of the same inputs and seed write the same bytes: report.html, every PNG and every table."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from organoidrx.datasets import make_synthetic_cohort


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """The same small config run by two processes with different string-hash seeds, into two folders."""
    cohort = make_synthetic_cohort(
        n_genes=240,
        n_pathways=20,
        n_organoids=12,
        n_patients_treated=60,
        n_patients_untreated=0,
        random_state=0,
    )
    config = cohort.write(tmp_path_factory.mktemp("cohort"))["config"]
    text = config.read_text()
    for key, value in {"n_random": 30, "n_permutations": 3}.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    config.write_text(text.replace("[settings]\n", "[settings]\nn_random_sets = 2\n"))
    root = tmp_path_factory.mktemp("runs")
    outs = (root / "a", root / "b")
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "organoidrx", "--quiet", "run", str(config), "--out", str(out)],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},  # set and dict orders of strings differ
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed, out in zip((1, 2), outs, strict=True)
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    return outs


def test_every_file_but_run_json_is_byte_identical(two_runs):
    first, second = (_files(out) for out in two_runs)
    assert set(first) == set(second)
    assert {"report.html", "km_DRUG_A.png", "feature_sets.png", "survival.tsv"} <= set(first)
    different = [name for name in first if name != "run.json" and first[name] != second[name]]
    assert different == []


def test_run_json_differs_only_in_its_timings(two_runs):
    records = [json.loads((out / "run.json").read_text()) for out in two_runs]
    for record in records:
        assert record["timings_seconds"]["report"] >= 0  # the timings are recorded here
        record.pop("timings_seconds")
    assert records[0] == records[1]


def test_report_holds_no_clock_time_and_embeds_the_png_files(two_runs):
    out = two_runs[0]
    report = (out / "report.html").read_text("utf-8")
    assert "Timings" not in report and "seconds" not in report
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|\b\d\d:\d\d:\d\d\b", report)
    assert str(out.parent) not in report  # no output or temporary folder path
    embedded = {base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', report)}
    assert embedded == {p.read_bytes() for p in out.glob("*.png")}
    for png in embedded:
        assert b"Software" not in png and b"Creation Time" not in png
