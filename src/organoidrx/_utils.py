"""Small helpers shared by every subpackage: input errors, atomic file output, seeding."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "InputError",
    "atomic_write",
    "check_random_state",
    "examples",
    "sha256_file",
    "versions",
    "write_tsv",
]

#: packages whose versions every run records (run.json and the report)
VERSIONED = ("numpy", "scipy", "pandas", "scikit-learn", "lifelines", "matplotlib", "organoidrx")


class InputError(ValueError):
    """A user-supplied file or value is unusable; the message says what, where, and how to fix it.

    Public as ``organoidrx.InputError``; it is a :class:`ValueError`, so ``except ValueError`` catches it too.
    The command-line interface prints the message as one line on stderr and exits with status 2; any other
    exception is reported as an internal error with exit status 1.
    """


def examples(values: Iterable[Any], n: int = 3) -> str:
    """Format the first ``n`` values for an error or log message: ``'A', 'B', 'C' (+12 more)``."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:n])
    if len(values) > n:
        shown += f" (+{len(values) - n} more)"
    return shown


def check_output_file(path: str | os.PathLike[str], *, flag: str = "the output path") -> Path:
    """Refuse, before any work, an output file path that is a folder or lies under something that is not one.

    Missing parent folders are fine (they are created when the file is written).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; {flag} takes a file name, e.g. {path / 'scores.tsv'}.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{path}: {parent} is a file, not a folder; choose another {flag}.")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(f"{path}: the folder {parent} is not writable; choose another {flag}.")
            break
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it into place only if the block succeeds.

    Readers never see a half-written file: on any exception the temporary file is removed and ``path`` is left
    untouched. A path that cannot be a file (:func:`check_output_file`) is an :class:`InputError`.
    """
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_random_state(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a NumPy ``Generator`` from an int seed, an existing generator, or ``None`` (seed 0)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InputError(f"random_state must be an integer seed or a numpy Generator; got {seed!r}.")
    return np.random.default_rng(int(seed))


def versions() -> dict[str, str]:
    """Python's and every result-relevant package's version (``"not installed"`` when absent)."""
    import platform
    from importlib import metadata

    from organoidrx import __version__

    found = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = __version__ if package == "organoidrx" else "not installed"
    return found


def write_tsv(frame: Any, path: str | os.PathLike[str], *, float_format: str | None = "%.12g") -> None:
    """Write an output table: tab-separated, no index, ``\\n`` line ends, atomically.

    Numbers get 12 significant digits; ``float_format=None`` writes the shortest exact round-trip form.
    """
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, sep="\t", index=False, lineterminator="\n", float_format=float_format)
