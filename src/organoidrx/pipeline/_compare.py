"""``organoidrx compare``: every combination of scorer, network selection and model, judged on the organoids.

Each combination's leave-one-organoid-out Spearman, per drug, is tested against random pathway sets of the same
size fitted by the same model, and the Benjamini-Hochberg q-value is taken over *every* test of the comparison (all
drugs and combinations): trying many combinations is paid for in the q, so the best of many p-values cannot be read
as a finding.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from organoidrx import __version__
from organoidrx._compute import dask_backend
from organoidrx._registry import get_method, method_names
from organoidrx._utils import InputError, atomic_write, examples, versions
from organoidrx.models import cross_validate_response, make_response_pipeline, proximal_pathways
from organoidrx.pipeline._config import PipelineConfig, apply_overrides, read_config
from organoidrx.pipeline._inputs import (
    MIN_ORGANOIDS,
    Inputs,
    check_inputs_unchanged,
    input_files,
    load_inputs,
    run_proximity,
)
from organoidrx.pipeline._leaderboard import CompareResult, rank_tests
from organoidrx.pipeline._outputs import RunFolder, jsonable, parameters, write_tsv
from organoidrx.pipeline._progress import Progress, Timer, collect_warnings
from organoidrx.pipeline._work import check_compare_work
from organoidrx.scoring import rescorer, score

logger = logging.getLogger(__name__)

__all__ = ["BASELINES", "compare_methods"]

#: feature sets shown beside every network selection: every scored pathway, every gene, the drug's target genes
BASELINES = ("all_pathways", "all_genes", "target_genes")


def _names(kind: str, given: Sequence[str] | None, configured: Sequence[str], key: str) -> list[str]:
    chosen = list(given if given is not None else configured) or list(method_names(kind))
    for name in chosen:
        get_method(kind, name)  # an unknown name is an InputError with close matches
    if len(set(chosen)) < len(chosen):
        raise InputError(f"[compare] {key} names a method twice: {examples(chosen)}.")
    return chosen


def _standardise(scores: pd.DataFrame) -> pd.DataFrame:
    centred = scores - scores.mean(axis=0)
    scale = np.sqrt((centred**2).mean(axis=0))
    return centred / scale.where(scale > 0, 1.0)


def _same_standardised(scores: pd.DataFrame, earlier: dict[str, pd.DataFrame]) -> str | None:
    """The earlier scorer whose scores are these times a positive constant per pathway (to 1e-9), if any."""
    mine = _standardise(scores)
    for name, other in earlier.items():
        if other.columns.equals(mine.columns) and other.index.equals(mine.index):
            if np.allclose(other.to_numpy(), mine.to_numpy(), rtol=0.0, atol=1e-9, equal_nan=True):
                return name
    return None


def _prefixed(timer: Timer, prefix: str, phase: str, done: int, total: int) -> None:
    timer.report(f"{prefix}: {phase}", done, total)


def _check_baselines(names: Sequence[str]) -> list[str]:
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise InputError(
            f"[compare] baselines {examples(unknown)} are not known; use {', '.join(BASELINES)}."
        )
    return list(dict.fromkeys(names))


def _estimator(model: str, cfg: PipelineConfig) -> Any:
    """``"ridge"``: the exact batched Ridge(alpha) on standardised features; others: the registered pipeline
    (with the ``[model]`` options when ``model`` is the configured one, as the scorer's options)."""
    if model == "ridge":
        return "ridge"
    options = cfg.method_options.get("model", {}) if model == cfg.model else {}
    return make_response_pipeline(model, top_k=None, random_state=cfg.seed, model_options=options)


def compare_methods(
    config: PipelineConfig | str | Path,
    out_dir: str | Path | None = None,
    *,
    scorers: Sequence[str] | None = None,
    measures: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    n_random_sets: int | None = None,
    stop_after: int | None = None,
    overwrite: bool = False,
    report: bool = True,
    progress: Progress | None = None,
    dask: str | None = None,
    force: bool = False,
) -> CompareResult:
    """Compare every scorer x network selection x model on the organoids, with corrected statistics.

    Parameters
    ----------
    config : PipelineConfig or path
        A run configuration (:func:`read_config`); its ``[compare]`` section chooses the methods. Needs
        ``[network] edges`` for the network selections; ``[patients]`` is not used.
    out_dir : path, optional
        Folder receiving ``leaderboard.tsv``, ``combinations.tsv``, ``heatmap.png``, ``report.html`` and
        ``compare.json``, written whole or not at all (as ``run``). ``None`` only computes.
    scorers, measures, models : list of str, optional
        Registered names; default ``[compare]`` of the configuration, where an empty list means every one.
    n_random_sets : int, optional
        Random sets per test (the most, with ``stop_after``); default ``[compare] n_random_sets``.
    stop_after : int, optional
        Stop a test's random sets once this many reach its Spearman, 0 never; default ``[compare] stop_after``.
    overwrite : bool, default False
        Replace a non-empty ``out_dir``.
    report : bool, default True
        Write ``report.html`` and ``heatmap.png``.
    progress : callable, optional
        ``progress(phase, done, total)`` per phase and drug.
    dask : str, optional
        Dask cluster for the heavy loops (``local:N`` or a scheduler address); default ``[compute] dask``.
    force : bool, default False
        Run work estimated beyond the 12-hour guard (as ``[settings] force``); without it such a comparison is
        refused before any computing, with the estimate of each phase.

    Returns
    -------
    CompareResult

    Notes
    -----
    For each drug and combination, the organoids' pathway scores (``scorer``) restricted to the drug's proximal
    pathways (``selection``: z <= -1.2816 under the network measure) are cross-validated leave-one-organoid-out
    with ``model``: standardisation and the fit happen inside each fold, and the selection comes from the network,
    never from the responses, so no held-out organoid informs its own prediction. A cohort-dependent scorer
    (:func:`organoidrx.scoring.streams` is False) scores each fold's training organoids without the held-out one
    (:func:`organoidrx.scoring.rescorer`), for the selection and its random sets alike. The same model is fitted to
    up to ``B`` random pathway sets of the same size, in a fixed order; ``random_p`` is the share of random sets
    doing at least as well, :math:`(1 + \\#\\{r_b \\ge r\\}) / (1 + B)`, or, once ``stop_after`` =
    :math:`h` of them have (at the :math:`L`-th set), :math:`h / L` (Besag and Clifford's sequential p, as
    valid as the full one: a test far from significance stops after about :math:`h / p` sets, a test that does
    not stop has the full-draw p). ``shuffled_p`` is the same p against up to ``B`` refits of the selection
    itself with the organoids' responses permuted. A test's ``p`` is the larger of the two: it is small only
    when the selection beats both random sets of its size (which alone is miscalibrated when nothing predicts,
    as a selection is not exchangeable with random sets) and chance (exact under exchangeable responses), so
    :math:`P(p \\le \\alpha) \\le \\alpha` when the responses carry no signal. Baselines: ``all_pathways`` (every scored pathway; no
    random sets, as they would be the same set) and ``target_genes`` (the drug's target genes' own expression,
    against random genes) and ``all_genes`` (the whole transcriptome). The q-values are Benjamini-Hochberg over every finite p of the comparison. Model
    ``ridge`` here is Ridge(``[compare] alpha``) on all selected pathways, solved exactly for all random sets at
    once; the other models are their registered estimators on all selected pathways (``top_k`` is not applied, so
    a selection and its random sets have the same number of features).

    References
    ----------
    Benjamini Y., Hochberg Y. (1995) J R Stat Soc B 57:289-300, doi:10.1111/j.2517-6161.1995.tb02031.x.
    Besag J., Clifford P. (1991) Biometrika 78:301-304, doi:10.1093/biomet/78.2.301.
    """
    cfg = config if isinstance(config, PipelineConfig) else read_config(config)
    if dask is not None:
        cfg = apply_overrides(cfg, {"dask": dask})
    if force:
        cfg = apply_overrides(cfg, {"force": True})
    scorer_names = _names("scorer", scorers, cfg.compare_scorers, "scorers")
    measure_names = _names("measure", measures, cfg.compare_measures, "measures")
    model_names = _names("model", models, cfg.compare_models, "models")
    baselines = _check_baselines(cfg.compare_baselines)
    B = cfg.compare_n_random_sets if n_random_sets is None else int(n_random_sets)
    if B < 1:
        raise InputError(f"n_random_sets must be at least 1; got {B}.")
    h = cfg.compare_stop_after if stop_after is None else int(stop_after)
    if h < 0:
        raise InputError(f"stop_after must be 0 (fit every random set) or a positive integer; got {h}.")
    if cfg.network is None:
        raise InputError(
            f"{cfg.source}: compare needs [network] edges to select pathways with each network measure; a "
            "precomputed [network] proximity table holds one measure only."
        )
    folder = None if out_dir is None else RunFolder(Path(out_dir), overwrite=overwrite)
    if folder is not None:
        folder.check(input_files(cfg).values())
    timer = Timer(progress)
    with collect_warnings() as collected, dask_backend(cfg.dask):
        with timer.phase("load"):
            loaded = load_inputs(cfg)
            check_compare_work(cfg, loaded, scorer_names, measure_names, model_names, B, h)
        with timer.phase("proximity", show=False):  # one network, one distance matrix for every measure
            tables = run_proximity(
                cfg, loaded, functools.partial(_prefixed, timer, "proximity"), measures=measure_names
            )
        selections = {measure: proximal_pathways(table) for measure, table in tables.items()}
        response = loaded.response.loc[:, ["sample", "drug", "value"]]
        targets = {
            drug: [t for t in loaded.targets.loc[loaded.targets["drug"] == drug, "target"].astype(str)]
            for drug in loaded.drugs
        }
        expression = loaded.organoid_expression
        parts = []
        standardised: dict[str, pd.DataFrame] = {}
        for s_index, scorer in enumerate(scorer_names):
            options = cfg.method_options.get("scorer", {}) if scorer == cfg.scorer else {}
            with timer.phase(f"scoring: {scorer}"):
                scores = score(
                    expression, loaded.gene_sets, method=scorer, min_size=cfg.min_size, max_size=cfg.max_size,
                    **options,
                )  # fmt: skip
            same = _same_standardised(scores, standardised)
            if same is not None:  # every model standardises each pathway: the tests would be the same tests
                logger.warning(
                    "scorer %s gives every pathway %s's scores times a constant: the models standardise each "
                    "pathway, so its tests would repeat %s's and count the same evidence twice; they are run once, "
                    "as %s",
                    scorer,
                    same,
                    same,
                    same,
                )
                continue
            standardised[scorer] = _standardise(scores)
            # a cohort-dependent scorer rescores each fold's training organoids without the held-out one
            rescore = rescorer(
                expression, loaded.gene_sets, method=scorer, min_size=cfg.min_size, max_size=cfg.max_size,
                **options,
            )  # fmt: skip
            for model in model_names:
                feature_sets: dict[str, Any] = {
                    m: {d: [p for p in sel.get(d, []) if p in scores.columns] for d in loaded.drugs}
                    for m, sel in selections.items()
                }
                randomised = list(feature_sets)
                # gene-level baselines do not depend on the scorer: computed once per model
                with_genes = s_index == 0 and bool({"target_genes", "all_genes"} & set(baselines))
                if with_genes and "target_genes" in baselines:
                    feature_sets["target_genes"] = {
                        d: [g for g in genes if g in expression.columns] for d, genes in targets.items()
                    }
                    randomised.append("target_genes")
                phase = f"cv: {scorer} x {model}"
                table = cross_validate_response(
                    scores,
                    response,
                    feature_sets=feature_sets,
                    expression=expression if with_genes else None,
                    model=_estimator(model, cfg),
                    alpha=cfg.compare_alpha,
                    n_random=B,
                    random_sets_for=randomised,
                    include_all=bool({"all_pathways", "all_genes"} & set(baselines)),
                    min_samples=MIN_ORGANOIDS,
                    random_state=cfg.seed,
                    rescore=rescore,
                    stop_after=h or None,
                    n_shuffles=B,
                    progress=timer.callback(phase),
                )
                table = table.rename(columns={"feature_set": "selection"}).assign(scorer=scorer, model=model)
                unwanted = [b for b in BASELINES if b not in baselines]
                table = table[~table["selection"].isin(unwanted)]
                table.loc[table["selection"].isin(["target_genes", "all_genes"]), "scorer"] = "(expression)"
                parts.append(table)
    result = rank_tests(pd.concat(parts, ignore_index=True), B, h or None)
    result.warnings = list(collected.messages)
    result.timings = dict(timer.timings)
    if folder is not None:
        with folder.staged(input_files(cfg).values()):
            check_inputs_unchanged(cfg, loaded.checksums)
            _write(cfg, result, loaded, folder, report=report, timer=timer)
        result.out_dir = folder.final
    return result


def _write(
    cfg: PipelineConfig,
    result: CompareResult,
    loaded: Inputs,
    folder: RunFolder,
    *,
    report: bool,
    timer: Timer,
) -> None:
    out = folder.write_dir
    with timer.phase("write"):
        write_tsv(result.leaderboard, out / "leaderboard.tsv")
        write_tsv(result.combinations, out / "combinations.tsv")
    if report:
        from organoidrx.report import write_compare_report

        with timer.phase("report"):
            write_compare_report(out, result, title=f"organoidrx compare: {Path(cfg.source).name}")
    result.timings = dict(timer.timings)
    record = {
        "organoidrx": __version__,
        "config": str(cfg.source),
        "seed": cfg.seed,
        "parameters": parameters(cfg),
        "inputs": loaded.checksums,
        "matching": loaded.matching,
        "n_random_sets": result.n_random_sets,
        "stop_after": result.stop_after,
        "n_tests": result.n_tests,
        "summary": result.summary(),
        "versions": versions(),
        "timings_seconds": {k: round(v, 4) for k, v in result.timings.items()},
        "warnings": result.warnings,
        "outputs": sorted(p.name for p in out.iterdir()),
    }
    with atomic_write(out / "compare.json", "w", encoding="utf-8") as handle:
        json.dump(jsonable(folder.relocate(record)), handle, indent=1, allow_nan=False)
        handle.write("\n")
    logger.debug("compare written to %s", os.fspath(folder.final))
