"""Streaming ssGSEA of a cohort on disk in bounded memory, against the in-memory kernel, in one run.

Writes a seeded genes x samples Parquet file (default 11,000 samples x 20,000 genes, written one block of genes
at a time so the generator stays small) and 3,000 gene sets to a temporary folder, then in separate
subprocesses (each one's peak resident memory, ``ru_maxrss``, is its own):

* ``stream``: ``organoidrx score --memory BUDGET`` of the whole file, Parquet output;
* ``memory``: ``read_expression`` + ``score`` of the first ``--subset`` samples (a genes x samples Parquet of
  those samples), the in-memory path of today, timed on the scoring call alone.

It prints the wall time per sample of each, their ratio, the peak RSS of each, and checks that the streamed scores
of the subset's samples are the same bits as the in-memory ones.

    .venv/bin/python benchmarks/streaming.py                         # 11,000 x 20,000 x 3,000 sets, 1G budget
    .venv/bin/python benchmarks/streaming.py --samples 2000 --subset 500
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MIN_SIZE, MAX_SIZE = 5, 500
#: genes per row group of the generated file; the values are written without dictionary encoding, which is
#: what makes a genes x samples Parquet file fast to read by columns (see docs/scaling.md)
_GENE_BLOCK = 2_500


def make_inputs(folder: Path, n_samples: int, n_genes: int, n_sets: int, seed: int, subset: int) -> None:
    """``expression.parquet`` (genes x samples), ``subset.parquet`` (its first samples) and ``sets.gmt``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = np.random.SeedSequence(seed)
    level_seed, sets_seed, *block_seeds = root.spawn(2 + (n_genes + _GENE_BLOCK - 1) // _GENE_BLOCK)
    genes = [f"GENE{j:05d}" for j in range(n_genes)]
    samples = [f"S{i:05d}" for i in range(n_samples)]
    gene_level = np.random.default_rng(level_seed).normal(6.0, 2.0, size=n_genes)
    schema = pa.schema([("gene", pa.string()), *[(s, pa.float64()) for s in samples]])
    small = pa.schema([("gene", pa.string()), *[(s, pa.float64()) for s in samples[:subset]]])
    with (
        pq.ParquetWriter(folder / "expression.parquet", schema, use_dictionary=["gene"]) as whole,
        pq.ParquetWriter(folder / "subset.parquet", small, use_dictionary=["gene"]) as part,
    ):
        for b, start in enumerate(range(0, n_genes, _GENE_BLOCK)):
            stop = min(start + _GENE_BLOCK, n_genes)
            rng = np.random.default_rng(block_seeds[b])
            values = gene_level[start:stop, None] + rng.normal(0.0, 1.0, size=(stop - start, n_samples))
            arrays = [pa.array(genes[start:stop]), *[pa.array(values[:, i]) for i in range(n_samples)]]
            whole.write_table(pa.Table.from_arrays(arrays, schema=schema))
            part.write_table(pa.Table.from_arrays(arrays[: subset + 1], schema=small))
            del values, arrays
    rng = np.random.default_rng(sets_seed)
    sizes = np.exp(rng.uniform(np.log(MIN_SIZE), np.log(MAX_SIZE), size=n_sets)).astype(int)
    with open(folder / "sets.gmt", "w") as gmt:
        for i, size in enumerate(sizes):
            members = [genes[j] for j in rng.choice(n_genes, size, replace=False)]
            gmt.write("\t".join([f"SET{i:04d}", "na", *members]) + "\n")


def run_memory(folder: Path, threads: int) -> dict[str, float]:
    from organoidrx.io import read_expression, read_gmt
    from organoidrx.scoring import score

    expression = read_expression(folder / "subset.parquet")
    gene_sets = read_gmt(folder / "sets.gmt")
    start = time.perf_counter()
    scores = score(expression, gene_sets, min_size=MIN_SIZE, max_size=MAX_SIZE, n_jobs=threads)
    seconds = time.perf_counter() - start
    np.save(folder / "memory.npy", scores.to_numpy())
    return {"seconds": seconds, "n_samples": len(scores)}


def run_stream(folder: Path, threads: int, memory: str) -> dict[str, float]:
    from organoidrx.cli import main

    argv = ["--quiet", "score", "--expression", str(folder / "expression.parquet")]
    argv += ["--gene-sets", str(folder / "sets.gmt"), "--out", str(folder / "stream.parquet")]
    argv += [f"--min-size={MIN_SIZE}", f"--max-size={MAX_SIZE}", f"--threads={threads}", f"--memory={memory}"]
    start = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(code)
    return {"seconds": seconds}


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(key + ":"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=11_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--sets", type=int, default=3_000)
    parser.add_argument("--subset", type=int, default=1_000, help="samples scored in memory (default 1,000)")
    parser.add_argument("--memory", default="1G", help="streaming budget (default 1G)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--keep", default=None, help="folder to write the inputs to and keep (default: temporary)"
    )
    parser.add_argument("--worker", choices=["memory", "stream"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        folder = Path(args.folder)
        result = (
            run_memory(folder, args.threads)
            if args.worker == "memory"
            else run_stream(folder, args.threads, args.memory)
        )
        # VmHWM, not ru_maxrss: Linux carries the spawning process's peak over exec into ru_maxrss
        result["peak_mb"] = _status_kib("VmHWM") / 1024
        print(json.dumps(result))
        return 0

    os.environ.setdefault("ORGANOIDRX_CACHE_DIR", tempfile.mkdtemp(prefix="organoidrx-cache-"))
    print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(
        f"input: {args.samples:,} samples x {args.genes:,} genes (Parquet, genes x samples) x {args.sets:,} sets, "
        f"seed {args.seed}; streaming budget {args.memory}; in-memory subset {args.subset:,} samples; "
        f"threads {args.threads}"
    )
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        make_inputs(folder, args.samples, args.genes, args.sets, args.seed, args.subset)
        size = (folder / "expression.parquet").stat().st_size
        print(f"wrote inputs in {time.perf_counter() - start:.1f} s; expression.parquet {size / 1e6:,.0f} MB")
        runs: list[tuple[str, dict[str, float]]] = []
        # in memory before and after streaming: on a shared machine the load drifts during the run
        for worker in ("memory", "stream", "memory"):
            command = [sys.executable, __file__, "--worker", worker, "--folder", str(folder)]
            command += [f"--threads={args.threads}", f"--memory={args.memory}"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            runs.append((worker, json.loads(done.stdout.strip().splitlines()[-1])))
            print(f"  {worker}: {runs[-1][1]} (uptime {os.getloadavg()})")
        import pandas as pd

        streamed = pd.read_parquet(folder / "stream.parquet").iloc[: args.subset, 1:].to_numpy()
        same = np.array_equal(streamed, np.load(folder / "memory.npy"))
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    stream = runs[1][1]
    per_memory = [r["seconds"] / r["n_samples"] for w, r in runs if w == "memory"]
    per_stream = stream["seconds"] / args.samples
    print(f"{'run':<40}{'wall s':>10}{'ms/sample':>11}{'peak RSS MB':>13}")
    for worker, r in runs:
        label = (
            f"in memory, {args.subset:,} samples (score only)"
            if worker == "memory"
            else f"streaming, {args.samples:,} samples (whole CLI)"
        )
        n = r.get("n_samples", args.samples)
        print(f"{label:<40}{r['seconds']:>10.1f}{1000 * r['seconds'] / n:>11.2f}{r['peak_mb']:>13.0f}")
    mean = sum(per_memory) / len(per_memory)
    print(
        f"per-sample time ratio streaming / in memory: {per_stream / mean:.2f} (against the mean of the two "
        f"in-memory runs; {per_stream / min(per_memory):.2f} against the faster)"
    )
    print(f"streamed scores of the subset == in-memory scores (bit for bit): {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
