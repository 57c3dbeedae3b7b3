"""The whole chain: conservation, reproducibility, link directions, the two regimes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from spchain import Change, ParamError, preset, simulate
from spchain import links as L
from spchain.metrics import FIELDS, METRICS
from spchain.params import Links


@pytest.fixture(scope="module")
def bank():
    return simulate(preset("bank_branches"), horizon=26, seed=11)


# ------------------------------------------------------------ conservation
def test_customers_are_conserved(bank):
    arrivals = bank.field("arrivals").sum()
    assert arrivals > 0
    assert arrivals == (bank.field("served").sum() + bank.field("abandoned").sum()
                        + bank.field("waiting")[-1] + bank.field("in_service")[-1])


def test_positions_are_conserved(bank):
    assert np.array_equal(bank.sums[..., FIELDS.index("headcount")] + bank.sums[..., FIELDS.index("vacancies")],
                          bank.sums[..., FIELDS.index("positions")])
    assert np.all(bank.field("positions") == 5 * 4)


def test_money_adds_up(bank):
    s = {k: bank.sums[..., FIELDS.index(k)] for k in FIELDS}
    parts = sum(s[k] for k in ("wage_cost", "training_cost", "hiring_cost", "marketing_cost",
                               "goods_cost", "fixed_cost", "internal_cost"))
    np.testing.assert_allclose(s["costs"], parts, rtol=1e-12)
    np.testing.assert_allclose(s["revenue"] - s["costs"], s["profit"], rtol=1e-12, atol=1e-6)
    # internal departments are charged once in total, split over units
    p = bank.params
    internal = sum(d.wage_per_week * d.n_staff for d in p.internal.departments) + p.internal.tools_spend_per_week
    np.testing.assert_allclose(s["internal_cost"].sum(axis=1), internal)


def test_customer_base_balance(bank):
    start = bank.sums[:, :, FIELDS.index("customers_start")]
    end = bank.sums[:, :, FIELDS.index("active_customers")]
    flow = bank.sums[:, :, FIELDS.index("acquired")] - bank.sums[:, :, FIELDS.index("churned")]
    np.testing.assert_array_equal(end, start + flow)
    np.testing.assert_array_equal(start[1:], end[:-1])


def test_kpis_in_their_ranges(bank):
    for name in ("internal_service_quality", "sla_attainment", "employee_satisfaction", "utilisation",
                 "prob_wait", "abandonment", "service_quality", "customer_satisfaction", "retention"):
        v = bank.kpi(name)
        v = v[np.isfinite(v)]
        assert v.size and np.all((v >= 0) & (v <= 1)), name
    csat = bank.kpi("csat")
    assert np.all((csat >= 1) & (csat <= 5))
    nps = bank.kpi("nps")
    assert np.all((nps >= -100) & (nps <= 100))


def test_unit_series_add_up_to_the_organisation(bank):
    for name in ("served", "revenue", "profit", "headcount"):
        np.testing.assert_allclose(bank.kpi(name, by_unit=True).sum(axis=1), bank.kpi(name))
    # a ratio is the ratio of sums, not the mean of unit ratios
    w = bank.sums[..., FIELDS.index("wait_hours_sum")].sum(axis=1)
    n = bank.sums[..., FIELDS.index("started")].sum(axis=1)
    np.testing.assert_allclose(bank.kpi("wait_time"), 60 * w / n)


def test_nps_from_integer_counts(bank):
    s = bank.sums.sum(axis=(0, 1))
    prom, det, n = (s[FIELDS.index(k)] for k in ("promoters", "detractors", "responses"))
    assert bank.total("nps") == pytest.approx(100 * (prom - det) / n)


# -------------------------------------------------------- reproducibility
def test_same_seed_same_numbers_bit_for_bit():
    p = preset("workshop")
    a, b = simulate(p, horizon=10, seed=7), simulate(p, horizon=10, seed=7)
    assert np.array_equal(a.sums, b.sums) and np.array_equal(a.department_sums, b.department_sums)
    c = simulate(p, horizon=10, seed=8)
    assert not np.array_equal(a.sums, c.sums)


def test_seed_is_recorded_when_drawn():
    p = preset("workshop")
    r = simulate(p, horizon=2)
    assert np.array_equal(r.sums, simulate(p, horizon=2, seed=r.seed).sums)


def test_per_event_records_only_when_asked(bank):
    assert bank.events is None


def test_scheduled_lever_takes_effect_at_its_week():
    p = preset("workshop")
    q = p.with_changes(Change(at_week=5, path="internal.tools_spend_per_week", value=4000.0))
    a, b = simulate(p, horizon=8, seed=3), simulate(q, horizon=8, seed=3)
    cost = FIELDS.index("internal_cost")
    np.testing.assert_array_equal(a.sums[:5, :, cost], b.sums[:5, :, cost])
    np.testing.assert_allclose(b.sums[5:, :, cost] - a.sums[5:, :, cost], 4000.0)
    # before the change the runs are identical (common random numbers)
    np.testing.assert_array_equal(a.sums[:5], b.sums[:5])


def test_more_positions_are_recruited_and_fewer_shrink_by_attrition():
    p = preset("workshop")
    grow = simulate(p.with_changes(Change(at_week=2, path="workforce.n_employees", value=14)), horizon=30, seed=1)
    assert grow.field("positions")[-1] == 14
    assert grow.field("headcount")[-1] > 10
    shrink = p.override({"workforce.base_quit_rate": 2.0}).with_changes(
        Change(at_week=2, path="workforce.n_employees", value=6))
    r = simulate(shrink, horizon=40, seed=1)
    assert r.field("positions")[0] == 10 and r.field("positions")[-1] == 6
    assert np.all(np.diff(r.field("positions")) <= 0)


# ------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs, message", [
    (dict(horizon=0), "horizon must be an integer >= 1"),
    (dict(horizon=2.5), "horizon must be an integer"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(params={"workforce": {}}), "params must be a spchain.Params"),
])
def test_invalid_run_arguments_fail_before_any_work(monkeypatch, kwargs, message):
    import spchain.engine.run
    monkeypatch.setattr(spchain.engine.run, "Engine", lambda *a, **k: pytest.fail("engine was built"))
    kwargs = {"params": preset("workshop"), "horizon": 2, **kwargs}
    with pytest.raises(ParamError, match=message):
        simulate(**kwargs)


def test_schedule_beyond_horizon_is_refused():
    p = preset("workshop").with_changes(Change(at_week=60, path="workforce.recognition", value=0.5))
    with pytest.raises(ParamError, match="week 60.*beyond the horizon of 52"):
        simulate(p, horizon=52, seed=1)


# --------------------------------------------------------------- the links
def test_all_links_off_freezes_satisfaction():
    p = preset("workshop").override({f"links.{k}": 0.0 for k in Links().to_dict()})
    r = simulate(p, horizon=12, seed=2)
    np.testing.assert_allclose(r.kpi("employee_satisfaction"), p.workforce.base_satisfaction)
    np.testing.assert_allclose(r.kpi("customer_satisfaction"), p.customers.reference_satisfaction)


unit = st.floats(0.0, 1.0)
strength = st.floats(0.01, 5.0)


@given(a=unit, b=unit, k=strength)
def test_every_link_moves_its_target_in_the_documented_direction(a, b, k):
    lo, hi = min(a, b), max(a, b)
    if hi - lo < 1e-6:
        return
    # raising satisfaction: fewer quits, fewer defections; more visits, spend, referrals
    assert L.quit_hazard(hi, 0.3, 0.6, k) < L.quit_hazard(lo, 0.3, 0.6, k)
    assert L.churn_hazard(hi, 0.2, 0.7, k) < L.churn_hazard(lo, 0.2, 0.7, k)
    assert L.customer_visit_rate(hi, 0.1, 0.7, k) > L.customer_visit_rate(lo, 0.1, 0.7, k)
    assert L.referral_rate(hi, 0.1, 0.7, k) > L.referral_rate(lo, 0.1, 0.7, k)
    assert L.spend_per_visit(hi, 40, 0.7, min(k, 1.0)) >= L.spend_per_visit(lo, 40, 0.7, min(k, 1.0))
    assert L.internal_speed(hi, 0.9, k) >= L.internal_speed(lo, 0.9, k)
    kp = min(k, 1.0)
    assert L.productivity(hi, 0.65, 0.65, kp, 0.0) >= L.productivity(lo, 0.65, 0.65, kp, 0.0)
    assert L.service_quality(0.7, hi, 0.65, 0.65, 0.2, 0.0) >= L.service_quality(0.7, lo, 0.65, 0.65, 0.2, 0.0)
    # experienced value rises with quality, falls with wait and price
    assert L.experienced_value(hi, 0.8, 5, 10, 1, k, k, k) > L.experienced_value(lo, 0.8, 5, 10, 1, k, k, k)
    assert L.experienced_value(0.8, 0.8, 10 * lo, 10, 1, k, k, k) >= L.experienced_value(0.8, 0.8, 10 * hi, 10, 1, k, k, k)


@given(isq=st.tuples(unit, unit), util=st.tuples(unit, unit))
@settings(max_examples=50)
def test_satisfaction_target_rises_with_isq_and_falls_with_overload(isq, util):
    links = Links()
    kw = dict(isq_ref=0.9, workload_ref=0.75, recognition=0.0, pay_index=1.0, training_hours=1.0,
              training_ref=1.0, customer_satisfaction=0.7, customer_ref=0.7, links=links)
    lo, hi = sorted(isq)
    assert (L.employee_satisfaction_target(0.65, isq=hi, workload=0.5, **kw)
            >= L.employee_satisfaction_target(0.65, isq=lo, workload=0.5, **kw))
    lo, hi = sorted(util)
    assert (L.employee_satisfaction_target(0.65, isq=0.9, workload=hi, **kw)
            <= L.employee_satisfaction_target(0.65, isq=0.9, workload=lo, **kw))


def test_zero_strength_is_neutral():
    assert L.quit_hazard(0.1, 0.3, 0.65, 0.0) == 0.3
    assert L.churn_hazard(0.9, 0.2, 0.7, 0.0) == 0.2
    assert L.productivity(0.3, 0.1, 0.65, 0.0, 0.0) == 1.0
    assert L.experienced_value(0.2, 0.8, 30.0, 10.0, 1.5, 0.0, 0.0, 0.0) == 0.0


@pytest.mark.parametrize("path, value, kpi, direction", [
    ("workforce.recognition", 1.0, "employee_satisfaction", +1),
    ("workforce.pay_index", 0.7, "employee_satisfaction", -1),
    ("economics.price_index", 1.5, "customer_satisfaction", -1),
    ("internal.tools_spend_per_week", 8000.0, "internal_service_quality", +1),
])
def test_levers_move_the_chain_in_the_documented_direction(path, value, kpi, direction):
    """Paired runs (common random numbers) over seeds; the difference is significant at 99%."""
    base = preset("workshop")
    diffs = []
    for seed in range(8):
        a = simulate(base, horizon=26, seed=seed).total(kpi, start=6)
        b = simulate(base.override({path: value}), horizon=26, seed=seed).total(kpi, start=6)
        diffs.append(direction * (b - a))
    d = np.array(diffs)
    lower = d.mean() - stats.t.ppf(0.99, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    assert lower > 0, (path, d)


# ------------------------------------------------------------- the regimes
def _trend(result, kpi, first=slice(0, 13), last=slice(-52, None)):
    s = result.kpi(kpi)
    return np.nanmean(s[last]) - np.nanmean(s[first])


@pytest.fixture(scope="module")
def regimes():
    base = preset("workshop")
    poor = base.override({"internal.departments.it.n_staff": 1,
                          "internal.departments.it.service_time_hours": 6.0,
                          "internal.departments.it.ftr_prob": 0.4,
                          "internal.departments.back_office.ftr_prob": 0.4})
    good = base.override({"internal.tools_spend_per_week": 6000.0})
    seeds = range(10)  # growth of ~5% over three years needs ten seeds to show at 1%
    return {name: [simulate(p, horizon=156, seed=s) for s in seeds]
            for name, p in (("poor", poor), ("base", base), ("good", good))}


def _significant(values, sign):
    """One-sided t-test at 1%: is ``sign * mean(values)`` > 0?"""
    d = sign * np.asarray(values)
    return d.mean() - stats.t.ppf(0.99, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size) > 0


def _paired(a_runs, b_runs, kpi, start=13):
    return [a.total(kpi, start=start) - b.total(kpi, start=start) for a, b in zip(a_runs, b_runs)]


@pytest.mark.slow
def test_cycle_of_failure_with_poor_internal_service(regimes):
    runs = regimes["poor"]
    for kpi in ("employee_satisfaction", "customer_satisfaction", "retention", "active_customers",
                "revenue", "profit"):
        assert _significant([_trend(r, kpi) for r in runs], -1), kpi
    # quits are rare in a ten-person unit: compare whole-run staff turnover with the baseline
    assert _significant(_paired(runs, regimes["base"], "turnover"), +1)


@pytest.mark.slow
def test_cycle_of_success_with_good_internal_service(regimes):
    runs = regimes["good"]
    for kpi in ("active_customers", "revenue"):  # growth
        assert _significant([_trend(r, kpi) for r in runs], +1), kpi
    # parameters otherwise equal: good internal service beats the baseline all along the chain
    for kpi in ("internal_service_quality", "employee_satisfaction", "service_quality",
                "customer_satisfaction", "active_customers", "revenue"):
        assert _significant(_paired(runs, regimes["base"], kpi), +1), kpi


def test_summary_and_registry(bank):
    text = bank.summary()
    for m in METRICS.values():
        assert m.label in text
    assert "Customer lifetime value" in text


def test_to_frame_is_tidy(bank):
    pd = pytest.importorskip("pandas")
    df = bank.to_frame()
    assert list(df.columns) == ["period", "unit", "metric", "value"]
    assert len(df) == len(METRICS) * 26 * (5 + 1)
    row = df[(df.metric == "revenue") & (df.unit == "all") & (df.period == 3)]
    assert row.value.item() == pytest.approx(bank.kpi("revenue")[3])
    assert isinstance(df, pd.DataFrame)


def test_structural_parameters_cannot_be_scheduled():
    p = preset("workshop").with_changes(Change(at_week=3, path="organisation.hours_per_week", value=40.0))
    with pytest.raises(ParamError, match="organisation.hours_per_week is fixed for a whole run"):
        simulate(p, horizon=10, seed=1)


def test_utilisation_never_exceeds_one(bank):
    assert np.all(bank.kpi("utilisation", by_unit=True) <= 1.0 + 1e-12)
    busy = np.stack([bank.department(d.name, "busy_hours") for d in bank.params.internal.departments])
    staff = np.stack([bank.department(d.name, "staff_hours") for d in bank.params.internal.departments])
    assert np.all(busy <= staff + 1e-9)


def test_profit_reinvestment_closes_the_loop():
    base = preset("workshop")
    plain = simulate(base, horizon=30, seed=4)
    loop = simulate(base.override({"economics.reinvestment_share": 0.5}), horizon=30, seed=4)
    # week 1 identical; from week 2 on half of last week's profit is spent on tools
    np.testing.assert_array_equal(plain.sums[0], loop.sums[0])
    extra = loop.field("internal_cost")[1:] - plain.field("internal_cost")[1:]
    np.testing.assert_allclose(extra, 0.5 * np.maximum(loop.field("profit")[:-1], 0.0))
    assert loop.total("internal_service_quality", start=4) > plain.total("internal_service_quality", start=4)


def test_switching_reinvestment_off_stops_it():
    p = preset("workshop").override({"economics.reinvestment_share": 0.5}).with_changes(
        Change(at_week=5, path="economics.reinvestment_share", value=0.0))
    r = simulate(p, horizon=10, seed=4)
    plain = simulate(preset("workshop"), horizon=10, seed=4)
    np.testing.assert_allclose(r.field("internal_cost")[6:], plain.field("internal_cost")[6:])
