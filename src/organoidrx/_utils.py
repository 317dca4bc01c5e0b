"""Small helpers shared by every subpackage: input errors, atomic file output, seeding."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "STALE_STAGING_SECONDS",
    "TEMPORARY_TAG",
    "InputError",
    "atomic_write",
    "check_random_state",
    "compiled",
    "examples",
    "remove_stale_staging",
    "sha256_file",
    "staged_folder",
    "versions",
    "write_tsv",
]

#: packages whose versions every run records (run.json and the report)
VERSIONED = ("numpy", "scipy", "pandas", "scikit-learn", "lifelines", "matplotlib", "numba", "organoidrx")


class InputError(ValueError):
    """A user-supplied file or value is unusable; the message says what, where, and how to fix it.

    Public as ``organoidrx.InputError``; it is a :class:`ValueError`, so ``except ValueError`` catches it too.
    The command-line interface prints the message as one line on stderr and exits with status 2; any other
    exception is reported as an internal error with exit status 1.
    """


_LOGGED: set[tuple[str, int, str]] = set()


def log_once(log: logging.Logger, level: int, message: str, *args: Any) -> None:
    """Log a message only the first time this process logs the same text at this level on this logger.

    For lines that a loop would repeat verbatim (every cross-validation fold, every permutation refits the same
    selector on the same table): the user sees each fact once.
    """
    text = message % args if args else message
    key = (log.name, level, text)
    if key in _LOGGED:
        return
    if len(_LOGGED) > 10_000:
        _LOGGED.clear()
    _LOGGED.add(key)
    log.log(level, "%s", text)


def read_npy_header(stream: IO[bytes]) -> tuple[tuple[int, ...], bool, Any]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` data starting at ``stream``'s position, nothing allocated.

    The stream is left at the first byte of the array data. Raises ``ValueError`` for a header NumPy cannot
    read and for format versions other than 1.0 and 2.0 (the versions :func:`numpy.save` writes).
    """
    import numpy as np

    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return tuple(np.lib.format.read_array_header_1_0(stream))  # type: ignore[return-value]
    if version == (2, 0):
        return tuple(np.lib.format.read_array_header_2_0(stream))  # type: ignore[return-value]
    raise ValueError(f".npy format version {version[0]}.{version[1]} is not read here")


def examples(values: Iterable[Any], n: int = 3) -> str:
    """Format the first ``n`` values for an error or log message: ``'A', 'B', 'C' (+12 more)``."""
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:n])
    if len(values) > n:
        shown += f" (+{len(values) - n} more)"
    return shown


def check_output_file(path: str | os.PathLike[str], *, flag: str = "output path") -> Path:
    """Refuse, before any work, an output file path that is a folder or lies under something that is not one.

    Missing parent folders are fine (they are created when the file is written).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; {flag} takes a file name, e.g. {path / 'scores.tsv'}.")
    check_writable_parent(path, flag=flag)
    return path


def check_writable_parent(path: str | os.PathLike[str], *, flag: str = "output path") -> None:
    """Refuse, before any work, a path whose nearest existing ancestor is a file or a folder that cannot be
    written (no permission, a read-only file system)."""
    path = Path(os.path.abspath(path))
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{path}: {parent} is a file, not a folder; choose another {flag}.")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(
                    f"{path}: the folder {parent} is not writable (permissions or a read-only file system); "
                    f"choose another {flag}."
                )
            break


#: in the names of temporary files and folders, so that cleaning up after a killed process never matches a user's
#: own files (a backup ``.out.20240101.old`` beside ``out``)
TEMPORARY_TAG = "organoidrx-"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it into place only if the block succeeds.

    Readers never see a half-written file: on any exception the temporary file is removed and ``path`` is left
    untouched. A path that cannot be a file (:func:`check_output_file`) is an :class:`InputError`.
    """
    path = check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # what a killed write of the same file left behind (an hour old: younger ones may be live writes)
        remove_stale_temporaries(
            path.parent, re.compile(rf"\.{re.escape(path.name)}\.{TEMPORARY_TAG}[^/]+\.tmp")
        )
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TEMPORARY_TAG}", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # the temporary's name would say nothing: name the output and why
        raise InputError(
            f"{path}: cannot be written there ({exc.strerror or exc}); choose a folder you can write to."
        ) from None
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


#: age after which a temporary file of an interrupted write is taken as abandoned
STALE_TEMPORARY_SECONDS = 3600.0


def remove_stale_temporaries(folder: str | os.PathLike[str], pattern: re.Pattern[str]) -> int:
    """Remove the files of ``folder`` whose names match ``pattern`` and that are older than an hour; return how
    many. Used for the temporaries of interrupted atomic writes (younger ones may belong to a live write)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no folder yet, or not listable: nothing to clean
        return 0
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    removed = 0
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):  # gone already (another process cleaned it) or not ours to remove
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
    if removed:
        logger.debug("removed %d temporary files of interrupted writes from %s", removed, folder)
    return removed


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


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**options)`` with numba's on-disk cache where a cache folder is writable (next to the module,
    else the user's cache); without one (a read-only installation and home), compiled in memory in each process.

    Imported only by the modules holding compiled loops, which are themselves imported on first use, so numba is
    never loaded by work that does not need it.
    """
    import numba

    def decorate(func: Callable[..., Any]) -> Any:
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            return numba.njit(**options)(func)

    return decorate


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


#: Age in seconds after which a staging folder left by a killed process may be removed by the next run.
STALE_STAGING_SECONDS = 3600.0


def _staging_name(target: Path) -> re.Pattern[str]:
    """Names of the staging (``.tmp``) and set-aside (``.old``) siblings of ``target``, as ``mkdtemp`` makes them."""
    return re.compile(rf"\.{re.escape(target.name)}\.{TEMPORARY_TAG}[a-z0-9_]{{8}}\.(?:tmp|old)")


#: descriptors of the staging locks this process holds; a forked child closes its copies (see below)
_HELD_LOCKS: set[int] = set()


def _close_inherited_locks() -> None:
    """In a forked child (e.g. a worker drawing figures): close the copies of the parent's lock descriptors.

    A ``flock`` lives as long as any descriptor of it is open, so a child keeping a copy would hold the lock of a
    killed parent's staging folder, and the next run could not clean it up.
    """
    for fd in list(_HELD_LOCKS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _try_lock(path: str | os.PathLike[str]) -> int | None:
    """Take an exclusive non-blocking ``flock`` on a folder; its descriptor, or ``None`` when another holds it.

    Without ``fcntl`` (Windows) nothing is locked and a descriptor-less ``-1`` is returned.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return -1
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    _HELD_LOCKS.add(fd)
    return fd


def _release(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        _HELD_LOCKS.discard(fd)
        os.close(fd)


@contextlib.contextmanager
def locked_folder(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of a scratch folder while it is in use, so that :func:`remove_stale_staging` leaves it."""
    fd = _try_lock(path)
    try:
        yield
    finally:
        _release(fd)


def remove_stale_staging(
    target: str | os.PathLike[str], *, max_age: float = STALE_STAGING_SECONDS
) -> list[Path]:
    """Remove the staging siblings of ``target`` that killed processes left behind; return the removed paths.

    A sibling is removed only when its name is one :func:`staged_folder` makes
    (``.NAME.organoidrx-XXXXXXXX.tmp`` or ``.old``), it is a real folder, it was last modified more than
    ``max_age`` seconds ago and no live process holds its lock (the lock of a killed process is released by the
    kernel).
    """
    target = Path(os.path.abspath(target))
    pattern = _staging_name(target)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    now = time.time()
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < max_age:
                continue
            fd = _try_lock(entry.path)
        except OSError:
            continue
        if fd is None:
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
        finally:
            _release(fd)
        removed.append(Path(entry.path))
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` when unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_folder(path: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _swap_in(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` at ``target``, replacing whatever folder was there whole."""
    if not os.path.lexists(target):
        os.rename(staging, target)
    elif _exchange(staging, target):
        _remove_previous(staging, target)  # it now holds the previous folder
    else:
        # two renames: for a moment nothing is at target, but never a mix of the two folders
        aside = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.{TEMPORARY_TAG}", suffix=".old", dir=target.parent)
        )
        aside.rmdir()
        os.rename(target, aside)
        try:
            os.rename(staging, target)
        except BaseException:
            os.rename(aside, target)
            raise
        _remove_previous(aside, target)
    _fsync_folder(target.parent)


def _remove_previous(previous: Path, target: Path) -> None:
    """Delete the replaced folder; what cannot be deleted (e.g. read-only files) is said, not left silently."""
    shutil.rmtree(previous, ignore_errors=True)
    if os.path.lexists(previous):
        logger.warning(
            "%s: the new outputs are in place, but the previous folder's files could not all be deleted; they "
            "are in %s: delete it by hand (check its permissions)",
            target,
            previous,
        )


@contextlib.contextmanager
def staged_folder(
    target: str | os.PathLike[str], *, before_swap: Callable[[], None] | None = None
) -> Iterator[Path]:
    """Yield a new empty sibling folder of ``target``; when the block succeeds it replaces ``target`` whole.

    The sibling is ``.NAME.organoidrx-XXXXXXXX.tmp`` in the parent of ``target`` and is locked while the block
    runs. On success ``before_swap`` is called (it may raise to refuse), then the sibling takes the place of
    ``target``: atomically on Linux (``renameat2`` exchange), elsewhere by two renames, so ``target`` holds either the whole
    previous folder or the whole new one (or, between the two renames, nothing), never a mix. The previous folder
    is deleted. On any exception, including ``KeyboardInterrupt``, the sibling is removed and ``target`` is left
    untouched. Siblings of killed runs older than :data:`STALE_STAGING_SECONDS` are removed first
    (:func:`remove_stale_staging`).
    """
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.{TEMPORARY_TAG}", suffix=".tmp", dir=target.parent)
    )
    lock: int | None = None
    swapped = False
    try:
        lock = _try_lock(staging)
        yield staging
        if before_swap is not None:
            before_swap()
        try:  # the folder keeps its permissions (a private --out stays private); a new one gets the umask's
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o777 & ~_current_umask()
        os.chmod(staging, mode)
        _swap_in(staging, target)
        swapped = True
    finally:
        _release(lock)
        if not swapped:
            shutil.rmtree(staging, ignore_errors=True)
