"""Benchmark: DIAMOnD expansion against the plain loop of the tests, and the measure "diamond" on the whole table.

Run from the repository root (reads ../shared/data in place, or $ORGANOIDRX_SHARED_DATA):

    .venv/bin/python benchmarks/diamond.py [--n-added 50]

Work: the modules of the Kong drugs' targets on STRING (pre-v12, combined_score > 700, largest component), grown
by ``diamond_module`` and by ``reference_diamond`` (tests/network/test_diamond.py: the paper's loop in plain Python
with DIAMOnD.py's p-values) for a few drugs; then ``proximity(measure="diamond")`` for every drug x the 674 MSigDB
Reactome sets x 1,000 draws, warm distance cache, ``n_jobs=2``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from organoidrx.io import read_drug_targets, read_gmt, read_network
from organoidrx.network import build_interactome, diamond_module, proximity, shortest_path_lengths
from proximity import DATA, GMT, STRING, TARGETS, fmt, machine, peak_rss_mb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.network.test_diamond import reference_diamond


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-added", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not STRING.exists():
        print(f"shared data not found at {DATA}; set ORGANOIDRX_SHARED_DATA", file=sys.stderr)
        return 1
    print(f"machine: {machine()}")
    network = read_network(STRING, edge_columns="symbol_1,symbol_2,combined_score", min_score=700)
    targets = read_drug_targets(TARGETS)
    gene_sets = read_gmt(GMT)
    graph = build_interactome(network, min_score=None)
    nx_graph = graph.to_networkx()
    index = graph.index()
    for drug in ["FLUOROURACIL", "CISPLATIN", "BORTEZOMIB"]:
        seeds = [t for t in targets.loc[targets["drug"] == drug, "target"] if t in index]
        tic = time.perf_counter()
        fast = diamond_module(graph, seeds, n_added=args.n_added)
        fast_s = time.perf_counter() - tic
        tic = time.perf_counter()
        slow = reference_diamond(nx_graph, seeds, args.n_added)
        slow_s = time.perf_counter() - tic
        same = fast["gene"].tolist() == slow
        print(
            f"{drug} ({', '.join(seeds)}): {args.n_added} nodes in {fast_s:.3f} s, plain loop {slow_s:.2f} s "
            f"({slow_s / fast_s:.0f}x); same nodes in the same order: {same}; first: "
            f"{', '.join(fast['gene'].head(6))}"
        )
    with tempfile.TemporaryDirectory() as cache:
        shortest_path_lengths(graph, cache_dir=cache)
        tic = time.perf_counter()
        table = proximity(
            network,
            targets,
            gene_sets,
            n_random=1000,
            cache_dir=cache,
            n_jobs=args.threads,
            measure="diamond",
            n_added=args.n_added,
        )
        seconds = time.perf_counter() - tic
    sizes = table.attrs["measure_info"]["module_sizes"]
    print(
        f"proximity(measure='diamond', n_added={args.n_added}), warm cache: {seconds:.2f} s wall  phases "
        f"{fmt(table.attrs['timings'])}; modules of {min(sizes)}-{max(sizes)} nodes"
    )
    five_fu = table[table["drug"] == "FLUOROURACIL"].nsmallest(5, "z")
    print("FLUOROURACIL, most proximal pathways by module distance:")
    print(five_fu[["pathway", "closest_distance", "module_distance", "z"]].to_string(index=False))
    print(f"\npeak RSS of this process: {peak_rss_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
