"""Loading a run's inputs: files read, drug names matched across tables, identifiers reconciled, proximity."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from organoidrx._memory import memory_budget
from organoidrx._utils import InputError, examples, sha256_file
from organoidrx.io import (
    DrugNameResolver,
    drug_keys,
    match_drugs,
    normalize_drug_key,
    read_drug_response,
    read_drug_targets,
    read_expression,
    read_gmt,
    read_network,
    reconcile_sample_ids,
)
from organoidrx.io._tables import read_table
from organoidrx.network import PROXIMAL_Z, build_interactome, proximity, shortest_path_lengths
from organoidrx.pipeline._config import PipelineConfig
from organoidrx.pipeline._patient_inputs import load_patients

logger = logging.getLogger(__name__)

__all__ = [
    "Inputs",
    "check_inputs_unchanged",
    "input_checksums",
    "input_files",
    "load_inputs",
    "run_proximity",
]

#: organoids with expression and a response a drug needs: a leave-one-out Spearman on fewer takes a handful
#: of values, so neither its p-values nor a model fitted on them carry information (run and compare alike)
MIN_ORGANOIDS = 5


def input_files(cfg: PipelineConfig) -> dict[str, Path]:
    named = {
        "organoid_expression": cfg.organoid_expression,
        "organoid_response": cfg.organoid_response,
        "network": cfg.network,
        "proximity": cfg.proximity,
        "id_map": cfg.id_map,
        "gene_sets": cfg.gene_sets,
        "proximity_gene_sets": cfg.proximity_gene_sets,
        "targets": cfg.targets,
        "patient_expression": cfg.patient_expression,
        "clinical": cfg.clinical,
        "follow_up": cfg.follow_up,
        "config": cfg.source,
    }
    return {k: v for k, v in named.items() if v is not None}


def input_checksums(cfg: PipelineConfig) -> dict[str, dict[str, str]]:
    """``{name: {"path": ..., "sha256": ...}}`` of every input file of ``cfg`` that exists, hashed now.

    :func:`load_inputs` takes them before it reads anything and :func:`check_inputs_unchanged` compares them again
    before anything is written, so the checksums a run records are those of the bytes it read.
    """
    return {
        name: {"path": str(path), "sha256": sha256_file(path)}
        for name, path in input_files(cfg).items()
        if Path(path).is_file()
    }


def check_inputs_unchanged(cfg: PipelineConfig, recorded: dict[str, dict[str, str]]) -> None:
    """Raise :class:`InputError` when an input file's bytes differ from ``recorded`` (it changed during the run)."""
    now = input_checksums(cfg)
    for name, entry in recorded.items():
        if now.get(name, {}).get("sha256") != entry["sha256"]:
            state = "was removed" if name not in now else "changed"
            raise InputError(
                f"{entry['path']}: the {name} file {state} while the run was using it, so the results would "
                "not be those of the file the run records; nothing was written; rerun once it stays unchanged."
            )


def _read_proximity_table(path: Path, drugs: dict[str, str], resolver: DrugNameResolver) -> pd.DataFrame:
    """A precomputed proximity table, long (drug, pathway, z) or wide (pathways x drug columns)."""
    raw = read_table(path)
    lower = {str(c).strip().lower(): c for c in raw.columns}
    if {"drug", "pathway"} <= set(lower) and "z" not in lower:
        raise InputError(f"{path.name}: has drug and pathway columns but no 'z' (columns {examples(list(raw.columns), 8)}); "
                         "a long proximity table holds drug, pathway, z, as 'organoidrx proximity' writes it.")  # fmt: skip
    if {"drug", "pathway", "z"} <= set(lower):
        long = raw.rename(columns={lower["drug"]: "drug", lower["pathway"]: "pathway", lower["z"]: "z"})
        long = long.loc[:, ["drug", "pathway", "z"]]
    else:
        first = raw.columns[0]
        long = raw.melt(id_vars=[first], var_name="drug", value_name="z").rename(columns={first: "pathway"})
        long = long.loc[:, ["drug", "pathway", "z"]]
    long["drug"] = long["drug"].astype(str)
    long["pathway"] = long["pathway"].astype(str)
    z = pd.to_numeric(long["z"], errors="coerce")
    bad = long["z"].notna() & z.isna()
    if bad.any():
        first = long.loc[bad].iloc[0]
        raise InputError(
            f"{path.name}: {int(bad.sum())} z-scores are not numbers (first: {first['z']!r} for drug "
            f"{first['drug']!r}, pathway {first['pathway']!r}); a proximity table holds numbers or NA."
        )
    long["z"] = z
    columns = sorted(long["drug"].unique())
    # a drug of a joined column (CETUXIMAB_GEFITINIB: drugs with the same targets)
    joined: dict[str, str] = {}
    for column in columns:
        names = [n.strip() for n in re.split(r"[_,;+/]", column) if n.strip()]
        joined.update({n: column for n in names if len(names) > 1 and n not in columns and n not in joined})
    spelled = match_drugs(drugs, [*columns, *sorted(joined)], resolver, where=path.name, listed=columns)
    parts = []
    for drug, source in spelled.items():
        if source in joined:
            logger.warning(
                "%s: drug %r has no column of its own and is read from the joined column %r: its z-scores are "
                "those of the column's pooled targets (as Kong et al. join drugs sharing their targets); give it "
                "its own column if its targets differ", path.name, drug, joined[source],
            )  # fmt: skip
            source = joined[source]
        parts.append(long[long["drug"] == source].assign(drug=drug))
    out = pd.concat(parts, ignore_index=True)
    out["proximal"] = out["z"] <= PROXIMAL_Z
    return out


@dataclass
class Inputs:
    """Every input of a run, read, matched and reconciled."""

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
    #: :func:`input_checksums` taken before anything was read
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)


def load_inputs(cfg: PipelineConfig) -> Inputs:
    checksums = input_checksums(cfg)
    resolver = DrugNameResolver()
    drugs = list(dict.fromkeys(cfg.drugs))
    keys = drug_keys(resolver, drugs)
    by_key: dict[str, list[str]] = {}
    for drug in drugs:
        by_key.setdefault(keys[drug], []).append(drug)
    twice = [names for names in by_key.values() if len(names) > 1]
    if twice:
        raise InputError(
            f"[drugs] names lists one drug under several names: {' and '.join(repr(n) for n in twice[0])} are "
            f"both {keys[twice[0][0]]}; keep one of them."
        )
    unresolved = [
        d for d in drugs if keys[d] == normalize_drug_key(d) and d.upper() not in resolver.canonical_names
    ]
    if unresolved:
        logger.info("drug names not in the synonym tables, matched by spelling: %s", examples(unresolved, 10))

    expression = read_expression(cfg.organoid_expression, duplicates=cfg.duplicates)  # type: ignore[arg-type]
    response = read_drug_response(
        cfg.organoid_response,
        metric=cfg.response_metric,
        lower_is_sensitive=cfg.lower_is_sensitive,
        replicates=cfg.replicates,  # type: ignore[arg-type]
        log_scale=cfg.log_scale,
    )
    log_scale = response.attrs.get("log_scale")  # as stated, or inferred from non-positive values
    spelled = match_drugs(
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
        values = response.loc[response["drug"] == drug, "value"]
        if len(values) < MIN_ORGANOIDS:
            raise InputError(
                f"{cfg.organoid_response.name}: only {len(values)} organoids have both expression and a {drug} "
                f"response (need at least {MIN_ORGANOIDS}); check the sample ids of the two files, or leave "
                f"{drug} out of [drugs]."
            )
        if values.nunique() == 1:
            raise InputError(
                f"{cfg.organoid_response.name}: all {len(values)} organoids have the same {drug} response "
                f"({values.iloc[0]:g}); there is nothing to learn: check the file, or leave {drug} out of [drugs]."
            )
    no_response = sorted(set(expression.index) - set(response["sample"]))
    if no_response:
        logger.warning("%d organoids have expression but no response and are not used: %s",
                       len(no_response), examples(no_response))  # fmt: skip

    gene_sets = read_gmt(cfg.gene_sets)
    targets = read_drug_targets(cfg.targets)
    if cfg.proximity is None:
        spelled_targets = match_drugs(
            keys, sorted(targets["drug"].unique()), resolver, where=cfg.targets.name
        )
        targets = pd.concat(
            [
                targets[targets["drug"] == source].assign(drug=drug)
                for drug, source in spelled_targets.items()
            ],
            ignore_index=True,
        )
    loaded = Inputs(
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
            "response_log_scale": log_scale,
        },
        checksums=checksums,
    )
    if cfg.has_patients:
        load_patients(cfg, loaded)
    return loaded


def run_proximity(
    cfg: PipelineConfig,
    loaded: Inputs,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    measures: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The run's proximity tables, one per measure (default ``[settings] measure``).

    Read from ``[network] proximity`` (one table, the configured measure), or computed on ``[network] edges``:
    the network is read, its graph built and its distance matrix computed or read from the cache once for every
    measure. The configured measure takes the ``[measure]`` options, the others their defaults.
    ``progress(phase, done, total)`` receives the distance and null-draw progress.
    """
    chosen = [cfg.measure] if measures is None else list(measures)
    if cfg.proximity is not None:
        table = _read_proximity_table(
            cfg.proximity, {d: loaded.drug_keys[d] for d in loaded.drugs}, loaded.resolver
        )
        return {cfg.measure: table}
    assert cfg.network is not None
    network = read_network(
        cfg.network,
        edge_columns=list(cfg.edge_columns) if cfg.edge_columns else None,
        min_score=cfg.min_score,
        id_map=cfg.id_map,
    )
    graph = build_interactome(network, min_score=None)
    distances = shortest_path_lengths(
        graph,
        max_memory=None if cfg.memory is None else memory_budget(cfg.memory, name="[settings] memory"),
        progress=None if progress is None else (lambda d, t: progress("distances", d, t)),
    )
    sets = loaded.gene_sets if cfg.proximity_gene_sets is None else read_gmt(cfg.proximity_gene_sets)
    return {
        measure: proximity(
            graph,
            loaded.targets,
            sets,
            drugs=loaded.drugs,
            n_random=cfg.n_random,
            random_state=cfg.seed,
            measure=measure,
            distances=distances,
            progress=progress,
            **(cfg.options("measure") if measure == cfg.measure else {}),
        )
        for measure in chosen
    }
