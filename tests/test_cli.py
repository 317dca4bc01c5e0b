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


def test_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "organoidrx", "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert __version__ in done.stdout
