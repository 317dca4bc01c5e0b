"""Gene set variation analysis (GSVA) with decoupler 2's ``decoupler.mt.gsva`` scores."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.special import pdtr
from scipy.stats import rankdata

from organoidrx._registry import Method, Option, register
from organoidrx._utils import InputError, examples
from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, score
from organoidrx.scoring._kernels import _sorted_ranks

logger = logging.getLogger(__name__)

__all__ = ["gsva", "kcdf_statistic"]

Kcdf = Literal["gaussian", "poisson", "none"]

#: GSVA's table of the standard normal CDF: ``_TABLE_RESOLUTION + 1`` points from 0 to ``_TABLE_REACH``.
_TABLE_RESOLUTION = 10_000
_TABLE_REACH = 10

#: A pair's fast table index within this of an integer is recomputed with decoupler's arithmetic (the fast
#: index differs from it by about 1e-11 at most).
_MARGIN = 1e-9

#: Genes x samples of one block of the Gaussian kernel (each thread works on one block at a time).
_GAUSSIAN_CELLS = 1_000_000

#: Cells (genes x samples) of one block of the Poisson kernel with scipy's CDF.
_DENSITY_CELLS = 65_536

#: Terms (genes x samples x samples) of one block of the Poisson kernel with decoupler's CDF table: 16 MB.
_POISSON_TERMS = 2_000_000

#: Largest table of Poisson CDF values, (distinct counts) x (largest count + 1), evaluated term by term with
#: decoupler's arithmetic (128 MB, about a second compiled); count matrices needing more use scipy's CDF.
_EXACT_POISSON_TERMS = 16_000_000

#: Samples x set members gathered at once by the random walk.
_WALK_CELLS = 2_000_000


def gsva(
    expression: Any,
    gene_sets: Any,
    *,
    kcdf: Kcdf = "gaussian",
    mx_diff: bool = True,
    abs_ranking: bool = False,
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
    chunk_size: int | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    r"""Gene set variation analysis (GSVA) scores, equal to decoupler 2's ``decoupler.mt.gsva``.

    A sample's score depends on the cohort it is scored with: each gene's expression is first turned into its
    cumulative distribution over the samples given (**cohort-dependent**; ``sample_independent=False``).

    Parameters
    ----------
    expression : DataFrame of shape (n_samples, n_genes) or AnnData
        Expression of each sample (rows) and gene (columns). ``kcdf="gaussian"`` is for continuous values
        (log-expression, microarrays) and needs every gene to vary across samples; ``kcdf="poisson"`` is for
        counts (non-negative integers). Missing values are refused.
    gene_sets : DataFrame with columns ``pathway, gene``, or dict of str to list of str
        Gene sets, e.g. from :func:`organoidrx.io.read_gmt`.
    kcdf : {"gaussian", "poisson", "none"}, default="gaussian"
        Kernel of each gene's cumulative distribution over the samples: Gaussian kernel with bandwidth
        ``sd / 4``, Poisson kernel, or ``"none"`` for the empirical distribution (its ranks, cheapest).
    mx_diff : bool, default=True
        ``True``: the score is the sum of the walk's largest positive and largest negative deviations.
        ``False``: the deviation of larger magnitude (the classic Kolmogorov-Smirnov-like statistic).
    abs_ranking : bool, default=False
        With ``mx_diff=True``: the largest positive deviation *minus* the largest negative one, so a set
        enriched at both ends of the ranking scores high. Ignored when ``mx_diff=False``.
    min_size, max_size : int, default=5, 2000
        Inclusive bounds on the number of a set's genes present in ``expression`` (see
        :func:`organoidrx.scoring.score`, which also returns the per-set report).
    chunk_size : int, optional
        Samples walked at once in the scoring step; results do not depend on it.
    n_jobs : int, optional
        Threads (``None``: 1; ``-1``: all CPUs); results do not depend on it.

    Returns
    -------
    DataFrame of shape (n_samples, n_kept_sets)
        Index ``sample``, one column per kept gene set in input order; scores lie in [-1, 1].

    Raises
    ------
    InputError
        On malformed inputs or options, on a gene constant across samples with ``kcdf="gaussian"``, on values
        that are not counts with ``kcdf="poisson"``, or when no gene set survives restriction.

    Notes
    -----
    For :math:`n` samples and :math:`p` genes (Hänzelmann et al. 2013):

    1. *Kernel CDF.* For gene :math:`g` with values :math:`x_1..x_n` over the samples, the left-tail
       probability of sample :math:`j` is :math:`F_j = \frac1n \sum_{i=1}^{n} K(x_j - x_i)` and the statistic
       is its log-odds :math:`z_j = \log(F_j / (1 - F_j))`. Gaussian: :math:`K(d) = \Phi(d / h)` with
       :math:`h = \mathrm{sd}(x) / 4` (``sd`` with :math:`n - 1`), :math:`\Phi` read from GSVA's table of
       10,001 values at :math:`0, 0.001, .., 10` (index :math:`\lfloor |d/h| / 10 \cdot 10^4 \rfloor`;
       :math:`1 - \Phi` for :math:`d < 0`; 0 or 1 beyond 10 bandwidths). Poisson:
       :math:`K = P(X \le x_j \mid \lambda = x_i + 0.5)`. ``"none"``: :math:`z_j = \#\{i: x_i \le x_j\} / n`.
       With a single sample there is no distribution to estimate and :math:`z` is the expression itself.
    2. *Ranks.* In each sample the genes are ordered by decreasing :math:`z` (ties: the gene listed first comes
       first); a gene at position :math:`t \in \{0..p-1\}` of that walk has weight
       :math:`w = \lfloor |t - p/2| \rfloor`, its distance from the middle of the ranking.
    3. *Random walk.* For a set :math:`S` of :math:`k` genes at walk positions :math:`t_1 < .. < t_k` with
       weights :math:`w_1..w_k`, the walk after its :math:`m`-th member is
       :math:`W_m = \frac{\sum_{l \le m} w_l}{\sum_{l \le k} w_l} - \frac{t_m + 1 - m}{p - k}`; its largest
       positive deviation is :math:`a = \max(0, \max_m W_m)` and its largest negative deviation, just before a
       member, :math:`b = \min(0, \min_m (W_m - w_m / \sum_l w_l))`. The score is :math:`a + b` (``mx_diff``),
       :math:`a - b` (``mx_diff`` and ``abs_ranking``) or whichever of :math:`a, b` is larger in magnitude
       (:math:`b` on a tie). A set whose weights are all 0 (its genes at the middle of the ranking: one gene,
       or two with an odd :math:`p`, where two positions have weight 0) scores NaN; decoupler returns NaN
       with ``mx_diff`` alone and :math:`\pm\infty` (a division by zero) with ``abs_ranking`` or without
       ``mx_diff``.

    *Exactness.* The statistic is computed with decoupler's floating-point operations in decoupler's order:
    its normal table, its bandwidth (sums added left to right), its index arithmetic, its sum over the samples
    from the first to the last; numpy's ``log`` can round differently from the C library's, so values within a
    few units in the last place of another in their sample are recomputed with :func:`math.log`. Hence the ranks,
    ties included, and the scores are decoupler's (the test suite checks 1e-8 relative on the 22 organoids x
    12,037 genes and on seeded matrices; the differences found are 0).

    *Cost and memory.* Gaussian kernel: :math:`O(p\,n^2)` in a compiled loop (numba) over blocks of genes, one
    block per thread; a sample's kernel values against all samples are added to every running sum at once, so
    each sum receives its terms in decoupler's order, and the table index is computed with one multiplication
    and checked against decoupler's arithmetic near integers. Poisson kernel: decoupler's CDF between
    every pair of distinct counts, a table of (distinct counts) x (largest count + 1) values. The statistic
    needs every sample of a gene, so the cohort is not streamed: the statistic and the walk positions are two
    (samples x genes) arrays. The walk costs :math:`O(n\,\mathrm{nnz} \log k)` by sorting each set's positions
    (``chunk_size`` samples at a time), never walking the :math:`p` genes.

    *Against decoupler and R.* Given decoupler's column order, scores equal decoupler 2.2's ``mt.gsva``. It
    shuffles the genes with a fixed seed before ranking, which matters only where statistics tie exactly in a
    sample (``kcdf="none"``, counts, samples far from all others); after its shuffle it orders tied genes as
    here, the gene listed first walked first. Where decoupler differs from R's GSVA package this function
    follows decoupler: (i) its normal table uses Abramowitz and Stegun's approximation 7.1.26 of erf (error
    below 1.5e-7) where R tabulates ``pnorm``; (ii) for odd :math:`p` it truncates the weights :math:`|t-p/2|`
    to integers, R keeps the halves; (iii) its Poisson CDF adds the pmf term by term (``exp``, ``log``,
    ``lgamma``) and clips at 1 where R calls ``ppois``: those terms are reproduced to the last bit (with the C
    library's ``lgamma``) when the table above has at most 16 million values (e.g. 4,000 distinct counts up to
    4,000), and larger count matrices use scipy's ``pdtr`` (R's ``ppois``), where genes whose statistics
    differ only by rounding can be ordered differently from decoupler: each such swap moves a set's score by up
    to about :math:`1/(p-k)` (:math:`p` genes, :math:`k` in the set; 9.8e-5 on 12,037 genes of real counts, but
    0.07 on a contrived 40-gene matrix); (iv) ``kcdf="none"`` is the empirical CDF; (v) a single sample is ranked on its expression
    (with a warning: its scores are not on a cohort's scale). A gene constant across the samples is an error
    with the Gaussian kernel (R drops it with a warning; decoupler's kernel is undefined for it). decoupler also
    drops genes that are zero in every sample, and samples that are zero in every gene, before ranking; both are
    kept here, so drop them first to reproduce its scores on such matrices (a dropped sample changes every other
    sample's kernel CDF). The kernel sums are added in sample order, so as in decoupler reordering the samples
    can swap genes whose statistics tie to rounding (on the 22 Kong organoids, 65 of 11,726 scores moved, by at
    most 3.5e-4).

    References
    ----------
    Hänzelmann S., Castelo R., Guinney J. (2013) GSVA: gene set variation analysis for microarray and RNA-seq
    data. BMC Bioinformatics 14:7. doi:10.1186/1471-2105-14-7

    Badia-i-Mompel P. et al. (2022) decoupleR: ensemble of computational methods to infer biological activities
    from omics data. Bioinformatics Advances 2:vbac016. doi:10.1093/bioadv/vbac016

    Examples
    --------
    >>> import pandas as pd
    >>> expression = pd.DataFrame([[4.0, 3.0, 2.0, 1.0]], index=["s1"], columns=["A", "B", "C", "D"])
    >>> scores = gsva(expression, {"AC": ["A", "C"], "BD": ["B", "D"]}, min_size=1)
    >>> scores.loc["s1"].tolist()
    [1.0, -0.5]
    """
    run: Any = score
    return run(
        expression,
        gene_sets,
        method="gsva",
        min_size=min_size,
        max_size=max_size,
        chunk_size=chunk_size,
        n_jobs=n_jobs,
        kcdf=kcdf,
        mx_diff=mx_diff,
        abs_ranking=abs_ranking,
    )


# --------------------------------------------------------------------------------------------- kernel CDF
@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """Phi(i / 1000) for i = 0..10,000, exactly as decoupler tabulates it.

    decoupler evaluates erf with Abramowitz and Stegun's formula 7.1.26 in numba, whose ``exp`` is the C
    library's; ``math.exp`` is the same function (numpy's vectorised ``exp`` can differ in the last bit).
    """
    a1, a2, a3, a4, a5, a6 = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911
    x = np.arange(_TABLE_RESOLUTION + 1) * _TABLE_REACH / _TABLE_RESOLUTION
    z = x / np.sqrt(2.0)
    t = 1.0 / (1.0 + a6 * z)
    tail = np.array([math.exp(v) for v in (-z * z)])
    erf = np.sign(z) * (1.0 - (((((a5 * t + a4) * t + a3) * t + a2) * t + a1) * t * tail))
    table = 0.5 * (1.0 + erf)
    table.flags.writeable = False
    return table


def _sequential_sum(x: np.ndarray) -> np.ndarray:
    """Row sums added left to right (as a compiled loop does), not numpy's pairwise summation."""
    return np.cumsum(x, axis=1)[:, -1]


@lru_cache(maxsize=1)
def _offset_table() -> np.ndarray:
    """The kernel at every table index ``k = -10,000..10,000``, stored at ``k + 10,000``: ``Phi[k]`` for
    ``k >= 0``, ``1 - Phi[-k]`` below. Indices beyond either end take the end values 0 and 1 (decoupler's
    saturation beyond 10 bandwidths), which ``np.take(..., mode="clip")`` gives for free."""
    table = _normal_table()
    offset = np.concatenate([(1.0 - table[1:])[::-1], table])
    offset.flags.writeable = False
    return offset


def _gaussian_block(x: np.ndarray) -> np.ndarray:
    """Left-tail probabilities of the Gaussian kernel for a block ``x`` of shape (n_genes, n_samples).

    The bandwidths are summed left to right as decoupler does; the pair loop is compiled
    (:func:`organoidrx.scoring._gsva_jit.gaussian_left`) and adds each sample's kernel values in decoupler's
    order, so the sums are the same floating-point numbers, and genes that tie in decoupler tie here.
    """
    from organoidrx.scoring._gsva_jit import gaussian_left  # numba compiles (or loads) on first use

    n = x.shape[1]
    mean = _sequential_sum(x) / n
    bandwidth = np.sqrt(_sequential_sum((x - mean[:, None]) ** 2) / (n - 1)) / 4.0
    return gaussian_left(
        np.ascontiguousarray(x), bandwidth, _offset_table(), _TABLE_RESOLUTION, float(_TABLE_REACH), _MARGIN
    )


def _poisson_exact(x: np.ndarray, counts: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Left-tail probabilities of a block (n_genes, n_samples) from decoupler's Poisson CDF table ``cdf`` (a row
    per distinct count of the matrix, ``counts``, as the rate's centre; a column per count ``0..top``), added
    over the samples in their order, as decoupler does."""
    n = x.shape[1]
    rate = np.searchsorted(counts, x)
    level = x.astype(np.intp)
    terms = cdf[rate[:, None, :], level[:, :, None]]  # [g, j, i] = P(X <= x[g, j] | lambda = x[g, i] + 0.5)
    return np.cumsum(terms, axis=2)[:, :, -1] / n


def _poisson_fast(x: np.ndarray) -> np.ndarray:
    """Left-tail probabilities of a block (n_genes, n_samples) of counts from scipy's Poisson CDF between each
    gene's distinct counts, weighted by how often each occurs (decoupler's up to rounding)."""
    n = x.shape[1]
    out = np.empty(x.shape)
    for g, row in enumerate(x):
        values, inverse, counts = np.unique(row, return_inverse=True, return_counts=True)
        cdf = pdtr(values[:, None], values[None, :] + 0.5)  # P(X <= value_a | lambda = value_b + 0.5)
        out[g] = (cdf @ counts.astype(np.float64))[inverse] / n
    return out


def _poisson_kernel(values: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """The Poisson block function for this matrix and its genes per block: decoupler's exact arithmetic when
    its CDF table, (distinct counts) x (largest count + 1), is small; scipy's CDF otherwise."""
    n_samples = values.shape[0]
    counts = np.unique(values)
    top = int(counts[-1])
    if counts.size * (top + 1) > _EXACT_POISSON_TERMS:
        return _poisson_fast, max(1, _DENSITY_CELLS // n_samples)
    from organoidrx.scoring._gsva_jit import poisson_table  # numba compiles (or loads) on first use

    cdf = poisson_table(counts.astype(np.float64) + 0.5, top)
    return partial(_poisson_exact, counts=counts, cdf=cdf), max(1, _POISSON_TERMS // n_samples**2)


def _log_odds(left: np.ndarray) -> np.ndarray:
    """``-log((1 - F) / F)`` of every cell, rounded as the C library's ``log`` (which decoupler's compiled loop
    calls) wherever the rounding decides an order.

    numpy's vectorised ``log`` can differ from the C library's in the last bit. Only the order of the values
    within a sample matters (the walk ranks them), and near-equal values are common (extreme samples whose
    kernel values saturate), so every value within a few units in the last place of another in its sample is
    recomputed with :func:`math.log`. Values further apart keep their order under either ``log``.
    """
    ratio = (1.0 - left) / left
    statistic = -1.0 * np.log(ratio)
    order = np.argsort(statistic, axis=1)
    ordered = np.take_along_axis(statistic, order, axis=1)
    close = np.diff(ordered, axis=1) <= 8 * np.spacing(np.abs(ordered[:, 1:]))
    near = np.zeros(ordered.shape, dtype=bool)
    near[:, 1:] |= close
    near[:, :-1] |= close
    rows, slots = np.nonzero(near)
    columns = order[rows, slots]
    statistic[rows, columns] = [-1.0 * math.log(r) for r in ratio[rows, columns].tolist()]
    return statistic


def kcdf_statistic(values: np.ndarray, kcdf: Kcdf = "gaussian", *, n_jobs: int = 1) -> np.ndarray:
    """GSVA's per-gene statistic: each gene's kernel CDF over the samples, evaluated at each sample.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_genes)
        Finite expression; for ``"gaussian"`` no gene may be constant, for ``"poisson"`` counts.
    kcdf : {"gaussian", "poisson", "none"}
        See :func:`gsva`.
    n_jobs : int, default=1
        Threads working on blocks of genes.

    Returns
    -------
    ndarray of shape (n_samples, n_genes)
        The log-odds of the left-tail probability (``"gaussian"``, ``"poisson"``) or the empirical CDF
        (``"none"``); ``values`` itself for a single sample.
    """
    n_samples, n_genes = values.shape
    if n_samples == 1:
        return values.astype(np.float64, copy=True)
    if kcdf == "none":
        return rankdata(values, method="max", axis=0) / n_samples
    if kcdf == "gaussian":
        block: Callable[[np.ndarray], np.ndarray] = _gaussian_block
        width = max(1, _GAUSSIAN_CELLS // n_samples)
    else:
        block, width = _poisson_kernel(values)
    left = np.empty((n_samples, n_genes))

    def run(start: int) -> None:
        stop = min(start + width, n_genes)
        left[:, start:stop] = block(np.ascontiguousarray(values[:, start:stop].T)).T

    starts = range(0, n_genes, width)
    if n_jobs <= 1 or len(starts) == 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            list(pool.map(run, starts))
    return _log_odds(left)


# ---------------------------------------------------------------------------------------------- the walk
def _walk_positions(statistic: np.ndarray) -> np.ndarray:
    """0-based position of every gene in each sample's walk: decreasing statistic, ties in column order."""
    n_samples, n_genes = statistic.shape
    walk, _, _ = _sorted_ranks(-statistic)  # ascending -statistic, ties in column order
    position = np.empty((n_samples, n_genes), dtype=np.int32)
    np.put_along_axis(position, walk, np.arange(n_genes, dtype=np.int32)[None, :], axis=1)
    return position


def _set_scores(
    position: np.ndarray, members: np.ndarray, weight: np.ndarray, mx_diff: bool, abs_ranking: bool
) -> np.ndarray:
    """Scores of one set for every row of ``position`` (see the Notes of :func:`gsva`).

    The weights are integers, so the running sums are exact in int64 (numpy's integer cumsum is also several
    times faster than its float one) and equal decoupler's float sums of the same integers.
    """
    n_genes = weight.size
    k = members.size
    hits = np.sort(position[:, members], axis=1)  # walk positions t_1 < .. < t_k of the members
    hit_weight = weight[hits]
    running = np.cumsum(hit_weight, axis=1)
    total = running[:, -1:]
    misses = (hits - np.arange(k)) / (n_genes - k)  # genes outside the set walked up to t_m: t_m + 1 - m
    with np.errstate(invalid="ignore", divide="ignore"):
        after = running / total - misses  # just after each member
        before = (running - hit_weight) / total - misses  # just before it
    top = np.maximum(after.max(axis=1), 0.0)
    bottom = np.minimum(before.min(axis=1), 0.0)
    if mx_diff:
        scores = top - bottom if abs_ranking else top + bottom
    else:
        scores = np.where(np.abs(top) > np.abs(bottom), top, bottom)
    scores[total[:, 0] == 0] = np.nan
    return scores


def enrichment_walk(
    statistic: np.ndarray,
    sets: list[np.ndarray],
    *,
    mx_diff: bool = True,
    abs_ranking: bool = False,
    chunk_size: int | None = None,
    n_jobs: int = 1,
) -> np.ndarray:
    """GSVA scores of every sample (row of ``statistic``) for every set (column indices), shape (n_samples, n_sets)."""
    n_samples, n_genes = statistic.shape
    weight = np.trunc(np.abs(np.arange(n_genes) - n_genes / 2)).astype(np.int64)
    largest = max((s.size for s in sets), default=1)
    rows = chunk_size or max(1, _WALK_CELLS // largest)
    out = np.empty((n_samples, len(sets)))
    groups = [range(i, len(sets), max(1, n_jobs)) for i in range(max(1, n_jobs))]
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        position = _walk_positions(statistic[start:stop])

        def run(group: range, position: np.ndarray = position, start: int = start, stop: int = stop) -> None:
            for s in group:
                out[start:stop, s] = _set_scores(position, sets[s], weight, mx_diff, abs_ranking)

        if len(groups) == 1:
            run(groups[0])
        else:
            with ThreadPoolExecutor(max_workers=len(groups)) as pool:
                list(pool.map(run, groups))
    return out


# ------------------------------------------------------------------------------------------- the scorer
def _check_values(data: ScoringInput, kcdf: str) -> None:
    values = data.values
    if values.shape[0] < 2:
        logger.warning(
            "gsva on a single sample ranks its expression itself (a kernel CDF needs a cohort, as in decoupler); "
            "its scores are not on the scale of a cohort's: score the sample together with its cohort"
        )
    elif values.shape[0] == 2:
        logger.warning(
            "gsva on 2 samples: every gene's CDF statistic takes one of two values in each sample, so most genes "
            "tie and their order in the walk is the order of the gene columns (as in decoupler): the scores change "
            "when the genes are reordered; score 3 or more samples together"
        )
    if kcdf == "gaussian" and values.shape[0] >= 2:
        constant = np.flatnonzero(np.ptp(values, axis=0) == 0)
        if constant.size:
            raise InputError(
                f"gsva with kcdf='gaussian' needs every gene to vary across samples, but {constant.size} of "
                f"{values.shape[1]} genes are constant over the {values.shape[0]} samples (first: "
                f"{examples(data.genes[constant])}); drop them from the expression (R's GSVA drops them too)."
            )
    elif kcdf == "poisson":
        bad = (values < 0) | (values != np.round(values))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise InputError(
                f"gsva with kcdf='poisson' needs counts (non-negative integers), but {int(bad.sum())} values are "
                f"not (first: {float(values[row, col])!r} at sample {data.samples[row]!r}, gene {data.genes[col]!r}); "
                "use kcdf='gaussian' for continuous expression."
            )


def _gsva_kernel(data: ScoringInput, *, kcdf: Kcdf, mx_diff: bool, abs_ranking: bool) -> np.ndarray:
    """The registered scorer: the kernel CDF statistic, then the walk of every set."""
    _check_values(data, kcdf)
    statistic = kcdf_statistic(data.values, kcdf, n_jobs=data.n_jobs)
    return enrichment_walk(
        statistic,
        list(data.sets.values()),
        mx_diff=mx_diff,
        abs_ranking=abs_ranking,
        chunk_size=data.chunk_size,
        n_jobs=data.n_jobs,
    )


GSVA = register(
    Method(
        kind="scorer",
        name="gsva",
        summary="gene set variation analysis: random walk over genes ranked by their kernel CDF over the cohort "
        "(decoupler 2 exact; count matrices too large for its Poisson table: to rounding)",
        reference="Hänzelmann S., Castelo R., Guinney J. (2013) BMC Bioinformatics 14:7, doi:10.1186/1471-2105-14-7",
        func=_gsva_kernel,
        options=(
            Option(
                "kcdf",
                "gaussian",
                str,
                "kernel of each gene's CDF over the samples: gaussian (continuous expression), poisson (counts), "
                "none (empirical CDF)",
                choices=get_args(Kcdf),
            ),
            Option(
                "mx_diff",
                True,
                bool,
                "score = largest positive + largest negative deviation of the walk (false: the larger one)",
            ),
            Option(
                "abs_ranking",
                False,
                bool,
                "with mx_diff: largest positive minus largest negative deviation (sets enriched at both ends "
                "score high)",
            ),
        ),
        deterministic=True,
        sample_independent=False,
    )
)
