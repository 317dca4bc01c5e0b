from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from organoidrx._utils import InputError, atomic_write, check_random_state, examples


def test_atomic_write_leaves_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.tsv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_atomic_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.tsv"
    with atomic_write(target) as handle:
        handle.write("new\n")
    assert target.read_text() == "new\n"


def test_examples_truncates() -> None:
    assert examples(["a", "b", "c", "d", "e"], n=2) == "'a', 'b' (+3 more)"


def test_check_random_state() -> None:
    assert check_random_state(3).integers(1000) == np.random.default_rng(3).integers(1000)
    with pytest.raises(InputError, match="random_state"):
        check_random_state("x")  # type: ignore[arg-type]


def test_atomic_write_uses_normal_permissions(tmp_path: Path) -> None:
    import os

    target = tmp_path / "perm.tsv"
    with atomic_write(target) as handle:
        handle.write("x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_replaced_folder_keeps_its_permissions_a_new_one_gets_the_umasks(tmp_path: Path) -> None:
    import os

    from organoidrx._utils import staged_folder

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "old.txt").write_text("x")
    with staged_folder(private) as staging:
        (staging / "new.txt").write_text("y")
    assert private.stat().st_mode & 0o777 == 0o700 and [p.name for p in private.iterdir()] == ["new.txt"]
    with staged_folder(tmp_path / "fresh"):
        pass
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o777 & ~mask


def test_a_previous_folder_that_cannot_be_deleted_is_said(tmp_path: Path, monkeypatch, caplog) -> None:
    """Read-only files of the replaced run (rmtree fails quietly): the new folder is in place and a warning
    names where the old files are."""
    import shutil

    from organoidrx import _utils

    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("x")
    monkeypatch.setattr(shutil, "rmtree", lambda path, ignore_errors=False: None)
    with caplog.at_level("WARNING", logger="organoidrx"), _utils.staged_folder(target) as staging:
        (staging / "new.txt").write_text("y")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert "could not all be deleted" in caplog.text and _utils.TEMPORARY_TAG in caplog.text


def test_a_forked_child_does_not_keep_a_staging_lock(tmp_path):
    """Workers forked during a run (figure drawing) must not hold the run's staging lock past its death."""
    import os

    from organoidrx import _utils

    fd = _utils._try_lock(tmp_path)
    assert fd is not None and fd >= 0
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.fstat(fd)
                os.write(write, b"open")
            except OSError:
                os.write(write, b"closed")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 16) == b"closed"
        os.close(read)
        os.close(write)
    finally:
        _utils._release(fd)
    assert fd not in _utils._HELD_LOCKS


def test_compiled_loops_work_without_a_writable_numba_cache():
    """Where numba finds no cache folder (a read-only installation and home), the compiled loops are compiled in
    memory instead of failing, and give the same numbers."""
    import subprocess
    import sys

    script = """
import numpy as np
import numba.core.caching as caching
caching.CacheImpl._locator_classes = []  # no cache folder anywhere
from organoidrx.scoring._gsva import kcdf_statistic
from organoidrx.network._measures import within_set_nearest
values = np.random.default_rng(0).normal(size=(7, 30))
dist = np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]], dtype=np.uint8)
nearest = within_set_nearest(dist, np.array([0, 2, 1, 2]), np.ones(4, dtype=np.int64), np.array([0, 2]))
print(repr(kcdf_statistic(values, "gaussian").tobytes().hex()[:64]), nearest.tolist())
"""
    plain = script.replace("caching.CacheImpl._locator_classes = []", "")
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for code in (script, plain)
    ]
    assert runs[0] == runs[1] and "[4, 2]" in runs[0]


@pytest.mark.skipif(
    not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be created"
)
def test_an_output_that_cannot_be_created_names_itself_not_the_temporary():
    with pytest.raises(InputError, match=r"^/proc/out\.tsv: cannot be written there \(.*\); choose a folder"):
        with atomic_write("/proc/out.tsv") as handle:
            handle.write("x")
