"""Readers for the files scientists download: expression, gene sets, networks, targets, responses, clinical."""

__all__: list[str] = []
