"""Benchmark: organoidrx network proximity against NetMedPy, the authors' z-scores, and network size scaling.

Run from the repository root (reads ../shared/data in place, or $ORGANOIDRX_SHARED_DATA):

    .venv/bin/python benchmarks/proximity.py [--netmedpy-drugs 3] [--netmedpy-pathways 20] [--skip-scaling]

Work: every drug of drug_targets.tsv x the 674 MSigDB Reactome sets x 1,000 draws on STRING (pre-v12,
combined_score > 700, largest component). organoidrx runs cold (empty distance cache) and warm. NetMedPy
(``screening``, ``null_model='log_binning'``, ``bin_size=100``, the toolbox degree binning) is timed on a subset
of drug x pathway pairs and scaled per pair; it is handed organoidrx's distance matrix (as float32), so its own
all-pairs step is not timed, which favours it.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from organoidrx.io import read_drug_targets, read_gmt, read_network
from organoidrx.network import PROXIMAL_Z, build_interactome, proximity, shortest_path_lengths

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ORGANOIDRX_SHARED_DATA", ROOT.parent / "shared" / "data"))
STRING = DATA / "networks/string_dmfind/string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz"
TARGETS = DATA / "kong2020/drug_targets.tsv"
GMT = DATA / "kong2020/reactome_msigdb_v6.1_tcga.gmt"
AUTHORS = DATA / "kong2020/reference_outputs/proximity_zscores_string700_reactome.tsv"
AUTHOR_NAMES = {"AICA RIBONUCLEOTIDE": "AICAR", "BMS-536924": "BMS-536924"}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss survives exec on Linux, so it is a fallback)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"


def run_organoidrx(network, targets, gene_sets, cache: str, threads: int) -> tuple[pd.DataFrame, float]:
    tic = time.perf_counter()
    table = proximity(
        network, targets, gene_sets, n_random=1000, random_state=0, cache_dir=cache, n_jobs=threads
    )
    return table, time.perf_counter() - tic


def run_netmedpy(
    network, targets, gene_sets, drugs, pathways, threads: int
) -> tuple[pd.DataFrame, float, int]:
    import netmedpy

    graph = build_interactome(network, min_score=None)
    dist = shortest_path_lengths(graph, use_cache=True)
    nx_graph = graph.to_networkx()
    nodes = [str(n) for n in graph.nodes]
    matrix = netmedpy.DistanceMatrix.from_components(
        nodes, {n: i for i, n in enumerate(nodes)}, dist.astype(np.float32)
    )
    in_graph = set(nodes)
    sources = {d: {t for t in targets.loc[targets["drug"] == d, "target"] if t in in_graph} for d in drugs}
    sets = {
        p: {g for g in gene_sets.loc[gene_sets["pathway"] == p, "gene"] if g in in_graph} for p in pathways
    }
    tic = time.perf_counter()
    sys.stdout.flush()
    saved = os.dup(1)  # NetMedPy's workers print one line per pair: silence them
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        result = netmedpy.screening(
            sources,
            sets,
            nx_graph,
            matrix,
            score="proximity",
            properties=["z_score"],
            null_model="log_binning",
            n_iter=1000,
            bin_size=100,
            n_procs=threads,
        )
    finally:
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)
    seconds = time.perf_counter() - tic
    z = result["z_score"].stack().rename("z_netmedpy").reset_index()
    z.columns = ["drug", "pathway", "z_netmedpy"]
    return z, seconds, len(sources) * len(sets)


def compare_authors(table: pd.DataFrame) -> pd.DataFrame:
    authors = pd.read_csv(AUTHORS, sep="\t", index_col=0)
    rows = []
    for column in authors.columns:
        drug = AUTHOR_NAMES.get(column, column.split("_")[0])
        ours = table[(table["drug"] == drug) & table["computable"]].set_index("pathway")["z"]
        theirs = authors[column].dropna()
        shared = ours.index.intersection(theirs.index)
        if len(shared) < 10:
            rows.append((column, drug, len(shared), np.nan, 0, 0, 0, np.nan))
            continue
        rho = spearmanr(ours[shared], theirs[shared]).statistic
        a, b = set(shared[ours[shared] <= PROXIMAL_Z]), set(shared[theirs[shared] <= PROXIMAL_Z])
        jaccard = len(a & b) / len(a | b) if a | b else np.nan
        rows.append((column, drug, len(shared), rho, len(a), len(b), len(a & b), jaccard))
    return pd.DataFrame(
        rows,
        columns=[
            "authors_column",
            "drug",
            "pathways",
            "spearman",
            "proximal_ours",
            "proximal_authors",
            "overlap",
            "jaccard",
        ],
    )


def scaling_one(n: int, threads: int) -> None:
    """One size, in its own process so that its peak RSS is its own; prints one tab-separated line."""
    import networkx as nx

    rng = np.random.default_rng(0)
    graph = nx.barabasi_albert_graph(n, 10, seed=1)
    edges = pd.DataFrame([(f"g{u}", f"g{v}") for u, v in graph.edges()], columns=["gene_a", "gene_b"])
    drugs = pd.DataFrame(
        [(f"drug{d}", f"g{t}") for d in range(40) for t in rng.choice(n, 3, replace=False)],
        columns=["drug", "target"],
    )
    sets = {
        f"set{p}": [f"g{g}" for g in rng.choice(n, rng.integers(5, 200), replace=False)] for p in range(600)
    }
    base = peak_rss_mb()
    tic = time.perf_counter()
    table = proximity(edges, drugs, sets, min_score=None, n_random=1000, use_cache=False, n_jobs=threads)
    seconds = time.perf_counter() - tic
    t = table.attrs["timings"]
    print(
        f"{n}\t{len(edges)}\t{t['distances']:.2f}\t{t['null']:.2f}\t{seconds:.2f}\t{base:.0f}\t{peak_rss_mb():.0f}"
        f"\t{n * n / 2**20:.0f}"
    )


def scaling(sizes=(5000, 10000, 20000), threads: int = 2) -> pd.DataFrame:
    import subprocess

    rows = []
    for n in sizes:
        out = (
            subprocess.run(
                [sys.executable, __file__, "--scaling-one", str(n), "--threads", str(threads)],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        rows.append([float(v) for v in out.split("\t")])
    return pd.DataFrame(
        rows,
        columns=[
            "nodes",
            "edges",
            "distances_s",
            "null_s",
            "total_s",
            "rss_before_MiB",
            "peak_rss_MiB",
            "n_squared_MiB",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--netmedpy-drugs", type=int, default=3)
    parser.add_argument("--netmedpy-pathways", type=int, default=20)
    parser.add_argument("--skip-netmedpy", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--scaling-one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scaling_one is not None:
        scaling_one(args.scaling_one, args.threads)
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not STRING.exists():
        print(f"shared data not found at {DATA}; set ORGANOIDRX_SHARED_DATA", file=sys.stderr)
        return 1
    print(f"machine: {machine()}")
    tic = time.perf_counter()
    network = read_network(STRING, edge_columns="symbol_1,symbol_2,combined_score", min_score=700)
    targets = read_drug_targets(TARGETS)
    gene_sets = read_gmt(GMT)
    print(
        f"reading files: {time.perf_counter() - tic:.2f} s ({targets['drug'].nunique()} drugs, "
        f"{gene_sets['pathway'].nunique()} gene sets, {len(network)} edges > 700)"
    )

    with tempfile.TemporaryDirectory() as cache:
        cold, cold_s = run_organoidrx(network, targets, gene_sets, cache, args.threads)
        print(f"organoidrx cold cache: {cold_s:.2f} s wall  phases {fmt(cold.attrs['timings'])}")
        warm, warm_s = run_organoidrx(network, targets, gene_sets, cache, args.threads)
        print(f"organoidrx warm cache: {warm_s:.2f} s wall  phases {fmt(warm.attrs['timings'])}")
        print(f"peak RSS so far: {peak_rss_mb():.0f} MiB; identical tables cold/warm: {cold.equals(warm)}")
    n_pairs = int(cold["computable"].sum())
    print(f"pairs computed: {n_pairs} ({cold['drug'].nunique()} drugs x {cold['pathway'].nunique()} sets)")

    if not args.skip_netmedpy:
        drugs = [d for d in ["FLUOROURACIL", "CISPLATIN", "BORTEZOMIB", "CETUXIMAB", "JQ1"]][
            : args.netmedpy_drugs
        ]
        pathways = (
            cold.loc[cold["computable"], "pathway"]
            .drop_duplicates()
            .sample(args.netmedpy_pathways, random_state=0)
            .tolist()
        )
        z, seconds, pairs = run_netmedpy(network, targets, gene_sets, drugs, pathways, args.threads)
        per_pair = seconds / pairs
        projected = per_pair * n_pairs
        print(
            f"NetMedPy screening (log_binning, bin_size=100, 1000 draws, {args.threads} processes): {pairs} pairs "
            f"in {seconds:.1f} s = {per_pair:.3f} s/pair; scaled per pair to {n_pairs} pairs: {projected:.0f} s"
        )
        print(
            f"speed-up vs NetMedPy (scaled): cold {projected / cold_s:.0f}x, warm {projected / warm_s:.0f}x"
        )
        merged = cold.merge(z, on=["drug", "pathway"])
        rho = spearmanr(merged["z"], merged["z_netmedpy"]).statistic
        print(f"Spearman of z, organoidrx vs NetMedPy over {len(merged)} shared pairs: {rho:.3f}")
        merged["dz"] = merged["z"] - merged["z_netmedpy"]
        worst = merged.reindex(merged["dz"].abs().sort_values(ascending=False).index).head(5)
        print(
            worst[["drug", "pathway", "n_targets", "n_pathway_genes", "z", "z_netmedpy", "dz"]].to_string(
                index=False
            )
        )

    authors = compare_authors(cold)
    print("\nagainst the authors' z-scores (Spearman over shared pathways; proximal = z <= -1.2816):")
    print(authors.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(
        f"median Spearman {authors['spearman'].median():.2f}; median Jaccard {authors['jaccard'].median():.2f}"
    )

    if not args.skip_scaling:
        print(
            "\nscaling on Barabasi-Albert graphs (m=10), 40 drugs x 600 sets x 1000 draws, no cache, one process each:"
        )
        print(scaling(threads=args.threads).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\npeak RSS of this process: {peak_rss_mb():.0f} MiB")
    return 0


def fmt(timings: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in timings.items())


if __name__ == "__main__":
    sys.exit(main())
