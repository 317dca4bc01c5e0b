"""Per-sample pathway scores: the shared runner and every registered scorer.

Sample-independent (a sample's score depends on that sample alone): ssGSEA, singscore. Cohort-dependent (each
gene is first compared across the samples scored together): GSVA.
"""

from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, score

# isort: off
# Import order is registration order: the order `organoidrx methods` lists them, and the first is the default.
from organoidrx.scoring._ssgsea import ssgsea
from organoidrx.scoring._singscore import singscore
from organoidrx.scoring._gsva import gsva

# isort: on

__all__ = ["MAX_SIZE", "MIN_SIZE", "ScoringInput", "gsva", "score", "singscore", "ssgsea"]
