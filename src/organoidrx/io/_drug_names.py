"""Drug-name resolution: free-text names from clinical tables and screens -> one canonical upper-case name.

TCGA drug records spell the same drug many ways ('5-FU', '5 FU', '5-Fluorouracil', 'Adrucil', 'fluorouracilum'),
organoid screens use compound codes ('17-AAG', 'PD-0332991') and misspellings ('Gemcitibine'), and drug-target tables
use upper-case DrugBank common names ('FLUOROURACIL'). :class:`DrugNameResolver` maps all of them onto the last.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from organoidrx._utils import InputError, examples
from organoidrx.io._tables import read_header, read_table

logger = logging.getLogger(__name__)

__all__ = ["DrugNameResolver", "normalize_drug_key", "normalize_drug_names"]

Method = Literal["exact", "synonym", "drugbank", "close_match", "unresolved"]

_SALTS = frozenset(
    {
        "HCL",
        "HYDROCHLORIDE",
        "DIHYDROCHLORIDE",
        "SODIUM",
        "CALCIUM",
        "POTASSIUM",
        "MESYLATE",
        "MALEATE",
        "TOSYLATE",
        "SULFATE",
        "CITRATE",
        "ACETATE",
        "PHOSPHATE",
        "DISODIUM",
    }
)
# Separators between the drugs of a combination written in one cell: 'OXALIPLATINUM+ 5-FU', 'A, B', 'A and B'.
_COMBINATION_SPLIT = re.compile(r"\s*(?:\+|,|;|/|&|\bAND\b|\bWITH\b|\bPLUS\b)\s*", flags=re.IGNORECASE)
# Leading cycle labels such as 'C1 FOLFIRI'.
_CYCLE_PREFIX = re.compile(r"^\s*C(?:YCLE)?\s*\d+\s+", flags=re.IGNORECASE)
_PARENTHESES = re.compile(r"^(?P<outer>[^()]*)\((?P<inner>[^()]*)\)(?P<rest>[^()]*)$")


def normalize_drug_key(name: str) -> str:
    """Case-, accent-, whitespace- and punctuation-insensitive key of a drug name.

    ``'5- FU'``, ``'5fu'`` and ``'5-FU'`` all give ``'5FU'``; ``'Tramétinib'`` gives ``'TRAMETINIB'``.
    """
    folded = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^0-9A-Z]", "", folded.upper())


def _read_packaged_table(filename: str) -> pd.DataFrame:
    with resources.files("organoidrx").joinpath("data", filename).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, sep="\t", comment="#", dtype=str)


class DrugNameResolver:
    """Map free-text drug names to canonical upper-case names through synonym tables.

    Lookup order for one name (the first hit wins; the ``method`` column of :meth:`resolve` says which):

    1. ``exact`` - the name is already a canonical name (ignoring case, spaces and punctuation);
    2. ``synonym`` - the built-in table of oncology names (brand names, abbreviations such as CDDP or CPT-11, INN
       variants, organoid/GDSC screen codes) or the user's ``synonyms``; trailing salt words (HCl, calcium,
       mesylate...) are ignored, a parenthesised alias ('Adriamycin (doxorubicin)') and '/'-separated alternative
       names ('GSK1120212/Trametinib') are tried when they agree;
    3. ``drugbank`` - the DrugBank vocabulary (common names and ``|``-separated synonyms), loaded lazily on the
       first name the tables above do not know;
    4. ``close_match`` - the most similar known name (:func:`difflib.get_close_matches`, ratio >= ``cutoff``, and
       at most ``max(2, len // 6)`` edits away so that 'JNK inhibitor VIII' never becomes 'AKT inhibitor VIII')
       for misspellings such as 'Gemcitibine'; each one is logged as a warning showing the match;
    5. ``unresolved`` - everything else; returned with a missing canonical name and listed in a warning.

    Parameters
    ----------
    synonyms : DataFrame with columns ``canonical, synonym``, or mapping synonym -> canonical, optional
        Extra synonyms; they take precedence over the built-in table.
    drugbank : path, optional
        DrugBank vocabulary CSV (columns ``Common name`` and ``Synonyms``) as downloaded from go.drugbank.com.
    close_match_cutoff : float, default 0.85
        Minimum :class:`difflib.SequenceMatcher` ratio between normalised keys for a close match; ``1.0`` disables
        close matching.
    min_close_match_length : int, default 5
        Keys shorter than this never resolve by close match (short codes such as '5FU' vs '5FC' are too risky).

    Notes
    -----
    Keys are compared after :func:`normalize_drug_key` (upper case, accents folded, everything but letters and
    digits removed). Canonical names are upper-case DrugBank common names, as in drug-target tables.

    References
    ----------
    Wishart D. S. et al. (2018) DrugBank 5.0. Nucleic Acids Res 46:D1074. doi:10.1093/nar/gkx1037

    Examples
    --------
    >>> DrugNameResolver().resolve(["5-FU", "Gemzar", "Gemcitibine"])["canonical"].tolist()
    ['FLUOROURACIL', 'GEMCITABINE', 'GEMCITABINE']
    """

    def __init__(
        self,
        synonyms: pd.DataFrame | Mapping[str, str] | None = None,
        *,
        drugbank: str | os.PathLike[str] | None = None,
        close_match_cutoff: float = 0.85,
        min_close_match_length: int = 5,
    ) -> None:
        if not 0.0 < close_match_cutoff <= 1.0:
            raise InputError(f"close_match_cutoff must be in (0, 1]; got {close_match_cutoff!r}.")
        self.close_match_cutoff = close_match_cutoff
        self.min_close_match_length = min_close_match_length
        self.drugbank = None if drugbank is None else Path(drugbank)
        table = _read_packaged_table("drug_synonyms.tsv")
        self._canonical: dict[str, str] = {}
        self._synonym: dict[str, str] = {}
        for canonical, synonym in zip(table["canonical"], table["synonym"], strict=True):
            self._add(canonical, synonym)
        if synonyms is not None:
            for synonym, canonical in _synonym_pairs(synonyms):
                key = normalize_drug_key(synonym)
                self._canonical[normalize_drug_key(canonical)] = canonical.strip().upper()
                if key:
                    self._synonym[key] = canonical.strip().upper()
        regimens = _read_packaged_table("drug_regimens.tsv")
        self._regimens: dict[str, list[str]] = {}
        for regimen, component in zip(regimens["regimen"], regimens["component"], strict=True):
            self._regimens.setdefault(normalize_drug_key(regimen), []).append(component)
        self._drugbank_map: dict[str, str] | None = None
        self._cache: dict[str, tuple[str | None, Method, str | None]] = {}

    # ------------------------------------------------------------------ tables
    def _add(self, canonical: str, synonym: str) -> None:
        canonical = canonical.strip().upper()
        self._canonical.setdefault(normalize_drug_key(canonical), canonical)
        key = normalize_drug_key(synonym)
        if key and key not in self._canonical:
            self._synonym.setdefault(key, canonical)

    def _load_drugbank(self) -> dict[str, str]:
        if self._drugbank_map is not None:
            return self._drugbank_map
        mapping: dict[str, str] = {}
        if self.drugbank is not None:
            path = self.drugbank
            columns = read_header(path, default_sep=",")
            if "Common name" not in columns:
                raise InputError(
                    f"{path.name}: a DrugBank vocabulary needs a 'Common name' column (and 'Synonyms'); "
                    "download drugbank_vocabulary.csv from go.drugbank.com/releases."
                )
            wanted = [c for c in ("Common name", "Synonyms") if c in columns]
            vocabulary = read_table(path, default_sep=",", usecols=wanted)
            if "Synonyms" not in vocabulary.columns:
                vocabulary["Synonyms"] = None
            for common in vocabulary["Common name"]:
                if not isinstance(common, str) or not common.strip():
                    continue
                canonical = common.strip().upper()
                mapping[normalize_drug_key(common)] = canonical
            for common, synonyms in zip(vocabulary["Common name"], vocabulary["Synonyms"], strict=True):
                if not isinstance(common, str) or not isinstance(synonyms, str):
                    continue
                canonical = common.strip().upper()
                for synonym in synonyms.split("|"):
                    key = normalize_drug_key(synonym)
                    if key:
                        mapping.setdefault(key, canonical)
            logger.debug("%s: %d DrugBank names and synonyms", path.name, len(mapping))
        self._drugbank_map = mapping
        return mapping

    @property
    def canonical_names(self) -> list[str]:
        """Sorted canonical names of the built-in and user tables (DrugBank names not included)."""
        return sorted(set(self._canonical.values()) | set(self._synonym.values()))

    # ------------------------------------------------------------------ lookup
    def _lookup_tables(self, key: str) -> tuple[str | None, Method]:
        if key in self._canonical:
            return self._canonical[key], "exact"
        if key in self._synonym:
            return self._synonym[key], "synonym"
        return None, "unresolved"

    def _lookup_text(self, text: str, *, use_drugbank: bool) -> tuple[str | None, Method]:
        """Steps 1-3 on one piece of text, including salt stripping."""
        candidates = [text]
        words = re.split(r"[^0-9A-Za-z]+", text.strip())
        words = [w for w in words if w]
        while len(words) > 1 and words[-1].upper() in _SALTS:
            words = words[:-1]
            candidates.append(" ".join(words))
        for candidate in candidates:
            key = normalize_drug_key(candidate)
            if not key:
                continue
            canonical, method = self._lookup_tables(key)
            if canonical is not None:
                return canonical, method if candidate is text else "synonym"
        if use_drugbank and self.drugbank is not None:
            mapping = self._load_drugbank()
            for candidate in candidates:
                key = normalize_drug_key(candidate)
                if key in mapping:
                    return mapping[key], "drugbank"
        return None, "unresolved"

    def _lookup_structured(self, text: str, *, use_drugbank: bool) -> tuple[str | None, Method]:
        canonical, method = self._lookup_text(text, use_drugbank=use_drugbank)
        if canonical is not None:
            return canonical, method
        parts: list[str] = []
        match = _PARENTHESES.match(text)
        if match:
            parts = [match["outer"] + match["rest"], match["inner"]]
        found = [self._lookup_text(p, use_drugbank=use_drugbank) for p in parts if normalize_drug_key(p)]
        resolved = {c for c, _ in found if c is not None}
        if len(resolved) == 1:
            methods = [m for c, m in found if c is not None]
            return resolved.pop(), "drugbank" if "drugbank" in methods else "synonym"
        return None, "unresolved"

    def _close_match(self, key: str) -> str | None:
        if len(key) < self.min_close_match_length or self.close_match_cutoff >= 1.0:
            return None
        pool: dict[str, str] = {**self._load_drugbank(), **self._synonym, **self._canonical}
        hits = difflib.get_close_matches(key, pool.keys(), n=5, cutoff=self.close_match_cutoff)
        allowed = max(2, len(key) // 6)
        for (
            hit
        ) in hits:  # a typo, not a different compound of the same family ('JNK inhibitor VIII' vs 'AKT ...')
            if _edit_distance(key, hit) <= allowed:
                return pool[hit]
        return None

    def _alternatives(self, parts: list[str]) -> tuple[str | None, Method]:
        """'GSK1120212/Trametinib': every part must name the same single drug (regimens never do)."""
        parts = [p for p in parts if normalize_drug_key(p)]
        if len(parts) < 2 or any(normalize_drug_key(p) in self._regimens for p in parts):
            return None, "unresolved"
        found = [self._resolve_one(p)[:2] for p in parts]
        resolved = {c for c, _ in found if c is not None}
        if len(resolved) != 1:
            return None, "unresolved"
        target = next(iter(resolved))
        for part, (canonical, _) in zip(parts, found, strict=True):
            # a misspelt alternative ('GSK1120212/Tramatenib') must still look like the drug the others name
            similarity = difflib.SequenceMatcher(None, normalize_drug_key(part), normalize_drug_key(target))
            if canonical is None and similarity.ratio() < 0.75:
                return None, "unresolved"
        methods = {m for _, m in found}
        if methods & {"exact", "synonym"}:
            return target, "synonym"
        return target, "drugbank" if "drugbank" in methods else "close_match"

    def _resolve_one(self, name: str) -> tuple[str | None, Method, str | None]:
        """(canonical, method, matched key for close matches) of one name, cached by normalised key."""
        text = _CYCLE_PREFIX.sub("", str(name)).strip()
        key = normalize_drug_key(text)
        if key in self._cache:
            return self._cache[key]
        result: tuple[str | None, Method, str | None]
        canonical, method = self._lookup_structured(text, use_drugbank=False)
        if canonical is None:
            canonical, method = self._lookup_structured(text, use_drugbank=True)
        if canonical is None and "/" in text:
            canonical, method = self._alternatives(text.split("/"))
        if canonical is not None:
            result = (canonical, method, None)
        elif len([p for p in _COMBINATION_SPLIT.split(text) if normalize_drug_key(p)]) > 1:
            result = (None, "unresolved", None)  # a combination is never a misspelling of one drug
        else:
            close = self._close_match(key)
            result = (close, "close_match", close) if close is not None else (None, "unresolved", None)
        self._cache[key] = result
        return result

    def resolve(self, names: Iterable[Any], *, report_unresolved: bool = True) -> pd.DataFrame:
        """Resolve each name to one canonical drug.

        Parameters
        ----------
        names : iterable of str
            Free-text drug names; missing values resolve to ``unresolved``.
        report_unresolved : bool, default True
            Log a warning listing the names no table knows (callers that match those by spelling turn it off).

        Returns
        -------
        DataFrame of shape (n_names, 3)
            Columns ``name`` (as given), ``canonical`` (upper-case name, missing when unresolved) and ``method``
            (``exact``, ``synonym``, ``drugbank``, ``close_match`` or ``unresolved``), in input order.

        Notes
        -----
        Combinations written in one cell ('FOLFIRI/Avastin', 'Oxaliplatin + 5-FU') are not one drug and come back
        ``unresolved`` here; :meth:`components` splits them.
        """
        rows: list[tuple[Any, str | None, str]] = []
        close: list[tuple[str, str]] = []
        for name in names:
            if not isinstance(name, str) or not normalize_drug_key(name):
                rows.append((name, None, "unresolved"))
                continue
            canonical, method, _ = self._resolve_one(name)
            if method == "close_match":
                close.append((name, str(canonical)))
            rows.append((name, canonical, method))
        table = pd.DataFrame(rows, columns=["name", "canonical", "method"])
        self._report(table, close, report_unresolved=report_unresolved)
        return table

    def components(self, names: Iterable[Any], *, report_unresolved: bool = True) -> pd.DataFrame:
        """Split combination cells and regimen names into their drugs and resolve each.

        Parameters
        ----------
        names : iterable of str
            Free-text drug cells such as 'FOLFOX', 'Oxaliplatinum+ 5-FU' or 'Irinotecan + Cetuximab'.
        report_unresolved : bool, default True
            As in :meth:`resolve`.

        Returns
        -------
        DataFrame
            Columns ``name, component, canonical, method``: one row per drug found in each name (a name that does
            not resolve gives one ``unresolved`` row, so nothing is dropped). ``method`` is one of those of
            :meth:`resolve` or ``regimen`` for drugs implied by a regimen name (FOLFOX = fluorouracil + leucovorin
            + oxaliplatin, FOLFIRI, CAPOX/XELOX, GC, MVAC ...).
        """
        rows: list[tuple[Any, str | None, str | None, str]] = []
        close: list[tuple[str, str]] = []
        for name in names:
            if not isinstance(name, str) or not normalize_drug_key(name):
                rows.append((name, None, None, "unresolved"))
                continue
            canonical, method, _ = self._resolve_one(name)
            if canonical is not None and method != "close_match":
                rows.append((name, name, canonical, method))
                continue
            pieces = [
                p for p in _COMBINATION_SPLIT.split(_CYCLE_PREFIX.sub("", name)) if normalize_drug_key(p)
            ]
            if len(pieces) <= 1 and canonical is not None:  # a plain misspelling
                close.append((name, canonical))
                rows.append((name, name, canonical, method))
                continue
            for piece in pieces:
                regimen = self._regimens.get(normalize_drug_key(_CYCLE_PREFIX.sub("", piece)))
                if regimen is not None:
                    rows.extend((name, piece.strip(), drug, "regimen") for drug in regimen)
                    continue
                part_canonical, part_method, _ = self._resolve_one(piece)
                if part_method == "close_match":
                    close.append((piece.strip(), str(part_canonical)))
                rows.append((name, piece.strip(), part_canonical, part_method))
        table = pd.DataFrame(rows, columns=["name", "component", "canonical", "method"])
        self._report(table, close, report_unresolved=report_unresolved)
        return table

    def _report(
        self, table: pd.DataFrame, close: list[tuple[str, str]], *, report_unresolved: bool = True
    ) -> None:
        for name, canonical in dict.fromkeys(close):
            logger.warning(
                "drug name %r is not in the synonym tables; resolved by close match to %s "
                "(pass synonyms={%r: ...} if this is wrong)",
                name,
                canonical,
                name,
            )
        unresolved = table.loc[table["method"] == "unresolved", "name"].dropna().unique().tolist()
        if unresolved and report_unresolved:
            hint = (
                ""
                if self.drugbank is not None
                else "; pass drugbank=<drugbank_vocabulary.csv> for more names"
            )
            logger.warning(
                "%d drug names could not be resolved: %s (add them with synonyms=...%s)",
                len(unresolved),
                examples(unresolved, 5),
                hint,
            )


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two short strings."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _synonym_pairs(synonyms: pd.DataFrame | Mapping[str, str]) -> list[tuple[str, str]]:
    if isinstance(synonyms, pd.DataFrame):
        missing = {"canonical", "synonym"} - set(synonyms.columns)
        if missing:
            raise InputError(
                f"synonyms must have columns 'canonical' and 'synonym'; missing {sorted(missing)} "
                f"(columns: {list(synonyms.columns)})."
            )
        pairs = zip(synonyms["synonym"], synonyms["canonical"], strict=True)
    elif isinstance(synonyms, Mapping):
        pairs = synonyms.items()  # type: ignore[assignment]
    else:
        raise InputError(
            "synonyms must be a DataFrame with columns 'canonical', 'synonym' or a dict synonym -> canonical; "
            f"got {type(synonyms).__name__}."
        )
    out = []
    for synonym, canonical in pairs:
        if not isinstance(synonym, str) or not isinstance(canonical, str) or not canonical.strip():
            raise InputError(
                f"synonyms must map names to non-empty canonical names; found {synonym!r} -> {canonical!r}."
            )
        out.append((synonym, canonical))
    return out


def normalize_drug_names(
    names: Iterable[Any],
    *,
    synonyms: pd.DataFrame | Mapping[str, str] | None = None,
    drugbank: str | os.PathLike[str] | None = None,
    close_match_cutoff: float = 0.85,
) -> pd.DataFrame:
    """Resolve free-text drug names to canonical names in one call.

    A shortcut for ``DrugNameResolver(synonyms, drugbank=..., close_match_cutoff=...).resolve(names)``; see
    :class:`DrugNameResolver` for the lookup order.

    Returns
    -------
    DataFrame of shape (n_names, 3)
        Columns ``name, canonical, method``; unresolved names keep a missing ``canonical`` and are listed in a
        warning.
    """
    resolver = DrugNameResolver(synonyms, drugbank=drugbank, close_match_cutoff=close_match_cutoff)
    return resolver.resolve(names)


def drug_keys(resolver: DrugNameResolver, names: Iterable[str]) -> dict[str, str]:
    """Name -> matching key: the canonical name when the synonym tables know it, else the normalised spelling.

    Names no table knows are matched by their spelling, so no warning is logged for them.
    """
    names = list(names)
    if not names:
        return {}
    table = resolver.resolve(names, report_unresolved=False)
    keys = {}
    for name, canonical in zip(table["name"], table["canonical"], strict=True):
        keys[str(name)] = (
            str(canonical) if isinstance(canonical, str) and canonical else normalize_drug_key(name)
        )
    return keys


def cell_drug_keys(resolver: DrugNameResolver, cells: Iterable[str]) -> dict[str, frozenset[str]]:
    """Drug cell -> the matching keys of every drug it names (as :func:`drug_keys`, per component).

    A cell naming a combination ('Oxaliplatin, 5-Fluorouracil') or a regimen ('FOLFOX') gives one key per drug
    (:meth:`DrugNameResolver.components`); a part no table knows is matched by its own spelling.
    """
    cells = list(dict.fromkeys(cells))
    if not cells:
        return {}
    table = resolver.components(cells, report_unresolved=False)
    keys: dict[str, set[str]] = {str(c): set() for c in cells}
    for name, component, canonical in zip(table["name"], table["component"], table["canonical"], strict=True):
        if isinstance(canonical, str) and canonical:
            keys[str(name)].add(canonical)
        else:
            keys[str(name)].add(normalize_drug_key(str(component if isinstance(component, str) else name)))
    return {name: frozenset(k) for name, k in keys.items()}


def match_drugs(
    wanted: Mapping[str, str],
    available: Iterable[str],
    resolver: DrugNameResolver,
    *,
    where: str,
    what: str = "[drugs] names",
    listed: Iterable[str] | None = None,
) -> dict[str, str]:
    """Requested drug -> its spelling among ``available`` (matched by :func:`drug_keys`).

    Parameters
    ----------
    wanted : dict of str to str
        Requested name -> matching key (from :func:`drug_keys`).
    available : iterable of str
        Drug names of a table.
    resolver : DrugNameResolver
    where : str
        The table's name, for messages.
    what : str
        Where the requested names come from, for messages.
    listed : iterable of str, optional
        The table's own drug names, listed when a drug is missing (default ``available``; differs when
        ``available`` also holds names read out of joined columns).

    Raises
    ------
    InputError
        Naming every requested drug absent from the table at once, each with its close matches.
    """
    available = sorted(set(available))
    keys = drug_keys(resolver, available)
    by_key: dict[str, list[str]] = {}
    for name, key in keys.items():
        by_key.setdefault(key, []).append(name)
    exact = set(available)
    matched: dict[str, str] = {}
    unknown = []
    for drug, key in wanted.items():
        if drug in exact:  # the name as written wins over every looser match, but none may be left out
            others = [name for name in by_key.get(key, []) if name != drug and name not in wanted]
            if others:
                raise InputError(
                    f"{where}: drug {drug!r} is also written {examples(others)} in this table (the same drug); "
                    f"write it one way, or the rows under the other spelling would be left out."
                )
            matched[drug] = drug
            continue
        if key not in by_key:
            close = difflib.get_close_matches(drug.upper(), [a.upper() for a in available], n=3, cutoff=0.5)
            unknown.append(f"{drug!r} (close matches: {', '.join(close)})" if close else repr(drug))
            continue
        if len(by_key[key]) > 1:
            raise InputError(
                f"{where}: drug {drug!r} from {what} matches {len(by_key[key])} drugs of this table "
                f"({examples(by_key[key])}); write it exactly as one of them."
            )
        matched[drug] = by_key[key][0]
        logger.info("drug %r is %r in %s", drug, matched[drug], where)
    if unknown:
        raise InputError(
            f"{where}: {len(unknown)} drug(s) from {what} not in this table: {'; '.join(unknown)}; "
            f"it has {examples(sorted(set(available if listed is None else listed)), 5)}. Fix the names or add "
            "the drugs."
        )
    return matched
