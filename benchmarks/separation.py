"""Benchmark: separation z-scores against closest proximity (organoidrx) and against NetMedPy, in one process.

Run from the repository root (reads ../shared/data in place, or $ORGANOIDRX_SHARED_DATA):

    .venv/bin/python benchmarks/separation.py [--netmedpy-drugs 2] [--netmedpy-pathways 12] [--netmedpy-draws 100]

Work: every drug of drug_targets.tsv x the 674 MSigDB Reactome sets x 1,000 draws on STRING (pre-v12,
combined_score > 700, largest component), warm distance cache, ``n_jobs=2``: ``measure="closest"`` then
``measure="separation"``. NetMedPy (``screening(score="separation_z_score")``, ``null_model="custom"`` with the node
bucket of organoidrx's degree bins, so both draw from the same null) is timed on a random subset of multi-target
drug x pathway pairs with fewer draws; its cost is linear in the draws and is scaled to 1,000 draws and per pair to
the whole table. It is handed organoidrx's distance matrix (float32), so its all-pairs step is not timed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from organoidrx.io import read_drug_targets, read_gmt, read_network
from organoidrx.network import build_interactome, degree_bins, proximity, shortest_path_lengths
from proximity import DATA, GMT, STRING, TARGETS, fmt, machine, peak_rss_mb


def run(network, targets, gene_sets, measure: str, cache: str, threads: int) -> tuple[pd.DataFrame, float]:
    tic = time.perf_counter()
    table = proximity(
        network,
        targets,
        gene_sets,
        n_random=1000,
        random_state=0,
        cache_dir=cache,
        n_jobs=threads,
        measure=measure,
    )
    return table, time.perf_counter() - tic


def run_netmedpy(graph, dist, targets, gene_sets, drugs, pathways, draws: int, threads: int):
    import netmedpy

    nodes = [str(n) for n in graph.nodes]
    matrix = netmedpy.DistanceMatrix.from_components(
        nodes, {n: i for i, n in enumerate(nodes)}, dist.astype(np.float32)
    )
    bins = degree_bins(graph.degree, min_bin_size=100)
    bucket = {}
    for b in range(len(bins.sizes)):
        members = [nodes[i] for i in bins.nodes[bins.start[b] : bins.start[b + 1]]]
        for m in members:
            bucket[m] = [x for x in members if x != m]
    in_graph = set(nodes)
    sources = {d: {t for t in targets.loc[targets["drug"] == d, "target"] if t in in_graph} for d in drugs}
    sets = {
        p: {g for g in gene_sets.loc[gene_sets["pathway"] == p, "gene"] if g in in_graph} for p in pathways
    }
    nx_graph = graph.to_networkx()
    sys.stdout.flush()
    saved = os.dup(1)  # NetMedPy's workers print one line per pair: silence them
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    tic = time.perf_counter()
    try:
        result = netmedpy.screening(
            sources,
            sets,
            nx_graph,
            matrix,
            score="separation_z_score",
            properties=["z_score", "raw_separation"],
            null_model="custom",
            node_bucket=bucket,
            n_iter=draws,
            n_procs=threads,
        )
    finally:
        seconds = time.perf_counter() - tic
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)
    values = {}
    for key, column in (("z_score", "z_netmedpy"), ("raw_separation", "separation_netmedpy")):
        long = result[key].stack().rename(column).reset_index()
        long.columns = ["drug", "pathway", column]
        values[key] = long
    table = values["z_score"].merge(values["raw_separation"], on=["drug", "pathway"])
    return table, seconds, len(sources) * len(sets), nx_graph, matrix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--netmedpy-drugs", type=int, default=2)
    parser.add_argument("--netmedpy-pathways", type=int, default=12)
    parser.add_argument("--netmedpy-draws", type=int, default=100)
    parser.add_argument("--skip-netmedpy", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not STRING.exists():
        print(f"shared data not found at {DATA}; set ORGANOIDRX_SHARED_DATA", file=sys.stderr)
        return 1
    print(f"machine: {machine()}")
    network = read_network(STRING, edge_columns="symbol_1,symbol_2,combined_score", min_score=700)
    targets = read_drug_targets(TARGETS)
    gene_sets = read_gmt(GMT)
    with tempfile.TemporaryDirectory() as cache:
        graph = build_interactome(network, min_score=None)
        tic = time.perf_counter()
        dist = shortest_path_lengths(graph, cache_dir=cache)
        print(f"distance cache filled: {time.perf_counter() - tic:.2f} s (not counted below)")
        closest, closest_s = run(network, targets, gene_sets, "closest", cache, args.threads)
        print(f"closest, warm cache:    {closest_s:.2f} s wall  phases {fmt(closest.attrs['timings'])}")
        separation, separation_s = run(network, targets, gene_sets, "separation", cache, args.threads)
        print(f"separation, warm cache: {separation_s:.2f} s wall  phases {fmt(separation.attrs['timings'])}")
    print(
        f"separation / closest: {separation_s / closest_s:.2f}x (target <= 2x); peak RSS {peak_rss_mb():.0f} MiB"
    )
    ok = separation["computable"]
    defined = separation.loc[ok, "z"].notna()
    print(
        f"pairs: {int(ok.sum())} computable, {int(defined.sum())} with a separation z "
        f"({int((~defined).sum())} undefined: single-target drugs or one-gene sets)"
    )
    np.testing.assert_array_equal(closest["separation"], separation["separation"])

    if not args.skip_netmedpy:
        multi = (
            targets[targets["target"].isin(set(map(str, graph.nodes)))].groupby("drug")["target"].nunique()
            >= 2
        )
        drugs = [d for d in ["CISPLATIN", "BORTEZOMIB", "IRINOTECAN", "GEMCITABINE"] if multi.get(d, False)]
        drugs = drugs[: args.netmedpy_drugs]
        pathways = (
            separation.loc[ok, "pathway"]
            .drop_duplicates()
            .sample(args.netmedpy_pathways, random_state=0)
            .tolist()
        )
        z, seconds, pairs, _, _ = run_netmedpy(
            graph, dist, targets, gene_sets, drugs, pathways, args.netmedpy_draws, args.threads
        )
        per_pair = seconds / pairs * 1000 / args.netmedpy_draws
        projected = per_pair * int(ok.sum())
        sizes = separation.loc[separation["pathway"].isin(pathways)].drop_duplicates("pathway")[
            "n_pathway_genes"
        ]
        print(
            f"NetMedPy separation_z_score ({args.netmedpy_draws} draws, {args.threads} processes): {pairs} pairs "
            f"(pathways of {sizes.min()}-{sizes.max()} genes, median {sizes.median():.0f}) in {seconds:.1f} s = "
            f"{per_pair:.2f} s/pair at 1,000 draws; scaled per pair to {int(ok.sum())} pairs: {projected:.0f} s"
        )
        print(f"speed-up vs NetMedPy (scaled): {projected / separation_s:.0f}x (target >= 100x)")
        merged = separation.merge(z, on=["drug", "pathway"])
        diff = (merged["separation"] - merged["separation_netmedpy"]).abs().max()
        rho = spearmanr(merged["z"], merged["z_netmedpy"]).statistic
        print(
            f"separation values, organoidrx vs NetMedPy over {len(merged)} pairs: max |difference| {diff:.1e}; "
            f"Spearman of z {rho:.3f} (NetMedPy at {args.netmedpy_draws} draws)"
        )
    print(f"\npeak RSS of this process: {peak_rss_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
