"""scikit-learn compatible estimators fitted on preclinical (organoid) data, alignments and patient prediction."""

from organoidrx.models import _regressors  # noqa: F401  (registers the built-in response models)
from organoidrx.models._alignment import (
    column_scale,
    combat_to_reference,
    quantile_to_reference,
    standardize_columns,
)
from organoidrx.models._bundle import ModelBundle, load_bundle, predict_from_bundle, save_bundle
from organoidrx.models._crossval import cross_validate_response, loo_predict
from organoidrx.models._kernel import KERNELS, KernelRidgeLOO
from organoidrx.models._nested import (
    NestedModelSelector,
    candidate_settings,
    chosen_pipeline,
    make_nested_selector,
    make_response_model,
    selection_record,
    selection_table,
)
from organoidrx.models._precise import (
    PreciseConsensus,
    precise_align,
    precise_consensus,
    precise_refit_predict,
)
from organoidrx.models._predict import (
    align_cohort,
    fit_drug_model,
    in_memory_bundle,
    patient_reference,
    predict_cohort,
)
from organoidrx.models._response import (
    KONG2020_ALPHAS,
    DrugResponseModel,
    make_kong2020_pipeline,
    make_response_pipeline,
)
from organoidrx.models._selection import (
    PROXIMITY_THRESHOLD,
    ProximalPathwaySelector,
    proximal_pathways,
)

__all__ = [
    "KERNELS",
    "KONG2020_ALPHAS",
    "PROXIMITY_THRESHOLD",
    "DrugResponseModel",
    "KernelRidgeLOO",
    "ModelBundle",
    "NestedModelSelector",
    "PreciseConsensus",
    "ProximalPathwaySelector",
    "align_cohort",
    "candidate_settings",
    "chosen_pipeline",
    "column_scale",
    "combat_to_reference",
    "cross_validate_response",
    "fit_drug_model",
    "in_memory_bundle",
    "load_bundle",
    "loo_predict",
    "make_kong2020_pipeline",
    "make_nested_selector",
    "make_response_model",
    "make_response_pipeline",
    "patient_reference",
    "precise_align",
    "precise_consensus",
    "precise_refit_predict",
    "predict_cohort",
    "predict_from_bundle",
    "proximal_pathways",
    "quantile_to_reference",
    "save_bundle",
    "selection_record",
    "selection_table",
    "standardize_columns",
]
