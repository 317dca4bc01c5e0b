"""The on-disk distance cache: reuse, damage detection with recomputation, leftover cleanup, concurrent writers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import STALE_TEMPORARY_SECONDS, InputError
from organoidrx.network import _distances, build_interactome, check_memory, shortest_path_lengths

# A tree A-B-C-D-E with a branch C-F-G-H (8 nodes), and a path over the same 8 names (another network, same size).
TREE = pd.DataFrame(
    [("A", "B"), ("B", "C"), ("C", "D"), ("D", "E"), ("C", "F"), ("F", "G"), ("G", "H")],
    columns=["gene_a", "gene_b"],
)
PATH = pd.DataFrame([(a, b) for a, b in zip("ABCDEFG", "BCDEFGH", strict=True)], columns=["gene_a", "gene_b"])


def _tree():
    return build_interactome(TREE, min_score=None)


def _other():
    return build_interactome(PATH, min_score=None)


def _matrix(graph, cache_dir):
    return _distances._distance_matrix(
        graph, cache_dir=cache_dir, use_cache=True, max_memory=None, progress=None
    )


def _files(cache_dir):
    (npy,) = cache_dir.glob("distances-*.npy")
    return npy, npy.with_suffix(".json")


def _data_offset(npy, n):
    return npy.stat().st_size - n * n


def _assert_recomputed(graph, tmp_path, caplog, reason):
    """The next read warns (naming the file and ``reason``), recomputes correctly and leaves a valid cache."""
    npy, _ = _files(tmp_path)
    fresh = shortest_path_lengths(graph, use_cache=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="organoidrx.network._distances"):
        dist, cached = _matrix(graph, tmp_path)
    assert not cached
    np.testing.assert_array_equal(dist, fresh)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert npy.name in warnings[0] and reason in warnings[0], warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="organoidrx.network._distances"):
        again, cached = _matrix(graph, tmp_path)
    assert cached, "the recomputed matrix was not written back as a valid cache"
    np.testing.assert_array_equal(again, fresh)
    assert not caplog.records


def test_cached_matrix_is_reused_and_verified(tmp_path, monkeypatch):
    graph = _tree()
    first, cached = _matrix(graph, tmp_path)
    assert not cached
    _, sidecar = _files(tmp_path)
    record = json.loads(sidecar.read_text())
    assert record["network_sha256"] == graph.content_hash()
    assert record["n_nodes"] == graph.n_nodes

    def fail(*args, **kwargs):
        raise AssertionError("distances recomputed despite a valid cache")

    monkeypatch.setattr(_distances, "_bfs_all_pairs", fail)
    again, cached = _matrix(graph, tmp_path)
    assert cached
    np.testing.assert_array_equal(again, first)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("empty", "empty file"),
        ("truncated_data", "truncated"),
        ("truncated_header", "unreadable"),
        ("flipped_byte", "checksum mismatch"),
        ("zeroed_block", "checksum mismatch"),
        ("appended", "too long"),
    ],
)
def test_damaged_matrix_is_detected_and_recomputed(tmp_path, caplog, damage, reason):
    graph = _tree()
    n = graph.n_nodes
    _matrix(graph, tmp_path)
    npy, _ = _files(tmp_path)
    raw = bytearray(npy.read_bytes())
    start = _data_offset(npy, n)
    if damage == "empty":
        raw = bytearray()
    elif damage == "truncated_data":
        raw = raw[: start + n * n // 2]
    elif damage == "truncated_header":
        raw = raw[:20]
    elif damage == "flipped_byte":
        raw[start + 3 * n + 5] ^= 0x01
    elif damage == "zeroed_block":
        raw[start + n : start + 3 * n] = bytes(2 * n)
    elif damage == "appended":
        raw += b"\0" * 7
    npy.write_bytes(bytes(raw))
    _assert_recomputed(graph, tmp_path, caplog, reason)


def test_matrix_of_another_network_is_detected(tmp_path, caplog):
    graph, other = _tree(), _other()
    assert graph.n_nodes == other.n_nodes and graph.content_hash() != other.content_hash()
    mine_dir, other_dir = tmp_path / "mine", tmp_path / "other"
    _matrix(graph, mine_dir)
    _matrix(other, other_dir)
    mine_npy, mine_json = _files(mine_dir)
    other_npy, other_json = _files(other_dir)

    # the other network's matrix and its (valid) sidecar under this network's name
    mine_npy.write_bytes(other_npy.read_bytes())
    mine_json.write_bytes(other_json.read_bytes())
    _assert_recomputed(graph, mine_dir, caplog, "made from another network")

    # only the matrix swapped in: the sidecar belongs to this network but not to these bytes
    mine_npy.write_bytes(other_npy.read_bytes())
    _assert_recomputed(graph, mine_dir, caplog, "checksum mismatch")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("missing", "is missing"),
        ("garbage", "unreadable"),
        ("not_an_object", "unreadable"),
        ("version", "format version"),
        ("n_nodes", "made for 9 nodes"),
    ],
)
def test_missing_or_bad_sidecar_is_detected(tmp_path, caplog, damage, reason):
    graph = _tree()
    _matrix(graph, tmp_path)
    _, sidecar = _files(tmp_path)
    record = json.loads(sidecar.read_text())
    if damage == "missing":
        sidecar.unlink()
    elif damage == "garbage":
        sidecar.write_bytes(b"\xff{not json")
    elif damage == "not_an_object":
        sidecar.write_text("[1, 2]")
    elif damage == "version":
        sidecar.write_text(json.dumps({**record, "version": 99}))
    elif damage == "n_nodes":
        sidecar.write_text(json.dumps({**record, "n_nodes": 9}))
    _assert_recomputed(graph, tmp_path, caplog, reason)


def test_consistent_pair_that_is_not_a_distance_matrix_is_rejected(tmp_path, caplog):
    # a writer bug the checksum would faithfully certify: the cheap diagonal/symmetry check catches it
    graph = _tree()
    bad = shortest_path_lengths(graph, use_cache=False)
    bad[2, 2] = 1
    npy = tmp_path / _distances._cache_name(graph)
    _distances._write_cache(npy, bad, graph.content_hash())
    _assert_recomputed(graph, tmp_path, caplog, "not a distance matrix")


def _temporaries(stale: list[Path], fresh: list[Path]) -> None:
    """Leftover temporary files: ``stale`` ones an hour and a minute old, ``fresh`` ones just written."""
    old = time.time() - STALE_TEMPORARY_SECONDS - 60
    for path in (*stale, *fresh):
        path.write_bytes(b"partial")
    for path in stale:
        os.utime(path, (old, old))


def test_a_write_removes_the_stale_temporaries_of_its_own_file_only(tmp_path):
    from organoidrx._utils import atomic_write

    target = tmp_path / "scores.tsv"
    own, longer_name, other = (
        tmp_path / f".{n}.organoidrx-abcd1234.tmp" for n in ("scores.tsv", "scores.tsv2", "other.tsv")
    )
    fresh = tmp_path / ".scores.tsv.organoidrx-efgh5678.tmp"
    users = tmp_path / ".scores.tsv.backup.tmp"  # the user's own file, named like a temporary one
    _temporaries([own, longer_name, other, users], [fresh])
    with atomic_write(target) as handle:
        handle.write("x\n")
    assert not own.exists() and longer_name.exists() and other.exists() and fresh.exists() and users.exists()
    assert target.read_text() == "x\n"


def test_stale_temporary_files_are_removed_fresh_ones_kept(tmp_path, caplog):
    graph = _tree()
    stem = _distances._cache_name(graph)
    old_npy = tmp_path / f".{stem}.organoidrx-k3j_x9q1.tmp"
    old_json = tmp_path / f".{Path(stem).with_suffix('.json')}.organoidrx-a8b2c4d6.tmp"
    live = tmp_path / f".{stem}.organoidrx-zz11yy22.tmp"
    unrelated = tmp_path / ".results.tsv.abcdefgh.tmp"
    _temporaries([old_npy, old_json, unrelated], [live])
    with caplog.at_level(logging.DEBUG, logger="organoidrx"):
        _matrix(graph, tmp_path)
    assert not old_npy.exists() and not old_json.exists()
    assert live.exists(), "a fresh temporary file (a writer at work) was removed"
    assert unrelated.exists(), "a temporary file that is not a distance cache was removed"
    assert "removed 2 temporary files of interrupted writes" in caplog.text


_WORKER = textwrap.dedent(
    """
    import hashlib, sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    from organoidrx.network import _distances, build_interactome

    cache_dir, name, n_nodes = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, n_nodes, 4 * n_nodes), rng.integers(0, n_nodes, 4 * n_nodes)
    edges = pd.DataFrame({"gene_a": [f"g{i}" for i in a], "gene_b": [f"g{i}" for i in b]})
    graph = build_interactome(edges, min_score=None)
    (cache_dir.parent / f"ready-{name}").touch()
    deadline = time.time() + 120
    while len(list(cache_dir.parent.glob("ready-*"))) < 2 and time.time() < deadline:
        time.sleep(0.005)
    digests, hits = set(), 0
    stop = time.time() + 2.0
    while time.time() < stop:
        dist, cached = _distances._distance_matrix(
            graph, cache_dir=cache_dir, use_cache=True, max_memory=None, progress=None
        )
        digests.add(hashlib.sha256(dist.tobytes()).hexdigest())
        hits += cached
        # rewrite the cache while the other process reads or rewrites it
        _distances._write_cache(cache_dir / _distances._cache_name(graph), dist, graph.content_hash())
    print(hits, file=sys.stderr)
    print(" ".join(sorted(digests)))
    """
)


def test_two_processes_writing_the_same_cache(tmp_path):
    n_nodes = 1500
    cache_dir = tmp_path / "cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(cache_dir), name, str(n_nodes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, n_nodes, 4 * n_nodes), rng.integers(0, n_nodes, 4 * n_nodes)
    graph = build_interactome(
        pd.DataFrame({"gene_a": [f"g{i}" for i in a], "gene_b": [f"g{i}" for i in b]}), min_score=None
    )
    fresh = shortest_path_lengths(graph, use_cache=False)
    expected = hashlib.sha256(fresh.tobytes()).hexdigest()
    for out, _ in outputs:
        assert out.split() == [expected]
    dist, cached = _matrix(graph, cache_dir)
    assert cached
    np.testing.assert_array_equal(dist, fresh)
    assert not list(cache_dir.glob(".*.tmp"))


def test_matrix_above_the_safe_share_of_memory_is_refused(monkeypatch):
    # 42,000 nodes: 1.64 GiB matrix + 0.25 GiB working space fits 2 GiB, but the matrix is 82% of it
    with pytest.raises(InputError, match=r"42,000 nodes.*1\.64 GiB.*80% of the 2\.00 GiB.*higher min_score"):
        check_memory(42_000, max_memory=2 * 2**30)
    check_memory(40_000, max_memory=2 * 2**30)  # 1.49 GiB = 75%: allowed
    # the case seen in practice: a 21 GiB matrix with 23 GiB available
    monkeypatch.setattr(_distances, "available_memory", lambda: 23 * 2**30)
    with pytest.raises(InputError, match=r"150,200 nodes.*21\.0\d GiB.*is available"):
        check_memory(150_200)
