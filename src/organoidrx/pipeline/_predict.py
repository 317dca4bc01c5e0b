"""``predict``: score new samples with the bundles written by ``train``."""

from __future__ import annotations

import logging
import math
import os
import reprlib
from pathlib import Path
from typing import Any

import pandas as pd

from organoidrx._registry import get_method
from organoidrx._utils import InputError, examples
from organoidrx.evaluation import ResponderSplit, assign_groups
from organoidrx.io import output_format, read_expression, read_gmt, write_obsm, write_table
from organoidrx.io._expression import Duplicates
from organoidrx.io._outputs import OutputFormat
from organoidrx.models import ModelBundle, load_bundle, predict_cohort
from organoidrx.models._bundle import MANIFEST, Key, resolve_key
from organoidrx.models._predict import Reference
from organoidrx.pipeline._bundle_index import load_bundle_folder
from organoidrx.scoring import MAX_SIZE, MIN_SIZE, score, streams

logger = logging.getLogger(__name__)

__all__ = ["predict_with_bundle"]


def predict_with_bundle(
    bundle: str | os.PathLike[str],
    expression: str | os.PathLike[str] | pd.DataFrame,
    *,
    gene_sets: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    format: OutputFormat | None = None,
    key: Key | None = None,
    reference: Reference = "bundle",
    duplicates: Duplicates = "error",
) -> pd.DataFrame:
    """Predict drug response of new samples (a cohort or one patient) with a bundle written by ``train``.

    Parameters
    ----------
    bundle : path
        A bundle folder or ``.zip``, or a folder written by :func:`train_bundles` (every drug); its checksum is verified (a modified or foreign bundle is refused).
    expression : path or DataFrame
        Expression of the new samples (a file is genes x samples; a DataFrame samples x genes).
    gene_sets : path, optional
        GMT file; default the gene sets stored in the bundle.
    out : path, optional
        When given, the table is written there, atomically, as :func:`write_predictions`.
    format : {"tsv", "parquet", "h5ad"}, optional
        Default from the extension of ``out`` (:func:`organoidrx.io.output_format`), else TSV.
    key : bytes or path, optional
        Accept only bundles signed with this secret (the key itself, or a key file; see :func:`train_bundles`).
    reference : {"bundle", "cohort"}, default "bundle"
        How the samples' pathway scores are standardised. ``"bundle"``: with the training patients' mean and
        scale stored in the bundle, so a patient's prediction is the same whoever else is in the file.
        ``"cohort"``: over the samples given, as Kong et al. (2020) standardised each TCGA cohort (predictions
        then depend on the cohort; at least 3 samples). See :func:`organoidrx.models.align_cohort`.
    duplicates : {"error", "mean", "max", "first"}, default "error"
        Duplicated gene rows of an expression file: an error, or reduced to their mean, max or first row.

    Returns
    -------
    DataFrame
        Columns ``patient, drug, predicted_response, group``. The group uses the cut-off learned on the training
        patients when the bundle has one, otherwise the bundle's quantile of these samples. ``attrs["reference"]``
        says which standardisation was used.

    Raises
    ------
    InputError
        On an unreadable, tampered or (with ``key``) unsigned or wrongly signed bundle, a bundle whose stored
        settings are malformed, or expression lacking the genes of the model's pathways.
    """
    secret = resolve_key(key)
    folder = Path(bundle)
    if folder.is_dir() and not os.path.lexists(folder / MANIFEST):
        loaded = load_bundle_folder(folder, secret)
        models = {p.name: m for p, m in loaded.items()}
        labels = [str(p) for p in loaded]
    else:
        models, labels = {str(bundle): load_bundle(bundle, key=secret)}, [str(bundle)]
    stored = [_stored_settings(m, label) for m, label in zip(models.values(), labels, strict=True)]
    # the expression and the gene sets are read once for every bundle
    data = read_expression(expression, duplicates=duplicates)
    given = read_gmt(gene_sets) if gene_sets is not None else None
    table = pd.concat(
        [
            _predict_one(m, label, settings, data, given, gene_sets, reference)
            for m, label, settings in zip(models.values(), labels, stored, strict=True)
        ],
        ignore_index=True,
    )
    table.attrs["reference"] = reference
    if out is not None:
        write_predictions(table, out, format, expression)
    return table


def _predict_one(
    model: ModelBundle,
    bundle: str,
    stored: dict[str, Any],
    data: pd.DataFrame,
    given: pd.DataFrame | None,
    gene_sets: str | os.PathLike[str] | None,
    reference: Reference,
) -> pd.DataFrame:
    """One bundle's predictions of the samples in ``data`` (its stored gene sets unless ``given``)."""
    sets: Any = stored["gene_sets"] if given is None else given
    if given is not None and gene_sets is not None:
        _warn_changed_sets(bundle, model.feature_names, given, stored["gene_sets"], Path(gene_sets).name)
    scoring = stored["scoring"]
    if not streams(scoring["method"], scoring["options"]):  # scores move with the samples given
        if len(data) < 3:
            raise InputError(f"{bundle}: its scorer {scoring['method']!r} compares each gene across the samples "
                             f"scored together; {len(data)} sample(s) cannot be scored alone (give 3 or more).")  # fmt: skip
        logger.warning("%s: scorer %r is cohort-dependent: these predictions depend on the %d samples given "
                       "together, whatever --reference says", model.drug, scoring["method"], len(data))  # fmt: skip
    data = _training_genes(bundle, data, stored["patient_genes"])
    _warn_missing_genes(bundle, model.feature_names, sets, data.columns)
    scores = score(
        data,
        sets,
        method=scoring["method"],
        min_size=scoring["min_size"],
        max_size=scoring["max_size"],
        **scoring["options"],
    )
    predicted = predict_cohort(model, scores, alignment=stored["alignment"], reference=reference)
    logger.info(
        "%s: %d samples standardised with %s",
        model.drug,
        len(predicted),
        "the training patients' mean and scale (reference bundle)"
        if reference == "bundle"
        else "their own mean and scale (reference cohort)",
    )
    lower = stored["lower_is_sensitive"]
    if stored["cutoff"] is not None:
        groups = assign_groups(predicted, stored["cutoff"], lower_is_sensitive=lower)
    elif len(predicted) >= 2:
        logger.info("the bundle holds no patient cut-off: samples split at their own quantile")
        split = ResponderSplit(stored["quantile"], lower).fit(predicted)
        groups = split.transform(predicted)
    else:
        logger.info("the bundle holds no patient cut-off and one sample cannot be split: group left empty")
        groups = pd.Series([pd.NA] * len(predicted), index=predicted.index)
    return pd.DataFrame(
        {
            "patient": predicted.index,
            "drug": model.drug,
            "predicted_response": predicted.to_numpy(),
            "group": groups.to_numpy(),
        }
    )


def _members(sets: Any, features: list[str]) -> dict[str, frozenset[str]]:
    if isinstance(sets, pd.DataFrame):
        grouped = sets.loc[sets["pathway"].isin(features)].groupby("pathway", sort=False)["gene"]
        return {str(p): frozenset(map(str, g)) for p, g in grouped}
    return {p: frozenset(map(str, sets[p])) for p in features if p in sets}


def _warn_changed_sets(bundle: str, features: list[str], given: Any, stored: Any, name: str) -> None:
    """Say which of the model's pathways the given gene sets define otherwise than the training did: their
    scores, and so the predictions, are then not those of the trained model."""
    mine, trained = _members(given, features), _members(stored, features)
    changed = [p for p in features if p in mine and p in trained and mine[p] != trained[p]]
    if changed:
        logger.warning(
            "%s: %s defines %d of the model's %d pathways with other genes than the training did (e.g. %s); "
            "predictions then differ from the trained model's: leave out --gene-sets to use the stored sets",
            bundle,
            name,
            len(changed),
            len(features),
            examples(changed),
        )


def _training_genes(bundle: str, data: pd.DataFrame, genes: list[str] | None) -> pd.DataFrame:
    """``data`` on the genes the training patients were ranked among, in their order (a bundle that stores them).

    A rank-based score (ssGSEA, GSVA, singscore) ranks a sample's every gene, and tied values are ordered by the
    genes' order: extra genes, missing genes or another order move a patient's scores off the training scale.
    Extra genes are left out and the rest put in training order, which reproduces the training patients' scores;
    missing genes cannot be restored and are named.
    """
    if genes is None:
        return data
    present = set(map(str, data.columns))
    kept = [g for g in genes if g in present]
    extra = len(present) - len(kept)
    missing = [g for g in genes if g not in present]
    if not kept:  # no gene in common (other identifiers): scoring refuses, naming both sides
        return data
    if extra:
        logger.warning(
            "%s: %d of the expression's %d genes were not among the %d genes the training patients were ranked "
            "among (e.g. %s); they are left out, so that each sample is ranked as the training patients were",
            bundle,
            extra,
            len(present),
            len(genes),
            examples(sorted(present - set(genes))),
        )
    if missing:
        logger.warning(
            "%s: the expression lacks %d of the %d genes the training patients were ranked among (e.g. %s); a "
            "sample is ranked without them, which moves its scores off the training scale: give the whole "
            "transcriptome, measured as for training",
            bundle,
            len(missing),
            len(genes),
            examples(missing),
        )
    if list(map(str, data.columns)) == kept:
        return data
    ordered = data.loc[:, kept]  # read_expression leaves one column per gene
    ordered.attrs = dict(data.attrs)
    return ordered


def _warn_missing_genes(bundle: str, features: list[str], sets: Any, genes: pd.Index) -> None:
    """Say how many genes of the model's pathways the expression lacks: their pathways are scored on the genes
    present, which moves the predictions (often a sign of other gene identifiers)."""
    if isinstance(sets, pd.DataFrame):
        members = sets.loc[sets["pathway"].isin(features), "gene"].astype(str)
    else:
        members = pd.Series([g for p in features for g in sets.get(p, [])], dtype=object)
    wanted = sorted(set(members))
    present = set(genes)
    missing = [g for g in wanted if g not in present]
    if missing and len(missing) < len(wanted):  # none at all: scoring refuses, naming both sides
        logger.warning(
            "%s: the expression lacks %d of the %d genes of the model's %d pathways (e.g. %s); those pathways are "
            "scored on the genes present, which moves the predictions: check that the gene identifiers match",
            bundle,
            len(missing),
            len(wanted),
            len(features),
            examples(missing),
        )


def _stored_settings(model: ModelBundle, label: str) -> dict[str, Any]:
    """The scoring, alignment and split settings a ``train`` bundle stores, every field read checked."""
    meta = model.metadata
    fix = "the bundle is damaged or was not written by 'organoidrx train'; train it again"

    def bad(name: str, expected: str, value: Any) -> InputError:
        return InputError(f"{label}: metadata {name} must be {expected}, got {reprlib.repr(value)}; {fix}.")

    if "gene_sets" not in meta or not ("scoring" in meta or "ssgsea" in meta):
        raise InputError(
            f"{label}: this bundle was not written by 'organoidrx train' (no gene sets stored); "
            "retrain it with 'organoidrx train CONFIG --out DIR'."
        )
    sets = meta["gene_sets"]
    if not isinstance(sets, dict) or not sets or not all(_is_names(g) for g in sets.values()):
        raise bad("'gene_sets'", "an object of pathway -> list of gene names", sets)
    if "scoring" in meta:
        scoring = meta["scoring"]
        if not isinstance(scoring, dict) or not {"method", "min_size", "max_size"} <= set(scoring):
            raise bad("'scoring'", "an object with method, min_size, max_size and options", scoring)
        method, options = scoring["method"], scoring.get("options", {})
    else:  # bundles written before scorers were registered: ssGSEA
        scoring = meta["ssgsea"]
        if not isinstance(scoring, dict) or not {"min_size", "max_size"} <= set(scoring):
            raise bad("'ssgsea'", "an object with min_size, max_size and normalize", scoring)
        method = "ssgsea"
        options = {"normalize": scoring["normalize"]} if "normalize" in scoring else {}
    if not isinstance(method, str):
        raise bad("scoring method", "a scorer name", method)
    if not isinstance(options, dict):
        raise bad("scoring options", "an object", options)
    alignment = meta.get("alignment", "standardize")
    if not isinstance(alignment, str):
        raise bad("'alignment'", "an alignment name", alignment)
    try:
        get_method("scorer", method).resolve(options, where="metadata scoring")
        MIN_SIZE.validate(scoring["min_size"], where="metadata scoring")
        if scoring["max_size"] is not None:
            MAX_SIZE.validate(scoring["max_size"], where="metadata scoring")
        alignment_options = meta.get("alignment_options", {})
        if not isinstance(alignment_options, dict):
            raise InputError(
                f"metadata alignment_options must be an object, got {reprlib.repr(alignment_options)}"
            )
        get_method("alignment", alignment).resolve(alignment_options, where="metadata alignment_options")
    except InputError as exc:
        raise InputError(f"{label}: {str(exc).rstrip('.')}; {fix}.") from exc
    cutoff = meta.get("cutoff")
    if cutoff is not None and not _is_finite(cutoff):
        raise bad("'cutoff'", "a finite number or null", cutoff)
    quantile = meta.get("quantile", 0.5)
    if not _is_finite(quantile) or not 0 < quantile < 1:
        raise bad("'quantile'", "a number between 0 and 1", quantile)
    lower = meta.get("lower_is_sensitive", True)
    if not isinstance(lower, bool):
        raise bad("'lower_is_sensitive'", "true or false", lower)
    features = model.feature_names
    organoids = meta.get("organoid_scores")
    if not isinstance(organoids, dict):
        raise bad("'organoid_scores'", "an object of pathway -> scores", organoids)
    lengths = set()
    for feature in features:
        values = organoids.get(feature)
        if not isinstance(values, list) or not all(_is_finite(v) for v in values):
            raise bad(f"organoid_scores[{feature!r}]", "a list of finite numbers", values)
        lengths.add(len(values))
    if len(lengths) > 1 or min(lengths, default=0) < 3:
        raise bad(
            "'organoid_scores'", "one score per organoid (at least 3) for every pathway", sorted(lengths)
        )
    response = meta.get("organoid_response")
    if response is not None and (
        not isinstance(response, list)
        or len(response) not in lengths
        or not all(_is_finite(v) for v in response)
    ):
        raise bad("'organoid_response'", f"{min(lengths)} finite numbers, one per organoid", response)
    patient_genes = meta.get("patient_genes")
    if patient_genes is not None and (not _is_names(patient_genes) or not patient_genes):
        raise bad("'patient_genes'", "a list of gene names", patient_genes)
    reference = meta.get("patient_reference")
    if reference is not None:
        ok = isinstance(reference, dict) and all(
            isinstance(reference.get(k), list)
            and len(reference[k]) == len(features)
            and all(_is_finite(v) for v in reference[k])
            for k in ("mean", "scale")
        )
        if not ok or not all(v > 0 for v in reference["scale"]):
            raise bad(
                "'patient_reference'",
                f"an object of mean and positive scale, {len(features)} finite numbers each",
                reference,
            )
    if not any(step["kind"] == "scale" for step in model.manifest["steps"]):
        raise InputError(f"{label}: the model has no scaling step; {fix}.")
    return {
        "gene_sets": {p: list(g) for p, g in sets.items()},
        "scoring": {
            "method": method,
            "min_size": scoring["min_size"],
            "max_size": scoring["max_size"],
            "options": dict(options),
        },
        "alignment": alignment,
        "cutoff": None if cutoff is None else float(cutoff),
        "quantile": float(quantile),
        "lower_is_sensitive": lower,
        "patient_genes": patient_genes,
    }


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def write_predictions(
    table: pd.DataFrame, out: str | os.PathLike[str], format: OutputFormat | None, expression: Any
) -> None:
    """Predictions as a long TSV/Parquet table, or as h5ad with samples x drugs tables in ``.obsm``.

    The h5ad holds ``.obsm["predicted_response"]`` and ``.obsm["predicted_group"]``, in a copy of ``expression``
    when it is an h5ad file or an AnnData object (as decoupler writes its scores), else beside the samples alone.
    """
    chosen = output_format(out, format)
    if chosen != "h5ad":
        write_table(table, out, format=chosen)
        return
    wide = table.pivot(index="patient", columns="drug")
    source = expression if type(expression).__name__ == "AnnData" else None
    if isinstance(expression, str | os.PathLike) and str(expression).lower().endswith(".h5ad"):
        source = expression
    samples = list(dict.fromkeys(table["patient"]))
    tables = {
        "predicted_response": wide["predicted_response"].astype(float).loc[samples],
        "predicted_group": wide["group"].astype(object).fillna("").astype(str).loc[samples],
    }
    for frame in tables.values():
        frame.columns.name = None
        frame.index.name = None
    write_obsm(tables, out, source=source)
