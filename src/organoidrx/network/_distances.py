"""All-pairs shortest-path lengths of an unweighted graph: bit-parallel breadth-first search and an on-disk cache."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from organoidrx._memory import available_memory
from organoidrx._utils import InputError, atomic_write, read_npy_header, remove_stale_temporaries
from organoidrx.network._cache import TEMPORARY_NAME, cache_max_bytes, default_cache_dir, prune_cache, touch
from organoidrx.network._graph import Interactome

logger = logging.getLogger(__name__)

__all__ = ["available_memory", "check_memory", "shortest_path_lengths"]

_UNREACHABLE = 255
_CHUNK_WORDS = 8  # 512 sources per sweep: the gathered frontier (n_edges x 64 bytes) stays cache friendly
_OVERHEAD_BYTES = 256 * 2**20
#: the distance matrix alone may take at most this share of the memory budget (the rest: BFS, nulls, the system)
_MATRIX_MEMORY_SHARE = 0.8
_CACHE_VERSION = 1
_READ_BLOCK = 16 * 2**20
#: temporary files of an interrupted cache write older than this are removed; a live write takes seconds


def _size(n_bytes: int) -> str:
    """Bytes as GiB, or MiB below 1 GiB (a small budget does not print as 0.00 GiB)."""
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def check_memory(n_nodes: int, *, extra_bytes: int = 0, max_memory: int | None = None) -> int:
    """Estimate the bytes the engine needs for ``n_nodes`` and raise :class:`InputError` if they do not fit.

    The estimate is ``n_nodes**2`` bytes for the uint8 distance matrix plus ``extra_bytes`` and a fixed 256 MiB of
    working space. ``max_memory`` defaults to the memory currently available. Two rules refuse a network: the
    estimate exceeds the budget, or the matrix alone exceeds 80% of it (the breadth-first search, the nulls and
    the rest of the system need the remainder; a 21 GiB matrix with 23 GiB available ends in a ``MemoryError``).

    Returns
    -------
    int
        The estimated bytes.

    Raises
    ------
    InputError
        When either rule is broken; the message gives the sizes and what to change.
    """
    matrix = n_nodes * n_nodes
    need = matrix + int(extra_bytes) + _OVERHEAD_BYTES
    limit = available_memory() if max_memory is None else int(max_memory)
    budget = "is available" if max_memory is None else "is allowed (--memory, [settings] memory)"
    fix = ("raise the budget, " if max_memory is not None else "") + (
        "use a higher min_score or a smaller network, or run on a machine with more memory."
    )
    if need > limit:
        raise InputError(
            f"the network's largest connected component has {n_nodes:,} nodes; its distance matrix and working "
            f"space need {_size(need)} (n_nodes^2 bytes + {_size(_OVERHEAD_BYTES)} overhead) but only {_size(limit)} "
            f"{budget}; {fix}"
        )
    if matrix > _MATRIX_MEMORY_SHARE * limit:
        raise InputError(
            f"the network's largest connected component has {n_nodes:,} nodes; its distance matrix alone needs "
            f"{_size(matrix)} (n_nodes^2 bytes), more than {_MATRIX_MEMORY_SHARE:.0%} of the "
            f"{_size(limit)} that {budget}, which leaves too little for the search itself; {fix}"
        )
    return need


def _bfs_all_pairs(
    indptr: np.ndarray,
    indices: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Hop distances between all node pairs of a connected graph (uint8; 255 = unreachable or >= 255).

    Breadth-first search from 512 sources at once: each node holds one bit per source in 8 uint64 words, a level
    is one OR over neighbours (a gather plus ``bitwise_or.reduceat`` on the CSR arrays), and the distance is
    accumulated as a bit-sliced counter of the levels at which a node was still unvisited.
    """
    n = len(indptr) - 1
    dist = np.empty((n, n), dtype=np.uint8)
    n_words = (n + 63) // 64
    starts = indptr[:-1]
    has_neighbours = np.diff(indptr) > 0
    done = 0
    for w0 in range(0, n_words, _CHUNK_WORDS):
        w1 = min(n_words, w0 + _CHUNK_WORDS)
        s0, s1 = w0 * 64, min(n, w1 * 64)
        sources = np.arange(s0, s1)
        bits = np.zeros((n, (w1 - w0) * 64), dtype=bool)
        bits[sources, sources - s0] = True
        visited = np.packbits(bits, axis=1, bitorder="little").view(np.uint64)
        del bits
        frontier = visited
        planes: list[np.ndarray] = []
        level = 0
        while True:
            # add "not yet visited after this level" to the counter: distance = number of such levels
            carry = ~visited
            for i, plane in enumerate(planes):
                planes[i] = plane ^ carry
                carry = plane & carry
            if carry.any():
                planes.append(carry)
            level += 1
            if level >= _UNREACHABLE:
                raise InputError(
                    "the network has shortest paths of 255 or more edges, beyond what the distance matrix stores; "
                    "it is not a protein interaction network (check the edge columns)."
                )
            gathered = frontier[indices]
            reached = np.zeros_like(visited)
            reached[has_neighbours] = np.bitwise_or.reduceat(gathered, starts[has_neighbours], axis=0)
            new = reached & ~visited
            if not new.any():
                break
            visited = visited | new
            frontier = new
        block = np.zeros((n, (w1 - w0) * 64), dtype=np.uint8)
        for i, plane in enumerate(planes):
            unpacked = np.unpackbits(plane.view(np.uint8), axis=1, bitorder="little")
            block += unpacked << np.uint8(i)
        if not bool(np.all(visited == ~np.uint64(0))):
            # sources not reaching some node: mark as unreachable (not expected on a connected component)
            unreached = np.unpackbits((~visited).view(np.uint8), axis=1, bitorder="little").astype(bool)
            block[unreached] = _UNREACHABLE
        dist[s0:s1, :] = block[:, : s1 - s0].T
        done = s1
        if progress is not None:
            progress(done, n)
    return dist


def shortest_path_lengths(
    interactome: Interactome,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    max_memory: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Shortest-path lengths (number of edges) between all pairs of nodes, computed once per network.

    Parameters
    ----------
    interactome : Interactome
        Connected, unweighted graph from :func:`build_interactome`.
    cache_dir : path, optional
        Folder of the on-disk cache; default :func:`default_cache_dir`. The file name holds the network's
        content hash (:meth:`Interactome.content_hash`), so any change of edges or names misses the cache; a
        sidecar ``.json`` holds the SHA-256 of the matrix, checked on every read, and a damaged or mismatched
        cache is recomputed with a warning. Temporary files of interrupted writes older than an hour are removed.
    use_cache : bool, default True
        Read and write the cache. ``False`` always recomputes and writes nothing.
    max_memory : int, optional
        Byte budget; default the memory currently available. See :func:`check_memory`.
    progress : callable, optional
        Called as ``progress(done, total)`` with rows computed so far.

    Returns
    -------
    ndarray of uint8, shape (n_nodes, n_nodes)
        Symmetric hop-distance matrix in the order of ``interactome.nodes``; 0 on the diagonal.

    Raises
    ------
    InputError
        When the matrix would not fit in memory, or would take more than 80% of it (see :func:`check_memory`).

    Notes
    -----
    Breadth-first search from every node, 512 sources per sweep as bit-sets, costs O(n_nodes * n_edges / 64)
    word operations and n_nodes**2 bytes.
    """
    return _distance_matrix(
        interactome, cache_dir=cache_dir, use_cache=use_cache, max_memory=max_memory, progress=progress
    )[0]


def _distance_matrix(
    interactome: Interactome,
    *,
    cache_dir: str | os.PathLike[str] | None,
    use_cache: bool,
    max_memory: int | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, bool]:
    """:func:`shortest_path_lengths` plus whether the matrix came from the cache.

    The cache is two files named after the network's content hash: ``distances-<hash>-n<N>.npy`` (the matrix)
    and ``distances-<hash>-n<N>.json`` (format version, ``n_nodes``, the network's full SHA-256 and the SHA-256
    of the matrix bytes), each written atomically, the sidecar first. A read is used only if the sidecar belongs
    to this network and the SHA-256 of the bytes actually read equals the recorded one (then a cheap check of
    the zero diagonal and of row 0 against column 0); anything else (missing or unreadable sidecar, another
    network's files, truncation, flipped bytes, a zeroed block) logs one warning and recomputes, rewriting both files.

    The matrix's distance-1 entries are also checked against the network's edges, so another network's matrix
    is refused even when its checksum file was edited to name this one. This detects damage and mix-ups, not
    deliberate forgery: whoever can write the cache folder can write a matching pair of files, so protect the
    folder like any other input. SHA-256 over the matrix costs about
    0.2 s per 256 MiB (16,000 nodes) on a CPU with SHA extensions.
    """
    n = interactome.n_nodes
    check_memory(n, max_memory=max_memory)
    path = None
    if use_cache:
        cap = cache_max_bytes()  # a bad $ORGANOIDRX_CACHE_MAX_SIZE is refused before any work, not after it
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        _remove_stale_temporaries(folder)
        path = folder / _cache_name(interactome)
        try:
            cached = _read_cache(path, n, interactome.content_hash())
            _check_against_edges(cached, interactome.indptr, interactome.indices)
        except FileNotFoundError:
            cached = None
        except _UnusableCache as exc:
            logger.warning("distance cache %s is not usable: %s; recomputing", path, exc)
            cached = None
        if cached is not None:
            logger.debug("distances read from cache %s", path)
            touch(path)
            if progress is not None:
                progress(n, n)
            return cached, True
    dist = _bfs_all_pairs(interactome.indptr, interactome.indices, progress)
    if path is not None:
        try:
            _write_cache(path, dist, interactome.content_hash())
        except (OSError, InputError) as exc:  # a read-only cache folder costs the cache, not the run
            logger.warning("could not write the distance cache %s (%s); continuing without it", path, exc)
        else:
            logger.debug("distances cached in %s", path)
            try:
                prune_cache(path.parent, max_bytes=cap, keep=path.name)
            except OSError as exc:
                logger.warning("could not keep the distance cache %s under its cap (%s)", path.parent, exc)
    return dist, False


def _check_against_edges(dist: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> None:
    """A cached matrix's distance-1 entries must be exactly the network's edges (each row: its neighbours), which
    a matrix of another network whose checksum file was edited to name this one fails."""
    n = len(indptr) - 1
    degree = np.diff(indptr)
    if (dist[np.repeat(np.arange(n), degree), indices] != 1).any():
        raise _UnusableCache("an edge of the network is not at distance 1 (the matrix is of another network)")
    rows = max(1, 2**24 // max(n, 1))  # 16 MB of comparisons at a time
    for start in range(0, n, rows):
        ones = np.count_nonzero(dist[start : start + rows] == 1, axis=1)
        if not np.array_equal(ones, degree[start : start + rows]):
            raise _UnusableCache(
                "a pair at distance 1 is not an edge of the network (the matrix is of another network)"
            )


class _UnusableCache(Exception):
    """The cache file exists but must not be used; the message says why."""


def _cache_name(interactome: Interactome) -> str:
    return f"distances-{interactome.content_hash()[:32]}-n{interactome.n_nodes}.npy"


def _write_cache(path: Path, dist: np.ndarray, network_hash: str) -> None:
    """Write the sidecar, then the matrix, each atomically.

    A reader arriving between the two finds no matrix yet (a plain cache miss, not a warning), and a matrix named by
    its network's hash has the same bytes whoever writes it, so two writers never disagree.
    """
    dist = np.ascontiguousarray(dist, dtype=np.uint8)
    record = {
        "format": "organoidrx distance matrix",
        "version": _CACHE_VERSION,
        "n_nodes": int(dist.shape[0]),
        "dtype": "uint8",
        "network_sha256": network_hash,
        "data_sha256": hashlib.sha256(dist.data.cast("B")).hexdigest(),
    }
    with atomic_write(path.with_suffix(".json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    with atomic_write(path, "wb") as handle:
        np.save(handle, dist, allow_pickle=False)


def _open_regular(path: Path) -> Any:
    """Open a file for reading, refusing (OSError) anything but a regular file: a named pipe would block."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return os.fdopen(fd, "rb", buffering=0)


def _read_sidecar(path: Path, n: int, network_hash: str) -> str:
    """The recorded SHA-256 of the matrix bytes, after checking that the sidecar describes this network."""
    sidecar = path.with_suffix(".json")
    try:
        with _open_regular(sidecar) as handle:
            record: Any = json.loads(handle.read(1 << 20).decode("utf-8"))
    except FileNotFoundError:
        raise _UnusableCache(f"its checksum file {sidecar.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _UnusableCache(f"its checksum file {sidecar.name} is unreadable ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("data_sha256"), str):
        raise _UnusableCache(f"its checksum file {sidecar.name} is unreadable (not a cache record)")
    if record.get("version") != _CACHE_VERSION:
        raise _UnusableCache(
            f"its checksum file has format version {record.get('version')!r}, expected {_CACHE_VERSION}"
        )
    if record.get("network_sha256") != network_hash:
        raise _UnusableCache(
            f"made from another network (network hash {str(record.get('network_sha256'))[:16]}..., "
            f"expected {network_hash[:16]}...)"
        )
    if record.get("n_nodes") != n:
        raise _UnusableCache(f"made for {record.get('n_nodes')!r} nodes, the network has {n}")
    return str(record["data_sha256"])


def _read_cache(path: Path, n: int, network_hash: str) -> np.ndarray:
    """Read and verify a cached matrix; raise FileNotFoundError if absent, :class:`_UnusableCache` if unusable.

    The bytes are hashed block by block as they are read into the result, so the matrix is held once and read
    once; the header is checked strictly (uint8, C order, shape (n, n), file size = header + n**2 bytes).
    """
    try:
        opened = _open_regular(path)  # closed by the with block below
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _UnusableCache(f"unreadable ({exc})") from None
    with opened as handle:
        expected_digest = _read_sidecar(path, n, network_hash)
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise _UnusableCache("empty file (0 bytes)")
        try:
            shape, fortran_order, dtype = read_npy_header(handle)
        except ValueError as exc:
            raise _UnusableCache(f"unreadable .npy header ({exc})") from None
        except OSError as exc:
            raise _UnusableCache(f"unreadable ({exc})") from None
        if shape != (n, n) or dtype != np.uint8 or fortran_order:
            raise _UnusableCache(
                f"holds a {'Fortran-ordered ' if fortran_order else ''}{dtype} array of shape {shape}, "
                f"expected uint8 of shape ({n}, {n})"
            )
        offset = handle.tell()
        if size != offset + n * n:
            what = "truncated" if size < offset + n * n else "too long"
            raise _UnusableCache(f"{what}: {size:,} bytes, expected {offset + n * n:,}")
        dist = np.empty((n, n), dtype=np.uint8)
        buffer = dist.data.cast("B")
        digest = hashlib.sha256()
        done = 0
        try:
            while done < n * n:
                got = handle.readinto(buffer[done : done + _READ_BLOCK])
                if not got:
                    raise _UnusableCache(f"truncated while reading: {offset + done:,} bytes")
                digest.update(buffer[done : done + got])
                done += got
        except OSError as exc:
            raise _UnusableCache(f"unreadable ({exc})") from None
    if digest.hexdigest() != expected_digest:
        raise _UnusableCache("checksum mismatch (the matrix bytes are damaged or belong to another write)")
    if np.diagonal(dist).any() or not np.array_equal(dist[0], dist[:, 0]):
        raise _UnusableCache("not a distance matrix (nonzero diagonal or not symmetric)")
    return dist


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove temporary files of interrupted cache writes older than an hour (younger ones may be live writes)."""
    remove_stale_temporaries(folder, TEMPORARY_NAME)
