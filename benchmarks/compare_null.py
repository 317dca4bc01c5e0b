"""How often `compare`'s tests pass when nothing predicts: the real organoids with their IC50s shuffled.

The Kong organoids' expression, the Reactome sets and STRING > 700 are kept; each drug's IC50s are shuffled among
its organoids (a fresh shuffle per null dataset), so no pathway can predict them. Each drug's proximal pathways
(ssGSEA, ``closest``, as the example's comparison selects them) are then cross-validated leave-one-organoid-out
against random pathway sets of the same size (``random_p``) and against themselves refitted on re-shuffled IC50s
(``shuffled_p``), as ``organoidrx compare`` does, with every random set and shuffle fitted (no early stop). A
calibrated p falls at or below 0.05 in 5% of the tests; the script prints that share for ``random_p``,
``shuffled_p`` and compare's ``p`` (the larger of the two), and how many null datasets give some drug q < 0.05
over the 42 drugs.

Usage: ``python benchmarks/compare_null.py [--datasets 100] [--sets 199] [--models ridge,kernel_ridge]`` (with a
warm distance cache; ``$ORGANOIDRX_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from organoidrx.evaluation import bh_qvalues
from organoidrx.models import cross_validate_response, proximal_pathways
from organoidrx.pipeline import read_config
from organoidrx.pipeline._compare import _estimator
from organoidrx.pipeline._inputs import load_inputs, run_proximity
from organoidrx.scoring import score

DATA = Path(os.environ.get("ORGANOIDRX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CONFIG = Path(__file__).resolve().parents[1] / "examples" / "kong2020_coad" / "compare.toml"


def shuffled(response: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each drug's values shuffled among its samples."""
    rng = np.random.default_rng(seed)
    out = response.copy()
    for _, index in out.groupby("drug").groups.items():
        out.loc[index, "value"] = rng.permutation(out.loc[index, "value"].to_numpy())
    return out


def share(values: pd.Series, level: float = 0.05) -> str:
    k, n = int((values <= level).sum()), int(values.notna().sum())
    low, high = stats.binomtest(k, n).proportion_ci(0.95)
    return f"{k / n:.1%} [{low:.1%}, {high:.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--sets", type=int, default=199)
    parser.add_argument("--models", default="ridge,kernel_ridge")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    text = CONFIG.read_text().replace("../../../shared/data", str(DATA))
    config = Path(os.environ.get("TMPDIR", "/tmp")) / "organoidrx_compare_null.toml"
    config.write_text(text)
    cfg = read_config(config)
    start = time.perf_counter()
    loaded = load_inputs(cfg)
    selection = proximal_pathways(run_proximity(cfg, loaded, None, measures=["closest"])["closest"])
    options = cfg.method_options.get("scorer", {})
    scores = score(
        loaded.organoid_expression, loaded.gene_sets, method="ssgsea", min_size=cfg.min_size,
        max_size=cfg.max_size, **options,
    )  # fmt: skip
    sets = {"closest": {d: [p for p in selection.get(d, []) if p in scores.columns] for d in loaded.drugs}}
    response = loaded.response.loc[:, ["sample", "drug", "value"]]
    print(
        f"setup {time.perf_counter() - start:.1f} s; {sum(bool(v) for v in sets['closest'].values())} drugs"
    )
    rows = []
    for model in args.models.split(","):
        t0 = time.perf_counter()
        for seed in range(args.datasets):
            table = cross_validate_response(
                scores, shuffled(response, seed), feature_sets=sets, model=_estimator(model, cfg),
                alpha=cfg.compare_alpha, n_random=args.sets, n_shuffles=args.sets, include_all=False,
                min_samples=5, random_state=seed,
            )  # fmt: skip
            rows.append(table.assign(model=model, dataset=seed))
        print(f"{model}: {args.datasets} datasets in {time.perf_counter() - t0:.0f} s")
    found = pd.concat(rows, ignore_index=True)
    found = found[found["random_p"].notna() & found["shuffled_p"].notna()]
    found["p"] = np.fmax(found["random_p"], found["shuffled_p"])
    print(f"\n{args.datasets} null datasets x 42 drugs, {args.sets} random sets and shuffles per test")
    print(
        "| model | tests | random_p <= 0.05 | shuffled_p <= 0.05 | p <= 0.05 | datasets with q < 0.05: random_p | p |"
    )
    print("|---|---|---|---|---|---|---|")
    for model, group in found.groupby("model", sort=False):
        any_q = {
            column: sum(
                bool((bh_qvalues(g[column].to_numpy()) < 0.05).any()) for _, g in group.groupby("dataset")
            )
            for column in ("random_p", "p")
        }
        print(
            f"| {model} | {len(group)} | {share(group['random_p'])} | {share(group['shuffled_p'])} | "
            f"{share(group['p'])} | {any_q['random_p']} | {any_q['p']} |"
        )
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
