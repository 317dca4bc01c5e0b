"""Plots and the self-contained HTML report."""

from organoidrx.report._compare_report import write_compare_report
from organoidrx.report._plots import (
    plot_coefficients,
    plot_cv_scatter,
    plot_cv_summary,
    plot_feature_set_comparison,
    plot_forest,
    plot_km,
    plot_method_heatmap,
    plot_proximity,
)
from organoidrx.report._run_report import safe_filename, write_run_report

__all__: list[str] = [
    "plot_coefficients",
    "plot_cv_scatter",
    "plot_cv_summary",
    "plot_feature_set_comparison",
    "plot_forest",
    "plot_km",
    "plot_method_heatmap",
    "plot_proximity",
    "safe_filename",
    "write_compare_report",
    "write_run_report",
]
