"""`organoidrx proximity` killed mid-run and run twice at once on one cache: no partial file, no damaged cache used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("proximity_inputs")
    graph = nx.barabasi_albert_graph(5000, 3, seed=1)  # distances take ~1 s: long enough to be killed in
    (folder / "net.tsv").write_text("gene_a\tgene_b\n" + "".join(f"G{u}\tG{v}\n" for u, v in graph.edges()))
    (folder / "t.tsv").write_text("drug\ttarget\nX\tG1\nX\tG7\nY\tG300\n")
    (folder / "s.gmt").write_text(
        "".join(f"SET{k}\tdesc\t" + "\t".join(f"G{k * 40 + i}" for i in range(20)) + "\n" for k in range(20))
    )
    return {"network": folder / "net.tsv", "targets": folder / "t.tsv", "gene_sets": folder / "s.gmt"}


def _command(inputs: dict[str, Path], out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "organoidrx", "--quiet", "proximity",
        "--network", str(inputs["network"]), "--targets", str(inputs["targets"]),
        "--gene-sets", str(inputs["gene_sets"]), "--min-score", "-1", "--min-bin-size", "50", "--n-random", "200",
        "--cache-dir", str(cache), "--out", str(out),
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": "0"}


def test_killed_proximity_leaves_no_partial_output_and_no_usable_damage(inputs, tmp_path):
    reference = tmp_path / "reference.tsv"
    subprocess.run(_command(inputs, reference, tmp_path / "ref_cache"), check=True, env=_env())
    expected = reference.read_bytes()
    cache = tmp_path / "cache"
    for delay in (0.5, 1.0, 1.5, 2.5):
        out = tmp_path / f"killed_{delay}.tsv"
        process = subprocess.Popen(_command(inputs, out, cache), env=_env())
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # the output is either absent or whole (the run may have finished), never partial
        assert not out.exists() or out.read_bytes() == expected
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}")]
        # whatever the kill left in the cache, the next run gives the same table
        again = tmp_path / f"after_{delay}.tsv"
        subprocess.run(_command(inputs, again, cache), check=True, env=_env())
        assert again.read_bytes() == expected


def test_two_proximity_processes_share_one_cache(inputs, tmp_path):
    cache = tmp_path / "cache"
    outs = [tmp_path / "a.tsv", tmp_path / "b.tsv"]
    processes = [subprocess.Popen(_command(inputs, out, cache), env=_env()) for out in outs]
    assert [p.wait() for p in processes] == [0, 0]
    assert outs[0].read_bytes() == outs[1].read_bytes()
    # the cache they left is valid: a third run reads it
    third = subprocess.run(
        _command(inputs, tmp_path / "c.tsv", cache),
        check=True,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert "read from cache" in third.stdout
    assert (tmp_path / "c.tsv").read_bytes() == outs[0].read_bytes()
