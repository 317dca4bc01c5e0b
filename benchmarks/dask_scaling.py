"""Benchmark: the Dask backend (``--dask local:W``) against the single-process run, in one process run.

Run from the repository root (reads ../shared/data in place, or $ORGANOIDRX_SHARED_DATA):

    .venv/bin/python benchmarks/dask_scaling.py [--drugs 1000] [--sets 3000] [--draws 1000] [--workers 2]
        [--permutation-drugs 40] [--permutations 1000] [--skip-proximity] [--skip-permutation]

1. Proximity: ``--drugs`` synthetic drugs (1-20 targets drawn from the network's nodes) x ``--sets`` synthetic gene
   sets (10-200 genes) x ``--draws`` draws, closest measure, on STRING (combined score > 700, the network of
   benchmarks/proximity.py). The distance matrix comes from the cache (computed first when absent; not timed).
   One thread in this process, then a LocalCluster of ``--workers`` processes; the two tables must be identical.
   The null (the part sent to the cluster) is timed in both runs: efficiency = null1 / (W x nullW). The
   projection to 64 workers splits the single-process null into the tasks a 64-worker run would have (blocks of 25
   draws x drug chunks, about four per worker), adds the cluster's measured overhead beyond its share of the work
   and the scheduler's cost per task (measured with empty tasks); the observed values (sent to the workers in
   spans of drugs when the problem is large) likewise; the rest of the run (network, distances) as measured.
2. Whole-pipeline permutations: a synthetic cohort of the demo's size per drug (30 organoids, 100 treated patients
   per drug, 200 untreated; 3,000 genes, 7 pathways per drug) with ``--permutation-drugs`` drugs,
   ``run_pipeline(n_permutations=B)``, single process vs ``--workers`` processes; the permutation phase times from
   ``result.timings`` and identical survival tables.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from organoidrx import dask_backend
from organoidrx.datasets import make_synthetic_cohort
from organoidrx.io import read_network
from organoidrx.network import build_interactome, proximity, shortest_path_lengths
from organoidrx.network._proximity import _drug_chunks
from organoidrx.pipeline import run_pipeline
from proximity import STRING, machine


def _noop(task, shared):
    return task


def synthetic_work(nodes: list[str], n_drugs: int, n_sets: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    targets = [
        (f"DRUG{i:04d}", str(t))
        for i in range(n_drugs)
        for t in rng.choice(nodes, size=int(rng.integers(1, 21)), replace=False)
    ]
    sets = {
        f"SET{j:04d}": [str(g) for g in rng.choice(nodes, size=int(rng.integers(10, 201)), replace=False)]
        for j in range(n_sets)
    }
    return pd.DataFrame(targets, columns=["drug", "target"]), sets


def bench_proximity(args: argparse.Namespace) -> None:
    if not STRING.exists():
        sys.exit(f"{STRING} not found: set ORGANOIDRX_SHARED_DATA to the shared data folder")
    network = read_network(STRING, min_score=700)
    graph = build_interactome(network, min_score=None)
    shortest_path_lengths(graph, use_cache=True)  # warm the cache: not timed
    targets, sets = synthetic_work([str(n) for n in graph.nodes], args.drugs, args.sets)
    n_blocks = math.ceil(args.draws / 25)
    n_tasks = n_blocks * len(_drug_chunks(args.drugs, n_blocks, args.workers))
    n_tasks_64 = n_blocks * len(_drug_chunks(args.drugs, n_blocks, 64))
    print(
        f"proximity: {args.drugs} drugs ({len(targets)} targets) x {args.sets} sets x {args.draws} draws on "
        f"{graph.n_nodes:,} nodes; {n_tasks} tasks on {args.workers} workers, {n_tasks_64} on 64"
    )

    def run() -> tuple[pd.DataFrame, float]:
        tic = time.perf_counter()
        table = proximity(graph, targets, sets, n_random=args.draws, random_state=0, min_score=None)
        return table, time.perf_counter() - tic

    alone, t1 = run()
    null1 = alone.attrs["timings"]["null"]
    print(f"  single process (1 thread): {t1:.1f} s, of which the null {null1:.1f} s ({_phases(alone)})")
    tic = time.perf_counter()
    with dask_backend(f"local:{args.workers}") as backend:
        started = time.perf_counter() - tic
        spread, tw = run()
        tic = time.perf_counter()
        backend.map(_noop, list(range(400)))
        overhead = (time.perf_counter() - tic) / 400
    nullw = spread.attrs["timings"]["null"]
    identical = alone.to_csv(sep="\t") == spread.to_csv(sep="\t")
    print(
        f"  local:{args.workers}: {tw:.1f} s, of which the null {nullw:.1f} s ({_phases(spread)}; + {started:.1f} s "
        f"to start the cluster); identical: {identical}"
    )
    efficiency = null1 / (args.workers * nullw)
    print(
        f"  null: speed-up {null1 / nullw:.2f}x, parallel efficiency {efficiency:.2f} on {args.workers} workers"
    )
    # 64 workers from measured numbers. The null: the single-process null split into the 64-worker tasks (a
    # narrower drug chunk measures proportionally less; every task also draws all drugs' random sets, which this
    # ignores), plus the cluster's overhead beyond its share of the work and the scheduler's cost per task. The
    # observed values (on the workers in spans of drugs when the problem is large): the single-process time over
    # 64, plus the cluster's overhead beyond its share. The rest (network, distances, assembly) stays in the driver.
    obs1, obsw = alone.attrs["timings"]["observed"], spread.attrs["timings"]["observed"]
    driver = t1 - null1 - obs1
    null64 = (
        math.ceil(n_tasks_64 / 64) * (null1 / n_tasks_64)
        + max(nullw - null1 / args.workers, 0.0)
        + n_tasks_64 * overhead
    )
    obs64 = obs1 / 64 + max(obsw - obs1 / args.workers, 0.0)
    run64 = driver + obs64 + null64
    print(
        f"  scheduler {overhead * 1e3:.1f} ms per task; projected 64 workers: null {null64:.1f} s, observed "
        f"{obs64:.1f} s, driver {driver:.1f} s, run {run64:.1f} s ({t1 / run64:.1f}x)"
    )


def _phases(table: pd.DataFrame) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in table.attrs["timings"].items() if k != "null")


def bench_permutations(args: argparse.Namespace) -> None:
    drugs = [f"DRUG_{i:02d}" for i in range(args.permutation_drugs)]
    # the demo's organoids and 100 treated patients per drug (as the demo's two drugs have); 40 drugs need more
    # pathways than the demo's 120 (one community per drug)
    cohort = make_synthetic_cohort(
        n_genes=3000,
        n_pathways=max(120, 7 * len(drugs)),
        n_patients_treated=100 * len(drugs),
        drugs=drugs,
        random_state=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = cohort.write(Path(tmp) / "cohort")["config"]
        settings = {"n_permutations": args.permutations, "n_random": 200, "n_random_sets": 20}
        tic = time.perf_counter()
        alone = run_pipeline(config, Path(tmp) / "alone", report=False, **settings)
        t1 = time.perf_counter() - tic
        tic = time.perf_counter()
        spread = run_pipeline(
            config, Path(tmp) / "spread", report=False, dask=f"local:{args.workers}", **settings
        )
        tw = time.perf_counter() - tic
    p1 = sum(v for k, v in alone.timings.items() if k.startswith("permutations"))
    pw = sum(v for k, v in spread.timings.items() if k.startswith("permutations"))
    identical = alone.survival.to_csv() == spread.survival.to_csv()
    print(
        f"permutations: {len(drugs)} drugs x B = {args.permutations} on {cohort.organoid_expression.shape[0]} organoids"
    )
    print(f"  single process: permutations {p1:.1f} s (run {t1:.1f} s)")
    print(
        f"  local:{args.workers}: permutations {pw:.1f} s (run {tw:.1f} s, with cluster start); identical: {identical}"
    )
    print(f"  permutation speed-up {p1 / pw:.2f}x; efficiency {p1 / (args.workers * pw):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drugs", type=int, default=1000)
    parser.add_argument("--sets", type=int, default=3000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--permutation-drugs", type=int, default=40)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--skip-proximity", action="store_true")
    parser.add_argument("--skip-permutation", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(machine())
    if not args.skip_proximity:
        bench_proximity(args)
    if not args.skip_permutation:
        bench_permutations(args)


if __name__ == "__main__":
    main()
