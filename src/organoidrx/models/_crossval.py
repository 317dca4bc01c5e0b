"""Organoid-side validation: cross-validated prediction of drug response from competing feature sets.

The question this answers before anything is carried to patients: do the drug-proximal pathways predict held-out
organoids better than all pathways, than random pathway sets of the same size, than the drug's target genes, and
than a whole-transcriptome ridge? Every model, including its scaling and any feature selection, is refitted
inside each fold.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.model_selection import KFold, LeaveOneOut
from sklearn.preprocessing import StandardScaler

from organoidrx._compute import active_backend
from organoidrx._utils import InputError, examples
from organoidrx._validation import as_expression_frame, as_long_table
from organoidrx.evaluation import monte_carlo_p
from organoidrx.evaluation._monte_carlo import check_stop_after
from organoidrx.models._loo import (
    PickedColumns,
    is_leave_one_out,
    kernel_ridge_estimator,
    linear_tolerance,
    loo_kernel_ridge_predict,
    loo_linear_predict,
    loo_ridge_predict,
    scaled_regressor,
    svr_estimator,
)
from organoidrx.models._nested import NestedModelSelector, nested_cv_predict
from organoidrx.models._topk import (
    kernel_topk_cv_predict,
    kernel_topk_estimator,
    standardised_fold,
    topk_cv_predict,
    topk_estimator,
)

logger = logging.getLogger(__name__)

__all__ = ["cross_validate_response", "loo_predict"]

#: ``rescore(samples) -> scores``: pathway scores of ``samples`` computed as a cohort of their own
Rescorer = Callable[[pd.Index], pd.DataFrame]

FeatureSets = Mapping[str, Sequence[str] | Mapping[str, Sequence[str]]]

_COLUMNS = [
    "drug",
    "feature_set",
    "n_features",
    "spearman",
    "pearson",
    "n_samples",
    "n_random",
    "random_spearman_median",
    "random_spearman_q025",
    "random_spearman_q975",
    "random_pearson_median",
    "random_pearson_q025",
    "random_pearson_q975",
    "random_p",
    "n_shuffles",
    "shuffled_p",
]

#: the stream of the shuffled responses, beside each set's random sets (``zlib.crc32(b"shuffles")``)
_SHUFFLE_STREAM = zlib.crc32(b"shuffles")


def cross_validate_response(
    scores: pd.DataFrame,
    response: pd.DataFrame | pd.Series,
    *,
    feature_sets: FeatureSets,
    expression: pd.DataFrame | None = None,
    model: Any = "ridge",
    alpha: float = 1.0,
    cv: Literal["loo"] | int = "loo",
    n_random: int = 100,
    random_sets_for: str | Sequence[str] | None = None,
    include_all: bool = True,
    min_samples: int = 5,
    random_state: int = 0,
    rescore: Rescorer | None = None,
    stop_after: int | None = None,
    n_shuffles: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Cross-validated correlation between predicted and observed drug response, per drug and feature set.

    Parameters
    ----------
    scores : DataFrame of shape (n_samples, n_pathways)
        Pathway scores of the preclinical models (e.g. ssGSEA of organoids); index = sample ids.
    response : DataFrame or Series
        Long table with columns ``sample, drug, value`` (one row per sample and drug), or a Series indexed by
        sample for a single drug (its ``name`` is used as the drug, ``"response"`` when unnamed).
    feature_sets : dict
        ``{name: features}`` where ``features`` is a list (same for every drug) or a dict ``{drug: list}``
        (drug-specific, e.g. the proximal pathways of each drug or its target genes). Features are columns of
        ``scores`` or of ``expression``; features absent from both are reported in a warning and skipped.
    expression : DataFrame of shape (n_samples, n_genes), optional
        Gene-level data for gene feature sets (drug targets) and the whole-transcriptome baseline. Its column
        names must not collide with pathway names.
    model : "ridge" or scikit-learn regressor, default "ridge"
        ``"ridge"`` is ``make_pipeline(StandardScaler(), Ridge(alpha=alpha))`` computed with an exact batched
        solver (all random sets of a fold in one linear-algebra call). Any other estimator (e.g. a
        :class:`~sklearn.pipeline.Pipeline` ending in :class:`~organoidrx.models.DrugResponseModel` with
        ``top_k``) is cloned and refitted in every fold, except the registered ``StandardScaler ->
        DrugResponseModel`` pipelines that keep every feature with ``linear`` or ``kernel_ridge`` (closed forms,
        batched like ridge), ``ridge`` (RidgeCV) or ``linear`` with any ``top_k`` (one batched
        eigendecomposition per fold), ``svr`` (libsvm's solver, compiled) and a :class:`NestedModelSelector`
        (each candidate as above, inside every outer fold): these give the refitted estimator's predictions for
        whole stacks of sets at once, and leave a set whose result a tie at rounding decides to the estimator.
    alpha : float, default 1.0
        Ridge penalty of the built-in model.
    cv : "loo" or int, default "loo"
        Leave-one-out, or the number of shuffled K folds (shuffled with ``random_state``).
    n_random : int, default 100
        Random feature sets drawn, of the same size, for every set in ``random_sets_for``; 0 disables them.
    random_sets_for : str or list of str, optional
        Feature sets compared with size-matched random sets; default the first entry of ``feature_sets``.
        Random features are drawn without replacement from the same matrix (pathways or genes) as the set.
    include_all : bool, default True
        Add ``"all_pathways"`` (every column of ``scores``) and, with ``expression``, ``"all_genes"``.
    min_samples : int, default 5
        Drugs with fewer matched samples are skipped with a warning.
    random_state : int, default 0
        Seed of the random sets and of shuffled K folds. Each (drug, set) draws from its own stream, so adding a
        drug does not change the others' numbers.
    rescore : callable, optional
        For scores from a cohort-dependent scorer (GSVA, z-score, PLAGE, ...): ``rescore(samples)`` returns the
        pathway scores of ``samples`` scored as a cohort of their own (same columns as ``scores``). Every fold's
        training samples then take their scores from ``rescore`` of all samples but the fold's held-out ones, so
        no held-out sample's expression enters the features a model is trained on; the held-out samples keep
        their rows of ``scores`` (scored with the others' expression, never with a response). Each distinct
        held-out group is rescored once, for every drug and feature set. Gene-level features are not rescored.
    stop_after : int, optional
        Stop fitting a set's random sets once this many reach its Spearman (sequential Monte Carlo p of Besag and
        Clifford, :func:`organoidrx.evaluation.monte_carlo_p`); ``n_random`` is then the most drawn. The sets
        drawn are the first ones of the full draw, so a set that does not stop has the same numbers as without
        ``stop_after``. Default: fit all ``n_random``.
    n_shuffles : int, default 0
        Also test every set in ``random_sets_for`` against itself with the responses shuffled among the samples
        (at most this many permutations, stopping as ``stop_after`` says): the self-contained null, that the set
        predicts no better than chance. 0 skips it.
    progress : callable, optional
        Called as ``progress(done, total)`` before each drug and once all drugs are done.

    Returns
    -------
    DataFrame
        One row per drug and feature set with columns ``drug, feature_set, n_features, spearman, pearson,
        n_samples, n_random, random_spearman_median, random_spearman_q025, random_spearman_q975,
        random_pearson_median, random_pearson_q025, random_pearson_q975, random_p``. The ``random_*`` columns
        are NaN (and ``n_random`` 0) for sets without random comparison. ``random_p`` is the one-sided empirical p
        :math:`(1 + \\#\\{r_b \\ge r\\}) / (1 + B)` of the set's Spearman :math:`r` against the :math:`B` random
        sets' Spearman correlations (with ``stop_after`` = :math:`h` reached at the :math:`L`-th set,
        :math:`h / L`); ``n_random`` is the number of random sets drawn, and the quantiles are theirs.
        ``shuffled_p`` is the same p of :math:`r` against the Spearman correlations of the same set
        cross-validated with the responses permuted (``n_shuffles`` drawn; NaN and 0 without them).

    Raises
    ------
    InputError
        On malformed inputs, duplicated (sample, drug) responses, missing values among used features, colliding
        feature names, or when no drug has ``min_samples`` matched samples.

    Notes
    -----
    Predictions of all held-out samples are pooled and correlated with the observed response (Pearson, and
    Spearman = Pearson of average ranks). With the built-in ridge, in each fold the training samples are
    standardised (:math:`z = (x - \\bar x_{train}) / s_{train}`, ``ddof=0``) and
    :math:`w = Z^\\top (Z Z^\\top + \\alpha I)^{-1} (y - \\bar y)` (or the primal form when there are fewer
    features than training samples), which is exactly scikit-learn's Ridge on the standardised data.

    The two p-values answer different questions. ``random_p`` is competitive: does the set predict better than
    sets of the same size drawn from the same matrix? A set is not exchangeable with random sets (its members are
    correlated, so it behaves like fewer, stronger features), which makes this p miscalibrated when nothing
    predicts: on organoids with shuffled responses it falls below 0.05 more often than 5% of the time, and a set
    whose Spearman is negative can beat random sets that do even worse. ``shuffled_p`` is self-contained and
    exact under the null that the responses are exchangeable among the samples, whatever the features' structure.
    In leave-one-out the permuted fits are the set's samples reordered, which the batched solvers fit as one
    stack; in K folds each permutation is fitted on the set's fixed folds.

    Leave-one-out correlations of an uninformative model are biased *below* zero: the held-out prediction leans
    towards the mean of the other samples, which moves against the held-out value. Judge a feature set against
    the random sets and ``all_pathways`` rather than against 0.

    References
    ----------
    Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8.
    Maeser D. et al. (2021) oncoPredict, Brief Bioinform 22:bbab260, doi:10.1093/bib/bbab260.
    """
    scores = as_expression_frame(scores, name="scores")
    genes = None if expression is None else as_expression_frame(expression, name="expression")
    if genes is not None:
        clash = sorted(set(scores.columns) & set(genes.columns))
        if clash:
            raise InputError(
                f"scores and expression share {len(clash)} column names ({examples(clash)}); rename them so "
                "pathways and genes can be told apart."
            )
    if isinstance(n_random, bool) or not isinstance(n_random, int | np.integer) or n_random < 0:
        raise InputError(f"n_random must be a non-negative integer; got {n_random!r}.")
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, int | np.integer) or n_shuffles < 0:
        raise InputError(f"n_shuffles must be a non-negative integer; got {n_shuffles!r}.")
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise InputError(f"random_state must be an integer seed; got {random_state!r}.")
    if not feature_sets:
        raise InputError("feature_sets is empty; give at least one {name: features} entry.")
    table = _response_table(response)
    if random_sets_for is None:
        randomised = [next(iter(feature_sets))]
    else:
        randomised = [random_sets_for] if isinstance(random_sets_for, str) else list(random_sets_for)
    unknown = [r for r in randomised if r not in feature_sets]
    if unknown:
        raise InputError(
            f"random_sets_for names {examples(unknown)}, which are not in feature_sets ({examples(feature_sets)})."
        )

    samples = scores.index if genes is None else scores.index.intersection(genes.index, sort=False)
    if genes is not None and len(samples) < len(scores.index):
        logger.warning(
            "%d of %d samples of scores have no expression and are left out: %s",
            len(scores.index) - len(samples),
            len(scores.index),
            examples(scores.index.difference(samples)),
        )
    drugs = list(dict.fromkeys(table["drug"]))
    settings = _DrugSettings(
        table, scores, genes, samples, feature_sets, randomised, model, alpha, cv, n_random, include_all,
        min_samples, int(random_state), check_stop_after(stop_after), int(n_shuffles),
    )  # fmt: skip
    if rescore is not None:
        settings = replace(settings, fold_scores=_fold_scores(drugs, settings, rescore))
    rows: list[dict[str, Any]] = []
    backend = active_backend()
    if backend is not None and len(drugs) > 1:
        per_drug: list[list[dict[str, Any]]] = [[] for _ in drugs]
        if progress is not None:
            progress(0, len(drugs))
        done = 0
        for i, drug_rows in backend.imap(_drug_task, drugs, shared=settings):
            per_drug[i] = drug_rows
            done += 1
            if progress is not None and done < len(drugs):
                progress(done, len(drugs))
        rows = [row for drug_rows in per_drug for row in drug_rows]
    else:
        for done, drug in enumerate(drugs):
            if progress is not None:
                progress(done, len(drugs))
            rows.extend(_drug_rows(drug, settings))
    if not rows:
        raise InputError(
            f"no drug could be tested: each has fewer than min_samples={min_samples} samples with both a response "
            "and scores, or the same response for all of them (the warnings name them); response samples look "
            f"like {examples(table['sample'].unique())}, scores has {examples(scores.index)}."
        )
    if progress is not None:
        progress(len(drugs), len(drugs))
    return pd.DataFrame(rows).reindex(columns=_COLUMNS)


def loo_predict(
    estimator: Any, X: pd.DataFrame, y: Any, *, fold_features: Sequence[pd.DataFrame] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """Leave-one-out predictions of an estimator, each fold optionally with features of its own.

    Parameters
    ----------
    estimator : scikit-learn regressor
        Cloned and fitted on the other samples for every held-out sample.
    X : DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    fold_features : list of DataFrame, optional
        ``fold_features[i]``, shaped as ``X``, replaces ``X`` when sample ``i`` is held out: e.g. the training
        samples' pathway scores computed without sample ``i`` (see ``rescore`` of :func:`cross_validate_response`).

    Returns
    -------
    predictions : ndarray of shape (n_samples,)
        Without ``fold_features``, equal to ``cross_val_predict(estimator, X, y, cv=LeaveOneOut())``.
    fitted : list
        The estimator fitted in each fold (e.g. to read which candidate a nested selector chose).
    """
    y_arr = np.asarray(y, dtype=float)
    n = len(y_arr)
    if fold_features is not None and (
        len(fold_features) != n or any(f.shape != X.shape for f in fold_features)
    ):
        raise ValueError(f"fold_features must hold {n} tables shaped as X {X.shape}.")
    pred = np.empty(n)
    fitted = []
    for i, (train, test) in enumerate(LeaveOneOut().split(np.zeros((n, 1)))):
        features = X if fold_features is None else fold_features[i]
        model = clone(estimator).fit(features.iloc[train], y_arr[train])
        pred[test] = model.predict(features.iloc[test])
        fitted.append(model)
    return pred, fitted


@dataclass(frozen=True)
class _DrugSettings:
    """What the cross-validation of one drug needs (sent once to every Dask worker)."""

    table: pd.DataFrame
    scores: pd.DataFrame
    genes: pd.DataFrame | None
    samples: pd.Index
    feature_sets: FeatureSets
    randomised: list[str]
    model: Any
    alpha: float
    cv: Literal["loo"] | int
    n_random: int
    include_all: bool
    min_samples: int
    random_state: int
    stop_after: int | None
    n_shuffles: int
    #: scores of every sample but each held-out group (``rescore``), by the held-out sample ids
    fold_scores: dict[frozenset[str], pd.DataFrame] | None = None


def _fold_scores(
    drugs: list[str], settings: _DrugSettings, rescore: Rescorer
) -> dict[frozenset[str], pd.DataFrame]:
    """``rescore`` of all samples but each distinct held-out group of the drugs' folds."""
    groups: list[frozenset[str]] = []
    for drug in drugs:
        matched, _ = _drug_samples(drug, settings)
        if len(matched) >= settings.min_samples:
            folds = _folds(len(matched), settings.cv, settings.random_state)
            groups.extend(frozenset(matched[i] for i in test) for _, test in folds)
    return _rescored(settings.scores, groups, rescore)


def _rescored(
    scores: pd.DataFrame, groups: Sequence[frozenset[str]], rescore: Rescorer
) -> dict[frozenset[str], pd.DataFrame]:
    result = {}
    for group in dict.fromkeys(groups):
        kept = scores.index[~scores.index.isin(list(group))]
        frame = rescore(kept)
        if list(frame.columns) != list(scores.columns) or not frame.index.equals(kept):
            raise RuntimeError(
                "rescore returned other samples or pathways than scores has: "
                f"{examples(frame.columns.symmetric_difference(scores.columns))}."
            )
        result[group] = frame
    return result


def loo_fold_features(scores: pd.DataFrame, samples: Sequence[str], rescore: Rescorer) -> list[pd.DataFrame]:
    """The features of each leave-one-out fold over ``samples`` under ``rescore`` (see
    :func:`cross_validate_response`): ``scores`` of ``samples``, the training rows rescored without the held-out
    sample. For ``fold_features`` of :func:`loo_predict`."""
    samples = list(samples)
    folds = _folds(len(samples), "loo", 0)
    groups = [frozenset(samples[i] for i in test) for _, test in folds]
    return cast(list[pd.DataFrame], _universe(scores, samples, folds, _rescored(scores, groups, rescore)))


def _drug_samples(drug: str, settings: _DrugSettings) -> tuple[list[str], pd.Series]:
    """The drug's samples with both a response and scores, in sorted order (the folds, random sets and shuffles
    do not depend on the order of the response table's rows), and all its responses."""
    table, samples = settings.table, settings.samples
    y_all = table.loc[table["drug"] == drug].set_index("sample")["value"]
    present = set(samples)
    return sorted((s for s in y_all.index if s in present), key=str), y_all


def _drug_task(drug: str, settings: _DrugSettings) -> list[dict[str, Any]]:
    return _drug_rows(drug, settings)


def _drug_rows(drug: str, settings: _DrugSettings) -> list[dict[str, Any]]:
    """The rows of one drug: every feature set's CV correlations and its random-set null."""
    scores, genes, samples = settings.scores, settings.genes, settings.samples
    model, alpha, cv, n_random = settings.model, settings.alpha, settings.cv, settings.n_random
    min_samples, random_state = settings.min_samples, settings.random_state
    rows: list[dict[str, Any]] = []
    matched, y_all = _drug_samples(drug, settings)
    _report_unmatched(drug, y_all.index, samples, matched)
    if len(matched) < min_samples:
        logger.warning(
            "drug %r: only %d samples with both response and scores (min_samples=%d); skipped",
            drug,
            len(matched),
            min_samples,
        )
        return rows
    y = y_all.loc[matched].to_numpy(dtype=float)
    if np.ptp(y) == 0:  # no Spearman for any set: every random set and shuffle would be fitted for nothing
        logger.warning(
            "drug %r: all %d samples have the same response (%g); there is nothing to predict: skipped",
            drug,
            len(y),
            y[0],
        )
        return rows
    folds = _folds(len(matched), cv, random_state)
    sets = _sets_for_drug(drug, settings.feature_sets, scores, genes, settings.include_all)
    pathway_universe: pd.DataFrame | list[pd.DataFrame] | None = None
    for set_name, features in sets.items():
        source = _source_of(features, scores, genes)
        row: dict[str, Any] = {
            "drug": drug,
            "feature_set": set_name,
            "n_features": len(features),
            "n_samples": len(matched),
            "n_random": 0,
            "n_shuffles": 0,
        }
        if not features:
            logger.warning(
                "drug %r: feature set %r is empty (nothing selected for this drug, or none of its features in the "
                "data); not tested",
                drug,
                set_name,
            )
            rows.append(row | {"spearman": np.nan, "pearson": np.nan})
            continue
        if source is not scores:
            universe = source.loc[matched]
        else:
            if pathway_universe is None:
                pathway_universe = _universe(scores, matched, folds, settings.fold_scores)
            universe = pathway_universe
        X = _matrix(universe, matched, features, set_name)
        pred = _cv_predict(X, y, folds, model, alpha)
        spearman, pearson = _correlations(pred, y)
        row |= {"spearman": spearman[0], "pearson": pearson[0]}
        if set_name in settings.randomised and n_random > 0:
            row |= _random_summary(
                universe, len(features), y, folds, model, alpha, n_random, spearman[0], pearson[0],
                seed=(int(random_state), zlib.crc32(str(drug).encode()), zlib.crc32(set_name.encode())),
                stop_after=settings.stop_after,
            )  # fmt: skip
        if set_name in settings.randomised and settings.n_shuffles > 0:
            row |= _shuffle_summary(
                X, y, folds, model, alpha, settings.n_shuffles, spearman[0],
                seed=(int(random_state), zlib.crc32(str(drug).encode()), zlib.crc32(set_name.encode()),
                      _SHUFFLE_STREAM),
                stop_after=settings.stop_after,
            )  # fmt: skip
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- inputs
def _response_table(response: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(response, pd.Series):
        drug = "response" if response.name is None else str(response.name)
        table = pd.DataFrame(
            {"sample": response.index.astype(str), "drug": drug, "value": response.to_numpy()}
        )
    else:
        table = as_long_table(response, ["sample", "drug", "value"], name="response")
        table["sample"] = table["sample"].astype(str)
        table["drug"] = table["drug"].astype(str)
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = table.loc[values.isna() & table["value"].notna(), "value"]
    if len(bad):
        raise InputError(
            f"response column 'value' must be numeric; found {examples(bad.unique())}. Convert or remove them."
        )
    table["value"] = values
    duplicated = table[table.duplicated(["sample", "drug"])]
    if len(duplicated):
        first = tuple(duplicated.iloc[0][["sample", "drug"]])
        raise InputError(
            f"response has {len(duplicated)} duplicated (sample, drug) rows (first: {first!r}); "
            "aggregate replicates (e.g. median) first."
        )
    missing = table["value"].isna()
    if missing.any():
        logger.warning(
            "response: %d missing values are left out (first: %s)",
            int(missing.sum()),
            examples(list(zip(table.loc[missing, "sample"], table.loc[missing, "drug"], strict=True))),
        )
        table = table.loc[~missing]
    return table.reset_index(drop=True)


def _report_unmatched(drug: str, wanted: pd.Index, samples: pd.Index, matched: list[str]) -> None:
    unmatched = [s for s in wanted if s not in set(matched)]
    if not unmatched:
        return
    lower = {s.lower() for s in samples}
    case_only = [s for s in unmatched if s.lower() in lower]
    hint = (
        f"; {len(case_only)} of them match ignoring case ({examples(case_only)}): harmonise the sample ids"
        if case_only
        else ""
    )
    logger.warning(
        "drug %r: %d of %d samples with a response have no scores and are left out: %s%s",
        drug,
        len(unmatched),
        len(wanted),
        examples(unmatched),
        hint,
    )


def _sets_for_drug(
    drug: str,
    feature_sets: FeatureSets,
    scores: pd.DataFrame,
    genes: pd.DataFrame | None,
    include_all: bool,
) -> dict[str, list[str]]:
    available = set(scores.columns) | (set() if genes is None else set(genes.columns))
    sets: dict[str, list[str]] = {}
    for name, spec in feature_sets.items():
        if isinstance(spec, Mapping):
            if drug not in spec:
                logger.warning("feature set %r has no entry for drug %r", name, drug)
            wanted = [str(f) for f in spec.get(drug, [])]
        elif isinstance(spec, str):
            raise InputError(f"feature_sets[{name!r}] is a single string; give a list of features.")
        else:
            wanted = [str(f) for f in spec]
        wanted = list(dict.fromkeys(wanted))
        present = [f for f in wanted if f in available]
        if len(present) < len(wanted):
            absent = [f for f in wanted if f not in available]
            logger.warning(
                "drug %r, feature set %r: %d of %d features are neither pathways nor genes of the data: %s",
                drug,
                name,
                len(absent),
                len(wanted),
                examples(absent),
            )
        in_scores = [f for f in present if f in scores.columns]
        if in_scores and len(in_scores) < len(present):
            raise InputError(
                f"feature_sets[{name!r}] mixes pathways ({examples(in_scores)}) and genes "
                f"({examples([f for f in present if f not in scores.columns])}); use one kind per set."
            )
        sets[str(name)] = present
    if include_all:
        for name, matrix in (("all_pathways", scores), ("all_genes", genes)):
            if matrix is not None and name not in sets:
                sets[name] = list(matrix.columns)
    return sets


def _source_of(features: list[str], scores: pd.DataFrame, genes: pd.DataFrame | None) -> pd.DataFrame:
    if genes is not None and features and features[0] not in scores.columns:
        return genes
    return scores


def _universe(
    source: pd.DataFrame,
    samples: list[str],
    folds: list[tuple[np.ndarray, np.ndarray]],
    fold_scores: dict[frozenset[str], pd.DataFrame] | None,
) -> pd.DataFrame | list[pd.DataFrame]:
    """The samples' rows of ``source``; with ``fold_scores``, one table per fold whose training rows come from
    the scores computed without the fold's held-out samples."""
    full = source.loc[samples]
    if fold_scores is None:
        return full
    tables = []
    for train, test in folds:
        rescored = fold_scores[frozenset(samples[i] for i in test)]
        table = full.copy()
        table.iloc[train] = rescored.loc[[samples[i] for i in train]].to_numpy()
        tables.append(table)
    return tables


def _matrix(
    universe: pd.DataFrame | list[pd.DataFrame], samples: list[str], features: list[str], set_name: str
) -> np.ndarray | PickedColumns:
    """One set's stack: (1, n, n_features), or with one table per fold its columns of every fold's table."""
    values = _stacked(universe)
    columns = (universe[0] if isinstance(universe, list) else universe).columns.get_indexer(features)
    X = values[:, :, columns]
    if np.isnan(X).any():
        _, row, col = np.argwhere(np.isnan(X))[0]
        raise InputError(
            f"feature set {set_name!r} has missing values (first: sample {samples[row]!r}, feature "
            f"{features[col]!r}); impute or drop that feature."
        )
    return PickedColumns(values, columns[None]) if isinstance(universe, list) else X


def _stacked(universe: pd.DataFrame | list[pd.DataFrame]) -> np.ndarray:
    """(n_folds or 1, n_samples, n_columns) values of the universe's table(s)."""
    tables = universe if isinstance(universe, list) else [universe]
    return np.stack([t.to_numpy(dtype=float) for t in tables])


def _folds(n: int, cv: Literal["loo"] | int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    index = np.zeros((n, 1))
    if cv == "loo":
        return list(LeaveOneOut().split(index))
    if isinstance(cv, bool) or not isinstance(cv, int | np.integer) or not 2 <= cv <= n:
        raise InputError(
            f"cv must be 'loo' or an integer between 2 and the number of samples ({n}); got {cv!r}."
        )
    return list(KFold(n_splits=int(cv), shuffle=True, random_state=int(random_state)).split(index))


# ---------------------------------------------------------------------------------------------- kernels
def _cv_predict(
    X: np.ndarray | PickedColumns,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    model: Any,
    alpha: float,
) -> np.ndarray:
    """Held-out predictions for a stack of feature matrices ``X`` of shape (n_sets, n_samples, n_features), or
    (n_sets, n_folds, n_samples, n_features) with one matrix per fold (``X[:, f]`` holds fold ``f``'s features).
    For ridge, and for least squares and kernel ridge in leave-one-out, ``y`` may be (B, n_samples) with one set:
    one row of predictions per response vector, each fold decomposed once for all of them."""
    n, p = X.shape[-2:]
    per_fold = X.ndim == 4
    loo = is_leave_one_out(folds, n)
    several = y.ndim == 2
    if several and (X.shape[0] != 1 or not _fits_several_responses(model, p, loo)):
        raise ValueError(
            "several response vectors need one set and ridge, or least squares or kernel ridge in leave-one-out."
        )
    if isinstance(model, str):
        if model != "ridge":
            raise InputError(f"model must be 'ridge' or a scikit-learn regressor; got {model!r}.")
        if alpha > 0 and loo and (per_fold or p >= n - 1):
            return loo_ridge_predict(X, y, alpha)  # the same model from one Gram product per set (and fold)
        return _ridge_cv_predict(X, y, folds, alpha)
    svr = svr_estimator(model)
    if svr is not None:  # linear SVR: libsvm's solver, compiled, for every set and fold
        from organoidrx.models._svr import svr_cv_predict

        return svr_cv_predict(X, y, folds, svr[0], top_k=svr[1], refit=svr[2])
    pred = np.empty((X.shape[0], n))
    unsure = np.ones(X.shape[0], dtype=bool)  # the sets (or folds of a set) the estimator fits
    tol = linear_tolerance(model, p)
    kernel = kernel_ridge_estimator(model, p)
    topk = topk_estimator(model)
    kernel_topk = kernel_topk_estimator(model)
    if tol is not None and loo:  # least squares: batched like ridge
        # a singular value at the cut-off: the estimator decides
        pred, unsure = loo_linear_predict(X, y, tol)
    elif kernel is not None and loo:  # kernel ridge: batched like ridge
        # two penalties tie to rounding: the estimator decides
        pred, unsure = loo_kernel_ridge_predict(X, y, kernel)
    elif type(model) is NestedModelSelector:  # each candidate batched per outer fold (a subclass: refitted)
        pred, unsure = nested_cv_predict(
            X, y, folds, model, lambda Xs, ys, fs, candidate: _cv_predict(Xs, ys, fs, candidate, alpha)
        )
        # a choice within rounding of the selector's tie rule: the selector decides
    elif topk is not None:  # RidgeCV, least squares with top-k: one eigendecomposition per fold for the stack
        # a penalty or a kept pathway decided by rounding in a fold: the estimator decides that fold
        pred, unsure = topk_cv_predict(X, y, folds, topk[0], top_k=topk[1], refit=topk[2])
    elif kernel_topk is not None:  # kernel ridge with top-k: its two fits of each fold batched for the stack
        estimator, k, refit = kernel_topk
        pred, unsure = kernel_topk_cv_predict(X, y, folds, estimator, top_k=k, refit=refit)
    regressor = scaled_regressor(model)  # its two steps on arrays: the pipeline's numbers without DataFrames
    if unsure.ndim == 1:  # every fold of the set
        unsure = np.repeat(unsure[:, None], len(folds), axis=1)
    # a set, or with several response vectors the one set fitted to response vector s
    for s, f in zip(*np.nonzero(unsure), strict=True):
        ys, x = (y[s], 0) if several else (y, s)
        train, test = folds[f]
        Xs = X[x, f] if per_fold else X[x]
        if regressor is not None:
            scaler = StandardScaler().fit(Xs[train])
            fitted = clone(regressor).fit(scaler.transform(Xs[train]), ys[train])
            pred[s, test] = fitted.predict(scaler.transform(Xs[test]))
            continue
        fitted = clone(model).fit(Xs[train], ys[train])
        pred[s, test] = fitted.predict(Xs[test])
    return pred


def _ridge_cv_predict(
    X: np.ndarray | PickedColumns, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], alpha: float
) -> np.ndarray:
    """Exact batched ``StandardScaler -> Ridge(alpha)`` held-out predictions for every set of the stack at once
    (or, for one set and ``y`` of shape (B, n), for each of the B response vectors)."""
    if not alpha > 0:
        raise InputError(f"alpha must be positive; got {alpha!r}.")
    n_sets, n_samples, n_features = X.shape[0], X.shape[-2], X.shape[-1]
    several = y.ndim == 2  # one set and B response vectors: B right-hand sides of each fold's solve
    pred = np.empty((len(y) if several else n_sets, n_samples))
    for f, (train, test) in enumerate(folds):
        Z, Zte = standardised_fold(np.asarray(X[:, f] if X.ndim == 4 else X), train, test)
        y_mean = y[:, train].mean(axis=1) if several else y[train].mean()
        yc = (y[:, train] - y_mean[:, None]).T if several else y[train] - y_mean  # (m, B) or (m,)
        n_train = len(train)
        if n_features >= n_train:  # dual: (Z Z' + a I) c = y, w = Z' c
            gram = Z @ Z.transpose(0, 2, 1) + alpha * np.eye(n_train)
            rhs = yc[None] if several else np.broadcast_to(yc, (n_sets, n_train))[..., None]
            w = Z.transpose(0, 2, 1) @ np.linalg.solve(gram, rhs)
        else:  # primal: (Z'Z + a I) w = Z' y
            gram = Z.transpose(0, 2, 1) @ Z + alpha * np.eye(n_features)
            w = np.linalg.solve(gram, Z.transpose(0, 2, 1) @ (yc if several else yc[:, None]))
        if several:
            pred[:, test] = (Zte[0] @ w[0]).T + y_mean[:, None]
        else:
            pred[:, test] = (Zte @ w)[..., 0] + y_mean
    return pred


def _correlations(pred: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise Spearman and Pearson correlation of ``pred`` (n_sets, n) with ``y``; NaN for constant rows."""
    pearson = _rowwise_pearson(pred, y)
    spearman = _rowwise_pearson(rankdata(pred, axis=1), rankdata(y))
    return spearman, pearson


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean()
    norm = np.sqrt((a * a).sum(axis=1)) * np.sqrt((b * b).sum())
    r = np.full(a.shape[0], np.nan)
    ok = norm > 0  # a constant prediction has no correlation
    r[ok] = (a[ok] @ b) / norm[ok]
    return np.clip(r, -1.0, 1.0)


def _random_summary(
    universe: pd.DataFrame | list[pd.DataFrame],
    size: int,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    model: Any,
    alpha: float,
    n_random: int,
    spearman: float,
    pearson: float,
    *,
    seed: tuple[int, int, int],
    stop_after: int | None = None,
) -> dict[str, Any]:
    """The random sets' summary and p. With ``stop_after`` the sets are fitted in blocks of a fixed schedule
    until ``stop_after`` reach ``spearman`` (or after the first block when ``spearman`` is NaN, which has no p):
    they are the same sets, drawn in the same order, as without it. Sets are drawn from the columns in name
    order, so the order of the pathways (or genes) in the input files does not change them."""
    rng = np.random.default_rng(list(seed))
    values = _stacked(universe)
    names = (universe[0] if isinstance(universe, list) else universe).columns
    by_name = np.argsort(np.asarray(names, dtype=str), kind="stable")
    found_s: list[np.ndarray] = []
    found_p: list[np.ndarray] = []
    outcome = None
    for block in [n_random] if stop_after is None else _blocks(n_random):
        picks = by_name[
            np.stack([rng.choice(values.shape[2], size=size, replace=False) for _ in range(block)])
        ]
        if np.isnan(values[..., np.unique(picks)]).any():
            raise InputError(
                "the random feature sets drew columns with missing values; impute or drop them from the data."
            )
        # one table per fold: every set's fold kernels from the tables' columns
        if isinstance(universe, list):
            pred = _cv_predict(PickedColumns(values, picks), y, folds, model, alpha)
        else:
            pred = _cv_predict(values[0][:, picks].transpose(1, 0, 2), y, folds, model, alpha)
        block_s, block_p = _correlations(pred, y)
        found_s.append(block_s)
        found_p.append(block_p)
        outcome = monte_carlo_p(spearman, np.concatenate(found_s), stop_after=stop_after)
        if outcome.stopped or np.isnan(spearman):  # no p to sharpen: one block describes the random sets
            break
    assert outcome is not None
    summary: dict[str, Any] = {"n_random": outcome.n_draws}
    for name, drawn in (("spearman", found_s), ("pearson", found_p)):
        used = np.concatenate(drawn)[: outcome.n_draws]
        kept = used[~np.isnan(used)]
        quantiles = np.quantile(kept, [0.5, 0.025, 0.975]) if kept.size else [np.nan] * 3
        summary |= {
            f"random_{name}_median": quantiles[0],
            f"random_{name}_q025": quantiles[1],
            f"random_{name}_q975": quantiles[2],
        }
    summary["random_p"] = outcome.p
    return summary


def _shuffle_summary(
    X: np.ndarray | PickedColumns,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    model: Any,
    alpha: float,
    n_shuffles: int,
    spearman: float,
    *,
    seed: tuple[int, ...],
    stop_after: int | None = None,
) -> dict[str, Any]:
    """The set's p against its own cross-validation with the responses permuted (blocks as :func:`_random_summary`).

    In leave-one-out, giving sample ``order[j]`` the response ``y[j]`` is the same as moving sample ``order[j]`` to
    position ``j`` with its features (and, with one table per fold, the table that holds it out): the folds move
    with the samples, so every permutation is one more set of the stack and the correlation is taken with ``y``.
    Ridge's permutations are products with its hat matrix, and least squares and kernel ridge fit all of them
    from each fold's one decomposition; these correlate with the permuted responses.
    """
    if np.isnan(spearman):  # constant predictions: nothing to test
        return {"n_shuffles": 0, "shuffled_p": np.nan}
    n, p = len(y), X.shape[-1]
    if isinstance(X, PickedColumns):  # the set's own columns of the fold tables, not every pathway's
        X = PickedColumns(np.ascontiguousarray(X.universe[:, :, X.picks[0]]), np.arange(p)[None])
    rng = np.random.default_rng(list(seed))
    reorder = is_leave_one_out(folds, n) and _order_free(model, p)
    shared = reorder and _fits_several_responses(model, p, loo=True)
    hat = _hat_matrix(X, folds, model, alpha) if _linear_in_y(model) else None
    found: list[np.ndarray] = []
    outcome = None
    for block in [n_shuffles] if stop_after is None else _blocks(n_shuffles):
        orders = np.stack([rng.permutation(n) for _ in range(block)])
        if hat is not None:  # a linear smoother: every shuffle's predictions are one product
            responses = y[np.argsort(orders, axis=1)]
            found.append(_rowwise_spearman(responses @ hat.T, responses))
        elif shared:  # least squares, kernel ridge: each fold's decomposition fits every shuffle at once
            responses = y[np.argsort(orders, axis=1)]
            found.append(_rowwise_spearman(_cv_predict(X, responses, folds, model, alpha), responses))
        elif reorder:
            preds = _reordered_predict(X, y, orders, model, alpha, folds)
            found.append(np.concatenate([_correlations(pred, y)[0] for pred in preds]))
        else:  # any other estimator may depend on the samples' order (an inner K-fold search): shuffle y,
            # sample order[j] taking y[j] as above
            shuffled = [y[np.argsort(o)] for o in orders]
            found.append(
                np.array([_correlations(_cv_predict(X, r, folds, model, alpha), r)[0][0] for r in shuffled])
            )
        outcome = monte_carlo_p(spearman, np.concatenate(found), stop_after=stop_after)
        if outcome.stopped:
            break
    assert outcome is not None
    return {"n_shuffles": outcome.n_draws, "shuffled_p": outcome.p}


def _linear_in_y(model: Any) -> bool:
    """Whether ``model``'s held-out predictions are a fixed linear map of the responses: the built-in ridge, whose
    fits are ``w = A (y - mean(y))`` with ``A`` from the features and the fixed penalty alone. (Least squares is
    linear too, but near rank deficiency its pseudo-inverse does not hold to rounding across response vectors;
    kernel ridge chooses its penalty from the responses; SVR is not linear.)"""
    return isinstance(model, str)


def _hat_matrix(
    X: np.ndarray | PickedColumns, folds: list[tuple[np.ndarray, np.ndarray]], model: Any, alpha: float
) -> np.ndarray:
    """``H`` (n, n) with held-out predictions ``H @ y`` for every response vector ``y`` of the built-in ridge:
    column ``j`` is the cross-validation of the responses ``e_j``, all of them from each fold's one solve."""
    return _cv_predict(X, np.eye(X.shape[-2]), folds, model, alpha).T


def _rowwise_spearman(pred: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Spearman of each row of ``pred`` with the same row of ``responses``; NaN for constant predictions. The
    same bits as :func:`_correlations` for the same ranks: centred ranks are multiples of 1/2, so their sums of
    products are exact in any order, and the norm is formed as there."""
    a = rankdata(pred, axis=1)
    b = rankdata(responses, axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=1)) * np.sqrt((b * b).sum(axis=1))
    r = np.full(len(a), np.nan)
    ok = norm > 0
    r[ok] = (a[ok] * b[ok]).sum(axis=1) / norm[ok]
    return np.clip(r, -1.0, 1.0)


def _fits_several_responses(model: Any, n_features: int, loo: bool) -> bool:
    """Whether :func:`_cv_predict` fits one set to several response vectors at once (each fold decomposed once):
    the built-in ridge, and least squares and kernel ridge in leave-one-out."""
    return isinstance(model, str) or (
        loo
        and (
            linear_tolerance(model, n_features) is not None
            or kernel_ridge_estimator(model, n_features) is not None
        )
    )


def _order_free(model: Any, n_features: int) -> bool:
    """Whether ``model``'s held-out predictions follow its samples when they are reordered: the batched models
    (ridge; RidgeCV, least squares and kernel ridge with top-k; least squares, kernel ridge, linear SVR; a nested
    choice among them in leave-one-out), whose fits do not depend on the samples' order."""
    if type(model) is NestedModelSelector:  # leave-one-out inner folds follow the samples too
        return model.cv is None and all(_order_free(c, n_features) for _, c in model.estimators)
    return (
        isinstance(model, str)
        or svr_estimator(model) is not None
        or topk_estimator(model) is not None
        or kernel_topk_estimator(model) is not None
        or linear_tolerance(model, n_features) is not None
        or kernel_ridge_estimator(model, n_features) is not None
    )


def _reordered_predict(
    X: np.ndarray | PickedColumns,
    y: np.ndarray,
    orders: np.ndarray,
    model: Any,
    alpha: float,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> list[np.ndarray]:
    """Leave-one-out predictions of the set ``X`` with its samples in each of ``orders`` (b, n), in chunks of at
    most 32 MB of stacked features."""
    if isinstance(X, PickedColumns):
        tables = X[0]  # (n folds, n, p); fold j of order o is the table that holds out sample o[j]
        n, p = tables.shape[1], tables.shape[2]
        chunk = max(1, 2**22 // (n * n * max(p, 1)))
        return [
            _cv_predict(tables[o[:, :, None], o[:, None, :]], y, folds, model, alpha)
            for o in np.array_split(orders, -(-len(orders) // chunk))
        ]
    values = X[0]
    n, p = values.shape
    chunk = max(1, 2**22 // (n * max(p, 1)))
    return [
        _cv_predict(values[o], y, folds, model, alpha)
        for o in np.array_split(orders, -(-len(orders) // chunk))
    ]


def _blocks(n_random: int) -> list[int]:
    """The fixed schedule of sequentially fitted random sets: 32, 32, 64, ..., at most 512 at a time."""
    sizes: list[int] = []
    done = 0
    while done < n_random:
        sizes.append(min(512, max(32, done), n_random - done))
        done += sizes[-1]
    return sizes
