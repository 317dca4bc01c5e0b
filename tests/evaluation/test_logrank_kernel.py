"""The vectorised log-rank statistic of the permutation loop against lifelines and R (survival::survdiff)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test

from organoidrx.evaluation import LogrankKernel

from ..conftest import shared_file


def _lifelines_chi2(time, event, group):
    return logrank_test(
        time[group], time[~group], event_observed_A=event[group], event_observed_B=event[~group]
    ).test_statistic


@pytest.mark.parametrize("seed", range(5))
def test_matches_lifelines_with_ties_and_censoring(seed):
    rng = np.random.default_rng(seed)
    n = 150
    time = rng.integers(1, 40, n).astype(float)  # many tied times
    event = rng.random(n) < 0.6
    kernel = LogrankKernel(time, event)
    for _ in range(5):
        group = rng.random(n) < 0.4
        assert kernel.chi2(group) == pytest.approx(_lifelines_chi2(time, event, group), rel=1e-10, abs=1e-12)


def test_sign_is_positive_when_group_lives_longer():
    time = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    event = np.ones(8, dtype=bool)
    late = np.array([False] * 4 + [True] * 4)
    assert LogrankKernel(time, event).signed(late) > 0
    assert LogrankKernel(time, event).signed(~late) < 0


def test_hand_checked_two_by_two():
    # Times 1 (group 1 dies) and 2 (group 0 dies), two patients: U = 1/2 - 1 at t=1, 0 at t=2 (n=1); V = 1/4.
    kernel = LogrankKernel(np.array([1.0, 2.0]), np.array([1, 1]))
    assert kernel.signed(np.array([True, False])) == pytest.approx(-0.5 / 0.5)


def test_colon_trial_matches_r(shared_data):
    path = shared_file(shared_data, "survival_colon/colon_levamisole_5fu_trial_moertel.csv")
    colon = pd.read_csv(path)
    colon = colon[colon["rx"].isin(["Obs", "Lev+5FU"])]
    group = (colon["rx"] == "Lev+5FU").to_numpy()
    kernel = LogrankKernel(colon["Stime"].to_numpy(), colon["event"].to_numpy())
    assert len(colon) == 619
    # R 4.x: survdiff(Surv(time, status) ~ rx, data = colon[colon$etype == 2 & colon$rx != "Lev", ])
    assert kernel.chi2(group) == pytest.approx(9.965666, abs=1e-4)
    assert kernel.signed(group) > 0  # Lev+5FU lives longer


def test_no_events_is_not_estimable():
    time = np.arange(1.0, 11.0)
    kernel = LogrankKernel(time, np.zeros(10))
    assert np.isnan(kernel.signed(time > 5)) and np.isnan(kernel.chi2(time > 5))
    # one event, but only one group is still at risk then: V = 0 as well
    assert np.isnan(LogrankKernel(time, (time == 10).astype(float)).signed(time < 10))
