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
from organoidrx.models._bundle import MANIFEST, SIGNATURE

logger = logging.getLogger(__name__)

__all__ = ["INDEX", "check_bundle_index", "write_bundle_index"]

INDEX = "bundles.json"
_FORMAT = "organoidrx-bundles"
_MAX_BYTES = 4 * 2**20


def _digest(body: Mapping[str, Any], key: bytes | None) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest() if key else hashlib.sha256(text).hexdigest()


def _manifest_sha(bundle: Path) -> str:
    """The checksum a bundle's manifest states (verified against its content when the bundle is loaded)."""
    try:
        manifest = json.loads((bundle / MANIFEST).read_bytes()[: 32 * 2**20])
    except (OSError, ValueError) as exc:
        raise InputError(f"{bundle / MANIFEST}: cannot be read ({exc}); the bundle is damaged.") from None
    sha = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(sha, str):
        raise InputError(f"{bundle / MANIFEST}: has no checksum; the bundle is damaged.")
    return sha


def write_bundle_index(folder: Path, drugs: Mapping[str, str], key: bytes | None) -> None:
    """Write ``bundles.json`` into ``folder``: every bundle folder name -> its drug and manifest checksum."""
    body = {
        "format": _FORMAT,
        "bundles": {
            name: {"drug": drug, "sha256": _manifest_sha(folder / name)} for name, drug in drugs.items()
        },
    }
    index = dict(body, sha256=_digest(body, None))
    if key is not None:
        index[SIGNATURE] = _digest(body, key)
    (folder / INDEX).write_text(json.dumps(index, sort_keys=True, indent=1) + "\n")


def check_bundle_index(folder: Path, found: list[Path], key: bytes | None) -> None:
    """Refuse a folder of bundles that is not the set its training wrote.

    Without ``bundles.json`` (a folder assembled by hand) only repeated drugs are refused, with a warning that
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
        return
    try:
        index = json.loads(path.read_bytes()[:_MAX_BYTES])
        body = {"format": index["format"], "bundles": dict(index["bundles"])}
        entries = {str(n): (str(e["drug"]), str(e["sha256"])) for n, e in body["bundles"].items()}
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
    names = {p.name: p for p in found}
    missing = sorted(set(entries) - set(names))
    if missing:
        raise InputError(
            f"{folder}: {len(missing)} bundle(s) of its training are missing ({examples(missing)}); copy the "
            "whole folder again."
        )
    extra = sorted(set(names) - set(entries))
    if extra:
        raise InputError(
            f"{folder}: {len(extra)} bundle(s) were not written by its training ({examples(extra)}); remove them "
            "or predict with them one by one."
        )
    changed = [n for n, (_, sha) in entries.items() if not hmac.compare_digest(_manifest_sha(names[n]), sha)]
    if changed:
        raise InputError(
            f"{folder}: {len(changed)} bundle(s) differ from those its training wrote ({examples(changed)}), e.g. a "
            "bundle of another training; train again or restore the folder."
        )
