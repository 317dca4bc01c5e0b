"""All-pairs shortest-path lengths of an unweighted graph: bit-parallel breadth-first search and an on-disk cache."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from organoidrx._utils import InputError, atomic_write
from organoidrx.network._graph import Interactome

logger = logging.getLogger(__name__)

__all__ = ["available_memory", "check_memory", "default_cache_dir", "shortest_path_lengths"]

_UNREACHABLE = 255
_CHUNK_WORDS = 8  # 512 sources per sweep: the gathered frontier (n_edges x 64 bytes) stays cache friendly
_OVERHEAD_BYTES = 256 * 2**20


def default_cache_dir() -> Path:
    """``$ORGANOIDRX_CACHE_DIR``, else ``$XDG_CACHE_HOME/organoidrx``, else ``~/.cache/organoidrx``."""
    explicit = os.environ.get("ORGANOIDRX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "organoidrx"


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable`` of /proc/meminfo, else physical pages)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**63 - 1


def check_memory(n_nodes: int, *, extra_bytes: int = 0, max_memory: int | None = None) -> int:
    """Estimate the bytes the engine needs for ``n_nodes`` and raise :class:`InputError` if they do not fit.

    The estimate is ``n_nodes**2`` bytes for the uint8 distance matrix plus ``extra_bytes`` and a fixed 256 MiB of
    working space. ``max_memory`` defaults to the memory currently available.
    """
    need = n_nodes * n_nodes + int(extra_bytes) + _OVERHEAD_BYTES
    limit = available_memory() if max_memory is None else int(max_memory)
    if need > limit:
        raise InputError(
            f"the network's largest connected component has {n_nodes:,} nodes; its distance matrix and working "
            f"space need {need / 2**30:.2f} GiB (n_nodes^2 bytes + overhead) but only {limit / 2**30:.2f} GiB "
            f"{'is available' if max_memory is None else 'is allowed (max_memory)'}; use a higher min_score or a "
            "smaller network, or run on a machine with more memory."
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
        content hash (:meth:`Interactome.content_hash`), so any change of edges or names misses the cache.
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
        When the matrix would not fit in memory (see :func:`check_memory`).

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
    """:func:`shortest_path_lengths` plus whether the matrix came from the cache."""
    n = interactome.n_nodes
    check_memory(n, max_memory=max_memory)
    path = None
    if use_cache:
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = folder / f"distances-{interactome.content_hash()[:32]}-n{n}.npy"
        if path.exists():
            try:
                cached = np.load(path, allow_pickle=False)
                if cached.shape == (n, n) and cached.dtype == np.uint8:
                    logger.debug("distances read from cache %s", path)
                    if progress is not None:
                        progress(n, n)
                    return np.asarray(cached), True
                logger.warning("distance cache %s has shape %s; recomputing", path, cached.shape)
            except (OSError, ValueError) as exc:
                logger.warning("distance cache %s is unreadable (%s); recomputing", path, exc)
    dist = _bfs_all_pairs(interactome.indptr, interactome.indices, progress)
    if path is not None:
        try:
            with atomic_write(path, "wb") as handle:
                np.save(handle, dist, allow_pickle=False)
            logger.debug("distances cached in %s", path)
        except OSError as exc:
            logger.warning("could not write the distance cache %s (%s); continuing without it", path, exc)
    return dist, False
