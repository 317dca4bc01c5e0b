"""Figures of the pipeline: Kaplan-Meier curves, coefficients, proximity z-scores, CV scatter, feature-set comparison.

Every function draws on ``ax`` (a new figure when ``None``) and returns the Axes, so figures compose and embed in the
HTML report. Nothing here computes statistics beyond what the title reports; the numbers come from
:mod:`organoidrx.evaluation` and the model/proximity tables.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from organoidrx._utils import InputError, examples
from organoidrx.evaluation import SurvivalResult, survival_analysis

if TYPE_CHECKING:
    from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

__all__ = [
    "plot_coefficients",
    "plot_cv_scatter",
    "plot_feature_set_comparison",
    "plot_km",
    "plot_proximity",
]

#: z-score threshold of drug-proximal pathways (Kong et al. 2020): the 10th percentile of a standard normal.
PROXIMAL_Z = -1.2816

_HIGHLIGHT = "#c0392b"
_MUTED = "#95a5a6"
_GROUP_COLORS = ("#1f77b4", "#d62728")


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return new_ax


def _short_label(label: str, width: int = 60) -> str:
    """Long pathway names (Reactome's run past 100 characters) cut to ``width`` with an ellipsis."""
    return label if len(label) <= width else label[: width - 1] + "\u2026"


def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


# ----------------------------------------------------------------------------------------------- KM
def plot_km(
    result: SurvivalResult | pd.DataFrame,
    groups: pd.Series | str | None = None,
    *,
    ax: Axes | None = None,
    show_ci: bool = True,
    at_risk: bool = False,
    mark_horizon: bool = True,
    title: str | None = None,
    **survival_kwargs: Any,
) -> Axes:
    """Kaplan-Meier curves of two patient groups with confidence bands, log-rank p and hazard ratio.

    Parameters
    ----------
    result : SurvivalResult or DataFrame
        A :func:`~organoidrx.evaluation.survival_analysis` result, or a clinical table, in which case ``groups``
        (and any ``survival_kwargs``) are passed to :func:`~organoidrx.evaluation.survival_analysis` first.
    groups : Series or str, optional
        Group labels; required when ``result`` is a clinical table.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure when omitted.
    show_ci : bool, default=True
        Shade the pointwise confidence bands of each curve.
    at_risk : bool, default=False
        Add a table of numbers at risk under the plot (lifelines ``add_at_risk_counts``).
    mark_horizon : bool, default=True
        Draw a dotted vertical line at the survival horizon, labelled with each group's survival there.
    title : str, optional
        Title; default reports the log-rank p and the Cox hazard ratio with its confidence interval.
    **survival_kwargs
        Options of :func:`~organoidrx.evaluation.survival_analysis` (``duration_col``, ``horizon``, ...).

    Returns
    -------
    ax : matplotlib Axes
    """
    if isinstance(result, pd.DataFrame):
        if groups is None:
            raise InputError("plot_km needs groups= when given a clinical table instead of a SurvivalResult.")
        result = survival_analysis(result, groups, **survival_kwargs)
    elif not isinstance(result, SurvivalResult):
        raise InputError(
            f"plot_km takes a SurvivalResult or a clinical DataFrame; got {type(result).__name__}."
        )
    ax = _axes(ax, (6.0, 4.5 if not at_risk else 5.5))
    fitters, handles = [], []
    for label, color in zip(result.groups, _GROUP_COLORS, strict=True):
        fitter = result.km[label]
        before = len(ax.get_lines())
        fitter.plot_survival_function(ax=ax, ci_show=show_ci, color=color, show_censors=True, ci_legend=False)
        new = ax.get_lines()[before:]
        curve = next((line for line in new if line.get_drawstyle().startswith("steps")), new[0])
        curve.set_label(f"{label} (n={result.n[label]}, events={result.events[label]})")
        handles.append(curve)
        fitters.append(fitter)
    ax.legend(handles=handles, loc="best", fontsize="small", frameon=False)
    if mark_horizon:
        ax.axvline(result.horizon, color="0.4", linestyle=":", linewidth=1.0)
        values = ", ".join(
            f"{result.survival_at_horizon[g]:.2f}" if np.isfinite(result.survival_at_horizon[g]) else "NA"
            for g in result.groups
        )
        ax.text(
            result.horizon,
            0.02,
            f" {result.horizon:g} {result.time_unit}: {values}",
            fontsize="x-small",
            color="0.3",
            va="bottom",
        )
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(f"time ({result.time_unit})")
    ax.set_ylabel("survival probability")
    if title is None:
        hr = (
            f"HR {result.hazard_ratio:.2f} ({result.hr_ci_lower:.2f}-{result.hr_ci_upper:.2f})"
            if np.isfinite(result.hazard_ratio)
            else "HR NA"
        )
        title = f"log-rank p = {_format_p(result.logrank_p)}; {hr}"
    ax.set_title(title, fontsize="medium")
    if at_risk:
        from lifelines.plotting import add_at_risk_counts

        add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    return ax


# ----------------------------------------------------------------------------------------------- coefficients
def plot_coefficients(
    ranking: pd.DataFrame | pd.Series,
    *,
    top_k: int = 10,
    max_features: int = 30,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Horizontal bar chart of model coefficients, best-ranked first, with the top ``top_k`` highlighted.

    Parameters
    ----------
    ranking : DataFrame or Series
        A table with columns ``feature`` (or ``pathway``) and ``coefficient`` and optionally ``rank`` (1 = best;
        the ``ranking_`` attribute of :class:`~organoidrx.models.DrugResponseModel`), or a Series of coefficients
        indexed by feature. Without ``rank``, features are ranked by decreasing |coefficient|.
    top_k : int, default=10
        Number of best-ranked features drawn in the highlight colour.
    max_features : int, default=30
        Bars drawn at most (the best-ranked ones).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    if isinstance(ranking, pd.Series):
        table = pd.DataFrame(
            {"feature": ranking.index.astype(str), "coefficient": ranking.to_numpy(dtype=float)}
        )
    elif isinstance(ranking, pd.DataFrame):
        name_col = "feature" if "feature" in ranking.columns else "pathway"
        if name_col not in ranking.columns or "coefficient" not in ranking.columns:
            raise InputError(
                "ranking needs columns 'feature' (or 'pathway') and 'coefficient'; "
                f"has {examples(list(ranking.columns), 8)}."
            )
        keep = [name_col, "coefficient"] + (["rank"] if "rank" in ranking.columns else [])
        table = ranking.loc[:, keep].rename(columns={name_col: "feature"}).copy()
    else:
        raise InputError(f"ranking must be a DataFrame or Series; got {type(ranking).__name__}.")
    if table.empty:
        raise InputError("ranking is empty; nothing to plot.")
    if "rank" in table.columns:
        table = table.sort_values("rank", kind="stable")
    else:
        table = table.iloc[np.argsort(-np.abs(table["coefficient"].to_numpy()), kind="stable")]
    table = table.head(max_features).reset_index(drop=True)
    ax = _axes(ax, (7.0, 0.25 * len(table) + 1.2))
    colors = [_HIGHLIGHT if i < top_k else _MUTED for i in range(len(table))]
    positions = np.arange(len(table))[::-1]
    ax.barh(positions, table["coefficient"], color=colors)
    ax.set_yticks(positions, labels=[_short_label(str(f)) for f in table["feature"]], fontsize="x-small")
    ax.axvline(0.0, color="0.2", linewidth=0.8)
    ax.set_xlabel("coefficient")
    ax.set_title(title or f"coefficients (top {min(top_k, len(table))} highlighted)", fontsize="medium")
    return ax


# ----------------------------------------------------------------------------------------------- proximity
def _proximity_series(proximity_table: pd.DataFrame, drug: str) -> pd.Series:
    if not isinstance(proximity_table, pd.DataFrame):
        raise InputError(f"proximity_table must be a DataFrame; got {type(proximity_table).__name__}.")
    if {"drug", "pathway", "z"} <= set(proximity_table.columns):
        rows = proximity_table[proximity_table["drug"].astype(str) == drug]
        if rows.empty:
            drugs = sorted(proximity_table["drug"].astype(str).unique())
            raise InputError(f"drug {drug!r} is not in proximity_table (drugs: {examples(drugs, 5)}).")
        return pd.Series(rows["z"].to_numpy(dtype=float), index=rows["pathway"].astype(str).to_numpy())
    if drug in proximity_table.columns:  # wide: pathways x drugs
        return proximity_table[drug].astype(float).rename(None)
    raise InputError(
        f"proximity_table needs columns 'drug', 'pathway', 'z' (long) or a column per drug (wide) including "
        f"{drug!r}; has {examples(list(proximity_table.columns), 8)}."
    )


def plot_proximity(
    proximity_table: pd.DataFrame,
    drug: str,
    *,
    threshold: float = PROXIMAL_Z,
    label_top: int = 10,
    ax: Axes | None = None,
) -> Axes:
    """Pathway proximity z-scores of one drug, sorted, with the proximal threshold and proximal pathways labelled.

    Parameters
    ----------
    proximity_table : DataFrame
        Long table with columns ``drug, pathway, z`` (as :func:`organoidrx.network` proximity returns), or a wide
        table with pathways as index and one z-score column per drug.
    drug : str
        Drug to show.
    threshold : float, default=-1.2816
        Proximal pathways have ``z <= threshold`` (one-sided 10% of a standard normal).
    label_top : int, default=10
        The most proximal pathways (at most this many, all below the threshold) get a text label.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    z = _proximity_series(proximity_table, drug)
    missing = z.index[z.isna()]
    if len(missing):
        logger.warning(
            "%d pathways have no z-score for %s and are not drawn (e.g. %s)",
            len(missing),
            drug,
            examples(missing),
        )
    z = z.dropna().sort_values(kind="stable")
    if z.empty:
        raise InputError(f"no finite proximity z-score for drug {drug!r}.")
    ax = _axes(ax, (7.0, 4.5))
    proximal = (z <= threshold).to_numpy()
    order = np.arange(1, len(z) + 1)
    ax.scatter(order[~proximal], z.to_numpy()[~proximal], s=8, color=_MUTED, label="not proximal")
    ax.scatter(
        order[proximal],
        z.to_numpy()[proximal],
        s=14,
        color=_HIGHLIGHT,
        label=f"proximal (z <= {threshold:g})",
    )
    ax.axhline(threshold, color=_HIGHLIGHT, linestyle="--", linewidth=1.0)
    for i in range(min(label_top, int(proximal.sum()))):
        ax.annotate(
            str(z.index[i]).removeprefix("REACTOME_"),
            (order[i], z.iloc[i]),
            xytext=(6, 0),
            textcoords="offset points",
            fontsize="xx-small",
            va="center",
        )
    ax.set_xlabel("pathway rank")
    ax.set_ylabel("proximity z-score")
    ax.set_title(f"{drug}: {int(proximal.sum())} of {len(z)} pathways proximal", fontsize="medium")
    ax.legend(loc="lower right", fontsize="small", frameon=False)
    return ax


# ----------------------------------------------------------------------------------------------- CV scatter
def plot_cv_scatter(
    predicted: pd.Series,
    observed: pd.Series,
    *,
    ax: Axes | None = None,
    xlabel: str = "observed",
    ylabel: str = "predicted (cross-validated)",
    title: str | None = None,
) -> Axes:
    """Cross-validated predictions against observed responses, with Spearman and Pearson correlations.

    Parameters
    ----------
    predicted, observed : Series of shape (n_samples,)
        Aligned on their index (sample ids); samples in only one are left out with a warning.
    ax : matplotlib Axes, optional
    xlabel, ylabel, title : str, optional
        Labels; the default title prefixes the correlations.

    Returns
    -------
    ax : matplotlib Axes
    """
    pred = pd.Series(predicted, dtype=float).copy()
    obs = pd.Series(observed, dtype=float).copy()
    pred.index, obs.index = pred.index.astype(str), obs.index.astype(str)
    common = pred.index.intersection(obs.index, sort=False)
    only = pred.index.symmetric_difference(obs.index)
    if len(only):
        logger.warning(
            "%d samples are in only one of predicted and observed and are not drawn (e.g. %s)",
            len(only),
            examples(only),
        )
    both = pd.DataFrame({"predicted": pred.loc[common], "observed": obs.loc[common]}).dropna()
    if len(both) < 3:
        raise InputError(f"plot_cv_scatter needs at least 3 samples with both values; found {len(both)}.")
    rho, rho_p = stats.spearmanr(both["observed"], both["predicted"])
    r, r_p = stats.pearsonr(both["observed"], both["predicted"])
    ax = _axes(ax, (4.5, 4.5))
    ax.scatter(both["observed"], both["predicted"], s=20, color=_GROUP_COLORS[0], alpha=0.8)
    slope, intercept = np.polyfit(both["observed"].to_numpy(), both["predicted"].to_numpy(), 1)
    xs = np.linspace(both["observed"].min(), both["observed"].max(), 2)
    ax.plot(xs, intercept + slope * xs, color="0.3", linewidth=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    stat_text = (
        f"Spearman rho = {rho:.2f} (p = {_format_p(float(rho_p))}), "
        f"Pearson r = {r:.2f} (p = {_format_p(float(r_p))}), n = {len(both)}"
    )
    ax.set_title(f"{title}\n{stat_text}" if title else stat_text, fontsize="small")
    return ax


# ----------------------------------------------------------------------------------------------- feature sets
def plot_feature_set_comparison(
    cv_table: pd.DataFrame,
    *,
    drug: str | None = None,
    metric: str = "spearman",
    ax: Axes | None = None,
) -> Axes:
    """Cross-validated accuracy of competing feature sets (proximal vs all pathways vs random vs targets ...).

    Parameters
    ----------
    cv_table : DataFrame
        As :func:`organoidrx.models.cross_validate_response` returns: one row per drug and ``feature_set`` with the
        ``metric`` column and, for sets compared with random sets, ``random_<metric>_median``, ``_q025``,
        ``_q975`` and ``n_random``, drawn as a grey median with its 95% range. A feature set with several rows
        (e.g. one per random draw) is drawn as a box plot of its values instead.
    drug : str, optional
        Drug to show; required when the table holds several drugs.
    metric : str, default="spearman"
        Column to plot (``"spearman"`` or ``"pearson"``).
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    if not isinstance(cv_table, pd.DataFrame):
        raise InputError(f"cv_table must be a DataFrame; got {type(cv_table).__name__}.")
    missing = [c for c in ("feature_set", metric) if c not in cv_table.columns]
    if missing:
        raise InputError(
            f"cv_table is missing columns {missing} (has {examples(list(cv_table.columns), 8)})."
        )
    table = cv_table
    if "drug" in table.columns:
        drugs = sorted(table["drug"].astype(str).unique())
        if drug is None:
            if len(drugs) > 1:
                raise InputError(
                    f"cv_table holds {len(drugs)} drugs ({examples(drugs)}); pass drug= to choose one."
                )
            drug = drugs[0] if drugs else None
        elif drug not in drugs:
            raise InputError(f"drug {drug!r} is not in cv_table (drugs: {examples(drugs, 5)}).")
        table = table[table["drug"].astype(str) == drug]
    sets = list(dict.fromkeys(table["feature_set"].astype(str)))
    ax = _axes(ax, (1.3 * len(sets) + 2.5, 4.0))
    med_col, lo_col, hi_col = (f"random_{metric}_{s}" for s in ("median", "q025", "q975"))
    drew_random = False
    for x, name in enumerate(sets):
        rows = table[table["feature_set"].astype(str) == name]
        values = rows[metric].to_numpy(dtype=float)
        if len(values) > 1:
            ax.boxplot(values[np.isfinite(values)], positions=[x], widths=0.5, manage_ticks=False)
            continue
        value = values[0]
        ax.scatter([x], [value], s=50, color=_HIGHLIGHT, zorder=3)
        ax.annotate(f"{value:.2f}", (x, value), xytext=(8, 0), textcoords="offset points", fontsize="x-small")
        if med_col in rows.columns and np.isfinite(float(rows[med_col].iloc[0])):
            lo, hi = float(rows[lo_col].iloc[0]), float(rows[hi_col].iloc[0])
            median = float(rows[med_col].iloc[0])
            ax.errorbar(
                [x + 0.25],
                [median],
                yerr=[[median - lo], [hi - median]],
                fmt="o",
                color=_MUTED,
                capsize=3,
                label=None if drew_random else "random sets: median, 95% range",
            )
            drew_random = True
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xticks(range(len(sets)), labels=[s.replace("_", " ") for s in sets], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(sets) - 0.4)
    ax.set_ylabel(f"cross-validated {metric}")
    ax.set_title(f"{drug}: feature sets" if drug else "feature sets", fontsize="medium")
    if drew_random:
        ax.legend(loc="best", fontsize="small", frameon=False)
    return ax
