"""Model bundles: a fitted organoid model saved as JSON + ``.npy`` arrays (never pickle).

A SHA-256 checksum detects damage; an optional HMAC-SHA256 signature with a secret key detects forgery.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import logging
import math
import os
import re
import reprlib
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from organoidrx import __version__
from organoidrx._utils import InputError, atomic_write, examples, read_npy_header, staged_folder
from organoidrx._validation import as_expression_frame
from organoidrx.models._alignment import standardize_columns
from organoidrx.models._kernel import KERNELS, kernel_predict
from organoidrx.models._response import DrugResponseModel, linear_predict
from organoidrx.models._selection import ProximalPathwaySelector

logger = logging.getLogger(__name__)

__all__ = ["ModelBundle", "load_bundle", "predict_from_bundle", "read_key_file", "resolve_key", "save_bundle"]

FORMAT = "organoidrx-model-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Manifest field holding the optional HMAC-SHA256 signature (hex) of the bundle's canonical content.
SIGNATURE = "hmac_sha256"
#: Most bytes :func:`load_bundle` reads from one bundle: any one file, and the manifest plus its arrays in all.
MAX_BUNDLE_BYTES = 256 * 2**20
#: Most bytes of ``manifest.json`` (parsed JSON takes several times its size in memory).
MAX_MANIFEST_BYTES = 32 * 2**20
#: Deepest nesting of lists and objects in ``manifest.json`` (organoidrx writes about 5).
MAX_JSON_DEPTH = 32
#: Most arrays, steps and zip members a bundle may have.
MAX_ARRAYS = 256
MAX_STEPS = 16
MAX_ZIP_MEMBERS = 1024
#: Shortest signing key accepted.
MIN_KEY_BYTES = 16
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ModelBundle:
    """A loaded model bundle: the manifest (JSON) and its arrays, verified against the stored SHA-256 (and, when
    loaded with a key, its HMAC-SHA256 signature).

    Attributes
    ----------
    manifest : dict
        Format, package version, drug, model kind, step parameters, feature names, metadata, checksum.
    arrays : dict of str to ndarray
        Coefficients (or, for a kernel model, training matrix and dual coefficients), scaler mean/scale and
        selected indices, keyed by their name in the manifest.
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
    key: bytes | None = None,
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
    key : bytes, optional
        Secret key (at least 16 bytes, e.g. ``os.urandom(32)``) to sign the bundle with HMAC-SHA256;
        :func:`load_bundle` given the same key then refuses any bundle not signed with it.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        When the model is not fitted, contains a step that cannot be bundled, was trained without feature names
        or has NaN or infinite coefficients; when the metadata is not JSON-serialisable or larger or deeper than
        :func:`load_bundle` reads; when ``key`` is shorter than 16 bytes; or when ``path`` holds something that
        is not a bundle.

    Notes
    -----
    Layout: ``manifest.json`` plus ``arrays/<name>.npy`` (``np.save(..., allow_pickle=False)``). A linear model
    is a ``"linear"`` step (coefficients, selected indices, intercept); a kernel model without coefficients
    (``"kernel_ridge"`` with a non-linear kernel) is a ``"kernel"`` step holding the standardised training
    matrix of its selected pathways, its dual coefficients and selected indices as arrays and its kernel
    parameters and intercept in the manifest, which is all :func:`predict_from_bundle` needs. The manifest's
    ``sha256`` is the digest of the canonical manifest JSON without that field followed by every array's name and
    bytes in sorted order; :func:`load_bundle` refuses a bundle whose digest differs. The checksum detects
    damage (a truncated copy, a flipped bit, a hand edit), not forgery: whoever can edit the files can recompute
    it. With ``key``, the manifest's ``hmac_sha256`` is the HMAC-SHA256 of the same content under that key,
    which only holders of the key can produce. Writing is atomic: a zip goes through a temporary file, a folder
    is built beside ``path`` and takes its place whole (:func:`organoidrx._utils.staged_folder`, one atomic
    exchange on Linux).
    """
    path = Path(path)
    secret = None if key is None else _check_key(key)
    steps, arrays, summary = _describe(fitted)
    meta = dict(metadata or {})
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"metadata must be JSON-serialisable (strings, numbers, lists, dicts): {exc}."
        ) from exc
    drug = meta.get("drug", summary["drug"])
    if drug is not None and not isinstance(drug, str):
        raise InputError(f"metadata 'drug' must be a string; got {reprlib.repr(drug)}.")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "drug": drug,
        "model_kind": summary["model_kind"],
        "required_features": summary["required_features"],
        "steps": steps,
        "arrays": sorted(arrays),
        "metadata": meta,
    }
    _check_arrays(manifest, arrays, str(path), fix="refit the model on finite data before saving it")
    blobs = {f"arrays/{name}.npy": _npy_bytes(array) for name, array in arrays.items()}
    if secret is not None:
        manifest[SIGNATURE] = _digest(manifest, blobs, key=secret)
    manifest["sha256"] = _digest(manifest, blobs)
    text = _canonical_json(manifest, indent=2)
    _check_readable(path, text, blobs)
    files = {MANIFEST: text} | blobs
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
        elif isinstance(est, DrugResponseModel) and hasattr(est, "coef_"):
            step["kind"] = "linear"
            arrays[f"step{i}_coef"] = np.asarray(est.coef_, dtype=float)
            arrays[f"step{i}_selected"] = np.asarray(est.selected_indices_, dtype=np.int64)
            step["coef"], step["selected"] = f"step{i}_coef", f"step{i}_selected"
            step["intercept"] = float(est.intercept_)
            required = [str(names[j]) for j in est.selected_indices_]
            step["selected_features"] = required
        elif isinstance(est, DrugResponseModel):
            step["kind"] = "kernel"
            final = est.estimator_
            if not hasattr(final, "dual_coef_") or not hasattr(final, "X_fit_"):
                raise InputError(
                    f"step {i}: model {est.model!r} ({type(final).__name__}) has neither coefficients nor a "
                    "kernel expansion (X_fit_, dual_coef_); it cannot be bundled."
                )
            arrays[f"step{i}_train"] = np.asarray(final.X_fit_, dtype=float)
            arrays[f"step{i}_dual"] = np.asarray(final.dual_coef_, dtype=float)
            arrays[f"step{i}_selected"] = np.asarray(est.selected_indices_, dtype=np.int64)
            step["train"], step["dual"] = f"step{i}_train", f"step{i}_dual"
            step["selected"] = f"step{i}_selected"
            step["intercept"] = float(est.intercept_)
            step["kernel"] = {
                "kernel": str(final.kernel),
                "gamma": float(final.gamma_),
                "degree": int(final.degree),
                "coef0": float(final.coef0),
            }
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
        elif isinstance(value, Mapping):
            out[key] = _jsonable_params({str(k): v for k, v in value.items()})
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


def _digest(manifest: Mapping[str, Any], blobs: Mapping[str, bytes], *, key: bytes | None = None) -> str:
    """SHA-256 (or, with ``key``, HMAC-SHA256) of the canonical manifest without its checksum and signature,
    then every array's name and bytes in sorted order."""
    body = {k: v for k, v in manifest.items() if k not in ("sha256", SIGNATURE)}
    digest = hashlib.sha256() if key is None else hmac.new(key, digestmod=hashlib.sha256)
    digest.update(_canonical_json(body))
    for name in sorted(blobs):
        digest.update(name.encode() + b"\0")
        digest.update(blobs[name])
    return digest.hexdigest()


def _check_readable(path: Path, manifest: bytes, blobs: Mapping[str, bytes]) -> None:
    """Refuse to write a bundle that :func:`load_bundle` would refuse for its size or nesting."""
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise InputError(
            f"{path}: the manifest would be {len(manifest):,} bytes, above the {MAX_MANIFEST_BYTES:,} "
            "load_bundle reads; keep less metadata."
        )
    depth = _json_depth(manifest)
    if depth > MAX_JSON_DEPTH:
        raise InputError(
            f"{path}: the metadata nests {depth} levels deep in the manifest, above the {MAX_JSON_DEPTH} "
            "load_bundle reads; flatten it."
        )
    total = len(manifest) + sum(len(b) for b in blobs.values())
    if total > MAX_BUNDLE_BYTES:
        raise InputError(
            f"{path}: the bundle would be {total:,} bytes, above the {MAX_BUNDLE_BYTES:,} load_bundle reads."
        )


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


def _is_damaged_zip(path: Path) -> bool:
    """A file that starts as a zip archive but has no readable end-of-archive record (a truncated copy)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head == b"PK\x03\x04" and not zipfile.is_zipfile(path)


def _write_directory(path: Path, files: Mapping[str, bytes]) -> None:
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is a file; give a folder path or a name ending in .zip.")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).is_file():
        raise InputError(
            f"{path}: is a non-empty folder that is not an organoidrx bundle; refusing to overwrite it."
        )
    with staged_folder(path) as staging:
        for name, data in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())


# ---------------------------------------------------------------------------------------------- load
def load_bundle(
    path: str | os.PathLike[str], *, key: bytes | None = None, max_bytes: int | None = None
) -> ModelBundle:
    """Read and verify a bundle written by :func:`save_bundle` (folder or ``.zip``).

    Parameters
    ----------
    path : path-like
        The bundle folder or ``.zip`` file (the path itself may be a symbolic link; nothing inside may be).
    key : bytes, optional
        Secret key the bundle was signed with (:func:`save_bundle`'s ``key``). With a key, only a bundle carrying
        a valid HMAC-SHA256 signature is accepted; without one, a signature is not checked (logged at debug).
    max_bytes : int, optional
        Most bytes read from the bundle, for any one file and for all of them together; default
        :data:`MAX_BUNDLE_BYTES` (256 MiB). ``manifest.json`` may hold at most :data:`MAX_MANIFEST_BYTES`
        (32 MiB) of them.

    Returns
    -------
    ModelBundle

    Raises
    ------
    InputError
        When ``path`` does not exist or is not an organoidrx bundle (no ``manifest.json``, another format or a
        newer format version) or is a truncated zip; when the manifest is not valid JSON, nests deeper than
        :data:`MAX_JSON_DEPTH`, holds a non-finite number or a field of the wrong type, or its steps do not fit
        their arrays; when an array is missing, is not a plain numeric ``.npy`` file (a pickle is never loaded),
        holds NaN or infinite values where the model needs numbers, or an index out of range; when a file inside
        the folder is a symbolic link or not a regular file; when a zip member has an unsafe name (``../x``, an
        absolute path), a duplicated name, or declares more bytes than the limit; when the SHA-256 does not match
        (the bundle was modified after it was written); and, with ``key``, when the bundle is unsigned or its
        signature does not match.

    Notes
    -----
    Only ``manifest.json`` and the arrays it lists are read; other files in a bundle folder are ignored and
    never opened. The checksum detects accidental damage (a truncated copy, a flipped bit, a hand edit), not
    forgery: anyone who can edit a bundle can recompute it. Sign bundles (``key``) when they travel through
    hands you do not trust, and keep the key secret.
    """
    path = Path(path)
    label = str(path)
    limit = _check_limit(MAX_BUNDLE_BYTES if max_bytes is None else max_bytes)
    secret = None if key is None else _check_key(key)
    if not path.exists():
        raise InputError(f"{path}: no such model bundle (folder or .zip).")
    with _open_source(path, label, limit) as source:
        raw = source.read(MANIFEST, cap=min(MAX_MANIFEST_BYTES, limit))
        if raw is None:
            raise InputError(f"{label}: is not an organoidrx bundle (no {MANIFEST}).")
        manifest = _parse_manifest(raw, label)
        names = _check_structure(manifest, label)
        blobs: dict[str, bytes] = {}
        for name in names:
            member = f"arrays/{name}.npy"
            blob = source.read(member)
            if blob is None:
                raise InputError(
                    f"{label}: is incomplete ({member} is missing); the bundle was modified after it was "
                    "written. Re-save the model."
                )
            blobs[member] = blob
    if not hmac.compare_digest(_digest(manifest, blobs), str(manifest["sha256"])):
        raise InputError(
            f"{label}: checksum mismatch; the bundle was modified after it was written (damaged or edited). "
            "Re-save the model."
        )
    _check_signature(manifest, blobs, secret, label)
    arrays = {name: _read_npy(blobs[f"arrays/{name}.npy"], f"arrays/{name}.npy", label) for name in names}
    _check_arrays(manifest, arrays, label)
    return ModelBundle(manifest=manifest, arrays=arrays, source=str(path))


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"max_bytes must be a positive number of bytes; got {limit!r}.")
    return limit


def _check_key(key: Any) -> bytes:
    if isinstance(key, bytearray | memoryview):
        key = bytes(key)
    if not isinstance(key, bytes):
        raise InputError(
            f"key must be bytes (the secret itself); got {type(key).__name__}. Read a key file with "
            "Path(FILE).read_bytes()."
        )
    if len(key) < MIN_KEY_BYTES:
        raise InputError(
            f"key is {len(key)} bytes; use at least {MIN_KEY_BYTES} random bytes (e.g. os.urandom(32))."
        )
    return key


def _check_signature(
    manifest: Mapping[str, Any], blobs: Mapping[str, bytes], key: bytes | None, label: str
) -> None:
    signature = manifest.get(SIGNATURE)
    if key is None:
        if signature is not None:
            logger.debug(
                "%s: the bundle is signed but no key was given; its signature was not checked", label
            )
        return
    if signature is None:
        raise InputError(
            f"{label}: is not signed, but a key was given; only bundles signed with that key are accepted. "
            "Sign it ('organoidrx train --sign-key FILE' or save_bundle(..., key=...)) or drop the key."
        )
    if not hmac.compare_digest(_digest(manifest, blobs, key=key), str(signature)):
        raise InputError(
            f"{label}: signature does not match the key; the bundle was modified or signed with another key. "
            "Use the key it was signed with, or train it again."
        )


# ------------------------------------------------------------------------------------- reading the files
class _Source:
    """Reads named files of a bundle, never more than ``limit`` bytes in all."""

    def __init__(self, label: str, limit: int) -> None:
        self.label = label
        self.limit = limit
        self.used = 0

    def _allow(self, name: str, size: int, cap: int | None = None) -> int:
        """Bytes ``name`` may still hold; refuse it when its (declared) ``size`` is above that."""
        cap = self.limit if cap is None else min(cap, self.limit)
        if size > cap:
            raise InputError(
                f"{self.label}: {name} holds {size:,} bytes, above the {cap:,} a bundle file may hold; it is "
                "not an organoidrx model (or pass a larger max_bytes to load_bundle if you trust it)."
            )
        left = self.limit - self.used
        if size > left:
            raise InputError(
                f"{self.label}: {name} brings the bundle above {self.limit:,} bytes in all; it is not an "
                "organoidrx model (or pass a larger max_bytes to load_bundle if you trust it)."
            )
        return min(cap, left)

    def _count(self, name: str, data: bytes, allowed: int) -> bytes:
        if len(data) > allowed:
            raise InputError(
                f"{self.label}: {name} holds more than the {allowed:,} bytes it may; it is not an organoidrx "
                "model (or pass a larger max_bytes to load_bundle if you trust it)."
            )
        self.used += len(data)
        return data

    def read(self, name: str, cap: int | None = None) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the source."""


class _FolderSource(_Source):
    """Files of a bundle folder: regular files only, never through a symbolic link, read with a bounded read."""

    def __init__(self, root: Path, label: str, limit: int) -> None:
        super().__init__(label, limit)
        self.root = root

    def read(self, name: str, cap: int | None = None) -> bytes | None:
        parts = name.split("/")
        current = self.root
        for i, part in enumerate(parts):
            current = current / part
            shown = "/".join(parts[: i + 1])
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                return None
            if stat.S_ISLNK(info.st_mode):
                raise InputError(
                    f"{self.label}: {shown} is a symbolic link; a bundle must hold its own files. Replace the "
                    "link by a copy of the file, or re-save the model."
                )
            last = i == len(parts) - 1
            if not last and not stat.S_ISDIR(info.st_mode):
                raise InputError(f"{self.label}: {shown} is not a folder; re-save the model.")
            if last and not stat.S_ISREG(info.st_mode):
                raise InputError(
                    f"{self.label}: {shown} is not a regular file (a folder, pipe or device); re-save the model."
                )
        allowed = self._allow(name, info.st_size, cap)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        flags |= getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(current, flags)
        except OSError as exc:
            if os.path.islink(current):
                raise InputError(
                    f"{self.label}: {name} is a symbolic link; a bundle must hold its own files."
                ) from exc
            raise
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise InputError(f"{self.label}: {name} is not a regular file; re-save the model.")
            data = handle.read(allowed + 1)
        return self._count(name, data, allowed)


class _ZipSource(_Source):
    """Members of a bundle zip: names checked, declared sizes checked before reading, reads bounded."""

    def __init__(self, path: Path, label: str, limit: int) -> None:
        super().__init__(label, limit)
        if not path.is_file():
            raise InputError(
                f"{label}: is neither a folder nor a regular file; give a bundle folder or .zip."
            )
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
            raise InputError(
                f"{label}: is not an organoidrx bundle (no {MANIFEST}; not a folder or a zip file)."
            ) from exc
        try:
            self.members = self._check_members(self.archive.infolist())
        except BaseException:
            self.archive.close()
            raise

    def _check_members(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        label = self.label
        if len(infos) > MAX_ZIP_MEMBERS:
            raise InputError(
                f"{label}: holds {len(infos):,} zip members (a bundle has a few, at most {MAX_ZIP_MEMBERS}); it "
                "is not an organoidrx model."
            )
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if not _safe_member_name(name):
                raise InputError(
                    f"{label}: zip member {name!r} has an unsafe name (absolute, a drive, '..' or '\\'); a "
                    "bundle holds only manifest.json and arrays/*.npy. Refusing it."
                )
            if name in members:
                raise InputError(
                    f"{label}: zip member {name!r} appears twice; the archive is ambiguous. Re-save the model."
                )
            kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0  # Unix mode
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise InputError(
                    f"{label}: zip member {name!r} is a symbolic link or special file; re-save the model."
                )
            if info.flag_bits & 0x1:
                raise InputError(
                    f"{label}: zip member {name!r} is encrypted; bundles are not. Re-save the model."
                )
            if info.file_size > self.limit:
                raise InputError(
                    f"{label}: zip member {name!r} declares {info.file_size:,} uncompressed bytes, above the "
                    f"limit of {self.limit:,} (max_bytes); refusing to expand it."
                )
            total += info.file_size
            members[name] = info
        if total > self.limit:
            raise InputError(
                f"{label}: its zip members declare {total:,} uncompressed bytes in all, above the limit of "
                f"{self.limit:,} (max_bytes); refusing to expand it."
            )
        return members

    def read(self, name: str, cap: int | None = None) -> bytes | None:
        info = self.members.get(name)
        if info is None:
            return None
        if info.is_dir():
            raise InputError(f"{self.label}: zip member {name!r} is a folder; re-save the model.")
        allowed = self._allow(name, info.file_size, cap)
        try:
            with self.archive.open(info) as handle:
                data = handle.read(allowed + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise InputError(
                f"{self.label}: zip member {name!r} cannot be expanded ({' '.join(str(exc).split())}); the "
                "bundle is damaged. Re-save the model."
            ) from exc
        if len(data) != info.file_size:
            raise InputError(
                f"{self.label}: zip member {name!r} declares {info.file_size:,} bytes but holds {len(data):,}; "
                "the bundle is damaged. Re-save the model."
            )
        return self._count(name, data, allowed)

    def close(self) -> None:
        self.archive.close()


def _safe_member_name(name: str) -> bool:
    if not name or "\\" in name or "\0" in name or name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return False
    parts = name.rstrip("/").split("/")
    return all(part not in ("", ".", "..") for part in parts)


@contextlib.contextmanager
def _open_source(path: Path, label: str, limit: int) -> Iterator[_Source]:
    source: _Source
    if path.is_dir():
        source = _FolderSource(path, label, limit)
    elif not path.is_file():  # a pipe or device: never opened
        raise InputError(f"{label}: is neither a folder nor a regular file; give a bundle folder or .zip.")
    elif zipfile.is_zipfile(path):
        source = _ZipSource(path, label, limit)
    elif _is_damaged_zip(path):
        raise InputError(
            f"{label}: is a damaged zip file (it starts as one but its end-of-archive record is missing, as in a "
            "truncated copy); copy the bundle again or re-save the model."
        )
    else:
        raise InputError(f"{label}: is not an organoidrx bundle (no {MANIFEST}; not a folder or a zip file).")
    try:
        yield source
    finally:
        source.close()


# ------------------------------------------------------------------------------------- checking the manifest
_DAMAGED = "the bundle is damaged or was not written by organoidrx; re-save the model"
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_ARRAY_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1


class _RefusedJSON(ValueError):
    """A JSON construct bundles never hold (NaN, infinity, a duplicated key)."""


def _json_depth(raw: bytes) -> int:
    """Deepest nesting of arrays and objects in JSON text, counted without parsing (strings skipped)."""
    codes = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = _BRACKETS[codes]
    steps = steps[steps != 0].astype(np.int32)
    return int(np.cumsum(steps).max(initial=0)) if steps.size else 0


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _RefusedJSON(f"the number {text} is not finite")
    return value


def _refuse_constant(text: str) -> Any:
    raise _RefusedJSON(f"{text} is not a finite number")


def _first_duplicate(values: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _RefusedJSON(f"the key {_first_duplicate(k for k, _ in pairs)!r} appears twice in one object")
    return obj


def _parse_manifest(raw: bytes, label: str) -> dict[str, Any]:
    depth = _json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise InputError(
            f"{label}: {MANIFEST} nests {depth:,} levels deep (bundles use at most {MAX_JSON_DEPTH}); {_DAMAGED}."
        )
    try:
        manifest = json.loads(
            raw.decode("utf-8"),
            parse_float=_finite_float,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except _RefusedJSON as exc:
        raise InputError(f"{label}: {MANIFEST} is refused: {exc}; {_DAMAGED}.") from exc
    except RecursionError as exc:
        raise InputError(f"{label}: {MANIFEST} nests too deep; {_DAMAGED}.") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(f"{label}: {MANIFEST} is not valid JSON ({reason}); the bundle is damaged.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputError(
            f"{label}: is not an organoidrx bundle ({MANIFEST} has format {reprlib.repr(found)})."
        )
    version = manifest.get("format_version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise InputError(
            f"{label}: bundle format version {reprlib.repr(version)} is not supported by organoidrx "
            f"{__version__} (reads version {FORMAT_VERSION}); upgrade organoidrx or re-save the model."
        )
    return manifest


def _bad(label: str, where: str, expected: str, value: Any) -> InputError:
    return InputError(
        f"{label}: {MANIFEST} {where} must be {expected}, got {reprlib.repr(value)}; {_DAMAGED}."
    )


def _field(obj: Mapping[str, Any], key: str, where: str, label: str) -> Any:
    if key not in obj:
        raise InputError(f"{label}: {MANIFEST} lacks {where}; {_DAMAGED}.")
    return obj[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _names(value: Any, where: str, label: str, *, unique: bool = True) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(label, where, "a list of names (strings)", value)
    if unique and len(set(value)) != len(value):
        raise _bad(label, where, "a list of distinct names", f"{_first_duplicate(value)!r} twice")
    return list(value)


def _check_structure(manifest: Mapping[str, Any], label: str) -> list[str]:
    """Check every field the loader and the predictor read; return the array names."""
    for key in ("package_version", "model_kind"):
        value = _field(manifest, key, f"'{key}'", label)
        if not isinstance(value, str):
            raise _bad(label, f"'{key}'", "a string", value)
    drug = manifest.get("drug")
    if drug is not None and not isinstance(drug, str):
        raise _bad(label, "'drug'", "a string or null", drug)
    for key in ("sha256", SIGNATURE):
        value = manifest.get(key)
        if (key == "sha256" or value is not None) and not (
            isinstance(value, str) and _HEX64.fullmatch(value)
        ):
            raise _bad(label, f"'{key}'", "64 lowercase hexadecimal digits", value)
    metadata = manifest.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _bad(label, "'metadata'", "an object", metadata)
    names = _names(_field(manifest, "arrays", "'arrays'", label), "'arrays'", label)
    if len(names) > MAX_ARRAYS:
        raise _bad(label, "'arrays'", f"at most {MAX_ARRAYS} names", f"{len(names)} names")
    for name in names:
        if not _ARRAY_NAME.fullmatch(name):
            raise _bad(label, "'arrays'", "names of letters, digits, '_' and '-'", name)
    required = _names(
        _field(manifest, "required_features", "'required_features'", label), "'required_features'", label
    )
    steps = _field(manifest, "steps", "'steps'", label)
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise _bad(label, "'steps'", f"a list of 1 to {MAX_STEPS} steps", steps)
    flowing: list[str] | None = None
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(step, dict):
            raise _bad(label, where, "an object", step)
        kind = _field(step, "kind", f"{where}.kind", label)
        if kind not in ("select", "scale", "linear", "kernel"):
            raise _bad(label, f"{where}.kind", "'select', 'scale', 'linear' or 'kernel'", kind)
        if not isinstance(step.get("class", ""), str) or not isinstance(step.get("params", {}), dict):
            raise _bad(label, f"{where}.class/params", "a string and an object", [step.get("class"), "..."])
        features = _names(_field(step, "features", f"{where}.features", label), f"{where}.features", label)
        if flowing is not None and features != flowing:
            raise InputError(
                f"{label}: {MANIFEST} {where}.features differ from the names the previous step passes on; the "
                f"steps do not chain; {_DAMAGED}."
            )
        if kind in _MODEL_STEPS and i != len(steps) - 1:
            raise _bad(label, f"{where}.kind", "'linear' or 'kernel' only in the last step", kind)
        if kind not in _MODEL_STEPS and i == len(steps) - 1:
            raise _bad(label, f"{where}.kind", "'linear' or 'kernel' in the last step", kind)
        if kind == "select":
            selected = _names(
                _field(step, "selected", f"{where}.selected", label), f"{where}.selected", label
            )
            known = set(features)
            outside = [f for f in selected if f not in known]
            if outside:
                raise _bad(label, f"{where}.selected", "names among the step's features", outside[0])
            flowing = selected
            continue
        roles = _ROLES[kind]
        for role in roles:
            ref = _field(step, role, f"{where}.{role}", label)
            if not isinstance(ref, str) or ref not in names:
                raise _bad(label, f"{where}.{role}", "the name of an array listed in 'arrays'", ref)
        if kind == "kernel":
            _check_kernel_params(_field(step, "kernel", f"{where}.kernel", label), f"{where}.kernel", label)
        if kind in _MODEL_STEPS:
            intercept = _field(step, "intercept", f"{where}.intercept", label)
            if not _is_number(intercept) or not math.isfinite(intercept):
                raise _bad(label, f"{where}.intercept", "a finite number", intercept)
            chosen = _field(step, "selected_features", f"{where}.selected_features", label)
            if _names(chosen, f"{where}.selected_features", label) != required:
                raise _bad(label, "'required_features'", f"the names of {where}.selected_features", required)
            if kind == "kernel" and len(chosen) == len(features) and chosen != features:
                # a kernel model kept on every pathway is fitted on them in input order and reads them so
                raise InputError(
                    f"{label}: {MANIFEST} {where} reads all {len(features)} pathways of its kernel model in "
                    "ranked order, not in the order it was fitted on (an earlier organoidrx wrote such bundles); "
                    "its predictions would be wrong: train it again."
                )
        flowing = features
    return names


_MODEL_STEPS = ("linear", "kernel")
#: the arrays each step kind refers to, by role
_ROLES = {"scale": ("mean", "scale"), "linear": ("coef", "selected"), "kernel": ("train", "dual", "selected")}


def _check_kernel_params(params: Any, where: str, label: str) -> None:
    if not isinstance(params, dict) or set(params) != {"kernel", "gamma", "degree", "coef0"}:
        raise _bad(label, where, "an object with kernel, gamma, degree and coef0", params)
    if params["kernel"] not in KERNELS:
        raise _bad(label, f"{where}.kernel", f"one of {', '.join(KERNELS)}", params["kernel"])
    gamma, degree, coef0 = params["gamma"], params["degree"], params["coef0"]
    if not _is_number(gamma) or not math.isfinite(gamma) or gamma <= 0:
        raise _bad(label, f"{where}.gamma", "a finite number > 0", gamma)
    if isinstance(degree, bool) or not isinstance(degree, int) or not 1 <= degree <= 10:
        raise _bad(label, f"{where}.degree", "an integer between 1 and 10", degree)
    if not _is_number(coef0) or not math.isfinite(coef0):
        raise _bad(label, f"{where}.coef0", "a finite number", coef0)


def _read_npy(blob: bytes, member: str, label: str) -> np.ndarray:
    """A plain numeric array from ``.npy`` bytes; the header is checked before any memory is set aside."""
    if not blob.startswith(b"\x93NUMPY"):
        raise InputError(
            f"{label}: {member} is not a NumPy .npy file (a pickle or another format), refusing it; {_DAMAGED}."
        )
    buffer = io.BytesIO(blob)
    try:
        shape, _, dtype = read_npy_header(buffer)
    except (ValueError, SyntaxError, EOFError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(f"{label}: {member} has an unreadable .npy header ({reason}); {_DAMAGED}.") from exc
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputError(
            f"{label}: {member} holds {dtype} values; bundles hold plain numbers, never objects (which need "
            f"pickle); refusing it, {_DAMAGED}."
        )
    expected = math.prod(shape) * dtype.itemsize
    if len(blob) - buffer.tell() != expected:
        raise InputError(
            f"{label}: {member} declares shape {shape} ({expected:,} bytes of data) but holds "
            f"{len(blob) - buffer.tell():,}; {_DAMAGED}."
        )
    try:
        return np.load(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{label}: {member} cannot be read without pickle, refusing it; {_DAMAGED}."
        ) from exc


def _check_arrays(
    manifest: Mapping[str, Any], arrays: Mapping[str, np.ndarray], label: str, fix: str = ""
) -> None:
    """Shapes, dtypes, finiteness and index ranges of the arrays the steps use."""
    fix = fix or _DAMAGED
    for i, step in enumerate(manifest["steps"]):
        n = len(step["features"])
        roles = _ROLES.get(step["kind"], ())
        absent = [step[role] for role in roles if step[role] not in arrays]
        if absent:
            raise InputError(f"{label}: array {absent[0]!r} of steps[{i}] is missing; {fix}.")
        if step["kind"] == "scale":
            for role in ("mean", "scale"):
                _finite_vector(arrays[step[role]], step[role], n, label, fix)
            scale = arrays[step["scale"]]
            if np.any(scale <= 0):
                raise InputError(
                    f"{label}: array {step['scale']!r} holds {int(np.sum(scale <= 0))} scale(s) <= 0 "
                    f"(first {float(scale[scale <= 0][0])!r}); scales must be positive; {fix}."
                )
        elif step["kind"] in _MODEL_STEPS:
            selected = arrays[step["selected"]]
            if step["kind"] == "linear":
                coef = arrays[step["coef"]]
                _finite_vector(coef, step["coef"], None, label, fix)
                wanted, per = coef.size, "coefficient"
            else:
                dual, train = arrays[step["dual"]], arrays[step["train"]]
                _finite_vector(dual, step["dual"], None, label, fix)
                if train.ndim != 2 or train.dtype.kind not in "iuf" or train.shape[0] != dual.size:
                    raise InputError(
                        f"{label}: array {step['train']!r} must be a matrix of numbers with one row per dual "
                        f"coefficient ({dual.size}); got {train.dtype} of shape {train.shape}; {fix}."
                    )
                bad = ~np.isfinite(train)
                if bad.any():
                    raise InputError(
                        f"{label}: array {step['train']!r} holds {int(bad.sum())} non-finite value(s); a model "
                        f"needs finite numbers; {fix}."
                    )
                wanted, per = train.shape[1], "column of the training matrix"
            if selected.ndim != 1 or selected.dtype.kind not in "iu" or selected.shape != (wanted,):
                raise InputError(
                    f"{label}: array {step['selected']!r} must be {wanted} integer indices (one per "
                    f"{per}); got {selected.dtype} of shape {selected.shape}; {fix}."
                )
            outside = selected[(selected < 0) | (selected >= n)]
            if outside.size:
                raise InputError(
                    f"{label}: array {step['selected']!r} holds index {int(outside[0])}, out of range for the "
                    f"{n} features of steps[{i}] (0 to {n - 1}); {fix}."
                )
            if np.unique(selected).size != selected.size:
                raise InputError(f"{label}: array {step['selected']!r} repeats an index; {fix}.")
            names = [step["features"][j] for j in selected.tolist()]
            if names != list(step["selected_features"]):
                raise InputError(
                    f"{label}: array {step['selected']!r} does not point at steps[{i}].selected_features; {fix}."
                )


def _finite_vector(array: np.ndarray, name: str, n: int | None, label: str, fix: str) -> None:
    if array.ndim != 1 or array.dtype.kind not in "iuf" or (n is not None and array.size != n):
        size = "" if n is None else f"{n} "
        raise InputError(
            f"{label}: array {name!r} must be a vector of {size}numbers; got {array.dtype} of shape "
            f"{array.shape}; {fix}."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        raise InputError(
            f"{label}: array {name!r} holds {int(bad.sum())} non-finite value(s) (NaN or infinite, first at "
            f"position {int(np.flatnonzero(bad)[0])}); a model needs finite numbers; {fix}."
        )


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
        When required pathways are missing from ``scores`` or have missing values, ``standardize`` is unknown,
        or the bundle's steps and arrays are inconsistent (see :func:`load_bundle`).

    Notes
    -----
    The steps are replayed with the same NumPy operations as the fitted objects: selection by column,
    :math:`z = (x - \\mu) / s`, then :math:`\\hat y = b + z_S^\\top w`.
    """
    if not isinstance(bundle, ModelBundle):
        bundle = load_bundle(bundle)
    if standardize not in ("reference", "cohort", "none"):
        raise InputError(f"standardize must be 'reference', 'cohort' or 'none'; got {standardize!r}.")
    _check_structure(bundle.manifest, bundle.source or "bundle")
    _check_arrays(bundle.manifest, bundle.arrays, bundle.source or "bundle")
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
        elif step["kind"] == "kernel":
            selected = bundle.arrays[step["selected"]].astype(np.intp)
            params = step["kernel"]
            values = kernel_predict(
                np.ascontiguousarray(X[:, selected], dtype=float),
                bundle.arrays[step["train"]],
                bundle.arrays[step["dual"]],
                float(step["intercept"]),
                kernel=params["kernel"],
                gamma=float(params["gamma"]),
                degree=int(params["degree"]),
                coef0=float(params["coef0"]),
            )
            return pd.Series(values, index=scores.index.copy(), name="predicted_response")
        else:
            raise InputError(
                f"{label}: unknown step kind {step['kind']!r}; re-save the model with this version."
            )
    raise InputError(f"{label}: has no model step; the bundle is inconsistent.")


#: Largest key file read: a key file holds one secret, not a document.
MAX_KEY_FILE_BYTES = 4096

Key = bytes | str | os.PathLike[str]


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    """The secret key held in a file, without surrounding white space (so a trailing newline does not matter).

    Parameters
    ----------
    path : path-like
        A regular file of at most 4096 bytes holding at least 16 bytes, e.g. made by ``openssl rand -hex 32``.

    Returns
    -------
    bytes

    Raises
    ------
    InputError
        When the file is missing, not a regular file, too large or holds too short a key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: no such key file (or not a regular file); give the file holding the secret key."
        )
    size = path.stat().st_size
    if size > MAX_KEY_FILE_BYTES:
        raise InputError(
            f"{path}: key file is {size:,} bytes; it should hold one secret (at most {MAX_KEY_FILE_BYTES} bytes), "
            f"e.g. made by 'openssl rand -hex 32 > {path.name}'."
        )
    with open(path, "rb") as handle:
        key = handle.read(MAX_KEY_FILE_BYTES + 1).strip()
    if len(key) < MIN_KEY_BYTES:
        raise InputError(
            f"{path}: key file holds {len(key)} bytes; use at least {MIN_KEY_BYTES} random bytes, e.g. "
            f"'openssl rand -hex 32 > {path.name}'."
        )
    return key


def resolve_key(key: Key | None) -> bytes | None:
    """A key given as bytes, or read from a key file (:func:`read_key_file`); ``None`` stays ``None``."""
    if key is None or isinstance(key, bytes | bytearray):
        return None if key is None else bytes(key)
    return read_key_file(key)
