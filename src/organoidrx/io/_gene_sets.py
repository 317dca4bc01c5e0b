"""Gene sets in the GMT format (MSigDB, Reactome, Enrichr): read into the long ``pathway, gene`` table and write back.

A GMT file holds one gene set per line, tab-separated: the set's name, a description, then its genes::

    REACTOME_APOPTOSIS<TAB>http://www.broadinstitute.org/...<TAB>CASP3<TAB>CASP8<TAB>...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from organoidrx._utils import InputError, atomic_write, examples
from organoidrx._validation import as_gene_set_dict, restrict_gene_sets
from organoidrx.io._tables import _check_text as check_text
from organoidrx.io._tables import display_name, read_bytes

logger = logging.getLogger(__name__)

__all__ = ["read_gmt", "write_gmt"]


class _SharedMetadata(dict[str, Any]):
    """A dict that pandas shares between a table and the tables derived from it instead of deep-copying it.

    pandas deep-copies ``DataFrame.attrs`` on every operation (each group of a ``groupby``, each slice); for the
    per-set descriptions and report of a 2,500-set GMT that made iterating over the sets take tens of seconds.
    Treat it as read-only.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedMetadata:
        return self


def _read_text(path: Path) -> str:
    """The whole file as text (gzip-aware), with decoding problems turned into an :class:`InputError`."""
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        check_text(raw[:4], display_name(path))  # a zip/Excel workbook or UTF-16 text is named as such
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line} is not valid UTF-8 text (byte {raw[exc.start : exc.start + 1]!r}); "
            "a GMT file must be plain text, tab-separated."
        ) from exc
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(
            f"{path}: line {line} contains NUL bytes: the file looks binary, not a GMT text file; check that it "
            "is the right file."
        )
    return text


def _warn_gene_descriptions(
    path: Path, sets: Mapping[str, list[str]], descriptions: Mapping[str, str]
) -> None:
    """Warn when most descriptions are genes of the file: a GMT written without its description column, whose
    sets each lose their first gene to it (read as every GMT reader reads it)."""
    genes = {g for members in sets.values() for g in members}
    as_genes = [name for name, text in descriptions.items() if text in genes]
    if len(as_genes) >= 2 and 2 * len(as_genes) >= len(sets):
        first = as_genes[0]
        logger.warning(
            "%s: %d of %d gene sets have a gene of the file as their description (e.g. %r for %s): the file looks "
            "written without the description column, so each set's first gene is read as its description (as "
            "GSEA and gseapy read it); insert a description field (e.g. 'na') after each name to keep those genes",
            path,
            len(as_genes),
            len(sets),
            descriptions[first],
            first,
        )


def read_gmt(path: str | os.PathLike[str], *, min_size: int = 1, max_size: int | None = None) -> pd.DataFrame:
    """Read a GMT gene-set file into a long table with one row per (pathway, gene).

    Parameters
    ----------
    path : str or path-like
        A GMT file (optionally gzipped): per line the set name, a description, then the genes, tab-separated.
        Blank lines are skipped; empty fields (trailing tabs) are ignored.
    min_size : int, default=1
        Smallest number of genes (after removing duplicates within the set) a set must have to be kept.
    max_size : int, optional
        Largest number of genes a set may have; ``None`` (default) keeps sets of any size.

    Returns
    -------
    gene_sets : DataFrame of shape (n_memberships, 2)
        Columns ``pathway, gene`` (strings). Pathways in file order, genes in file order within each set,
        duplicates within a set removed. ``gene_sets.attrs`` holds

        - ``"descriptions"``: dict pathway -> description (the second field of each line), for kept sets;
        - ``"report"``: dict of columns ``pathway, n_genes, n_present, kept, reason`` (tuples) with one entry
          per set in the file (the report of :func:`organoidrx._validation.restrict_gene_sets`;
          ``pd.DataFrame(gene_sets.attrs["report"])`` turns it into a table). It is stored as plain columns rather
          than a DataFrame so that ``pd.concat`` of two gene-set tables keeps working.

        Both are shared (not copied) with tables derived from ``gene_sets``; treat them as read-only.
        - ``"source"``: the file path as a string.

    Raises
    ------
    InputError
        When the file holds no gene set, a line has a name but neither description nor genes (often a
        space-separated file), a set name is empty or repeated, the file is not UTF-8 text, or no set passes the
        size bounds. The message names the file and the line.

    Notes
    -----
    The second field of each line is always read as the description, as every standard GMT reader does (GSEA,
    gseapy, fgsea). Files written without a description column, such as the MSigDB v6.1 Reactome files of
    Kong et al. (2020), therefore lose each set's first gene to the description. That is deliberate: it is what
    gseapy did when the authors scored those files, so reading them this way reproduces their pathway scores.
    A line with a name and a description but no genes (in those files, a one-gene set) is an empty set: it is
    skipped with a warning, as gseapy skips it, and appears in the report with ``n_genes`` 0.

    References
    ----------
    .. [1] Subramanian A. et al. (2005) Gene set enrichment analysis. PNAS 102:15545.
       doi:10.1073/pnas.0506580102
    .. [2] Kong J. et al. (2020) Network-based machine learning in colorectal and bladder organoid models predicts
       anti-cancer drug efficacy in patients. Nat Commun 11:5485. doi:10.1038/s41467-020-19313-8

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "sets.gmt").write_text("SET_A\\tdemo\\tTP53\\tMDM2\\nSET_B\\tdemo\\tEGFR\\n")
    >>> read_gmt(folder / "sets.gmt")
      pathway  gene
    0   SET_A  TP53
    1   SET_A  MDM2
    2   SET_B  EGFR
    """
    path = Path(path)
    text = _read_text(path)
    sets: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    first_line: dict[str, int] = {}
    empty: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        name = fields[0].strip()
        if not name:
            raise InputError(
                f"{path}: line {number} has no gene-set name in its first field ({line[:60]!r}); "
                "each line must start with the set's name."
            )
        if name in sets:
            raise InputError(
                f"{path}: gene set {name!r} appears twice (lines {first_line[name]} and {number}); "
                "give each set a unique name or merge them."
            )
        if len(fields) < 2:
            raise InputError(
                f"{path}: line {number}, gene set {name!r} has no genes and no description; a GMT line needs the "
                "name, a description and the genes, separated by tabs (is the file space-separated?)."
            )
        genes = [g.strip() for g in fields[2:]]
        genes = [g for g in genes if g]
        if not genes:
            empty.append((number, name))
        sets[name] = list(dict.fromkeys(genes))
        descriptions[name] = fields[1].strip() if len(fields) > 1 else ""
        first_line[name] = number
    if not sets:
        raise InputError(f"{path}: holds no gene sets (the file is empty); expected GMT lines.")
    sizes = [len(genes) for genes in sets.values()]
    if min_size >= 1 and (max_size is None or max_size >= min_size):
        fits = [min_size <= n and (max_size is None or n <= max_size) for n in sizes]
        if not any(fits):
            raise InputError(
                f"{path}: none of its {len(sets)} gene sets has between min_size={min_size} and "
                f"max_size={max_size} genes (sizes {min(sizes)} to {max(sizes)}); "
                + (
                    "no line lists a gene after the name and the description: a GMT line needs the name, a "
                    "description and the genes, separated by tabs."
                    if max(sizes) == 0
                    else "widen the bounds."
                )
            )
    if empty:
        logger.warning(
            "%s: %d gene sets have a description but no genes and are skipped (first: %s at line %d); if the file "
            "was written without the description column, each set's first gene was read as its description",
            path,
            len(empty),
            examples([n for _, n in empty]),
            empty[0][0],
        )
    _warn_gene_descriptions(path, sets, descriptions)
    kept, report = restrict_gene_sets(
        sets, None, min_size=min_size, max_size=max_size, where=str(path), name=str(path)
    )
    pathways = [p for p, genes in kept.items() for _ in genes]
    genes_flat = [g for genes in kept.values() for g in genes]
    table = pd.DataFrame({"pathway": pathways, "gene": genes_flat}, dtype=object)
    table.attrs["descriptions"] = _SharedMetadata({p: descriptions[p] for p in kept})
    table.attrs["report"] = _SharedMetadata(
        pathway=tuple(report["pathway"].astype(str)),
        n_genes=tuple(int(n) for n in report["n_genes"]),
        n_present=tuple(int(n) for n in report["n_present"]),
        kept=tuple(bool(k) for k in report["kept"]),
        reason=tuple(report["reason"].astype(str)),
    )
    table.attrs["source"] = str(path)
    logger.info("%s: read %d gene sets (%d distinct genes)", path, len(kept), len(set(genes_flat)))
    return table


def write_gmt(
    gene_sets: pd.DataFrame | Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    descriptions: Mapping[str, str] | None = None,
) -> None:
    """Write gene sets to a GMT file, atomically (the file appears whole or not at all).

    Parameters
    ----------
    gene_sets : DataFrame with columns ``pathway, gene``, or dict of str to list of str
        As returned by :func:`read_gmt`; genes are written in order, duplicates within a set once.
    path : str or path-like
        Destination file.
    descriptions : dict of str to str, optional
        Description per pathway (second GMT field). Defaults to ``gene_sets.attrs["descriptions"]`` when present,
        otherwise ``"NA"``.

    Raises
    ------
    InputError
        When a pathway name or gene contains a tab or newline, or a name is empty (they would corrupt the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.gmt"
    >>> write_gmt({"SET_A": ["TP53", "MDM2"]}, target)
    >>> target.read_text()
    'SET_A\\tNA\\tTP53\\tMDM2\\n'
    """
    sets = as_gene_set_dict(gene_sets)
    if descriptions is None and isinstance(gene_sets, pd.DataFrame):
        descriptions = gene_sets.attrs.get("descriptions")
    descriptions = descriptions or {}
    lines = []
    for pathway, genes in sets.items():
        description = str(descriptions.get(pathway, "NA")) or "NA"
        for value, what in [
            (pathway, "pathway name"),
            (description, "description"),
            *((g, "gene") for g in genes),
        ]:
            if not value.strip() or any(c in value for c in "\t\r\n") or value != value.strip():
                raise InputError(
                    f"cannot write {path}: {what} {value!r} of gene set {pathway!r} is empty, has surrounding "
                    "spaces or contains a tab or line break; rename it."
                )
        lines.append("\t".join([pathway, description, *genes]) + "\n")
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        handle.writelines(lines)
