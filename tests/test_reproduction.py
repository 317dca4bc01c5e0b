"""Real data: examples/kong2020_coad/reproduce.py meets the reproduction targets and regenerates REPRODUCTION.md.

The script is run once (about 10-20 s: ssGSEA of 22 organoids, proximity of 48 drugs on STRING pre-v12 with the
distance cache, leave-one-out CV of 42 drugs x 100 random sets) into a temporary folder; the committed report must
be byte-identical to the one it writes, so the report is never edited by hand and re-running changes nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from .conftest import shared_file

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "kong2020_coad" / "reproduce.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kong2020_reproduce", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reproduction(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    shared_file(shared_data, "networks/string_dmfind")
    shared_file(shared_data, "tcga_clinical/tcga_cdr_liu2018_outcome_researchSAM.tsv.gz")
    module = _load_script()
    out = tmp_path_factory.mktemp("reproduction")
    results = module.run(shared_data, out / "REPRODUCTION.md", out / "cross_drug.png")
    return {"results": results, "report": out / "REPRODUCTION.md", "figure": out / "cross_drug.png"}


@pytest.mark.shared_data
def test_ssgsea_matches_the_authors(reproduction: dict[str, Any]) -> None:
    ssgsea = reproduction["results"].ssgsea
    assert ssgsea["n_samples_ours"] == ssgsea["n_samples_theirs"] == 22
    assert ssgsea["n_pathways_ours"] == ssgsea["n_pathways_theirs"]
    assert ssgsea["n_shared_cells"] == 22 * ssgsea["n_pathways_theirs"]
    assert ssgsea["max_abs_diff"] < 1e-4


@pytest.mark.shared_data
def test_coefficients_match_the_authors(reproduction: dict[str, Any]) -> None:
    summary = reproduction["results"].coefficient_summary.set_index("model")
    assert list(summary.index) == ["Ridge", "SVR", "LinearRegression"]
    assert (summary["n_pathways"] == 37).all() and summary["same_pathways"].all()
    assert (summary["max_abs_diff_our_scores"] < 1e-3).all()
    assert (summary["max_abs_diff_their_scores"] < 1e-12).all()


@pytest.mark.shared_data
def test_fluorouracil_proximal_set_overlaps_the_authors(reproduction: dict[str, Any]) -> None:
    table = reproduction["results"].proximity_summary.set_index("drug")
    assert set(table.index) == {"FLUOROURACIL", "CISPLATIN"}
    assert table.loc["FLUOROURACIL", "jaccard"] >= 0.5
    assert (table["pathways_compared"] > 600).all()
    assert (table["spearman_z"] > 0.3).all()


@pytest.mark.shared_data
def test_cohort_and_drug_names(reproduction: dict[str, Any]) -> None:
    results = reproduction["results"]
    cohort = results.cohort
    assert list(cohort["patients"]) == [130, 125] and list(cohort["deaths_biotab"]) == [11, 9]
    assert (cohort["deaths_cdr"] > cohort["deaths_biotab"]).all()
    ic50 = results.ic50_names.set_index("name")["canonical"]
    assert ic50["5-Fluorouracil"] == "FLUOROURACIL" and ic50["Gemcitibine"] == "GEMCITABINE"
    tcga = set(results.tcga_names["name"])
    assert {"5-FU", "5 FU", "Fluorouracil", "5-Fluoruoracil"} <= tcga
    report = reproduction["report"].read_text()
    for name in results.ic50_names.loc[results.ic50_names["canonical"].isna(), "name"]:
        assert f"`{name}`" in report  # every unresolved name is listed


@pytest.mark.shared_data
def test_cross_drug_study(reproduction: dict[str, Any]) -> None:
    results = reproduction["results"]
    table = results.cross_drug
    summary = results.cross_drug_summary
    assert len(table) == summary["n_drugs"] >= 30 and table["drug"].is_unique
    assert {"FLUOROURACIL", "CISPLATIN", "GEMCITABINE", "IRINOTECAN"} <= set(table["drug"])
    assert (table["n_organoids"] == 19).all()
    assert (
        (table["random_q025"] <= table["random_median"]) & (table["random_median"] <= table["random_q975"])
    ).all()
    assert ((table["random_p"] >= 1 / 101) & (table["random_p"] <= 1)).all()
    assert summary["n_beat_random"] == int((table["random_p"] < 0.05).sum())
    assert ((table["shuffled_p"] >= 1 / 101) & (table["shuffled_p"] <= 1)).all()
    both = (table["random_p"] < 0.05) & (table["shuffled_p"] < 0.05)
    assert summary["n_beat_both"] == int(both.sum()) <= summary["n_beat_random"]
    assert summary["n_beat_random_not_shuffled"] == summary["n_beat_random"] - summary["n_beat_both"]
    assert summary["expected_by_chance"] == pytest.approx(0.05 * len(table))
    assert 0 < summary["binomial_tail"] <= 1


@pytest.mark.shared_data
def test_committed_report_and_figure_are_regenerated_byte_for_byte(reproduction: dict[str, Any]) -> None:
    committed = REPO / "REPRODUCTION.md"
    assert committed.read_bytes() == reproduction["report"].read_bytes(), (
        "REPRODUCTION.md is out of date: run examples/kong2020_coad/reproduce.py"
    )
    # the figure: same table, same bytes (compared within this machine; fonts may differ elsewhere)
    module = sys.modules["kong2020_reproduce"]
    again = reproduction["figure"].with_name("again.png")
    module.plot_cross_drug(reproduction["results"].cross_drug, again)
    assert again.read_bytes() == reproduction["figure"].read_bytes()
    assert reproduction["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.shared_data
def test_example_config_reads_and_points_at_the_data(shared_data: Path, tmp_path: Path) -> None:
    from organoidrx.pipeline import read_config

    source = REPO / "examples" / "kong2020_coad" / "config.toml"
    config = read_config(source)
    assert not config.has_patients  # preclinical-only mode
    for path in (config.organoid_expression, config.organoid_response, config.gene_sets, config.targets):
        assert path.is_file(), path
    assert config.network is not None and config.network.is_file() and config.min_score == 700
    # the commented alternative: the authors' precomputed proximity table instead of the network
    text = source.read_text()
    lines = [
        line for line in text.splitlines() if not line.startswith(("edges", "edge_columns", "min_score"))
    ]
    lines = [line.removeprefix("# ") if line.startswith("# proximity =") else line for line in lines]
    alternative = tmp_path / "examples" / "kong2020_coad" / "config.toml"
    alternative.parent.mkdir(parents=True)
    alternative.write_text("\n".join(lines).replace("../../../shared/data", str(shared_data)))
    table = read_config(alternative)
    assert table.network is None and table.proximity is not None and table.proximity.is_file()


@pytest.mark.shared_data
def test_example_proximal_set_matches_the_authors(shared_data: Path) -> None:
    """The example computes proximity on the TCGA-restricted sets, as the authors did: 5-FU Jaccard >= 0.5."""
    from organoidrx.pipeline import read_config
    from organoidrx.pipeline._inputs import load_inputs, run_proximity

    config = read_config(REPO / "examples" / "kong2020_coad" / "config.toml")
    assert config.proximity_gene_sets is not None and config.proximity_gene_sets.name.endswith("_tcga.gmt")
    table = run_proximity(config, load_inputs(config))[config.measure]
    ours = table[(table["drug"] == "5-Fluorouracil") & table["computable"]].set_index("pathway")["z"]
    authors = pd.read_csv(
        shared_file(shared_data, "kong2020/reference_outputs/proximity_zscores_string700_reactome.tsv"),
        sep="\t",
        index_col=0,
    )
    theirs = authors["FLUOROURACIL"].dropna()
    shared = ours.index.intersection(theirs.index)
    a, b = set(shared[ours[shared] <= -1.2816]), set(shared[theirs[shared] <= -1.2816])
    assert len(shared) > 600 and len(a & b) / len(a | b) >= 0.5
