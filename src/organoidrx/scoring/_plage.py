"""PLAGE: the first singular vector of a set's standardised expression (Tomfohr et al. 2005)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from organoidrx._registry import Method, register
from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, score
from organoidrx.scoring._zscore import standardized_genes

__all__ = ["plage"]

#: Loadings (of unit norm) closer than this count as equal, and a sum this close to 0 as 0: beyond rounding noise.
_BALANCED = 1e-10


def plage(
    expression: Any,
    gene_sets: Any,
    *,
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
) -> pd.DataFrame:
    r"""PLAGE pathway activity of every sample for every gene set, as R GSVA's ``method = "plage"``.

    Each gene is standardised across the samples given and the activity is a singular vector over those
    samples, so a sample's score depends on the cohort it is scored with (**cohort-dependent**;
    ``sample_independent=False``).

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
        Index ``sample``, one column per kept gene set in input order; each column has unit norm over the
        samples.

    Raises
    ------
    InputError
        On malformed inputs, fewer than 2 samples, a constant gene in a kept set, or when no gene set survives
        restriction.

    Notes
    -----
    Let :math:`Z_S` be the (samples x genes) matrix of the set's genes standardised across the :math:`n` samples
    (mean 0, standard deviation on :math:`n - 1` degrees of freedom, R's ``scale``) and
    :math:`Z_S = U \Sigma V^\top` its singular value decomposition. The activity of the set is the first column
    :math:`u_1` of :math:`U`, the direction over the samples along which the set's genes vary most. GSVA's R
    code takes the first right singular vector of the transposed (genes x samples) matrix, the same vector.

    *Sign.* A singular vector is defined up to its sign, and LAPACK's choice is arbitrary. Here :math:`u_1` is
    oriented so that the set's genes load positively on it on average, :math:`\sum_g v_{1g} > 0`, equivalently
    so that it correlates positively with the set's mean z-score (:math:`u_1^\top Z_S \mathbf 1 = \sigma_1
    \sum_g v_{1g}`): a high score means the set's genes are high. If that sum is 0 (within 1e-10; e.g. two
    anticorrelated genes) the gene with the largest absolute loading (the first listed of equals, within
    1e-10) loads positively. Either way negating the expression negates the activity. R's scores equal these
    up to the sign of each set, except for a set that lists a gene twice: it counts once here, R's GSVA
    decomposes both copies.

    Cost: one thin SVD per set, :math:`O(n k \min(n, k))` for :math:`k` genes; memory one standardised copy
    of the (samples x genes) matrix.

    References
    ----------
    Tomfohr J., Lu J., Kepler T. B. (2005) Pathway level analysis of gene expression using singular value
    decomposition. BMC Bioinformatics 6:225. doi:10.1186/1471-2105-6-225

    Hänzelmann S., Castelo R., Guinney J. (2013) GSVA: gene set variation analysis for microarray and RNA-seq
    data. BMC Bioinformatics 14:7. doi:10.1186/1471-2105-14-7

    Examples
    --------
    >>> import pandas as pd
    >>> expression = pd.DataFrame({"A": [1.0, 2.0, 3.0], "B": [2.0, 4.0, 6.0], "C": [0.0, 1.0, 0.0]}, index=["s1", "s2", "s3"])
    >>> plage(expression, {"AB": ["A", "B"]}, min_size=1)["AB"].round(6).tolist()
    [-0.707107, 0.0, 0.707107]
    """
    run: Any = score
    return run(expression, gene_sets, method="plage", min_size=min_size, max_size=max_size)


def first_singular_vector(z: np.ndarray) -> np.ndarray:
    """The first left singular vector of ``z`` (samples x genes), oriented as :func:`plage` describes."""
    u, _, vt = np.linalg.svd(z, full_matrices=False)
    vector, loadings = u[:, 0], vt[0]
    total = loadings.sum()
    if abs(total) <= _BALANCED:  # genes pulling both ways equally: the first of the largest loadings decides
        size = np.abs(loadings)
        total = loadings[np.flatnonzero(size >= size.max() - _BALANCED)[0]]
    return -vector if total < 0 else vector


def _plage_kernel(data: ScoringInput) -> np.ndarray:
    """The registered scorer: the oriented first singular vector of every set's standardised submatrix."""
    z = standardized_genes(data, "plage")
    out = np.empty((z.shape[0], len(data.sets)))
    for s, members in enumerate(data.sets.values()):
        out[:, s] = first_singular_vector(z[:, members])
    return out


PLAGE = register(
    Method(
        kind="scorer",
        name="plage",
        summary="PLAGE: first singular vector over the cohort of the set's standardised genes, oriented so its "
        "genes load positively (R GSVA plage up to sign)",
        reference="Tomfohr J. et al. (2005) BMC Bioinformatics 6:225, doi:10.1186/1471-2105-6-225",
        func=_plage_kernel,
        deterministic=True,
        sample_independent=False,
    )
)
