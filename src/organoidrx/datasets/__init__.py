"""Synthetic cohorts for the offline demo and tests."""

__all__: list[str] = []
