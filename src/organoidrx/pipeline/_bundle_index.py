"""The index of a folder of bundles written by ``train``: which drugs, which bundles, one training.

A bundle's checksum (and signature) vouches for that bundle alone. The index ``bundles.json`` vouches for the set:
``predict`` on the folder refuses a bundle that is missing, one that the training did not write (a copy under a
second name, a bundle of another training) and a bundle whose content differs from the one the training wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from organoidrx._utils import InputError, examples
from organoidrx.models._bundle import MANIFEST, SIGNATURE, ModelBundle, load_bundle

logger = logging.getLogger(__name__)

__all__ = ["INDEX", "check_bundle_index", "load_bundle_folder", "write_bundle_index"]

INDEX = "bundles.json"
_FORMAT = "organoidrx-bundles"
_MAX_BYTES = 4 * 2**20


def _digest(body: Mapping[str, Any], key: bytes | None) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest() if key else hashlib.sha256(text).hexdigest()


def write_bundle_index(folder: Path, drugs: Mapping[str, str], key: bytes | None) -> None:
    """Write ``bundles.json`` into ``folder``: every bundle folder name -> its drug and manifest checksum (the
    bundles were just written there)."""
    body = {
        "format": _FORMAT,
        "bundles": {
            name: {"drug": drug, "sha256": json.loads((folder / name / MANIFEST).read_text())["sha256"]}
            for name, drug in drugs.items()
        },
    }
    index = dict(body, sha256=_digest(body, None))
    if key is not None:
        index[SIGNATURE] = _digest(body, key)
    (folder / INDEX).write_text(json.dumps(index, sort_keys=True, indent=1) + "\n")


def load_bundle_folder(folder: Path, key: bytes | None) -> dict[Path, ModelBundle]:
    """Every bundle of a folder written by ``train``, each verified (checksum, ``key``'s signature) and the set
    checked against the folder's index (:func:`check_bundle_index`); bundle folder -> bundle, in name order."""
    found = sorted(p.parent for p in folder.glob(f"*/{MANIFEST}"))
    if not found:
        raise InputError(
            f"{folder}: holds no bundle (no manifest.json); pass a folder written by 'organoidrx train'."
        )
    linked = [p for p in found if p.is_symlink()]
    if linked:
        raise InputError(
            f"{linked[0]}: is a symbolic link inside {folder}; a folder written by 'organoidrx train' holds "
            "its bundles, not links to them. Replace the link by the bundle folder."
        )
    models = {p: load_bundle(p, key=key) for p in found}
    check_bundle_index(folder, {p.name: m for p, m in models.items()}, key)
    return models


def check_bundle_index(folder: Path, bundles: Mapping[str, ModelBundle], key: bytes | None) -> None:
    """Refuse a folder of bundles (folder name -> loaded, verified bundle) that is not the set its training wrote.

    Without ``bundles.json`` (a folder assembled by hand) only a drug held twice is refused, with a warning that
    the set cannot be checked; with a ``key`` the index is required and must carry the key's signature.
    """
    path = folder / INDEX
    if not path.is_file() or path.is_symlink():
        if key is not None:
            raise InputError(
                f"{folder}: has no {INDEX}, so the set of its bundles cannot be checked against the key; pass a "
                "folder written by 'organoidrx train --sign-key', or one bundle."
            )
        logger.warning(
            "%s: no %s (not written by 'organoidrx train'): predicting with every bundle found, without checking "
            "that none is missing or from another training",
            folder,
            INDEX,
        )
        _one_bundle_per_drug(folder, bundles)
        return
    try:
        index = json.loads(path.read_bytes()[:_MAX_BYTES])
        body = {"format": index["format"], "bundles": dict(index["bundles"])}
        entries = {str(n): str(e["sha256"]) for n, e in body["bundles"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path}: is not a bundle index ({type(exc).__name__}); the folder is damaged."
        ) from None
    if body["format"] != _FORMAT or not hmac.compare_digest(str(index.get("sha256")), _digest(body, None)):
        raise InputError(
            f"{path}: its checksum does not match its content; the index was modified or damaged."
        )
    if key is not None and not hmac.compare_digest(str(index.get(SIGNATURE)), _digest(body, key)):
        raise InputError(
            f"{path}: is unsigned or signed with another key; the set of bundles was not written with this key."
        )
    missing = sorted(set(entries) - set(bundles))
    if missing:
        raise InputError(
            f"{folder}: {len(missing)} bundle(s) of its training are missing ({examples(missing)}); copy the "
            "whole folder again."
        )
    extra = sorted(set(bundles) - set(entries))
    if extra:
        raise InputError(
            f"{folder}: {len(extra)} bundle(s) were not written by its training ({examples(extra)}); remove them "
            "or predict with them one by one."
        )
    # a loaded bundle's checksum is verified against its content, so this compares what was written
    changed = [
        n for n, sha in entries.items() if not hmac.compare_digest(str(bundles[n].manifest["sha256"]), sha)
    ]
    if changed:
        raise InputError(
            f"{folder}: {len(changed)} bundle(s) differ from those its training wrote ({examples(changed)}), e.g. a "
            "bundle of another training; train again or restore the folder."
        )


def _one_bundle_per_drug(folder: Path, bundles: Mapping[str, ModelBundle]) -> None:
    drugs: dict[str, str] = {}
    for name, bundle in bundles.items():
        if bundle.drug in drugs:
            raise InputError(
                f"{folder}: bundles {drugs[bundle.drug]} and {name} both hold drug {bundle.drug!r}; keep one."
            )
        drugs[str(bundle.drug)] = name
