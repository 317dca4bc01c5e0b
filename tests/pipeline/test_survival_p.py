"""Why survival.tsv's ``p`` is the larger of the log-rank and the whole-pipeline permutation p.

The permutation p is exact when the organoid responses carry no signal. When they do, and survival is unrelated to
the patients' scores, the models refitted on shuffled responses can split the patients alike (here: along a factor
that every pathway of the patients shares), while the observed model splits them along its own contrast; the
observed signed log-rank z is then compared with a null that is too narrow, and the permutation p falls below
0.05 more often than 5% of the time. The log-rank p of the observed split is valid there (the split never sees
survival), so the larger of the two stays at or below its level under either null. The pieces are the pipeline's
own: the model factory, the responder split, the log-rank kernel and the permutation test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import beta, norm

from organoidrx.evaluation import LogrankKernel, ResponderSplit, permutation_test
from organoidrx.models import chosen_pipeline, make_response_model

N_PERMUTATIONS = 99
N_SURVIVAL_DRAWS = 400


def _clopper_pearson(hits: int, n: int) -> tuple[float, float]:
    lower = beta.ppf(0.025, hits, n - hits + 1) if hits else 0.0
    upper = beta.ppf(0.975, hits + 1, n - hits) if hits < n else 1.0
    return float(lower), float(upper)


def test_the_permutation_p_alone_is_anticonservative_and_the_larger_p_is_not():
    rng = np.random.default_rng(1)
    n_organoids, n_patients, n_pathways = 20, 150, 10
    columns = [f"P{j}" for j in range(n_pathways)]
    organoids = pd.DataFrame(rng.normal(size=(n_organoids, n_pathways)), columns=columns)
    response = (
        organoids["P0"] - organoids["P1"] + 0.3 * rng.normal(size=n_organoids)
    )  # a real organoid signal
    shared = rng.normal(size=(n_patients, 1)) @ np.ones((1, n_pathways))  # one factor behind every pathway
    patients = shared + 0.3 * rng.normal(size=(n_patients, n_pathways))
    patients = pd.DataFrame((patients - patients.mean(0)) / patients.std(0), columns=columns)

    splits: list[np.ndarray | None] = []

    def statistic(y: pd.Series) -> float:  # records each fit's split; survival is drawn below
        model = make_response_model("ridge", 10, random_state=0).fit(organoids, y.to_numpy(dtype=float))
        predicted = chosen_pipeline(model)[-1].predict(patients)
        split = ResponderSplit(0.5, True, require_both=False).fit(predicted)
        splits.append(split.responders(predicted) if split.separates_ else None)
        return 0.0

    permutation_test(statistic, response, n_permutations=N_PERMUTATIONS, random_state=0)
    observed, shuffled = splits[0], splits[1:]
    assert observed is not None

    alone, larger = [], []
    for draw in range(N_SURVIVAL_DRAWS):  # survival independent of everything
        r = np.random.default_rng(1000 + draw)
        death, censoring = r.exponential(1.0, n_patients), r.uniform(0.0, 3.0, n_patients)
        kernel = LogrankKernel(np.minimum(death, censoring), (death <= censoring).astype(float))
        z = kernel.signed(observed)
        null = np.array([kernel.signed(m) if m is not None else math.nan for m in shuffled])
        at_least = (null >= z - 1e-9 * max(1.0, abs(z))) | np.isnan(null)  # as permutation_test counts
        permutation_p = (1 + at_least.sum()) / (N_PERMUTATIONS + 1)
        alone.append(permutation_p <= 0.05)
        larger.append(max(permutation_p, 2 * norm.sf(abs(z))) <= 0.05)  # the two-sided log-rank p

    low, _ = _clopper_pearson(sum(alone), N_SURVIVAL_DRAWS)
    _, high = _clopper_pearson(sum(larger), N_SURVIVAL_DRAWS)
    assert low > 0.05, sum(alone)  # measured 40 of 400: the permutation p alone overstates the evidence
    assert high < 0.05, sum(larger)  # measured 9 of 400
