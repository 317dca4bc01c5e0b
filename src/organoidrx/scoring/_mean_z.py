"""mean_z: the mean over a set's genes of their expression standardised across the cohort."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from organoidrx._registry import Method, register
from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, score
from organoidrx.scoring._zscore import standardized_genes

__all__ = ["mean_z"]


def mean_z(
    expression: Any,
    gene_sets: Any,
    *,
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
) -> pd.DataFrame:
    r"""Mean standardised expression of every gene set in every sample.

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
    With :math:`z_{ig} = (x_{ig} - \bar x_g) / s_g` the z-score of gene :math:`g` in sample :math:`i` over the
    :math:`n` samples (standard deviation on :math:`n - 1` degrees of freedom, R's ``scale``, as
    :func:`zscore`), the score of a set :math:`S` of :math:`k` genes is

    .. math:: \mathrm{mean\_z}_{iS} = \frac1k \sum_{g \in S} z_{ig} = \frac{\mathrm{zscore}_{iS}}{\sqrt k},

    on the scale of a single gene's z-score whatever the set's size (the combined z-score of Lee et al. 2008
    grows as :math:`\sqrt k` when the genes move together). Memory: one standardised copy of the
    (samples x genes) matrix.

    References
    ----------
    Lee E., Chuang H.-Y., Kim J.-W., Ideker T., Lee D. (2008) Inferring pathway activity toward precise disease
    classification. PLoS Comput Biol 4:e1000217. doi:10.1371/journal.pcbi.1000217

    Examples
    --------
    >>> import pandas as pd
    >>> expression = pd.DataFrame({"A": [1.0, 3.0], "B": [0.0, 4.0], "C": [2.0, 2.0]}, index=["s1", "s2"])
    >>> mean_z(expression, {"AB": ["A", "B"]}, min_size=1)["AB"].round(6).tolist()
    [-0.707107, 0.707107]
    """
    run: Any = score
    return run(expression, gene_sets, method="mean_z", min_size=min_size, max_size=max_size)


def _mean_z_kernel(data: ScoringInput) -> np.ndarray:
    """The registered scorer: the mean of the standardised genes over each set."""
    z = standardized_genes(data, "mean_z")
    sizes = np.diff(data.membership.indptr).astype(np.float64)
    return np.asarray(data.membership @ z.T).T / sizes


MEAN_Z = register(
    Method(
        kind="scorer",
        name="mean_z",
        summary="mean over the set's genes of their expression standardised across the cohort (zscore / "
        "sqrt(set size): the same features once a model standardises each pathway; compare tests them once)",
        reference="Lee E. et al. (2008) PLoS Comput Biol 4:e1000217, doi:10.1371/journal.pcbi.1000217",
        func=_mean_z_kernel,
        deterministic=True,
        sample_independent=False,
    )
)
