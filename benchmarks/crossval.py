"""Time the random-set cross-validation of ``organoidrx compare``: the leave-one-out kernels against the per-fold
solves they replace, on the same stacks, in one run.

    .venv/bin/python benchmarks/crossval.py              # 1,000 random sets per size, 19 organoids
    .venv/bin/python benchmarks/crossval.py --sets 200
    .venv/bin/python benchmarks/crossval.py --run-models   # only the models of `organoidrx run` (top k, nested)

The organoid pathway scores are those of ``organoidrx compare`` on the Kong et al. organoids (ssGSEA,
``normalize="n_genes"``, MSigDB v6.1 Reactome sets, 19 organoids with an IC50 for FLUOROURACIL); each size draws
random pathway sets as ``compare`` does. Ridge: ``_ridge_cv_predict`` (one batched solve per fold) against
``loo_ridge_predict``; least squares, linear SVR and kernel ridge (rbf): the registered pipeline refitted per fold (as
before) against the batched kernels (libsvm's solver compiled, for SVR), on a few sets. Then the same with a
cohort-dependent scorer (z-score), whose training organoids are rescored without the held-out one in each fold:
the column-pick kernels against the explicit per-fold stack and the pipeline refitted on each fold's matrix.
``--run-models``: the models ``organoidrx run`` tests against its random sets, with their top k refitted in
every fold (RidgeCV, least squares and rbf kernel ridge top 10, and a nested choice among ridge and least squares
with top 5 or 10), refitted per fold against the batched stack; then every registered model's CPU seconds per random set with
its top 10 refitted in every fold (the ``topk_cv_seconds`` of its registration, which the run's work guard reads).
Times are CPU seconds of this process (both BLAS and the kernel's threads included) and wall seconds.
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
    parser.add_argument("--run-models", action="store_true", help="only the run's configured models")
    args = parser.parse_args(argv)

    from organoidrx.models._crossval import _ridge_cv_predict
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
    if args.run_models:
        run_models(universe, y, folds, args.fitted_sets)
        print(f"load average after: {os.getloadavg()}")
        return 0
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
        against_pipeline(f"{name}, {len(stack)} sets of 80 pathways", name, stack, y, folds)
    per_fold(loaded, samples, y, folds, args)
    print(f"load average after: {os.getloadavg()}")
    return 0


def run_models(universe: np.ndarray, y: np.ndarray, folds: list, n_sets: int) -> None:
    """The models ``organoidrx run`` cross-validates on every random set: top k refitted in every fold."""
    from organoidrx.models import make_response_model

    rng = np.random.default_rng(2)
    picks = np.stack([rng.choice(universe.shape[1], size=80, replace=False) for _ in range(n_sets)])
    stack = universe[:, picks].transpose(1, 0, 2)
    for label, model, sets in (
        ("ridge top 10 (RidgeCV, the run's default)", make_response_model("ridge", 10), n_sets),
        ("linear top 10", make_response_model("linear", 10), n_sets),
        ("kernel ridge (rbf) top 10", make_response_model("kernel_ridge", 10), n_sets),
        (
            "nested ridge/linear x top 5/10",
            make_response_model(["ridge", "linear"], [5, 10]),
            max(1, n_sets // 4),
        ),
    ):
        against_pipeline(f"{label}, {sets} sets of 80 pathways", model, stack[:sets], y, folds)
    # the registered topk_cv_seconds: one set's cross-validation with its top 10 refitted in every fold
    from organoidrx._registry import method_names
    from organoidrx.models._crossval import _cv_predict

    # 200 sets, as a run's block of random sets: the batched kernels' fixed costs are shared by the block
    picks = np.stack([rng.choice(universe.shape[1], size=80, replace=False) for _ in range(200)])
    stack = universe[:, picks].transpose(1, 0, 2)
    for name in method_names("model"):
        sets = {"elasticnet": 1}.get(name, 200)
        _cv_predict(stack[:1], y, folds, make_response_model(name, 10), 1.0)  # compiled kernels load first
        start = time.process_time()
        _cv_predict(stack[:sets], y, folds, make_response_model(name, 10), 1.0)
        per_set = (time.process_time() - start) / sets
        print(f"{name} top 10: {per_set:.2g} CPU s per set of 80 pathways ({sets} sets)")


def per_fold(loaded, samples: list[str], y: np.ndarray, folds: list, args: argparse.Namespace) -> None:
    """A cohort-dependent scorer (z-score): each fold's training organoids rescored without the held-out one.

    The same random sets as column picks of the 19 fold tables (``PickedColumns``, what ``compare`` runs) against
    the explicit (sets x folds x organoids x pathways) stack through the per-fold solves, and against the
    registered pipeline refitted on each fold's matrix (a few sets)."""
    from organoidrx.models._crossval import _cv_predict, _ridge_cv_predict, loo_fold_features
    from organoidrx.models._loo import PickedColumns
    from organoidrx.scoring import rescorer, score

    options = {"method": "zscore", "min_size": 2, "max_size": 2000}
    scores = score(loaded.organoid_expression, loaded.gene_sets, **options)
    rescore = rescorer(loaded.organoid_expression, loaded.gene_sets, **options)
    start = clock()
    tables = loo_fold_features(scores, samples, rescore)
    print(f"zscore, {len(tables)} fold tables rescored: {since(start)}")
    universe = np.stack([t.to_numpy(dtype=float) for t in tables])
    rng = np.random.default_rng(1)
    for size in (20, 80, 360):
        picks = np.stack([rng.choice(universe.shape[2], size=size, replace=False) for _ in range(args.sets)])
        columns = PickedColumns(universe, picks)
        start = clock()
        before = _ridge_cv_predict(columns[:], y, folds, 1.0)
        old = since(start)
        start = clock()
        after = _cv_predict(columns, y, folds, "ridge", 1.0)
        new = since(start)
        print(
            f"zscore per fold, ridge, {size:3d} pathways: explicit stack, per-fold solves {old} | column picks "
            f"{new} | max abs difference {np.abs(before - after).max():.2g}"
        )
    columns = PickedColumns(universe, picks[: args.fitted_sets, :80])
    for name in ("linear", "svr", "kernel_ridge"):
        label = f"zscore per fold, {name}, {args.fitted_sets} sets of 80 pathways"
        against_pipeline(label, name, columns, y, folds)


def against_pipeline(label: str, name, X, y: np.ndarray, folds: list) -> None:
    """The registered pipeline (of every feature; or the estimator ``name``) refitted per set and fold against
    ``_cv_predict`` on the same stack (one matrix per set, or per set and fold)."""
    from organoidrx.models import make_response_pipeline
    from organoidrx.models._crossval import _cv_predict

    model = make_response_pipeline(name, top_k=None) if isinstance(name, str) else name
    start = clock()
    before = np.empty((X.shape[0], len(y)))
    for s in range(X.shape[0]):
        for f, (train, test) in enumerate(folds):
            matrix = X[s, f] if X.ndim == 4 else X[s]
            before[s, test] = clone(model).fit(matrix[train], y[train]).predict(matrix[test])
    old = since(start)
    _cv_predict(X[:1], y, folds, model, 1.0)  # compiled kernels (svr) load or compile outside the clock
    start = clock()
    after = _cv_predict(X, y, folds, model, 1.0)
    new = since(start)
    print(
        f"{label}: pipeline per fold {old} | batched {new} | max abs difference "
        f"{np.abs(before - after).max():.2g}, max relative {np.abs((before - after) / before).max():.2g}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
