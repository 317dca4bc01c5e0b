"""Time organoidrx's ssGSEA against gseapy 1.3 on the same seeded synthetic matrix, in one run.

Each tool runs in its own subprocess (so its peak resident memory, ``ru_maxrss``, is its own); both build the
same inputs from the seed, score them, and hand their enrichment-score matrices back for a cell-by-cell check.

    .venv/bin/python benchmarks/ssgsea.py                      # 500 samples x 20,000 genes x 1,600 sets
    .venv/bin/python benchmarks/ssgsea.py --samples 100 --skip-gseapy
    .venv/bin/python benchmarks/ssgsea.py --zero-fraction 0.4  # RNA-seq-like ties

Peak memory is the whole process (interpreter, imports and the input matrix included); the column "above
inputs" subtracts the resident size measured just before the timed call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MIN_SIZE, MAX_SIZE = 5, 500


def make_inputs(
    n_samples: int, n_genes: int, n_sets: int, seed: int, zero_fraction: float
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Log-expression-like matrix (samples x genes) and Reactome-like sets (sizes log-uniform in 5..500)."""
    rng = np.random.default_rng(seed)
    genes = [f"GENE{j:05d}" for j in range(n_genes)]
    gene_level = rng.normal(6.0, 2.0, size=n_genes)
    values = gene_level + rng.normal(0.0, 1.0, size=(n_samples, n_genes))
    if zero_fraction > 0:
        values = np.round(np.clip(values, 0, None), 1)
        values[rng.random(values.shape) < zero_fraction] = 0.0
    expression = pd.DataFrame(values, index=[f"S{i:05d}" for i in range(n_samples)], columns=genes)
    sizes = np.exp(rng.uniform(np.log(MIN_SIZE), np.log(MAX_SIZE), size=n_sets)).astype(int)
    gene_sets = {
        f"SET{i:04d}": [genes[j] for j in rng.choice(n_genes, s, replace=False)] for i, s in enumerate(sizes)
    }
    return expression, gene_sets


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_worker(args: argparse.Namespace) -> None:
    expression, gene_sets = make_inputs(args.samples, args.genes, args.sets, args.seed, args.zero_fraction)
    if args.worker == "organoidrx":
        from organoidrx.scoring import ssgsea

        baseline = _rss_mb()
        start = time.perf_counter()
        scores = ssgsea(expression, gene_sets, min_size=MIN_SIZE, max_size=MAX_SIZE, n_jobs=args.threads)
        seconds = time.perf_counter() - start
    else:
        import gseapy

        data = expression.T  # gseapy takes genes x samples
        baseline = _rss_mb()
        start = time.perf_counter()
        result = gseapy.ssgsea(
            data, gene_sets, min_size=MIN_SIZE, max_size=MAX_SIZE, outdir=None, threads=args.threads
        ).res2d
        seconds = time.perf_counter() - start
        scores = result.pivot(index="Name", columns="Term", values="ES").astype(float)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    columns = sorted(scores.columns)
    np.save(args.out, scores.loc[expression.index, columns].to_numpy())
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "n_sets": len(columns)}))


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--sets", type=int, default=1_600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="threads for both tools (default 2)")
    parser.add_argument("--zero-fraction", type=float, default=0.0, help="share of cells set to 0 (ties)")
    parser.add_argument("--skip-gseapy", action="store_true")
    parser.add_argument("--worker", choices=["organoidrx", "gseapy"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0

    tools = ["organoidrx"] if args.skip_gseapy else ["organoidrx", "gseapy"]
    print(f"machine: {_machine()}; load average before: {os.getloadavg()}")
    print(
        f"input: {args.samples} samples x {args.genes} genes x {args.sets} sets (seed {args.seed}, "
        f"zero fraction {args.zero_fraction}), min_size={MIN_SIZE}, max_size={MAX_SIZE}, threads={args.threads}"
    )
    results, scores = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for tool in tools:
            out = Path(tmp) / f"{tool}.npy"
            command = [sys.executable, __file__, "--worker", tool, "--out", str(out)]
            command += [f"--{k}={v}" for k, v in [("samples", args.samples), ("genes", args.genes)]]
            command += [f"--sets={args.sets}", f"--seed={args.seed}", f"--threads={args.threads}"]
            command += [f"--zero-fraction={args.zero_fraction}"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            results[tool] = json.loads(done.stdout.strip().splitlines()[-1])
            scores[tool] = np.load(out)
    print(f"load average after: {os.getloadavg()}")
    print(f"{'tool':<12}{'wall s':>10}{'peak MB':>10}{'above inputs MB':>17}")
    for tool, r in results.items():
        print(f"{tool:<12}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}{r['peak_mb'] - r['baseline_mb']:>17.0f}")
    if "gseapy" in results:
        ours, theirs = scores["organoidrx"], scores["gseapy"]
        relative = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
        ratio = results["gseapy"]["seconds"] / results["organoidrx"]["seconds"]
        print(
            f"speed-up: {ratio:.1f}x; max relative ES difference: {relative.max():.2e} over {ours.size} cells"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
