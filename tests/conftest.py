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
    """Each test sees its own first occurrence of a log-once line, and the package logger as an import leaves it.

    ``organoidrx.cli.main`` points the package logger at the ``sys.stderr`` of its test (a capture stream that is
    closed afterwards), sets its level (WARNING with ``--quiet``) and stops its propagation. A module-scoped
    fixture that runs the CLI does so before this fixture starts, so the logger is reset before each test, not
    restored to what it found: a later test's INFO records reach ``caplog`` whatever ran before it.
    """
    import logging

    from organoidrx import _utils

    def reset() -> None:
        package = logging.getLogger("organoidrx")
        package.handlers.clear()
        package.setLevel(logging.NOTSET)
        package.propagate = True

    _utils._LOGGED.clear()
    reset()
    yield
    reset()
