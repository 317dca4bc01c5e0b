"""Survival analysis, response metrics and permutation nulls."""

from organoidrx.evaluation._groups import (
    NON_RESPONDER,
    RESPONDER,
    ResponderSplit,
    assign_groups,
    prediction_cutoff,
    responder_mask,
    split_by_prediction,
)
from organoidrx.evaluation._logrank import LogrankKernel
from organoidrx.evaluation._monte_carlo import MonteCarloP, monte_carlo_p
from organoidrx.evaluation._multiple import bh_qvalues, smallest_rejectable_p
from organoidrx.evaluation._permutation import PermutationResult, permutation_test, permute_response
from organoidrx.evaluation._response import ResponseAUCResult, delong_variance, encode_response, response_auc
from organoidrx.evaluation._survival import (
    InteractionResult,
    SurvivalResult,
    default_horizon,
    survival_analysis,
    treatment_interaction,
)

__all__ = [
    "NON_RESPONDER",
    "RESPONDER",
    "InteractionResult",
    "LogrankKernel",
    "MonteCarloP",
    "PermutationResult",
    "ResponderSplit",
    "ResponseAUCResult",
    "SurvivalResult",
    "assign_groups",
    "bh_qvalues",
    "default_horizon",
    "delong_variance",
    "encode_response",
    "monte_carlo_p",
    "permutation_test",
    "permute_response",
    "prediction_cutoff",
    "responder_mask",
    "response_auc",
    "smallest_rejectable_p",
    "split_by_prediction",
    "survival_analysis",
    "treatment_interaction",
]
