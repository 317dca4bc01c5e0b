"""Single-sample gene set enrichment analysis (ssGSEA) with gseapy-identical enrichment scores."""

from __future__ import annotations

import logging
import os
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx._validation import as_expression_frame, as_gene_set_dict, restrict_gene_sets
from organoidrx.scoring._kernels import enrichment_scores, membership_matrix

__all__ = ["ssgsea"]

logger = logging.getLogger(__name__)

Normalize = Literal["none", "range", "n_genes"]
Ties = Literal["gseapy", "average"]

_NORMALIZE = ("none", "range", "n_genes")
_TIES = ("gseapy", "average")


@overload
def ssgsea(
    expression: Any,
    gene_sets: Any,
    *,
    weight: float = ...,
    min_size: int = ...,
    max_size: int | None = ...,
    normalize: Normalize = ...,
    ties: Ties = ...,
    chunk_size: int | None = ...,
    n_jobs: int | None = ...,
    return_report: Literal[False] = ...,
) -> pd.DataFrame: ...


@overload
def ssgsea(
    expression: Any,
    gene_sets: Any,
    *,
    weight: float = ...,
    min_size: int = ...,
    max_size: int | None = ...,
    normalize: Normalize = ...,
    ties: Ties = ...,
    chunk_size: int | None = ...,
    n_jobs: int | None = ...,
    return_report: Literal[True],
) -> tuple[pd.DataFrame, pd.DataFrame]: ...


def ssgsea(
    expression: Any,
    gene_sets: Any,
    *,
    weight: float = 0.25,
    min_size: int = 15,
    max_size: int | None = 500,
    normalize: Normalize = "none",
    ties: Ties = "gseapy",
    chunk_size: int | None = None,
    n_jobs: int | None = None,
    return_report: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    r"""Single-sample GSEA pathway scores, equal to gseapy 1.3's enrichment scores.

    Parameters
    ----------
    expression : DataFrame of shape (n_samples, n_genes) or AnnData
        Expression of each sample (rows) and gene (columns); any scale, since only the order of genes within a
        sample matters. Missing values are refused (gseapy silently fills them with 0).
    gene_sets : DataFrame with columns ``pathway, gene``, or dict of str to list of str
        Gene sets, e.g. from :func:`organoidrx.io.read_gmt`.
    weight : float, default=0.25
        Exponent :math:`w \ge 0` of the rank weights (``0`` gives the unweighted Kolmogorov-Smirnov-like walk).
    min_size, max_size : int, default=15, 500
        Inclusive bounds on the number of a set's genes present in ``expression``; sets outside them are dropped
        (and reported). ``max_size=None`` means no upper bound. gseapy's defaults; Kong et al. (2020) used 2 and
        2000.
    normalize : {"none", "range", "n_genes"}, default="none"
        ``"none"``: the enrichment score ES, so each sample's score depends on that sample alone. ``"range"``:
        gseapy's NES, ES divided by max - min over the whole returned matrix; this couples every sample to the
        cohort it was scored with, so scores of new patients are not comparable with a model trained on
        another batch. ``"n_genes"``: ES divided by the number of genes in ``expression`` (the scale of gseapy
        0.9's output used by Kong et al.).
    ties : {"gseapy", "average"}, default="gseapy"
        Order of genes with equal values in a sample. ``"gseapy"`` reproduces gseapy 1.3 exactly: of tied genes,
        the one listed last in ``expression`` is walked first. The score then depends on the column order of
        tied genes. ``"average"`` places every tied gene at the mean position of its block, which is the average
        score over all orders of the block and does not depend on column order.
    chunk_size : int, optional
        Samples scored at once; the default keeps one chunk to about two million cells (roughly 130 MB of
        working memory), so memory stays bounded for cohorts of any size.
    n_jobs : int, optional
        Threads scoring chunks concurrently; ``None`` means 1 and ``-1`` all CPUs. Results do not depend on it.
    return_report : bool, default=False
        Also return the per-set report of what was restricted and dropped.

    Returns
    -------
    scores : DataFrame of shape (n_samples, n_kept_sets)
        Index ``sample`` (the rows of ``expression``), one column per kept gene set in input order.
    report : DataFrame, only if ``return_report``
        One row per input set: ``pathway, n_genes, n_present, kept, reason`` (``reason`` is ``""``, ``"fewer than
        min_size"``, ``"more than max_size"`` or ``"covers every gene"``).

    Raises
    ------
    InputError
        On malformed inputs, missing values, invalid options, or when no gene set survives restriction (the
        message shows gene ids from both sides).

    Notes
    -----
    For one sample with :math:`N` genes, let :math:`\rho_g` be the average ascending rank of gene :math:`g`
    (``sample_norm_method="rank"`` of gseapy) and :math:`r_g = (10^4 \rho_g / N)^{w}` its weight. Genes are walked
    in descending order; let :math:`q_g \in \{1..N\}` be the ascending position of :math:`g` (so the walk meets
    it at step :math:`N - q_g + 1`). For a set :math:`S` of :math:`k` genes the running sum after step :math:`i`
    is (Barbie et al. 2009)

    .. math:: RS(i) = \frac{\sum_{g \in S,\, N-q_g+1 \le i} r_g}{\sum_{g \in S} r_g}
                      - \frac{\#\{g \notin S: N-q_g+1 \le i\}}{N-k},
              \qquad ES = \sum_{i=1}^{N} RS(i).

    A gene met at step :math:`N - q_g + 1` is counted in the :math:`q_g` sums from there to step :math:`N`, so

    .. math:: ES = \frac{\sum_{g \in S} r_g q_g}{\sum_{g \in S} r_g}
                   - \frac{N(N+1)/2 - \sum_{g \in S} q_g}{N - k}.

    The three sums over members are linear in set membership: for a chunk of samples they are one sparse
    product of the (sets x genes) 0/1 membership matrix with the stacked gene vectors
    :math:`[r \circ q,\ r,\ q]`, after one sort per sample. Cost: :math:`O(N \log N + \mathrm{nnz})` per sample
    instead of :math:`O(N \cdot n_{sets})` for the walk.

    Ties: gseapy 1.3 sorts each sample ascending with a stable sort and reverses it, so :math:`q_g` is the rank
    with ties broken by column order (``rank(method="first")``). gseapy 0.9 used an unstable sort, so its
    scores differ from 1.3's (and from these) only in samples where a set's gene ties with a gene outside it.
    Sets are restricted to genes present and must hold fewer than :math:`N` genes, as in gseapy.

    References
    ----------
    Barbie D. A. et al. (2009) Systematic RNA interference reveals that oncogenic KRAS-driven cancers require
    TBK1. Nature 462:108-112. doi:10.1038/nature08460

    Fang Z., Liu X., Peltz G. (2023) GSEApy: a comprehensive package for performing gene set enrichment analysis
    in Python. Bioinformatics 39:btac757. doi:10.1093/bioinformatics/btac757

    Kong J. et al. (2020) Network-based machine learning in colorectal and bladder organoid models predicts
    anti-cancer drug efficacy in patients. Nat Commun 11:5485. doi:10.1038/s41467-020-19313-8

    Examples
    --------
    >>> import pandas as pd
    >>> expression = pd.DataFrame([[3.0, 1.0, 2.0, 0.5]], index=["s1"], columns=["A", "B", "C", "D"])
    >>> scores = ssgsea(expression, {"AC": ["A", "C"]}, weight=0.0, min_size=1)
    >>> float(scores.loc["s1", "AC"])
    2.0
    """
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not np.isfinite(weight)
        or weight < 0
    ):
        raise InputError(f"weight must be a finite number >= 0 (ssGSEA uses 0.25); got {weight!r}.")
    if normalize not in _NORMALIZE:
        raise InputError(f"normalize must be one of {', '.join(_NORMALIZE)}; got {normalize!r}.")
    if ties not in _TIES:
        raise InputError(f"ties must be one of {', '.join(_TIES)}; got {ties!r}.")
    if chunk_size is not None and (
        isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1
    ):
        raise InputError(f"chunk_size must be a positive integer or None; got {chunk_size!r}.")

    if n_jobs is None:
        n_jobs = 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0 or n_jobs < -1:
        raise InputError(f"n_jobs must be a positive integer, -1 (all CPUs) or None; got {n_jobs!r}.")
    threads = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)

    frame = as_expression_frame(expression)
    values = frame.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        row, col = np.argwhere(np.isnan(values))[0]
        n_missing = int(np.isnan(values).sum())
        raise InputError(
            f"expression has {n_missing} missing values (first at sample {frame.index[row]!r}, gene "
            f"{frame.columns[col]!r}); impute or drop them before scoring (gseapy would silently use 0)."
        )
    genes = frame.columns
    n_genes = len(genes)
    sets = as_gene_set_dict(gene_sets)
    kept, report = restrict_gene_sets(
        sets, genes, min_size=min_size, max_size=max_size, where="the expression matrix", name="gene_sets"
    )
    whole = [pathway for pathway, members in kept.items() if len(members) >= n_genes]
    if whole:
        report = report.copy()
        covers = report["pathway"].isin(whole)
        report.loc[covers, "kept"] = False
        report.loc[covers, "reason"] = "covers every gene"
        kept = {p: g for p, g in kept.items() if p not in set(whole)}
        if not kept:
            raise InputError(
                f"every gene set that passes min_size/max_size covers all {n_genes} genes of the expression "
                f"matrix ({examples(whole)}); ssGSEA needs genes outside each set."
            )
    dropped = report.loc[~report["kept"]]
    if len(dropped):
        logger.warning(
            "ssgsea: dropped %d of %d gene sets (%s); pass return_report=True for the reasons",
            len(dropped),
            len(report),
            "; ".join(f"{n} {reason}" for reason, n in dropped["reason"].value_counts().items()),
        )
        logger.debug("ssgsea: dropped gene sets: %s", examples(dropped["pathway"], n=10))

    column = {gene: j for j, gene in enumerate(genes)}
    membership = membership_matrix([[column[g] for g in members] for members in kept.values()], n_genes)
    scores = enrichment_scores(
        values, membership, weight=float(weight), ties=ties, chunk_size=chunk_size, n_jobs=threads
    )

    if normalize == "n_genes":
        scores /= n_genes
    elif normalize == "range":
        spread = float(scores.max() - scores.min())
        if spread == 0.0:
            raise InputError(
                f"normalize='range' divides by max - min of the scores, but all {scores.size} scores equal "
                f"{scores.flat[0]!r}; use normalize='none'."
            )
        scores /= spread
    result = pd.DataFrame(
        scores,
        index=pd.Index(frame.index, name="sample"),
        columns=pd.Index(list(kept), name="pathway"),
    )
    if return_report:
        return result, report.reset_index(drop=True)
    return result
