"""scikit-learn compatible estimators fitted on preclinical (organoid) data."""

from organoidrx.models._bundle import ModelBundle, load_bundle, predict_from_bundle, save_bundle
from organoidrx.models._crossval import cross_validate_response
from organoidrx.models._response import (
    KONG2020_ALPHAS,
    DrugResponseModel,
    make_kong2020_pipeline,
)
from organoidrx.models._selection import (
    PROXIMITY_THRESHOLD,
    ProximalPathwaySelector,
    proximal_pathways,
)

__all__ = [
    "KONG2020_ALPHAS",
    "PROXIMITY_THRESHOLD",
    "DrugResponseModel",
    "ModelBundle",
    "ProximalPathwaySelector",
    "cross_validate_response",
    "load_bundle",
    "make_kong2020_pipeline",
    "predict_from_bundle",
    "proximal_pathways",
    "save_bundle",
]
