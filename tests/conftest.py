"""Shared fixtures. Real-data tests read ../shared/data in place and skip with a reason when it is absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
# The suite never touches the user's cache (~/.cache/organoidrx): distance matrices go to one folder in the
# system's temporary directory, shared by the xdist workers and kept warm between runs. Subprocesses inherit it.
os.environ.setdefault("ORGANOIDRX_CACHE_DIR", str(Path(tempfile.gettempdir()) / "organoidrx-test-cache"))
SHARED_DATA = Path(os.environ.get("ORGANOIDRX_SHARED_DATA", _REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the public data folder (``../shared/data`` from the repository root)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set ORGANOIDRX_SHARED_DATA to its location)")
    return SHARED_DATA


def shared_file(root: Path, relative: str) -> Path:
    """A file under the shared data root, or skip the test naming the missing file."""
    path = root / relative
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path


@pytest.fixture(autouse=True)
def _fresh_log_once():
    """Each test sees its own first occurrence of a log-once line, and the package logger as the test started.

    ``organoidrx.cli.main`` points the package logger at the ``sys.stderr`` of its test (a capture stream that is
    closed afterwards) and stops its propagation; restoring it keeps a later test's records reaching ``caplog``
    instead of a closed stream.
    """
    import logging

    from organoidrx import _utils

    _utils._LOGGED.clear()
    package = logging.getLogger("organoidrx")
    handlers, level, propagate = package.handlers[:], package.level, package.propagate
    yield
    package.handlers[:] = handlers
    package.setLevel(level)
    package.propagate = propagate
