"""Whole-pipeline permutation null: permute organoid responses within each drug and recompute a statistic."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from organoidrx._compute import active_backend
from organoidrx._utils import InputError, examples
from organoidrx._validation import as_long_table
from organoidrx.evaluation._common import note

logger = logging.getLogger(__name__)

__all__ = ["PermutationResult", "permutation_test", "permute_response"]

Response: TypeAlias = pd.DataFrame | pd.Series

#: Relative tolerance for "at least as extreme": a permutation that reproduces the observed statistic up to
#: floating-point rounding (e.g. the identity permutation) must count.
_TOLERANCE = 1e-9
#: Permutations per task on a Dask cluster (a fixed split: results do not depend on it).
_TASK = 10


@dataclass
class PermutationResult:
    """Outcome of :func:`permutation_test`."""

    observed: float
    null: np.ndarray = field(repr=False)
    p_value: float
    n_permutations: int
    alternative: str
    n_failed: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """One flat record (the null distribution summarised by its mean and standard deviation)."""
        finite = self.null[np.isfinite(self.null)]
        return {
            "observed": self.observed,
            "p_value": self.p_value,
            "n_permutations": self.n_permutations,
            "alternative": self.alternative,
            "null_mean": float(finite.mean()) if finite.size else math.nan,
            "null_sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
            "n_failed": self.n_failed,
            "n_warnings": len(self.warnings),
            "warnings": " | ".join(self.warnings),
        }

    def to_frame(self) -> pd.DataFrame:
        """The :meth:`to_dict` record as a one-row DataFrame."""
        return pd.DataFrame([self.to_dict()])


def _check_response(response: Any) -> Response:
    if isinstance(response, pd.Series):
        return response.copy()
    if isinstance(response, pd.DataFrame):
        table = as_long_table(response, ["sample", "drug", "value"], name="response")
        extra = [c for c in response.columns if c not in table.columns]
        return pd.concat([table, response[extra]], axis=1) if extra else table
    raise InputError(
        "response must be a long DataFrame with columns 'sample', 'drug', 'value' or a Series of one drug's "
        f"responses; got {type(response).__name__}."
    )


def _groups(response: Response) -> list[np.ndarray]:
    if isinstance(response, pd.Series):
        return [np.arange(len(response))]
    return [np.asarray(v) for _, v in sorted(response.groupby("drug", sort=True).indices.items())]


def _permuted(response: Response, groups: list[np.ndarray], rng: np.random.Generator) -> Response:
    if isinstance(response, pd.Series):
        values = response.to_numpy(copy=True)
        return pd.Series(
            values[rng.permutation(len(values))], index=response.index.copy(), name=response.name
        )
    values = response["value"].to_numpy(copy=True)
    shuffled = values.copy()
    for index in groups:
        shuffled[index] = values[index[rng.permutation(len(index))]]
    out = response.copy()
    out["value"] = shuffled
    return out


def _seed_sequence(random_state: int | np.random.Generator | None) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    if random_state is None:
        random_state = 0
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer) or random_state < 0:
        raise InputError(
            f"random_state must be a non-negative integer seed or a numpy Generator; got {random_state!r}."
        )
    return np.random.SeedSequence(int(random_state))


def permute_response(response: Response, random_state: int | np.random.Generator | None = 0) -> Response:
    """Shuffle drug-response values among samples within each drug (a new object; the input is untouched).

    Parameters
    ----------
    response : DataFrame with columns ``sample, drug, value`` or Series of one drug's responses
        Organoid drug responses. Sample ids and drugs stay in place; only ``value`` moves, within each drug.
    random_state : int, numpy Generator or None, default=0
        Seed; ``None`` is seed 0, not fresh entropy (results are always reproducible).

    Returns
    -------
    permuted : DataFrame or Series
        Same shape, index and columns as ``response``.
    """
    response = _check_response(response)
    return _permuted(response, _groups(response), np.random.default_rng(_seed_sequence(random_state)))


def _run_chunk(
    statistic_fn: Callable[[Response], float],
    response: Response,
    groups: list[np.ndarray],
    seeds: list[np.random.SeedSequence],
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    out = []
    for seed in seeds:
        value = statistic_fn(_permuted(response, groups, np.random.default_rng(seed)))
        out.append(float(value) if value is not None else math.nan)
        if progress is not None:
            progress(len(out), len(seeds))
    return out


def _permutation_task(seeds: list[np.random.SeedSequence], shared: tuple[Any, ...]) -> list[float]:
    """Some permutations on a Dask worker; ``shared`` (statistic, responses, groups) is sent to each worker once."""
    statistic_fn, response, groups = shared
    return _run_chunk(statistic_fn, response, groups, seeds)


def permutation_test(
    statistic_fn: Callable[[Response], float],
    response: Response,
    *,
    n_permutations: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    n_jobs: int = 1,
    alternative: Literal["greater", "less", "two-sided"] = "greater",
    progress: Callable[[int, int], None] | None = None,
) -> PermutationResult:
    """Permutation p-value of a whole-pipeline statistic under shuffled organoid drug responses.

    Parameters
    ----------
    statistic_fn : callable ``(response) -> float``
        Receives a drug-response table of the same form as ``response`` and returns the statistic (e.g. the
        log-rank chi-square of the patients split by a model fitted on that table). It is called once on the
        observed responses and once per permutation, and must not modify its argument.
    response : DataFrame with columns ``sample, drug, value``, or Series of shape (n_samples,)
        Organoid drug responses; values are permuted among samples within each drug.
    n_permutations : int, default=1000
        Number of permutations; the smallest attainable p is ``1 / (n_permutations + 1)``.
    random_state : int, numpy Generator or None, default=0
        Seed; ``None`` is seed 0, not fresh entropy (results are always reproducible). Permutation *i* uses its
        own stream spawned from this seed, so results are identical for any ``n_jobs``.
    n_jobs : int, default=1
        Parallel workers (joblib); ``-1`` uses every core. ``statistic_fn`` must then be picklable by cloudpickle
        (closures are fine).
    alternative : {"greater", "less", "two-sided"}, default="greater"
        Which null values count as at least as extreme: ``>= observed``, ``<= observed`` or
        ``|null| >= |observed|``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each permutation (with ``n_jobs != 1``: once, at the end).

    Returns
    -------
    result : PermutationResult
        ``observed``, the ``null`` array of shape (n_permutations,), ``p_value``, ``n_failed`` and ``warnings``.

    Raises
    ------
    InputError
        On a malformed ``response`` or bad options.

    Notes
    -----
    :math:`p = (1 + \\#\\{b : T_b \\ge T_{obs}\\}) / (1 + B)` (Phipson & Smyth 2010): counting the observed
    permutation keeps the test exact and p never zero. A permutation whose statistic is not finite (a failed
    fit) counts as at least as extreme as the observation, which keeps p conservative, and is reported. Values
    within :math:`10^{-9} \\max(1, |T_{obs}|)` of the observed statistic count as ties (floating-point rounding;
    relative for statistics above 1, absolute below, so give statistics on a scale near 1, as a log-rank
    chi-square or a hazard-ratio difference is).

    The p-value is honest only if ``statistic_fn`` reruns *everything* that saw the responses: model fitting,
    any choice of the number of pathways k or of the model type the user optimised, the patient predictions and
    split, and the survival statistic. Re-using pathways or hyper-parameters chosen on the real responses leaks
    the signal into every permutation and makes p too small.

    References
    ----------
    Phipson B., Smyth G. K. (2010) Permutation p-values should never be zero. Stat Appl Genet Mol Biol 9:39,
    doi:10.2202/1544-6115.1585.
    """
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, int | np.integer)
        or n_permutations < 1
    ):
        raise InputError(f"n_permutations must be a positive integer; got {n_permutations!r}.")
    if alternative not in ("greater", "less", "two-sided"):
        raise InputError(f"alternative must be 'greater', 'less' or 'two-sided'; got {alternative!r}.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise InputError(f"n_jobs must be a non-zero integer (-1 for all cores); got {n_jobs!r}.")
    if not callable(statistic_fn):
        raise InputError(f"statistic_fn must be callable; got {type(statistic_fn).__name__}.")
    notes: list[str] = []
    response = _check_response(response)
    groups = _groups(response)
    singletons = sum(len(g) < 2 for g in groups)
    if singletons:
        note(f"{singletons} drugs have a single sample and cannot be permuted", notes)
    observed = float(statistic_fn(response.copy()))
    if not math.isfinite(observed):
        note(f"the observed statistic is not finite ({observed}); no permutations run, p-value is NaN", notes)
        return PermutationResult(
            observed=observed,
            null=np.full(0, np.nan),
            p_value=math.nan,
            n_permutations=0,
            n_failed=0,
            alternative=alternative,
            warnings=notes,
        )
    seeds = _seed_sequence(random_state).spawn(int(n_permutations))
    backend = active_backend()
    if backend is not None:
        tasks = [seeds[i : i + _TASK] for i in range(0, len(seeds), _TASK)]
        null = [math.nan] * len(seeds)
        done = 0
        for i, values in backend.imap(_permutation_task, tasks, shared=(statistic_fn, response, groups)):
            null[i * _TASK : i * _TASK + len(values)] = values
            done += len(values)
            if progress is not None:
                progress(done, len(seeds))
    elif n_jobs == 1:
        null = _run_chunk(statistic_fn, response, groups, seeds, progress)
    else:
        from joblib import Parallel, delayed

        n_chunks = min(len(seeds), 4 * (n_jobs if n_jobs > 0 else 8))
        chunks = [list(c) for c in np.array_split(np.arange(len(seeds)), n_chunks)]
        parts = Parallel(n_jobs=n_jobs)(
            delayed(_run_chunk)(statistic_fn, response, groups, [seeds[i] for i in chunk]) for chunk in chunks
        )
        null = [value for part in parts for value in part]
        if progress is not None:
            progress(len(null), len(seeds))
    null_array = np.asarray(null, dtype=float)
    failed = ~np.isfinite(null_array)
    if failed.any():
        note(
            f"{int(failed.sum())} of {n_permutations} permutations gave a non-finite statistic (first at "
            f"{examples(np.flatnonzero(failed).tolist())}); they count as at least as extreme as the observation",
            notes,
        )
    tol = _TOLERANCE * max(1.0, abs(observed))
    with np.errstate(invalid="ignore"):
        if alternative == "greater":
            extreme = null_array >= observed - tol
        elif alternative == "less":
            extreme = null_array <= observed + tol
        else:
            extreme = np.abs(null_array) >= abs(observed) - tol
    p_value = float((1 + int((extreme | failed).sum())) / (1 + n_permutations))
    return PermutationResult(
        observed=observed,
        null=null_array,
        p_value=p_value,
        n_permutations=int(n_permutations),
        alternative=alternative,
        n_failed=int(failed.sum()),
        warnings=notes,
    )
