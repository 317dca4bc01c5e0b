"""The TOML run configuration: every key's type, default and allowed values written once, as :class:`Option`.

The sections and keys below are the whole configuration language; the docs' config reference, ``read_config``
and ``run_pipeline(**overrides)`` all read them from here. Method names (``scorer``, ``measure``, ``model``,
``alignment``) are checked against the method registries, and the options of the chosen methods go in the
sections ``[scorer]``, ``[measure]``, ``[model]`` and ``[alignment]``.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from organoidrx._compute import parse_dask_spec
from organoidrx._memory import parse_size
from organoidrx._registry import KINDS, Option, get_method, suggest
from organoidrx._utils import InputError
from organoidrx.io._clinical import check_roles
from organoidrx.pipeline._schema import SCHEMA
from organoidrx.scoring import MAX_SIZE, MIN_SIZE

logger = logging.getLogger(__name__)

__all__ = ["SCHEMA", "PipelineConfig", "apply_overrides", "read_config"]


_REQUIRED_SECTIONS = ("preclinical", "pathways", "drugs")
_CLINICAL_COLUMNS = ("patient_col", "duration_col", "event_col", "drug_col", "response_col")
#: settings that run_pipeline(**overrides) may replace: every non-path scalar key, by field name
_OVERRIDABLE: dict[str, Option] = {
    name: option
    for section in ("preclinical", "network", "pathways", "patients", "settings", "compute")
    for option, name in SCHEMA[section]
    if not option.path and name not in _CLINICAL_COLUMNS
}


@dataclass(frozen=True)
class PipelineConfig:
    """A validated run configuration; every path is absolute (resolved against the config file's folder).

    Field defaults are the :data:`SCHEMA` defaults; ``method_options`` maps each kind (``"scorer"``,
    ``"measure"``, ``"model"``, ``"alignment"``) to the options given for the chosen method.
    """

    source: Path
    organoid_expression: Path
    organoid_response: Path
    gene_sets: Path
    targets: Path
    drugs: tuple[str, ...]
    network: Path | None = None
    proximity: Path | None = None
    edge_columns: tuple[str, ...] | None = None
    min_score: float | None = 700
    id_map: Path | None = None
    proximity_gene_sets: Path | None = None
    response_metric: str = "IC50"
    lower_is_sensitive: bool = True
    duplicates: str = "error"
    replicates: str = "error"
    log_scale: bool | None = None
    min_size: int = MIN_SIZE.default
    max_size: int = MAX_SIZE.default
    patient_expression: Path | None = None
    clinical: Path | None = None
    follow_up: Path | None = None
    clinical_columns: dict[str, str | None] = field(default_factory=dict)
    time_unit: str = "days"
    covariates: tuple[str, ...] = ()
    scorer: str = "ssgsea"
    measure: str = "closest"
    model: str | tuple[str, ...] = "ridge"
    alignment: str = "standardize"
    n_random: int = 1000
    seed: int = 0
    top_k: int | tuple[int, ...] = 10
    n_permutations: int = 1000
    quantile: float = 0.5
    horizon_months: float = 60.0
    n_random_sets: int = 100
    force: bool = False
    dask: str | None = None
    memory: str | None = None
    compare_scorers: tuple[str, ...] = ()
    compare_measures: tuple[str, ...] = ()
    compare_models: tuple[str, ...] = ()
    compare_baselines: tuple[str, ...] = ("all_pathways", "all_genes", "target_genes")
    compare_n_random_sets: int = 1000
    compare_stop_after: int = 10
    compare_alpha: float = 1.0
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def has_patients(self) -> bool:
        """Whether the patient half of the pipeline runs."""
        return self.patient_expression is not None

    def __post_init__(self) -> None:
        # a list of one candidate is that candidate: nothing to choose
        for name in ("model", "top_k"):
            value = getattr(self, name)
            if isinstance(value, tuple | list) and len(value) == 1:
                object.__setattr__(self, name, value[0])

    @property
    def model_candidates(self) -> tuple[str, ...]:
        """The response model, or the models the nested cross-validation chooses among."""
        return (self.model,) if isinstance(self.model, str) else tuple(self.model)

    @property
    def top_k_candidates(self) -> tuple[int, ...]:
        """The number of pathways kept, or the numbers the nested cross-validation chooses among."""
        return (self.top_k,) if isinstance(self.top_k, int) else tuple(self.top_k)

    @property
    def selects_model(self) -> bool:
        """Whether each drug's model and top-k are chosen by nested cross-validation (several candidates)."""
        return len(self.model_candidates) * len(self.top_k_candidates) > 1

    @property
    def model_label(self) -> str:
        """``ridge_top10``, or ``nested_ridge+svr_top5+10`` when the model is chosen among candidates."""
        label = f"{'+'.join(self.model_candidates)}_top{'+'.join(map(str, self.top_k_candidates))}"
        return f"nested_{label}" if self.selects_model else label

    def options(self, kind: str) -> dict[str, Any]:
        """Every option of the chosen method of ``kind``: the configured ones, the rest at their defaults.

        With several candidate models, the configured ``[model]`` options as given: each candidate takes those it
        knows and resolves its own defaults.
        """
        name = getattr(self, kind)
        if not isinstance(name, str):
            return dict(self.method_options.get(kind, {}))
        return get_method(kind, name).resolve(self.method_options.get(kind, {}))

    @property
    def model_options(self) -> dict[str, Any]:
        """The configured ``[model]`` options (each candidate model resolves its own defaults)."""
        return dict(self.method_options.get("model", {}))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable parameters (paths as strings)."""
        out = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


def _names(chosen: str | tuple[str, ...]) -> tuple[str, ...]:
    """The chosen method of a kind, or its candidates (``model`` may list several)."""
    return (chosen,) if isinstance(chosen, str) else tuple(chosen)


def _check_method_options(
    method_options: Mapping[str, Mapping[str, Any]],
    chosen: Mapping[str, str | tuple[str, ...]],
    where: str,
) -> dict[str, dict[str, Any]]:
    checked: dict[str, dict[str, Any]] = {}
    for kind, given in method_options.items():
        methods = [get_method(kind, name) for name in _names(chosen[kind])]
        checked[kind] = {}
        for key, value in given.items():
            # with candidate models, an option goes to the candidates that take it (one at least)
            takers = [m for m in methods if any(o.name == key for o in m.options)]
            # none takes it: the error of the first candidate with options suggests the nearest one
            owner = takers[0] if takers else next((m for m in methods if m.options), methods[0])
            checked[kind][key] = owner.option(key).validate(value, where=f"{where}[{kind}]")
    return checked


def apply_overrides(cfg: PipelineConfig, overrides: Mapping[str, Any]) -> PipelineConfig:
    """``cfg`` with settings replaced, each checked exactly as the config file's key would be.

    ``overrides`` maps setting names (``n_permutations=200``, ``model="svr"``, ``min_size=10`` ...) to values; a
    method's option is given under its kind, e.g. ``scorer_options={"weight": 1.0}``.
    """
    changes: dict[str, Any] = {}
    method_options = {k: dict(v) for k, v in cfg.method_options.items()}
    for key, value in overrides.items():
        kind = key.removesuffix("_options")
        if key.endswith("_options") and kind in KINDS:
            if not isinstance(value, Mapping):
                raise InputError(f"{key} must be a dict of option name to value; got {value!r}.")
            method_options[kind] = {**method_options.get(kind, {}), **value}
            continue
        if key not in _OVERRIDABLE:
            known = [*_OVERRIDABLE, *(f"{k}_options" for k in KINDS)]
            raise InputError(f"unknown setting {key!r}{suggest(key, known)}.")
        option = _OVERRIDABLE[key]
        checked = option.validate(value)
        changes[key] = tuple(checked) if isinstance(checked, list) else checked
    if "quantile" in changes or "horizon_months" in changes:
        changes = {k: (float(v) if k in ("quantile", "horizon_months") else v) for k, v in changes.items()}
    if changes.get("dask") is not None:
        parse_dask_spec(changes["dask"], where="dask")
    cfg = dataclasses.replace(cfg, **changes)
    _check_together(cfg.min_size, cfg.max_size, cfg.memory)
    chosen = {kind: getattr(cfg, kind) for kind in KINDS}
    checked = _check_method_options(method_options, chosen, "")
    return dataclasses.replace(cfg, method_options=checked)


def _check_together(min_size: int, max_size: int | None, memory: str | None) -> None:
    """Settings valid alone but not together, or parsed only when first used: refused before any work."""
    if max_size is not None and min_size > max_size:
        raise InputError(
            f"[pathways] min_size = {min_size} is above max_size = {max_size}: no pathway could be kept; lower "
            "min_size or raise max_size."
        )
    if memory is not None:
        parse_size(memory, name="[settings] memory")


def read_config(path: str | Path) -> PipelineConfig:
    """Read and validate a run configuration file.

    Parameters
    ----------
    path : str or Path
        A TOML file with sections ``[preclinical]``, ``[network]``, ``[pathways]``, ``[drugs]``, optional
        ``[patients]``, ``[settings]`` and the options of the chosen methods in ``[scorer]``, ``[measure]``,
        ``[model]``, ``[alignment]``. Relative paths inside it are relative to the file's folder.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    InputError
        On a missing file, invalid TOML, an unknown section or key (with the closest known one), a missing required
        key, a value of the wrong type or outside its allowed values, or a referenced file that does not exist.
    """
    source = Path(path)
    if source.is_dir():
        raise InputError(f"{source}: is a folder, not a config file; give the path of the run's .toml file.")
    if source.exists() and not source.is_file():  # a FIFO or a device: reading it might never end
        raise InputError(f"{source}: is not a regular file; give the path of the run's .toml file.")
    if not source.is_file():
        raise InputError(f"{source}: config file does not exist.")
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{source.name}: not valid TOML ({exc}); see the config reference for the shape."
        ) from None
    try:
        return _parse(raw, source)
    except InputError as exc:
        message = str(exc)
        raise InputError(
            message if message.startswith(f"{source.name}: ") else f"{source.name}: {message}"
        ) from None


def _parse(raw: dict[str, Any], source: Path) -> PipelineConfig:
    base = source.resolve().parent
    sections = [*SCHEMA, *KINDS]
    for section, values in raw.items():
        if section not in sections:
            raise InputError(f"unknown section [{section}]{suggest(section, sections)}.")
        if not isinstance(values, dict):
            raise InputError(f"[{section}] must be a table of key = value lines.")
    for section in _REQUIRED_SECTIONS:
        if section not in raw:
            raise InputError(f"missing section [{section}].")

    settings = raw.get("settings", {})
    chosen = {}
    for kind in KINDS:
        option = next(o for o, _ in SCHEMA["settings"] if o.name == kind)
        chosen[kind] = option.validate(settings.get(kind, option.default), where="[settings]")

    fields: dict[str, Any] = {}
    clinical_columns: dict[str, Any] = {}
    for section, entries in SCHEMA.items():
        if section == "patients" and section not in raw:
            continue
        values = raw.get(section, {})
        names = {o.name: (o, f) for o, f in entries}
        for key in values:
            if key not in names:
                owner = next(
                    (k for k in KINDS for n in _names(chosen[k]) if key in get_method(k, n).defaults()), None
                )
                if owner is not None:
                    raise InputError(
                        f"{key!r} in [{section}] is an option of {owner} {chosen[owner]!r}: put it under "
                        f"[{owner}]."
                    )
                raise InputError(f"unknown key {key!r} in [{section}]{suggest(key, list(names))}.")
        for key, (option, name) in names.items():
            if key not in values:
                if option.required:
                    raise InputError(f"missing key {key!r} in [{section}].")
                value = option.default
            else:
                value = option.validate(values[key], where=f"[{section}]")
            if option.path and value is not None:
                resolved = (base / value).resolve()
                if not resolved.exists():
                    raise InputError(
                        f"[{section}] {key} = {values[key]!r} does not exist (looked for {resolved})."
                    )
                if resolved.is_dir():
                    raise InputError(
                        f"[{section}] {key} = {values[key]!r} is a folder ({resolved}), not a file; give the "
                        "path of the file."
                    )
                value = resolved
            if name in _CLINICAL_COLUMNS:
                clinical_columns[name] = value
            else:
                fields[name] = tuple(value) if isinstance(value, list | tuple) else value

    if fields["network"] is None and fields["proximity"] is None:
        raise InputError(
            "[network] needs 'edges' (a PPI network) or 'proximity' (a precomputed z-score table)."
        )
    if fields["network"] is not None and fields["proximity"] is not None:
        logger.warning(
            "[network] gives both 'edges' and 'proximity': run and train use the precomputed proximity table, "
            "compare the edges; remove the one you do not mean"
        )
    # a precomputed table: the keys that build the network have nothing to build
    if fields["network"] is None:
        unused = [f"[network] {k}" for k in ("edge_columns", "min_score", "id_map") if k in raw["network"]]
        unused += ["[pathways] proximity_gene_sets"] if "proximity_gene_sets" in raw["pathways"] else []
        if unused:
            logger.warning(
                "%s not used: [network] proximity is a precomputed table, so no network is built",
                ", ".join(unused),
            )
    names = fields["drugs"]
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise InputError(f"[drugs] names must be a non-empty list of drug names; got {list(names)!r}.")
    fields["drugs"] = tuple(n.strip() for n in names)
    if fields["edge_columns"] is not None and not fields["edge_columns"]:
        fields["edge_columns"] = None
    if fields["dask"] is not None:
        parse_dask_spec(fields["dask"], where="[compute] dask =")
    _check_together(fields["min_size"], fields["max_size"], fields["memory"])
    empty = [
        key for key, column in clinical_columns.items() if isinstance(column, str) and not column.strip()
    ]
    if empty:
        raise InputError(f"[patients] {empty[0]} is empty; give the column's name or leave the key out.")
    check_roles("[patients]", covariates=fields.get("covariates", ()), **clinical_columns)
    for kind, key in (("scorer", "scorers"), ("measure", "measures"), ("model", "models")):
        for name in fields[f"compare_{key}"]:  # an unknown name is an InputError with close matches
            get_method(kind, name)
    method_options = _check_method_options({kind: raw[kind] for kind in KINDS if kind in raw}, chosen, "")
    return PipelineConfig(
        source=source.resolve(), clinical_columns=clinical_columns, method_options=method_options, **fields
    )
