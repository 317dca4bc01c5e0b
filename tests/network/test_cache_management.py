"""The distance cache as a whole: listing, clearing, the size cap with least-recently-used eviction, the CLI."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.cli import main
from organoidrx.network import (
    build_interactome,
    cache_entries,
    clear_cache,
    prune_cache,
    shortest_path_lengths,
)
from organoidrx.network._cache import cache_max_bytes, parse_size

# three different networks: paths of 6, 7 and 8 nodes (36, 49 and 64 matrix bytes)
NETWORKS = [
    build_interactome(
        pd.DataFrame([(f"G{i}", f"G{i + 1}") for i in range(n - 1)], columns=["gene_a", "gene_b"]),
        min_score=None,
    )
    for n in (6, 7, 8)
]


def _fill(cache_dir, mtimes=(1_000_000, 2_000_000, 3_000_000)):
    """Cache the three networks and give their matrices the modification times ``mtimes`` (oldest first)."""
    for graph, mtime in zip(NETWORKS, mtimes, strict=True):
        shortest_path_lengths(graph, cache_dir=cache_dir)
        (npy,) = [p for p in cache_dir.glob(f"distances-*-n{graph.n_nodes}.npy")]
        os.utime(npy, (mtime, mtime))
    return cache_entries(cache_dir)


def test_entries_are_listed_least_recently_used_first(tmp_path):
    table = _fill(tmp_path, mtimes=(3_000_000, 1_000_000, 2_000_000))
    assert list(table["nodes"]) == [7, 8, 6]
    assert (table["status"] == "ok").all()
    npy = tmp_path / table["file"].iloc[0]
    assert table["bytes"].iloc[0] == npy.stat().st_size + npy.with_suffix(".json").stat().st_size
    assert table["last_used"].iloc[0] == "1970-01-12T13:46:40+00:00"


def test_a_cache_hit_makes_the_entry_most_recently_used(tmp_path):
    _fill(tmp_path)
    shortest_path_lengths(NETWORKS[0], cache_dir=tmp_path)  # read from the cache
    assert list(cache_entries(tmp_path)["nodes"]) == [7, 8, 6]


def test_prune_removes_least_recently_used_until_under_the_cap(tmp_path):
    table = _fill(tmp_path)
    sizes = dict(zip(table["nodes"], table["bytes"], strict=True))
    removed = prune_cache(tmp_path, max_bytes=sizes[7] + sizes[8])
    assert removed == [table["file"].iloc[0]]
    assert list(cache_entries(tmp_path)["nodes"]) == [7, 8]
    assert not list(tmp_path.glob("distances-*-n6.*"))  # the sidecar went with its matrix
    assert prune_cache(tmp_path, max_bytes=10**9) == []


def test_prune_never_removes_the_kept_entry(tmp_path):
    table = _fill(tmp_path)
    oldest = table["file"].iloc[0]
    removed = prune_cache(tmp_path, max_bytes=0, keep=oldest)
    assert sorted(removed) == sorted(table["file"].iloc[1:])
    assert list(cache_entries(tmp_path)["file"]) == [oldest]


def test_writing_a_new_matrix_enforces_the_cap(tmp_path, monkeypatch):
    table = _fill(tmp_path)
    monkeypatch.setenv("ORGANOIDRX_CACHE_MAX_SIZE", str(2 * int(table["bytes"].iloc[-1])))
    graph = build_interactome(
        pd.DataFrame([("X", "Y"), ("Y", "Z")], columns=["gene_a", "gene_b"]), min_score=None
    )
    shortest_path_lengths(graph, cache_dir=tmp_path)
    assert list(cache_entries(tmp_path)["nodes"]) == [8, 3]  # the newest old entry and the new one


def test_clear_removes_only_cache_files(tmp_path):
    _fill(tmp_path)
    (tmp_path / ".distances-0123456789abcdef0123456789abcdef-n5.npy.abc.tmp").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    entries, freed = clear_cache(tmp_path)
    assert entries == 3 and freed > 3 * 36
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert clear_cache(tmp_path / "absent") == (0, 0)


def test_damaged_entries_are_listed_with_their_status(tmp_path):
    table = _fill(tmp_path)
    (tmp_path / table["file"].iloc[0]).with_suffix(".json").unlink()
    with open(tmp_path / table["file"].iloc[1], "r+b") as handle:
        handle.truncate(40)
    status = cache_entries(tmp_path).set_index("nodes")["status"]
    assert status.to_dict() == {6: "checksum file missing", 7: "truncated", 8: "ok"}


def test_verify_reads_each_matrix_as_its_next_use_would(tmp_path, capsys):
    table = _fill(tmp_path)
    damaged = tmp_path / table["file"].iloc[1]
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 1  # same size, one distance changed: only the checksum can tell
    damaged.write_bytes(bytes(data))
    assert (cache_entries(tmp_path)["status"] == "ok").all()
    status = cache_entries(tmp_path, verify=True).set_index("nodes")["status"]
    assert status[6] == status[8] == "ok"
    assert status[7].startswith("checksum mismatch")
    # another network's matrix and sidecar under this one's name: intact, but not this network's distances
    first, last = (tmp_path / table["file"].iloc[i] for i in (0, 2))
    renamed = tmp_path / first.name.replace("-n6.npy", "-n8.npy")
    for suffix in (".npy", ".json"):
        renamed.with_suffix(suffix).write_bytes(last.with_suffix(suffix).read_bytes())
    status = cache_entries(tmp_path, verify=True).set_index("file")["status"]
    assert status[renamed.name].startswith("made from another network")
    assert main(["cache", "list", "--verify", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "checksums verified" in out and "(checksum mismatch" in out and "recomputed on next use" in out
    assert main(["cache", "list", "--cache-dir", str(tmp_path)]) == 0
    assert "checksums not read (--verify reads them)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "expected"), [("4G", 4 * 2**30), ("500MB", 500 * 2**20), ("1.5GiB", 3 * 2**29), ("123", 123)]
)
def test_sizes_parse(text, expected):
    assert parse_size(text, name="x") == expected


def test_a_bad_cap_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("ORGANOIDRX_CACHE_MAX_SIZE", "lots")
    with pytest.raises(InputError, match=r"ORGANOIDRX_CACHE_MAX_SIZE 'lots' is not a size"):
        cache_max_bytes()
    with pytest.raises(InputError, match=r"ORGANOIDRX_CACHE_MAX_SIZE 'lots' is not a size"):
        shortest_path_lengths(NETWORKS[0], cache_dir=tmp_path)  # before the work, not as a failed write
    assert not list(tmp_path.iterdir())


def test_cli_lists_and_clears(tmp_path, capsys):
    _fill(tmp_path)
    assert main(["cache", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 cached distance matrices" in out and "GiB cap" in out
    assert out.index("-n6.npy") < out.index("-n7.npy") < out.index("-n8.npy")
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert "Removed 3 cached distance matrices" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_cli_refuses_a_file_as_cache_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["cache", "list", "--cache-dir", str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_inspect_reads_a_cached_matrix_in_full_and_says_if_it_is_damaged(tmp_path, capsys):
    """A cache matrix or its checksum file is not a table: inspect names it and checks that matrix (only) as its
    next use would; a flipped byte is said."""
    table = _fill(tmp_path)
    npy = tmp_path / table["file"].iloc[0]
    for path in (npy, npy.with_suffix(".json")):
        assert main(["inspect", str(path)]) == 0
        out = capsys.readouterr().out
        assert "format:      distance cache" in out and "status:      ok (read and checked in full)" in out
    data = bytearray(npy.read_bytes())
    data[-1] ^= 1
    npy.write_bytes(bytes(data))
    assert main(["inspect", str(npy)]) == 0
    assert "status:      checksum mismatch" in capsys.readouterr().out
