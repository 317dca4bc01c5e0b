"""Time organoidrx's GSVA against decoupler 2's ``mt.gsva`` on the same seeded synthetic matrix, in one run.

    .venv/bin/python benchmarks/gsva.py                       # 500 samples x 20,000 genes x 1,600 sets
    .venv/bin/python benchmarks/gsva.py --samples 100 --skip-decoupler

Both tools run in this process, organoidrx first, with 2 threads each (organoidrx ``n_jobs=2``; decoupler's numba
kernels use every core, ``NUMBA_NUM_THREADS``). Both are warmed up on a tiny matrix first, so numba's
compilation is not timed (organoidrx's compiled kernel is cached on disk after its first run; decoupler's is not). organoidrx scores the genes in decoupler's order (decoupler shuffles them with a fixed
seed before ranking), so the two score matrices are compared cell by cell. Then organoidrx's two phases (kernel
CDF statistic, random walk) are timed once more on their own.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

MIN_SET, MAX_SET = 15, 500


def make_inputs(
    n_samples: int, n_genes: int, n_sets: int, seed: int
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Log-expression-like matrix (samples x genes) and random sets (sizes log-uniform in 15..500)."""
    rng = np.random.default_rng(seed)
    genes = [f"GENE{j:05d}" for j in range(n_genes)]
    values = rng.normal(6.0, 2.0, size=n_genes) + rng.normal(0.0, 1.0, size=(n_samples, n_genes))
    expression = pd.DataFrame(values, index=[f"S{i:05d}" for i in range(n_samples)], columns=genes)
    sizes = np.exp(rng.uniform(np.log(MIN_SET), np.log(MAX_SET), size=n_sets)).astype(int)
    gene_sets = {
        f"SET{i:04d}": [genes[j] for j in rng.choice(n_genes, s, replace=False)] for i, s in enumerate(sizes)
    }
    return expression, gene_sets


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (VmHWM)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def decoupler_order(n_genes: int) -> np.ndarray:
    """The column order decoupler ranks in (``decoupler.pp.data._break_ties``)."""
    return np.random.default_rng(seed=0).choice(np.arange(n_genes), n_genes, replace=False)


def run_decoupler(expression: pd.DataFrame, gene_sets: dict[str, list[str]]) -> tuple[pd.DataFrame, float]:
    import decoupler

    net = pd.DataFrame(
        [(p, g) for p, genes in gene_sets.items() for g in genes], columns=["source", "target"]
    )
    warm, _ = make_inputs(5, 60, 1, 1)
    decoupler.mt.gsva(warm, pd.DataFrame({"source": "S", "target": warm.columns[:10]}), tmin=1)  # compile
    start = time.perf_counter()
    scores, _ = decoupler.mt.gsva(expression, net, tmin=1)
    return scores.loc[expression.index, list(gene_sets)], time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--sets", type=int, default=1_600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="organoidrx threads (default 2)")
    parser.add_argument("--skip-decoupler", action="store_true")
    args = parser.parse_args(argv)

    from organoidrx.scoring import gsva
    from organoidrx.scoring._gsva import enrichment_walk, kcdf_statistic

    print(f"machine: {machine()}; load average before: {os.getloadavg()}")
    expression, gene_sets = make_inputs(args.samples, args.genes, args.sets, args.seed)
    print(
        f"input: {args.samples} samples x {args.genes} genes x {args.sets} sets (seed {args.seed}; set sizes "
        f"{MIN_SET}-{MAX_SET}), kcdf='gaussian', mx_diff=True; organoidrx n_jobs={args.threads}"
    )
    ordered = expression.iloc[:, decoupler_order(expression.shape[1])]
    warm, _ = make_inputs(5, 60, 1, 1)
    gsva(warm, {"S": list(warm.columns[:10])}, min_size=1)  # numba: compile, or load the on-disk cache
    inputs_mb = peak_rss_mb()
    start = time.perf_counter()
    ours = gsva(ordered, gene_sets, min_size=5, max_size=MAX_SET, n_jobs=args.threads)
    seconds = time.perf_counter() - start
    print(f"organoidrx gsva: {seconds:.2f} s (peak RSS {peak_rss_mb():.0f} MB, {inputs_mb:.0f} MB before)")

    values = ordered.to_numpy()
    start = time.perf_counter()
    statistic = kcdf_statistic(values, "gaussian", n_jobs=args.threads)
    middle = time.perf_counter()
    column = {g: j for j, g in enumerate(ordered.columns)}
    sets = [np.array([column[g] for g in genes]) for genes in gene_sets.values()]
    enrichment_walk(statistic, sets, n_jobs=args.threads)
    end = time.perf_counter()
    print(f"  phases: kernel CDF statistic {middle - start:.2f} s, random walk {end - middle:.2f} s")

    if not args.skip_decoupler:
        theirs, their_seconds = run_decoupler(expression, gene_sets)
        print(f"decoupler {_version()} mt.gsva: {their_seconds:.2f} s")
        difference = np.abs(ours.to_numpy() - theirs.to_numpy())
        print(
            f"speed-up: {their_seconds / seconds:.1f}x; max abs difference {difference.max():.3g} over "
            f"{difference.size:,} cells"
        )
    print(f"load average after: {os.getloadavg()}")
    return 0


def _version() -> str:
    import decoupler

    return str(decoupler.__version__)


if __name__ == "__main__":
    sys.exit(main())
