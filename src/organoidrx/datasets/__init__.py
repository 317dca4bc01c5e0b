"""Synthetic cohorts for the offline demo and tests."""

from organoidrx.datasets._synthetic import SyntheticCohort, make_synthetic_cohort

__all__ = ["SyntheticCohort", "make_synthetic_cohort"]
