"""The TOML run configuration: parsing, defaults and validation with one-line messages."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from organoidrx._utils import InputError

__all__ = ["PipelineConfig", "read_config"]

ModelName = Literal["ridge", "svr", "linear", "elasticnet"]
NormalizeName = Literal["none", "range", "n_genes"]
AlignmentName = Literal["standardize", "combat", "quantile"]

# section -> {key: (required, type)}; a required key absent from the file is an error naming section and key.
_SCHEMA: dict[str, dict[str, tuple[bool, type | tuple[type, ...]]]] = {
    "preclinical": {
        "expression": (True, str),
        "response": (True, str),
        "metric": (False, str),
        "lower_is_sensitive": (False, bool),
        "duplicates": (False, str),
    },
    "network": {
        "edges": (False, str),
        "proximity": (False, str),
        "edge_columns": (False, list),
        "min_score": (False, (int, float)),
        "id_map": (False, str),
    },
    "pathways": {
        "gene_sets": (True, str),
        "min_size": (False, int),
        "max_size": (False, int),
    },
    "drugs": {
        "targets": (True, str),
        "names": (True, list),
    },
    "patients": {
        "expression": (True, str),
        "clinical": (True, str),
        "duration_col": (False, str),
        "event_col": (False, str),
        "patient_col": (False, str),
        "drug_col": (False, str),
        "response_col": (False, str),
        "time_unit": (False, str),
        "covariates": (False, list),
    },
    "settings": {
        "n_random": (False, int),
        "seed": (False, int),
        "model": (False, str),
        "top_k": (False, int),
        "n_permutations": (False, int),
        "quantile": (False, float),
        "horizon_months": (False, (int, float)),
        "normalize": (False, str),
        "alignment": (False, str),
        "n_random_sets": (False, int),
    },
}
_REQUIRED_SECTIONS = ("preclinical", "pathways", "drugs")
_MODELS = ("ridge", "svr", "linear", "elasticnet")
_CHOICES = {
    "normalize": ("none", "range", "n_genes"),
    "alignment": ("standardize", "combat", "quantile"),
}


@dataclass(frozen=True)
class PipelineConfig:
    """A validated run configuration; every path is absolute (resolved against the config file's folder)."""

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
    response_metric: str = "IC50"
    lower_is_sensitive: bool = True
    duplicates: str = "error"
    min_size: int = 5
    max_size: int = 2000
    patient_expression: Path | None = None
    clinical: Path | None = None
    clinical_columns: dict[str, str | None] = field(default_factory=dict)
    time_unit: str = "days"
    covariates: tuple[str, ...] = ()
    n_random: int = 1000
    seed: int = 0
    model: ModelName = "ridge"
    top_k: int = 10
    n_permutations: int = 1000
    quantile: float = 0.5
    horizon_months: float = 60.0
    normalize: NormalizeName = "none"
    alignment: AlignmentName = "standardize"
    n_random_sets: int = 100

    @property
    def has_patients(self) -> bool:
        """Whether the patient half of the pipeline runs."""
        return self.patient_expression is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable parameters (paths as strings)."""
        out = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


def _fail(source: Path, message: str) -> InputError:
    return InputError(f"{source.name}: {message}")


def _suggest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {match[0]!r}?)" if match else f" (known: {', '.join(options)})"


def read_config(path: str | Path) -> PipelineConfig:
    """Read and validate a run configuration file.

    Parameters
    ----------
    path : str or Path
        A TOML file with sections ``[preclinical]``, ``[network]``, ``[pathways]``, ``[drugs]``, optional
        ``[patients]`` and ``[settings]``. Relative paths inside it are relative to the file's folder.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    InputError
        On a missing file, invalid TOML, an unknown section or key (with the closest known one), a missing required
        key, a value of the wrong type, or a referenced file that does not exist.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: config file does not exist.")
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _fail(source, f"not valid TOML ({exc}); see the README for the config shape.") from None
    base = source.resolve().parent

    for section in raw:
        if section not in _SCHEMA:
            raise _fail(source, f"unknown section [{section}]{_suggest(section, list(_SCHEMA))}.")
    for section in _REQUIRED_SECTIONS:
        if section not in raw:
            raise _fail(source, f"missing section [{section}].")
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise _fail(source, f"[{section}] must be a table of key = value lines.")
        schema = _SCHEMA[section]
        for key, value in values.items():
            if key not in schema:
                raise _fail(source, f"unknown key {key!r} in [{section}]{_suggest(key, list(schema))}.")
            expected = schema[key][1]
            if isinstance(value, bool) and expected is not bool:
                ok = False
            else:
                ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
            if not ok:
                kind = (
                    expected.__name__
                    if isinstance(expected, type)
                    else " or ".join(t.__name__ for t in expected)
                )
                raise _fail(source, f"[{section}] {key} must be {kind}; got {value!r}.")
        for key, (required, _) in schema.items():
            if required and key not in values:
                raise _fail(source, f"missing key {key!r} in [{section}].")

    def get(section: str, key: str, default: Any = None) -> Any:
        return raw.get(section, {}).get(key, default)

    def file(section: str, key: str) -> Path | None:
        value = get(section, key)
        if value is None:
            return None
        resolved = (base / value).resolve()
        if not resolved.exists():
            raise _fail(source, f"[{section}] {key} = {value!r} does not exist (looked for {resolved}).")
        return resolved

    network, proximity = file("network", "edges"), file("network", "proximity")
    if network is None and proximity is None:
        raise _fail(
            source, "[network] needs 'edges' (a PPI network) or 'proximity' (a precomputed z-score table)."
        )
    names = get("drugs", "names")
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise _fail(source, f"[drugs] names must be a non-empty list of drug names; got {names!r}.")
    model = get("settings", "model", "ridge")
    if model not in _MODELS:
        raise _fail(
            source,
            f"[settings] model = {model!r} is not one of {', '.join(_MODELS)}{_suggest(model, list(_MODELS))}.",
        )
    for key, choices in _CHOICES.items():
        value = get("settings", key)
        if value is not None and value not in choices:
            raise _fail(
                source,
                f"[settings] {key} = {value!r} is not one of {', '.join(choices)}{_suggest(value, list(choices))}.",
            )
    positive = {"n_random": 1, "top_k": 1, "n_permutations": 0, "n_random_sets": 0}
    for key, minimum in positive.items():
        value = get("settings", key)
        if value is not None and value < minimum:
            raise _fail(source, f"[settings] {key} must be >= {minimum}; got {value}.")
    quantile = float(get("settings", "quantile", 0.5))
    if not 0 < quantile < 1:
        raise _fail(source, f"[settings] quantile must be between 0 and 1; got {quantile}.")
    has_patients = "patients" in raw
    edge_columns = get("network", "edge_columns")
    return PipelineConfig(
        source=source.resolve(),
        organoid_expression=file("preclinical", "expression"),  # type: ignore[arg-type]
        organoid_response=file("preclinical", "response"),  # type: ignore[arg-type]
        gene_sets=file("pathways", "gene_sets"),  # type: ignore[arg-type]
        targets=file("drugs", "targets"),  # type: ignore[arg-type]
        drugs=tuple(n.strip() for n in names),
        network=network,
        proximity=proximity,
        edge_columns=tuple(edge_columns) if edge_columns else None,
        min_score=get("network", "min_score", 700),
        id_map=file("network", "id_map"),
        response_metric=get("preclinical", "metric", "IC50"),
        lower_is_sensitive=get("preclinical", "lower_is_sensitive", True),
        duplicates=get("preclinical", "duplicates", "error"),
        min_size=get("pathways", "min_size", 5),
        max_size=get("pathways", "max_size", 2000),
        patient_expression=file("patients", "expression") if has_patients else None,
        clinical=file("patients", "clinical") if has_patients else None,
        clinical_columns={
            "patient_col": get("patients", "patient_col", "patient"),
            "duration_col": get("patients", "duration_col", "time"),
            "event_col": get("patients", "event_col", "event"),
            "drug_col": get("patients", "drug_col", "drug"),
            "response_col": get("patients", "response_col"),
        },
        time_unit=get("patients", "time_unit", "days"),
        covariates=tuple(get("patients", "covariates", ())),
        n_random=get("settings", "n_random", 1000),
        seed=get("settings", "seed", 0),
        model=model,
        top_k=get("settings", "top_k", 10),
        n_permutations=get("settings", "n_permutations", 1000),
        quantile=quantile,
        horizon_months=float(get("settings", "horizon_months", 60.0)),
        normalize=get("settings", "normalize", "none"),
        alignment=get("settings", "alignment", "standardize"),
        n_random_sets=get("settings", "n_random_sets", 100),
    )
