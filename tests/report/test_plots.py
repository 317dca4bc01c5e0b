"""Plot functions: return Axes with the expected artists and save to PNG without warnings (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from organoidrx._utils import InputError
from organoidrx.evaluation import NON_RESPONDER, RESPONDER, survival_analysis
from organoidrx.report import (
    plot_coefficients,
    plot_cv_scatter,
    plot_cv_summary,
    plot_feature_set_comparison,
    plot_forest,
    plot_km,
    plot_method_heatmap,
    plot_proximity,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(ax, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path, dpi=60)
    assert path.stat().st_size > 1000


def _cohort(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = [f"p{i}" for i in range(n)]
    responder = rng.random(n) < 0.5
    time = rng.exponential(np.where(responder, 2000.0, 900.0))
    censor = rng.uniform(200, 4000, n)
    clinical = pd.DataFrame(
        {"patient": ids, "time": np.minimum(time, censor), "event": (time <= censor).astype(int)}
    )
    groups = pd.Series(np.where(responder, RESPONDER, NON_RESPONDER), index=ids)
    return clinical, groups


def test_plot_km_from_result(tmp_path):
    clinical, groups = _cohort()
    result = survival_analysis(clinical, groups)
    _fig, ax = plt.subplots()
    out = plot_km(result, ax=ax)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 2 and labels[0].startswith(f"{RESPONDER} (n={result.n[RESPONDER]}")
    assert "log-rank p" in ax.get_title() and "HR" in ax.get_title()
    assert any(line.get_xdata()[0] == result.horizon for line in ax.get_lines())  # horizon marker
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # two CI bands
    assert any("5-year survival" in t.get_text() for t in ax.texts)  # the horizon in clinicians' words
    follow_up = clinical["time"].max()
    assert ax.get_xlim() == pytest.approx((0.0, follow_up))  # the axis ends with the follow-up
    assert ax.get_xlabel() == "time (years)"
    # each group's survival at the horizon is written beside its curve
    shown = {t.get_text() for t in ax.texts}
    assert {f"{v:.2f}" for v in result.survival_at_horizon.values()} <= shown
    assert f"HR {RESPONDER} vs {NON_RESPONDER}" in ax.get_title() and "adjusted" not in ax.get_title()
    assert "permutation" not in ax.get_title()
    _save(ax, tmp_path, "km")
    _fig, ax = plt.subplots()
    assert "log-rank p = " in plot_km(result, ax=ax, permutation_p=0.25).get_title()
    assert ", whole-pipeline permutation p = 0.25\n" in ax.get_title()  # beside the log-rank p it qualifies


def test_plot_km_from_clinical_with_at_risk_table(tmp_path):
    clinical, groups = _cohort(seed=1)
    ax = plot_km(clinical, groups, at_risk=True, show_ci=False, horizon=1000.0)
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    texts = [t.get_text() for t in ax.texts]
    assert "at risk" in texts
    ticks = [t for t in ax.get_xticks() if 0 <= t <= clinical["time"].max()]
    responders = clinical["time"][groups.loc[clinical["patient"]].to_numpy() == RESPONDER]
    counts = [str(int((responders >= t).sum())) for t in ticks]
    assert counts[0] == str(len(responders)) and set(counts) <= set(texts)  # numbers at risk at every tick
    assert plot_km(clinical, groups, at_risk=False, horizon=1000.0).texts[-1].get_text() != "at risk"
    _save(ax, tmp_path, "km_at_risk")
    with pytest.raises(InputError, match="needs groups="):
        plot_km(clinical)


def _labels_top_down(ax) -> list[str]:
    pairs = zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True)
    return [label for _, label in sorted(pairs, reverse=True)]


def test_plot_coefficients_highlights_top_k(tmp_path):
    ranking = pd.DataFrame(
        {
            "feature": [f"PATHWAY_{i}" for i in range(15)],
            "coefficient": np.linspace(-1.0, 1.0, 15),
            "rank": np.arange(15, 0, -1),
        }
    )
    ax = plot_coefficients(ranking, top_k=4)
    bars = ax.patches
    assert len(bars) == 15
    highlighted = [b for b in bars if b.get_facecolor() != bars[-1].get_facecolor()]
    assert len(highlighted) == 4
    # rank 1 is drawn on top (highest y) and is PATHWAY_14
    top = max(bars, key=lambda b: b.get_y())
    assert top.get_width() == pytest.approx(1.0)
    assert _labels_top_down(ax)[0] == "PATHWAY_14"
    _save(ax, tmp_path, "coefficients")
    series_ax = plot_coefficients(pd.Series({"A": 0.1, "B": -2.0, "C": 0.5}), top_k=1, max_features=2)
    assert _labels_top_down(series_ax) == ["B", "C"]
    with pytest.raises(InputError, match="needs columns 'feature'"):
        plot_coefficients(pd.DataFrame({"x": [1]}))


def test_plot_proximity_long_and_wide(tmp_path):
    z = np.array([-3.0, -2.0, -1.3, 0.0, 1.0, 2.5])
    pathways = [f"REACTOME_P{i}" for i in range(6)]
    long = pd.DataFrame({"drug": "FLUOROURACIL", "pathway": pathways, "z": z[::-1]})
    ax = plot_proximity(long, "FLUOROURACIL")
    assert any(np.allclose(line.get_ydata(), -1.2816) for line in ax.get_lines())
    assert [t.get_text() for t in ax.texts] == [
        "P5",
        "P4",
        "P3",
    ]  # the three proximal pathways, closest first
    assert "3 of 6 pathways proximal" in ax.get_title()
    _save(ax, tmp_path, "proximity")
    wide = pd.DataFrame({"FLUOROURACIL": z, "CISPLATIN": -z}, index=pathways)
    ax_wide = plot_proximity(wide, "CISPLATIN", label_top=1)
    assert [t.get_text() for t in ax_wide.texts] == ["P5"]
    with pytest.raises(InputError, match="'ASPIRIN' is not in proximity_table"):
        plot_proximity(long, "ASPIRIN")


def test_plot_cv_scatter(tmp_path):
    rng = np.random.default_rng(0)
    observed = pd.Series(rng.normal(size=20), index=[f"o{i}" for i in range(20)])
    predicted = observed * 0.5 + rng.normal(scale=0.5, size=20)
    ax = plot_cv_scatter(predicted, observed)
    assert "Spearman" in ax.get_title() and "Pearson" in ax.get_title() and "n = 20" in ax.get_title()
    assert "p =" not in ax.get_title()  # a correlation test's p would overstate held-out predictions
    assert len(ax.collections) == 1 and len(ax.get_lines()) == 1
    _save(ax, tmp_path, "cv_scatter")
    with pytest.raises(InputError, match="at least 3 samples"):
        plot_cv_scatter(predicted.iloc[:2], observed)


def test_plot_feature_set_comparison(tmp_path):
    cv_table = pd.DataFrame(
        {
            "drug": "FLUOROURACIL",
            "feature_set": ["proximal", "all_pathways", "targets", "all_genes"],
            "spearman": [0.55, 0.10, 0.20, -0.05],
            "n_random": [100, 0, 0, 0],
            "random_spearman_median": [0.05, np.nan, np.nan, np.nan],
            "random_spearman_q025": [-0.3, np.nan, np.nan, np.nan],
            "random_spearman_q975": [0.4, np.nan, np.nan, np.nan],
        }
    )
    ax = plot_feature_set_comparison(cv_table)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "proximal",
        "all pathways",
        "targets",
        "all genes",
    ]
    assert sorted(t.get_text() for t in ax.texts) == ["-0.05", "0.10", "0.20", "0.55"]
    assert ax.get_legend() is not None  # the random-set interval
    _save(ax, tmp_path, "feature_sets")
    draws = pd.DataFrame(
        {"feature_set": ["proximal"] + ["random"] * 30, "spearman": np.r_[0.5, np.linspace(-0.4, 0.4, 30)]}
    )
    ax_box = plot_feature_set_comparison(draws)
    assert len(ax_box.get_lines()) >= 5  # box plot whiskers, caps, median
    two_drugs = pd.concat([cv_table, cv_table.assign(drug="CISPLATIN")])
    with pytest.raises(InputError, match="pass drug= to choose one"):
        plot_feature_set_comparison(two_drugs)
    assert "CISPLATIN" in plot_feature_set_comparison(two_drugs, drug="CISPLATIN").get_title()


def _assert_labels_clear(ax) -> None:
    """No two text labels overlap, and no label covers a plotted point (checked on the drawn figure)."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), "two labels overlap"
    points = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    pixels = ax.transData.transform(points)
    for box in boxes:
        inside = (
            (pixels[:, 0] > box.x0)
            & (pixels[:, 0] < box.x1)
            & (pixels[:, 1] > box.y0)
            & (pixels[:, 1] < box.y1)
        )
        assert not inside.any(), "a label covers a point"


@pytest.mark.parametrize("seed", range(5))
def test_proximity_labels_never_overlap_on_674_sets(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=674) * rng.uniform(0.5, 3) + rng.uniform(-1, 1)
    z[:40] -= rng.uniform(0, 4)  # a heavy proximal tail, as drugs with many targets have
    names = [f"REACTOME_{'PATHWAY_WITH_A_LONG_NAME_' * int(rng.integers(1, 4))}{i}" for i in range(674)]
    ax = plot_proximity(pd.DataFrame({"drug": "D", "pathway": names, "z": z}), "D", label_top=12)
    assert len(ax.texts) == min(12, int((z <= -1.2816).sum()))
    _assert_labels_clear(ax)


def test_plot_forest_of_terms_and_of_drugs(tmp_path):
    clinical, groups = _cohort(n=160)
    rng = np.random.default_rng(3)
    clinical = clinical.assign(
        age=rng.normal(60, 8, len(clinical)), stage=rng.choice(["II", "III"], len(clinical))
    )
    result = survival_analysis(clinical, groups, covariates=["age", "stage"])
    ax = plot_forest(result)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert (
        labels == [f"{RESPONDER} vs {NON_RESPONDER}", "age", "stage=III"][::-1] or labels[-1] == "stage=III"
    )
    assert f"{result.hazard_ratio:.2f} ({result.hr_ci_lower:.2f}-{result.hr_ci_upper:.2f})" in [
        t.get_text() for t in ax.texts
    ]
    assert ax.get_xscale() == "log"
    _save(ax, tmp_path, "forest_terms")
    table = pd.concat([result.to_frame().assign(drug=d) for d in ("A", "B")], ignore_index=True)
    ax = plot_forest(table)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "A (adjusted for age, stage)" in labels and "B (unadjusted)" in labels
    _save(ax, tmp_path, "forest_drugs")
    with pytest.raises(InputError, match="missing columns"):
        plot_forest(pd.DataFrame({"drug": ["A"]}))


def test_plot_forest_marks_a_separated_fit_not_estimable():
    # a Cox fit on a small cohort whose groups separate: the hazard ratio runs to 0 and its interval is (0, inf)
    table = pd.DataFrame(
        {
            "drug": ["SEPARATED", "ONLY_ONE", "FINE"],
            "hazard_ratio": [1.577044e-24, 2.0, 0.6],
            "hr_ci_lower": [0.0, 0.0, 0.3],
            "hr_ci_upper": [np.inf, np.inf, 1.2],
        }
    )
    ax = plot_forest(table)
    texts = [t.get_text() for t in ax.texts]
    assert " not estimable (1.6e-24, 0-inf)" in texts and " not estimable (2, 0-inf)" in texts
    assert "0.60 (0.30-1.20)" in texts
    low, high = ax.get_xlim()
    assert 0.2 < low < 0.3 and 1.4 < high < 1.6
    ax = plot_forest(table.iloc[:1])  # nothing drawable: the default range
    assert [t.get_text() for t in ax.texts] == [" not estimable (1.6e-24, 0-inf)"]


def test_plot_cv_summary_has_a_row_per_drug(tmp_path):
    cv_table = pd.DataFrame(
        {
            "drug": ["A", "A", "B", "B"],
            "feature_set": ["proximal", "all_pathways"] * 2,
            "spearman": [0.5, 0.1, -0.2, 0.3],
            "random_spearman_median": [0.0, np.nan, 0.1, np.nan],
            "random_spearman_q025": [-0.4, np.nan, -0.3, np.nan],
            "random_spearman_q975": [0.4, np.nan, 0.5, np.nan],
        }
    )
    ax = plot_cv_summary(cv_table)
    assert _labels_top_down(ax) == ["A", "B"]
    assert [t.get_text() for t in ax.get_legend().get_texts()][-2:] == ["proximal", "all pathways"]
    _save(ax, tmp_path, "cv_summary")


def test_plots_on_published_kong_tables(shared_data, tmp_path):
    folder = shared_data / "kong2020" / "reference_outputs"
    proximity_path = folder / "proximity_zscores_string700_reactome.tsv"
    coefficients_path = folder / "multi_pathway_coefficients.tsv"
    if not (proximity_path.exists() and coefficients_path.exists()):
        pytest.skip(f"Kong et al. reference tables are absent from {folder}")
    wide = pd.read_csv(proximity_path, sep="\t", index_col="Pathway")
    ax = plot_proximity(wide, "FLUOROURACIL")
    n_proximal = int((wide["FLUOROURACIL"] <= -1.2816).sum())
    assert f"{n_proximal} of {wide['FLUOROURACIL'].notna().sum()} pathways proximal" in ax.get_title()
    assert len(ax.texts) == min(10, n_proximal)
    _assert_labels_clear(ax)
    _save(ax, tmp_path, "kong_proximity")
    table = pd.read_csv(coefficients_path, sep="\t")
    ridge = table[(table["drug"] == "FLUOROURACIL") & (table["ML"] == "Ridge")]
    ax = plot_coefficients(ridge.rename(columns={"reg_coef": "coefficient"}), top_k=3)
    assert len(ax.patches) == min(30, len(ridge))
    _save(ax, tmp_path, "kong_coefficients")


def test_coefficients_with_long_pathway_names_save_without_layout_warnings(tmp_path) -> None:
    from organoidrx.report import plot_coefficients

    names = [f"REACTOME_{'VERY_LONG_PATHWAY_NAME_' * 5}{i}" for i in range(10)]
    ranking = pd.DataFrame(
        {"feature": names, "coefficient": np.linspace(-1, 1, 10), "rank": np.arange(1, 11)}
    )
    ax = plot_coefficients(ranking)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert all(len(label) <= 60 for label in labels)
    ax.figure.savefig(tmp_path / "coefficients.png", bbox_inches="tight")


def test_method_heatmap_shows_only_differences_to_random_sets(tmp_path):
    """Baselines never compared with random sets stay out (their Spearman is another scale); no Spearman is grey."""
    rows = [
        ("ssgsea", "closest", "ridge", "A", 0.6, 0.1, 0.01),
        ("ssgsea", "closest", "ridge", "B", np.nan, np.nan, np.nan),  # nothing selected
        ("ssgsea", "all_pathways", "ridge", "A", 0.9, np.nan, np.nan),
        ("ssgsea", "all_pathways", "ridge", "B", 0.8, np.nan, np.nan),
        ("(expression)", "target_genes", "ridge", "A", -0.2, 0.2, 0.9),
        ("(expression)", "target_genes", "ridge", "B", 0.3, -0.1, 0.5),
    ]
    board = pd.DataFrame(
        rows, columns=["scorer", "selection", "model", "drug", "spearman", "random_median", "q"]
    )
    ax = plot_method_heatmap(board)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["(expression) / target_genes / ridge", "ssgsea / closest / ridge"]
    shown = ax.images[0].get_array()
    assert np.allclose(shown[:, 0], [-0.4, 0.5]) and shown[0, 1] == pytest.approx(0.4)
    assert np.ma.is_masked(shown[1, 1])
    assert ax.texts[0].get_text() == "*" and len(ax.texts) == 1
    _save(ax, tmp_path, "heatmap")
    only_baselines = plot_method_heatmap(board[board["selection"] == "all_pathways"])
    assert "no combination was compared" in only_baselines.texts[0].get_text()
