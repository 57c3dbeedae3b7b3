"""Invariants of the engine over random valid parameters with scheduled lever changes.

Whatever the parameters and the schedule: customers, positions and money
are conserved; nobody is busier than staffed; every KPI stays in its range;
each cost line is its formula with the levers in force that week.
"""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spchain import Change, Params, simulate
from spchain.metrics import DEPARTMENT_FIELDS, FIELDS
from spchain.engine.model import Engine
from spchain.params import Links

EPS = 1e-9

# cutting a department to no staff is one of the schedules drawn: its backlog grows, as it should
pytestmark = pytest.mark.filterwarnings("ignore:.*offered at least their capacity")

_LEVERS = {
    "workforce.n_employees": st.integers(1, 6),
    "internal.departments.it.n_staff": st.integers(0, 3),
    "economics.price_index": st.floats(0.6, 1.6),
    "internal.tools_spend_per_week": st.floats(0.0, 5000.0),
    "workforce.recognition": st.floats(-1.0, 1.0),
    "workforce.pay_index": st.floats(0.7, 1.4),
    "workforce.training_hours": st.floats(0.0, 6.0),
    "customers.patience_minutes": st.sampled_from([3.0, 20.0, math.inf]),
    "economics.acquisition_cost": st.floats(0.0, 200.0),
}


@st.composite
def runs(draw):
    horizon = draw(st.integers(4, 10))
    scale = draw(st.sampled_from([0.0, 0.5, 1.0, 1.5]))
    links = {f.name: min(getattr(Links(), f.name) * scale, f.metadata.get("le") or math.inf)
             for f in dataclasses.fields(Links)}  # every link at a multiple of its default, within bounds
    overrides = {
        "organisation.n_units": draw(st.integers(1, 2)),
        "organisation.hours_per_week": draw(st.sampled_from([20.0, 45.0])),
        "workforce.n_employees": draw(st.integers(1, 5)),
        "workforce.service_time_minutes": draw(st.floats(4.0, 20.0)),
        "workforce.service_time_cv": draw(st.sampled_from([0.5, 1.0, 2.0])),
        "workforce.base_quit_rate": draw(st.floats(0.0, 4.0)),
        "workforce.time_to_fill_weeks": draw(st.sampled_from([0.0, 0.5, 3.0])),
        "customers.n_customers": draw(st.integers(50, 400)),
        "customers.visit_rate": draw(st.floats(0.0, 0.6)),
        "customers.patience_minutes": draw(st.sampled_from([5.0, 30.0, math.inf])),
        "customers.base_churn_rate": draw(st.floats(0.0, 1.5)),
        "customers.acquisition_rate": draw(st.floats(0.0, 10.0)),
        "customers.referral_rate": draw(st.floats(0.0, 0.5)),
        "internal.request_rate": draw(st.floats(0.0, 3.0)),
        "measurement.response_rate": draw(st.floats(0.05, 1.0)),
        "economics.reinvestment_share": draw(st.sampled_from([0.0, 0.3])),
        "economics.gross_margin": draw(st.floats(0.2, 1.0)),
    }
    params = Params(links=Links(**links)).override(overrides)
    changes = draw(st.lists(st.tuples(st.integers(1, horizon - 1), st.sampled_from(sorted(_LEVERS))),
                            max_size=4))
    params = params.with_changes(*(Change(at_week=w, path=path, value=draw(_LEVERS[path]))
                                   for w, path in changes))
    return params, horizon, draw(st.integers(0, 2**16))


def _customers_conserved(f):
    cum = lambda name: np.cumsum(f[name], axis=0)  # noqa: E731
    assert np.array_equal(cum("arrivals"), cum("served") + cum("abandoned") + f["waiting"] + f["in_service"])
    assert np.array_equal(cum("started"), cum("served") + f["in_service"])


def _f(result, name):
    return result.sums[..., FIELDS.index(name)]  # (weeks, units)


@settings(max_examples=15, deadline=None)
@given(runs())
def test_conservation_money_and_ranges_hold_for_any_schedule(run):
    params, horizon, seed = run
    r = simulate(params, horizon=horizon, seed=seed)
    f = {name: _f(r, name) for name in FIELDS}
    d = {name: r.department_sums[..., i] for i, name in enumerate(DEPARTMENT_FIELDS)}
    weekly = [params.at_week(t) for t in range(horizon)]
    H = params.organisation.hours_per_week
    n_units = params.organisation.n_units

    # -- every recorded quantity but profit is a non-negative count, sum or stock
    for name in FIELDS:
        if name != "profit":
            assert np.all(f[name] >= -EPS), name
    assert np.all(r.department_sums >= -EPS)

    # -- customers: by every week's end, every arrival is served, abandoned, waiting or in service
    _customers_conserved(f)
    assert np.all(f["waited"] <= f["started"]) and np.all(f["answered_in_target"] <= f["started"])
    # the customer base: start + acquired - churned = end, and each week starts where the last ended
    assert np.array_equal(f["active_customers"], f["customers_start"] + f["acquired"] - f["churned"])
    assert np.array_equal(f["customers_start"][1:], f["active_customers"][:-1])
    assert np.all(f["customers_start"][0] == params.customers.n_customers)
    assert np.all(f["referred"] <= f["acquired"])
    assert np.all(f["customer_satisfaction_sum"] <= f["active_customers"] + EPS)

    # -- staff: positions are filled or vacant; hires minus quits is the change in headcount
    assert np.array_equal(f["headcount"] + f["vacancies"], f["positions"])
    n0 = weekly[0].workforce.n_employees
    assert np.array_equal(f["hires"].sum(0) - f["quits"].sum(0), f["headcount"][-1] - n0)
    targets = np.array([p.workforce.n_employees for p in weekly])
    assert np.all(f["positions"] >= targets[:, None])  # positions shrink by attrition only
    before = np.vstack([np.full((1, n_units), n0), f["positions"][:-1]])
    assert np.all(f["staffed_hours"] <= H * np.maximum(before, targets[:, None]) + EPS)
    assert np.all(f["busy_hours"] <= f["staffed_hours"] + EPS)  # utilisation <= 1
    # departments: staff cut by a change finish the request in hand, paid until then
    staff = np.array([[dep.n_staff for dep in p.internal.departments] for p in weekly]).reshape(horizon, -1)
    assert np.all(d["staff_hours"] >= H * staff - EPS)
    assert np.all(d["staff_hours"] <= H * np.maximum.accumulate(staff, axis=0) + EPS)
    assert np.all(d["busy_hours"] <= d["staff_hours"] + EPS)

    # -- internal service
    assert np.array_equal(f["isq_scored"], f["requests_resolved"] + f["requests_overdue"])
    assert np.all(f["isq_sum"] <= f["isq_scored"] + EPS)
    assert np.all(f["sla_met"] <= f["sla_due"]) and np.all(d["sla_met"] <= d["sla_due"])
    assert np.all(d["resolved"].sum(0) + d["backlog"][-1] <= d["raised"].sum(0))

    # -- surveys
    assert np.all(f["responses"] <= f["served"])
    assert np.all(f["promoters"] + f["detractors"] <= f["responses"])
    assert np.all((f["csat_sum"] >= f["responses"]) & (f["csat_sum"] <= 5 * f["responses"]))

    # -- money: each line is its formula with the levers in force that week
    lines = ("wage_cost", "training_cost", "hiring_cost", "marketing_cost", "goods_cost", "fixed_cost",
             "internal_cost")
    np.testing.assert_allclose(f["costs"], sum(f[k] for k in lines), rtol=1e-12)
    np.testing.assert_allclose(f["profit"], f["revenue"] - f["costs"], rtol=1e-12, atol=1e-7)
    reinvested = 0.0
    for t, p in enumerate(weekly):
        ec, wf = p.economics, p.workforce
        pay = ec.wage_per_week * wf.pay_index
        np.testing.assert_allclose(f["wage_cost"][t], f["staffed_hours"][t] / H * pay, rtol=1e-12)
        np.testing.assert_allclose(f["training_cost"][t], f["staffed_hours"][t] / H * wf.training_hours * pay / H,
                                   rtol=1e-12)
        np.testing.assert_allclose(f["hiring_cost"][t], f["hires"][t] * ec.hiring_cost, rtol=1e-12)
        np.testing.assert_allclose(f["marketing_cost"][t], (f["acquired"][t] - f["referred"][t])
                                   * ec.acquisition_cost, rtol=1e-12)
        np.testing.assert_allclose(f["goods_cost"][t], (1 - ec.gross_margin) * f["revenue"][t], rtol=1e-12)
        np.testing.assert_allclose(f["fixed_cost"][t], ec.fixed_cost_per_week)
        reinvested_last = reinvested
        reinvested = ec.reinvestment_share * max(0.0, f["profit"][t].sum())
        if not np.allclose(d["staff_hours"][t], [H * dep.n_staff for dep in p.internal.departments]):
            continue  # staff cut this week and finishing their requests: see the strict test below
        internal = sum(dep.wage_per_week * dep.n_staff for dep in p.internal.departments)
        np.testing.assert_allclose(f["internal_cost"][t].sum(),
                                   internal + p.internal.tools_spend_per_week + reinvested_last, rtol=1e-12)
        np.testing.assert_allclose(d["cost"][t], [dep.wage_per_week * dep.n_staff for dep in p.internal.departments])

    # -- every KPI in its range, per unit and week
    def kpi(name):
        v = r.kpi(name, by_unit=True)
        return v[np.isfinite(v)]

    for name in ("internal_service_quality", "sla_attainment", "employee_satisfaction", "skill", "utilisation",
                 "prob_wait", "prob_wait_all", "service_level", "service_quality", "abandonment",
                 "customer_satisfaction", "retention"):
        v = kpi(name)
        assert np.all((v >= -EPS) & (v <= 1 + EPS)), name
    assert np.all(f["abandoned"].sum(0) <= f["arrivals"].sum(0))
    assert np.all(kpi("skill") > 0)
    assert np.all((kpi("csat") >= 1) & (kpi("csat") <= 5))
    assert np.all((kpi("nps") >= -100) & (kpi("nps") <= 100))
    assert np.all(kpi("productivity") >= 0.2 - EPS)
    for low, high in (("utilisation", "work_pressure"), ("prob_wait", "prob_wait_all")):
        a, b = r.kpi(low, by_unit=True), r.kpi(high, by_unit=True)
        both = np.isfinite(a) & np.isfinite(b)
        assert np.all(b[both] >= a[both] - EPS), (low, high)
    assert np.all(kpi("wait_time") >= 0) and np.all(kpi("wait_time_all") >= 0)


def test_department_busy_hours_never_exceed_its_staff_hours():
    """Utilisation of a department is at most 1, also in the week its staff is cut.

    Staff who leave finish the request in hand; their hours must be staffed
    hours (or their busy time not booked), else the department is busier
    than staffed.
    """
    p = Params().override({"internal.departments": {"it": {"n_staff": 2, "service_time_hours": 4.0,
                                                           "requests_to": {}}},
                           "internal.request_rate": 3.0, "workforce.n_employees": 5})
    p = p.with_changes(Change(at_week=1, path="internal.departments.it.n_staff", value=0))
    r = simulate(p, horizon=3, seed=1)
    busy, staffed = r.department("it", "busy_hours"), r.department("it", "staff_hours")
    assert busy[1] > 0  # the two leavers finish their requests in week 1
    assert np.all(busy <= staffed + EPS), (busy, staffed)


def test_positions_shrink_by_attrition_and_vacancies_count_existing_positions():
    """Above the target, a vacated position is abolished at once: no vacancies, headcount = positions."""
    p = Params().override({"workforce.n_employees": 6, "workforce.base_quit_rate": 8.0,
                           "workforce.time_to_fill_weeks": 2.0, "customers.n_customers": 300})
    p = p.with_changes(Change(at_week=2, path="workforce.n_employees", value=2))
    r = simulate(p, horizon=8, seed=3)
    f = {name: _f(r, name)[:, 0] for name in FIELDS}
    assert np.array_equal(f["headcount"] + f["vacancies"], f["positions"])
    target = np.array([6, 6] + [2] * 6)
    pos = f["positions"]
    assert np.all(np.diff(pos[2:]) <= 0) and np.all(pos >= target)
    above = pos > target
    assert np.count_nonzero(above) >= 2
    assert np.all(f["vacancies"][above] == 0)


def test_customers_of_leavers_are_accounted_for():
    """A leaver finishes the customer in hand: that customer is in service at the week's end."""
    p = Params().override({"organisation.n_units": 10, "workforce.n_employees": 6, "workforce.base_quit_rate": 25.0,
                           "workforce.time_to_fill_weeks": 4.0, "workforce.service_time_minutes": 180.0,
                           "customers.n_customers": 300, "customers.visit_rate": 0.4})
    engine = Engine(p, 6, 3)
    leaver_busy = 0
    for week in range(1, 7):
        engine.advance(week)
        leaver_busy += sum(b and gone for unit in engine.units for b, gone in zip(unit.busy, unit.leaving))
    assert leaver_busy > 0
    _customers_conserved({name: engine.sums[..., FIELDS.index(name)] for name in FIELDS})


def test_a_department_pays_the_staff_hours_it_books():
    """Staff cut by a change finish the request in hand and are paid until then: cost = wage x staff weeks."""
    p = Params().override({"internal.departments": {"it": {"n_staff": 2, "service_time_hours": 4.0,
                                                           "wage_per_week": 1000.0, "requests_to": {}}},
                           "internal.request_rate": 3.0, "workforce.n_employees": 5})
    p = p.with_changes(Change(at_week=1, path="internal.departments.it.n_staff", value=0))
    r = simulate(p, horizon=3, seed=1)
    staff_weeks = r.department("it", "staff_hours") / p.organisation.hours_per_week
    assert staff_weeks[1] > 0  # the leavers' hours in week 1
    np.testing.assert_allclose(r.department("it", "cost"), 1000.0 * staff_weeks, rtol=1e-12)
    np.testing.assert_allclose(r.field("internal_cost"), 1000.0 * staff_weeks, rtol=1e-12)
