"""Survival analysis, response metrics and permutation nulls."""

__all__: list[str] = []
