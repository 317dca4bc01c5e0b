"""Time the random-set cross-validation of ``organoidrx compare``: the leave-one-out kernels against the per-fold
solves they replace, on the same stacks, in one run.

    .venv/bin/python benchmarks/crossval.py              # 1,000 random sets per size, 19 organoids
    .venv/bin/python benchmarks/crossval.py --sets 200

The organoid pathway scores are those of ``organoidrx compare`` on the Kong et al. organoids (ssGSEA,
``normalize="n_genes"``, MSigDB v6.1 Reactome sets, 19 organoids with an IC50 for FLUOROURACIL); each size draws
random pathway sets as ``compare`` does. Ridge: ``_ridge_cv_predict`` (one batched solve per fold) against
``loo_ridge_predict``; least squares, SVR and kernel ridge (rbf): the registered pipeline refitted per fold (as
before) against the batched kernels / the pipeline's steps on arrays, on a few sets. Times are CPU seconds of this process (both BLAS and
the kernel's threads included) and wall seconds.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.model_selection import LeaveOneOut

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "kong2020_coad" / "compare.toml"


def clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def since(start: tuple[float, float]) -> str:
    cpu, wall = clock()
    return f"{cpu - start[0]:6.2f} s CPU {wall - start[1]:6.2f} s wall"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument(
        "--fitted-sets", type=int, default=20, help="sets for the refitted models (default 20)"
    )
    args = parser.parse_args(argv)

    from organoidrx.models import make_response_pipeline
    from organoidrx.models._crossval import _cv_predict, _ridge_cv_predict
    from organoidrx.models._loo import loo_ridge_predict
    from organoidrx.pipeline._config import read_config
    from organoidrx.pipeline._inputs import load_inputs
    from organoidrx.scoring import score

    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} cores")
    loaded = load_inputs(read_config(CONFIG))
    scores = score(
        loaded.organoid_expression,
        loaded.gene_sets,
        method="ssgsea",
        min_size=2,
        max_size=2000,
        normalize="n_genes",
    )
    response = loaded.response
    drug = response[response["drug"] == "FLUOROURACIL"].set_index("sample")["value"]
    samples = [s for s in drug.index if s in scores.index]
    y = drug.loc[samples].to_numpy(dtype=float)
    universe = scores.loc[samples].to_numpy(dtype=float)
    folds = list(LeaveOneOut().split(universe))
    rng = np.random.default_rng(0)
    print(f"{len(samples)} organoids x {universe.shape[1]} pathways; {args.sets} random sets per size")
    for size in (20, 80, 160, 360):
        picks = np.stack([rng.choice(universe.shape[1], size=size, replace=False) for _ in range(args.sets)])
        stack = universe[:, picks].transpose(1, 0, 2)
        start = clock()
        before = _ridge_cv_predict(stack, y, folds, 1.0)
        old = since(start)
        start = clock()
        after = loo_ridge_predict(stack, y, 1.0)
        new = since(start)
        same = np.array_equal(rankdata(before, axis=1), rankdata(after, axis=1))
        print(
            f"ridge, {size:3d} pathways: per-fold solves {old} | kernel {new} | max abs difference "
            f"{np.abs(before - after).max():.2g}, ranks identical: {same}"
        )
    stack = stack[: args.fitted_sets, :, :80]
    for name in ("linear", "svr", "kernel_ridge"):
        model = make_response_pipeline(name, top_k=None)
        start = clock()
        before = np.empty(stack.shape[:2])
        for s in range(len(stack)):
            for train, test in folds:
                before[s, test] = clone(model).fit(stack[s][train], y[train]).predict(stack[s][test])
        old = since(start)
        start = clock()
        after = _cv_predict(stack, y, folds, model, 1.0)
        new = since(start)
        print(
            f"{name}, {len(stack)} sets of 80 pathways: pipeline per fold {old} | now {new} | max abs "
            f"difference {np.abs(before - after).max():.2g}"
        )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
