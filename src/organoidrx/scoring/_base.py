"""The one runner every pathway scorer goes through: validation, gene-set restriction, labelling of the result."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp

from organoidrx._compute import active_backend
from organoidrx._registry import Option, get_method
from organoidrx._utils import InputError, examples
from organoidrx._validation import as_expression_frame, as_gene_set_dict, restrict_gene_sets
from organoidrx.scoring._kernels import membership_matrix

__all__ = ["MAX_SIZE", "MIN_SIZE", "ScoringInput", "rescorer", "score", "streams"]

#: samples per block when a sample-independent scorer reports progress
_PROGRESS_BLOCK = 256

logger = logging.getLogger(__name__)

MIN_SIZE = Option(
    "min_size",
    5,
    int,
    "smallest number of a set's genes present in the expression; smaller sets are dropped",
    minimum=1,
)
"""Restriction to an organoid or patient panel shrinks Reactome sets; 5 present genes still give a stable
per-sample score, where gseapy's 15 drops many small pathways that proximity can select."""

MAX_SIZE = Option(
    "max_size",
    2000,
    int,
    "largest number of a set's genes present in the expression; larger sets are dropped",
    minimum=1,
)


@dataclass(frozen=True)
class ScoringInput:
    """What a scorer's kernel receives: a validated matrix and the restricted gene sets as column indices.

    Attributes
    ----------
    values : ndarray of shape (n_samples, n_genes)
        float64 expression, no missing or infinite values.
    genes : Index of length n_genes
        Gene ids of the columns.
    samples : Index of length n_samples
    sets : dict of str to ndarray of int
        Every kept gene set as column positions into ``values``, in input order.
    membership : csr_array of shape (n_sets, n_genes)
        0/1 membership of the same sets.
    chunk_size : int or None
        Samples a kernel should process at once (``None``: its own bounded default).
    n_jobs : int
        Threads a kernel may use.
    """

    values: np.ndarray
    genes: pd.Index
    samples: pd.Index
    sets: dict[str, np.ndarray]
    membership: sp.csr_array
    chunk_size: int | None = None
    n_jobs: int = 1


def _check_positive(name: str, value: Any, *, allow_all: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= 1
    if allow_all and value == -1:
        ok = True
    if not ok:
        extra = ", -1 (all CPUs)" if allow_all else ""
        raise InputError(f"{name} must be a positive integer{extra} or None; got {value!r}.")


@overload
def score(
    expression: Any,
    gene_sets: Any,
    *,
    method: str = ...,
    min_size: int = ...,
    max_size: int | None = ...,
    chunk_size: int | None = ...,
    n_jobs: int | None = ...,
    return_report: Literal[False] = ...,
    progress: Callable[[int, int], None] | None = ...,
    **options: Any,
) -> pd.DataFrame: ...


@overload
def score(
    expression: Any,
    gene_sets: Any,
    *,
    method: str = ...,
    min_size: int = ...,
    max_size: int | None = ...,
    chunk_size: int | None = ...,
    n_jobs: int | None = ...,
    return_report: Literal[True],
    progress: Callable[[int, int], None] | None = ...,
    **options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]: ...


def score(
    expression: Any,
    gene_sets: Any,
    *,
    method: str = "ssgsea",
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
    chunk_size: int | None = None,
    n_jobs: int | None = None,
    return_report: bool = False,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sample pathway scores with any registered scorer (``organoidrx methods`` lists them).

    Parameters
    ----------
    expression : DataFrame of shape (n_samples, n_genes) or AnnData
        Expression of each sample (rows) and gene (columns). Missing values are refused.
    gene_sets : DataFrame with columns ``pathway, gene``, or dict of str to list of str
        Gene sets, e.g. from :func:`organoidrx.io.read_gmt`.
    method : str, default "ssgsea"
        Registered scorer name.
    min_size, max_size : int, default 5, 2000
        Inclusive bounds on the number of a set's genes present in ``expression``; sets outside them, and sets
        that cover every gene, are dropped and reported. ``max_size=None`` means no upper bound.
    chunk_size : int, optional
        Samples scored at once (bounds the working memory); results do not depend on it.
    n_jobs : int, optional
        Threads (``None``: 1; ``-1``: all CPUs); results do not depend on it.
    return_report : bool, default False
        Also return the per-set report.
    progress : callable, optional
        Called as ``progress(done, total)`` with the samples scored so far. A sample-independent scorer then
        scores blocks of ``chunk_size`` (default 256) samples, with the same bits as one call.
    **options
        Options of the scorer (validated against its registry entry).

    Returns
    -------
    scores : DataFrame of shape (n_samples, n_kept_sets)
        Index ``sample``, columns ``pathway`` (kept sets in input order).
    report : DataFrame, only if ``return_report``
        One row per input set: ``pathway, n_genes, n_present, kept, reason``.

    Raises
    ------
    InputError
        On an unknown method or option, malformed inputs, missing values, or when no gene set survives.
    """
    scorer = get_method("scorer", method)
    resolved = scorer.resolve(options)
    if chunk_size is not None:
        _check_positive("chunk_size", chunk_size)
    if n_jobs is None:
        n_jobs = 1
    _check_positive("n_jobs", n_jobs, allow_all=True)
    threads = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
    MIN_SIZE.validate(min_size)
    if max_size is not None:
        MAX_SIZE.validate(max_size)

    frame = as_expression_frame(expression)
    source = getattr(expression, "attrs", {}).get("source")
    where = f"the expression matrix {Path(source).name}" if source else "the expression matrix"
    values = frame.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        row, col = np.argwhere(np.isnan(values))[0]
        n_missing = int(np.isnan(values).sum())
        raise InputError(
            f"{where} has {n_missing} missing values (first at sample {frame.index[row]!r}, gene "
            f"{frame.columns[col]!r}); impute or drop them before scoring (gseapy would silently use 0)."
        )
    genes = frame.columns
    n_genes = len(genes)
    flat = np.ptp(values, axis=1) == 0 if values.size and n_genes > 1 else np.zeros(len(frame), dtype=bool)
    if flat.any():
        logger.warning(
            "%d of %d samples have the same value for every gene (first: %s); no gene stands out "
            "in them (a rank-based score reflects only the order of tied genes): check the expression file",
            int(flat.sum()),
            len(frame),
            examples(frame.index[flat]),
        )
    sets = as_gene_set_dict(gene_sets)
    gmt = getattr(gene_sets, "attrs", {}).get("source")
    try:
        positions, report = kept_gene_sets(
            sets,
            genes,
            min_size=min_size,
            max_size=max_size,
            where=where,
            name=Path(gmt).name if gmt else "gene_sets",
            method=method,
        )
    except InputError as exc:
        members = {g for members_ in sets.values() for g in members_}
        if len(members & set(map(str, frame.index))) > len(members & set(map(str, genes))):
            raise InputError(
                f"{exc} The matrix looks transposed: its sample ids ({examples(frame.index)}) are gene names; a "
                "file is read genes x samples (genes as rows), a DataFrame is samples x genes."
            ) from None
        raise
    kept = positions
    data = ScoringInput(
        values=values,
        genes=pd.Index(genes),
        samples=pd.Index(frame.index),
        sets=positions,
        membership=membership_matrix([list(p) for p in positions.values()], n_genes),
        chunk_size=chunk_size,
        n_jobs=threads,
    )
    with _named(Path(source).name if source else None):
        scores = _run_scorer(
            scorer.func, data, resolved, independent=streams(method, resolved), progress=progress
        )
    if scores.shape != (len(frame), len(kept)):
        raise RuntimeError(
            f"scorer {method!r} returned shape {scores.shape}; expected {(len(frame), len(kept))}."
        )
    result = pd.DataFrame(
        scores,
        index=pd.Index(frame.index, name="sample"),
        columns=pd.Index(list(kept), name="pathway"),
    )
    if return_report:
        return result, report.reset_index(drop=True)
    return result


def _score_task(chunk: tuple[np.ndarray, pd.Index], shared: tuple[Any, ...]) -> np.ndarray:
    """Score one block of samples on a Dask worker (a sample-independent scorer gives the same bits as one call)."""
    func, template, options = shared
    values, samples = chunk
    return np.asarray(func(replace(template, values=values, samples=samples), **options), dtype=np.float64)


def kept_gene_sets(
    sets: Mapping[str, list[str]],
    genes: pd.Index,
    *,
    min_size: int,
    max_size: int | None,
    where: str,
    name: str,
    method: str,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Gene sets restricted to ``genes`` and filtered by size, as column positions; and the per-set report.

    Sets that cover every gene are dropped too (a score needs genes outside the set); the drops are logged.
    The one restriction :func:`score` and :func:`organoidrx.scoring.plan_scoring` share.
    """
    n_genes = len(genes)
    kept, report = restrict_gene_sets(
        sets, genes, min_size=min_size, max_size=max_size, where=where, name=name
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
                f"matrix ({examples(whole)}); pathway scores need genes outside each set."
            )
    dropped = report.loc[~report["kept"]]
    if len(dropped):
        logger.warning(
            "%s: dropped %d of %d gene sets (%s); the reasons: --report FILE on the command line, "
            "return_report=True in Python",
            method,
            len(dropped),
            len(report),
            "; ".join(f"{n} {reason}" for reason, n in dropped["reason"].value_counts().items()),
        )
        logger.debug("%s: dropped gene sets: %s", method, examples(dropped["pathway"], n=10))
    column = {gene: j for j, gene in enumerate(genes)}
    positions = {p: np.array([column[g] for g in members], dtype=np.intp) for p, members in kept.items()}
    return positions, report


def scorer_options(method: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The options of ``method`` picked from a mapping holding more keys (e.g. a run's settings)."""
    scorer = get_method("scorer", method)
    return {o.name: settings[o.name] for o in scorer.options if o.name in settings}


def streams(method: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether ``method`` with ``options`` scores each sample on its own (sample-independent).

    Such a scorer can stream a matrix in chunks, and a cross-validation need not rescore its training samples
    without the held-out ones; a cohort-dependent one (GSVA, z-score, PLAGE, mean_z, ssGSEA with
    ``normalize="range"``) can do neither.

    Examples
    --------
    >>> streams("ssgsea"), streams("ssgsea", {"normalize": "range"}), streams("gsva")
    (True, False, False)
    """
    scorer = get_method("scorer", method)
    coupled = scorer.attrs.get("cohort_dependent_options", {})
    given = options or {}
    return scorer.sample_independent and not any(given.get(k) == v for k, v in coupled.items())


def rescorer(
    expression: pd.DataFrame,
    gene_sets: Any,
    *,
    method: str,
    min_size: int = MIN_SIZE.default,
    max_size: int | None = MAX_SIZE.default,
    **options: Any,
) -> Callable[[pd.Index], pd.DataFrame] | None:
    """For a cohort-dependent scorer, a function that scores any subset of ``expression``'s samples as a cohort
    of their own; None when ``method`` with ``options`` scores each sample on its own (see :func:`streams`).

    This is what a cross-validation needs to keep held-out samples out of the training samples' scores
    (``rescore`` of :func:`organoidrx.models.cross_validate_response`). A subset's gene sets are those of the
    whole table, so the scorer's messages about them, already given for the whole table, are not repeated. Each
    subset is scored once: the function keeps its results (for n samples left out one at a time, n tables of
    n - 1 samples), so that several cross-validations of the same folds share them.

    Examples
    --------
    >>> import pandas as pd
    >>> expression = pd.DataFrame([[1.0, 2, 3, 4], [4, 3, 2, 1], [2, 2, 1, 3]], index=["a", "b", "c"],
    ...                           columns=["g1", "g2", "g3", "g4"])
    >>> rescore = rescorer(expression, {"up": ["g1", "g2"]}, method="zscore", min_size=1)
    >>> rescore(pd.Index(["a", "b"])).round(3).to_dict()
    {'up': {'a': -1.0, 'b': 1.0}}
    >>> rescorer(expression, {"up": ["g1", "g2"]}, method="ssgsea", min_size=1) is None
    True
    """
    if streams(method, options):
        return None

    kept: dict[tuple[str, ...], pd.DataFrame] = {}

    def rescore(samples: pd.Index) -> pd.DataFrame:
        key = tuple(map(str, samples))
        unknown = pd.Index(samples).difference(expression.index)
        if len(unknown):
            raise InputError(
                f"{len(unknown)} samples to rescore are not in the expression matrix ({examples(unknown)}); score "
                "and rescore the same samples."
            )
        if key not in kept:
            quiet = logging.getLogger("organoidrx.scoring")
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                kept[key] = score(expression.loc[samples], gene_sets, method=method, min_size=min_size,
                                  max_size=max_size, **options)  # fmt: skip
            except InputError as exc:  # e.g. a gene that varies only because of the left-out samples
                left_out = expression.index[~expression.index.isin(samples)]
                raise InputError(
                    f"{method} of the samples without {examples(left_out)} (a cross-validation fold: the held-out "
                    f"samples stay out of the others' scores): {exc}"
                ) from None
            finally:
                quiet.setLevel(level)
        return kept[key]

    return rescore


@contextlib.contextmanager
def _named(file: str | None) -> Iterator[None]:
    """A scorer's input error names the expression file it came from, as the readers' errors do."""
    try:
        yield
    except InputError as exc:
        if file is None or file in str(exc):
            raise
        raise InputError(f"{file}: {exc}") from None


def _run_scorer(
    func: Callable[..., Any],
    data: ScoringInput,
    resolved: dict[str, Any],
    *,
    independent: bool,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    """The (samples x kept sets) scores: in one call, in blocks of samples for the progress, or on a cluster."""
    values, n, kept = data.values, len(data.samples), len(data.sets)
    backend = active_backend()
    # only a scorer that scores each sample on its own may be split into blocks of samples: an option can make
    # it cohort-dependent (ssGSEA's normalize="range" divides by the whole table's range)
    if backend is not None and independent and n > 1:
        block = data.chunk_size or _PROGRESS_BLOCK
        template = replace(data, values=values[:0], samples=data.samples[:0])
        chunks = [(values[i : i + block], data.samples[i : i + block]) for i in range(0, n, block)]
        parts = [np.empty((0, kept))] * len(chunks)
        done = 0
        if progress is not None:
            progress(0, n)
        for i, part in backend.imap(
            _score_task, chunks, shared=(func, template, resolved), scatter_tasks=True
        ):
            parts[i] = part
            done += len(part)
            if progress is not None:
                progress(done, n)
        return np.concatenate(parts)
    if progress is None:
        return np.asarray(func(data, **resolved), dtype=np.float64)
    block = (data.chunk_size or _PROGRESS_BLOCK) if independent else max(n, 1)
    parts = []
    progress(0, n)
    for start in range(0, n, block):
        rows = slice(start, start + block)
        part = replace(data, values=values[rows], samples=data.samples[rows])
        parts.append(np.asarray(func(part, **resolved), dtype=np.float64))
        progress(min(start + block, n), n)
    return np.concatenate(parts) if parts else np.empty((0, kept))
