"""The comparison report: which combinations carry signal beyond random pathway sets, after correction."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pandas as pd

from organoidrx._utils import atomic_write, versions
from organoidrx.report._html import HtmlReport
from organoidrx.report._plots import plot_method_heatmap
from organoidrx.report._run_report import render_figures

__all__ = ["write_compare_report"]

_READING = (
    "How to read this: every row of the leaderboard is one test (a drug and a combination of scorer, network "
    "selection and model) of whether the network-selected pathways predict the organoids' response better than "
    "random pathway sets of the same size fitted the same way (random_p, over n_random sets) and better than "
    "chance, the same selection refitted with the organoids' responses permuted (shuffled_p, over "
    "n_shuffles). A test's p is the larger of the two. Either alone misleads: a selection of strongly "
    "correlated pathways is not a typical random set, so random_p falls below 0.05 more often than 5% of the time "
    "when nothing predicts, and beats random sets whenever they do even worse (a negative Spearman can have a "
    "small random_p); shuffled_p alone would credit any informative pathways, not the network's choice. A test "
    "stops drawing once stop_after draws do at least as well, which leaves its p valid and only spends less on "
    "tests far from significance. The q-value corrects each p for every test run here, so trying many "
    "combinations is paid for: only q < 0.05 is evidence. A small p with a large q is what the best of many tries "
    "looks like by chance. The combinations table asks a second, coarser question: does a combination reach "
    "p < 0.05 for more drugs than the 5% expected by chance (binomial p, corrected over combinations)? The drugs "
    "share organoids, so their tests are not independent as the binomial p assumes: read it as a screen. Every "
    "model is fitted inside leave-one-organoid-out folds; with a cohort-dependent scorer (gsva, zscore, plage, "
    "mean_z), each fold's training organoids are also scored without the held-out one."
)


def write_compare_report(
    out_dir: str | os.PathLike[str], result: Any, *, title: str = "organoidrx compare"
) -> Path:
    """Write ``report.html`` and ``heatmap.png`` of a :class:`~organoidrx.pipeline.CompareResult` into ``out_dir``.

    Returns
    -------
    Path
        Path of ``report.html``. Same inputs, same bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = HtmlReport(title)
    report.heading("Summary")
    report.bullets(result.summary())
    report.paragraph(_READING, css_class="note")
    if result.warnings:
        report.heading("Warnings")
        report.warnings(list(result.warnings))
    report.heading("Combinations")
    report.table(
        result.combinations,
        max_rows=200,
        caption="One row per scorer x selection x model, by binomial p: drugs with p < 0.05 against random sets "
        "and shuffled responses (n_p05) and expected by chance (expected_p05); n_q05: drugs with q < 0.05 over every test.",
    )
    report.heading("Heat map")
    report.image_placeholder(
        "heatmap.png",
        caption="Cross-validated Spearman minus the random sets' median, per combination and drug; * q < 0.05 over "
        "every test; grey: nothing selected or no Spearman. The all_pathways and all_genes baselines, never compared "
        "with random sets, are in the leaderboard only (heatmap.png).",
        alt="Heat map of combinations and drugs",
    )
    report.heading("Leaderboard")
    report.table(
        result.leaderboard,
        max_rows=60,
        caption="Every test ranked by p; q corrects for all of them (leaderboard.tsv holds every row).",
    )
    report.heading("Versions")
    report.table(pd.DataFrame([{"package": k, "version": v} for k, v in versions().items()]))
    images = render_figures(
        {"heatmap.png": functools.partial(plot_method_heatmap, result.leaderboard)}, n_jobs=1
    )
    for name, png in images.items():
        with atomic_write(out / name, mode="wb") as handle:
            handle.write(png)
    report.fill_images(images)
    return report.write(out / "report.html")
