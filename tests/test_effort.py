"""Effort and service standards after Oliva & Sterman (2001): equations, neutrality, directions, the surge.

Work pressure at the standard ``p = N T* / (pi rho H)``, time per customer
``T = T* clip(p^-k)``, the standard's asymmetric first-order adjustment
toward ``T``, quality lost to time given short of the time needed, and a
fatigue stock in the satisfaction target (``docs/model.md`` section 3.9).
"""

import math

import numpy as np
import pytest

from spchain import Change, ParamError, Params, preset, simulate
from spchain import links as L
from spchain.metrics import FIELDS
from spchain.experiments.statistics import paired_difference

#: The mechanism on, at Oliva & Sterman's estimates.
OLIVA_STERMAN = {"links.effort_from_pressure": 0.64, "workforce.standard_erosion_weeks": 18.8,
                 "workforce.standard_recovery_weeks": math.inf, "links.quality_from_time": 1.0}
_EFFORT_FIELDS = ("standard_minutes_sum", "time_given_minutes_sum", "required_hours")


def _workshop(**extra):
    return preset("workshop").override({**OLIVA_STERMAN, **extra})


# ================================================================= the equations
def test_time_per_customer_is_the_standard_times_pressure_to_alpha():
    standard = np.array([0.25, 0.25, 0.25, 0.25, 0.25, 0.2])
    pressure = np.array([1.0, 1.2, 0.8, 1.44, 5.0, 0.1])
    by_hand = [0.25, 0.25 * 1.2 ** -0.64, 0.25 * 0.8 ** -0.64, 0.25 * 1.44 ** -0.64,
               0.25 * 0.5, 0.2 * 1.5]  # the last two clipped to the bounds 0.5 and 1.5
    np.testing.assert_allclose(L.time_per_customer(standard, pressure, 0.64), by_hand, rtol=1e-12)
    assert L.EFFORT_BOUNDS == (0.5, 1.5)
    assert float(L.time_per_customer(0.25, 1.2, 0.64)) == pytest.approx(0.25 * 0.88987, rel=1e-5)
    np.testing.assert_array_equal(L.time_per_customer(0.25, pressure, 0.0), 0.25)  # off: the standard


def test_the_standards_update_has_asymmetric_time_constants():
    decay = lambda tau: 1.0 - math.exp(-1.0 / tau)  # noqa: E731
    # erosion: time given 12 min against a standard of 15, tau_d = 18.8 weeks
    assert float(L.service_standard(15.0, 12.0, 18.8, math.inf)) == pytest.approx(15 - 3 * decay(18.8), rel=1e-12)
    # more time than the standard: no recovery with tau_i = inf, slow recovery with a finite one
    assert float(L.service_standard(15.0, 18.0, 18.8, math.inf)) == 15.0
    assert float(L.service_standard(15.0, 18.0, 18.8, 50.0)) == pytest.approx(15 + 3 * decay(50.0), rel=1e-12)
    # vectorised, each element with its own time constant; two weeks at once
    got = L.service_standard(np.array([1.0, 1.0, 1.0]), np.array([0.9, 1.0, 1.2]), 10.0, 40.0, weeks=2.0)
    np.testing.assert_allclose(got, [1 - 0.1 * (1 - math.exp(-0.2)), 1.0, 1 + 0.2 * (1 - math.exp(-0.05))],
                               rtol=1e-12)
    # a week of erosion at a constant gap, repeated: the gap closes geometrically
    s = 1.0
    for _ in range(19):
        s = float(L.service_standard(s, 0.8, 18.8, math.inf))
    assert s == pytest.approx(0.8 + 0.2 * math.exp(-19 / 18.8), rel=1e-12)


def test_work_pressure_at_the_standard_by_hand():
    # 1380 arrivals of 15 min against 10 staff x 45 h at 0.8 utilisation and productivity 0.96
    assert L.standard_pressure(1380, 0.25, 450.0, 0.96, 0.8) == pytest.approx(345 / (0.96 * 0.8 * 450))
    assert L.standard_pressure(100, 0.25, 0.0, 1.0, 0.9) == 1.0  # nobody in post: neutral


def test_quality_loses_only_to_a_shortfall_of_time():
    q = L.service_quality(0.8, np.ones(4), np.full(4, 0.65), 0.65, 0.3, 0.5,
                          time_ratio=np.array([0.8, 0.95, 1.0, 1.3]), k_time=1.0)
    np.testing.assert_allclose(q, [0.6, 0.75, 0.8, 0.8], rtol=1e-12)
    assert float(L.service_quality(0.8, 1.0, 0.65, 0.65, 0.3, 0.5, time_ratio=0.5, k_time=0.0)) == 0.8


def test_fatigue_lowers_the_satisfaction_target():
    lk = Params().override({"links.satisfaction_from_fatigue": 0.5}).links
    args = dict(isq=0.9, isq_ref=0.9, workload=0.8, workload_ref=0.9, recognition=0.0, pay_index=1.0,
                training_hours=1.0, training_ref=1.0, customer_satisfaction=0.7, customer_ref=0.7)
    assert float(L.employee_satisfaction_target(0.65, links=lk, fatigue=0.2, **args)) == pytest.approx(0.55)
    assert float(L.employee_satisfaction_target(0.65, links=Params().links, fatigue=0.2, **args)) == 0.65


def test_parameters_are_validated_and_infinite_time_constants_allowed():
    p = Params().override({"workforce.standard_erosion_weeks": math.inf})
    assert p.workforce.standard_recovery_weeks == math.inf  # the default: no recovery (Oliva & Sterman)
    with pytest.raises(ParamError, match="links.effort_from_pressure must be a number >= 0, got -0.64"):
        Params().override({"links.effort_from_pressure": -0.64})
    with pytest.raises(ParamError, match="workforce.fatigue_weeks must be finite"):
        Params().override({"workforce.fatigue_weeks": math.inf})
    with pytest.raises(ParamError, match="workforce.pressure_utilisation must be a number <= 1"):
        Params().override({"workforce.pressure_utilisation": 1.2})
    assert Params().links.off().effort_from_pressure == 0.0


# ================================================================= neutral when off
def test_neutral_when_off():
    """Links at 0 give today's numbers, whatever the mechanism's other parameters say."""
    base = preset("workshop")
    off = base.override({"links.effort_from_pressure": 0.0, "links.quality_from_time": 0.0,
                         "links.satisfaction_from_fatigue": 0.0, "workforce.standard_erosion_weeks": 2.0,
                         "workforce.standard_recovery_weeks": 3.0, "workforce.pressure_utilisation": 0.5,
                         "workforce.fatigue_weeks": 1.0})
    a, b = simulate(base, horizon=30, seed=3), simulate(off, horizon=30, seed=3)
    keep = [i for i, f in enumerate(FIELDS) if f != "required_hours"]  # depends on pressure_utilisation
    np.testing.assert_array_equal(a.sums[..., keep], b.sums[..., keep])
    np.testing.assert_array_equal(a.department_sums, b.department_sums)
    # the standard stays at the base service time, and so does the time given
    np.testing.assert_array_equal(a.kpi("service_standard"), 15.0)
    np.testing.assert_array_equal(a.kpi("time_per_customer"), 15.0)


# ================================================================= the engine's equations
def test_engine_follows_the_equations_week_by_week():
    """KPIs obey T = T* clip(p^-k) and the standard's update, week by week (one unit, no quits)."""
    p = _workshop(**{"workforce.pressure_utilisation": 0.75, "workforce.standard_recovery_weeks": 30.0,
                     "workforce.base_quit_rate": 0.0})
    r = simulate(p, horizon=40, seed=5)
    std, given, pressure = r.kpi("service_standard"), r.kpi("time_per_customer"), r.kpi("standard_pressure")
    # next week's time answers this week's pressure, at the standard as updated this week
    np.testing.assert_allclose(given, std * np.clip(pressure ** -0.64, 0.5, 1.5), rtol=1e-9)
    # the standard in force in week w is std[w-1] (15 in week 0), the time given given[w-1]
    before = np.r_[15.0, std[:-1]]
    achieved = np.r_[15.0, given[:-1]]
    tau = np.where(achieved < before, 18.8, 30.0)
    np.testing.assert_allclose(std, before + (achieved - before) * (1 - np.exp(-1 / tau)), rtol=1e-9)
    assert (achieved < before).any() and (achieved > before).any()  # both branches exercised
    # pressure: arrivals at the standard over staffed hours at 0.75 utilisation, productivity in force
    prod = np.r_[np.nan, r.kpi("productivity")[:-1]]
    by_hand = r.kpi("arrivals") * before / 60 / (prod * 0.75 * r.field("staffed_hours"))
    np.testing.assert_allclose(pressure[1:], by_hand[1:], rtol=1e-9)


def test_mean_service_time_follows_the_time_given():
    """Employees give T = T* m per customer: the busy hours per customer served shrink under pressure."""
    tight = {"workforce.pressure_utilisation": 0.6, "links.quality_from_time": 0.0}
    on = simulate(_workshop(**tight), horizon=12, seed=2)
    off = simulate(_workshop(**tight, **{"links.effort_from_pressure": 0.0}), horizon=12, seed=2)
    assert (on.kpi("time_per_customer")[:-1] < 15.0).all()  # pressure > 1 every week
    assert on.total("utilisation", start=2) < off.total("utilisation", start=2) - 0.05
    # productivity (the skill and satisfaction multiplier) is not the effort: it is unchanged in meaning
    assert 0.9 < on.total("productivity") < 1.05


# ================================================================= directions
def test_sustained_pressure_erodes_the_standard_and_slack_does_not_restore_it():
    tight = simulate(_workshop(**{"workforce.pressure_utilisation": 0.6}), horizon=30, seed=1)
    slack = simulate(_workshop(**{"workforce.pressure_utilisation": 1.0}), horizon=30, seed=1)
    assert tight.kpi("service_standard")[-1] < 14.5
    assert (np.diff(tight.kpi("service_standard")) <= 1e-9).all()  # tau_i = inf: it never rises
    # with slack: more time than the standard, which never moves up, and quality is not hurt
    assert (slack.kpi("time_per_customer") > slack.kpi("service_standard")).mean() > 0.8
    assert slack.kpi("service_standard").max() == 15.0
    assert tight.total("service_quality", start=4) < slack.total("service_quality", start=4) - 0.02
    # a finite recovery time lets the standard climb back when there is slack
    recovering = simulate(_workshop(**{"workforce.pressure_utilisation": 1.0,
                                       "workforce.standard_recovery_weeks": 10.0}), horizon=30, seed=1)
    assert recovering.kpi("service_standard")[-1] > 15.5


def test_quality_from_time_lowers_quality_when_corners_are_cut():
    tight = {"workforce.pressure_utilisation": 0.6}
    cut = simulate(_workshop(**tight), horizon=20, seed=4)
    blind = simulate(_workshop(**tight, **{"links.quality_from_time": 0.0}), horizon=20, seed=4)
    # the first week is before any effort response; afterwards quality pays for the time cut
    assert cut.kpi("service_quality")[0] == blind.kpi("service_quality")[0]
    assert cut.total("service_quality", start=2) < blind.total("service_quality", start=2) - 0.05


def test_fatigue_lowers_satisfaction_and_raises_quits_under_sustained_pressure():
    tight = {"workforce.pressure_utilisation": 0.6, "links.effort_from_pressure": 0.0,
             "links.quality_from_time": 0.0}
    tired = simulate(_workshop(**tight, **{"links.satisfaction_from_fatigue": 1.0}), horizon=40, seed=6)
    fresh = simulate(_workshop(**tight), horizon=40, seed=6)
    assert tired.total("employee_satisfaction", start=10) < fresh.total("employee_satisfaction", start=10) - 0.05
    assert tired.field("quits").sum() >= fresh.field("quits").sum()
    # without pressure above 1 there is no fatigue, so the link changes nothing
    calm = {"workforce.pressure_utilisation": 1.0, "links.effort_from_pressure": 0.0, "links.quality_from_time": 0.0,
            "customers.visit_rate": 0.15}
    a = simulate(_workshop(**calm, **{"links.satisfaction_from_fatigue": 1.0}), horizon=10, seed=6)
    b = simulate(_workshop(**calm), horizon=10, seed=6)
    assert (b.kpi("standard_pressure") < 1).all()
    np.testing.assert_array_equal(a.kpi("employee_satisfaction"), b.kpi("employee_satisfaction"))


# ================================================================= the surge (Oliva & Sterman 2001)
SURGE_START, SURGE_END, YEAR_AFTER = 13, 39, 91
#: The workshop's staffed hours just fit its work at the standard (utilisation ~0.78 at 15 min):
#: "capacity is short", the situation Oliva & Sterman studied.
SURGE_PARAMS = {"workforce.pressure_utilisation": 0.8}


def surge_pair(seed, horizon=YEAR_AFTER + 1):
    """(baseline, surge) runs with the same seed: visits x1.2 in weeks 13-38 at fixed capacity."""
    p = _workshop(**SURGE_PARAMS)
    v = p.customers.visit_rate
    surge = p.with_changes(Change(at_week=SURGE_START, path="customers.visit_rate", value=1.2 * v),
                           Change(at_week=SURGE_END, path="customers.visit_rate", value=v))
    return simulate(p, horizon=horizon, seed=seed), simulate(surge, horizon=horizon, seed=seed)


def test_a_surge_erodes_the_standard_one_seed():
    base, surge = surge_pair(0, horizon=SURGE_END + 1)
    np.testing.assert_array_equal(base.kpi("service_standard")[:SURGE_START],
                                  surge.kpi("service_standard")[:SURGE_START])
    assert surge.kpi("standard_pressure")[SURGE_START] > base.kpi("standard_pressure")[SURGE_START] + 0.1
    assert surge.kpi("service_standard")[SURGE_END - 1] < base.kpi("service_standard")[SURGE_END - 1] - 0.1


@pytest.mark.slow
def test_a_temporary_surge_erodes_the_standard_for_good():
    """Paired over 8 seeds (common random numbers): eroded at the surge's end and a year after it."""
    runs = [surge_pair(seed) for seed in range(8)]
    at_end = paired_difference([s.kpi("service_standard")[SURGE_END - 1] for _, s in runs],
                               [b.kpi("service_standard")[SURGE_END - 1] for b, _ in runs])
    year_after = paired_difference([s.kpi("service_standard")[YEAR_AFTER] for _, s in runs],
                                   [b.kpi("service_standard")[YEAR_AFTER] for b, _ in runs])
    assert at_end.high < 0, at_end
    assert year_after.high < 0, year_after
    # no recovery in the surge arm after the surge: the standard never rises (tau_i = inf)
    for _, s in runs:
        assert (np.diff(s.kpi("service_standard")[SURGE_END:]) <= 1e-9).all()
