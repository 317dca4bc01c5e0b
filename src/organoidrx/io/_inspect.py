"""``inspect_file``: what a file is, what is in it, and what is wrong with it, using the package's own readers."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._clinical import (
    _PLACEHOLDER,
    _clean,
    _read_table,
    _to_float,
    read_clinical,
    read_tcga_biotab_drug,
    read_tcga_biotab_patient,
    read_tcga_cdr,
    read_tcga_drug_response,
)
from organoidrx.io._drug_names import DrugNameResolver
from organoidrx.io._drugs import _DRUG_NAMES, _VALUE_NAMES, read_drug_response, read_drug_targets
from organoidrx.io._expression import read_expression
from organoidrx.io._gdc import read_gdc_sample_sheet
from organoidrx.io._gdc_clinical import is_gdc_clinical, read_gdc_clinical
from organoidrx.io._gene_sets import read_gmt
from organoidrx.io._geo import read_geo_series_matrix
from organoidrx.io._identifiers import detect_gene_id_type, read_gene_id_map
from organoidrx.io._network import _ID_PAIRS, _SYMBOL_PAIRS, read_network
from organoidrx.io._tables import (
    column_key,
    default_delimiter,
    find_column,
    parse_table,
    read_head,
    read_header,
    read_table,
    read_text,
    sniff_delimiter,
    split_fields,
)
from organoidrx.io._tables import display_name as _display

__all__ = ["FileReport", "inspect_file"]


@dataclass
class FileReport:
    """What :func:`inspect_file` found. ``str(report)`` is the text ``organoidrx inspect`` prints."""

    path: str
    format: str
    description: str
    shape: tuple[int, ...]
    reader: str = ""
    id_type: str | None = None
    value_min: float | None = None
    value_max: float | None = None
    scale: str | None = None
    n_missing: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-serialisable)."""
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"file:        {self.path}",
            f"format:      {self.format} - {self.description}",
            f"shape:       {' x '.join(str(n) for n in self.shape)}",
        ]
        if self.reader:
            prefix = "organoidrx.io." if self.reader.startswith("read_") else ""
            lines.append(f"read with:   {prefix}{self.reader}")
        if self.id_type is not None:
            lines.append(f"identifiers: {self.id_type}")
        if self.value_min is not None and self.value_max is not None:
            lines.append(f"values:      {self.value_min:.4g} .. {self.value_max:.4g}")
        if self.scale is not None:
            lines.append(f"scale:       {self.scale}")
        lines.append(f"missing:     {self.n_missing}")
        for key, value in self.details.items():
            lines.append(f"{key + ':':<12} {value}")
        if self.problems:
            lines.append(f"problems ({len(self.problems)}):")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("problems:    none found")
        return "\n".join(lines)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _warnings_as_problems(problems: list[str]) -> Iterator[None]:
    """Reader warnings (dropped rows, unresolved names ...) become problems of the report instead of log lines."""
    handler = _Collect()
    logger = logging.getLogger("organoidrx.io")
    previous = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous
        problems.extend(handler.messages)


# --------------------------------------------------------------------------------------------------- sniffing
def _head_text(path: Path) -> str:
    """The first lines of the (decompressed) file as text; missing, special, empty and binary files are refused."""
    text = read_head(path)
    if not text.strip():
        raise InputError(f"{_display(path)}: the file is empty; nothing to inspect.")
    return text


def _header_fields(lines: list[str]) -> list[str]:
    """The header's column names, split as the readers split them (comment lines skipped)."""
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    if not body:
        return []
    sep = sniff_delimiter(body[:20], "\t")
    return [f.strip() for f in split_fields(body[0], sep)]


def _has(columns: set[str], *names: str) -> bool:
    """Whether a column matches one of ``names`` (``columns`` holds :func:`column_key` keys)."""
    return any(column_key(n) in columns for n in names)


def _detect(path: Path, text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")[:50]
    first = lines[0].lstrip()
    suffix = "".join(path.suffixes[-2:]).lower()
    if first.startswith("#1.2") or first.startswith("#1.3"):
        return "gct"
    if any(line.startswith(("!Series_", "!Sample_")) for line in lines[:50]):
        return "geo_series_matrix"
    header = _header_fields(lines)
    columns = {column_key(c) for c in header}
    # the package's own outputs first: they hold drug and value-like columns that would match the inputs below
    if _has(columns, "drug") and _has(columns, "pathway") and _has(columns, "z"):
        return "proximity"
    if header and column_key(header[0]) == "pathway" and len(header) > 1:
        return "proximity_wide"
    if header and column_key(header[0]) == "sample" and len(header) > 1 and not _has(columns, *_DRUG_NAMES):
        return "scores"
    if _clinical_columns(header) is not None and _has(columns, "patient"):
        return "clinical"
    if is_gdc_clinical(header):
        return "gdc_clinical"
    if _has(columns, "bcr_patient_barcode"):
        if _has(columns, "os.time", "pfi.time", "dss.time"):
            return "tcga_cdr"
        if _has(columns, "pharmaceutical_therapy_drug_name", "drug_name"):
            return "tcga_biotab_drug"
        if _has(columns, "vital_status"):
            return "tcga_biotab_patient"
    if _has(columns, "patient.arr") and _has(columns, "drug.name"):
        return "tcga_drug_response"
    if _has(columns, "id") and _has(columns, "filename") and _has(columns, "md5"):
        return "gdc_manifest"
    if _has(columns, "file id", "file_id", "filename", "file name") and _has(
        columns, "sample id", "case id", "barcodeid", "barcode", "caseid"
    ):
        return "gdc_sample_sheet"
    if _has(columns, "common name") and _has(columns, "synonyms"):
        return "drugbank_vocabulary"
    if _has(columns, *_DRUG_NAMES) and _has(columns, "targets", "target"):
        return "drug_targets"
    if _has(columns, "drug ids") and _has(columns, "gene name"):
        return "drugbank_targets"
    if any(_has(columns, a) and _has(columns, b) for a, b in _SYMBOL_PAIRS + _ID_PAIRS):
        return "network"
    if _has(columns, *_DRUG_NAMES) and (
        _has(columns, *_VALUE_NAMES) or any(re.search(r"ic50|auc|ec50|gi50|viability", c) for c in columns)
    ):
        return "drug_response"
    if _has(columns, "alias_symbol", "gene stable id", "ensembl_gene_ids") or (
        len(columns) == 2 and _has(columns, "ensp", "ensembl", "entrez_id", "symbol")
    ):
        return "gene_id_map"
    if _clinical_columns(header) is not None:
        return "clinical"
    if suffix.endswith((".gmt", ".gmt.gz")) or _looks_like_gmt(lines):
        return "gmt"
    return "table"


def _looks_like_gmt(lines: list[str]) -> bool:
    rows = [line.split("\t") for line in lines if line.strip()]
    if len(rows) < 2 or any(len(r) < 3 for r in rows):
        return False
    widths = {len(r) for r in rows}
    numeric = sum(_is_number(v) for r in rows for v in r[2:])
    return len(widths) > 1 and numeric < 0.1 * sum(len(r) - 2 for r in rows)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


_DURATION = ("time", "os.time", "stime", "survival_time", "os_time", "overall_survival", "days", "months")
_EVENT = ("event", "status", "os", "vital_status", "dead", "death", "os_status")


def _clinical_columns(columns: list[str]) -> tuple[str, str] | None:
    """The survival time and event columns of a clinical table, as spelled in ``columns``."""
    duration, event = find_column(columns, _DURATION), find_column(columns, _EVENT)
    return (duration, event) if duration and event else None


# --------------------------------------------------------------------------------------------------- summaries
def _scale(values: np.ndarray) -> str | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    if low >= 0 and high > 100:
        return "linear (counts/intensities; log-transform before scoring)"
    if high <= 30:
        return "log-like (max <= 30)" if low >= 0 else "log-like or centred (negative values present)"
    return "unclear (max > 30 but <= 100)"


def _matrix_report(report: FileReport, matrix: pd.DataFrame) -> None:
    values = matrix.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    report.shape = matrix.shape
    report.id_type = detect_gene_id_type(matrix.columns)
    report.n_missing = int(np.isnan(values).sum())
    if finite.size:
        report.value_min, report.value_max = float(finite.min()), float(finite.max())
    report.scale = _scale(values)
    report.details["samples"] = examples(matrix.index, 4)
    report.details["features"] = examples(matrix.columns, 4)
    if report.n_missing:  # as the scorers refuse them
        row, col = np.argwhere(np.isnan(values))[0]
        report.problems.append(
            f"{report.n_missing} missing values (first at sample {matrix.index[row]!r}, gene "
            f"{matrix.columns[col]!r}); scoring refuses them: impute or drop them first"
        )
    constant = int((np.nanstd(values, axis=0) == 0).sum()) if values.shape[0] > 1 else 0
    if constant:
        report.problems.append(
            f"{constant} features are constant across samples (no information for scoring)"
        )
    missing = np.isnan(values)
    highest = np.where(missing, -np.inf, values).max(axis=1, initial=-np.inf)
    flat = (highest == np.where(missing, np.inf, values).min(axis=1, initial=np.inf)) & (values.shape[1] > 1)
    if flat.any():  # as the scorers warn
        report.problems.append(
            f"{int(flat.sum())} samples have the same value for every gene ({examples(matrix.index[flat])}); "
            "no gene stands out in them"
        )


def _table_problems(report: FileReport, table: pd.DataFrame) -> None:
    """Generic checks on a string table: placeholders, blank cells, duplicated rows, mostly-numeric columns."""
    report.shape = table.shape
    cells = table.astype("string")
    placeholder = cells.apply(lambda s: s.str.match(_PLACEHOLDER)).fillna(False).astype(bool)
    # blanks, 'NA'-like strings and placeholders: what the readers take as missing
    report.n_missing = int(sum(_clean(table[column]).isna().sum() for column in table.columns))
    if placeholder.to_numpy().any():
        found = pd.unique(cells.to_numpy()[placeholder.to_numpy()])
        report.problems.append(
            f"{int(placeholder.to_numpy().sum())} placeholder cells treated as missing ({examples(sorted(found), 4)})"
        )
    duplicated = int(table.duplicated().sum())
    if duplicated:
        report.problems.append(f"{duplicated} duplicated rows")
    for column in table.columns:
        values = cells[column].dropna()
        values = values[~values.str.match(_PLACEHOLDER).fillna(False) & (values.str.strip() != "")]
        if values.empty:
            continue
        numeric = _to_float(values)
        bad = values[numeric.isna()]
        if 0 < len(bad) <= 0.05 * len(values):
            report.problems.append(
                f"column {column!r} is numeric except {len(bad)} cells ({examples(bad.unique(), 3)})"
            )


def _long_table_report(
    report: FileReport, table: pd.DataFrame, *, key: str, id_column: str | None = None
) -> None:
    report.shape = table.shape
    report.n_missing = int(table.isna().to_numpy().sum())
    for column in [c for c in table.columns if table[c].dtype == object][:4]:
        report.details[f"{column}s" if not column.endswith("s") else column] = (
            f"{table[column].nunique()} distinct ({examples(table[column].dropna().unique(), 3)})"
        )
    if id_column is not None:
        report.id_type = detect_gene_id_type(table[id_column].dropna().astype(str).unique())
    numeric = table.select_dtypes("number")
    if key in numeric.columns and len(numeric):
        values = numeric[key].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size:
            report.value_min, report.value_max = float(finite.min()), float(finite.max())


def _survival_report(report: FileReport, table: pd.DataFrame) -> None:
    report.shape = table.shape
    usable = table.dropna(subset=["time", "event"])
    report.n_missing = int(len(table) - len(usable))
    usable = usable.drop_duplicates("patient")  # rows per patient and drug: survival once per patient
    if len(usable):
        times = usable["time"]
        report.details["patients"] = (
            f"{table['patient'].nunique()} ({examples(table['patient'].unique(), 3)})"
        )
        report.details["events"] = (
            f"{int(usable['event'].sum())} of {len(usable)} patients with usable survival"
        )
        report.details["time"] = f"{times.min():g} .. {times.max():g} days (median {times.median():g})"
    if "response" in table.columns:
        counts = table["response"].value_counts().to_dict()
        report.details["response"] = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none recorded"


# --------------------------------------------------------------------------------------------------- per format
def _inspect_expression(path: Path, report: FileReport, fmt: str | None) -> None:
    kwargs: dict[str, Any] = {} if fmt is None else {"format": fmt}
    try:
        matrix = read_expression(path, **kwargs)
    except InputError as exc:
        if "duplicated" not in str(exc):
            raise
        report.problems.append(" ".join(str(exc).split()))
        matrix = read_expression(path, duplicates="mean", **kwargs)
    report.reader = "read_expression"
    _matrix_report(report, matrix)


def _inspect_geo(path: Path, report: FileReport) -> None:
    matrix = read_geo_series_matrix(path)
    report.reader = "read_geo_series_matrix"
    _matrix_report(report, matrix)
    series = matrix.attrs.get("series", {})
    if isinstance(series, dict) and "geo_accession" in series:
        report.details["series"] = str(series["geo_accession"])


def _inspect_gmt(path: Path, report: FileReport) -> None:
    sets = read_gmt(path)
    report.reader = "read_gmt"
    sizes = sets.groupby("pathway", sort=False).size()
    report.shape = (len(sizes), int(sets["gene"].nunique()))
    report.id_type = detect_gene_id_type(sets["gene"].unique())
    report.details["gene sets"] = f"{len(sizes)} ({examples(sizes.index, 2)})"
    report.details["genes"] = f"{sets['gene'].nunique()} distinct"
    report.details["set sizes"] = f"{int(sizes.min())} .. {int(sizes.max())} (median {sizes.median():.0f})"


def _inspect_network(path: Path, report: FileReport) -> None:
    edges = read_network(path)
    report.reader = "read_network"
    nodes = pd.unique(edges[["gene_a", "gene_b"]].to_numpy().ravel())
    report.shape = edges.shape
    report.id_type = detect_gene_id_type(nodes)
    report.details["nodes"] = f"{len(nodes)} ({examples(nodes, 3)})"
    report.details["edges"] = str(len(edges))
    if "score" in edges.columns and edges["score"].notna().any():
        report.value_min, report.value_max = float(edges["score"].min()), float(edges["score"].max())
        if report.value_max > 1:
            report.details["score > 700"] = f"{int((edges['score'] > 700).sum())} edges"
    loops = int((edges["gene_a"] == edges["gene_b"]).sum())
    if loops:
        report.problems.append(f"{loops} self-loops")


def _inspect_clinical(path: Path, report: FileReport, text: str) -> None:
    original = list(_read_table(path).columns)
    pair = _clinical_columns(original)
    if pair is None:
        raise InputError(f"{path.name}: no survival time and event columns found.")
    duration, event = pair
    patient = find_column(
        original,
        (
            "patient",
            "patient_id",
            "id",
            "sample",
            "case",
            "bcr_patient_barcode",
            "case_submitter_id",
            "submitter_id",
        ),
    )
    drug = find_column(original, ("drug", "rx", "treatment", "arm"))
    response = find_column(original, ("response", "best_response"))
    table = read_clinical(
        path,
        patient_col=patient,
        duration_col=duration,
        event_col=event,
        drug_col=drug,
        response_col=response,
    )
    report.reader = (
        f"read_clinical(path, patient_col={patient!r}, duration_col={duration!r}, event_col={event!r}"
        + (f", drug_col={drug!r}" if drug else "")
        + ")"
    )
    _survival_report(report, table)
    report.shape = (len(table), len(original))
    if patient is None:
        report.problems.append(
            "no patient id column: rows numbered 1..n, which match no expression file; name it with [patients] "
            "patient_col"
        )


def _inspect_biotab_patient(path: Path, report: FileReport) -> None:
    table = read_tcga_biotab_patient(path)
    report.reader = "read_tcga_biotab_patient"
    _survival_report(report, table)
    raw = _read_table(path)
    placeholders = raw.astype("string").apply(lambda s: s.str.match(_PLACEHOLDER)).fillna(False).to_numpy()
    report.details["placeholders"] = (
        f"{int(placeholders.sum())} '[Not Available]'-style cells (read as missing)"
    )


def _inspect_biotab_drug(path: Path, report: FileReport) -> None:
    table = read_tcga_biotab_drug(path)
    report.reader = "read_tcga_biotab_drug"
    report.shape = table.shape
    report.n_missing = int(table["drug_name"].isna().sum())
    report.details["patients"] = str(table["patient"].nunique())
    components = DrugNameResolver().components(table["drug_name"].dropna().unique())
    top = (
        table.merge(components[["name", "canonical"]], left_on="drug_name", right_on="name")
        .groupby("canonical")["patient"]
        .nunique()
        .sort_values(ascending=False)
    )
    report.details["drugs"] = ", ".join(f"{d} {n}" for d, n in top.head(6).items()) + " (patients)"
    counts = table["response"].value_counts().to_dict()
    report.details["response"] = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none recorded"


def _inspect_drug_response_tcga(path: Path, report: FileReport) -> None:
    table = read_tcga_drug_response(path)
    report.reader = "read_tcga_drug_response"
    report.shape = table.shape
    report.details["patients"] = str(table["patient"].nunique())
    report.details["cancers"] = ", ".join(
        f"{k} {v}" for k, v in table["cancer"].value_counts().head(6).items()
    )
    report.details["drugs"] = ", ".join(f"{k} {v}" for k, v in table["drug"].value_counts().head(6).items())
    report.details["response"] = ", ".join(f"{k} {v}" for k, v in table["response"].value_counts().items())


def _inspect_gdc_clinical(path: Path, report: FileReport) -> None:
    table = read_gdc_clinical(path)
    report.reader = "read_gdc_clinical"
    _survival_report(report, table)
    treated = table.dropna(subset=["drug"])
    top = treated.groupby("drug")["patient"].nunique().sort_values(ascending=False)
    report.details["drugs"] = (
        ", ".join(f"{d} {n}" for d, n in top.head(6).items()) + " (patients)" if len(top) else "none recorded"
    )


def _inspect_cdr(path: Path, report: FileReport) -> None:
    table = read_tcga_cdr(path)
    report.reader = "read_tcga_cdr"
    _survival_report(report, table)
    report.details["cancer types"] = (
        f"{table['cancer_type'].nunique()} ({examples(table['cancer_type'].unique(), 4)})"
    )


def _inspect_with(
    reader: Callable[[Path], pd.DataFrame], name: str, *, key: str, id_column: str | None = None
) -> Callable[[Path, FileReport], None]:
    def run(path: Path, report: FileReport) -> None:
        table = reader(path)
        report.reader = name
        _long_table_report(report, table, key=key, id_column=id_column)

    return run


def _inspect_manifest(path: Path, report: FileReport) -> None:
    table = _read_table(path)
    report.shape = table.shape
    _table_problems(report, table)
    report.details["files"] = str(len(table))
    if "id" in table.columns:
        missing = _clean(table["id"]).isna()
        ids = table.loc[~missing, "id"]
        if ids.duplicated().any():
            report.problems.append(f"{int(ids.duplicated().sum())} duplicated file ids")
        no_id = table[missing]
        if len(no_id):
            named = no_id["filename"].dropna() if "filename" in table.columns else pd.Series([], dtype=object)
            report.problems.append(
                f"{len(no_id)} files have no id"
                + (f" ({examples(named.tolist(), 2)})" if len(named) else "")
                + "; they cannot be downloaded by id"
            )
    if "state" in table.columns:
        report.details["state"] = ", ".join(f"{k} {v}" for k, v in table["state"].value_counts().items())


def _inspect_drugbank_vocabulary(path: Path, report: FileReport) -> None:
    table = _read_table(path, sep=",")
    report.shape = table.shape
    synonyms = table["Synonyms"].fillna("").str.split("|").map(lambda s: len([x for x in s if x.strip()]))
    report.details["drugs"] = f"{table['Common name'].nunique()} ({examples(table['Common name'], 3)})"
    report.details["synonyms"] = str(int(synonyms.sum()))
    report.details["use"] = "DrugNameResolver(drugbank=path)"
    report.n_missing = int(table["Common name"].isna().sum())


def _inspect_proximity(path: Path, report: FileReport, *, wide: bool) -> None:
    table = read_table(path)
    if wide:
        first = table.columns[0]
        table = table.melt(id_vars=[first], var_name="drug", value_name="z").rename(
            columns={first: "pathway"}
        )
    report.reader = (
        "[network] proximity = 'PATH' in a run configuration (read instead of computing proximity)"
    )
    z = pd.to_numeric(table["z"], errors="coerce")
    bad = table["z"].notna() & z.isna()
    if bad.any():
        report.problems.append(
            f"{int(bad.sum())} z values are not numbers (first: {table.loc[bad, 'z'].iloc[0]!r})"
        )
    report.shape = (int(table["drug"].nunique()), int(table["pathway"].nunique()))
    report.n_missing = int(z.isna().sum())
    finite = z[np.isfinite(z)]
    if len(finite):
        report.value_min, report.value_max = float(finite.min()), float(finite.max())
    proximal = table.assign(z=z)[z <= -1.2816].groupby("drug").size()
    report.details["drugs x pathways"] = f"{report.shape[0]} x {report.shape[1]}"
    report.details["proximal (z <= -1.2816)"] = (
        f"{int(proximal.sum())} pairs; per drug {int(proximal.min()) if len(proximal) else 0} .. "
        f"{int(proximal.max()) if len(proximal) else 0}"
    )
    no_proximal = sorted(set(table["drug"]) - set(proximal.index))
    if no_proximal:
        report.problems.append(f"{len(no_proximal)} drugs have no proximal pathway: {examples(no_proximal)}")
    if "computable" in table.columns:
        not_computable = table["computable"].astype(str).str.lower().isin(["false", "0"])
        if not_computable.any():
            report.problems.append(
                f"{int(not_computable.sum())} rows are not computable (see the note column)"
            )


def _inspect_scores(path: Path, report: FileReport) -> None:
    table = read_table(path, strings=[read_header(path)[0]])
    report.reader = (
        "pandas.read_csv(path, sep='\\t', index_col=0) (samples x pathways, as organoidrx score writes)"
    )
    values = table.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    report.shape = (len(table), table.shape[1] - 1)
    report.n_missing = int(np.isnan(values).sum())
    finite = values[np.isfinite(values)]
    if finite.size:
        report.value_min, report.value_max = float(finite.min()), float(finite.max())
    report.details["samples x pathways"] = f"{report.shape[0]} x {report.shape[1]}"
    report.details["pathways"] = examples(list(table.columns[1:]), 3)
    duplicated = table.iloc[:, 0].duplicated()
    if duplicated.any():
        report.problems.append(f"{int(duplicated.sum())} duplicated sample ids")


def _inspect_table(path: Path, report: FileReport, text: str) -> None:
    lines = text.split("\n")
    comment = sum(1 for line in lines if line.startswith("#"))
    if comment:
        # gseapy-style outputs: '#' comment lines above a numeric matrix
        report.details["comment lines"] = str(comment)
    table = _read_table(path) if not comment else _read_table_skipping_comments(path)
    _table_problems(report, table)
    numeric = table.apply(_to_float)
    values = numeric.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size:
        report.value_min, report.value_max = float(finite.min()), float(finite.max())
    report.details["columns"] = examples(list(table.columns), 6)


def _read_table_skipping_comments(path: Path) -> pd.DataFrame:
    text = read_text(path)
    body = "\n".join(line for line in text.split("\n") if not line.startswith("#"))
    if not body.strip():
        raise InputError(f"{path.name}: only comment lines; no table.")
    return parse_table(body, name=path.name, sep=None, default_sep=default_delimiter(path), all_strings=True)


_DESCRIPTIONS = {
    "gct": "GCT expression matrix (genes x samples on disk)",
    "geo_series_matrix": "GEO series matrix (probes x samples on disk)",
    "expression": "expression matrix (genes x samples on disk)",
    "parquet": "Parquet expression matrix",
    "h5ad": "AnnData h5ad (samples x genes)",
    "gmt": "GMT gene sets",
    "network": "network edge table",
    "drug_targets": "drug -> target table",
    "drugbank_targets": "DrugBank target table (targets with their drug ids)",
    "drug_response": "drug response table (sample, drug, value)",
    "clinical": "clinical survival table",
    "tcga_biotab_patient": "TCGA BCR biotab patient table",
    "tcga_biotab_drug": "TCGA drug-treatment records (BCR biotab / TCGAbiolinks)",
    "tcga_cdr": "TCGA Pan-Cancer Clinical Data Resource (Liu 2018)",
    "gdc_clinical": "GDC portal clinical download (clinical.tsv)",
    "tcga_drug_response": "curated TCGA drug responses (Ding 2016)",
    "gdc_manifest": "GDC download manifest",
    "gdc_sample_sheet": "GDC sample sheet / case-file-barcode table",
    "drugbank_vocabulary": "DrugBank vocabulary (names and synonyms)",
    "gene_id_map": "gene identifier map",
    "proximity": "proximity table (drug, pathway, z; organoidrx proximity / run)",
    "proximity_wide": "wide proximity z-score table (pathways x drugs, as Kong et al. released it)",
    "scores": "pathway score matrix (samples x pathways; organoidrx score)",
    "table": "delimited table",
}


_READERS = {
    "gct": "read_expression",
    "expression": "read_expression",
    "geo_series_matrix": "read_geo_series_matrix",
    "gmt": "read_gmt",
    "network": "read_network",
    "drug_targets": "read_drug_targets",
    "drug_response": "read_drug_response",
    "gene_id_map": "read_gene_id_map",
    "gdc_sample_sheet": "read_gdc_sample_sheet",
    "clinical": "read_clinical",
    "tcga_biotab_patient": "read_tcga_biotab_patient",
    "tcga_biotab_drug": "read_tcga_biotab_drug",
    "tcga_cdr": "read_tcga_cdr",
    "gdc_clinical": "read_gdc_clinical",
    "tcga_drug_response": "read_tcga_drug_response",
}


def inspect_file(path: str | os.PathLike[str]) -> FileReport:
    """Detect a file's format, read it with the matching organoidrx reader and summarise it.

    Parameters
    ----------
    path : path
        Any input organoidrx reads: expression matrices (TSV/CSV/GSEA txt, GCT, Parquet, h5ad), GEO series
        matrices, GMT gene sets, network edge tables (STRING links and others), drug-target and drug-response
        tables, clinical survival tables, TCGA BCR biotab tables, TCGA-CDR, GDC clinical.tsv, GDC manifests and sample sheets,
        gene identifier maps, DrugBank vocabularies; gzipped text is decompressed. Anything else delimited is
        summarised as a plain table.

    Returns
    -------
    FileReport
        ``format``, ``shape``, ``reader`` (the organoidrx function that reads it, with the options used),
        ``id_type`` (symbol / ensembl / entrez / ensp / unknown, from :func:`detect_gene_id_type`), value range
        and ``scale`` (log-like or linear) for numeric matrices, ``n_missing``, format-specific ``details`` and
        ``problems`` (duplicates, non-numeric cells, placeholders, dropped or unusable rows, unresolved drug
        names, reported by the readers).

    Raises
    ------
    InputError
        The file is missing, empty, binary garbage, a truncated ``.gz``, an Excel workbook, or a recognised
        format that its reader rejects (the reader's message is passed on).
    """
    path = Path(path)
    name = _display(path)
    suffix = path.suffix.lower()
    report = FileReport(path=str(path), format="", description="", shape=())
    if suffix in (".parquet", ".pq", ".h5ad"):
        if not path.is_file():
            raise InputError(f"{path}: file not found; check the path.")
        fmt = "parquet" if suffix != ".h5ad" else "h5ad"
        report.format, report.description = fmt, _DESCRIPTIONS[fmt]
        with _warnings_as_problems(report.problems):
            _inspect_expression(path, report, fmt)
        return report
    text = _head_text(path)
    fmt = _detect(path, text)
    if fmt == "table" and _looks_like_expression(text):
        fmt = "expression"
    report.format, report.description = fmt, _DESCRIPTIONS[fmt]
    handlers: dict[str, Callable[[], None]] = {
        "gct": lambda: _inspect_expression(path, report, "gct"),
        "expression": lambda: _inspect_expression(path, report, None),
        "geo_series_matrix": lambda: _inspect_geo(path, report),
        "gmt": lambda: _inspect_gmt(path, report),
        "network": lambda: _inspect_network(path, report),
        "drug_targets": lambda: _inspect_with(
            read_drug_targets, "read_drug_targets", key="", id_column="target"
        )(path, report),
        "drug_response": lambda: _inspect_with(read_drug_response, "read_drug_response", key="value")(
            path, report
        ),
        "gene_id_map": lambda: _inspect_with(read_gene_id_map, "read_gene_id_map", key="")(path, report),
        "gdc_sample_sheet": lambda: _inspect_with(read_gdc_sample_sheet, "read_gdc_sample_sheet", key="")(
            path, report
        ),
        "clinical": lambda: _inspect_clinical(path, report, text),
        "tcga_biotab_patient": lambda: _inspect_biotab_patient(path, report),
        "tcga_biotab_drug": lambda: _inspect_biotab_drug(path, report),
        "tcga_cdr": lambda: _inspect_cdr(path, report),
        "gdc_clinical": lambda: _inspect_gdc_clinical(path, report),
        "tcga_drug_response": lambda: _inspect_drug_response_tcga(path, report),
        "gdc_manifest": lambda: _inspect_manifest(path, report),
        "drugbank_vocabulary": lambda: _inspect_drugbank_vocabulary(path, report),
        "drugbank_targets": lambda: _inspect_table(path, report, text),
        "proximity": lambda: _inspect_proximity(path, report, wide=False),
        "proximity_wide": lambda: _inspect_proximity(path, report, wide=True),
        "scores": lambda: _inspect_scores(path, report),
        "table": lambda: _inspect_table(path, report, text),
    }
    with _warnings_as_problems(report.problems):
        try:
            handlers[fmt]()
        except InputError as exc:
            if fmt == "table":
                raise
            # the file is readable text but its reader rejects it: say why, and summarise it as a plain table
            reader = _READERS.get(fmt, f"the {report.description} reader")
            report.problems.insert(0, f"{reader} rejects it: {' '.join(str(exc).split())}")
            report.format, report.description, report.reader = "table", _DESCRIPTIONS["table"], ""
            report.details.clear()
            try:
                _inspect_table(path, report, text)
            except InputError:  # not even a plain table: the format's own reader says best what is wrong
                raise exc from None
    if not report.shape:
        raise InputError(f"{name}: could not be summarised as {report.description}.")
    return report


_GENE_HEADERS = frozenset(
    {
        "gene",
        "genes",
        "gene_id",
        "geneid",
        "gene_symbol",
        "symbol",
        "hgnc_symbol",
        "ensembl_id",
        "id_ref",
        "probe",
    }
)


def _looks_like_expression(text: str) -> bool:
    """A header then rows of one or two id columns followed by mostly numbers."""
    all_lines = text.replace("\r\n", "\n").split("\n")
    lines = [line for line in all_lines[1:30] if line.strip()]
    if not lines:
        return False
    sep = sniff_delimiter([all_lines[0], *lines[:20]], "\t")
    header = split_fields(all_lines[0], sep)
    if header[0].strip().lower() in _GENE_HEADERS and len(header) >= 2:
        return True
    if len(lines) < 2:
        return False
    rows = [split_fields(line, sep) for line in lines]
    if min(len(r) for r in rows) < 3:
        return False
    numeric = [sum(_is_number(v) for v in r[2:]) / max(1, len(r) - 2) for r in rows]
    return float(np.mean(numeric)) > 0.9 and not all(_is_number(r[0]) for r in rows)
