"""Reproduce Kong et al. (2020) on the van de Wetering (2015) colorectal organoids and write REPRODUCTION.md.

Run from anywhere (about a minute on 2 cores)::

    python examples/kong2020_coad/reproduce.py

It reads the public data folder in place (``../shared/data`` from the repository root, or
``$ORGANOIDRX_SHARED_DATA``), and writes ``REPRODUCTION.md`` at the repository root and ``cross_drug.png`` next to
this script. Nothing is timed or dated, so the same data and seed give the same bytes on every run.

Reference: Kong J. et al. (2020) Network-based machine learning in colorectal and bladder organoid models predicts
anti-cancer drug efficacy in patients. Nat Commun 11:5485. doi:10.1038/s41467-020-19313-8
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import binom, spearmanr

from organoidrx._utils import atomic_write
from organoidrx.evaluation import bh_qvalues
from organoidrx.io import (
    DrugNameResolver,
    normalize_drug_key,
    read_drug_response,
    read_drug_targets,
    read_expression,
    read_gmt,
    read_network,
    read_tcga_biotab_drug,
    read_tcga_biotab_patient,
    read_tcga_cdr,
    reconcile_sample_ids,
    tcga_treated_cohort,
)
from organoidrx.models import (
    PROXIMITY_THRESHOLD,
    cross_validate_response,
    make_kong2020_pipeline,
    proximal_pathways,
)
from organoidrx.network import proximity
from organoidrx.scoring import ssgsea

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: the tables `organoidrx compare examples/kong2020_coad/compare.toml` wrote (rendered as section 7)
COMPARISON = HERE / "comparison"
SEED = 0
N_RANDOM_PROXIMITY = 1000
N_RANDOM_SETS = 100
PAPER_COHORT = 114  # TCGA-COAD patients treated with 5-FU and with expression, Kong et al. (2020)
PAPER_STRING_MATCH = 124  # patients the authors' string match found before requiring expression
MODEL_NAMES: dict[Literal["ridge", "svr", "linear"], str] = {
    "ridge": "Ridge",
    "svr": "SVR",
    "linear": "LinearRegression",
}
# Authors' proximity columns that are not a drug name of drug_targets.tsv (joined columns use their first drug,
# which has the same targets).
AUTHOR_COLUMNS = {"AICA RIBONUCLEOTIDE": "AICAR"}

logger = logging.getLogger("reproduce")


@dataclass(frozen=True)
class Paths:
    """Input files inside the shared data folder."""

    data: Path

    @property
    def kong(self) -> Path:
        return self.data / "kong2020"

    @property
    def expression(self) -> Path:
        return self.kong / "organoid_coad" / "ssgsea_input_expression.tsv"

    @property
    def ic50(self) -> Path:
        return self.kong / "organoid_coad" / "ic50_median.tsv"

    @property
    def targets(self) -> Path:
        return self.kong / "drug_targets.tsv"

    @property
    def gmt_organoid(self) -> Path:
        return self.kong / "reactome_msigdb_v6.1_organoid.gmt"

    @property
    def gmt_tcga(self) -> Path:
        return self.kong / "reactome_msigdb_v6.1_tcga.gmt"

    @property
    def drugbank(self) -> Path:
        return self.kong / "drugbank_vocabulary.csv"

    @property
    def string(self) -> Path:
        name = "string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz"
        return self.data / "networks" / "string_dmfind" / name

    @property
    def reference(self) -> Path:
        return self.kong / "reference_outputs"

    @property
    def biotab_patient(self) -> Path:
        return self.kong / "tcga_coad_clinical" / "nationwidechildrens.org_clinical_patient_coad.txt"

    @property
    def biotab_drug(self) -> Path:
        return self.kong / "tcga_coad_clinical" / "nationwidechildrens.org_clinical_drug_coad.txt"

    @property
    def cdr(self) -> Path:
        return self.data / "tcga_clinical" / "tcga_cdr_liu2018_outcome_researchSAM.tsv.gz"


@dataclass
class Results:
    """Everything REPRODUCTION.md reports; filled step by step."""

    ssgsea: dict[str, float] = field(default_factory=dict)
    proximity: pd.DataFrame | None = None
    proximity_summary: pd.DataFrame | None = None
    coefficients: pd.DataFrame | None = None
    coefficient_summary: pd.DataFrame | None = None
    ic50_names: pd.DataFrame | None = None
    target_names: pd.DataFrame | None = None
    tcga_names: pd.DataFrame | None = None
    tcga_components: pd.DataFrame | None = None
    cohort: pd.DataFrame | None = None
    cross_drug: pd.DataFrame | None = None
    cross_drug_summary: dict[str, Any] = field(default_factory=dict)


def default_data_folder() -> Path:
    return Path(os.environ.get("ORGANOIDRX_SHARED_DATA", ROOT.parent / "shared" / "data"))


def read_authors_es(path: Path) -> pd.DataFrame:
    """gseapy 0.9 ES table (pathways x samples, '#' comments) as samples x pathways."""
    return pd.read_csv(path, sep="\t", comment="#", index_col=0).T


def read_authors_proximity(path: Path) -> pd.DataFrame:
    """The authors' wide z-score table as a long table ``drug, pathway, z`` (their column names kept)."""
    wide = pd.read_csv(path, sep="\t", index_col=0)
    long = wide.rename_axis("pathway").reset_index().melt(id_vars="pathway", var_name="drug", value_name="z")
    return long[["drug", "pathway", "z"]]


# --------------------------------------------------------------------------------------------- 1. ssGSEA
def compare_ssgsea(
    expression: pd.DataFrame, gene_sets: pd.DataFrame, paths: Paths, res: Results
) -> pd.DataFrame:
    scores = ssgsea(expression, gene_sets, min_size=2, max_size=2000, normalize="n_genes")
    theirs = read_authors_es(paths.reference / "organoid_ssgsea_raw_es.tsv")
    shared_rows = scores.index.intersection(theirs.index)
    shared_cols = scores.columns.intersection(theirs.columns)
    diff = (scores.loc[shared_rows, shared_cols] - theirs.loc[shared_rows, shared_cols]).abs().to_numpy()
    res.ssgsea = {
        "n_samples_ours": scores.shape[0],
        "n_samples_theirs": theirs.shape[0],
        "n_pathways_ours": scores.shape[1],
        "n_pathways_theirs": theirs.shape[1],
        "n_shared_cells": diff.size,
        "max_abs_diff": float(diff.max()),
        "median_abs_diff": float(np.median(diff)),
        "n_cells_over_1e-9": int((diff > 1e-9).sum()),
        "spearman": float(
            spearmanr(
                scores.loc[shared_rows, shared_cols].to_numpy().ravel(),
                theirs.loc[shared_rows, shared_cols].to_numpy().ravel(),
            ).statistic
        ),
    }
    return scores


# ------------------------------------------------------------------------------------------ 2. proximity
def run_proximity(paths: Paths, targets: pd.DataFrame, res: Results) -> pd.DataFrame:
    network = read_network(paths.string, edge_columns="symbol_1,symbol_2,combined_score", min_score=700)
    gene_sets = read_gmt(paths.gmt_tcga)
    table = proximity(
        network, targets, gene_sets, n_random=N_RANDOM_PROXIMITY, random_state=SEED, min_score=700, n_jobs=2
    )
    res.proximity = table
    theirs = read_authors_proximity(paths.reference / "proximity_zscores_string700_reactome.tsv")
    rows = []
    for column in ["FLUOROURACIL", "CISPLATIN"]:
        ours = table[(table["drug"] == column) & table["computable"]].set_index("pathway")["z"]
        their = theirs[theirs["drug"] == column].set_index("pathway")["z"].dropna()
        shared = ours.index.intersection(their.index)
        a = set(shared[ours[shared] <= PROXIMITY_THRESHOLD])
        b = set(shared[their[shared] <= PROXIMITY_THRESHOLD])
        rows.append(
            {
                "drug": column,
                "pathways_compared": len(shared),
                "proximal_ours": len(a),
                "proximal_theirs": len(b),
                "both": len(a & b),
                "jaccard": len(a & b) / len(a | b) if a | b else float("nan"),
                "spearman_z": float(spearmanr(ours[shared], their[shared]).statistic),
            }
        )
    res.proximity_summary = pd.DataFrame(rows)
    return table


# --------------------------------------------------------------------------------------- 3. coefficients
def compare_coefficients(scores: pd.DataFrame, ic50: pd.DataFrame, paths: Paths, res: Results) -> None:
    authors_prox = read_authors_proximity(paths.reference / "proximity_zscores_string700_reactome.tsv")
    reference = pd.read_csv(paths.reference / "multi_pathway_coefficients.tsv", sep="\t")
    authors_scores = read_authors_es(paths.reference / "organoid_ssgsea_normalized_es.tsv")
    fu = ic50[ic50["drug"] == "FLUOROURACIL"].set_index("sample")["value"]
    rows, summary = [], []
    for model, label in MODEL_NAMES.items():
        theirs = reference[reference["ML"] == label].set_index("pathway")["reg_coef"]
        fitted = {}
        for source, frame in [("ours", scores), ("authors", authors_scores)]:
            pipe = make_kong2020_pipeline(model, proximity=authors_prox, drug="FLUOROURACIL")
            pipe.fit(frame.loc[fu.index], fu)
            fitted[source] = pipe.named_steps["model"].ranking_.set_index("feature")["coefficient"]
        ours = fitted["ours"].reindex(theirs.index)
        for pathway in theirs.index:
            rows.append(
                {
                    "model": label,
                    "pathway": pathway,
                    "ours": ours[pathway],
                    "theirs": theirs[pathway],
                    "difference": ours[pathway] - theirs[pathway],
                }
            )
        summary.append(
            {
                "model": label,
                "n_pathways": len(theirs),
                "same_pathways": set(fitted["ours"].index) == set(theirs.index),
                "max_abs_diff_our_scores": float((ours - theirs).abs().max()),
                "max_abs_diff_their_scores": float(
                    (fitted["authors"].reindex(theirs.index) - theirs).abs().max()
                ),
                "same_top10": list(ours.abs().sort_values(ascending=False).index[:10])
                == list(theirs.abs().sort_values(ascending=False).index[:10]),
            }
        )
    res.coefficients = pd.DataFrame(rows)
    res.coefficient_summary = pd.DataFrame(summary)


# ------------------------------------------------------------------------------------------ 4. drug names
def reconcile_drugs(
    response: pd.DataFrame, targets: pd.DataFrame, resolver: DrugNameResolver, res: Results
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ic50_names = resolver.resolve(sorted(response["drug"].unique(), key=str.lower))
    target_names = resolver.resolve(list(dict.fromkeys(targets["drug"])))
    res.ic50_names, res.target_names = ic50_names, target_names
    ic50_map = ic50_names.dropna(subset=["canonical"]).set_index("name")["canonical"]
    target_map = target_names.dropna(subset=["canonical"]).set_index("name")["canonical"]
    response = response.assign(drug=response["drug"].map(ic50_map)).dropna(subset=["drug"])
    duplicated = response.duplicated(["sample", "drug"])
    if duplicated.any():
        raise SystemExit(f"two IC50 names resolve to the same drug: {response[duplicated].head()}")
    targets = targets.assign(drug=targets["drug"].map(target_map)).dropna(subset=["drug"])
    return response.reset_index(drop=True), targets.drop_duplicates().reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- 5. cohort
def tcga_cohort(paths: Paths, resolver: DrugNameResolver, res: Results) -> None:
    patients = read_tcga_biotab_patient(paths.biotab_patient)
    drugs = read_tcga_biotab_drug(paths.biotab_drug)
    components = resolver.components(drugs["drug_name"].dropna().astype(str).unique())
    res.tcga_components = components
    fu = components[components["canonical"] == "FLUOROURACIL"]
    counts = drugs["drug_name"].value_counts()
    names = fu.drop_duplicates("name").assign(records=lambda t: t["name"].map(counts).astype(int))
    res.tcga_names = names.sort_values(["method", "name"], key=lambda s: s.str.lower()).reset_index(drop=True)
    cdr = read_tcga_cdr(paths.cdr, cancer_type="COAD")
    rows = []
    for label, regimens in [("with regimen names (FOLFOX, FOLFIRI...)", True), ("drug names only", False)]:
        cohort = tcga_treated_cohort(patients, drugs, "5-FU", resolver=resolver, include_regimens=regimens)
        cdr_cohort = cdr[cdr["patient"].isin(cohort["patient"])]
        rows.append(
            {
                "cohort": label,
                "patients": len(cohort),
                "deaths_biotab": int(cohort["event"].sum()),
                "median_followup_months_biotab": _reverse_km_median(cohort) / 30.4375,
                "patients_in_cdr": len(cdr_cohort),
                "deaths_cdr": int(cdr_cohort["event"].sum()),
                "median_followup_months_cdr": _reverse_km_median(cdr_cohort) / 30.4375,
            }
        )
    res.cohort = pd.DataFrame(rows)


def _reverse_km_median(table: pd.DataFrame) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (censoring as the event)."""
    from lifelines import KaplanMeierFitter

    fitter = KaplanMeierFitter().fit(table["time"], 1 - table["event"])
    return float(fitter.median_survival_time_)


# ------------------------------------------------------------------------------------------ 6. cross-drug
def cross_drug(
    scores: pd.DataFrame,
    expression: pd.DataFrame,
    response: pd.DataFrame,
    targets: pd.DataFrame,
    table: pd.DataFrame,
    authors_proximity: pd.DataFrame,
    res: Results,
) -> None:
    drugs = sorted(set(response["drug"]) & set(targets["drug"]))
    proximal_all = proximal_pathways(table[table["computable"]])
    proximal = {d: [p for p in proximal_all.get(d, []) if p in scores.columns] for d in drugs}
    genes = {
        d: [g for g in targets.loc[targets["drug"] == d, "target"] if g in expression.columns] for d in drugs
    }
    with_sets = [d for d in drugs if proximal[d]]
    cv = cross_validate_response(
        scores,
        response[response["drug"].isin(with_sets)],
        feature_sets={
            "proximal": {d: proximal[d] for d in with_sets},
            "targets": {d: genes[d] for d in with_sets},
        },
        expression=expression,
        n_random=N_RANDOM_SETS,
        random_sets_for="proximal",
        random_state=SEED,
        n_shuffles=N_RANDOM_SETS,
    )
    wide = cv.pivot(index="drug", columns="feature_set", values="spearman")
    prox = cv[cv["feature_set"] == "proximal"].set_index("drug")
    order = list(prox.index)
    wide = wide.reindex(order)
    out = pd.DataFrame(
        {
            "drug": order,
            "n_organoids": prox["n_samples"].astype(int).to_numpy(),
            "n_proximal": prox["n_features"].astype(int).to_numpy(),
            "n_targets": [len(genes[d]) for d in order],
            "proximal": prox["spearman"].to_numpy(),
            "random_median": prox["random_spearman_median"].to_numpy(),
            "random_q025": prox["random_spearman_q025"].to_numpy(),
            "random_q975": prox["random_spearman_q975"].to_numpy(),
            "random_p": prox["random_p"].to_numpy(),
            "shuffled_p": prox["shuffled_p"].to_numpy(),
            "all_pathways": wide["all_pathways"].to_numpy(),
            "targets": wide["targets"].to_numpy() if "targets" in wide else np.full(len(order), np.nan),
            "all_genes": wide["all_genes"].to_numpy(),
        }
    )
    # the same study with the authors' z-scores (their STRING version) instead of ours
    authors = authors_proximal_sets(authors_proximity)
    with_authors = [d for d in order if [p for p in authors.get(d, []) if p in scores.columns]]
    cv_authors = cross_validate_response(
        scores,
        response[response["drug"].isin(with_authors)],
        feature_sets={"proximal": {d: [p for p in authors[d] if p in scores.columns] for d in with_authors}},
        n_random=N_RANDOM_SETS,
        include_all=False,
        random_state=SEED,
    ).set_index("drug")
    out["authors_proximal"] = cv_authors["spearman"].reindex(order).to_numpy()
    out["authors_random_p"] = cv_authors["random_p"].reindex(order).to_numpy()
    res.cross_drug = out
    n = len(out)
    k = int((out["random_p"] < 0.05).sum())
    k_authors = int((out["authors_random_p"] < 0.05).sum())
    both = np.fmax(out["random_p"], out["shuffled_p"])  # beats random sets and shuffled responses (as compare)
    k_both = int((both < 0.05).sum())
    res.cross_drug_summary = {
        "n_candidates": len(drugs),
        "n_without_proximal": len(drugs) - len(with_sets),
        "without_proximal": ", ".join(d for d in drugs if not proximal[d]) or "none",
        "n_drugs": n,
        "n_beat_random": k,
        "n_drugs_authors": len(with_authors),
        "n_beat_random_authors": k_authors,
        "binomial_tail_authors": float(binom.sf(k_authors - 1, len(with_authors), 0.05))
        if k_authors
        else 1.0,
        "expected_by_chance": n * 0.05,
        "binomial_tail": float(binom.sf(k - 1, n, 0.05)) if k > 0 else 1.0,
        "n_beat_both": k_both,
        "beat_both": ", ".join(out.loc[both < 0.05, "drug"]) or "none",
        "binomial_tail_both": float(binom.sf(k_both - 1, n, 0.05)) if k_both > 0 else 1.0,
        "n_beat_random_not_shuffled": int(((out["random_p"] < 0.05) & ~(both < 0.05)).sum()),
        "n_beat_random_median": int((out["proximal"] > out["random_median"]).sum()),
        "n_beat_all_pathways": int((out["proximal"] > out["all_pathways"]).sum()),
        "n_beat_targets": int((out["proximal"] > out["targets"]).sum()),
        "n_with_targets": int(out["targets"].notna().sum()),
        "n_beat_all_genes": int((out["proximal"] > out["all_genes"]).sum()),
        "median_proximal": float(out["proximal"].median()),
        "median_all_pathways": float(out["all_pathways"].median()),
        "median_all_genes": float(out["all_genes"].median()),
        "median_random": float(out["random_median"].median()),
    }


def authors_proximal_sets(authors_proximity: pd.DataFrame) -> dict[str, list[str]]:
    """Proximal pathways per drug from the authors' table; a joined column (CETUXIMAB_GEFITINIB) serves each drug."""
    sets: dict[str, list[str]] = {}
    for column, pathways in proximal_pathways(authors_proximity.dropna(subset=["z"])).items():
        for drug in [AUTHOR_COLUMNS[column]] if column in AUTHOR_COLUMNS else column.split("_"):
            sets[drug] = pathways
    return sets


def plot_cross_drug(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = table.sort_values("proximal").reset_index(drop=True)
    y = np.arange(len(data))
    fig, ax = plt.subplots(figsize=(7.5, 0.25 * len(data) + 1.8), dpi=100, layout="constrained")
    ax.hlines(
        y, data["random_q025"], data["random_q975"], color="0.75", lw=4, label="random sets, 95% interval"
    )
    ax.scatter(
        data["random_median"], y, marker="|", color="0.35", s=60, label="random sets, median", zorder=3
    )
    ax.scatter(
        data["all_pathways"],
        y,
        marker="s",
        facecolor="none",
        edgecolor="tab:blue",
        s=22,
        label="all pathways",
        zorder=3,
    )
    ax.scatter(data["targets"], y, marker="^", color="tab:green", s=22, label="drug-target genes", zorder=3)
    ax.scatter(data["all_genes"], y, marker="x", color="tab:purple", s=22, label="all genes", zorder=3)
    ax.scatter(data["proximal"], y, marker="o", color="tab:red", s=30, label="proximal pathways", zorder=4)
    ax.axvline(0, color="0.5", lw=0.8, ls=":")
    ax.set_yticks(
        y, [f"{d} ({n})" for d, n in zip(data["drug"], data["n_proximal"], strict=True)], fontsize=7
    )
    ax.set_xlabel("leave-one-organoid-out Spearman (predicted vs observed IC50)")
    ax.set_xlim(-1, 1)
    ax.set_title("Colorectal organoids: proximal-pathway ridge vs baselines", fontsize=10)
    fig.legend(fontsize=7, loc="outside lower center", ncol=3, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())


# ---------------------------------------------------------------------------------------------- report
def _f(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _e(value: float) -> str:
    """Scientific notation; differences at rounding level print as '< 1e-12' so the text is machine-independent."""
    return "< 1e-12" if abs(value) < 1e-12 else f"{value:.1e}"


def _table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    header = "| " + " | ".join(str(c).replace("|", "\\|") for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            if isinstance(value, float | np.floating):
                kind = formats.get(column, "3")
                cells.append(_e(float(value)) if kind == "e" else _f(float(value), int(kind)))
            else:
                cells.append(str(value).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(res: Results) -> str:
    s = res.ssgsea
    out: list[str] = []
    add = out.append
    add("# Reproduction of Kong et al. (2020) on the colorectal organoids")
    add("")
    add(
        "Generated by `examples/kong2020_coad/reproduce.py` from the public data in `../shared/data` (the authors'"
        " repository billy-kong/organoid_biomarker_detection, GEO GSE64392, STRING, TCGA-COAD biotab and TCGA-CDR);"
        " do not edit by hand. Kong J. et al., Nat Commun 11:5485 (2020), doi:10.1038/s41467-020-19313-8."
        f" Seed {SEED}; {N_RANDOM_PROXIMITY} degree-matched draws per proximity z-score; {N_RANDOM_SETS} random"
        " pathway sets per drug."
    )
    add("")
    add("## Summary")
    add("")
    cs = res.coefficient_summary
    assert cs is not None and res.proximity_summary is not None and res.cohort is not None
    fu = res.proximity_summary.set_index("drug").loc["FLUOROURACIL"]
    cd = res.cross_drug_summary
    summary = pd.DataFrame(
        [
            (
                "organoid ssGSEA raw ES, max abs difference",
                _e(s["max_abs_diff"]),
                "1e-4",
                _pass(s["max_abs_diff"] < 1e-4),
            ),
            (
                "5-FU coefficients, our scores + authors' proximity, max abs difference (3 models)",
                _e(cs["max_abs_diff_our_scores"].max()),
                "1e-3",
                _pass(cs["max_abs_diff_our_scores"].max() < 1e-3),
            ),
            (
                "5-FU coefficients, authors' scores + proximity, max abs difference",
                _e(cs["max_abs_diff_their_scores"].max()),
                "1e-12",
                _pass(cs["max_abs_diff_their_scores"].max() < 1e-12),
            ),
            (
                "5-FU proximal pathways, Jaccard ours vs authors'",
                _f(fu["jaccard"], 2),
                ">= 0.5",
                _pass(fu["jaccard"] >= 0.5),
            ),
            (
                "TCGA-COAD 5-FU cohort (biotab, regimens counted)",
                str(res.cohort["patients"].iloc[0]),
                f"{PAPER_COHORT} (paper)",
                "see below",
            ),
            (
                "drugs whose proximal set beats its random-set null (p < 0.05)",
                f"{cd['n_beat_random']} of {cd['n_drugs']}",
                f"{cd['expected_by_chance']:.1f} by chance",
                f"binomial P = {cd['binomial_tail']:.2g}",
            ),
        ],
        columns=["check", "ours", "target", "result"],
    )
    add(_table(summary))
    add("")

    add("## 1. Organoid ssGSEA scores")
    add("")
    add(
        '`ssgsea(expression, gene_sets, min_size=2, max_size=2000, normalize="n_genes")` on the authors\' ssGSEA'
        " input matrix (`organoid_coad/ssgsea_input_expression.tsv`) with the MSigDB v6.1 Reactome sets as read by"
        " `read_gmt`, against the authors' gseapy 0.9 raw ES (`reference_outputs/organoid_ssgsea_raw_es.tsv`)."
    )
    add("")
    add(
        _table(
            pd.DataFrame(
                [
                    ("organoids", str(s["n_samples_ours"]), str(s["n_samples_theirs"]), ""),
                    ("pathways", str(s["n_pathways_ours"]), str(s["n_pathways_theirs"]), ""),
                    ("max abs difference over all cells", "", "", _e(s["max_abs_diff"])),
                    ("median abs difference", "", "", _e(s["median_abs_diff"])),
                    (
                        "cells differing by more than 1e-9",
                        "",
                        "",
                        f"{s['n_cells_over_1e-9']} of {s['n_shared_cells']}",
                    ),
                    ("Spearman over all cells", "", "", _f(s["spearman"], 6)),
                ],
                columns=["", "ours", "authors'", "difference"],
            )
        )
    )
    add("")
    add(
        "The cells that differ are those where a gene of the set ties in expression with a gene outside it: gseapy"
        " 0.9 ordered tied genes with numpy's unstable sort, we (and gseapy 1.3) with a stable one;"
        " tests/scoring/test_ssgsea_reference.py reproduces every authors' score exactly with their tie order."
    )
    add("")

    add("## 2. Network proximity on STRING (pre-v12, combined_score > 700)")
    add("")
    add(
        "`proximity(network, targets, gene_sets, n_random=1000, random_state=0)` on"
        " `string_pre-v12_ge700_plus_top3_400to699_entrez_dmfind2023-06.tsv.gz` (edges with combined_score > 700,"
        " largest component) with the 674 MSigDB v6.1 Reactome sets of the TCGA file, against the authors'"
        f" `proximity_zscores_string700_reactome.tsv`. Proximal means z <= {PROXIMITY_THRESHOLD}."
    )
    add("")
    ps = res.proximity_summary.copy()
    add(
        _table(
            pd.DataFrame(
                {
                    "drug": ps["drug"],
                    "pathways compared": ps["pathways_compared"],
                    "proximal ours | authors'": [
                        f"{a} | {b}" for a, b in zip(ps["proximal_ours"], ps["proximal_theirs"], strict=True)
                    ],
                    "in both": ps["both"],
                    "Jaccard": ps["jaccard"],
                    "Spearman of z (all pathways)": ps["spearman_z"],
                }
            ),
            {"Jaccard": "2", "Spearman of z (all pathways)": "2"},
        )
    )
    add("")
    add(
        "The authors computed their table on the STRING release of the time; the pre-v12 file is the closest one"
        " here, so the z-scores agree in rank but not exactly. Cisplatin's targets (TF, MPG, A2M, ATOX1) have"
        " low and mid degrees near the degree-bin edges of the null model, where small network differences move"
        " z-scores most (see benchmarks/RESULTS.md)."
    )
    add("")

    add("## 3. 5-fluorouracil organoid models (the paper's preset)")
    add("")
    add(
        '`make_kong2020_pipeline(model, proximity=authors_table, drug="FLUOROURACIL")`: the authors\' 5-FU proximal'
        " pathways (38, of which 37 are scored in the organoids), scores standardised over the 19 organoids with an"
        ' IC50 (ddof=0), then `RidgeCV(cv=3, alphas=0.1..0.9)`, `SVR(kernel="linear")` or least squares. Inputs:'
        " our ssGSEA scores (section 1), and separately the authors' normalised ES, against"
        " `reference_outputs/multi_pathway_coefficients.tsv`."
    )
    add("")
    add(
        _table(
            pd.DataFrame(
                {
                    "model": cs["model"],
                    "pathways": cs["n_pathways"],
                    "same pathways": cs["same_pathways"],
                    "max abs diff, our scores": [_e(v) for v in cs["max_abs_diff_our_scores"]],
                    "max abs diff, authors' scores": [_e(v) for v in cs["max_abs_diff_their_scores"]],
                    "same top-10 ranking (our scores)": cs["same_top10"],
                }
            )
        )
    )
    add("")
    assert res.coefficients is not None
    coef = res.coefficients.copy()
    coef["pathway"] = coef["pathway"].str.removeprefix("REACTOME_")
    pivot = coef.pivot(index="pathway", columns="model", values=["ours", "theirs", "difference"])
    order = pivot[("theirs", "Ridge")].abs().sort_values(ascending=False).index
    rows = []
    for pathway in order:
        row = {"pathway (REACTOME_...)": pathway}
        for label in MODEL_NAMES.values():
            row[f"{label} ours | authors'"] = (
                f"{pivot.loc[pathway, ('ours', label)]:.5f} | {pivot.loc[pathway, ('theirs', label)]:.5f}"
            )
            row[f"{label} diff"] = _e(pivot.loc[pathway, ("difference", label)])
        rows.append(row)
    add("<details><summary>All 37 coefficients, ordered by the authors' |Ridge coefficient|</summary>")
    add("")
    add(_table(pd.DataFrame(rows)))
    add("")
    add("</details>")
    add("")

    add("## 4. Drug names reconciled across sources")
    add("")
    add(
        "`DrugNameResolver(drugbank=drugbank_vocabulary.csv)` maps every spelling to an upper-case DrugBank name:"
        " exact, built-in synonym table, DrugBank vocabulary, or a close-match suggestion (logged as a warning)."
    )
    add("")
    assert res.ic50_names is not None and res.target_names is not None and res.tcga_names is not None
    ic = res.ic50_names
    tn = res.target_names
    changed = ic[ic["method"].isin(["synonym", "drugbank", "close_match"])]
    add(
        f"**Organoid IC50 table** ({len(ic)} names): {int((ic['method'] == 'exact').sum())} exact, "
        f"{len(changed)} renamed, {int(ic['canonical'].isna().sum())} unresolved."
    )
    add("")
    add(_table(changed.rename(columns={"name": "IC50 name", "canonical": "resolved to"})))
    add("")
    unresolved = ic.loc[ic["canonical"].isna(), "name"].tolist()
    target_keys = {normalize_drug_key(n) for n in tn["name"]}
    lost = [n for n in unresolved if normalize_drug_key(n) in target_keys]
    add(
        f"Unresolved IC50 names ({len(lost)} of them spelled like a drug of drug_targets.tsv"
        + (f": {', '.join(lost)}" if lost else ", so no drug of the study is lost")
        + "): "
        + (", ".join(f"`{n}`" for n in unresolved) if unresolved else "none")
        + "."
    )
    add("")
    tn = res.target_names
    add(
        f"**Drug-target table** ({len(tn)} names after splitting rows such as `CETUXIMAB,GEFITINIB`): "
        f"{int((tn['method'] == 'exact').sum())} exact, "
        + ", ".join(
            f"`{r.name}` -> {r.canonical} ({r.method})" for r in tn[tn["method"] != "exact"].itertuples()
        )
        + "; unresolved: "
        + (", ".join(f"`{n}`" for n in tn.loc[tn["canonical"].isna(), "name"]) or "none")
        + "."
    )
    add("")
    tc = res.tcga_names
    add(
        f"**TCGA-COAD biotab drug table**: {len(tc)} distinct cells name fluorouracil (alone, in a combination or"
        " through a regimen):"
    )
    add("")
    add(_table(tc[["name", "component", "method", "records"]].rename(columns={"name": "drug cell"})))
    add("")
    comp = res.tcga_components
    assert comp is not None
    bad = sorted(comp.loc[comp["method"] == "unresolved", "name"].astype(str).unique(), key=str.lower)
    close = comp[comp["method"] == "close_match"].drop_duplicates("component")
    add(
        f"All {comp['name'].nunique()} distinct drug cells of the table: "
        f"{comp.loc[comp['method'] != 'unresolved', 'name'].nunique()} resolve in every component; close-match"
        " suggestions: "
        + ", ".join(f"`{r.component}` -> {r.canonical}" for r in close.sort_values("component").itertuples())
        + "; unresolved: "
        + (", ".join(f"`{n}`" for n in bad) if bad else "none")
        + "."
    )
    add("")

    add("## 5. TCGA-COAD 5-fluorouracil cohort")
    add("")
    add(
        '`tcga_treated_cohort(read_tcga_biotab_patient(...), read_tcga_biotab_drug(...), "5-FU")` on the 2019'
        " BCR biotab tables; survival from the biotab patient table (days to death or last follow-up) and, for the"
        " same patients, from TCGA-CDR (Liu et al. 2018, overall survival). Median follow-up by reverse Kaplan-Meier."
    )
    add("")
    co = res.cohort
    add(
        _table(
            pd.DataFrame(
                {
                    "cohort": co["cohort"],
                    "patients ours | paper": [f"{p} | {PAPER_COHORT}" for p in co["patients"]],
                    "difference": [str(p - PAPER_COHORT) for p in co["patients"]],
                    "deaths (biotab)": co["deaths_biotab"],
                    "median follow-up, months (biotab)": co["median_followup_months_biotab"],
                    "deaths (TCGA-CDR, same patients)": co["deaths_cdr"],
                    "median follow-up, months (CDR)": co["median_followup_months_cdr"],
                }
            ),
            {"median follow-up, months (biotab)": "1", "median follow-up, months (CDR)": "1"},
        )
    )
    add("")
    add(
        f"Why the counts differ from the paper's {PAPER_COHORT}: the authors matched drug names by string and found"
        f" {PAPER_STRING_MATCH} patients, then kept the {PAPER_COHORT} of them with FPKM-UQ expression in GDC. Our"
        " resolver also counts misspellings and combination cells (`5-Fluoruoracil`, `Oxaliplatinum+ 5-FU`) and,"
        " in the first row, regimen names (FOLFOX, FOLFIRI) that imply 5-FU. TCGA expression is not available"
        " offline, so the expression filter that takes the paper from its string-matched count to"
        f" {PAPER_COHORT} cannot be applied here (the example README shows how to add it). The biotab follow-up"
        " also misses deaths recorded later: TCGA-CDR, curated from the later follow-up forms, lists more deaths"
        " for the same patients; survival analyses should use it."
    )
    add("")

    add("## 6. Cross-drug organoid study")
    add("")
    add(
        "For every drug with targets in drug_targets.tsv and IC50 in the organoid table (names reconciled as in"
        " section 4), a ridge model (standardised features, alpha = 1) is scored by leave-one-organoid-out"
        " cross-validation: Spearman between held-out predictions and observed IC50. Feature sets: the drug's"
        " proximal pathways from our STRING proximity (section 2), all pathways, "
        f"{N_RANDOM_SETS} random pathway sets of the same size (median and 2.5-97.5% interval), the drug-target genes"
        " and all genes. `random_p` is the one-sided empirical p (1 + #random >= proximal) / (1 + 100), so 1/101 is"
        f" the smallest attainable; `shuffled_p` is the same p against {N_RANDOM_SETS} refits of the proximal set"
        " with the IC50s permuted among the organoids (the test `compare` adds to the random sets: with few"
        " organoids, random sets that predict worse than chance make `random_p` small even when the proximal set"
        " does not predict at all)."
    )
    add("")
    add(
        f"Drugs with targets and IC50: {cd['n_candidates']}; without any proximal pathway (not testable):"
        f" {cd['n_without_proximal']} ({cd['without_proximal']}); tested: {cd['n_drugs']}."
    )
    add("")
    assert res.cross_drug is not None
    xd = res.cross_drug.sort_values("proximal", ascending=False).copy()
    xd["random median [95%]"] = [
        f"{m:.2f} [{lo:.2f}, {hi:.2f}]"
        for m, lo, hi in zip(xd["random_median"], xd["random_q025"], xd["random_q975"], strict=True)
    ]
    cols = [
        "drug",
        "n_organoids",
        "n_proximal",
        "n_targets",
        "proximal",
        "random median [95%]",
        "random_p",
        "shuffled_p",
        "all_pathways",
        "targets",
        "all_genes",
        "authors_proximal",
        "authors_random_p",
    ]
    add(
        _table(
            xd[cols],
            {
                "proximal": "2",
                "random_p": "4",
                "shuffled_p": "4",
                "all_pathways": "2",
                "targets": "2",
                "all_genes": "2",
                "authors_proximal": "2",
                "authors_random_p": "4",
            },
        )
    )
    add("")
    add(
        f"**Plainly: the network prior beats its random-set null (p < 0.05) for {cd['n_beat_random']} of"
        f" {cd['n_drugs']} drugs; {cd['expected_by_chance']:.1f} would be expected by chance alone"
        f" (binomial probability of {cd['n_beat_random']} or more: {cd['binomial_tail']:.2g}). Requiring it to beat"
        f" shuffled responses as well (both p < 0.05), as `compare` does: {cd['n_beat_both']} of {cd['n_drugs']}"
        f" ({cd['beat_both']}; binomial probability {cd['binomial_tail_both']:.2g}); the random-set null alone"
        f" passed {cd['n_beat_random_not_shuffled']} drug(s) that do not beat shuffled responses.**"
        f" The proximal set is above the median of its random sets for {cd['n_beat_random_median']} drugs, above"
        f" all pathways for {cd['n_beat_all_pathways']}, above the drug-target genes for {cd['n_beat_targets']} (of"
        f" {cd['n_with_targets']} drugs with a target gene in the expression data) and"
        f" above all genes for {cd['n_beat_all_genes']}. Median Spearman over drugs: proximal"
        f" {cd['median_proximal']:.2f}, random sets {cd['median_random']:.2f}, all pathways"
        f" {cd['median_all_pathways']:.2f}, all genes {cd['median_all_genes']:.2f}. With 19 organoids a single"
        " drug's correlation is noisy (leave-one-out correlations of an uninformative model also sit below zero),"
        " so read the count against its binomial expectation rather than any one drug."
        f" With the authors' proximity z-scores in place of ours (columns `authors_proximal`, `authors_random_p`;"
        f" a joined column such as CETUXIMAB_GEFITINIB serves each of its drugs) the proximal set beats its"
        f" random-set null for {cd['n_beat_random_authors']} of {cd['n_drugs_authors']} drugs (binomial probability"
        f" of that many or more by chance: {cd['binomial_tail_authors']:.2g})."
    )
    add("")
    add("![cross-drug study](examples/kong2020_coad/cross_drug.png)")
    add("")
    out.extend(render_comparison(COMPARISON))
    return "\n".join(out)


def render_comparison(folder: Path) -> list[str]:
    """Section 7 from the tables `organoidrx compare` wrote into ``folder`` (committed; regenerated by hand)."""
    out = ["## 7. Which choices carry signal: every scorer x network measure x model", ""]
    record_path = folder / "compare.json"
    if not record_path.is_file():
        return [*out, f"No comparison in {folder.relative_to(ROOT)}: run the command below.", ""]
    record = json.loads(record_path.read_text(encoding="utf-8"))
    combinations = pd.read_csv(folder / "combinations.tsv", sep="\t")
    board = pd.read_csv(folder / "leaderboard.tsv", sep="\t")
    described = {
        "ridge": "ridge, alpha 1",
        "linear": "least squares",
        "kernel_ridge": "kernel ridge, rbf",
        "svr": "linear SVR, C 1, epsilon 0.1",
    }
    order = list(described)
    used = sorted(set(combinations["model"]), key=lambda m: (order.index(m) if m in order else len(order), m))
    models = "; ".join(described.get(m, m) for m in used)
    out += [
        "`organoidrx compare examples/kong2020_coad/compare.toml --out examples/kong2020_coad/comparison"
        " --overwrite` (its tables and compare.json are committed, not its report.html and heatmap.png; this"
        " script only renders the tables). Every registered pathway scorer x network measure selects each"
        " drug's proximal pathways (z <= -1.2816); each model"
        f" ({models}, on standardised features) is cross-validated leave-one-organoid-out on them and on"
        + (
            f" up to {record['n_random_sets']} random pathway sets of the same size, drawn in a fixed order until"
            f" {record['stop_after']} of them do at least as well; `random_p` is then {record['stop_after']} / sets"
            " fitted (Besag and Clifford's sequential p, as valid as the full one), and otherwise the share of"
            " random sets doing at least as well. `shuffled_p` is the same p against as many refits of the"
            " selection itself with the organoids' IC50s shuffled among them. A test's `p` is the larger of the"
            " two (it must beat both random sets of its size and chance), and q is Benjamini-Hochberg of p over"
            " every test of the comparison. The"
            if record.get("stop_after")
            else f" {record['n_random_sets']} random pathway sets of the same size (`random_p`: the share doing at"
            " least as well) and as many refits with the IC50s shuffled (`shuffled_p`); a test's p is the larger"
            " of the two, and q is Benjamini-Hochberg over every test of the comparison. The"
        )
        + " cohort-dependent scorers (gsva, zscore, plage, mean_z) score each fold's training organoids without the"
        " held-out one, for the selections and the random sets alike; the held-out organoid keeps its score among"
        " all organoids. Baselines: the drug's target genes against random genes, all pathways and all genes (no"
        " random sets).",
        "",
        *[f"- {line}" for line in record["summary"]],
        "",
        "Per combination (`n_p05`: drugs with p < 0.05, against `expected_p05` by chance; `binomial_p`: probability"
        " of that many or more by chance; `binomial_q`: Benjamini-Hochberg over combinations; `n_q05`: drugs with"
        " q < 0.05 over every test):",
        "",
        _table(
            combinations,
            {
                "median_spearman": "2",
                "median_excess": "2",
                "expected_p05": "1",
                "binomial_p": "4",
                "binomial_q": "4",
            },
        ),
        "",
        "The 15 smallest p-values of the leaderboard:",
        "",
        _table(
            board.head(15),
            {
                "spearman": "2",
                "random_median": "2",
                "random_q975": "2",
                "random_p": "4",
                "shuffled_p": "4",
                "p": "4",
                "q": "4",
            },
        ),
        "",
    ]
    winners = combinations[combinations["binomial_q"] < 0.05]
    n_sig = int((board["q"] < 0.05).sum())
    verdict = (
        f"**Plainly: no single drug x combination test survives the correction ({n_sig} of {record['n_tests']}"
        " reach q < 0.05).**"
        if n_sig == 0
        else f"**Plainly: {n_sig} of {record['n_tests']} drug x combination tests reach q < 0.05.**"
    )
    if "shuffled_p" in board.columns:
        alone = bh_qvalues(board["random_p"].to_numpy(dtype=float)) < 0.05
        lost = board[alone & ~(board["q"] < 0.05)]
        verdict += (
            f" Against random sets alone, {int(alone.sum())} tests would reach q < 0.05; {len(lost)} of them"
            f" ({int((lost['spearman'] <= 0).sum())} with a negative Spearman) do not beat the same selection"
            " refitted on shuffled IC50s (median `shuffled_p`"
            f" {lost['shuffled_p'].median() if len(lost) else float('nan'):.2f}): they beat random pathway sets"
            f" (median random-set Spearman {lost['random_median'].median() if len(lost) else float('nan'):.2f})"
            " but not chance."
        )
    if n_sig:
        found = board[board["q"] < 0.05]
        positive = found[found["spearman"] > 0]
        negative = found[found["spearman"] <= 0]
        if len(negative):
            verdict += (
                f" {len(negative)} of them have a negative cross-validated Spearman"
                f" ({int((negative['model'] == 'kernel_ridge').sum())} with kernel ridge, see below): they predict"
                " the held-out organoids less badly than their random sets do, not well, so they are no biomarker."
            )
        if len(positive):
            verdict += (
                " With a positive Spearman: "
                + "; ".join(
                    f"{r.drug} ({r.scorer} / {r.selection} / {r.model}, Spearman {r.spearman:.2f} against a random"
                    f" median of {r.random_median:.2f}, {r.n_features} pathways, q {r.q:.2g})"
                    for r in positive.itertuples()
                )
                + (
                    ". These are the candidates worth a second look on independent organoids; with 19 organoids and"
                    " one comparison behind them they are not yet validated."
                )
            )
    if len(winners):
        sizes = board.groupby(["scorer", "selection"])["n_features"].median()
        named = "; ".join(
            f"{r.scorer} / {r.selection} / {r.model}: {r.n_p05} of {r.n_drugs} drugs (binomial q {r.binomial_q:.2g},"
            " median"
            f" {sizes.loc[(r.scorer, r.selection)]:.0f} pathways selected)"
            for r in winners.itertuples()
        )
        verdict += (
            " At the coarser level, these combinations reach p < 0.05 for more drugs than the 5% expected by"
            f" chance, after correction over combinations: {named}. Two cautions: the binomial count treats drugs"
            " as independent, but they share the same 19 organoids and the same pathways; and a selection holding"
            " most pathways is compared with random sets that overlap it heavily, so small gains in Spearman become"
            " small p-values. Read this as where to look next, not as a validated biomarker."
        )
    else:
        verdict += (
            " No combination reaches p < 0.05 for more drugs than chance allows (binomial q >= 0.05 for all)."
        )
    if (combinations["model"] == "kernel_ridge").any():
        kernel = combinations[combinations["model"] == "kernel_ridge"]
        verdict += (
            " Kernel ridge's cross-validated Spearman is strongly negative (median over its combinations"
            f" {kernel['median_spearman'].median():.2f}), for the real selections and the random sets alike: with"
            " the rbf kernel's default scale (1 / number of pathways), a held-out organoid is far from the 18"
            " training organoids (its kernel values to them have a median near 0.15, against 1 for itself), so its"
            " prediction stays near the mean response of the others, and that mean is perfectly anti-correlated"
            " with the held-out response in leave-one-out. Its `random_p` compares it with random sets under the"
            " same artefact, and its `shuffled_p` with itself on shuffled IC50s, so both stay valid, but its"
            " Spearman is not a measure of how well it predicts."
        )
    if (board["selection"] == "separation").any():
        tested = board[(board["selection"] == "separation") & board["p"].notna()]["drug"].nunique()
        verdict += (
            f" Separation selects a proximal pathway (z <= -1.2816) for {tested} of 42 drugs only: pathway modules"
            " rarely overlap a drug's targets more than degree-matched random sets do."
        )
    return [*out, verdict, ""]


def _pass(ok: bool) -> str:
    return "pass" if ok else "FAIL"


# ------------------------------------------------------------------------------------------------ main
def run(data: Path, report: Path, figure: Path) -> Results:
    """Run every comparison and write the report and the figure."""
    paths = Paths(data)
    res = Results()
    resolver = DrugNameResolver(drugbank=paths.drugbank)
    expression = read_expression(paths.expression)
    gene_sets = read_gmt(paths.gmt_organoid)
    logger.info("ssGSEA")
    scores = compare_ssgsea(expression, gene_sets, paths, res)
    targets_raw = read_drug_targets(paths.targets)
    response_raw = read_drug_response(paths.ic50)
    response, targets = reconcile_drugs(response_raw, targets_raw, resolver, res)
    mapping = reconcile_sample_ids(expression.index, response["sample"].unique(), what="organoids")
    response = response.assign(sample=response["sample"].map(mapping)).dropna(subset=["sample"])
    logger.info("proximity")
    table = run_proximity(paths, targets, res)
    logger.info("coefficients")
    compare_coefficients(scores, response, paths, res)
    logger.info("cohort")
    tcga_cohort(paths, resolver, res)
    logger.info("cross-drug study")
    authors_proximity = read_authors_proximity(paths.reference / "proximity_zscores_string700_reactome.tsv")
    cross_drug(scores, expression, response, targets, table, authors_proximity, res)
    assert res.cross_drug is not None
    plot_cross_drug(res.cross_drug, figure)
    with atomic_write(report, "w") as handle:
        handle.write(render(res))
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_folder(), help="shared data folder")
    parser.add_argument("--report", type=Path, default=ROOT / "REPRODUCTION.md")
    parser.add_argument("--figure", type=Path, default=HERE / "cross_drug.png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if not (args.data / "kong2020").is_dir():
        print(
            f"data folder {args.data} not found; set ORGANOIDRX_SHARED_DATA or pass --data", file=sys.stderr
        )
        return 2
    run(args.data, args.report, args.figure)
    print(f"wrote {args.report} and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
