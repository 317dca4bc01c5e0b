"""Combined z-score (Lee et al. 2008) and the gene standardisation it shares with PLAGE and mean_z."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from organoidrx._registry import Method, register
from organoidrx._utils import InputError, examples
from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, score

__all__ = ["standardized_genes", "zscore"]


def standardized_genes(data: ScoringInput, method: str) -> np.ndarray:
    """Every gene of the kept sets centred and scaled across the samples, as R's ``scale`` (others left 0).

    Returns an array of shape (n_samples, n_genes): for each gene in a set, ``(x - mean) / sd`` over the samples
    with ``sd`` on ``n - 1`` degrees of freedom; columns of genes in no set are 0. Raises :class:`InputError` for
    fewer than 2 samples or a set gene that is constant across them.
    """
    values = data.values
    n_samples = values.shape[0]
    if n_samples < 2:
        raise InputError(
            f"{method} standardises each gene across the samples and needs at least 2; got {n_samples} "
            f"({examples(data.samples)}). Score the sample together with its cohort, or use a sample-independent "
            "scorer (ssgsea, singscore)."
        )
    used = np.unique(data.membership.indices)
    centred = values[:, used] - values[:, used].mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0) / (n_samples - 1))
    constant = used[np.ptp(values[:, used], axis=0) == 0]
    if constant.size:
        raise InputError(
            f"{method} standardises each gene across the samples, but {constant.size} of the gene sets' genes "
            f"{'is' if constant.size == 1 else 'are'} constant over the {n_samples} samples (first: "
            f"{examples(data.genes[constant])}); drop them from the expression (R's GSVA drops constant genes too)."
        )
    z = np.zeros(values.shape)
    z[:, used] = centred / scale
    return z


def zscore(
    expression: Any,
    gene_sets: Any,
    *,
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
) -> pd.DataFrame:
    r"""Combined z-score of every sample for every gene set, as R GSVA's ``method = "zscore"``.

    Each gene is standardised across the samples given, so a sample's score depends on the cohort it is scored
    with (**cohort-dependent**; ``sample_independent=False``).

    Parameters
    ----------
    expression : DataFrame of shape (n_samples, n_genes) or AnnData
        Expression of each sample (rows) and gene (columns), at least 2 samples; no gene of a kept set may be
        constant across them. Missing values are refused.
    gene_sets : DataFrame with columns ``pathway, gene``, or dict of str to list of str
        Gene sets, e.g. from :func:`organoidrx.io.read_gmt`.
    min_size, max_size : int, default=5, 2000
        Inclusive bounds on the number of a set's genes present in ``expression`` (see
        :func:`organoidrx.scoring.score`, which also returns the per-set report).

    Returns
    -------
    DataFrame of shape (n_samples, n_kept_sets)
        Index ``sample``, one column per kept gene set in input order.

    Raises
    ------
    InputError
        On malformed inputs, fewer than 2 samples, a constant gene in a kept set, or when no gene set survives
        restriction.

    Notes
    -----
    With :math:`z_{ig} = (x_{ig} - \bar x_g) / s_g`, the standardised expression of gene :math:`g` in sample
    :math:`i` (:math:`\bar x_g` and :math:`s_g` the mean and the standard deviation on :math:`n - 1` degrees of
    freedom over the :math:`n` samples, R's ``scale``), the score of a set :math:`S` of :math:`k` genes is

    .. math:: \mathrm{zscore}_{iS} = \frac{1}{\sqrt{k}} \sum_{g \in S} z_{ig},

    which is standard normal when the genes are independent (Lee et al. 2008). A gene listed twice in a set
    counts once (a set is a set, as in gseapy, decoupler and singscore); R's GSVA keeps both copies
    (``colSums(Z[idx, ]) / sqrt(length(idx))``), so its scores differ for such sets. All sets are one sparse product
    of the (sets x genes) membership matrix with the standardised matrix. Memory: one standardised copy of the
    (samples x genes) matrix.

    References
    ----------
    Lee E., Chuang H.-Y., Kim J.-W., Ideker T., Lee D. (2008) Inferring pathway activity toward precise disease
    classification. PLoS Comput Biol 4:e1000217. doi:10.1371/journal.pcbi.1000217

    Hänzelmann S., Castelo R., Guinney J. (2013) GSVA: gene set variation analysis for microarray and RNA-seq
    data. BMC Bioinformatics 14:7. doi:10.1186/1471-2105-14-7

    Examples
    --------
    >>> import pandas as pd
    >>> expression = pd.DataFrame({"A": [1.0, 3.0], "B": [0.0, 2.0], "C": [7.0, 5.0]}, index=["s1", "s2"])
    >>> zscore(expression, {"AB": ["A", "B"]}, min_size=1)["AB"].round(6).tolist()
    [-1.0, 1.0]
    """
    run: Any = score
    return run(expression, gene_sets, method="zscore", min_size=min_size, max_size=max_size)


def _zscore_kernel(data: ScoringInput) -> np.ndarray:
    """The registered scorer: sums of the standardised genes over each set, divided by sqrt(set size)."""
    z = standardized_genes(data, "zscore")
    sizes = np.diff(data.membership.indptr).astype(np.float64)
    return np.asarray(data.membership @ z.T).T / np.sqrt(sizes)


ZSCORE = register(
    Method(
        kind="scorer",
        name="zscore",
        summary="combined z-score: sum of the set's genes standardised across the cohort, over sqrt(set size) "
        "(R GSVA zscore)",
        reference="Lee E. et al. (2008) PLoS Comput Biol 4:e1000217, doi:10.1371/journal.pcbi.1000217",
        func=_zscore_kernel,
        deterministic=True,
        sample_independent=False,
    )
)
