"""How often proximity calls a pathway proximal when the drug is random: the calibration of z <= -1.2816.

Random "drugs" (1 to 5 targets drawn uniformly from the network's largest component) are measured against the
Reactome sets of Kong et al. on STRING > 700, under the default null (targets and pathway genes redrawn, Guney
et al. 2016) and under ``null = "targets"`` (the pathway keeps its genes). With no relation between drug and
pathway, a calibrated test calls about 10% of the rows proximal and gives uniform p-values.

Usage: ``python benchmarks/null_calibration.py [--drugs 300] [--n-random 300] [--measures closest,separation,rwr]``
(about a minute per measure and null on 2 cores with a warm distance cache; ``$ORGANOIDRX_SHARED_DATA`` or
``../shared/data``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from organoidrx._registry import get_method
from organoidrx.io import read_gmt, read_network
from organoidrx.network import PROXIMAL_Z, build_interactome, proximity

DATA = Path(os.environ.get("ORGANOIDRX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NETWORK = "networks/string_dmfind/string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz"
GENE_SETS = "kong2020/reactome_msigdb_v6.1_tcga.gmt"


def random_drugs(nodes: np.ndarray, n_drugs: int, seed: int) -> pd.DataFrame:
    """``n_drugs`` drugs of 1 to 5 distinct targets, uniform over the nodes."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_drugs):
        for node in rng.choice(nodes, size=int(rng.integers(1, 6)), replace=False):
            rows.append((f"RANDOM_{i:04d}", str(node)))
    return pd.DataFrame(rows, columns=["drug", "target"])


def summary(table: pd.DataFrame) -> dict[str, float]:
    rows = table[table["computable"] & table["z"].notna()]
    size = pd.qcut(rows["n_pathway_genes"], 4, labels=False, duplicates="drop")
    by_size = rows["proximal"].groupby(size).mean()
    return {
        "rows": len(rows),
        "z_mean": rows["z"].mean(),
        "z_sd": rows["z"].std(),
        "z_min": rows["z"].min(),
        "proximal": rows["proximal"].mean(),
        "p<=0.05": (rows["p_value"] <= 0.05).mean(),
        "p<=0.10": (rows["p_value"] <= 0.10).mean(),
        "proximal_by_size_quartile": " / ".join(f"{v:.1%}" for v in by_size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drugs", type=int, default=300)
    parser.add_argument("--n-random", type=int, default=300)
    parser.add_argument("--measures", default="closest,separation,rwr")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    graph = build_interactome(read_network(DATA / NETWORK), min_score=700)
    gene_sets = read_gmt(DATA / GENE_SETS)
    targets = random_drugs(np.asarray(graph.nodes), args.drugs, args.seed)
    print(f"{graph.n_nodes} nodes, {gene_sets['pathway'].nunique()} gene sets, {args.drugs} random drugs, "
          f"n_random={args.n_random}, proximal: z <= {PROXIMAL_Z}")  # fmt: skip
    for measure in args.measures.split(","):
        takes_null = any(o.name == "null" for o in get_method("measure", measure).options)
        for null in ("both", "targets") if takes_null else ("targets",):  # rwr's null draws the targets only
            tic = time.perf_counter()
            options = {"null": null} if takes_null else {}
            table = proximity(graph, targets, gene_sets, measure=measure, n_random=args.n_random,
                              random_state=args.seed, n_jobs=2, **options)  # fmt: skip
            row = summary(table)
            print(f"{measure:10s} null={null:7s} " + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            ) + f" ({time.perf_counter() - tic:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
