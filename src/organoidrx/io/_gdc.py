"""NCI GDC per-sample RNA-seq files (STAR - Counts, legacy HTSeq FPKM-UQ/counts) joined into one matrix."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._identifiers import _as_lookup, strip_ensembl_version
from organoidrx.io._tables import parse_table as _parse_delimited
from organoidrx.io._tables import read_text as _read_text

logger = logging.getLogger(__name__)

__all__ = ["read_gdc_expression", "read_gdc_sample_sheet"]

Unit = Literal["tpm", "fpkm_uq", "counts"]
_UNITS = ("tpm", "fpkm_uq", "counts")
_STAR_COLUMNS = {"counts": "unstranded", "tpm": "tpm_unstranded", "fpkm_uq": "fpkm_uq_unstranded"}
_STAR_HEADER = ["gene_id", "gene_name", "gene_type", "unstranded"]
_STAR_SUFFIX = ".rna_seq.augmented_star_gene_counts.tsv"
# Legacy HTSeq files: name pattern -> the single unit they hold.
_HTSEQ_UNITS = {".fpkm-uq.txt": "fpkm_uq", ".htseq.counts": "counts", ".fpkm.txt": "fpkm"}
_UNIT_NAMES = {"tpm": "TPM", "fpkm_uq": "FPKM-UQ", "counts": "read counts", "fpkm": "FPKM"}
# Accepted spellings of the columns of a GDC sample sheet and of a case/file/barcode table.
_FILE_NAME_COLUMNS = ("file name", "file_name", "filename")
_FILE_ID_COLUMNS = ("file id", "file_id", "id")
_BARCODE_COLUMNS = ("sample id", "sample_id", "barcodeid", "barcode", "sample_barcode", "sample")
_CASE_COLUMNS = ("case id", "case_id", "caseid")


def _kind(file_name: str) -> tuple[str, str | None]:
    """('star', None) or ('htseq', unit) from a GDC file name; ('unknown', None) otherwise."""
    lowered = file_name.lower().removesuffix(".gz")
    if lowered.endswith(_STAR_SUFFIX) or lowered.endswith("star_gene_counts.tsv"):
        return "star", None
    for suffix, unit in _HTSEQ_UNITS.items():
        if lowered.endswith(suffix):
            return "htseq", unit
    return "unknown", None


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    """The column named like the first of ``names`` that is one (case and surrounding spaces ignored)."""
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def read_gdc_sample_sheet(sample_sheet: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Read a GDC sample sheet or a case/file/barcode table into ``file_id, file_name, barcode, case_id``.

    Parameters
    ----------
    sample_sheet : str, path-like or DataFrame
        A GDC sample sheet (``gdc_sample_sheet.*.tsv``: ``File ID, File Name, Data Category, Data Type,
        Project ID, Case ID, Sample ID, Sample Type``) or a table with columns ``caseID, fileName, barcodeID``
        such as ``gdc_case_file_barcode.tsv``.

    Returns
    -------
    DataFrame
        Columns ``file_id`` (empty when absent), ``file_name``, ``barcode`` (the Sample ID, or the barcodeID),
        ``case_id`` and ``sample_type`` (empty when absent), one row per file, in sheet order.

    Raises
    ------
    InputError
        When the file-name or barcode column is missing, or a file name occurs twice.
    """
    if isinstance(sample_sheet, pd.DataFrame):
        table = sample_sheet.astype(str)
        name = "sample_sheet"
    else:
        name = Path(sample_sheet).name
        table = _parse_delimited(
            _read_text(sample_sheet), name=name, sep=None, default_sep="\t", all_strings=True
        )
    columns = [str(c) for c in table.columns]
    file_name = _pick(columns, _FILE_NAME_COLUMNS)
    barcode = _pick(columns, _BARCODE_COLUMNS)
    if file_name is None or barcode is None:
        raise InputError(
            f"{name} needs a file-name column ('File Name' or 'fileName') and a barcode column ('Sample ID' or "
            f"'barcodeID'); found {columns}."
        )
    file_id = _pick(columns, _FILE_ID_COLUMNS)
    case_id = _pick(columns, _CASE_COLUMNS)
    sample_type = _pick(columns, ("sample type", "sample_type"))
    n = table.shape[0]
    result = pd.DataFrame(
        {
            "file_id": table[file_id].str.strip() if file_id else [""] * n,
            "file_name": table[file_name].str.strip().map(lambda v: v.rsplit("/", 1)[-1]),
            "barcode": table[barcode].str.strip(),
            "case_id": table[case_id].str.strip() if case_id else [""] * n,
            "sample_type": table[sample_type].str.strip() if sample_type else [""] * n,
        }
    )
    if result.empty:
        raise InputError(f"{name} lists no files; it needs one row per downloaded file.")
    empty = result["barcode"] == ""
    if empty.any():
        raise InputError(
            f"{name}: {int(empty.sum())} rows have no barcode (first file {result['file_name'][empty].iloc[0]!r}); "
            "fill them in or remove the rows."
        )
    duplicated = result["file_name"][result["file_name"].duplicated()]
    if len(duplicated):
        raise InputError(
            f"{name} lists {len(duplicated)} file names twice (first: {examples(duplicated)}); keep one row per file."
        )
    return result.reset_index(drop=True)


def _locate(folder: Path, sheet: pd.DataFrame, sheet_name: str) -> list[Path]:
    """Path of every sheet row's file: folder/<file_id>/<name> (gdc-client layout), folder/<name>, or deeper."""
    by_name: dict[str, list[Path]] | None = None
    paths: list[Path] = []
    missing: list[str] = []
    for file_id, file_name in zip(sheet["file_id"], sheet["file_name"], strict=True):
        candidates = [folder / file_id / file_name] if file_id else []
        candidates.append(folder / file_name)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            if by_name is None:
                by_name = {}
                for p in folder.rglob("*"):
                    if p.is_file():
                        by_name.setdefault(p.name, []).append(p)
            hits = by_name.get(file_name, [])
            found = sorted(hits)[0] if hits else None
        if found is None:
            missing.append(file_name)
        else:
            paths.append(found)
    if missing:
        raise InputError(
            f"{len(missing)} of {len(sheet)} files listed in {sheet_name} are not under {folder} "
            f"(first: {examples(missing)}); download them or remove their rows from the sample sheet."
        )
    listed = set(sheet["file_name"])
    unlisted = sorted(
        p.name
        for p in folder.rglob("*")
        if p.is_file() and _kind(p.name)[0] != "unknown" and p.name not in listed
    )
    if unlisted:
        logger.warning(
            "%s: %d expression files under %s are not in the sample sheet and were not read (e.g. %s)",
            sheet_name,
            len(unlisted),
            folder,
            examples(unlisted),
        )
    return paths


def _read_star(path: Path, unit: str) -> tuple[pd.Series, pd.Series]:
    """(values indexed by Ensembl id without version, gene_name by the same index) from a STAR - Counts file."""
    name = path.name
    text = _read_text(path)
    lines = [line for line in text.split("\n") if not line.startswith("#")]
    table = _parse_delimited("\n".join(lines), name=name, sep="\t", default_sep="\t", all_strings=True)
    missing = [c for c in (*_STAR_HEADER[:2], _STAR_COLUMNS[unit]) if c not in table.columns]
    if missing:
        raise InputError(
            f"{name}: a GDC STAR - Counts file needs columns {[*_STAR_HEADER[:2], _STAR_COLUMNS[unit]]}; "
            f"missing {missing} (header {examples(list(table.columns), 5)})."
        )
    table = table[~table["gene_id"].str.startswith("N_")]
    return _numeric(table["gene_id"], table[_STAR_COLUMNS[unit]], name), pd.Series(
        table["gene_name"].to_numpy(), index=strip_ensembl_version(table["gene_id"])
    )


def _read_htseq(path: Path) -> pd.Series:
    name = path.name
    text = _read_text(path)
    try:
        table = pd.read_csv(
            io.StringIO(text), sep="\t", header=None, dtype=str, keep_default_na=False, engine="c"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"{name}: cannot be parsed as a two-column HTSeq table ({exc}).") from None
    if table.shape[1] != 2:
        raise InputError(
            f"{name}: an HTSeq file has two tab-separated columns (Ensembl id, value); found {table.shape[1]}."
        )
    table = table[~table[0].str.startswith("__")]
    return _numeric(table[0], table[1], name)


def _numeric(ids: pd.Series, values: pd.Series, name: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & (values.str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{name}: non-numeric value {values.iloc[row]!r} for gene {ids.iloc[row]!r}; the file is corrupt."
        )
    if (numbers < 0).any():
        raise InputError(f"{name}: negative values; GDC expression files hold counts or abundances >= 0.")
    stripped = strip_ensembl_version(ids)
    series = pd.Series(numbers.to_numpy(dtype=float), index=pd.Index(stripped, dtype=object))
    # GENCODE lists PAR genes twice (X and the _PAR_Y copy); their ids coincide once stripped.
    return series.groupby(level=0, sort=False).sum()


def read_gdc_expression(
    folder: str | os.PathLike[str],
    sample_sheet: str | os.PathLike[str] | pd.DataFrame,
    *,
    unit: Unit = "tpm",
    log2: bool = True,
    id_map: Any = None,
) -> pd.DataFrame:
    """Join GDC per-sample RNA-seq files into one samples x genes matrix indexed by TCGA barcodes.

    Parameters
    ----------
    folder : str or path-like
        Where the files were downloaded: ``gdc-client`` layout ``<folder>/<file id>/<file name>``, a flat folder,
        or any nesting (files are found by name).
    sample_sheet : str, path-like or DataFrame
        The GDC sample sheet, or a ``caseID, fileName, barcodeID`` table (see :func:`read_gdc_sample_sheet`).
        Each row's file becomes one row of the result, named by its barcode.
    unit : {'tpm', 'fpkm_uq', 'counts'}, default 'tpm'
        Which values to take. STAR - Counts files (``*.rna_seq.augmented_star_gene_counts.tsv``) hold all three
        (``tpm_unstranded``, ``fpkm_uq_unstranded``, ``unstranded``); legacy HTSeq files hold one each
        (``*.FPKM-UQ.txt.gz``, ``*.htseq.counts.gz``).
    log2 : bool, default True
        Return log2(x + 1).
    id_map : DataFrame, dict or path, optional
        Ensembl id -> symbol map (see :func:`organoidrx.io.read_gene_id_map`). Required for HTSeq files, which
        carry Ensembl ids only; for STAR files it replaces the files' own ``gene_name`` column.

    Returns
    -------
    DataFrame of shape (n_files, n_genes)
        Index = barcodes (sample sheet order), columns = gene symbols (first-seen order), float values.

    Raises
    ------
    InputError
        For an unknown unit, a unit the files do not hold, files of mixed kinds, sample-sheet rows whose file is
        missing, two files with the same barcode, files with different gene lists, HTSeq files without
        ``id_map``, or no gene id found in ``id_map``.

    Notes
    -----
    Ensembl version suffixes are removed. Genes that share a symbol are summed on the linear scale before the
    log: counts, TPM and FPKM-UQ are additive over loci, so a symbol's value is the abundance of all its loci
    (and TPM still sums to one million per sample). The four STAR summary rows (``N_unmapped``...) and HTSeq's
    ``__no_feature``-style rows are not genes and are removed. Ensembl ids without a symbol are counted in a
    warning and left out.
    """
    if unit not in _UNITS:
        raise InputError(f"unit must be one of {list(_UNITS)}; got {unit!r}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give the folder the GDC files were downloaded to.")
    sheet = read_gdc_sample_sheet(sample_sheet)
    sheet_name = "sample_sheet" if isinstance(sample_sheet, pd.DataFrame) else Path(sample_sheet).name
    duplicated = sheet["barcode"][sheet["barcode"].duplicated()]
    if len(duplicated):
        raise InputError(
            f"{sheet_name} maps several files to the same barcode (first: {examples(duplicated.unique())}); "
            "keep one file per sample (e.g. drop repeated aliquots)."
        )
    kinds = {_kind(f) for f in sheet["file_name"]}
    unknown = [f for f in sheet["file_name"] if _kind(f)[0] == "unknown"]
    if unknown:
        raise InputError(
            f"{sheet_name} lists {len(unknown)} files that are neither GDC STAR - Counts nor HTSeq files "
            f"(first: {examples(unknown)}); expected names ending in {_STAR_SUFFIX!r} or '.FPKM-UQ.txt.gz'."
        )
    if len(kinds) > 1:
        raise InputError(
            f"{sheet_name} mixes file kinds {sorted(str(k[1] or k[0]) for k in kinds)}; read each kind separately."
        )
    kind, file_unit = kinds.pop()
    if kind == "htseq" and file_unit != unit:
        raise InputError(
            f"{sheet['file_name'].iloc[0]}: legacy HTSeq files like this hold {_UNIT_NAMES[str(file_unit)]} "
            f"values only, not {_UNIT_NAMES[unit]}; pass unit={file_unit!r} or download STAR - Counts files."
        )
    if kind == "htseq" and id_map is None:
        raise InputError(
            f"{sheet['file_name'].iloc[0]}: HTSeq files carry Ensembl ids only; pass id_map= (e.g. the NCBI gene "
            "table read by read_gene_id_map) to name genes by symbol."
        )
    paths = _locate(folder, sheet, sheet_name)
    columns: list[pd.Series] = []
    names: pd.Series | None = None
    reference: pd.Index | None = None
    for path in paths:
        if kind == "star":
            values, gene_names = _read_star(path, unit)
            if names is None:
                names = gene_names[~gene_names.index.duplicated()]
        else:
            values = _read_htseq(path)
        if reference is None:
            reference = values.index
        elif not values.index.equals(reference):
            if set(values.index) != set(reference):
                differ = sorted(set(values.index) ^ set(reference))
                raise InputError(
                    f"{path.name} has a different gene list from {paths[0].name} ({len(differ)} ids differ, e.g. "
                    f"{examples(differ)}); read files of one annotation release together."
                )
            values = values.reindex(reference)
        columns.append(values)
    assert reference is not None  # paths is non-empty: the sheet has rows and every file was found
    matrix = pd.DataFrame(np.column_stack([c.to_numpy() for c in columns]), index=reference)
    matrix.columns = pd.Index(sheet["barcode"].tolist(), dtype=object)
    if id_map is not None:
        lookup, _ = _as_lookup(id_map)
        symbols = pd.Series(reference, index=reference).map(lookup)
        if symbols.isna().all():
            raise InputError(
                f"none of the {len(reference)} Ensembl ids of the GDC files (e.g. {examples(list(reference))}) "
                f"are in id_map (which has ids like {examples(list(lookup)[:3])}); pass an Ensembl -> symbol map."
            )
    else:
        assert names is not None
        symbols = names.reindex(reference)
        symbols = symbols.where(symbols.fillna("").str.strip() != "")
    unmapped = symbols.isna()
    if unmapped.any():
        logger.warning(
            "GDC files: %d of %d Ensembl ids have no symbol and were left out (e.g. %s)",
            int(unmapped.sum()),
            len(reference),
            examples(list(reference[unmapped.to_numpy()])),
        )
    kept = matrix.loc[~unmapped.to_numpy()]
    kept_symbols = symbols[~unmapped].to_numpy()
    n_shared = int(pd.Index(kept_symbols).duplicated().sum())
    summed = kept.groupby(kept_symbols, sort=False).sum()
    if n_shared:
        logger.info("GDC files: %d Ensembl ids shared a symbol with another and were summed", n_shared)
    if log2:
        summed = np.log2(summed + 1.0)
    result = summed.T
    result.index = pd.Index([str(b) for b in result.index], dtype=object)
    result.columns = pd.Index([str(g) for g in result.columns], dtype=object)
    logger.info(
        "read %d GDC %s files: %d samples x %d genes (%s%s)",
        len(paths),
        kind,
        result.shape[0],
        result.shape[1],
        _UNIT_NAMES[unit],
        ", log2(x+1)" if log2 else "",
    )
    return result.astype(float)
