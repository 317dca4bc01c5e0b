"""scikit-learn compatible estimators fitted on preclinical (organoid) data."""

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
    "ProximalPathwaySelector",
    "cross_validate_response",
    "make_kong2020_pipeline",
    "proximal_pathways",
]
