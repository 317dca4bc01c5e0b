"""Per-sample pathway scores (ssGSEA)."""

from organoidrx.scoring._ssgsea import ssgsea

__all__ = ["ssgsea"]
