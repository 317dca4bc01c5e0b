"""Model bundles: a fitted organoid model saved as JSON + ``.npy`` arrays (never pickle), checked by SHA-256."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from organoidrx import __version__
from organoidrx._utils import InputError, atomic_write, examples
from organoidrx._validation import as_expression_frame
from organoidrx.models._alignment import standardize_columns
from organoidrx.models._response import DrugResponseModel, linear_predict
from organoidrx.models._selection import ProximalPathwaySelector

logger = logging.getLogger(__name__)

__all__ = ["ModelBundle", "load_bundle", "predict_from_bundle", "save_bundle"]

FORMAT = "organoidrx-model-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ModelBundle:
    """A loaded model bundle: the manifest (JSON) and its arrays, verified against the stored SHA-256.

    Attributes
    ----------
    manifest : dict
        Format, package version, drug, model kind, step parameters, feature names, metadata, checksum.
    arrays : dict of str to ndarray
        Coefficients, scaler mean/scale and selected indices, keyed by their name in the manifest.
    source : str
        Where the bundle was read from (for messages).
    """

    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(repr=False)
    source: str = ""

    @property
    def feature_names(self) -> list[str]:
        """Input columns the model expects (pathway names), in training order."""
        return list(self.manifest["steps"][0]["features"])

    @property
    def required_features(self) -> list[str]:
        """Input columns that carry a non-dropped coefficient; only these must be present to predict."""
        return list(self.manifest["required_features"])

    @property
    def drug(self) -> str | None:
        """The drug the model was trained for, when known."""
        drug = self.manifest.get("drug")
        return None if drug is None else str(drug)

    @property
    def metadata(self) -> dict[str, Any]:
        """The user metadata given to :func:`save_bundle`."""
        return dict(self.manifest.get("metadata", {}))

    def predict(
        self, scores: pd.DataFrame, *, standardize: Literal["reference", "cohort"] = "reference"
    ) -> pd.Series:
        """Shorthand for :func:`predict_from_bundle`."""
        return predict_from_bundle(self, scores, standardize=standardize)


# ---------------------------------------------------------------------------------------------- save
def save_bundle(
    path: str | os.PathLike[str],
    fitted: Pipeline | DrugResponseModel,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a fitted model as a bundle: a directory, or a single ``.zip`` file when ``path`` ends in ``.zip``.

    Parameters
    ----------
    path : path-like
        Destination. An existing bundle at ``path`` is replaced; any other existing file or non-empty folder is
        refused.
    fitted : Pipeline or DrugResponseModel
        A fitted :class:`DrugResponseModel`, or a fitted Pipeline of :class:`ProximalPathwaySelector` /
        :class:`~sklearn.preprocessing.StandardScaler` steps ending in a :class:`DrugResponseModel`, trained on a
        DataFrame (so the pathway names are known).
    metadata : mapping, optional
        JSON-serialisable facts to keep with the model (``drug``, data sources, cohort, ...). ``metadata["drug"]``
        (or the selector's ``drug``) is recorded as the bundle's drug.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        When the model is not fitted, contains a step that cannot be bundled, was trained without feature names,
        the metadata is not JSON-serialisable, or ``path`` holds something that is not a bundle.

    Notes
    -----
    Layout: ``manifest.json`` plus ``arrays/<name>.npy`` (``np.save(..., allow_pickle=False)``). The manifest's
    ``sha256`` is the digest of the canonical manifest JSON without that field followed by every array's name and
    bytes in sorted order; :func:`load_bundle` refuses a bundle whose digest differs. Writing is atomic: a zip
    goes through a temporary file, a folder is built beside ``path`` and renamed into place.
    """
    path = Path(path)
    steps, arrays, summary = _describe(fitted)
    meta = dict(metadata or {})
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"metadata must be JSON-serialisable (strings, numbers, lists, dicts): {exc}."
        ) from exc
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "drug": meta.get("drug", summary["drug"]),
        "model_kind": summary["model_kind"],
        "required_features": summary["required_features"],
        "steps": steps,
        "arrays": sorted(arrays),
        "metadata": meta,
    }
    blobs = {f"arrays/{name}.npy": _npy_bytes(array) for name, array in arrays.items()}
    manifest["sha256"] = _digest(manifest, blobs)
    files = {MANIFEST: _canonical_json(manifest, indent=2)} | blobs
    if path.suffix.lower() == ".zip":
        _write_zip(path, files)
    else:
        _write_directory(path, files)
    return path


def _describe(fitted: Any) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], dict[str, Any]]:
    """The replayable steps of a fitted model, its arrays and a summary."""
    if isinstance(fitted, Pipeline):
        estimators = [est for _, est in fitted.steps if est is not None and est != "passthrough"]
    else:
        estimators = [fitted]
    if not estimators or not isinstance(estimators[-1], DrugResponseModel):
        raise InputError(
            f"only a DrugResponseModel or a Pipeline ending in one can be bundled; got {type(fitted).__name__} "
            f"ending in {type(estimators[-1]).__name__ if estimators else 'nothing'}."
        )
    steps: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    drug = None
    current: list[str] | None = None  # names flowing out of the previous step
    required: list[str] = []
    for i, est in enumerate(estimators):
        try:
            check_is_fitted(est)
        except Exception as exc:
            raise InputError(
                f"step {i} ({type(est).__name__}) is not fitted; fit the model before saving."
            ) from exc
        names = getattr(est, "feature_names_in_", None)
        if names is None:
            names = current
        if names is None:
            raise InputError(
                f"step {i} ({type(est).__name__}) was fitted without feature names; fit on a DataFrame whose "
                "columns are the pathway names so the bundle can match them in new data."
            )
        step: dict[str, Any] = {
            "kind": "",
            "class": type(est).__name__,
            "params": _jsonable_params(est.get_params(deep=False)),
            "features": [str(n) for n in names],
        }
        if isinstance(est, ProximalPathwaySelector):
            step["kind"] = "select"
            step["selected"] = [str(n) for n, keep in zip(names, est.get_support(), strict=True) if keep]
            current = list(step["selected"])
            drug = est.drug
        elif isinstance(est, StandardScaler):
            step["kind"] = "scale"
            n = len(names)
            mean = np.zeros(n) if est.mean_ is None else np.asarray(est.mean_, dtype=float)
            scale = np.ones(n) if est.scale_ is None else np.asarray(est.scale_, dtype=float)
            arrays[f"step{i}_mean"], arrays[f"step{i}_scale"] = mean, scale
            step["mean"], step["scale"] = f"step{i}_mean", f"step{i}_scale"
            current = [str(n) for n in names]
        elif isinstance(est, DrugResponseModel):
            step["kind"] = "linear"
            arrays[f"step{i}_coef"] = np.asarray(est.coef_, dtype=float)
            arrays[f"step{i}_selected"] = np.asarray(est.selected_indices_, dtype=np.int64)
            step["coef"], step["selected"] = f"step{i}_coef", f"step{i}_selected"
            step["intercept"] = float(est.intercept_)
            required = [str(names[j]) for j in est.selected_indices_]
            step["selected_features"] = required
        else:
            raise InputError(
                f"step {i} ({type(est).__name__}) cannot be bundled; use ProximalPathwaySelector, StandardScaler "
                "and DrugResponseModel."
            )
        steps.append(step)
    final = estimators[-1]
    summary = {
        "drug": drug,
        "model_kind": final.model,
        "required_features": required,
    }
    return steps, arrays, summary


def _jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | str):
            out[key] = value
        elif isinstance(value, float | np.floating):
            out[key] = float(value) if math.isfinite(value) else repr(float(value))
        elif isinstance(value, list | tuple | np.ndarray) and all(
            isinstance(v, bool | int | float | str | np.number) for v in value
        ):
            out[key] = [v.item() if isinstance(v, np.generic) else v for v in value]
        elif isinstance(value, pd.DataFrame):
            out[key] = f"<DataFrame {value.shape[0]} rows x {value.shape[1]} columns>"
        else:
            out[key] = repr(value)
    return out


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _canonical_json(obj: Any, indent: int | None = None) -> bytes:
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(obj, sort_keys=True, indent=indent, separators=separators, allow_nan=False).encode()


def _digest(manifest: Mapping[str, Any], blobs: Mapping[str, bytes]) -> str:
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    digest = hashlib.sha256(_canonical_json(body))
    for name in sorted(blobs):
        digest.update(name.encode() + b"\0")
        digest.update(blobs[name])
    return digest.hexdigest()


def _write_zip(path: Path, files: Mapping[str, bytes]) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a .zip file name or a different path.")
    if path.exists() and not _is_bundle_zip(path):
        raise InputError(f"{path}: exists and is not an organoidrx bundle; refusing to overwrite it.")
    with atomic_write(path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])


def _is_bundle_zip(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return MANIFEST in archive.namelist()


def _write_directory(path: Path, files: Mapping[str, bytes]) -> None:
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is a file; give a folder path or a name ending in .zip.")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).is_file():
        raise InputError(
            f"{path}: is a non-empty folder that is not an organoidrx bundle; refusing to overwrite it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old: Path | None = None
    try:
        for name, data in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "bundle")
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "bundle").exists() and not path.exists():
            os.replace(old / "bundle", path)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- load
def load_bundle(path: str | os.PathLike[str]) -> ModelBundle:
    """Read and verify a bundle written by :func:`save_bundle` (folder or ``.zip``).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    ModelBundle

    Raises
    ------
    InputError
        When ``path`` does not exist, is not an organoidrx bundle (no ``manifest.json``, another format or a newer
        format version), misses an array, holds an array that NumPy cannot read without pickle, or its SHA-256 does
        not match (the bundle was modified after it was written).
    """
    path = Path(path)
    label = path.name or str(path)
    if not path.exists():
        raise InputError(f"{path}: no such model bundle (folder or .zip).")
    files = _read_files(path, label)
    if MANIFEST not in files:
        raise InputError(f"{label}: is not an organoidrx bundle (no {MANIFEST}).")
    try:
        manifest = json.loads(files[MANIFEST])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{label}: {MANIFEST} is not valid JSON ({exc}); the bundle is damaged.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputError(f"{label}: is not an organoidrx bundle ({MANIFEST} has format {found!r}).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{label}: bundle format version {manifest.get('format_version')!r} is not supported by organoidrx "
            f"{__version__} (reads version {FORMAT_VERSION}); upgrade organoidrx or re-save the model."
        )
    names = manifest.get("arrays", [])
    blobs: dict[str, bytes] = {}
    for name in names:
        key = f"arrays/{name}.npy"
        if key not in files:
            raise InputError(
                f"{label}: is incomplete ({key} is missing); the bundle was modified after it was written."
            )
        blobs[key] = files[key]
    if _digest(manifest, blobs) != manifest.get("sha256"):
        raise InputError(f"{label}: checksum mismatch; the bundle was modified after it was written.")
    arrays: dict[str, np.ndarray] = {}
    for name in names:
        try:
            arrays[name] = np.load(io.BytesIO(blobs[f"arrays/{name}.npy"]), allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{label}: array {name!r} cannot be read without pickle; refusing it.") from exc
    return ModelBundle(manifest=manifest, arrays=arrays, source=str(path))


def _read_files(path: Path, label: str) -> dict[str, bytes]:
    if path.is_dir():
        files = {}
        for file in sorted(path.rglob("*")):
            if file.is_file():
                files[file.relative_to(path).as_posix()] = file.read_bytes()
        return files
    if not zipfile.is_zipfile(path):
        raise InputError(f"{label}: is not an organoidrx bundle (no {MANIFEST}; not a folder or a zip file).")
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}


# ---------------------------------------------------------------------------------------------- predict
def predict_from_bundle(
    bundle: ModelBundle | str | os.PathLike[str],
    scores: pd.DataFrame,
    *,
    standardize: Literal["reference", "cohort", "none"] = "reference",
) -> pd.Series:
    """Predict drug response for new samples (patients) with a saved model.

    Parameters
    ----------
    bundle : ModelBundle or path-like
        A loaded bundle or the path of one (verified on load).
    scores : DataFrame of shape (n_samples, n_pathways)
        Pathway scores of the new samples; columns are matched by name. Only the pathways with a coefficient
        (``bundle.required_features``) must be present.
    standardize : {"reference", "cohort"}, default "reference"
        ``"reference"`` applies the training cohort's scaler (mean and scale stored in the bundle), which
        reproduces the in-memory pipeline's ``predict`` bit for bit. ``"cohort"`` re-standardises with the new
        cohort's own mean and population standard deviation, as Kong et al. (2020) did for TCGA patients (useful
        when organoid and patient scores come from different platforms). ``"none"``: ``scores`` are already
        standardised (e.g. by :func:`organoidrx.models.align_cohort`) and go straight to the regressor.

    Returns
    -------
    Series
        Predicted response indexed by sample, named ``"predicted_response"``. Lower predicted IC50 means more
        sensitive.

    Raises
    ------
    InputError
        When required pathways are missing from ``scores`` or have missing values, or ``standardize`` is unknown.

    Notes
    -----
    The steps are replayed with the same NumPy operations as the fitted objects: selection by column,
    :math:`z = (x - \\mu) / s`, then :math:`\\hat y = b + z_S^\\top w`.
    """
    if not isinstance(bundle, ModelBundle):
        bundle = load_bundle(bundle)
    if standardize not in ("reference", "cohort", "none"):
        raise InputError(f"standardize must be 'reference', 'cohort' or 'none'; got {standardize!r}.")
    scores = as_expression_frame(scores, name="scores")
    label = Path(bundle.source).name or "bundle"
    required = bundle.required_features
    absent = [f for f in required if f not in scores.columns]
    if absent:
        raise InputError(
            f"scores lack {len(absent)} of the {len(required)} pathways the model {label} uses "
            f"({examples(absent)}); scores have {examples(scores.columns)}. Score the same gene sets."
        )
    if scores[required].isna().to_numpy().any():
        bad = scores.index[scores[required].isna().any(axis=1)]
        raise InputError(
            f"scores have missing values in the model's pathways for {len(bad)} samples ({examples(bad)})."
        )
    inputs = bundle.feature_names
    unused = [f for f in inputs if f not in scores.columns]
    if unused:
        logger.info("%d input pathways without a coefficient are absent from scores; not needed", len(unused))
    X = scores.reindex(columns=inputs).to_numpy(
        dtype=float
    )  # absent unused columns are NaN and never reach w
    names = list(inputs)
    for step in bundle.manifest["steps"]:
        if [str(f) for f in step["features"]] != names:
            raise InputError(
                f"{label}: steps do not chain (feature names differ); the bundle is inconsistent."
            )
        if step["kind"] == "select":
            keep = [names.index(f) for f in step["selected"]]
            X = X[:, keep]
            names = [names[i] for i in keep]
        elif step["kind"] == "scale":
            if standardize == "reference":
                X = X - bundle.arrays[step["mean"]]
                X = X / bundle.arrays[step["scale"]]
            elif standardize == "cohort":
                X = standardize_columns(X)
        elif step["kind"] == "linear":
            coef = bundle.arrays[step["coef"]]
            selected = bundle.arrays[step["selected"]].astype(np.intp)
            values = linear_predict(X, selected, coef, float(step["intercept"]))
            return pd.Series(values, index=scores.index.copy(), name="predicted_response")
        else:
            raise InputError(
                f"{label}: unknown step kind {step['kind']!r}; re-save the model with this version."
            )
    raise InputError(f"{label}: has no linear model step; the bundle is inconsistent.")
