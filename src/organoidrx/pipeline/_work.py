"""The work guard: a run's or a comparison's heavy phases estimated from the inputs' sizes before they start, and
refused beyond :data:`MAX_HOURS` unless forced."""

from __future__ import annotations

import logging
import math

from organoidrx._registry import get_method
from organoidrx._utils import InputError
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._inputs import Inputs

logger = logging.getLogger(__name__)

__all__ = ["MAX_HOURS", "SECONDS_PER_UNIT", "check_compare_work", "check_work", "estimate_work"]


#: Seconds per unit of work on 2 cores (a guard's order of magnitude): one null draw of a drug x pathway pair
#: (closest; other measures scale by ``work_factor``), one permutation of one drug, one random set or shuffle in
#: the organoid CV (at least this, else twice the model's ``topk_cv_seconds``; nested: per candidate and outer fold).
SECONDS_PER_UNIT = {
    "proximity": 1.2e-6,
    "permutations": 0.015,
    "random pathway sets": 1e-3,
    # one candidate fitted on one inner training set: 2 drugs x 4 candidates x 30 x 30 folds took 115 s (precise)
    "nested model selection": 0.016,
}
#: Work estimated to take longer than this is refused unless ``[settings] force = true`` (``--force``).
MAX_HOURS = 12.0


def _proximity_units(cfg: PipelineConfig, loaded: Inputs, measure: str) -> float:
    """Null draws x drug x pathway pairs of one measure, scaled by its ``work_factor``."""
    method = get_method("measure", measure)
    factor = method.attrs.get("work_factor", 1.0)
    if callable(factor):
        factor = factor(
            cfg.options("measure") if measure == cfg.measure else method.resolve({}, where="measure")
        )
    n_sets = int(loaded.gene_sets["pathway"].nunique())
    return len(loaded.drugs) * n_sets * cfg.n_random * float(factor)


def estimate_work(cfg: PipelineConfig, loaded: Inputs) -> dict[str, float]:
    """Estimated seconds of each heavy phase of a run, from the inputs' sizes and :data:`SECONDS_PER_UNIT`."""
    n_drugs, n_organoids = len(loaded.drugs), len(loaded.organoid_expression)
    n_candidates = len(cfg.model_candidates) * len(cfg.top_k_candidates)
    refits = n_organoids + (cfg.n_permutations if cfg.has_patients else 0)  # outer folds, then permutations
    floor = SECONDS_PER_UNIT["random pathway sets"]
    costs = [get_method("model", m).attrs for m in cfg.model_candidates]  # a top k is refitted in every fold
    fits = [max(2 * c.get("topk_cv_seconds", c.get("cv_seconds", 0)), floor) for c in costs]
    per_set = sum(fits) * len(cfg.top_k_candidates) * n_organoids if cfg.selects_model else fits[0]
    units = {
        "proximity": _proximity_units(cfg, loaded, cfg.measure) if cfg.proximity is None else 0,
        "permutations": n_drugs * cfg.n_permutations if cfg.has_patients else 0,
        "random pathway sets": 2 * n_drugs * cfg.n_random_sets * per_set / floor,  # and as many shuffles
        # each outer fold and each permutation repeats the choice: candidates x inner leave-one-out fits
        "nested model selection": n_drugs * n_candidates * n_organoids * refits if cfg.selects_model else 0,
    }
    return {phase: n * SECONDS_PER_UNIT[phase] for phase, n in units.items()}


def check_compare_work(
    cfg: PipelineConfig,
    loaded: Inputs,
    scorers: list[str],
    measures: list[str],
    models: list[str],
    n_random_sets: int,
    stop_after: int = 0,
) -> None:
    """:func:`check_work` of a ``compare``: the proximity of every measure and, per model, the cross-validation of
    every drug x scorer x selection (each measure and the target genes) against ``n_random_sets`` random sets and
    as many permutations, each at the model's registered ``cv_seconds`` (its leave-one-out cost on about 19
    organoids). With ``stop_after`` = h, a test without signal fits about h (1 + ln(n_random_sets / h)) of each."""
    fitted = float(n_random_sets)
    if 0 < stop_after < n_random_sets:
        fitted = stop_after * (1 + math.log(n_random_sets / stop_after))
    seconds = {
        f"proximity: {measure}": _proximity_units(cfg, loaded, measure) * SECONDS_PER_UNIT["proximity"]
        for measure in measures
    }
    tests = len(loaded.drugs) * len(scorers) * (len(measures) + 1)
    for model in models:
        per_set = float(
            get_method("model", model).attrs.get("cv_seconds", SECONDS_PER_UNIT["random pathway sets"])
        )
        seconds[f"cv: {model}"] = 2 * tests * fitted * per_set  # random sets and permutations
    settings = (
        f"{len(scorers)} scorers x {len(measures)} measures x models {', '.join(models)}, n_random={cfg.n_random}, "
        f"n_random_sets={n_random_sets}, stop_after={stop_after}"
    )
    check_work(cfg, loaded, seconds, settings)


def check_work(
    cfg: PipelineConfig, loaded: Inputs, seconds: dict[str, float] | None = None, settings: str | None = None
) -> None:
    """Log the estimated duration of a run (or of ``seconds`` from the ``settings`` named, as
    :func:`check_compare_work` passes them); refuse one beyond :data:`MAX_HOURS` unless ``cfg.force``."""
    if seconds is None:
        seconds = estimate_work(cfg, loaded)
    if settings is None:
        settings = (
            f"n_random={cfg.n_random}, n_permutations={cfg.n_permutations}, n_random_sets={cfg.n_random_sets}"
        )
    total = sum(seconds.values())
    shown = ", ".join(f"{phase} {s / 3600:.1f} h" for phase, s in seconds.items() if s >= 36)
    logger.info("estimated heavy work: %.0f s (%s)", total, shown or "under a minute each")
    if total > MAX_HOURS * 3600 and not cfg.force:
        raise InputError(
            f"this run is estimated to take {total / 3600:,.0f} hours on 2 cores ({shown}; "
            f"{len(loaded.drugs)} drugs, {loaded.gene_sets['pathway'].nunique()} gene sets, {settings}); lower "
            "those settings, select fewer drugs or methods, or set [settings] force = true (--force) to run it "
            "anyway."
        )
