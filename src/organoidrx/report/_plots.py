"""Figures of the pipeline: Kaplan-Meier curves, coefficients, proximity z-scores, CV scatter, feature-set comparison.

Every function draws on ``ax`` (a new figure when ``None``) and returns the Axes, so figures compose and embed in the
HTML report. Nothing here computes statistics beyond what the title reports; the numbers come from
:mod:`organoidrx.evaluation` and the model/proximity tables.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from organoidrx._units import horizon_words, per_year
from organoidrx._utils import InputError, examples
from organoidrx.evaluation import SurvivalResult, survival_analysis

if TYPE_CHECKING:
    from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

__all__ = [
    "plot_coefficients",
    "plot_cv_scatter",
    "plot_cv_summary",
    "plot_feature_set_comparison",
    "plot_forest",
    "plot_km",
    "plot_method_heatmap",
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
def _time_axis(result: SurvivalResult, follow_up: float) -> tuple[np.ndarray, str, float]:
    """Tick positions (in the data's unit), the axis unit's name and its length in the data's unit.

    Follow-up of two years or more is shown in years, as survival is read in clinics; shorter in the data's unit.
    """
    unit = result.time_unit
    year = per_year(unit)
    if unit != "years" and follow_up >= 2 * year:
        step = max(1, int(np.ceil(follow_up / year / 8)))
        return np.arange(0.0, follow_up + 1e-9, step * year), "years", year
    from matplotlib.ticker import MaxNLocator

    ticks = np.asarray(MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]).tick_values(0.0, follow_up))
    return ticks[(ticks >= 0) & (ticks <= follow_up * 1.0001)], unit, 1.0


def _hazard_ratio_text(
    hr: float,
    lower: float,
    upper: float,
    *,
    comparison: str,
    reference: str,
    adjusted_for: Sequence[str] = (),
) -> str:
    if not np.isfinite(hr):
        return "HR not estimable"
    text = f"HR {comparison} vs {reference} {hr:.2f} ({lower:.2f}-{upper:.2f})"
    return text + (f", adjusted for {', '.join(adjusted_for)}" if adjusted_for else "")


def plot_km(
    result: SurvivalResult | pd.DataFrame,
    groups: pd.Series | str | None = None,
    *,
    ax: Axes | None = None,
    show_ci: bool = True,
    at_risk: bool = True,
    mark_horizon: bool = True,
    title: str | None = None,
    permutation_p: float | None = None,
    **survival_kwargs: Any,
) -> Axes:
    """Kaplan-Meier curves of two patient groups: bands, numbers at risk, the horizon's survival, log-rank, HR.

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
    at_risk : bool, default=True
        Print the number of patients still at risk in each group at every x tick, under the axis.
    mark_horizon : bool, default=True
        Draw a dotted vertical line at the survival horizon, named as clinicians say it ("5-year survival"), with
        each group's survival there labelled beside its curve.
    title : str, optional
        Title; default the log-rank p, then the hazard ratio with its direction ("responders vs
        non-responders"), what it is adjusted for, and the unadjusted hazard ratio beside an adjusted one.
    permutation_p : float, optional
        The whole-pipeline permutation p of the split, shown beside the log-rank p in the default title.
    **survival_kwargs
        Options of :func:`~organoidrx.evaluation.survival_analysis` (``duration_col``, ``horizon``, ...).

    Returns
    -------
    ax : matplotlib Axes

    Notes
    -----
    The x-axis ends at the longest follow-up; with two or more years of follow-up it is labelled in years.
    """
    if isinstance(result, pd.DataFrame):
        if groups is None:
            raise InputError("plot_km needs groups= when given a clinical table instead of a SurvivalResult.")
        result = survival_analysis(result, groups, **survival_kwargs)
    elif not isinstance(result, SurvivalResult):
        raise InputError(
            f"plot_km takes a SurvivalResult or a clinical DataFrame; got {type(result).__name__}."
        )
    ax = _axes(ax, (6.5, 5.2 if at_risk else 4.5))
    follow_up = float(result.data["time"].max()) if len(result.data) else 1.0
    follow_up = follow_up if follow_up > 0 else 1.0
    handles = []
    for label, color in zip(result.groups, _GROUP_COLORS, strict=True):
        fitter = result.km[label]
        before = len(ax.get_lines())
        fitter.plot_survival_function(ax=ax, ci_show=show_ci, color=color, show_censors=True, ci_legend=False)
        new = ax.get_lines()[before:]
        curve = next((line for line in new if line.get_drawstyle().startswith("steps")), new[0])
        curve.set_label(f"{label} (n={result.n[label]}, events={result.events[label]})")
        handles.append(curve)
    # above the axes, under the title: inside, the legend would cover curves or the horizon's values
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize="small", frameon=False,
              borderaxespad=0.2)  # fmt: skip
    ticks, axis_unit, scale = _time_axis(result, follow_up)
    ax.set_xlim(0.0, follow_up)
    ax.set_xticks(ticks, labels=[f"{t / scale:g}" for t in ticks])
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(f"time ({axis_unit})")
    ax.set_ylabel("survival probability")
    if mark_horizon and 0 < result.horizon <= follow_up:
        words = horizon_words(result.horizon, result.time_unit)
        ax.axvline(result.horizon, color="0.4", linestyle=":", linewidth=1.0)
        ax.text(result.horizon, 1.04, f" {words}", fontsize="x-small", color="0.3", va="top")
        values = [(g, result.survival_at_horizon[g]) for g in result.groups]
        # each group's value beside its curve, nudged apart when the two curves are close
        order = sorted(range(2), key=lambda i: values[i][1] if np.isfinite(values[i][1]) else -1.0)
        positions = [float(v) if np.isfinite(v) else np.nan for _, v in values]
        low, high = order
        if (
            np.isfinite(positions[low])
            and np.isfinite(positions[high])
            and positions[high] - positions[low] < 0.06
        ):
            mid = (positions[high] + positions[low]) / 2
            positions[low], positions[high] = mid - 0.03, mid + 0.03
        for (_, value), y, color in zip(values, positions, _GROUP_COLORS, strict=True):
            if np.isfinite(value):
                ax.annotate(
                    f"{value:.2f}",
                    (result.horizon, y),
                    xytext=(4, 0),
                    textcoords="offset points",
                    fontsize="x-small",
                    color=color,
                    va="center",
                    fontweight="bold",
                    bbox={
                        "boxstyle": "square,pad=0.1",
                        "facecolor": "white",
                        "edgecolor": "none",
                        "alpha": 0.85,
                    },
                )
    if at_risk:
        from matplotlib.transforms import blended_transform_factory

        transform = blended_transform_factory(ax.transData, ax.transAxes)
        times = result.data["time"].to_numpy(dtype=float)
        labels = result.data["group"].astype(str).to_numpy()
        ax.text(0.0, -0.16, "at risk", transform=ax.transAxes, fontsize="x-small", ha="left", va="center",
                color="0.3")  # fmt: skip
        for row, (label, color) in enumerate(zip(result.groups, _GROUP_COLORS, strict=True)):
            mine = times[labels == label]
            for tick in ticks:
                ax.text(tick, -0.16 - 0.05 * (row + 1), f"{int((mine >= tick).sum())}", transform=transform,
                        fontsize="x-small", ha="center", va="center", color=color)  # fmt: skip
    if title is None:
        comparison, reference = result.groups
        adjusted = _hazard_ratio_text(
            result.hazard_ratio,
            result.hr_ci_lower,
            result.hr_ci_upper,
            comparison=comparison,
            reference=reference,
            adjusted_for=result.adjusted_for,
        )
        title = f"log-rank p = {_format_p(result.logrank_p)}"
        if permutation_p is not None and np.isfinite(permutation_p):
            title += f", whole-pipeline permutation p = {_format_p(float(permutation_p))}"
        title += f"\n{adjusted}"
        if result.adjusted_for and np.isfinite(result.hazard_ratio_unadjusted):
            title += (
                f"; unadjusted {result.hazard_ratio_unadjusted:.2f} "
                f"({result.hr_unadjusted_ci_lower:.2f}-{result.hr_unadjusted_ci_upper:.2f})"
            )
    ax.set_title(title, fontsize="small", pad=34)
    return ax


# ----------------------------------------------------------------------------------------------- forest
def plot_forest(
    data: SurvivalResult | pd.DataFrame,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Forest plot of Cox hazard ratios with their confidence intervals on a log axis.

    Parameters
    ----------
    data : SurvivalResult or DataFrame
        A :func:`~organoidrx.evaluation.survival_analysis` result: one row per term of its Cox model (the group
        and each covariate). Or a survival table with one row per drug (``drug, hazard_ratio, hr_ci_lower,
        hr_ci_upper`` and, when present, ``hazard_ratio_unadjusted, hr_unadjusted_ci_lower,
        hr_unadjusted_ci_upper, adjusted_for``): the adjusted hazard ratio of each drug's signature as a filled
        marker, the unadjusted one as an open marker below it.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    rows: list[tuple[str, float, float, float, bool]] = []  # label, HR, lower, upper, adjusted (filled)
    if isinstance(data, SurvivalResult):
        if data.cox is None:
            raise InputError(
                "the survival result has no fitted Cox model (too few events?); nothing to plot."
            )
        bounds = np.exp(data.cox.confidence_intervals_.to_numpy(dtype=float))
        for term, coef, (lower, upper) in zip(data.cox.params_.index, data.cox.params_, bounds, strict=True):
            name = f"{data.groups[0]} vs {data.groups[1]}" if term == "group" else str(term)
            rows.append((name, float(np.exp(coef)), float(lower), float(upper), True))
        default_title = "Cox model: hazard ratio of each term"
    elif isinstance(data, pd.DataFrame):
        missing = [c for c in ("drug", "hazard_ratio", "hr_ci_lower", "hr_ci_upper") if c not in data.columns]
        if missing:
            raise InputError(
                f"the survival table is missing columns {missing} (has {examples(list(data.columns), 8)})."
            )
        for row in data.itertuples(index=False):
            adjusted_for = str(getattr(row, "adjusted_for", "") or "")
            adjusted_for = "" if adjusted_for == "nan" else adjusted_for
            label = str(row.drug) + (
                f" (adjusted for {adjusted_for.replace(';', ', ')})" if adjusted_for else ""
            )
            rows.append(
                (label, float(row.hazard_ratio), float(row.hr_ci_lower), float(row.hr_ci_upper), True)
            )
            if adjusted_for and "hazard_ratio_unadjusted" in data.columns:
                rows.append(
                    (
                        f"{row.drug} (unadjusted)",
                        float(row.hazard_ratio_unadjusted),
                        float(row.hr_unadjusted_ci_lower),
                        float(row.hr_unadjusted_ci_upper),
                        False,
                    )
                )
        default_title = "Hazard ratio of predicted responders vs non-responders per drug"
    else:
        raise InputError(
            f"plot_forest takes a SurvivalResult or a survival DataFrame; got {type(data).__name__}."
        )
    if not rows:
        raise InputError("nothing to plot: no hazard ratio.")
    ax = _axes(ax, (6.5, 0.32 * len(rows) + 1.3))
    positions = np.arange(len(rows))[::-1]

    # a hazard ratio is drawn when it and its interval are finite and positive; a fit that separated the groups
    # (an interval of 0 to infinity) is as good as none
    def estimable(values: Any) -> bool:
        return all(np.isfinite(v) and v > 0 for v in values)

    drawn = [r for r in rows if estimable(r[1:4])]
    for y, (_, hr, lower, upper, filled) in zip(positions, rows, strict=True):
        if not estimable((hr, lower, upper)):
            shown = f" ({hr:.2g}, {lower:.2g}-{upper:.2g})" if np.isfinite(hr) and hr > 0 else ""
            ax.text(1.0, y, f" not estimable{shown}", fontsize="x-small", va="center", color="0.4")
            continue
        color = "0.15" if filled else "0.45"
        ax.plot([max(lower, 1e-3), min(upper, 1e3)], [y, y], color=color, linewidth=1.2)
        ax.plot(
            [hr], [y], marker="s", markersize=6, color=color, markerfacecolor=color if filled else "white"
        )
        ax.annotate(
            f"{hr:.2f} ({lower:.2f}-{upper:.2f})",
            (1.0, y),
            xycoords=("axes fraction", "data"),
            xytext=(6, 0),
            textcoords="offset points",
            fontsize="x-small",
            va="center",
        )
    ax.axvline(1.0, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    low = min((r[2] for r in drawn), default=0.5)
    high = max((r[3] for r in drawn), default=2.0)
    ax.set_xlim(max(min(low, 0.9) / 1.3, 1e-3), min(max(high, 1.1) * 1.3, 1e3))
    from matplotlib.ticker import FixedLocator, NullFormatter

    low_x, high_x = ax.get_xlim()
    candidates = np.array(
        [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    )
    shown_ticks = candidates[(candidates >= low_x) & (candidates <= high_x)]
    ax.xaxis.set_major_locator(FixedLocator(shown_ticks.tolist()))
    ax.set_xticks(shown_ticks, labels=[f"{t:g}" for t in shown_ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(positions, labels=[_short_label(r[0], 60) for r in rows], fontsize="x-small")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("hazard ratio (log scale; < 1: lower hazard)")
    ax.set_title(title or default_title, fontsize="small")
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
        The most proximal pathways (at most this many, all below the threshold) are named in a column of evenly
        spaced labels joined to their points, so labels never overlap; the other pathways are unlabelled.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    z = _proximity_series(proximity_table, drug)
    missing = z.index[z.isna()]
    if len(missing):  # the proximity table's note says why; a figure is no place to warn
        logger.debug(
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
    values = z.to_numpy()
    ax.scatter(order[~proximal], values[~proximal], s=6, color=_MUTED, label="not proximal", linewidths=0)
    ax.scatter(
        order[proximal],
        values[proximal],
        s=10,
        color=_HIGHLIGHT,
        label=f"proximal (z <= {threshold:g})",
        linewidths=0,
    )
    ax.axhline(threshold, color=_HIGHLIGHT, linestyle="--", linewidth=1.0)
    ax.set_xlim(0, len(z) + 1)
    span = float(values.max() - values.min()) or 1.0
    low, high = values.min() - 0.05 * span, values.max() + 0.05 * span
    n_labels = min(label_top, int(proximal.sum()))
    top, step = 0.96, min(0.055, 0.5 / max(n_labels, 1))
    if n_labels:
        # The label column spans about the left 65% of the axes; raise the top of the axis until the curve there
        # stays below the column's lowest label, so labels never sit on points.
        under = float(values[: max(1, int(0.65 * len(values)))].max())
        bottom = top - (n_labels - 1) * step - 0.04
        high = max(high, low + (under - low) / bottom)
    ax.set_ylim(low, high)
    if n_labels:
        # The most proximal pathways, named in a column of evenly spaced labels in the empty upper left of the
        # sorted curve, each joined to its point by a thin line: labels never overlap, whatever the set count.
        from matplotlib.collections import LineCollection

        x_text = 0.1 * (len(z) + 1)  # the column's left edge, in data units (the x-axis starts at 0)
        segments = []
        for i in range(n_labels):
            y_text = low + (top - i * step) * (high - low)
            ax.text(x_text, y_text, _short_label(str(z.index[i]).removeprefix("REACTOME_"), 55), fontsize=6.5,
                    va="center", ha="left")  # fmt: skip
            segments.append([(x_text * 0.97, y_text), (order[i], values[i])])
        ax.add_collection(LineCollection(segments, colors="0.6", linewidths=0.5))
    ax.set_xlabel("pathway rank (most proximal first)")
    ax.set_ylabel("proximity z-score")
    shown = f"; the {n_labels} most proximal named" if n_labels else ""
    ax.set_title(f"{drug}: {int(proximal.sum())} of {len(z)} pathways proximal{shown}", fontsize="medium")
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

    No p-value is drawn: held-out predictions are not independent and the model was chosen among others, so a
    correlation test's p would overstate the evidence (the organoid CV's p against random sets and shuffled
    responses are the tests).

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
    rho = stats.spearmanr(both["observed"], both["predicted"])[0]
    r = stats.pearsonr(both["observed"], both["predicted"])[0]
    ax = _axes(ax, (4.5, 4.5))
    ax.scatter(both["observed"], both["predicted"], s=20, color=_GROUP_COLORS[0], alpha=0.8)
    slope, intercept = np.polyfit(both["observed"].to_numpy(), both["predicted"].to_numpy(), 1)
    xs = np.linspace(both["observed"].min(), both["observed"].max(), 2)
    ax.plot(xs, intercept + slope * xs, color="0.3", linewidth=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    stat_text = f"Spearman rho = {rho:.2f}, Pearson r = {r:.2f}, n = {len(both)}"
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


def plot_cv_summary(
    cv_table: pd.DataFrame,
    *,
    metric: str = "spearman",
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Cross-validated accuracy of every drug's feature sets in one panel: a row per drug, a marker per set.

    Parameters
    ----------
    cv_table : DataFrame
        :func:`organoidrx.models.cross_validate_response` output for any number of drugs: ``drug, feature_set``,
        the ``metric`` column and, for sets compared with random sets, ``random_<metric>_median``, ``_q025`` and
        ``_q975``, drawn as a grey bar (95% range) with a tick at the median behind the drug's markers.
    metric : str, default="spearman"
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    if not isinstance(cv_table, pd.DataFrame):
        raise InputError(f"cv_table must be a DataFrame; got {type(cv_table).__name__}.")
    missing = [c for c in ("drug", "feature_set", metric) if c not in cv_table.columns]
    if missing:
        raise InputError(
            f"cv_table is missing columns {missing} (has {examples(list(cv_table.columns), 8)})."
        )
    drugs = list(dict.fromkeys(cv_table["drug"].astype(str)))
    sets = list(dict.fromkeys(cv_table["feature_set"].astype(str)))
    ax = _axes(ax, (7.0, 0.34 * len(drugs) + 1.6))
    markers = ["o", "s", "D", "^", "v", "P", "X", "*"]
    colors = [_HIGHLIGHT, "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    med_col, lo_col, hi_col = (f"random_{metric}_{s}" for s in ("median", "q025", "q975"))
    positions = {drug: len(drugs) - 1 - i for i, drug in enumerate(drugs)}
    drew_random = False
    table = cv_table.assign(
        drug=cv_table["drug"].astype(str), feature_set=cv_table["feature_set"].astype(str)
    )
    if {med_col, lo_col, hi_col} <= set(table.columns):
        ranged = table.dropna(subset=[med_col, lo_col, hi_col]).drop_duplicates("drug")
        for row in ranged.itertuples(index=False):
            y = positions[row.drug]
            lo, hi, med = (float(getattr(row, c)) for c in (lo_col, hi_col, med_col))
            ax.plot([lo, hi], [y, y], color="0.8", linewidth=6, solid_capstyle="butt", zorder=1,
                    label=None if drew_random else "random sets of the first set's size: 95% range")  # fmt: skip
            ax.plot([med, med], [y - 0.25, y + 0.25], color="0.5", linewidth=1.2, zorder=2)
            drew_random = True
    offsets = np.linspace(-0.18, 0.18, len(sets)) if len(sets) > 1 else np.zeros(1)
    for k, name in enumerate(sets):
        rows = table[table["feature_set"] == name].drop_duplicates("drug")
        ys = [positions[d] + offsets[k] for d in rows["drug"]]
        ax.scatter(rows[metric].to_numpy(dtype=float), ys, marker=markers[k % len(markers)], s=22,
                   color=colors[k % len(colors)], label=name.replace("_", " "), zorder=3)  # fmt: skip
    ax.axvline(0.0, color="0.6", linewidth=0.8)
    ax.set_yticks(
        [positions[d] for d in drugs], labels=[_short_label(d, 40) for d in drugs], fontsize="small"
    )
    ax.set_ylim(-0.7, len(drugs) - 0.3)
    ax.set_xlabel(f"cross-validated {metric} (organoids)")
    ax.set_title(title or "Organoid cross-validation per drug and feature set", fontsize="medium")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06 - 0.6 / (len(drugs) + 2)), ncol=min(4, len(sets) + 1),
              fontsize="x-small", frameon=False)  # fmt: skip
    return ax


def plot_method_heatmap(
    leaderboard: pd.DataFrame,
    *,
    level: float = 0.05,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Heat map of every combination (rows) x drug (columns): cross-validated Spearman above the random sets.

    Parameters
    ----------
    leaderboard : DataFrame
        :func:`organoidrx.pipeline.compare_methods` leaderboard: ``scorer, selection, model, drug, spearman,
        random_median, q``. Cells show ``spearman - random_median``; ``*`` marks q < ``level`` (corrected over
        every test). Combinations never compared with random sets (the ``all_pathways`` and ``all_genes``
        baselines) are left out, as their Spearman is on another scale; a drug without that difference (nothing
        selected, no Spearman) is a grey cell.
    level : float, default=0.05
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib Axes
    """
    need = ["scorer", "selection", "model", "drug", "spearman", "random_median", "q"]
    missing = [c for c in need if c not in leaderboard.columns]
    if missing:
        raise InputError(
            f"leaderboard is missing columns {missing} (has {examples(list(leaderboard.columns), 8)})."
        )
    compared = leaderboard.groupby(["scorer", "selection", "model"], sort=False)["random_median"].transform(
        lambda m: m.notna().any()
    )
    table = leaderboard[compared.astype(bool)]
    table = table.assign(
        combination=table["scorer"].astype(str)
        + " / "
        + table["selection"].astype(str)
        + " / "
        + table["model"].astype(str),
        value=table["spearman"] - table["random_median"],
    )
    combos = list(
        dict.fromkeys(table.sort_values(["scorer", "selection", "model"], kind="stable")["combination"])
    )
    drugs = sorted(table["drug"].astype(str).unique())
    values = table.pivot_table(index="combination", columns="drug", values="value", aggfunc="first").reindex(
        index=combos, columns=drugs
    )
    q = table.pivot_table(index="combination", columns="drug", values="q", aggfunc="first").reindex(
        index=combos, columns=drugs
    )
    ax = _axes(ax, (max(5.0, 0.28 * len(drugs) + 3.5), max(2.5, 0.24 * len(combos) + 1.5)))
    if not combos:
        ax.text(0.5, 0.5, "no combination was compared with random sets", ha="center", va="center")
        ax.set_axis_off()
        return ax
    limit = float(np.nanmax(np.abs(values.to_numpy()))) if np.isfinite(values.to_numpy()).any() else 1.0
    from matplotlib import colormaps

    cmap = colormaps["RdBu_r"].with_extremes(bad="0.8")  # grey: no difference to show
    image = ax.imshow(values.to_numpy(dtype=float), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto",
                      interpolation="nearest")  # fmt: skip
    rows, cols = np.nonzero((q.to_numpy(dtype=float) < level) & np.isfinite(q.to_numpy(dtype=float)))
    for r, c in zip(rows, cols, strict=True):
        ax.text(float(c), float(r), "*", ha="center", va="center", fontsize="small", color="black")
    ax.set_xticks(
        range(len(drugs)), labels=[_short_label(d, 18) for d in drugs], rotation=90, fontsize="x-small"
    )
    ax.set_yticks(range(len(combos)), labels=combos, fontsize="x-small")
    ax.figure.colorbar(image, ax=ax, label="Spearman - random median", shrink=0.8)
    ax.set_title(
        title or f"Organoid CV per combination and drug (* q < {level:g} over all tests; grey: no Spearman)",
        fontsize="small",
    )
    return ax
