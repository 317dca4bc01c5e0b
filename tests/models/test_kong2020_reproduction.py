"""Real data: the Kong et al. (2020) 5-fluorouracil organoid models reproduce the authors' coefficients.

Inputs (read in place from the shared data folder): the authors' gseapy 0.9 organoid ssGSEA scores, their
STRING > 700 proximity z-scores (column FLUOROURACIL) and the organoid median IC50s. Their script
(``python/multiple_pathway_prediction.py`` of billy-kong/organoid_biomarker_detection) read the *normalised* ES,
z-standardised the proximal pathways over the 19 organoids with an IC50 (StandardScaler, ddof=0) and fitted
``RidgeCV(cv=3, alphas=np.arange(0.1, 1, 0.1))``, ``SVR(kernel='linear')`` and ``LinearRegression()``;
``multi_pathway_coefficients.tsv`` lists each model's coefficient per pathway.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from organoidrx.models import make_kong2020_pipeline, proximal_pathways

from ..conftest import shared_file

_MODELS = {"ridge": "Ridge", "svr": "SVR", "linear": "LinearRegression"}


def _read_es(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", comment="#", index_col=0).T  # pathways x samples on disk


@pytest.fixture(scope="module")
def kong(shared_data: Path) -> dict[str, pd.DataFrame | pd.Series]:
    ref = shared_data / "kong2020" / "reference_outputs"
    zscores = pd.read_csv(shared_file(ref, "proximity_zscores_string700_reactome.tsv"), sep="\t")
    proximity = zscores.melt(id_vars="Pathway", var_name="drug", value_name="z").rename(
        columns={"Pathway": "pathway"}
    )
    ic50 = pd.read_csv(shared_file(shared_data, "kong2020/organoid_coad/ic50_median.tsv"), sep="\t")
    fu = ic50[ic50["Drug Name"] == "5-Fluorouracil"]
    response = pd.Series(fu["median_IC50"].to_numpy(), index=fu["Organoid"].str.upper(), name="IC50")
    return {
        "proximity": proximity,
        "normalized": _read_es(shared_file(ref, "organoid_ssgsea_normalized_es.tsv")),
        "raw": _read_es(shared_file(ref, "organoid_ssgsea_raw_es.tsv")),
        "response": response,
        "coefficients": pd.read_csv(shared_file(ref, "multi_pathway_coefficients.tsv"), sep="\t"),
    }


@pytest.mark.shared_data
@pytest.mark.parametrize("scores", ["normalized", "raw"])
@pytest.mark.parametrize("model", ["ridge", "svr", "linear"])
def test_coefficients_match_the_authors(kong, model, scores):
    response = kong["response"]
    es = kong["normalized" if scores == "normalized" else "raw"]
    assert len(response) == 19 and set(response.index) <= set(es.index)
    proximal = proximal_pathways(kong["proximity"])["FLUOROURACIL"]
    assert len(proximal) == 38  # one of them has no ssGSEA score in the organoid data
    X = es.loc[response.index]
    pipe = make_kong2020_pipeline(model, proximity=kong["proximity"], drug="FLUOROURACIL")
    pipe.fit(X, response)
    assert pipe.named_steps["select"].selected_features_.size == 37
    ours = pipe.named_steps["model"].ranking_.set_index("feature")["coefficient"]
    ref = kong["coefficients"]
    theirs = ref[ref["ML"] == _MODELS[model]].set_index("pathway")["reg_coef"]
    assert len(theirs) == 37 and set(ours.index) == set(theirs.index)
    np.testing.assert_allclose(ours[theirs.index].to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-12)
    if model == "ridge":
        assert pipe.named_steps["model"].full_estimator_.alpha_ == pytest.approx(0.9)


@pytest.mark.shared_data
def test_cross_validation_runs_on_the_authors_scores(kong):
    """The organoid-side check on real data: proximal set vs size-matched random sets, refitted per fold."""
    from organoidrx.models import cross_validate_response

    response = kong["response"].rename("FLUOROURACIL")
    proximal = proximal_pathways(kong["proximity"])
    out = cross_validate_response(
        kong["normalized"], response, feature_sets={"proximal": proximal}, n_random=20, random_state=1
    )
    table = out.set_index("feature_set")
    assert table.loc["proximal", "n_features"] == 37 and table.loc["proximal", "n_samples"] == 19
    assert table.loc["all_pathways", "n_features"] == kong["normalized"].shape[1]
    assert 1 / 21 <= table.loc["proximal", "random_p"] <= 1
    q025, q975 = table.loc["proximal", ["random_spearman_q025", "random_spearman_q975"]]
    assert -1 <= q025 <= table.loc["proximal", "random_spearman_median"] <= q975 <= 1
    # raw and normalised ES differ by one constant factor, which standardisation inside each fold removes
    raw = cross_validate_response(
        kong["raw"], response, feature_sets={"proximal": proximal}, n_random=20, random_state=1
    )
    pd.testing.assert_frame_equal(out, raw, rtol=1e-9)
