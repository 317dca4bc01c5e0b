"""The end-to-end run: load and reconcile inputs, proximity, ssGSEA, organoid models, patients, outputs."""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from organoidrx import __version__
from organoidrx._utils import InputError, atomic_write, examples, sha256_file
from organoidrx._validation import as_gene_set_dict
from organoidrx.evaluation import (
    InteractionResult,
    ResponseAUCResult,
    SurvivalResult,
    assign_groups,
    permutation_test,
    prediction_cutoff,
    responder_mask,
    response_auc,
    split_by_prediction,
    survival_analysis,
    treatment_interaction,
)
from organoidrx.io import (
    DrugNameResolver,
    normalize_drug_key,
    read_clinical,
    read_drug_response,
    read_drug_targets,
    read_expression,
    read_gmt,
    read_network,
    reconcile_sample_ids,
)
from organoidrx.models import ModelBundle, cross_validate_response, proximal_pathways
from organoidrx.network import PROXIMAL_Z, proximity
from organoidrx.pipeline._config import PipelineConfig, read_config
from organoidrx.pipeline._logrank import LogrankKernel
from organoidrx.pipeline._models import (
    fit_drug_model,
    in_memory_bundle,
    make_model,
    patient_reference,
    predict_cohort,
)
from organoidrx.scoring import ssgsea

logger = logging.getLogger(__name__)

__all__ = ["RunResult", "run_pipeline", "write_tsv"]

MIN_ORGANOIDS = 3
_FLOAT = "%.12g"
_VERSIONED = ("numpy", "scipy", "pandas", "scikit-learn", "lifelines", "matplotlib", "organoidrx")


@dataclass
class RunResult:
    """Everything a run produced; the tables are also written as TSV files into ``out_dir``.

    Attributes
    ----------
    out_dir : Path
    proximity, biomarkers, organoid_cv, cv_predictions : DataFrame
    patient_predictions, survival : DataFrame or None
        ``None`` in preclinical-only mode.
    survival_results, interactions, response_auc : dict of drug to result
    bundles : dict of drug to ModelBundle
        The fitted organoid model of every drug, as ``train`` saves it.
    warnings : list of str
    timings : dict of phase to seconds
    report : Path or None
    """

    out_dir: Path
    proximity: pd.DataFrame
    biomarkers: pd.DataFrame
    organoid_cv: pd.DataFrame
    cv_predictions: pd.DataFrame
    patient_predictions: pd.DataFrame | None = None
    survival: pd.DataFrame | None = None
    survival_results: dict[str, SurvivalResult] = field(default_factory=dict)
    interactions: dict[str, InteractionResult] = field(default_factory=dict)
    response_auc: dict[str, ResponseAUCResult] = field(default_factory=dict)
    bundles: dict[str, ModelBundle] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    report: Path | None = None


# ------------------------------------------------------------------------------------------------ helpers
class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.context: str | None = None  # the drug being processed, prefixed to messages that do not name it

    def emit(self, record: logging.LogRecord) -> None:
        message = " ".join(record.getMessage().split())
        if self.context is not None and self.context not in message:
            message = f"{self.context}: {message}"
        if message not in self.messages:
            self.messages.append(message)


@contextmanager
def _collect_warnings() -> Iterator[_WarningCollector]:
    collector = _WarningCollector()
    root = logging.getLogger("organoidrx")
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        tic = time.perf_counter()
        yield
        seconds = time.perf_counter() - tic
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        logger.info("%s: %.2f s", name, seconds)


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write an output table: tab-separated, no index, 12 significant digits, atomically."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, sep="\t", index=False, lineterminator="\n", float_format=_FLOAT)


class _DropUnresolved(logging.Filter):
    """Names the synonym tables do not know are matched by spelling here, so their warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "could not be resolved" not in record.getMessage()


def _drug_keys(resolver: DrugNameResolver, names: list[str]) -> dict[str, str]:
    """Name -> matching key: the canonical name when the synonym tables know it, else the normalised spelling."""
    if not names:
        return {}
    resolver_logger = logging.getLogger("organoidrx.io._drug_names")
    quiet = _DropUnresolved()
    resolver_logger.addFilter(quiet)
    try:
        table = resolver.resolve(names)
    finally:
        resolver_logger.removeFilter(quiet)
    keys = {}
    for name, canonical in zip(table["name"], table["canonical"], strict=True):
        keys[str(name)] = (
            str(canonical) if isinstance(canonical, str) and canonical else normalize_drug_key(name)
        )
    return keys


def _match_drugs(
    wanted: dict[str, str], available: list[str], resolver: DrugNameResolver, *, where: str
) -> dict[str, str]:
    """Config drug -> the spelling used in ``where``; an unknown drug is one error with close matches."""
    keys = _drug_keys(resolver, available)
    by_key: dict[str, str] = {}
    for name, key in keys.items():
        by_key.setdefault(key, name)
    matched = {}
    for drug, key in wanted.items():
        if key not in by_key:
            close = difflib.get_close_matches(drug.upper(), [a.upper() for a in available], n=3, cutoff=0.5)
            hint = (
                f"close matches: {', '.join(close)}" if close else f"it has {examples(sorted(available), 5)}"
            )
            raise InputError(
                f"{where}: drug {drug!r} from [drugs] names is not in this table ({hint}); "
                "fix the name in the config or add the drug."
            )
        matched[drug] = by_key[key]
        if by_key[key] != drug:
            logger.info("drug %r is %r in %s", drug, by_key[key], where)
    return matched


def _read_proximity_table(path: Path, drugs: dict[str, str], resolver: DrugNameResolver) -> pd.DataFrame:
    """A precomputed proximity table, long (drug, pathway, z) or wide (pathways x drug columns)."""
    raw = pd.read_csv(path, sep=None, engine="python")
    lower = {str(c).strip().lower(): c for c in raw.columns}
    if {"drug", "pathway", "z"} <= set(lower):
        long = raw.rename(columns={lower["drug"]: "drug", lower["pathway"]: "pathway", lower["z"]: "z"})
        long = long.loc[:, ["drug", "pathway", "z"]]
    else:
        first = raw.columns[0]
        long = raw.melt(id_vars=[first], var_name="drug", value_name="z").rename(columns={first: "pathway"})
        long = long.loc[:, ["drug", "pathway", "z"]]
    long["drug"] = long["drug"].astype(str)
    long["pathway"] = long["pathway"].astype(str)
    long["z"] = pd.to_numeric(long["z"], errors="coerce")
    spelled = _match_drugs(drugs, sorted(long["drug"].unique()), resolver, where=path.name)
    parts = []
    for drug, source in spelled.items():
        rows = long[long["drug"] == source].assign(drug=drug)
        parts.append(rows)
    out = pd.concat(parts, ignore_index=True)
    out["proximal"] = out["z"] <= PROXIMAL_Z
    return out


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = __version__ if package == "organoidrx" else "not installed"
    return versions


def _inputs(cfg: PipelineConfig) -> dict[str, Path]:
    named = {
        "organoid_expression": cfg.organoid_expression,
        "organoid_response": cfg.organoid_response,
        "network": cfg.network,
        "proximity": cfg.proximity,
        "id_map": cfg.id_map,
        "gene_sets": cfg.gene_sets,
        "targets": cfg.targets,
        "patient_expression": cfg.patient_expression,
        "clinical": cfg.clinical,
        "config": cfg.source,
    }
    return {k: v for k, v in named.items() if v is not None}


# ------------------------------------------------------------------------------------------- loading
@dataclass
class _Loaded:
    drugs: list[str]
    drug_keys: dict[str, str]
    organoid_expression: pd.DataFrame
    response: pd.DataFrame
    gene_sets: pd.DataFrame
    targets: pd.DataFrame
    resolver: DrugNameResolver
    patient_expression: pd.DataFrame | None = None
    clinical: pd.DataFrame | None = None
    matching: dict[str, Any] = field(default_factory=dict)


def _load(cfg: PipelineConfig) -> _Loaded:
    resolver = DrugNameResolver()
    drugs = list(dict.fromkeys(cfg.drugs))
    keys = _drug_keys(resolver, drugs)
    unresolved = [
        d for d in drugs if keys[d] == normalize_drug_key(d) and d.upper() not in resolver.canonical_names
    ]
    if unresolved:
        logger.info("drug names not in the synonym tables, matched by spelling: %s", examples(unresolved, 10))

    expression = read_expression(cfg.organoid_expression, duplicates=cfg.duplicates)  # type: ignore[arg-type]
    response = read_drug_response(
        cfg.organoid_response, metric=cfg.response_metric, lower_is_sensitive=cfg.lower_is_sensitive
    )
    spelled = _match_drugs(
        keys, sorted(response["drug"].astype(str).unique()), resolver, where=cfg.organoid_response.name
    )
    response = pd.concat(
        [response[response["drug"] == source].assign(drug=drug) for drug, source in spelled.items()],
        ignore_index=True,
    )
    mapping = reconcile_sample_ids(expression.index, response["sample"].astype(str), what="organoids")
    n_rows = len(response)
    response = response.assign(sample=response["sample"].astype(str).map(mapping)).dropna(subset=["sample"])
    if len(response) < n_rows:
        logger.warning(
            "%d of %d organoid responses have no expression profile in %s; they are left out",
            n_rows - len(response),
            n_rows,
            cfg.organoid_expression.name,
        )
    response = response.dropna(subset=["value"]).reset_index(drop=True)
    for drug in drugs:
        n = int((response["drug"] == drug).sum())
        if n < MIN_ORGANOIDS:
            raise InputError(
                f"{cfg.organoid_response.name}: only {n} organoids have both expression and a {drug} response "
                f"(need at least {MIN_ORGANOIDS}); check the sample ids of the two files."
            )
    no_response = sorted(set(expression.index) - set(response["sample"]))
    if no_response:
        logger.info(
            "%d organoids have expression but no response: %s", len(no_response), examples(no_response)
        )

    gene_sets = read_gmt(cfg.gene_sets)
    targets = read_drug_targets(cfg.targets)
    if cfg.proximity is None:
        spelled_targets = _match_drugs(
            keys, sorted(targets["drug"].unique()), resolver, where=cfg.targets.name
        )
        targets = pd.concat(
            [
                targets[targets["drug"] == source].assign(drug=drug)
                for drug, source in spelled_targets.items()
            ],
            ignore_index=True,
        )
    loaded = _Loaded(
        drugs=drugs,
        drug_keys=keys,
        organoid_expression=expression,
        response=response,
        gene_sets=gene_sets,
        targets=targets,
        resolver=resolver,
        matching={
            "organoids_with_expression": int(expression.shape[0]),
            "organoid_responses_used": {d: int((response["drug"] == d).sum()) for d in drugs},
            "response_drug_names": spelled,
        },
    )
    if cfg.has_patients:
        _load_patients(cfg, loaded)
    return loaded


def _load_patients(cfg: PipelineConfig, loaded: _Loaded) -> None:
    assert cfg.patient_expression is not None and cfg.clinical is not None
    cols = cfg.clinical_columns
    expression = read_expression(cfg.patient_expression, duplicates=cfg.duplicates)  # type: ignore[arg-type]
    clinical = read_clinical(
        cfg.clinical,
        patient_col=cols.get("patient_col") or "patient",
        duration_col=cols.get("duration_col") or "time",
        event_col=cols.get("event_col") or "event",
        drug_col=cols.get("drug_col") or "drug",
        response_col=cols.get("response_col"),
        time_unit=cfg.time_unit,  # type: ignore[arg-type]
    )
    if cfg.covariates:
        raw = pd.read_csv(
            cfg.clinical, sep=None, engine="python", dtype={cols.get("patient_col") or "patient": str}
        )
        missing = [c for c in cfg.covariates if c not in raw.columns]
        if missing:
            raise InputError(
                f"{cfg.clinical.name}: covariates {missing} of [patients] covariates are not columns "
                f"(columns: {examples(list(raw.columns), 10)})."
            )
        if len(raw) != len(clinical):
            raise InputError(
                f"{cfg.clinical.name}: could not align the covariate columns with the clinical rows."
            )
        for c in cfg.covariates:
            clinical[c] = raw[c].to_numpy()
    mapping = reconcile_sample_ids(expression.index, clinical["patient"], what="patients")
    n_rows = len(clinical)
    clinical = clinical.assign(patient=clinical["patient"].map(mapping)).dropna(subset=["patient"])
    if len(clinical) < n_rows:
        logger.warning(
            "%d of %d clinical rows have no expression profile in %s; they are left out",
            n_rows - len(clinical),
            n_rows,
            cfg.patient_expression.name,
        )
    drug_values = clinical["drug"].dropna().astype(str)
    drug_values = drug_values[drug_values.str.strip() != ""]
    keys = _drug_keys(loaded.resolver, sorted(drug_values.unique()))
    clinical["drug_key"] = clinical["drug"].map(
        lambda d: keys.get(str(d)) if isinstance(d, str) and d.strip() else None
    )
    for drug in loaded.drugs:
        n = int((clinical["drug_key"] == loaded.drug_keys[drug]).sum())
        if n == 0:
            raise InputError(
                f"{cfg.clinical.name}: no patient with expression was treated with {drug} (drugs in the table: "
                f"{examples(sorted(drug_values.unique()), 6)}); check the drug column or remove [patients]."
            )
    loaded.patient_expression = expression
    loaded.clinical = clinical.reset_index(drop=True)
    loaded.matching["patients_with_expression"] = int(expression.shape[0])
    loaded.matching["clinical_rows_used"] = len(clinical)


# ------------------------------------------------------------------------------------------- pipeline
def _scores(cfg: PipelineConfig, expression: pd.DataFrame, gene_sets: pd.DataFrame) -> pd.DataFrame:
    return ssgsea(
        expression,
        gene_sets,
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        normalize=cfg.normalize,
    )


def _bundle_metadata(
    cfg: PipelineConfig,
    drug: str,
    features: list[str],
    organoid_scores: pd.DataFrame,
    gene_sets: dict[str, list[str]],
    all_pathways: list[str],
) -> dict[str, Any]:
    kept = all_pathways if cfg.normalize == "range" else features
    return {
        "drug": drug,
        "response_metric": cfg.response_metric,
        "lower_is_sensitive": cfg.lower_is_sensitive,
        "alignment": cfg.alignment,
        "quantile": cfg.quantile,
        "ssgsea": {"min_size": cfg.min_size, "max_size": cfg.max_size, "normalize": cfg.normalize},
        "gene_sets": {p: gene_sets[p] for p in kept},
        "organoid_scores": {f: organoid_scores[f].tolist() for f in features},
        "organoid_samples": [str(s) for s in organoid_scores.index],
        "config_sha256": sha256_file(cfg.source),
    }


@dataclass
class _DrugModel:
    drug: str
    features: list[str]
    y: pd.Series
    fitted: Any
    bundle: ModelBundle


def _fit_models(
    cfg: PipelineConfig, loaded: _Loaded, prox: pd.DataFrame, organoid_scores: pd.DataFrame
) -> dict[str, _DrugModel]:
    sets = proximal_pathways(prox)
    gene_set_dict = as_gene_set_dict(loaded.gene_sets)
    models: dict[str, _DrugModel] = {}
    for drug in loaded.drugs:
        proximal = sets.get(drug, [])
        features = [p for p in proximal if p in organoid_scores.columns]
        if len(features) < len(proximal):
            logger.warning(
                "%s: %d of %d proximal pathways were not scored (too few genes in the organoid expression): %s",
                drug,
                len(proximal) - len(features),
                len(proximal),
                examples([p for p in proximal if p not in organoid_scores.columns]),
            )
        if not features:
            logger.warning(
                "%s: no scored pathway is drug-proximal (z <= %.4f); the drug is skipped", drug, PROXIMAL_Z
            )
            continue
        rows = loaded.response[loaded.response["drug"] == drug]
        y = pd.Series(
            rows["value"].to_numpy(dtype=float), index=rows["sample"].astype(str).to_numpy(), name=drug
        )
        fitted = fit_drug_model(organoid_scores, y, features, model=cfg.model, top_k=cfg.top_k, seed=cfg.seed)
        meta = _bundle_metadata(
            cfg, drug, features, organoid_scores.loc[y.index], gene_set_dict, list(organoid_scores.columns)
        )
        models[drug] = _DrugModel(drug, features, y, fitted, in_memory_bundle(fitted, meta))
    if not models:
        raise InputError(
            "no drug has a drug-proximal pathway among the scored gene sets; check the network, the targets and "
            "[pathways] min_size."
        )
    return models


def _biomarkers(models: dict[str, _DrugModel], prox: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for drug, m in models.items():
        ranking = m.fitted[-1].ranking_.rename(columns={"feature": "pathway"})
        z = prox[prox["drug"] == drug].drop_duplicates("pathway").set_index("pathway")["z"]
        selected = set(m.fitted[-1].selected_features_)
        parts.append(
            pd.DataFrame(
                {
                    "drug": drug,
                    "pathway": ranking["pathway"].to_numpy(),
                    "z": z.reindex(ranking["pathway"]).to_numpy(),
                    "coefficient": ranking["coefficient"].to_numpy(),
                    "rank": ranking["rank"].to_numpy(),
                    "selected": [p in selected for p in ranking["pathway"]],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _organoid_cv(
    cfg: PipelineConfig, models: dict[str, _DrugModel], organoid_scores: pd.DataFrame, response: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    used = response[response["drug"].isin(list(models))].loc[:, ["sample", "drug", "value"]]
    proximal = {d: m.features for d, m in models.items()}
    # Random feature sets are compared with the exact batched ridge (fast); the configured model itself is
    # cross-validated on the proximal pathways in a second row per drug.
    baseline = cross_validate_response(
        organoid_scores,
        used,
        feature_sets={"proximal": proximal},
        n_random=cfg.n_random_sets,
        min_samples=MIN_ORGANOIDS,
        random_state=cfg.seed,
    )
    configured = cross_validate_response(
        organoid_scores,
        used,
        feature_sets={f"proximal_{cfg.model}_top{cfg.top_k}": proximal},
        model=make_model(cfg.model, cfg.top_k, cfg.seed),
        n_random=0,
        include_all=False,
        min_samples=MIN_ORGANOIDS,
        random_state=cfg.seed,
    )
    table = pd.concat([baseline, configured], ignore_index=True)
    table = table.sort_values("drug", kind="stable").reset_index(drop=True)
    predictions = []
    for drug, m in models.items():
        X = organoid_scores.loc[m.y.index, m.features]
        held_out = cross_val_predict(
            make_model(cfg.model, cfg.top_k, cfg.seed), X, m.y.to_numpy(), cv=LeaveOneOut()
        )
        predictions.append(
            pd.DataFrame(
                {"drug": drug, "sample": m.y.index, "observed": m.y.to_numpy(), "predicted": held_out}
            )
        )
    return table, pd.concat(predictions, ignore_index=True)


def _permutation_statistic(
    cfg: PipelineConfig,
    m: _DrugModel,
    organoid_scores: pd.DataFrame,
    patient_scores: pd.DataFrame,
    treated: pd.DataFrame,
) -> Any:
    """The closure refitting the organoid model on permuted responses and returning the signed log-rank z."""
    samples = list(m.y.index)
    X_org = organoid_scores.loc[samples, m.features]
    features = m.features
    aligned_all = _aligned_patient_z(cfg, m, patient_scores)
    Z_treated = aligned_all.loc[treated["patient"], features]
    kernel = LogrankKernel(treated["time"].to_numpy(), treated["event"].to_numpy())
    lower = cfg.lower_is_sensitive

    def statistic(shuffled: pd.DataFrame) -> float:
        y = shuffled.set_index("sample")["value"].reindex(samples).to_numpy(dtype=float)
        fitted = make_model(cfg.model, cfg.top_k, cfg.seed).fit(X_org, y)
        predicted = fitted[-1].predict(Z_treated)
        cutoff = prediction_cutoff(predicted, quantile=cfg.quantile, lower_is_sensitive=lower)
        responder = responder_mask(predicted, cutoff, lower_is_sensitive=lower)
        if responder.all() or not responder.any():
            return math.nan
        return kernel.signed(responder)

    return statistic


def _aligned_patient_z(cfg: PipelineConfig, m: _DrugModel, patient_scores: pd.DataFrame) -> pd.DataFrame:
    """Patient scores on the scale the final regressor sees (after the model's own scaler, where it applies)."""
    from organoidrx.pipeline._align import combat_to_reference, quantile_to_reference

    X = patient_scores.loc[:, m.features]
    if cfg.alignment == "standardize":
        reference = patient_reference(patient_scores, m.features)
        z = (X.to_numpy(dtype=float) - np.asarray(reference["mean"])) / np.asarray(reference["scale"])
        return pd.DataFrame(z, index=X.index, columns=m.features)
    organoids = _organoid_scores_of(m)
    align = combat_to_reference if cfg.alignment == "combat" else quantile_to_reference
    aligned = align(X, organoids)
    return m.fitted[0].transform(aligned)


def _organoid_scores_of(m: _DrugModel) -> pd.DataFrame:
    stored = m.bundle.metadata["organoid_scores"]
    return pd.DataFrame({f: np.asarray(stored[f], dtype=float) for f in m.features})


def _patients(
    cfg: PipelineConfig,
    loaded: _Loaded,
    models: dict[str, _DrugModel],
    organoid_scores: pd.DataFrame,
    patient_scores: pd.DataFrame,
    result: RunResult,
    timer: _Timer,
    collector: _WarningCollector,
) -> None:
    clinical = loaded.clinical
    assert clinical is not None
    horizon = cfg.horizon_months * 365.25 / 12
    covariates = list(cfg.covariates) or None
    prediction_rows, survival_rows = [], []
    for drug, m in models.items():
        collector.context = drug
        with timer.phase(f"patients {drug}"):
            predicted = predict_cohort(m.bundle, patient_scores, alignment=cfg.alignment)
            key = loaded.drug_keys[drug]
            treated = clinical[clinical["drug_key"] == key].drop_duplicates("patient").reset_index(drop=True)
            treated_pred = predicted.reindex(treated["patient"])
            # the split is learned on the treated patients and applied to everyone (and stored in the bundle)
            groups_treated = split_by_prediction(
                treated_pred, quantile=cfg.quantile, lower_is_sensitive=cfg.lower_is_sensitive
            )
            cutoff = prediction_cutoff(
                treated_pred, quantile=cfg.quantile, lower_is_sensitive=cfg.lower_is_sensitive
            )
            groups = assign_groups(predicted, cutoff, lower_is_sensitive=cfg.lower_is_sensitive)
            m.bundle.manifest["metadata"].update(
                {
                    "cutoff": cutoff,
                    "patient_reference": patient_reference(patient_scores, m.bundle.feature_names),
                }
            )
            prediction_rows.append(
                pd.DataFrame(
                    {
                        "patient": predicted.index,
                        "drug": drug,
                        "predicted_response": predicted.to_numpy(),
                        "group": groups.to_numpy(),
                        "treated": predicted.index.isin(treated["patient"]),
                    }
                )
            )
            surv = survival_analysis(
                treated,
                groups_treated,
                horizon=horizon,
                time_unit="days",
                covariates=covariates,
                prediction=treated_pred,
                lower_is_sensitive=cfg.lower_is_sensitive,
            )
            result.survival_results[drug] = surv
            untreated = clinical[clinical["drug"].isna() | (clinical["drug"].astype(str).str.strip() == "")]
            untreated = untreated[~untreated["patient"].isin(treated["patient"])].drop_duplicates("patient")
            if len(untreated):
                both = pd.concat([treated, untreated], ignore_index=True)
                try:
                    result.interactions[drug] = treatment_interaction(
                        both,
                        groups.reindex(both["patient"]).set_axis(both["patient"]),
                        pd.Series(
                            np.r_[np.ones(len(treated)), np.zeros(len(untreated))], index=both["patient"]
                        ),
                        covariates=covariates,
                    )
                except InputError as exc:
                    logger.warning("%s: treatment x signature interaction not computed: %s", drug, exc)
            if "response" in treated.columns and treated["response"].notna().any():
                try:
                    result.response_auc[drug] = response_auc(
                        treated_pred,
                        treated.set_index("patient")["response"],
                        lower_is_sensitive=cfg.lower_is_sensitive,
                        random_state=cfg.seed,
                    )
                except InputError as exc:
                    logger.warning("%s: response AUC not computed: %s", drug, exc)
        row = surv.to_frame().assign(drug=drug)
        if cfg.n_permutations > 0:
            with timer.phase(f"permutations {drug}"):
                statistic = _permutation_statistic(cfg, m, organoid_scores, patient_scores, treated)
                perm = permutation_test(
                    statistic,
                    m.y.rename("value").rename_axis("sample").reset_index().assign(drug=drug),
                    n_permutations=cfg.n_permutations,
                    random_state=cfg.seed,
                    alternative="greater",
                )
            for w in perm.warnings:
                logger.warning("%s", w)
            row = row.assign(
                permutation_p=perm.p_value,
                n_permutations=perm.n_permutations,
                permutation_statistic=perm.observed,
            )
        else:
            row = row.assign(permutation_p=math.nan, n_permutations=0, permutation_statistic=math.nan)
        survival_rows.append(row)
    collector.context = None
    result.patient_predictions = pd.concat(prediction_rows, ignore_index=True)
    survival = pd.concat(survival_rows, ignore_index=True)
    first = ["drug"]
    result.survival = survival.loc[:, first + [c for c in survival.columns if c not in first]]


def run_pipeline(
    config: PipelineConfig | str | Path,
    out_dir: str | Path,
    *,
    report: bool = True,
    write: bool = True,
    patients: bool = True,
    **overrides: Any,
) -> RunResult:
    """Run the whole pipeline of a configuration and write its outputs into ``out_dir``.

    Parameters
    ----------
    config : PipelineConfig or path
        A configuration from :func:`read_config` or the path of a TOML file.
    out_dir : str or Path
        Output folder (created). Receives ``proximity.tsv``, ``biomarkers.tsv``, ``organoid_cv.tsv``,
        ``organoid_cv_predictions.tsv`` and, with patients, ``patient_predictions.tsv``, ``patient_drug_sensitivity.tsv`` and ``survival.tsv``;
        then ``report.html`` with PNG figures and ``run.json``. Every file is written atomically.
    report : bool, default True
        Write ``report.html`` and the figures.
    write : bool, default True
        Write the tables and ``run.json``; ``False`` only computes (``report`` is then ignored).
    patients : bool, default True
        Run the patient half when the configuration has ``[patients]``; ``False`` stops after the organoid models.
    **overrides
        Settings replacing the configuration's (e.g. ``n_permutations=200``).

    Returns
    -------
    RunResult

    Raises
    ------
    InputError
        On an unusable configuration or input: missing files, unknown drugs (with close matches), fewer than 3
        organoids with a response for a drug, no patient treated with a drug, mismatched identifiers.

    Notes
    -----
    Per drug: pathways with proximity :math:`z \\le -1.2816` (Guney et al. 2016) are the features; their ssGSEA
    scores are z-scored over the organoids and a :class:`~organoidrx.models.DrugResponseModel` (``model``,
    ``top_k``) is fitted to the response. Patients are scored with the same model after standardising each
    pathway over the patient cohort (or aligning the cohort to the organoids), split at the ``quantile`` of the
    treated patients' predictions, and compared with Kaplan-Meier, log-rank and Cox (lifelines). The
    whole-pipeline permutation p permutes organoid responses among organoids, refits the model, re-splits the
    patients and recomputes the one-sided log-rank statistic (predicted responders living longer):
    :math:`p = (1 + \\#\\{s_b \\ge s\\}) / (1 + B)`.

    References
    ----------
    Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8.
    Guney E. et al. (2016) Nat Commun 7:10331, doi:10.1038/ncomms10331.
    """
    cfg = config if isinstance(config, PipelineConfig) else read_config(config)
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    out = Path(out_dir)
    timer = _Timer()
    with _collect_warnings() as collected:
        with timer.phase("load"):
            loaded = _load(cfg)
        with timer.phase("proximity"):
            if cfg.proximity is not None:
                prox = _read_proximity_table(
                    cfg.proximity, {d: loaded.drug_keys[d] for d in loaded.drugs}, loaded.resolver
                )
            else:
                assert cfg.network is not None
                network = read_network(
                    cfg.network,
                    edge_columns=list(cfg.edge_columns) if cfg.edge_columns else None,
                    min_score=cfg.min_score,
                    id_map=cfg.id_map,
                )
                prox = proximity(
                    network,
                    loaded.targets,
                    loaded.gene_sets,
                    drugs=loaded.drugs,
                    n_random=cfg.n_random,
                    random_state=cfg.seed,
                    min_score=None,
                )
        with timer.phase("ssgsea organoids"):
            organoid_scores = _scores(cfg, loaded.organoid_expression, loaded.gene_sets)
        with timer.phase("organoid models"):
            models = _fit_models(cfg, loaded, prox, organoid_scores)
            biomarkers = _biomarkers(models, prox)
        with timer.phase("organoid cv"):
            cv, cv_predictions = _organoid_cv(cfg, models, organoid_scores, loaded.response)
        result = RunResult(
            out_dir=out,
            proximity=prox,
            biomarkers=biomarkers,
            organoid_cv=cv,
            cv_predictions=cv_predictions,
            bundles={d: m.bundle for d, m in models.items()},
            models={d: m.fitted for d, m in models.items()},
        )
        if patients and loaded.patient_expression is not None:
            with timer.phase("ssgsea patients"):
                patient_scores = _scores(cfg, loaded.patient_expression, loaded.gene_sets)
            _patients(cfg, loaded, models, organoid_scores, patient_scores, result, timer, collected)
        elif not cfg.has_patients:
            logger.info("no [patients] section: preclinical-only mode (proximity, biomarkers, organoid CV)")
        if write:
            with timer.phase("write"):
                _write_tables(result)
    result.warnings = list(collected.messages)
    result.timings = dict(timer.timings)
    if not write:
        return result
    if report:
        from organoidrx.report import write_run_report

        tic = time.perf_counter()
        result.report = write_run_report(
            out,
            parameters=_parameters(cfg),
            proximity=result.proximity,
            biomarkers=result.biomarkers,
            organoid_cv=result.organoid_cv,
            cv_predictions=result.cv_predictions,
            patient_predictions=result.patient_predictions,
            survival=result.survival,
            survival_results=result.survival_results or None,
            interactions=result.interactions or None,
            response_auc=result.response_auc or None,
            inputs={k: str(v) for k, v in _inputs(cfg).items()},
            warnings=result.warnings,
            timings=result.timings,
            primary_feature_set="proximal",
        )
        result.timings["report"] = time.perf_counter() - tic
    _write_run_json(cfg, result, loaded.matching)
    return result


def _parameters(cfg: PipelineConfig) -> dict[str, Any]:
    params = cfg.to_dict()
    params.pop("source", None)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def sensitivity_matrix(patient_predictions: pd.DataFrame) -> pd.DataFrame:
    """Patients x drugs table of predicted response (first column ``patient``; lower = more sensitive).

    Every patient is scored with every drug's model, so this table ranks drugs within a patient as well as
    patients within a drug; survival is only tested on the patients treated with each drug.
    """
    wide = patient_predictions.pivot(index="patient", columns="drug", values="predicted_response")
    wide = wide.reindex(
        index=pd.unique(patient_predictions["patient"]), columns=pd.unique(patient_predictions["drug"])
    )
    wide.columns.name = None
    return wide.rename_axis("patient").reset_index()


def _write_tables(result: RunResult) -> None:
    out = result.out_dir
    write_tsv(result.proximity, out / "proximity.tsv")
    write_tsv(result.biomarkers, out / "biomarkers.tsv")
    write_tsv(result.organoid_cv, out / "organoid_cv.tsv")
    write_tsv(result.cv_predictions, out / "organoid_cv_predictions.tsv")
    if result.patient_predictions is not None:
        write_tsv(result.patient_predictions, out / "patient_predictions.tsv")
        write_tsv(sensitivity_matrix(result.patient_predictions), out / "patient_drug_sensitivity.tsv")
    if result.survival is not None:
        write_tsv(result.survival, out / "survival.tsv")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _write_run_json(cfg: PipelineConfig, result: RunResult, matching: Mapping[str, Any]) -> None:
    record = {
        "organoidrx": __version__,
        "config": str(cfg.source),
        "seed": cfg.seed,
        "parameters": _parameters(cfg),
        "mode": "preclinical-only" if result.survival is None else "organoids and patients",
        "drugs": list(result.bundles),
        "matching": matching,
        "versions": _versions(),
        "inputs": {
            name: {"path": str(p), "sha256": sha256_file(p)}
            for name, p in _inputs(cfg).items()
            if Path(p).is_file()
        },
        "timings_seconds": {k: round(v, 4) for k, v in result.timings.items()},
        "warnings": result.warnings,
        "outputs": sorted(
            p.name
            for p in result.out_dir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name != "run.json"
        ),
    }
    with atomic_write(result.out_dir / "run.json", "w", encoding="utf-8") as handle:
        json.dump(_jsonable(record), handle, indent=2, allow_nan=False)
        handle.write("\n")
