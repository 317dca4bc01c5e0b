from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import sparse
from scipy.sparse import csgraph
from scipy.stats import mannwhitneyu, spearmanr

from organoidrx._utils import InputError, sha256_file
from organoidrx.cli import main
from organoidrx.datasets import SyntheticCohort, make_synthetic_cohort
from organoidrx.datasets._synthetic import _BETA, _STAGE_COEF, _toml

SMALL = {
    "n_genes": 400,
    "n_pathways": 30,
    "n_organoids": 12,
    "n_patients_treated": 40,
    "n_patients_untreated": 20,
}


@pytest.fixture(scope="module")
def cohort() -> SyntheticCohort:
    return make_synthetic_cohort(random_state=0)


def _planted_score(cohort: SyntheticCohort, activities: pd.DataFrame, drug: str) -> pd.Series:
    """The true S_d = sum_p w_p A_p of the docstring, from the latent activities."""
    truth = cohort.truth[(cohort.truth["drug"] == drug) & (cohort.truth["weight"] > 0)]
    return activities[truth["pathway"]] @ truth["weight"].to_numpy()


def _gene_mean_score(cohort: SyntheticCohort, expression: pd.DataFrame, drug: str) -> pd.Series:
    """S_d estimated from expression alone: weighted sum of z-scored gene means of the planted pathways."""
    z = (expression - expression.mean()) / expression.std()
    sets = cohort.gene_sets.groupby("pathway")["gene"].apply(list)
    truth = cohort.truth[(cohort.truth["drug"] == drug) & (cohort.truth["weight"] > 0)]
    return sum(w * z[sets[p]].mean(axis=1) for p, w in zip(truth["pathway"], truth["weight"], strict=True))


def _response(cohort: SyntheticCohort, drug: str) -> pd.Series:
    table = cohort.organoid_response
    return table[table["drug"] == drug].set_index("sample")["value"]


# --------------------------------------------------------------------------------------------------- shapes
def test_tables_have_documented_columns_and_shapes(cohort: SyntheticCohort) -> None:
    assert list(cohort.network.columns) == ["gene_a", "gene_b", "score"]
    assert list(cohort.gene_sets.columns) == ["pathway", "gene"]
    assert list(cohort.targets.columns) == ["drug", "target"]
    assert list(cohort.organoid_response.columns) == ["sample", "drug", "value"]
    assert list(cohort.clinical.columns) == ["patient", "time", "event", "drug", "response", "age", "stage"]
    assert list(cohort.truth.columns) == ["drug", "pathway", "proximal", "weight"]
    assert cohort.organoid_expression.shape == (30, 2000)
    assert cohort.patient_expression.shape == (400, 2000)
    assert cohort.organoid_activities.shape == (30, 120)
    assert cohort.patient_activities.shape == (400, 120)
    genes = cohort.organoid_expression.columns
    assert list(genes) == list(cohort.patient_expression.columns)
    assert all(re.fullmatch(r"G\d{4}", g) for g in genes)
    assert cohort.gene_sets["pathway"].str.fullmatch(r"PATHWAY_\d{3}").all()
    assert cohort.organoid_response.attrs == {"metric": "IC50", "lower_is_sensitive": True}
    # Every organoid has a response to every drug, and every table names genes that exist.
    assert len(cohort.organoid_response) == 30 * 2
    assert set(cohort.organoid_response["sample"]) == set(cohort.organoid_expression.index)
    for column in (cohort.gene_sets["gene"], cohort.targets["target"], cohort.network["gene_a"]):
        assert set(column) <= set(genes)
    assert len(cohort.truth) == 2 * 120


def test_expression_is_log2_scale_and_patients_differ_in_location_and_scale(cohort: SyntheticCohort) -> None:
    organoid = cohort.organoid_expression.to_numpy()
    patient = cohort.patient_expression.to_numpy()
    assert 0.0 < organoid.min() and organoid.max() < 18.0
    assert 6.0 < np.median(organoid) < 9.0
    assert 0.0 < patient.min() and np.isfinite(patient).all()
    assert patient.mean() - organoid.mean() > 0.3
    assert patient.std(axis=0).mean() > 1.2 * organoid.std(axis=0).mean()


def test_genes_of_a_pathway_are_correlated(cohort: SyntheticCohort) -> None:
    expression = cohort.patient_expression
    sizes = cohort.gene_sets.groupby("pathway").size()
    pathway = sizes[sizes >= 20].index[0]
    genes = cohort.gene_sets.loc[cohort.gene_sets["pathway"] == pathway, "gene"]
    inside = np.corrcoef(expression[genes].to_numpy(), rowvar=False)
    within = inside[np.triu_indices_from(inside, k=1)].mean()
    others = expression.columns.difference(genes)[:40]
    outside = np.corrcoef(expression[others].to_numpy(), rowvar=False)
    between = outside[np.triu_indices_from(outside, k=1)].mean()
    assert within > 0.1
    assert within > between + 0.08


# --------------------------------------------------------------------------------------------------- network
def _adjacency(cohort: SyntheticCohort, min_score: int = 700) -> tuple[sparse.csr_matrix, dict[str, int]]:
    index = {g: i for i, g in enumerate(cohort.organoid_expression.columns)}
    edges = cohort.network[cohort.network["score"] > min_score]
    a = edges["gene_a"].map(index).to_numpy()
    b = edges["gene_b"].map(index).to_numpy()
    n = len(index)
    matrix = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)).tocsr()
    return (matrix + matrix.T).tocsr(), index


def test_network_scores_and_structure(cohort: SyntheticCohort) -> None:
    network = cohort.network
    assert network["score"].dtype.kind == "i"
    assert network["score"].between(150, 999).all()
    strong = (network["score"] > 700).mean()
    assert 0.5 < strong < 0.95  # a > 700 filter keeps most edges but removes some
    assert (network["gene_a"] < network["gene_b"]).all()
    assert not network.duplicated(["gene_a", "gene_b"]).any()
    adjacency, _ = _adjacency(cohort)
    n_components, _ = csgraph.connected_components(adjacency, directed=False)
    assert n_components == 1
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    assert degree.min() >= 1
    assert degree.max() >= 8 * np.median(degree)  # hubs: degree-matched randomisation matters


def test_gene_sets_sizes_and_small_overlap(cohort: SyntheticCohort) -> None:
    sets = cohort.gene_sets.groupby("pathway")["gene"].apply(set)
    sizes = sets.map(len)
    assert len(sets) == 120
    assert sizes.between(10, 100).all()
    assert sizes.max() - sizes.min() >= 40
    assert not cohort.gene_sets.duplicated().any()
    jaccard = [len(a & b) / len(a | b) for i, a in enumerate(sets) for b in sets.iloc[i + 1 :]]
    assert 0 < np.mean(np.asarray(jaccard) > 0) < 0.2
    assert max(jaccard) < 0.5


def test_targets_sit_with_planted_pathways(cohort: SyntheticCohort) -> None:
    counts = cohort.targets.groupby("drug").size()
    assert list(counts.index) == ["DRUG_A", "DRUG_B"]
    assert counts.between(3, 5).all()
    truth = cohort.truth
    for drug in cohort.drugs:
        rows = truth[truth["drug"] == drug]
        planted = rows[rows["weight"] > 0]
        assert 1 <= len(planted) <= 4
        assert planted["proximal"].all()  # drivers are always proximal
        assert (rows["proximal"] & (rows["weight"] == 0)).any()  # proximal decoys that do not drive
        assert cohort.planted(drug) == list(planted.sort_values("weight", ascending=False)["pathway"])


def test_planted_pathways_are_closer_to_targets_than_others(cohort: SyntheticCohort) -> None:
    adjacency, index = _adjacency(cohort)
    sets = cohort.gene_sets.groupby("pathway")["gene"].apply(lambda g: [index[x] for x in g])
    for drug in cohort.drugs:
        targets = [index[t] for t in cohort.targets.loc[cohort.targets["drug"] == drug, "target"]]
        distance = csgraph.shortest_path(adjacency, directed=False, unweighted=True, indices=targets)
        # Guney closest distance: mean over pathway genes of the distance to the nearest target.
        closest = sets.map(lambda genes, d=distance: d[:, genes].min(axis=0).mean())
        rows = cohort.truth[cohort.truth["drug"] == drug].set_index("pathway")
        planted = closest[rows.index[rows["weight"] > 0]]
        distal = closest[rows.index[~rows["proximal"]]]
        assert planted.max() < distal.median()
        assert planted.mean() < distal.mean() - 0.5


# --------------------------------------------------------------------------------------------------- planted effect
def test_organoid_response_tracks_planted_pathways(cohort: SyntheticCohort) -> None:
    expression = cohort.organoid_expression
    for drug in cohort.drugs:
        score = _gene_mean_score(cohort, expression, drug)
        rho, _ = spearmanr(-score, _response(cohort, drug).loc[expression.index])
        assert rho > 0.45  # one-sided p < 0.01 with 30 organoids
        true_rho, _ = spearmanr(
            -_planted_score(cohort, cohort.organoid_activities, drug),
            _response(cohort, drug).loc[expression.index],
        )
        assert true_rho > 0.6


def test_null_cohort_has_no_organoid_link() -> None:
    kwargs = {"n_organoids": 400, "n_patients_treated": 2, "n_patients_untreated": 0, "random_state": 3}
    null = make_synthetic_cohort(effect=0.0, **kwargs)
    linked = make_synthetic_cohort(effect=1.0, **kwargs)
    # effect changes only the response, never the network, pathways or expression.
    pd.testing.assert_frame_equal(null.organoid_expression, linked.organoid_expression)
    pd.testing.assert_frame_equal(null.network, linked.network)
    for drug in null.drugs:
        score = _planted_score(null, null.organoid_activities, drug)
        rho_null, _ = spearmanr(-score, _response(null, drug).loc[score.index])
        rho_linked, _ = spearmanr(-score, _response(linked, drug).loc[score.index])
        assert abs(rho_null) < 0.2  # sd of rho under the null is 1/sqrt(399) = 0.05
        assert rho_linked > 0.7
        # The documented formula, exactly: log IC50 moves by -effect * sum_p w_p A_p and nothing else.
        shift = _response(linked, drug).loc[score.index] - _response(null, drug).loc[score.index]
        np.testing.assert_allclose(shift.to_numpy(), -score.to_numpy(), atol=1e-12)


def _cox(clinical: pd.DataFrame, score: pd.Series) -> CoxPHFitter:
    data = clinical.set_index("patient")[["time", "event", "age", "stage"]].assign(score=score)
    return CoxPHFitter().fit(data, duration_col="time", event_col="event")


def test_treated_survival_depends_on_planted_score_and_untreated_does_not(cohort: SyntheticCohort) -> None:
    clinical = cohort.clinical
    untreated = clinical[clinical["drug"].isna()]
    assert len(untreated) == 200
    assert 0.3 < clinical["event"].mean() < 0.9
    assert clinical["time"].min() >= 1 and clinical["time"].max() <= 3650
    for drug in cohort.drugs:
        treated = clinical[clinical["drug"] == drug]
        assert len(treated) == 100
        fit = _cox(treated, _planted_score(cohort, cohort.patient_activities, drug))
        coef, p = fit.params_["score"], fit.summary.loc["score", "p"]
        assert p < 0.01
        assert -1.6 * _BETA < coef < -0.4 * _BETA  # planted: -1 per SD, attenuated a little by frailty
        # The same score in untreated patients carries no survival information.
        fit = _cox(untreated, _planted_score(cohort, cohort.patient_activities, drug))
        assert abs(fit.params_["score"]) < 0.3  # ~3 standard errors with ~140 events
        assert 0 < fit.params_["stage"] < 2 * _STAGE_COEF  # covariates act in every patient


def test_null_patient_effect_removes_the_survival_link() -> None:
    null = make_synthetic_cohort(
        n_organoids=5, n_patients_treated=600, n_patients_untreated=0, patient_effect=0.0, random_state=4
    )
    for drug in null.drugs:
        treated = null.clinical[null.clinical["drug"] == drug]
        fit = _cox(treated, _planted_score(null, null.patient_activities, drug))
        assert abs(fit.params_["score"]) < 0.2  # ~3 standard errors with ~200 events


def test_recist_responses_follow_the_planted_score(cohort: SyntheticCohort) -> None:
    clinical = cohort.clinical
    with_response = clinical[clinical["response"].notna()]
    assert set(with_response["response"]) == {"CR", "PR", "SD", "PD"}
    assert with_response["drug"].notna().all()
    share = len(with_response) / clinical["drug"].notna().sum()
    assert 0.55 < share < 0.85
    for drug in cohort.drugs:
        rows = with_response[with_response["drug"] == drug]
        score = _planted_score(cohort, cohort.patient_activities, drug).loc[rows["patient"]].to_numpy()
        responders = score[rows["response"].isin(["CR", "PR"]).to_numpy()]
        progressors = score[(rows["response"] == "PD").to_numpy()]
        assert mannwhitneyu(responders, progressors, alternative="greater").pvalue < 0.01
        assert np.median(responders) > np.median(progressors) + 0.5


def test_recist_shares_under_the_null_match_the_docstring() -> None:
    null = make_synthetic_cohort(
        n_organoids=5, n_patients_treated=3000, n_patients_untreated=0, patient_effect=0.0, random_state=5
    )
    shares = null.clinical["response"].value_counts(normalize=True)
    expected = {"PD": 0.30, "SD": 0.35, "PR": 0.25, "CR": 0.10}
    for level, value in expected.items():
        assert abs(shares[level] - value) < 0.04


def test_planted_signal_is_recovered_by_the_package_tools(cohort: SyntheticCohort) -> None:
    from organoidrx.network import PROXIMAL_Z, proximity
    from organoidrx.scoring import ssgsea

    z = proximity(
        cohort.network, cohort.targets, cohort.gene_sets, n_random=200, random_state=0, use_cache=False
    ).set_index(["drug", "pathway"])["z"]
    scores = ssgsea(cohort.organoid_expression, cohort.gene_sets, min_size=5)
    for drug in cohort.drugs:
        truth = cohort.truth[cohort.truth["drug"] == drug].set_index("pathway")
        planted = truth.index[truth["weight"] > 0]
        selected = z[drug].index[z[drug] <= PROXIMAL_Z]
        assert len(planted.intersection(selected)) >= len(planted) - 1
        # Proximity enriches for the target community: proximal pathways are ~5% of all, >= 20% of the selected.
        assert truth.loc[selected, "proximal"].mean() >= 4 * truth["proximal"].mean()
        assert z[drug][planted].mean() < -2
        signature = scores[planted] @ truth.loc[planted, "weight"]
        rho, _ = spearmanr(-signature, _response(cohort, drug).loc[signature.index])
        assert rho > 0.45


# --------------------------------------------------------------------------------------------------- files
def test_write_is_byte_identical_for_a_seed_and_differs_across_seeds(tmp_path: Path) -> None:
    first = make_synthetic_cohort(random_state=7).write(tmp_path / "a")
    second = make_synthetic_cohort(random_state=7).write(tmp_path / "b")
    small = make_synthetic_cohort(random_state=7, **SMALL).write(tmp_path / "c")
    other = make_synthetic_cohort(random_state=8, **SMALL).write(tmp_path / "d")
    assert set(first) == {
        "organoid_expression",
        "organoid_response",
        "network",
        "gene_sets",
        "targets",
        "patient_expression",
        "clinical",
        "truth",
        "config",
    }
    for key in first:
        assert sha256_file(first[key]) == sha256_file(second[key]), key
    for key in ("organoid_expression", "patient_expression", "network", "clinical", "gene_sets"):
        assert sha256_file(small[key]) != sha256_file(other[key]), key
    assert not list((tmp_path / "a").glob(".*.tmp"))


def test_a_generator_seed_is_accepted_and_reproducible() -> None:
    a = make_synthetic_cohort(random_state=np.random.default_rng(11), **SMALL)
    b = make_synthetic_cohort(random_state=np.random.default_rng(11), **SMALL)
    pd.testing.assert_frame_equal(a.patient_expression, b.patient_expression)
    pd.testing.assert_frame_equal(a.clinical, b.clinical)


def test_written_files_read_back_in_their_documented_format(tmp_path: Path) -> None:
    cohort = make_synthetic_cohort(random_state=2, **SMALL)
    paths = cohort.write(tmp_path)
    expression = pd.read_csv(paths["organoid_expression"], sep="\t", index_col=0)
    assert expression.index.name == "gene"
    np.testing.assert_allclose(expression.T.to_numpy(), cohort.organoid_expression.to_numpy(), atol=5e-5)
    assert list(expression.columns) == list(cohort.organoid_expression.index)
    patients = pd.read_csv(paths["patient_expression"], sep="\t", index_col="gene")
    assert patients.shape == cohort.patient_expression.T.shape
    clinical = pd.read_csv(paths["clinical"], sep="\t")
    pd.testing.assert_frame_equal(clinical, cohort.clinical, check_dtype=False)
    for key, columns in (
        ("organoid_response", ["sample", "drug", "value"]),
        ("network", ["gene_a", "gene_b", "score"]),
        ("targets", ["drug", "target"]),
        ("truth", ["drug", "pathway", "proximal", "weight"]),
    ):
        assert list(pd.read_csv(paths[key], sep="\t").columns) == columns, key
    lines = paths["gene_sets"].read_text().splitlines()
    assert len(lines) == 30
    first = lines[0].split("\t")
    genes = cohort.gene_sets.loc[cohort.gene_sets["pathway"] == first[0], "gene"]
    assert first[2:] == list(genes)

    config = tomllib.loads(paths["config"].read_text())
    assert list(config) == ["preclinical", "network", "pathways", "drugs", "patients", "settings", "compare"]
    assert config["network"]["min_score"] == 700
    assert config["drugs"]["names"] == ["DRUG_A", "DRUG_B"]
    assert config["settings"] == {
        "n_random": 1000,
        "seed": 2,
        "model": "ridge",
        "top_k": 10,
        "n_permutations": 1000,
    }
    for section, key in (("preclinical", "expression"), ("patients", "clinical"), ("network", "edges")):
        assert (tmp_path / config[section][key]).is_file()


def test_written_config_is_accepted_by_the_pipeline_reader(tmp_path: Path) -> None:
    from organoidrx.pipeline import read_config

    paths = make_synthetic_cohort(random_state=0, **SMALL).write(tmp_path)
    config = read_config(paths["config"])
    assert config.drugs == ("DRUG_A", "DRUG_B")
    assert config.network == paths["network"].resolve()
    assert config.clinical_columns["response_col"] == "response"
    assert config.covariates == ("age", "stage")


def test_toml_writer_round_trips_the_flat_shape() -> None:
    sections = {"a": {"path": 'x "y".tsv', "n": 3, "f": 0.5, "flag": False, "names": ["P", "Q"]}, "b": {}}
    text = _toml(sections)
    assert text.startswith('[a]\npath = "x \\"y\\".tsv"\nn = 3\nf = 0.5\nflag = false\nnames = ["P", "Q"]\n')
    assert tomllib.loads(text) == sections


# --------------------------------------------------------------------------------------------------- summary, CLI
def test_summary_names_counts_and_planted_pathways(cohort: SyntheticCohort) -> None:
    text = cohort.summary()
    assert "genes: 2000" in text and "pathways: 120" in text
    assert f"network: {len(cohort.network)} edges" in text
    assert "organoids: 30" in text
    assert "DRUG_A 100" in text and "200 untreated" in text
    assert f"{int(cohort.clinical['event'].sum())} events" in text
    for drug in cohort.drugs:
        assert ", ".join(cohort.planted(drug)) in text


def test_cli_demo_prints_summary_and_writes_the_cohort(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path), "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Synthetic cohort (seed 1" in out
    assert "planted pathways" in out
    assert (tmp_path / "cohort" / "config.toml").is_file()
    assert str(tmp_path / "cohort") in out


# --------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_genes": 50}, r"n_genes must be an integer >= 960 \(8 per pathway\); got 50"),
        ({"n_pathways": 3}, "n_pathways must be an integer >= 6; got 3"),
        ({"n_organoids": 2.5}, "n_organoids must be an integer >= 3; got 2.5"),
        ({"drugs": "DRUG_A"}, "drugs must be a sequence of names"),
        ({"drugs": ("A", "A")}, r"drugs must be distinct; \['A'\] appear more than once"),
        ({"drugs": ("A", " B")}, r"bad: \[' B'\]"),
        ({"drugs": tuple(f"D{i}" for i in range(30))}, "30 drugs need at least 186 pathways"),
        ({"effect": math.nan}, "effect must be a finite number"),
        ({"patient_effect": True}, "patient_effect must be a finite number"),
        ({"n_patients_treated": 1}, "fewer than the 2 drugs"),
        ({"random_state": "seed"}, "random_state must be an integer seed"),
    ],
)
def test_bad_arguments_raise_one_clear_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        make_synthetic_cohort(**kwargs)  # type: ignore[arg-type]


def test_planted_of_an_unknown_drug_names_the_known_ones(cohort: SyntheticCohort) -> None:
    with pytest.raises(InputError, match="drug 'DRUG_Z' is not in the cohort; it has DRUG_A, DRUG_B"):
        cohort.planted("DRUG_Z")


def test_written_config_carries_the_settings_it_is_run_with(tmp_path: Path) -> None:
    """The demo writes the settings it runs with, so `organoidrx run cohort/config.toml` reproduces it."""
    from organoidrx.pipeline import read_config

    cohort = make_synthetic_cohort(n_genes=300, n_pathways=20, n_organoids=8, random_state=0)
    paths = cohort.write(tmp_path, settings={"n_permutations": 200, "n_random_sets": 20})
    cfg = read_config(paths["config"])
    assert (cfg.n_permutations, cfg.n_random_sets, cfg.n_random) == (200, 20, 1000)
    assert read_config(cohort.write(tmp_path / "plain")["config"]).n_permutations == 1000
