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
