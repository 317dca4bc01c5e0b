"""Per-sample pathway scores: the shared runner and every registered scorer (ssGSEA, ...)."""

from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, score
from organoidrx.scoring._ssgsea import ssgsea

__all__ = ["MAX_SIZE", "MIN_SIZE", "ScoringInput", "score", "ssgsea"]
