"""``train``: fit the organoid models of a configuration and save them as bundles."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from organoidrx._utils import InputError
from organoidrx.models import save_bundle
from organoidrx.models._bundle import Key, resolve_key
from organoidrx.pipeline._bundle_index import write_bundle_index
from organoidrx.pipeline._config import PipelineConfig, read_config
from organoidrx.pipeline._inputs import check_inputs_unchanged, input_files
from organoidrx.pipeline._outputs import RunFolder
from organoidrx.pipeline._progress import Progress
from organoidrx.pipeline._run import run_pipeline

logger = logging.getLogger(__name__)

__all__ = ["train_bundles"]


def _safe(name: str) -> str:
    from organoidrx.report import safe_filename

    return safe_filename(name)


def _bundle_folders(drugs: Iterable[str], out: Path) -> dict[str, Path]:
    """The bundle folder of every drug; two drugs whose folders are one (ignoring case) are an error."""
    folders: dict[str, Path] = {}
    owner: dict[str, str] = {}
    for drug in drugs:
        folder = out / _safe(drug)
        other = owner.get(folder.name.lower())
        if other is not None:
            where = (
                str(folder)
                if folders[other] == folder
                else f"{folders[other]} and {folder}, one folder on case-insensitive file systems"
            )
            raise InputError(
                f"drugs {other!r} and {drug!r} would both be saved in {where}; rename one of them (bundle "
                "folders keep letters, digits, '.', '_' and '-', and ignore case)."
            )
        owner[folder.name.lower()] = drug
        folders[drug] = folder
    return folders


def train_bundles(
    config: PipelineConfig | str | Path,
    out_dir: str | Path,
    *,
    key: Key | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> dict[str, Path]:
    """Fit every drug's organoid model of a configuration and save one bundle per drug.

    Parameters
    ----------
    config : PipelineConfig or path
        The run configuration (see :func:`run_pipeline`).
    out_dir : str or Path
        Folder receiving one bundle folder per drug (``<drug>/manifest.json`` + ``arrays/*.npy``), named by the
        drug with characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``. It must be new
        or empty; it is written in a temporary sibling and swapped in whole, so it never mixes bundles of two
        trainings. ``bundles.json`` lists the bundles with their checksums (signed with ``key``), so that
        :func:`predict_with_bundle` on the folder refuses a missing bundle, a copy or a bundle of another training.
    key : bytes or path, optional
        Sign every bundle with HMAC-SHA256 under this secret: the key itself (bytes, at least 16) or a key file
        (see :func:`organoidrx.models._bundle.read_key_file`). :func:`predict_with_bundle` given the same key accepts only bundles signed
        with it.
    progress : callable, optional
        ``progress(phase, done, total)`` of the fit (see :func:`run_pipeline`).
    overwrite : bool, default False
        Replace a non-empty ``out_dir`` whole (``--overwrite``).
    **overrides
        Settings replacing the configuration's.

    Returns
    -------
    dict of str to Path
        Drug -> bundle path.

    Raises
    ------
    InputError
        On an unusable configuration or input (see :func:`run_pipeline`), an unusable key, or when two drugs
        would share one bundle folder (``DRUG_A`` and ``DRUG A``, or ``Drug_A`` and ``drug_a``, which are one
        folder on case-insensitive file systems); nothing is written then.

    Notes
    -----
    The models are fitted exactly as :func:`run_pipeline` fits them. Each bundle holds, beside the model, the
    gene sets of its pathways, the ssGSEA settings, the organoids' scores of its pathways (for aligned
    predictions) and, when the configuration has patients, the patients' mean and scale of those scores and the
    responder cut-off, so that :func:`predict_with_bundle` needs only the bundle and an expression file.
    """
    secret = resolve_key(key)
    cfg = config if isinstance(config, PipelineConfig) else read_config(config)
    folder = RunFolder(Path(out_dir), overwrite=overwrite)
    inputs = list(input_files(cfg).values())
    if key is not None and not isinstance(key, bytes | bytearray):
        inputs.append(Path(key))  # a key file inside --out would be deleted with the folder
    folder.check(inputs)  # before the work: a folder in use, a file, a read-only place
    result = run_pipeline(
        cfg,
        out_dir,
        write=False,
        report=False,
        cross_validate=False,  # a bundle holds the model fitted on every organoid, not its cross-validation
        n_permutations=0,
        progress=progress,
        **overrides,
    )
    out = Path(out_dir)
    folders = _bundle_folders(result.models, out)
    with folder.staged(inputs) as staging:
        check_inputs_unchanged(cfg, result.inputs)
        for drug, fitted in result.models.items():
            save_bundle(
                staging / folders[drug].name, fitted, metadata=result.bundles[drug].metadata, key=secret
            )
        write_bundle_index(staging, {folders[d].name: d for d in result.models}, secret)
    for drug, path in folders.items():
        logger.info("%s: bundle written to %s", drug, path)
    return folders
