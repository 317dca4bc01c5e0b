"""The run folder is written whole: a run never mixes with the previous one, even when it is killed."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from organoidrx import InputError, cli
from organoidrx._utils import remove_stale_staging
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.pipeline import run_pipeline
from organoidrx.pipeline._outputs import RunFolder

SMALL = {"n_random": 30, "n_permutations": 3, "n_random_sets": 2}
OVERWRITE = ("--overwrite",)
PATIENT_FILES = ("survival.tsv", "patient_predictions.tsv", "patient_drug_sensitivity.tsv", "km_DRUG_A.png")


def _set(config: Path, **settings: int) -> None:
    text = config.read_text()
    for key, value in settings.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        if n == 0:
            text = text.replace("[settings]\n", f"[settings]\n{key} = {value}\n")
    config.write_text(text)


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) below ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _staging_siblings(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _record(folder: Path) -> dict:
    record = json.loads((folder / "run.json").read_text())
    record.pop("timings_seconds")
    return record


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> tuple[Path, Path]:
    """A small cohort: the config with patients and a preclinical-only copy (no [patients])."""
    cohort = make_synthetic_cohort(
        n_genes=240,
        n_pathways=20,
        n_organoids=12,
        n_patients_treated=60,
        n_patients_untreated=0,
        random_state=0,
    )
    config = cohort.write(tmp_path_factory.mktemp("cohort"))["config"]
    _set(config, **SMALL)
    text = config.read_text()
    pre = config.parent / "pre.toml"
    pre.write_text(text[: text.index("[patients]")] + text[text.index("[settings]") :])
    return config, pre


@pytest.fixture(scope="module")
def demo_run(configs, tmp_path_factory) -> Path:
    """A previous demo-style run: the cohort written into the run folder, then the run with patients."""
    folder = RunFolder(tmp_path_factory.mktemp("demo-run") / "demo")
    cohort = make_synthetic_cohort(
        n_genes=240,
        n_pathways=20,
        n_organoids=12,
        n_patients_treated=60,
        n_patients_untreated=0,
        random_state=1,
    )
    with folder.staged() as staging:
        paths = cohort.write(staging / "cohort")
        _set(paths["config"], **SMALL)
        run_pipeline(paths["config"], folder)
    for name in (*PATIENT_FILES, "report.html", "run.json", "cohort/config.toml"):
        assert (folder.final / name).is_file(), name
    return folder.final


@pytest.fixture(scope="module")
def preclinical_reference(configs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    run_pipeline(configs[1], out)
    return out


@pytest.fixture
def previous(demo_run, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(demo_run, out)
    return out


def _is_complete(out: Path, reference: Path) -> bool:
    """``out`` holds exactly the reference run: same files, same bytes, run.json equal but for its timings."""
    got, want = _snapshot(out), _snapshot(reference)
    if set(got) != set(want):
        return False
    same = all(got[name] == want[name] for name in got if name != "run.json")
    return same and _record(out) == _record(reference)


def _refused(args: list[str], capsys) -> str:
    assert cli.main(["--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("organoidrx: error:"), err
    return err


# ------------------------------------------------------------------------------------------- refusals
def test_run_into_a_previous_run_folder_without_overwrite_is_refused(configs, previous, capsys):
    before = _snapshot(previous)
    err = _refused(["run", str(configs[1]), "--out", str(previous)], capsys)
    assert str(previous) in err and "previous organoidrx run" in err
    assert "--overwrite" in err and "another --out" in err
    assert _snapshot(previous) == before
    assert _staging_siblings(previous) == []


def test_python_api_refuses_too_and_overwrites_on_request(configs, previous, preclinical_reference):
    before = _snapshot(previous)
    with pytest.raises(InputError, match=r"previous organoidrx run .*overwrite=True"):
        run_pipeline(configs[1], previous)
    assert _snapshot(previous) == before
    run_pipeline(configs[1], previous, overwrite=True)
    assert _is_complete(previous, preclinical_reference)


def test_overwrite_leaves_only_the_new_runs_files(configs, previous, preclinical_reference):
    assert cli.main(["--quiet", "run", str(configs[1]), "--out", str(previous), "--overwrite"]) == 0
    files = {p.name for p in previous.iterdir()}
    record = json.loads((previous / "run.json").read_text())
    assert record["mode"] == "preclinical-only"
    assert files == {*record["outputs"], "run.json"}
    assert all((previous / name).is_file() for name in files)  # the demo's cohort/ folder is gone too
    assert not files & {*PATIENT_FILES, "km_DRUG_B.png"}
    assert _is_complete(previous, preclinical_reference)
    assert _staging_siblings(previous) == []


def test_non_empty_folder_that_is_no_run_is_refused(configs, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    err = _refused(["run", str(configs[1]), "--out", str(out)], capsys)
    assert str(out) in err and "'notes.txt'" in err and "no run.json" in err and "--overwrite" in err
    assert _snapshot(out) == {"notes.txt": b"keep me\n"}
    err = _refused(["demo", "--out", str(out)], capsys)  # the demo refuses before writing anything
    assert "--overwrite" in err and _snapshot(out) == {"notes.txt": b"keep me\n"}
    assert _staging_siblings(out) == []


def test_folder_holding_an_input_or_a_file_is_refused_even_with_overwrite(configs, tmp_path, capsys):
    config, pre = configs
    before = _snapshot(config.parent)
    err = _refused(["run", str(pre), "--out", str(config.parent), "--overwrite"], capsys)
    assert "holds the run's input" in err and "choose another --out" in err
    assert _snapshot(config.parent) == before
    target = tmp_path / "a-file"
    target.write_text("x")
    err = _refused(["run", str(pre), "--out", str(target), "--overwrite"], capsys)
    assert "is a file, not a folder" in err and target.read_text() == "x"


def test_demo_style_run_records_its_final_paths(demo_run):
    text = (demo_run / "run.json").read_text() + (demo_run / "report.html").read_text()
    assert f".{demo_run.name}." not in text  # never the temporary sibling's path
    record = json.loads((demo_run / "run.json").read_text())
    assert record["config"] == str(demo_run / "cohort" / "config.toml")
    assert record["inputs"]["clinical"]["path"] == str(demo_run / "cohort" / "clinical.tsv")
    assert "cohort" not in record["outputs"]


def test_demo_default_folder_replaces_only_a_previous_run(demo_run, tmp_path):
    RunFolder(demo_run, replace_runs=True, run_folders=("cohort",)).check()  # replaced without --overwrite
    with pytest.raises(InputError, match="previous organoidrx run"):
        RunFolder(demo_run).check()
    added = tmp_path / "added"
    shutil.copytree(demo_run, added)
    (added / "my_notes.txt").write_text("mine")  # a file the run did not write is never deleted unasked
    with pytest.raises(InputError, match=r"files it did not write \('my_notes.txt'\).*--overwrite"):
        RunFolder(added, replace_runs=True, run_folders=("cohort",)).check()
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text('{"not": "organoidrx"}')
    with pytest.raises(InputError, match="holds no organoidrx run"):
        RunFolder(other, replace_runs=True).check()


def test_a_failing_run_leaves_the_folder_as_it_was(configs, previous, monkeypatch):
    import organoidrx.report

    def boom(*args, **kwargs):
        raise RuntimeError("report failed")

    before = _snapshot(previous)
    monkeypatch.setattr(organoidrx.report, "write_run_report", boom)
    with pytest.raises(RuntimeError, match="report failed"):
        run_pipeline(configs[1], previous, overwrite=True)
    assert _snapshot(previous) == before
    assert _staging_siblings(previous) == []


def test_an_input_edited_during_the_run_is_refused_and_nothing_is_written(configs, tmp_path, monkeypatch):
    import organoidrx.pipeline._run as run_module

    cohort = tmp_path / "cohort"
    shutil.copytree(configs[1].parent, cohort)
    response = cohort / "organoid_response.tsv"
    original = run_module.fit_models

    def fit_then_edit(*args, **kwargs):  # the inputs have been read; now someone edits one
        models = original(*args, **kwargs)
        response.write_text(response.read_text().replace("\t", "\t-", 1))
        return models

    monkeypatch.setattr(run_module, "fit_models", fit_then_edit)
    with pytest.raises(InputError, match=r"organoid_response.tsv: the organoid_response file changed while"):
        run_pipeline(cohort / "pre.toml", tmp_path / "out")
    assert not (tmp_path / "out").exists() and _staging_siblings(tmp_path / "out") == []


def test_run_json_records_the_checksums_of_the_bytes_read(configs, preclinical_reference):
    from organoidrx._utils import sha256_file

    inputs = _record(preclinical_reference)["inputs"]
    assert inputs["organoid_response"]["sha256"] == sha256_file(configs[1].parent / "organoid_response.tsv")
    assert inputs["config"]["sha256"] == sha256_file(configs[1])


def test_train_refuses_a_signing_key_inside_its_out_folder(configs, tmp_path, capsys):
    out = tmp_path / "bundles"
    out.mkdir()
    key = out / "secret.key"
    key.write_text("ab" * 32 + "\n")
    args = ["train", str(configs[1]), "--out", str(out), "--overwrite", "--sign-key", str(key)]
    err = _refused(args, capsys)
    assert "secret.key" in err and "choose another --out" in err
    assert key.is_file()


# --------------------------------------------------------------------------------------------- killed runs
def _kill_when(process: subprocess.Popen, out: Path, when: float | str) -> bool:
    """SIGKILL ``process`` after ``when`` seconds or, for ``"report"``, once the staging folder has a figure.

    Returns whether the kill point was reached while the process was still running.
    """
    deadline = time.monotonic() + (120.0 if when == "report" else float(when))
    reached = False
    while process.poll() is None and time.monotonic() < deadline:
        if when == "report" and any(
            p.is_dir() and any(p.glob("*.png")) for p in out.parent.glob(f".{out.name}.*.tmp")
        ):
            reached = True
            break
        time.sleep(0.005 if when == "report" else 0.05)
    reached = reached or (when != "report" and process.poll() is None)
    process.kill()
    process.wait()
    return reached


def test_sigkill_leaves_the_previous_folder_or_nothing(configs, demo_run, preclinical_reference, tmp_path):
    out = tmp_path / "out"
    # how long a whole run takes here, so that the timed kills land inside it whatever the machine's speed
    tic = time.monotonic()

    def command(folder: Path, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "organoidrx",
            "--quiet",
            "run",
            str(configs[1]),
            "--out",
            str(folder),
            *extra,
        ]

    subprocess.run(command(tmp_path / "t"), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    late = 0.8 * (time.monotonic() - tic)
    # first into a missing folder, then over a previous demo run: killed after 1 s, late in the run and in the
    # report phase
    for with_previous, when in (
        (False, "report"),
        (True, min(1.0, late / 2)),
        (True, late),
        (True, "report"),
    ):
        # a timed kill that comes after the run ended (the machine got faster than the timing run) is tried again
        # earlier: the kill must land inside a run, wherever in it
        for _attempt in range(4):
            shown = when if isinstance(when, str) else f"{when:.2f} s"
            point = f"killed at {shown} {'over a previous run' if with_previous else 'into a new folder'}"
            if with_previous:
                shutil.rmtree(out, ignore_errors=True)
                shutil.copytree(demo_run, out)
            before = _snapshot(out) if out.exists() else None
            process = subprocess.Popen(
                command(out, *OVERWRITE), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            reached = _kill_when(process, out, when)
            if reached or isinstance(when, str):
                break
            when = when / 2
        assert reached, f"{point}: the run ended before the kill point"
        if out.exists():
            complete = _is_complete(out, preclinical_reference)
            assert _snapshot(out) == before or complete, f"{point}: --out mixes two runs or has partial files"
        else:
            assert before is None, f"{point}: the previous run folder is gone"
        # what a killed run leaves is a hidden sibling, never a file inside --out
        leftovers = _staging_siblings(out)
        assert all(p.name.endswith((".tmp", ".old")) for p in leftovers), leftovers
        if when == "report":
            assert leftovers, f"{point}: a run killed in its report phase leaves its staging folder"
    leftovers = _staging_siblings(out)
    for path in leftovers:  # pretend they are old: the next run into the same parent removes them
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    assert cli.main(["--quiet", "run", str(configs[1]), "--out", str(out), "--overwrite"]) == 0
    assert _is_complete(out, preclinical_reference)
    assert _staging_siblings(out) == []


def test_stale_staging_folders_are_removed_only_when_old_and_unlocked(tmp_path):
    out = tmp_path / "out"
    old = time.time() - 7200
    names = {
        "stale": ".out.organoidrx-abcd1234.tmp",
        "stale_old": ".out.organoidrx-efgh_567.old",
        "young": ".out.organoidrx-young123.tmp",
        "locked": ".out.organoidrx-locked12.tmp",
        "other_run": ".other.organoidrx-abcd1234.tmp",
        "not_ours": ".out.tmp",
        "users_backup": ".out.20240101.old",  # a user's own folder, named like a temporary one
    }
    for key, name in names.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "proximity.tsv").write_text("x\n")
        if key != "young":
            os.utime(tmp_path / name, (old, old))
    fd = os.open(tmp_path / names["locked"], os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a live run holds this one
        removed = remove_stale_staging(out)
    finally:
        os.close(fd)
    assert sorted(p.name for p in removed) == sorted([names["stale"], names["stale_old"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[k] for k in ("young", "locked", "other_run", "not_ours", "users_backup")
    )
