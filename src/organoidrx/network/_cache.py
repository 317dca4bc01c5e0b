"""The distance cache as a whole: list its entries, clear it, and keep it under a size cap.

An entry is one network's all-pairs distance matrix, ``distances-<hash>-n<N>.npy``, with its checksum sidecar
``distances-<hash>-n<N>.json`` (see :func:`organoidrx.network.shortest_path_lengths`). A read touches the matrix's
modification time, so the oldest time is the least recently used entry, the first to go when the folder exceeds
its cap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path

import pandas as pd

from organoidrx._memory import parse_size
from organoidrx._utils import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_MAX_BYTES",
    "cache_entries",
    "cache_max_bytes",
    "clear_cache",
    "default_cache_dir",
    "prune_cache",
]

#: size cap of the distance cache when ``$ORGANOIDRX_CACHE_MAX_SIZE`` is not set: a dozen STRING-size matrices
DEFAULT_CACHE_MAX_BYTES = 4 * 2**30

_ENTRY = re.compile(r"distances-(?P<hash>[0-9a-f]{32})-n(?P<nodes>\d+)\.npy")
#: atomic_write's temporary names of cache files: ".<target name>.<random>.tmp"
TEMPORARY_NAME = re.compile(r"\.distances-[0-9a-f]{32}-n\d+\.(?:npy|json)\..+\.tmp")


def default_cache_dir() -> Path:
    """``$ORGANOIDRX_CACHE_DIR``, else ``$XDG_CACHE_HOME/organoidrx``, else ``~/.cache/organoidrx``."""
    explicit = os.environ.get("ORGANOIDRX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "organoidrx"


def cache_max_bytes() -> int:
    """The cap: ``$ORGANOIDRX_CACHE_MAX_SIZE`` (``4G``, ``500M``, ``0`` = keep only the newest entry), else 4 GiB."""
    text = os.environ.get("ORGANOIDRX_CACHE_MAX_SIZE")
    if not text:
        return DEFAULT_CACHE_MAX_BYTES
    return parse_size(text, name="ORGANOIDRX_CACHE_MAX_SIZE")


def _folder(cache_dir: str | os.PathLike[str] | None) -> Path:
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"distance cache {folder} is not a folder; pass --cache-dir with a folder.")
    return folder


def cache_entries(cache_dir: str | os.PathLike[str] | None = None, *, verify: bool = False) -> pd.DataFrame:
    """One row per cached distance matrix, least recently used first.

    Parameters
    ----------
    cache_dir : path, optional
        Default :func:`organoidrx.network.default_cache_dir`.
    verify : bool, default False
        Also read every matrix and check it as its next use would (header, size, SHA-256 against the sidecar,
        zero diagonal, symmetry); without it ``ok`` means only that the sidecar is readable and the file is not
        short.

    Returns
    -------
    DataFrame
        Columns ``file`` (the matrix's name), ``nodes``, ``bytes`` (matrix and sidecar), ``last_used`` (UTC,
        ISO 8601), ``network_sha256`` (from the sidecar; empty when it is missing or unreadable) and
        ``status`` (``ok`` or why the entry would be recomputed on its next use).
    """
    folder = _folder(cache_dir)
    rows = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            match = _ENTRY.fullmatch(entry.name)
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            nodes = int(match.group("nodes"))
            sidecar = Path(entry.path).with_suffix(".json")
            size, network, status = stat.st_size, "", "ok"
            try:
                size += sidecar.stat().st_size
                if not sidecar.is_file():
                    raise OSError(f"{sidecar.name} is not a regular file")  # a named pipe would block
                record = json.loads(sidecar.read_text(encoding="utf-8"))
                network = str(record.get("network_sha256", "")) if isinstance(record, dict) else ""
            except FileNotFoundError:
                status = "checksum file missing"
            except (OSError, ValueError):
                status = "checksum file unreadable"
            if status == "ok" and stat.st_size < nodes * nodes:
                status = "truncated"
            if status == "ok" and verify:
                status = _verified(Path(entry.path), nodes, network, match.group("hash"))
            rows.append(
                {
                    "file": entry.name,
                    "nodes": nodes,
                    "bytes": size,
                    "last_used": pd.Timestamp(stat.st_mtime, unit="s", tz="UTC").isoformat(
                        timespec="seconds"
                    ),
                    "network_sha256": network,
                    "status": status,
                    "_mtime": stat.st_mtime,
                }
            )
    columns = ["file", "nodes", "bytes", "last_used", "network_sha256", "status"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows).sort_values(["_mtime", "file"], kind="stable").reset_index(drop=True)
    return table[columns]


def _verified(path: Path, nodes: int, network: str, named: str) -> str:
    """``ok``, or why the matrix's next use would recompute it (the same checks as that use).

    ``named`` is the network hash in the file name: the network whose next run reads this file.
    """
    from organoidrx.network._distances import _read_cache, _UnusableCache

    if not network.startswith(named):
        return f"made from another network (network hash {network[:16]}..., file named for {named[:16]}...)"
    try:
        _read_cache(path, nodes, network)
    except _UnusableCache as exc:
        return str(exc)
    except FileNotFoundError:
        return "removed while being verified"
    return "ok"


def _remove_entry(folder: Path, name: str) -> int:
    freed = 0
    for path in (folder / name, (folder / name).with_suffix(".json")):
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            freed += size
    return freed


def clear_cache(cache_dir: str | os.PathLike[str] | None = None) -> tuple[int, int]:
    """Remove every cached matrix, its sidecar and leftover temporary files; return ``(entries, bytes)`` removed.

    Only files named as the cache names them are touched; anything else in the folder is left alone.
    """
    folder = _folder(cache_dir)
    entries = cache_entries(folder)
    freed = sum(_remove_entry(folder, name) for name in entries["file"])
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            orphan = entry.name.endswith(".json") and _ENTRY.fullmatch(entry.name[:-5] + ".npy")
            if (orphan or TEMPORARY_NAME.fullmatch(entry.name)) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    freed += entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
    return len(entries), freed


def prune_cache(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    max_bytes: int | None = None,
    keep: str | None = None,
) -> list[str]:
    """Remove least recently used entries until the cache holds at most ``max_bytes``; return the removed names.

    Parameters
    ----------
    cache_dir : path, optional
        Default :func:`organoidrx.network.default_cache_dir`.
    max_bytes : int, optional
        Default :func:`cache_max_bytes` (``$ORGANOIDRX_CACHE_MAX_SIZE`` or 4 GiB).
    keep : str, optional
        File name of an entry never removed (the one just written or read), even if it alone exceeds the cap.
    """
    limit = cache_max_bytes() if max_bytes is None else int(max_bytes)
    folder = _folder(cache_dir)
    entries = cache_entries(folder)
    total = int(entries["bytes"].sum()) if len(entries) else 0
    removed = []
    for name, size in zip(entries["file"], entries["bytes"], strict=True):
        if total <= limit:
            break
        if name == keep:
            continue
        _remove_entry(folder, name)
        total -= int(size)
        removed.append(name)
    if removed:
        logger.info(
            "distance cache %s over its %.1f GiB cap: removed %d least recently used matrices (%s)",
            folder,
            limit / 2**30,
            len(removed),
            ", ".join(removed[:3]) + (", ..." if len(removed) > 3 else ""),
        )
    return removed


def touch(path: Path) -> None:
    """Mark an entry as just used (its modification time is the cache's clock)."""
    with contextlib.suppress(OSError):
        now = time.time()
        os.utime(path, (now, now))
