"""Per-sample pathway scores: the shared runner and every registered scorer.

Sample-independent (a sample's score depends on that sample alone): ssGSEA, singscore. Cohort-dependent (each
gene is first compared across the samples scored together): GSVA, z-score, PLAGE, mean_z, and ssGSEA with
``normalize="range"``. The organoid cross-validations of ``run`` and ``compare`` score a cohort-dependent scorer's
training organoids without the held-out one in every fold (:func:`rescorer`), so no held-out expression enters
the features a model is trained on.
"""

from organoidrx.scoring._base import MAX_SIZE, MIN_SIZE, ScoringInput, rescorer, score, streams

# isort: off
# Import order is registration order: the order `organoidrx methods` lists them, and the first is the default.
from organoidrx.scoring._ssgsea import ssgsea
from organoidrx.scoring._singscore import singscore
from organoidrx.scoring._gsva import gsva
from organoidrx.scoring._zscore import zscore
from organoidrx.scoring._plage import plage
from organoidrx.scoring._mean_z import mean_z

# isort: on
from organoidrx.scoring._streaming import (
    MemoryModel,
    ScoringPlan,
    StreamedScores,
    plan_scoring,
    score_file,
)

__all__ = [
    "MAX_SIZE",
    "MIN_SIZE",
    "MemoryModel",
    "ScoringInput",
    "ScoringPlan",
    "StreamedScores",
    "gsva",
    "mean_z",
    "plage",
    "plan_scoring",
    "rescorer",
    "score",
    "score_file",
    "singscore",
    "ssgsea",
    "streams",
    "zscore",
]
