"""Per-sample pathway scores (ssGSEA)."""

__all__: list[str] = []
