"""Keep the pathways that are network-proximal to a drug's targets (a fixed, label-free column selector)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from organoidrx._utils import InputError, examples, log_once
from organoidrx._validation import as_long_table

logger = logging.getLogger(__name__)

__all__ = ["PROXIMITY_THRESHOLD", "ProximalPathwaySelector", "proximal_pathways"]

#: One-sided 10% normal quantile: Kong et al. (2020) call a pathway drug-proximal when z <= -1.2816.
PROXIMITY_THRESHOLD = -1.2816

ProximityInput: TypeAlias = pd.DataFrame | Callable[[str | None], pd.DataFrame]


def _resolve_drug(table: pd.DataFrame, drug: str | None, *, name: str) -> pd.DataFrame:
    """Rows of ``table`` for one drug; a table without a ``drug`` column is a single drug."""
    if "drug" not in table.columns:
        return table
    drugs = list(dict.fromkeys(table["drug"].astype(str)))
    if drug is None:
        if len(drugs) != 1:
            raise InputError(
                f"{name} holds {len(drugs)} drugs ({examples(drugs)}); pass drug=... to choose one."
            )
        drug = drugs[0]
    rows = table[table["drug"].astype(str) == str(drug)]
    if rows.empty:
        raise InputError(
            f"{name} has no rows for drug {drug!r}; it holds {examples(drugs)}. Check the spelling of the drug."
        )
    return rows


def proximal_pathways(
    proximity: pd.DataFrame,
    *,
    threshold: float = PROXIMITY_THRESHOLD,
    z_column: str = "z",
) -> dict[str, list[str]]:
    """Drug-proximal pathways per drug from a long proximity table.

    Parameters
    ----------
    proximity : DataFrame
        Long table with columns ``drug, pathway`` and ``z_column`` (what :func:`organoidrx.network.proximity`
        returns); one row per drug and pathway.
    threshold : float, default -1.2816
        A pathway is proximal when ``z <= threshold``; NaN z-scores never pass.
    z_column : str, default "z"
        Column holding the proximity z-score.

    Returns
    -------
    dict of str to list of str
        ``{drug: [pathways with z <= threshold, in table order]}``; drugs without any proximal pathway map to ``[]``.

    Raises
    ------
    InputError
        When a column is missing or a drug lists the same pathway twice.

    Notes
    -----
    The threshold is the 10% one-sided normal quantile, :math:`\\Phi^{-1}(0.1) = -1.2816`, as in Kong et al. (2020).

    References
    ----------
    Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8.
    """
    table = as_long_table(proximity, ["drug", "pathway", z_column], name="proximity")
    _check_unique(table, name="proximity")
    z = pd.to_numeric(table[z_column], errors="coerce")
    passed = table[(z <= threshold).to_numpy()]
    result: dict[str, list[str]] = {str(d): [] for d in dict.fromkeys(table["drug"])}
    for drug, pathway in zip(passed["drug"].astype(str), passed["pathway"].astype(str), strict=True):
        result[drug].append(pathway)
    return result


def _check_unique(table: pd.DataFrame, *, name: str) -> None:
    keys = ["drug", "pathway"] if "drug" in table.columns else ["pathway"]
    duplicated = table[table.duplicated(keys)]
    if len(duplicated):
        first = tuple(duplicated.iloc[0][keys])
        raise InputError(
            f"{name} lists {len(duplicated)} {'/'.join(keys)} pairs more than once (first: {first!r}); "
            "keep one z-score per pair."
        )


class ProximalPathwaySelector(SelectorMixin, BaseEstimator):
    """Keep the columns (pathways) whose network proximity to the drug's targets passes a z-score threshold.

    The selection depends only on the proximity table, never on the samples or the response, so it cannot leak
    information across cross-validation folds.

    Parameters
    ----------
    proximity : DataFrame or callable, default None
        Long table with columns ``pathway`` and ``z_column`` (and ``drug`` when it covers several drugs), or a
        callable ``proximity(drug) -> DataFrame`` computing such a table on demand (for example a
        ``functools.partial`` of :func:`organoidrx.network.proximity`). Required to fit.
    drug : str, default None
        Which drug's rows to use; may be omitted when the table holds a single drug.
    threshold : float, default -1.2816
        Keep pathways with ``z <= threshold``.
    z_column : str, default "z"
        Column of the proximity table holding the z-score.

    Attributes
    ----------
    support_ : ndarray of bool, shape (n_features_in_,)
        Which input columns are kept.
    selected_features_ : ndarray of str
        Names of the kept columns, in input order.
    proximal_pathways_ : list of str
        Every pathway passing the threshold, whether or not it is a column of ``X``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when ``X`` was a DataFrame; with a NumPy array the columns are named ``x0, x1, ...``.

    Raises
    ------
    InputError
        At fit, when no pathway passes the threshold or none of the proximal pathways is a column of ``X``.

    Notes
    -----
    Pathway :math:`P` is proximal to drug :math:`D` when :math:`z_{D,P} \\le` ``threshold``, where :math:`z` is
    the Guney et al. (2016) closest-distance z-score against degree-matched random node sets.

    References
    ----------
    Guney E. et al. (2016) Nat Commun 7:10331, doi:10.1038/ncomms10331.
    Kong J. et al. (2020) Nat Commun 11:5485, doi:10.1038/s41467-020-19313-8.

    Examples
    --------
    >>> import pandas as pd
    >>> proximity = pd.DataFrame({"pathway": ["A", "B", "C"], "z": [-2.0, 0.5, -1.5]})
    >>> X = pd.DataFrame([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], columns=["A", "B", "C"])
    >>> ProximalPathwaySelector(proximity).fit(X).get_feature_names_out().tolist()
    ['A', 'C']
    """

    def __init__(
        self,
        proximity: ProximityInput | None = None,
        drug: str | None = None,
        threshold: float = PROXIMITY_THRESHOLD,
        z_column: str = "z",
    ) -> None:
        self.proximity = proximity
        self.drug = drug
        self.threshold = threshold
        self.z_column = z_column

    def _proximity_table(self) -> pd.DataFrame:
        if self.proximity is None:
            raise InputError(
                "ProximalPathwaySelector needs a proximity table (columns 'pathway', 'z'); pass proximity=..."
            )
        table = self.proximity(self.drug) if callable(self.proximity) else self.proximity
        table = as_long_table(table, ["pathway", self.z_column], name="proximity", optional=["drug", "note"])
        table = _resolve_drug(table, self.drug, name="proximity")
        _check_unique(table, name="proximity")
        return table

    def fit(self, X: Any, y: Any = None) -> ProximalPathwaySelector:
        """Find which columns of ``X`` are proximal pathways.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_features)
            Pathway scores; only the column names are used.
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        table = self._proximity_table()
        z = pd.to_numeric(table[self.z_column], errors="coerce").to_numpy(dtype=float)
        n_nan = int(np.isnan(z).sum())
        if n_nan:
            log_once(
                logger,
                logging.INFO,
                "proximity: %d pathways have no z-score (NaN) and are never proximal",
                n_nan,
            )
        proximal = table["pathway"].astype(str).to_numpy()[z <= self.threshold]
        drug_label = f" for drug {self.drug!r}" if self.drug is not None else ""
        if len(proximal) == 0:
            notes = table["note"].dropna().astype(str) if "note" in table.columns else pd.Series(dtype=str)
            notes = notes[notes != ""]
            why = f"; the table says: {notes.iloc[0]}" if n_nan == len(z) and len(notes) else ""
            raise InputError(
                f"no pathway of {len(table)} in the proximity table{drug_label} has {self.z_column} <= "
                f"{self.threshold} (smallest: {np.nanmin(z) if len(z) > n_nan else float('nan'):.4g}){why}; "
                "check the drug or relax the threshold."
            )
        names = self._input_names(X.shape[1])
        wanted = set(proximal)
        self.support_ = np.array([name in wanted for name in names], dtype=bool)
        if not self.support_.any():
            raise InputError(
                f"none of the {len(proximal)} proximal pathways{drug_label} is a column of X; pathways look like "
                f"{examples(proximal)} while X has {examples(names)}. Use the same pathway names in both."
            )
        missing = sorted(wanted - set(names))
        if missing:
            log_once(
                logger,
                logging.WARNING,
                "%d of %d proximal pathways%s are not columns of X and are ignored: %s",
                len(missing),
                len(wanted),
                drug_label,
                examples(missing),
            )
        self.proximal_pathways_ = list(proximal)
        self.selected_features_ = np.asarray(names, dtype=object)[self.support_]
        return self

    def _input_names(self, n_features: int) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return [f"x{i}" for i in range(n_features)]
        return [str(n) for n in names]

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return np.asarray(self.support_)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.requires_fit = True
        return tags
