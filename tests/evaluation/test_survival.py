"""Survival analysis: known answers from R `survival` (colon trial), hand-worked log-rank, warnings, errors."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from organoidrx._utils import InputError
from organoidrx.evaluation import (
    NON_RESPONDER,
    RESPONDER,
    LogrankKernel,
    default_horizon,
    survival_analysis,
    treatment_interaction,
)

# R code producing these numbers: tests/evaluation/colon_reference.R
R_OS_CHISQ, R_OS_P = 9.965666, 0.00159486
R_KM_5Y = {"Lev+5FU": 0.6340147, "Obs": 0.5256685}
R_RECURRENCE_CHISQ, R_RECURRENCE_P = 18.134724, 2.05814e-05


def _colon(shared_data) -> pd.DataFrame:
    path = shared_data / "survival_colon" / "colon_levamisole_5fu_trial_moertel.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    table = pd.read_csv(path)
    return table[table["rx"].isin(["Obs", "Lev+5FU"])].reset_index(drop=True)


def test_colon_overall_survival_matches_r(shared_data):
    colon = _colon(shared_data)
    result = survival_analysis(colon, "rx", duration_col="Stime", event_col="event", reference_group="Obs")
    assert sum(result.n.values()) == 619
    assert result.logrank_chi2 == pytest.approx(R_OS_CHISQ, abs=1e-4)
    assert result.logrank_p == pytest.approx(R_OS_P, abs=1e-6)
    assert result.horizon == 1826.25
    for label, expected in R_KM_5Y.items():
        assert result.survival_at_horizon[label] == pytest.approx(expected, abs=1e-4)
    row = result.to_frame().iloc[0]
    assert row["responder_label"] == "Lev+5FU" and row["non_responder_label"] == "Obs"
    assert row["survival_at_horizon_responder"] == pytest.approx(R_KM_5Y["Lev+5FU"], abs=1e-4)
    assert result.hazard_ratio < 1 and result.hr_ci_lower < result.hazard_ratio < result.hr_ci_upper
    # the Wald test of the Cox model agrees with the log-rank (score) test at this sample size
    assert result.cox_p == pytest.approx(R_OS_P, rel=0.2)


def test_colon_recurrence_matches_r(shared_data):
    colon = _colon(shared_data)
    groups = colon["rx"].copy()
    result = survival_analysis(colon, groups, duration_col="time1", event_col="event1", reference_group="Obs")
    assert result.logrank_chi2 == pytest.approx(R_RECURRENCE_CHISQ, abs=1e-4)
    assert result.logrank_p == pytest.approx(R_RECURRENCE_P, rel=1e-4)


def test_colon_adjusted_cox_with_categorical_covariate(shared_data):
    colon = _colon(shared_data).assign(extent=lambda d: d["extent"].map({1: "I", 2: "II", 3: "III", 4: "IV"}))
    before = colon.copy()
    result = survival_analysis(
        colon, "rx", duration_col="Stime", reference_group="Obs", covariates=["age", "extent", "node4"]
    )
    pd.testing.assert_frame_equal(colon, before)  # no mutation
    assert result.cox_terms == ["group", "age", "extent=II", "extent=III", "extent=IV", "node4"]
    assert result.n_cox == 619 and result.events_per_variable == pytest.approx(291 / 6)
    assert 0.5 < result.hazard_ratio < 0.9 and result.cox_p < 0.01


def test_survival_at_the_horizon_has_the_greenwood_log_log_interval(shared_data):
    """The written 95% interval of 5-year survival, against Greenwood's formula on the log(-log) scale by hand:
    V = sum over event times t <= h of d / (n (n - d)), se = sqrt(V) / |log S|, S^exp(+-1.96 se)."""
    from scipy.stats import norm

    colon = _colon(shared_data)
    row = survival_analysis(colon, "rx", duration_col="Stime", event_col="event", reference_group="Obs")
    row = row.to_frame().iloc[0]
    horizon = 5 * 365.25
    for label, side in (("Lev+5FU", "responder"), ("Obs", "non_responder")):
        group = colon[colon["rx"] == label]
        times = np.sort(group.loc[(group["event"] == 1) & (group["Stime"] <= horizon), "Stime"].unique())
        at_risk = np.array([(group["Stime"] >= t).sum() for t in times])
        deaths = np.array([((group["Stime"] == t) & (group["event"] == 1)).sum() for t in times])
        surv = np.prod(1 - deaths / at_risk)
        se = np.sqrt(np.sum(deaths / (at_risk * (at_risk - deaths)))) / abs(np.log(surv))
        z = norm.ppf(0.975)
        assert row[f"survival_at_horizon_{side}"] == pytest.approx(surv, rel=1e-12)
        assert row[f"survival_at_horizon_{side}_ci_lower"] == pytest.approx(surv ** np.exp(z * se), rel=1e-9)
        assert row[f"survival_at_horizon_{side}_ci_upper"] == pytest.approx(surv ** np.exp(-z * se), rel=1e-9)


def test_a_log_rank_without_information_is_not_estimable():
    """Every event happens after the other group's follow-up has ended: at each event time one group alone is at
    risk, so O - E = 0 and V = 0. lifelines reports chi2 0 (p 1) from 0 / 0; the test has no information, as
    the permutation test's kernel says (NaN)."""
    clinical = pd.DataFrame(
        {"time": [10.0, 11.0, 12.0, 1.0, 2.0, 3.0], "event": [1, 1, 1, 0, 0, 0]}, index=list("abcdef")
    )
    groups = pd.Series([RESPONDER] * 3 + [NON_RESPONDER] * 3, index=list("abcdef"))
    result = survival_analysis(clinical, groups, horizon=5)
    assert math.isnan(result.logrank_chi2) and math.isnan(result.logrank_p)
    assert any("a group has no patient at risk" in w for w in result.warnings)
    kernel = LogrankKernel(clinical["time"].to_numpy(), clinical["event"].to_numpy())
    assert math.isnan(kernel.signed(np.array([True] * 3 + [False] * 3)))
    # every patient dies at one time: both groups at risk, but d = n leaves V = 0 all the same
    together = survival_analysis(clinical.assign(time=3.0, event=1), groups, horizon=5)
    assert math.isnan(together.logrank_p)
    assert any("or every patient at risk has the event" in w for w in together.warnings)


def test_events_per_parameter_count_only_the_fitted_coefficients(shared_data):
    """A constant covariate and a dummy collinear with the others are left out of the Cox fit, so they do not
    count as parameters nor as covariates adjusted for (the colon trial: group, age and a constant site; extent
    given twice)."""
    colon = _colon(shared_data).assign(site=1.0, extent2=lambda d: d["extent"])
    result = survival_analysis(
        colon,
        "rx",
        duration_col="Stime",
        reference_group="Obs",
        covariates=["age", "site", "extent", "extent2"],
    )
    assert result.n_cox == 619 and result.events_per_variable == pytest.approx(291 / 3)
    # the table, the report and the plots say what the model adjusted for, not what was asked
    assert result.adjusted_for == ["age", "extent"] and result.to_dict()["adjusted_for"] == "age;extent"
    joint = _trial(2, predictive=True, n=40).assign(site=1.0)  # treatment, group, interaction; site constant
    events = int(joint["event"].sum())
    assert events / 3 < 10
    interaction = treatment_interaction(joint, "group", "treated", covariates=["site"])
    assert any(f"has {events / 3:.1f} events per parameter" in w for w in interaction.warnings)


def _hand_case() -> tuple[pd.DataFrame, pd.Series]:
    clinical = pd.DataFrame(
        {"patient": ["a", "b", "c", "d"], "time": [1.0, 2.0, 3.0, 4.0], "event": [1, 1, 1, 1]}
    )
    groups = pd.Series([NON_RESPONDER, NON_RESPONDER, RESPONDER, RESPONDER], index=["a", "b", "c", "d"])
    return clinical, groups


def test_logrank_and_km_worked_by_hand():
    # Non-responders die at t=1, 2; responders at t=3, 4. For the non-responder group:
    # t=1: n=4, n_A=2, d=1 -> E=1/2, V=2*2*1*3/(16*3)=1/4; t=2: n=3, n_A=1 -> E=1/3, V=1*2*1*2/(9*2)=2/9.
    # O-E = 2 - 5/6 = 7/6, V = 17/36, chi2 = (49/36)/(17/36) = 49/17.
    clinical, groups = _hand_case()
    result = survival_analysis(clinical, groups, horizon=2.5)
    assert result.logrank_chi2 == pytest.approx(49 / 17)
    assert result.groups == (RESPONDER, NON_RESPONDER)
    assert result.survival_at_horizon[RESPONDER] == 1.0
    assert result.survival_at_horizon[NON_RESPONDER] == 0.0
    assert result.n == {RESPONDER: 2, NON_RESPONDER: 2} and result.events == {RESPONDER: 2, NON_RESPONDER: 2}
    km = result.km[NON_RESPONDER].survival_function_
    assert km.loc[1.0].iloc[0] == pytest.approx(0.5)
    assert result.hazard_ratio < 1  # responders die later
    assert any("fewer than 10 patients" in w for w in result.warnings)
    assert any("events per parameter" in w for w in result.warnings)


def test_reference_group_flips_hazard_ratio():
    rng = np.random.default_rng(1)
    n = 60
    clinical = pd.DataFrame({"time": rng.exponential(10, n), "event": rng.integers(0, 2, n)})
    groups = pd.Series(np.where(rng.random(n) < 0.5, "x", "y"))
    groups.index = groups.index.astype(str)
    clinical.index = clinical.index.astype(str)
    r_x = survival_analysis(clinical, groups, reference_group="x")
    r_y = survival_analysis(clinical, groups, reference_group="y")
    assert r_x.groups == ("y", "x")
    assert r_x.hazard_ratio == pytest.approx(1 / r_y.hazard_ratio, rel=1e-6)
    assert r_x.hr_ci_lower == pytest.approx(1 / r_y.hr_ci_upper, rel=1e-6)
    assert r_x.logrank_chi2 == pytest.approx(r_y.logrank_chi2)
    assert survival_analysis(clinical, groups).groups == (
        "y",
        "x",
    )  # default: first sorted label is reference


def test_default_horizon_conversions():
    assert default_horizon("days") == 1826.25
    assert default_horizon("months") == 60
    assert default_horizon("years") == 5
    assert default_horizon("weeks") == pytest.approx(1826.25 / 7)
    with pytest.raises(InputError, match="time_unit must be one of"):
        default_horizon("fortnights")  # type: ignore[arg-type]


def test_times_implausible_in_their_unit_are_pointed_out():
    clinical, groups = _hand_case()
    days = clinical.assign(time=clinical["time"] * 1000.0)  # up to thousands of days, labelled months
    result = survival_analysis(days, groups, time_unit="months")
    assert any("longest follow-up is" in w and "if the times are not in months" in w for w in result.warnings)
    assert not any("longest follow-up" in w for w in survival_analysis(days, groups).warnings)  # days: fine


def test_horizon_beyond_follow_up_is_nan_with_warning():
    clinical, groups = _hand_case()
    clinical = clinical.assign(event=[1, 1, 1, 0])  # last responder censored at t=4
    result = survival_analysis(clinical, groups, horizon=5.0)
    assert math.isnan(result.survival_at_horizon[RESPONDER])
    assert any("before the horizon" in w and RESPONDER in w for w in result.warnings)
    # all non-responders died by t=2: their KM curve is 0 and stays defined beyond the last time
    assert result.survival_at_horizon[NON_RESPONDER] == 0.0
    assert not any(NON_RESPONDER in w and "horizon" in w for w in result.warnings)
    assert survival_analysis(clinical, groups, horizon=3.5).survival_at_horizon[RESPONDER] == pytest.approx(
        0.5
    )


def test_unmatched_and_missing_patients_are_reported(caplog):
    rng = np.random.default_rng(3)
    n = 40
    ids = [f"p{i}" for i in range(n)]
    clinical = pd.DataFrame({"time": rng.exponential(5, n), "event": rng.integers(0, 2, n)}, index=ids)
    clinical.iloc[0, 0] = np.nan
    groups = pd.Series([RESPONDER, NON_RESPONDER] * (n // 2), index=ids)
    groups = groups.drop(["p1", "p2"])
    groups["q9"] = RESPONDER
    groups["p3"] = None
    with caplog.at_level(logging.WARNING):
        result = survival_analysis(clinical, groups)
    assert sum(result.n.values()) == n - 4
    joined = " ".join(result.warnings)
    assert "1 patients in groups have no row in clinical" in joined
    assert "2 patients in clinical have no group label" in joined
    assert "1 patients have a missing group label" in joined
    assert "1 patients have a missing 'time'" in joined
    assert "have no row in clinical" in caplog.text


def test_c_index_direction():
    time = np.arange(1.0, 21.0)
    clinical = pd.DataFrame({"time": time, "event": 1})
    clinical.index = clinical.index.astype(str)
    ic50 = pd.Series(-time, index=clinical.index)  # lowest IC50 lives longest
    groups = pd.Series(np.where(ic50 <= ic50.median(), RESPONDER, NON_RESPONDER), index=clinical.index)
    assert survival_analysis(clinical, groups, prediction=ic50).c_index == pytest.approx(1.0)
    assert survival_analysis(
        clinical, groups, prediction=ic50, lower_is_sensitive=False
    ).c_index == pytest.approx(0.0)
    assert math.isnan(survival_analysis(clinical, groups).c_index)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c.assign(event=[2, 3, 1, 0]),
            r"column 'event' must be 0/1 or boolean; found values \{2, 3\}",
        ),
        (lambda c: c.assign(time=[-1.0, 2, 3, 4]), "negative times"),
        (lambda c: c.assign(time=[np.inf, 2, 3, 4]), r"1 infinite times \(patients 'a'\)"),
        (lambda c: c.drop(columns="event"), r"missing columns \['event'\]"),
        (lambda c: c.assign(patient=["a", "a", "c", "d"]), "duplicated patient ids"),
    ],
)
def test_bad_clinical_input(change, message):
    clinical, groups = _hand_case()
    with pytest.raises(InputError, match=message):
        survival_analysis(change(clinical), groups)


def test_bad_groups():
    clinical, groups = _hand_case()
    with pytest.raises(InputError, match="exactly two labels"):
        survival_analysis(clinical, pd.Series(["x", "y", "z", "x"], index=groups.index))
    with pytest.raises(InputError, match="reference_group='nope'"):
        survival_analysis(clinical, groups, reference_group="nope")
    with pytest.raises(InputError, match="is not a column of clinical"):
        survival_analysis(clinical, "arm")
    with pytest.raises(InputError, match="covariates"):
        survival_analysis(clinical, groups, covariates=["age"])


def _trial(seed: int, predictive: bool, n: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.5
    responder = rng.random(n) < 0.5
    if predictive:  # the signature marks who benefits from the drug; no effect without it
        log_hr = np.where(treated & responder, np.log(0.4), 0.0)
    else:  # prognostic: responders do better whatever the treatment
        log_hr = np.where(responder, np.log(0.5), 0.0)
    event_time = rng.exponential(1.0, n) / np.exp(log_hr)
    censor = rng.exponential(2.0, n)
    return pd.DataFrame(
        {
            "patient": [f"p{i}" for i in range(n)],
            "time": np.minimum(event_time, censor),
            "event": (event_time <= censor).astype(int),
            "treated": treated,
            "group": np.where(responder, RESPONDER, NON_RESPONDER),
        }
    )


def test_interaction_detects_predictive_signature():
    trial = _trial(0, predictive=True)
    result = treatment_interaction(trial, "group", "treated")
    assert result.interaction_p < 0.001
    assert result.interaction_ci_lower < 0.4 < result.interaction_ci_upper
    assert result.hr_untreated_ci_lower < 1.0 < result.hr_untreated_ci_upper
    assert result.hr_treated < 0.6
    # separate baselines per arm: close to, not exactly, the joint model's interaction
    assert result.hr_treated / result.hr_untreated == pytest.approx(result.interaction_hr, rel=0.15)
    assert result.n["treated"] + result.n["untreated"] == 800
    assert len(result.to_frame()) == 1


def test_interaction_null_for_prognostic_signature():
    trial = _trial(1, predictive=False)
    result = treatment_interaction(trial, "group", trial.set_index("patient")["treated"].astype(int))
    assert result.interaction_ci_lower < 1.0 < result.interaction_ci_upper
    assert result.hr_treated < 0.7 and result.hr_untreated < 0.7


def test_interaction_needs_both_arms():
    trial = _trial(2, predictive=False, n=50).assign(treated=True)
    with pytest.raises(InputError, match="needs treated and untreated patients"):
        treatment_interaction(trial, "group", "treated")
    with pytest.raises(InputError, match="treated must be 0/1 or boolean"):
        treatment_interaction(trial.assign(treated="yes"), "group", "treated")


def test_an_interaction_the_data_cannot_estimate_has_no_hazard_ratio():
    """Every untreated patient in one group: the interaction is aliased with the main effects, which R's coxph
    keeps (the interaction is NA); the interaction must not be reported as the group's effect among the treated."""
    trial = _trial(6, predictive=True)
    trial = trial[trial["treated"] | (trial["group"] == NON_RESPONDER)]
    result = treatment_interaction(trial, "group", "treated")
    assert math.isnan(result.interaction_hr) and math.isnan(result.interaction_p)
    assert math.isfinite(result.hr_treated)
    assert any("'interaction' is collinear with the model's other terms" in w for w in result.warnings)


def test_an_arm_emptied_by_missing_covariates_is_refused():
    trial = _trial(7, predictive=True).assign(age=lambda d: np.where(d["treated"], 60.0, np.nan))
    with pytest.raises(InputError, match=r"found \d+ treated and 0 untreated with a time, an event"):
        treatment_interaction(trial, "group", "treated", covariates=["age"])


def test_a_covariate_s_unit_does_not_make_it_collinear():
    """A count in units of 1e-12 beside age in days is kept, as lifelines keeps it (same hazard ratio)."""
    from lifelines import CoxPHFitter

    trial = _trial(8, predictive=False, n=400)
    rng = np.random.default_rng(9)
    trial = trial.assign(
        age=rng.normal(60, 10, len(trial)) * 365.25, marker=rng.poisson(3, len(trial)) * 1e-12
    )
    result = survival_analysis(trial, "group", covariates=["age", "marker"])
    assert result.cox_terms == ["group", "age", "marker"]
    design = trial.assign(group=(trial["group"] == RESPONDER).astype(float))[
        ["time", "event", "group", "age", "marker"]
    ]
    hand = CoxPHFitter().fit(design.assign(marker=design["marker"] * 1e12), "time", "event")
    assert result.hazard_ratio == pytest.approx(math.exp(hand.params_["group"]), rel=1e-6)


def test_interaction_with_covariate_and_tidy_row():
    trial = _trial(3, predictive=True).assign(
        age=lambda d: np.random.default_rng(9).normal(60, 10, len(d)),
        stage=lambda d: np.where(np.arange(len(d)) % 3 == 0, "III", "II"),
    )
    result = treatment_interaction(trial, "group", "treated", covariates=["age", "stage"])
    assert result.cox is not None
    assert {"treated", "interaction", "age", "stage=III"} <= set(result.cox.params_.index)
    assert result.interaction_p < 0.01
    row = result.to_frame()
    assert list(row.columns[:2]) == ["responder_label", "non_responder_label"]
    assert row.loc[0, "responder_label"] == RESPONDER


def test_survival_tidy_row_columns():
    clinical, groups = _cohort_for_row()
    row = survival_analysis(clinical, groups).to_frame()
    expected = {
        "n_responder",
        "n_non_responder",
        "events_responder",
        "events_non_responder",
        "logrank_chi2",
        "logrank_p",
        "hazard_ratio",
        "hr_ci_lower",
        "hr_ci_upper",
        "cox_p",
        "c_index",
        "survival_at_horizon_responder",
        "survival_at_horizon_non_responder",
        "warnings",
    }
    assert expected <= set(row.columns) and len(row) == 1


def _cohort_for_row() -> tuple[pd.DataFrame, pd.Series]:
    trial = _trial(4, predictive=False, n=120)
    return trial[["patient", "time", "event"]], trial.set_index("patient")["group"]


def test_all_censored_cohort_gives_nan_statistics_with_notes():
    clinical = pd.DataFrame(
        {"time": np.arange(1, 21, dtype=float), "event": [0] * 20}, index=[f"p{i}" for i in range(20)]
    )
    groups = pd.Series(["predicted responder"] * 10 + ["predicted non-responder"] * 10, index=clinical.index)
    prediction = pd.Series(np.linspace(0, 1, 20), index=clinical.index)
    result = survival_analysis(clinical, groups, prediction=prediction)
    assert np.isnan(result.logrank_p) and np.isnan(result.logrank_chi2)
    assert np.isnan(result.hazard_ratio) and np.isnan(result.c_index)
    assert result.events == {"predicted responder": 0, "predicted non-responder": 0}
    text = " ".join(result.warnings)
    assert "log-rank test is not estimable" in text and "C-index is not estimable" in text


def test_unadjusted_hazard_ratio_is_the_group_only_cox_model():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(0)
    n = 200
    clinical = pd.DataFrame(
        {
            "time": rng.exponential(100, n),
            "event": rng.integers(0, 2, n),
            "age": rng.normal(60, 10, n),
            "stage": rng.choice(["II", "III"], n),
        },
        index=[f"p{i}" for i in range(n)],
    )
    groups = pd.Series(
        np.where(rng.random(n) < 0.5, RESPONDER, "predicted non-responder"), index=clinical.index
    )
    adjusted = survival_analysis(clinical, groups, covariates=["age", "stage"], horizon=50)
    alone = CoxPHFitter().fit(
        clinical[["time", "event"]].assign(group=(groups == RESPONDER).astype(float)), "time", "event"
    )
    assert adjusted.adjusted_for == ["age", "stage"]
    assert adjusted.hazard_ratio_unadjusted == pytest.approx(np.exp(alone.params_["group"]), rel=1e-10)
    lower, upper = np.exp(alone.confidence_intervals_.loc["group"])
    assert (adjusted.hr_unadjusted_ci_lower, adjusted.hr_unadjusted_ci_upper) == pytest.approx((lower, upper))
    assert adjusted.hazard_ratio != pytest.approx(adjusted.hazard_ratio_unadjusted, rel=1e-6)
    row = adjusted.to_frame().iloc[0]
    assert row["adjusted_for"] == "age;stage" and row["cox_p_unadjusted"] == adjusted.cox_p_unadjusted
    plain = survival_analysis(clinical, groups, horizon=50)
    assert plain.adjusted_for == [] and plain.hazard_ratio_unadjusted == plain.hazard_ratio


def test_a_reference_level_absent_from_an_arm_is_reparametrised_not_failed():
    """Stage I only among the untreated (as in adjuvant 5-FU cohorts): the treated arm's model has every other
    stage, whose dummies add up to one; one is left out (aliased), and the group's hazard ratio is the one of
    any reference level (lifelines fitted by hand with stage II as reference)."""
    from lifelines import CoxPHFitter

    trial = _trial(4, predictive=True)
    rng = np.random.default_rng(5)
    stage = np.where(
        trial["treated"],
        rng.choice(["II", "III", "IV"], len(trial)),
        rng.choice(["I", "II", "III", "IV"], len(trial)),
    )
    trial = trial.assign(stage=stage)
    result = treatment_interaction(trial, "group", "treated", covariates=["stage"])
    treated = trial[trial["treated"]].assign(group=lambda d: (d["group"] == RESPONDER).astype(float))
    design = pd.concat(
        [
            treated[["time", "event", "group"]],
            pd.get_dummies(treated["stage"], prefix="s", drop_first=True, dtype=float),
        ],
        axis=1,
    )
    hand = CoxPHFitter().fit(design, "time", "event")
    assert result.hr_treated == pytest.approx(math.exp(hand.params_["group"]), rel=1e-6)
    assert any("'stage=IV' are collinear with the others" in w for w in result.warnings)
    # an unused first category of a Categorical: the same, in survival_analysis
    clinical = trial.assign(stage=pd.Categorical(trial["stage"], categories=["0", "I", "II", "III", "IV"]))
    single = survival_analysis(clinical, "group", covariates=["stage"])
    assert math.isfinite(single.hazard_ratio) and single.cox_terms == [
        "group",
        "stage=I",
        "stage=II",
        "stage=III",
    ]


def test_a_group_without_events_has_no_hazard_ratio():
    """30 censored patients as the responders: the log-rank test holds, a Cox fit would run to 0 with (0, inf)."""
    rng = np.random.default_rng(6)
    n = 80
    clinical = pd.DataFrame({"patient": [f"p{i}" for i in range(n)], "time": rng.exponential(10, n) + 1,
                             "event": np.r_[np.zeros(30, int), np.ones(50, int)]})  # fmt: skip
    groups = pd.Series(np.r_[[RESPONDER] * 30, [NON_RESPONDER] * 50], index=clinical["patient"])
    result = survival_analysis(clinical, groups)
    assert result.logrank_p < 0.05 and math.isnan(result.hazard_ratio) and math.isnan(result.cox_p)
    assert any(
        "no events among the patients of 'group'; the hazard ratio is not estimable" in w
        for w in result.warnings
    )
