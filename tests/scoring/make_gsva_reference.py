"""Write gsva_reference.json: decoupler's GSVA scores of small seeded matrices, the reference of test_gsva.py.

Run from the repository root with decoupler 2 installed (the ``test`` extra):

    .venv/bin/python tests/scoring/make_gsva_reference.py

The inputs are rebuilt from their seeds by ``make_inputs`` (imported by the test), so only decoupler's scores are
stored. decoupler shuffles the genes with ``numpy.random.default_rng(0)`` before ranking them (it breaks ties of
the statistic by that order); ``decoupler_gene_order`` gives that order, in which the test scores the same
matrix with organoidrx.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).with_name("gsva_reference.json")

#: name -> (matrix, organoidrx options); decoupler's names are kcdf (None for "none"), maxdiff, absrnk
CASES: dict[str, tuple[str, dict[str, object]]] = {
    "gaussian": ("continuous", {"kcdf": "gaussian"}),
    "gaussian_max_deviation": ("continuous", {"kcdf": "gaussian", "mx_diff": False}),
    "gaussian_abs_ranking": ("continuous", {"kcdf": "gaussian", "abs_ranking": True}),
    "ecdf": ("continuous", {"kcdf": "none"}),
    "poisson_counts": ("counts", {"kcdf": "poisson"}),
    "poisson_sparse_counts": ("sparse_counts", {"kcdf": "poisson"}),
}


def make_inputs(kind: str) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """A seeded 12 samples x 301 genes matrix (an odd gene count, where decoupler truncates the rank weights)
    and 15 random sets of 3 to 60 genes. ``kind``: ``"continuous"`` (log-expression-like), ``"counts"``
    (negative binomial, moderate means) or ``"sparse_counts"`` (about 40% zeros, many tied counts)."""
    rng = np.random.default_rng({"continuous": 11, "counts": 12, "sparse_counts": 13}[kind])
    n_samples, n_genes = 12, 301
    if kind == "continuous":
        values = rng.normal(6.0, 2.0, n_genes) + rng.normal(0.0, 1.0, (n_samples, n_genes))
    else:
        mean = np.exp(rng.normal(3.0 if kind == "counts" else 0.0, 1.5, n_genes))
        values = rng.negative_binomial(5, 5 / (5 + mean), (n_samples, n_genes)).astype(float)
        values[:, (values == 0).all(axis=0)] = 1.0  # decoupler drops genes that are zero everywhere
    genes = [f"G{j:03d}" for j in range(n_genes)]
    expression = pd.DataFrame(values, index=[f"S{i:02d}" for i in range(n_samples)], columns=genes)
    sizes = rng.integers(3, 61, size=15)
    gene_sets = {f"SET{i:02d}": sorted(rng.choice(genes, size=s, replace=False)) for i, s in enumerate(sizes)}
    return expression, gene_sets


def decoupler_gene_order(n_genes: int) -> np.ndarray:
    """The column order decoupler scores in (``decoupler.pp.data._break_ties``)."""
    return np.random.default_rng(seed=0).choice(np.arange(n_genes), n_genes, replace=False)


def decoupler_gsva(
    expression: pd.DataFrame, gene_sets: dict[str, list[str]], **options: object
) -> pd.DataFrame:
    """decoupler's ``mt.gsva`` with organoidrx's option names; every set is kept (``tmin=1``)."""
    import decoupler

    net = pd.DataFrame(
        [(p, g) for p, genes in gene_sets.items() for g in genes], columns=["source", "target"]
    )
    kcdf = options.get("kcdf", "gaussian")
    scores, _ = decoupler.mt.gsva(
        expression,
        net,
        tmin=1,
        kcdf=None if kcdf == "none" else kcdf,
        maxdiff=options.get("mx_diff", True),
        absrnk=options.get("abs_ranking", False),
    )
    return scores.loc[expression.index, list(gene_sets)]


def main() -> None:
    import decoupler

    cases = {}
    for name, (kind, options) in CASES.items():
        expression, gene_sets = make_inputs(kind)
        scores = decoupler_gsva(expression, gene_sets, **options)
        cases[name] = {"inputs": kind, "options": options, "scores": scores.to_numpy().tolist()}
    payload = {"decoupler": decoupler.__version__, "cases": cases}
    REFERENCE.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    main()
