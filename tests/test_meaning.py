"""Tests of meaning: every formula of the engine and the metrics against an oracle.

Each test pins one formula (a threshold, a time scale, a sign, a factor) so
that getting it wrong fails here, fast, and not only in the golden run.
The oracles are hand-built inputs for the pure functions, exact identities
on one sample path (with every link off the path does not depend on price
or pay), replays of the recorded events, and rates compared with their
closed forms within a few of the run's own standard errors.
"""

import math

import numpy as np
import pytest

from spchain import Change, Params, simulate
from spchain import links as L
from spchain.engine import survey
from spchain.metrics import DEPARTMENT_FIELDS, FIELDS, METRICS
from spchain.engine.model import Engine
from spchain.params import Links
from spchain.engine.weekly import sequential_update

Z = 4.0  # standard errors allowed in statistical comparisons


def neutral(overrides=None, *, links=None):
    """A small organisation with every link off (or only ``links`` on), no requests, no turnover, no churn."""
    base = {
        "organisation.n_units": 1,
        "workforce.n_employees": 3,
        "workforce.base_quit_rate": 0.0,
        "internal.request_rate": 0.0,
        "internal.departments": {},
        "customers.n_customers": 200,
        "customers.base_churn_rate": 0.0,
        "customers.acquisition_rate": 0.0,
        "customers.referral_rate": 0.0,
    }
    base.update(overrides or {})
    return Params(links=Links(**{**Links().off().to_dict(), **(links or {})})).override(base)


def delay(weeks, tau):
    """Share of the gap to the target closed after ``weeks`` with time constant ``tau``."""
    return 1.0 - math.exp(-weeks / tau)


# =============================================================== surveys (pure)
def test_promoters_and_detractors_at_every_answer():
    ltr = np.arange(11)
    assert [survey.promoters([a]) for a in ltr] == [0] * 9 + [1, 1]        # 9 and 10 promote
    assert [survey.detractors([a]) for a in ltr] == [1] * 7 + [0] * 4      # 0 to 6 detract
    assert survey.promoters(ltr) == 2 and survey.detractors(ltr) == 7
    for answer, nps in ((6, -100.0), (7, 0.0), (8, 0.0), (9, 100.0), (10, 100.0), (0, -100.0)):
        assert survey.net_promoter_score([answer]) == nps, answer
    assert survey.net_promoter_score([6, 7, 8, 9]) == 0.0
    assert survey.net_promoter_score([9, 9, 8, 6]) == 25.0
    assert math.isnan(survey.net_promoter_score([]))


def test_nps_counts_integer_answers_never_a_mean():
    # mean 6.75 would be a detractor (-100); three promoters and one detractor give +50
    assert survey.net_promoter_score([9, 9, 9, 0]) == 50.0
    # mean 8.5 would be a passive (0); half promoters, no detractors give +50
    assert survey.net_promoter_score([10, 10, 7, 7]) == 50.0


def test_nps_metric_from_counts():
    nps = METRICS["nps"]
    for prom, det, n, expected in ((3, 1, 4, 50.0), (0, 5, 5, -100.0), (2, 2, 10, 0.0), (7, 0, 7, 100.0),
                                   (1, 3, 8, -25.0)):
        value = nps.evaluate({"promoters": np.array(prom), "detractors": np.array(det),
                              "responses": np.array(n)})
        assert float(value) == pytest.approx(expected, abs=1e-12), (prom, det, n)
    assert np.isnan(nps.evaluate({"promoters": np.array(0), "detractors": np.array(0), "responses": np.array(0)}))


def test_csat_answers_at_the_cut_points():
    cuts = [0.3, 0.5, 0.65, 0.8]
    latent = [-0.5, 0.0, 0.2999, 0.3, 0.4999, 0.5, 0.6499, 0.65, 0.7999, 0.8, 1.0, 1.7]
    assert survey.csat_responses(latent, cuts).tolist() == [1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5]
    # other cut points move the answers with them
    assert survey.csat_responses([0.15, 0.25, 0.35, 0.45], [0.1, 0.2, 0.3, 0.4]).tolist() == [2, 3, 4, 5]
    assert METRICS["csat"].evaluate({"csat_sum": np.array(17.0), "responses": np.array(5.0)}) == \
        pytest.approx(3.4)


def test_ltr_answers_round_and_clip():
    s = np.array([0.0, 0.1, 0.5, 0.7, 0.78, 1.0, 1.0])
    noise = np.array([-5.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.6])
    # 2 + 9 s + noise = -3, 2.9, 6.5, 8.3, 9.02, 11, 9.4
    assert survey.ltr_responses(s, noise, intercept=2.0, slope=9.0).tolist() == [0, 3, 6, 8, 9, 10, 9]
    assert survey.ltr_responses([0.5], [0.0], intercept=0.0, slope=10.0).tolist() == [5]
    assert survey.ltr_responses([0.5], [0.7], intercept=1.0, slope=4.0).tolist() == [4]  # rint(3.7)


# ========================================================== the KPI registry (pure)
def _random_sums(seed, shape=(7,)):
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(1.0, 50.0, shape) for name in FIELDS}


# name -> the KPI by hand, from a mapping of fields
_BY_HAND = {
    "internal_service_quality": lambda f: f["isq_sum"] / f["isq_scored"],
    "resolution_time": lambda f: f["resolution_hours_sum"] / f["isq_scored"],
    "sla_attainment": lambda f: f["sla_met"] / f["sla_due"],
    "overdue_requests": lambda f: f["requests_overdue"],
    "employee_satisfaction": lambda f: f["satisfaction_sum"] / f["headcount"],
    "headcount": lambda f: f["headcount"],
    "vacancies": lambda f: f["vacancies"],
    "turnover": lambda f: 52.0 * f["quits"] / f["headcount"],
    "skill": lambda f: f["skill_sum"] / f["headcount"],
    "productivity": lambda f: f["productivity_sum"] / f["headcount"],
    "utilisation": lambda f: f["busy_hours"] / f["staffed_hours"],
    "work_pressure": lambda f: (f["busy_hours"] + f["wait_hours_sum"] + f["abandoned_wait_hours_sum"])
    / f["staffed_hours"],
    "standard_pressure": lambda f: f["required_hours"] / f["staffed_hours"],
    "service_standard": lambda f: f["standard_minutes_sum"] / f["headcount"],
    "time_per_customer": lambda f: f["time_given_minutes_sum"] / f["headcount"],
    "arrivals": lambda f: f["arrivals"],
    "served": lambda f: f["served"],
    "wait_time": lambda f: 60.0 * f["wait_hours_sum"] / f["started"],
    "prob_wait": lambda f: f["waited"] / f["started"],
    "wait_time_all": lambda f: 60.0 * (f["wait_hours_sum"] + f["abandoned_wait_hours_sum"])
    / (f["started"] + f["abandoned"]),
    "prob_wait_all": lambda f: (f["waited"] + f["abandoned"]) / (f["started"] + f["abandoned"]),
    "service_level": lambda f: f["answered_in_target"] / (f["started"] + f["abandoned"]),
    "abandonment": lambda f: f["abandoned"] / (f["started"] + f["abandoned"]),
    "service_quality": lambda f: f["quality_sum"] / f["served"],
    "customer_satisfaction": lambda f: f["customer_satisfaction_sum"] / f["active_customers"],
    "csat": lambda f: f["csat_sum"] / f["responses"],
    "nps": lambda f: 100.0 * (f["promoters"] - f["detractors"]) / f["responses"],
    "active_customers": lambda f: f["active_customers"],
    "retention": lambda f: (1.0 - f["churned"] / f["customers_start"]) ** 52,
    "acquisition": lambda f: f["acquired"],
    "revenue": lambda f: f["revenue"],
    "costs": lambda f: f["costs"],
    "profit": lambda f: f["profit"],
}


def test_every_kpi_is_its_documented_formula():
    assert set(_BY_HAND) == set(METRICS), "a KPI without an oracle here (or an oracle without a KPI)"
    f = _random_sums(3)
    for name, by_hand in _BY_HAND.items():
        np.testing.assert_allclose(METRICS[name].evaluate(f), by_hand(f), rtol=1e-12, err_msg=name)


def test_annualised_rates_at_known_values():
    # 1 quit a week among 52 employees is a turnover of 1 a year; 1% weekly churn keeps 0.99^52 a year
    assert METRICS["turnover"].evaluate({"quits": np.array(1.0), "headcount": np.array(52.0)}) == \
        pytest.approx(1.0)
    assert METRICS["retention"].evaluate({"churned": np.array(1.0), "customers_start": np.array(100.0)}) == \
        pytest.approx(0.99 ** 52)
    assert METRICS["retention"].evaluate({"churned": np.array(0.0), "customers_start": np.array(100.0)}) == 1.0


def test_run_totals_average_stocks_and_sum_flows():
    """``total`` of a flow over a stock: the flow per period over the mean stock."""
    r = simulate(neutral({"workforce.base_quit_rate": 3.0, "workforce.time_to_fill_weeks": 1.0,
                          "customers.base_churn_rate": 3.0, "customers.acquisition_rate": 5.0,
                          "customers.visit_rate": 0.2}), horizon=6, seed=5)
    T = r.horizon
    assert r.field("quits").sum() > 0 and r.field("churned").sum() > 0
    assert r.total("turnover") == pytest.approx(52.0 * r.field("quits").sum() / T / r.field("headcount").mean())
    assert r.total("retention") == pytest.approx(
        (1.0 - r.field("churned").sum() / r.field("customers_start").sum()) ** 52)
    assert r.total("revenue") == pytest.approx(r.field("revenue").sum())
    assert r.total("headcount") == pytest.approx(r.field("headcount").mean())
    assert r.total("csat") == pytest.approx(r.field("csat_sum").sum() / r.field("responses").sum())
    assert r.total("turnover", start=2) == pytest.approx(
        52.0 * r.field("quits")[2:].sum() / (T - 2) / r.field("headcount")[2:].mean())


# ============================================================ surveys in the engine
@pytest.mark.parametrize("s, csat, nps", [
    (0.2, 1, -100.0),   # LTR rint(3.8) = 4: detractor
    (0.45, 2, -100.0),  # LTR 6: still a detractor
    (0.56, 3, 0.0),     # LTR 7: passive
    (0.7, 4, 0.0),      # LTR 8: passive
    (0.78, 4, 100.0),   # LTR 9: promoter
    (0.9, 5, 100.0),    # LTR 10
])
def test_engine_surveys_at_a_constant_satisfaction(s, csat, nps):
    """No noise, every customer at ``s``: CSAT and NPS are those of one answer."""
    p = neutral({"customers.initial_satisfaction": s, "customers.reference_satisfaction": s,
                 "customers.visit_rate": 0.2, "measurement.response_rate": 1.0,
                 "measurement.csat_noise": 0.0, "measurement.ltr_noise": 0.0})
    r = simulate(p, horizon=2, seed=1)
    assert r.field("served").sum() > 50
    np.testing.assert_array_equal(r.field("responses"), r.field("served"))  # everybody answers
    assert r.total("csat") == csat
    assert r.total("nps") == nps


def test_response_rate_is_the_share_of_served_who_answer():
    p = neutral({"customers.visit_rate": 1.0, "customers.n_customers": 1000, "workforce.n_employees": 30,
                 "measurement.response_rate": 0.3})
    r = simulate(p, horizon=3, seed=2)
    n = r.field("served").sum()
    share = r.field("responses").sum() / n
    assert abs(share - 0.3) < Z * math.sqrt(0.3 * 0.7 / n)


# =============================================================== time scales
def _big_workforce(overrides, links=None):
    return neutral({"organisation.n_units": 40, "workforce.n_employees": 25,
                    "workforce.time_to_fill_weeks": 0.0, "customers.n_customers": 0, **overrides}, links=links)


@pytest.mark.parametrize("satisfaction, k", [(0.65, 0.0), (0.45, 3.0), (0.85, 3.0)])
def test_turnover_is_the_weekly_quit_probability_annualised(satisfaction, k):
    """Quits are drawn weekly with probability 1 - exp(-h/52), h = h0 exp(k (S_ref - S)) a year."""
    h0 = 2.0
    p = _big_workforce({"workforce.base_quit_rate": h0, "workforce.base_satisfaction": satisfaction,
                        "workforce.reference_satisfaction": 0.65},
                       links={"quit_from_satisfaction": k})
    r = simulate(p, horizon=10, seed=3)
    n = r.field("headcount")
    np.testing.assert_array_equal(n, 1000)  # vacancies refill at once
    np.testing.assert_array_equal(r.field("hires"), r.field("quits"))
    h = h0 * math.exp(k * (0.65 - satisfaction))
    prob = -math.expm1(-h / 52.0)
    trials = n.sum()
    se = 52.0 * math.sqrt(prob * (1 - prob) / trials)
    assert abs(r.total("turnover") - 52.0 * prob) < Z * se, (r.total("turnover"), 52 * prob, se)
    # a monthly hazard (1 - exp(-h/12)) or a satisfaction link of the wrong sign is many SEs away
    assert abs(52.0 * -math.expm1(-h / 12.0) - 52.0 * prob) > 10 * se
    if k:
        wrong = -math.expm1(-h0 * math.exp(-k * (0.65 - satisfaction)) / 52.0)
        assert abs(52.0 * (wrong - prob)) > 10 * se


@pytest.fixture(scope="module")
def customer_base():
    """20,000 customers at satisfaction 0.8 (reference 0.7) who never visit: constant satisfaction."""
    p = neutral({"customers.n_customers": 20000, "customers.visit_rate": 0.0,
                 "customers.initial_satisfaction": 0.8, "customers.reference_satisfaction": 0.7,
                 "customers.base_churn_rate": 2.0, "customers.referral_rate": 0.5,
                 "customers.acquisition_rate": 30.0, "economics.acquisition_cost": 70.0},
                links={"churn_from_satisfaction": 4.0, "referral_from_satisfaction": 3.0})
    return simulate(p, horizon=10, seed=4)


def test_retention_is_the_annual_churn_hazard(customer_base):
    """Churn weekly with probability 1 - exp(-h/52), h = h0 exp(-k (S - S_ref)): retention exp(-h) a year."""
    r = customer_base
    h = 2.0 * math.exp(-4.0 * (0.8 - 0.7))
    prob = -math.expm1(-h / 52.0)
    trials = r.field("customers_start").sum()
    se_prob = math.sqrt(prob * (1 - prob) / trials)
    weekly = r.field("churned").sum() / trials
    assert abs(weekly - prob) < Z * se_prob
    se = 52 * (1 - prob) ** 51 * se_prob
    assert abs(r.total("retention") - math.exp(-h)) < Z * se
    assert r.total("retention") == pytest.approx((1 - weekly) ** 52, rel=1e-12)
    # the wrong sign of the link, or a monthly hazard, would be far away
    assert abs(-math.expm1(-2.0 * math.exp(0.4) / 52.0) - prob) > 10 * se_prob
    assert abs(-math.expm1(-h / 12.0) - prob) > 10 * se_prob


def test_referrals_per_week_are_the_annual_referral_rate_over_52(customer_base):
    r = customer_base
    rate = 0.5 * math.exp(3.0 * (0.8 - 0.7)) / 52.0  # per customer and week
    expected = rate * r.field("customers_start").sum()
    got = r.field("referred").sum()
    assert abs(got - expected) < Z * math.sqrt(expected), (got, expected)
    assert 0.5 * math.exp(-0.3) / 52.0 * r.field("customers_start").sum() < expected - 10 * math.sqrt(expected)


def test_marketing_acquires_at_its_weekly_rate_and_pays_for_each(customer_base):
    r = customer_base
    marketed = r.field("acquired") - r.field("referred")
    assert abs(marketed.sum() - 30.0 * r.horizon) < Z * math.sqrt(30.0 * r.horizon)
    np.testing.assert_allclose(r.field("marketing_cost"), 70.0 * marketed, rtol=1e-12)
    # satisfaction stays put without visits, so new customers join at the same satisfaction
    np.testing.assert_allclose(r.kpi("customer_satisfaction"), 0.8, rtol=1e-12)


def test_loyalty_links_at_known_points():
    """The documented forms of the loyalty links, at S = 0.8 against a reference of 0.7."""
    k, x = 2.0, 0.1
    assert L.customer_visit_rate(0.8, 0.5, 0.7, k) == pytest.approx(0.5 * math.exp(k * x))
    assert L.referral_rate(0.8, 0.3, 0.7, k) == pytest.approx(0.3 * math.exp(k * x))
    assert L.churn_hazard(0.8, 0.2, 0.7, k) == pytest.approx(0.2 * math.exp(-k * x))  # satisfied stay
    assert L.spend_per_visit(0.8, 40.0, 0.7, k) == pytest.approx(40.0 * (1 + k * x))
    assert L.spend_per_visit(0.0, 40.0, 0.7, 5.0) == 0.0  # floored at no spend
    response = L.loyalty_response
    assert response(0.8, 0.7, k, "logistic") == pytest.approx(2 / (1 + math.exp(-2 * k * x)))
    slope = (response(0.7 + 1e-6, 0.7, k, "logistic") - response(0.7 - 1e-6, 0.7, k, "logistic")) / 2e-6
    assert slope == pytest.approx(k, rel=1e-6)  # the same slope k at the reference
    zone = (0.55, 0.85)
    assert response(0.8, 0.7, k, "threshold", zone) == 1.0  # inside the zone of tolerance
    assert response(0.95, 0.7, k, "threshold", zone) == pytest.approx(math.exp(k * 0.1))
    assert response(0.45, 0.7, k, "threshold", zone) == pytest.approx(math.exp(-k * 0.1))
    for form in ("exponential", "linear", "logistic", "threshold"):
        assert response(0.93, 0.7, 0.0, form, zone) == 1.0
    # employees' satisfaction moderates the strength: k max(0, 1 + m (S_e - S_ref))
    assert L.loyalty_strength(k, 0.75, 0.65, 2.0) == pytest.approx(k * 1.2)
    assert L.loyalty_strength(k, 0.0, 0.65, 2.0) == 0.0


def test_visits_per_week_follow_the_revisit_link():
    """Week 0 arrivals are Poisson with mean sum_i v0 exp(k (S_i - S_ref)), v0 per week."""
    p = neutral({"customers.n_customers": 5000, "customers.visit_rate": 1.0, "workforce.n_employees": 40,
                 "customers.initial_satisfaction": 0.8, "customers.reference_satisfaction": 0.7},
                links={"revisit_from_satisfaction": 2.0})
    r = simulate(p, horizon=1, seed=6)
    expected = 5000 * math.exp(2.0 * 0.1)
    assert abs(r.field("arrivals")[0] - expected) < Z * math.sqrt(expected)
    assert 5000 * math.exp(-0.2) < expected - 10 * math.sqrt(expected)  # the wrong sign is far away


# ===================================================================== money
def _money_params(**levers):
    return neutral({"organisation.n_units": 2, "workforce.n_employees": 4,
                    "customers.visit_rate": 0.3, "customers.patience_minutes": 20.0,
                    "workforce.training_hours": 2.0, "workforce.base_quit_rate": 0.0,
                    "economics.gross_margin": 0.55, **levers})


@pytest.fixture(scope="module")
def priced():
    """The same seed at price and pay indices 1 and off 1: with every link off, the same sample path."""
    base = simulate(_money_params(), horizon=4, seed=7)
    other = simulate(_money_params(**{"economics.price_index": 1.3, "workforce.pay_index": 1.2}),
                     horizon=4, seed=7)
    return base, other


def test_with_links_off_price_and_pay_leave_the_sample_path_alone(priced):
    base, other = priced
    for name in ("arrivals", "served", "abandoned", "wait_hours_sum", "busy_hours", "staffed_hours", "quality_sum"):
        np.testing.assert_array_equal(base.field(name), other.field(name), err_msg=name)
    assert base.field("served").sum() > 100


def test_revenue_is_served_visits_times_spend_times_price(priced):
    base, other = priced
    np.testing.assert_allclose(other.field("revenue") / base.field("revenue"), 1.3, rtol=1e-12)
    for r, price in ((base, 1.0), (other, 1.3)):
        np.testing.assert_allclose(r.field("revenue"), r.field("served") * 40.0 * price, rtol=1e-12)
        np.testing.assert_allclose(r.field("goods_cost"), (1 - 0.55) * r.field("revenue"), rtol=1e-12)


def test_wages_and_training_scale_with_the_pay_index(priced):
    base, other = priced
    np.testing.assert_allclose(other.field("wage_cost") / base.field("wage_cost"), 1.2, rtol=1e-12)
    np.testing.assert_allclose(other.field("training_cost") / base.field("training_cost"), 1.2, rtol=1e-12)
    H = 45.0
    for r, pay in ((base, 1.0), (other, 1.2)):
        np.testing.assert_allclose(r.field("staffed_hours"), 2 * 4 * H)  # nobody quits: every hour staffed
        np.testing.assert_allclose(r.field("wage_cost"), 2 * 4 * 900.0 * pay, rtol=1e-12)
        # training hours are paid at the hourly wage: 2 h of a 45-hour week
        np.testing.assert_allclose(r.field("training_cost"), 2 * 4 * 900.0 * pay * 2.0 / H, rtol=1e-12)


def test_every_cost_line_and_the_money_identity():
    p = neutral({"organisation.n_units": 2, "workforce.n_employees": 4, "workforce.base_quit_rate": 3.0,
                 "workforce.time_to_fill_weeks": 0.5, "customers.visit_rate": 0.3,
                 "customers.base_churn_rate": 0.5, "customers.acquisition_rate": 6.0,
                 "customers.referral_rate": 1.0, "economics.hiring_cost": 3000.0,
                 "economics.acquisition_cost": 80.0, "economics.fixed_cost_per_week": 1234.0,
                 "economics.gross_margin": 0.4, "economics.price_index": 1.1, "workforce.pay_index": 0.9,
                 "internal.tools_spend_per_week": 500.0, "internal.request_rate": 0.5,
                 "internal.departments": {"it": {"n_staff": 2, "wage_per_week": 1300.0},
                                          "hr": {"n_staff": 3, "wage_per_week": 1100.0}}})
    r = simulate(p, horizon=6, seed=8)
    f = {k: r.sums[..., FIELDS.index(k)] for k in FIELDS}
    assert f["hires"].sum() > 0 and f["referred"].sum() > 0
    np.testing.assert_allclose(f["hiring_cost"], 3000.0 * f["hires"], rtol=1e-12)
    np.testing.assert_allclose(f["marketing_cost"], 80.0 * (f["acquired"] - f["referred"]), rtol=1e-12)
    np.testing.assert_allclose(f["fixed_cost"], 1234.0)
    np.testing.assert_allclose(f["internal_cost"], (2 * 1300.0 + 3 * 1100.0 + 500.0) / 2, rtol=1e-12)
    np.testing.assert_allclose(f["wage_cost"], f["staffed_hours"] / 45.0 * 900.0 * 0.9, rtol=1e-12)
    np.testing.assert_allclose(f["revenue"], f["served"] * 40.0 * 1.1, rtol=1e-12)
    np.testing.assert_allclose(f["goods_cost"], 0.6 * f["revenue"], rtol=1e-12)
    lines = sum(f[k] for k in ("wage_cost", "training_cost", "hiring_cost", "marketing_cost", "goods_cost",
                               "fixed_cost", "internal_cost"))
    np.testing.assert_allclose(f["costs"], lines, rtol=1e-12)
    np.testing.assert_allclose(f["profit"], f["revenue"] - f["costs"], rtol=1e-12, atol=1e-9)
    # departments: staff hours, cost
    for name, staff, wage in (("it", 2, 1300.0), ("hr", 3, 1100.0)):
        np.testing.assert_allclose(r.department(name, "staff_hours"), staff * 45.0)
        np.testing.assert_allclose(r.department(name, "cost"), staff * wage)


def test_a_share_of_last_weeks_positive_profit_is_reinvested_in_tools():
    """Internal cost = departments + tools spend + share x max(0, last week's profit); losses reinvest nothing."""
    p = neutral({"economics.reinvestment_share": 0.4, "economics.price_index": 3.0, "customers.visit_rate": 0.5,
                 "economics.fixed_cost_per_week": 500.0, "internal.tools_spend_per_week": 100.0,
                 "internal.departments": {"it": {"n_staff": 1, "wage_per_week": 1000.0}}})
    p = p.with_changes(Change(at_week=3, path="economics.price_index", value=0.1))
    r = simulate(p, horizon=6, seed=10)
    profit = r.field("profit")
    assert np.any(profit[:3] > 0) and np.any(profit[3:5] < 0)
    reinvested = 0.4 * np.maximum(0.0, np.r_[0.0, profit[:-1]])
    np.testing.assert_allclose(r.field("internal_cost"), 1000.0 + 100.0 + reinvested, rtol=1e-12)


def test_spend_per_visit_follows_the_share_of_wallet_link():
    """Week 0: every customer at 0.8 (reference 0.7) spends m0 (1 + k 0.1) a visit, times the price."""
    p = neutral({"customers.visit_rate": 0.3, "customers.initial_satisfaction": 0.8,
                 "customers.reference_satisfaction": 0.7, "economics.price_index": 1.25},
                links={"spend_from_satisfaction": 1.5})
    r = simulate(p, horizon=1, seed=9)
    assert r.field("served")[0] > 20
    assert r.field("revenue")[0] == pytest.approx(r.field("served")[0] * 40.0 * (1 + 1.5 * 0.1) * 1.25,
                                                  rel=1e-12)


# ========================================================= customers' experiences
def test_sequential_update_applies_experiences_in_the_order_given():
    s = np.array([0.5, 0.2])
    sequential_update(s, np.array([0, 1, 0]), np.array([1.0, 0.6, 0.0]), 0.5)
    assert s.tolist() == [0.375, 0.4]  # 0.5 -> 0.75 -> 0.375 (the other order gives 0.625)
    s = np.array([0.5])
    sequential_update(s, np.array([0, 0]), np.array([0.0, 1.0]), 0.5)
    assert s.tolist() == [0.625]
    s = np.array([0.4])
    sequential_update(s, np.array([0, 0, 0]), np.array([1.0, 0.0, 1.0]), 0.2)
    assert s[0] == pytest.approx(((0.4 * 0.8 + 0.2) * 0.8) * 0.8 + 0.2, abs=1e-15)


_EXPERIENCE = dict(
    overrides={"organisation.hours_per_week": 10.0, "workforce.n_employees": 3,
               "workforce.service_time_minutes": 15.0, "workforce.service_time_cv": 2.0,
               "workforce.initial_skill": 0.4,
               "customers.n_customers": 30, "customers.visit_rate": 5.0, "customers.patience_minutes": 15.0,
               "customers.initial_satisfaction": 0.6, "customers.reference_satisfaction": 0.7,
               "customers.expected_quality": 0.7, "customers.wait_tolerance_minutes": 10.0,
               "customers.abandonment_penalty": 2.0, "customers.update_weight": 0.3,
               "economics.price_index": 1.2},
    links={"value_from_quality": 2.0, "value_from_wait": 0.3, "value_from_price": 0.3,
           "quality_from_skill": 0.3})


def _replay(events, p, s0, key):
    """Customers' satisfaction from the recorded events, one experience after another in ``key`` order."""
    cu, lk = p.customers, p.links
    items = []
    for unit, pos, c, arrival, wait, service, quality in events["served"]:
        value = (lk.value_from_quality * (quality - cu.expected_quality)
                 - lk.value_from_wait * wait * 60.0 / cu.wait_tolerance_minutes
                 - lk.value_from_price * (p.economics.price_index - 1.0))
        items.append((arrival + wait + service, arrival, int(c), value))
    for unit, c, arrival, gone in events["abandoned"]:
        items.append((gone, arrival, int(c), -lk.value_from_wait * cu.abandonment_penalty))
    s = np.array(s0, dtype=float)
    for item in sorted(items, key=key):
        experience = min(1.0, max(0.0, cu.reference_satisfaction + item[3]))
        s[item[2]] += cu.update_weight * (experience - s[item[2]])
    return s


def test_customer_satisfaction_is_the_replay_of_experiences_in_the_order_they_end():
    """Exact oracle on the weekly update: value equation, abandonment penalty, clipping, completion order."""
    p = neutral(_EXPERIENCE["overrides"], links=_EXPERIENCE["links"])
    engine = Engine(p, 3, 11, record_events=True)
    engine.advance(3)
    unit = engine.units[0]
    events = engine.events
    assert len(events["abandoned"]) > 20 and len(events["served"]) > 100
    s0 = np.full(30, 0.6)
    by_end = _replay(events, p, s0, key=lambda item: item[0])
    np.testing.assert_allclose(unit.customers.satisfaction[:30], by_end, rtol=0, atol=1e-12)
    # the order matters on this path: arrival order would give other numbers
    by_arrival = _replay(events, p, s0, key=lambda item: item[1])
    assert np.abs(by_arrival - by_end).max() > 1e-4
    # and the recorded KPI is the mean over active customers
    assert engine.sums[-1, 0, FIELDS.index("customer_satisfaction_sum")] == pytest.approx(by_end.sum())


def test_abandonment_lowers_satisfaction():
    """A customer whose only experience is an abandonment moves toward S_ref - k_w * penalty."""
    p = neutral({**_EXPERIENCE["overrides"], "customers.n_customers": 300, "customers.visit_rate": 0.5},
                links={"value_from_wait": 0.3})
    engine = Engine(p, 1, 12, record_events=True)
    engine.advance(1)
    served = {int(row[2]) for row in engine.events["served"]}
    abandoned = [int(row[1]) for row in engine.events["abandoned"]]
    only = [c for c in set(abandoned) if c not in served and abandoned.count(c) == 1]
    assert only, "no customer who only abandoned on this path"
    expected = 0.6 + 0.3 * (0.7 - 0.3 * 2.0 - 0.6)
    np.testing.assert_allclose(engine.units[0].customers.satisfaction[only], expected, rtol=1e-12)
    assert expected < 0.6


def test_service_level_counts_customers_answered_within_the_threshold():
    """Answered within 60 s, among started and abandoned: checked against the recorded waits."""
    p = neutral({"workforce.n_employees": 3, "customers.n_customers": 400, "customers.visit_rate": 0.55,
                 "customers.patience_minutes": 30.0, "measurement.service_level_seconds": 60.0})
    r = simulate(p, horizon=2, seed=24, record_events=True)
    waits = np.array(r.events["served"])[:, 4]
    in_service = r.field("in_service")[-1]
    answered = r.field("answered_in_target").sum()
    within = np.count_nonzero(waits <= 60.0 / 3600.0)
    assert within <= answered <= within + in_service  # the last customers in service are not yet recorded
    assert np.count_nonzero(waits <= 20.0 / 60.0) > within + in_service  # a threshold in minutes would differ
    assert np.count_nonzero(waits > 0) <= r.field("waited").sum() <= np.count_nonzero(waits > 0) + in_service
    assert r.total("service_level") == pytest.approx(
        answered / (r.field("started").sum() + r.field("abandoned").sum()))
    # a threshold of 0 s: answered at once is exactly started without waiting
    r0 = simulate(p.override({"measurement.service_level_seconds": 0.0}), horizon=2, seed=24)
    np.testing.assert_array_equal(r0.field("answered_in_target"), r0.field("started") - r0.field("waited"))
    assert r0.field("answered_in_target").sum() > 0


def test_service_times_follow_each_positions_productivity():
    """Fully skilled staff below the reference satisfaction: productivity 1 + k (S - S_ref) stretches service."""
    p = neutral({"workforce.n_employees": 4, "workforce.initial_skill": 1.0, "workforce.service_time_minutes": 12.0,
                 "workforce.base_satisfaction": 0.45, "workforce.reference_satisfaction": 0.65,
                 "customers.n_customers": 800, "customers.visit_rate": 0.6},
                links={"productivity_from_satisfaction": 2.0})
    r = simulate(p, horizon=2, seed=27, record_events=True)
    minutes = 60.0 * np.array(r.events["served"])[:, 5]
    mean = 12.0 / (1 + 2.0 * (0.45 - 0.65))  # 20 minutes
    assert abs(minutes.mean() - mean) < Z * mean / math.sqrt(minutes.size)  # exponential: sd = mean
    assert abs(12.0 - mean) > 10 * mean / math.sqrt(minutes.size)
    np.testing.assert_allclose(r.kpi("productivity"), 0.6, rtol=1e-12)


# ================================================================== workforce
def test_a_hire_starts_afresh():
    p = neutral({"workforce.n_employees": 4, "workforce.initial_skill": 0.35, "workforce.base_satisfaction": 0.62,
                 "workforce.time_to_fill_weeks": 2.0})
    engine = Engine(p, 2, 13)
    unit = engine.units[0]
    unit.satisfaction[1] = 0.13
    unit.tenure[1] = 77.0
    unit.skill[1] = 0.99
    unit.isq[1] = 0.1
    unit.quit(1)
    assert not unit.filled[1]
    unit.hire(1)
    assert unit.filled[1]
    assert unit.satisfaction[1] == 0.62
    assert unit.tenure[1] == 0.0
    assert unit.skill[1] == 0.35
    assert unit.isq[1] == p.workforce.reference_isq
    assert unit.acc[FIELDS.index("quits")] == 1 and unit.acc[FIELDS.index("hires")] == 1


def test_staffed_hours_are_the_hours_positions_are_filled():
    """Wages are paid for filled hours: the integral of headcount over the week, vacancies unpaid."""
    p = neutral({"workforce.n_employees": 6, "workforce.base_quit_rate": 15.0, "workforce.time_to_fill_weeks": 1.0,
                 "customers.visit_rate": 0.1})
    engine = Engine(p, 4, 25)
    unit = engine.units[0]
    changes = []  # (time, change in headcount)
    quit, hire = unit.quit, unit.hire

    def spy_quit(e):
        before = unit.filled.sum()
        quit(e)
        changes.append((engine.env.now, int(unit.filled.sum() - before)))

    def spy_hire(e):
        before = unit.filled.sum()
        hire(e)
        changes.append((engine.env.now, int(unit.filled.sum() - before)))

    unit.quit, unit.hire = spy_quit, spy_hire
    engine.advance(4)
    H = 45.0
    assert sum(1 for _, c in changes if c < 0) > 3 and sum(1 for _, c in changes if c > 0) > 0
    for week in range(4):
        grid = [week * H] + sorted(t for t, _ in changes if week * H < t < (week + 1) * H) + [(week + 1) * H]
        count = lambda t: 6 + sum(c for s, c in changes if s <= t)  # noqa: E731
        hours = sum((b - a) * count(a) for a, b in zip(grid[:-1], grid[1:]))
        row = engine.sums[week, 0]
        assert row[FIELDS.index("staffed_hours")] == pytest.approx(hours, rel=1e-12), week
        assert row[FIELDS.index("wage_cost")] == pytest.approx(hours / H * 900.0, rel=1e-12)
        assert row[FIELDS.index("headcount")] == count((week + 1) * H)
    assert engine.sums[:, 0, FIELDS.index("vacancies")].sum() > 0


def test_tenure_grows_a_week_a_week_and_skill_follows_the_learning_curve():
    p = neutral({"workforce.n_employees": 5, "workforce.initial_skill": 0.3, "workforce.learning_weeks": 6.0,
                 "workforce.training_hours": 3.0, "workforce.learning_gain_per_training_hour": 0.2,
                 "customers.visit_rate": 0.2},
                links={"productivity_from_skill": 0.5})
    engine = Engine(p, 5, 14)
    unit = engine.units[0]
    t0 = unit.tenure.copy()
    speedup = 1.0 + 0.2 * 3.0
    for week in range(1, 6):
        engine.advance(week)
        np.testing.assert_allclose(unit.tenure, t0 + week, rtol=0, atol=1e-12)
        skill = 1.0 - 0.7 * np.exp(-speedup * unit.tenure / 6.0)
        np.testing.assert_allclose(unit.skill, skill, rtol=1e-12)
        row = engine.sums[week - 1, 0]
        assert row[FIELDS.index("skill_sum")] == pytest.approx(skill.sum(), rel=1e-12)
        # productivity 1 - k (1 - skill) with the satisfaction link off
        assert row[FIELDS.index("productivity_sum")] == pytest.approx((1 - 0.5 * (1 - skill)).sum(), rel=1e-12)


def test_quality_and_speed_of_each_position_follow_its_skill_and_satisfaction():
    p = neutral({"workforce.n_employees": 4, "workforce.initial_skill": 0.3, "customers.visit_rate": 0.5,
                 "workforce.base_satisfaction": 0.7, "workforce.reference_satisfaction": 0.6,
                 "workforce.service_time_minutes": 12.0},
                links={"quality_from_skill": 0.4, "quality_from_satisfaction": 0.5,
                       "productivity_from_skill": 0.6, "productivity_from_satisfaction": 2.0})
    engine = Engine(p, 1, 15, record_events=True)
    unit = engine.units[0]
    expected = np.clip(0.8 - 0.4 * (1 - unit.skill) + 0.5 * (0.7 - 0.6), 0, 1)
    productivity = (1 - 0.6 * (1 - unit.skill)) * (1 + 2.0 * (0.7 - 0.6))
    np.testing.assert_allclose(unit.mean_time, 0.2 / productivity, rtol=1e-12)  # hours per service
    engine.advance(1)
    rows = np.array(engine.events["served"])
    assert rows.shape[0] > 20
    np.testing.assert_allclose(rows[:, 6], expected[rows[:, 1].astype(int)], rtol=1e-12)
    assert engine.sums[0, 0, FIELDS.index("quality_sum")] == pytest.approx(rows[:, 6].sum())


def test_first_order_delay_closes_one_minus_exp_of_the_gap():
    tau = 8.0
    assert L.first_order_delay(0.5, 0.9, 1.0, tau) == pytest.approx(0.5 + 0.4 * (1 - math.exp(-1 / tau)))
    assert L.first_order_delay(0.5, 0.1, 2.0, tau) == pytest.approx(0.5 - 0.4 * (1 - math.exp(-2 / tau)))
    # inverted (exp(-tau)) or per-week-fraction (1/tau) forms are different numbers
    assert L.first_order_delay(0.0, 1.0, 1.0, tau) != pytest.approx(1 - math.exp(-tau))
    assert L.first_order_delay(0.0, 1.0, 1.0, tau) != pytest.approx(1 / tau, rel=1e-3)


def test_employee_satisfaction_moves_toward_its_target_with_the_delay():
    """Recognition, pay, training and customers set a known target; satisfaction closes the gap at 1 - e^(-t/tau)."""
    tau = 5.0
    p = neutral({"workforce.satisfaction_delay_weeks": tau, "workforce.base_satisfaction": 0.6,
                 "workforce.recognition": 0.5, "workforce.pay_index": 1.2,
                 "workforce.training_hours": 3.0, "workforce.reference_training_hours": 1.0,
                 "customers.visit_rate": 0.0, "customers.initial_satisfaction": 0.8,
                 "customers.reference_satisfaction": 0.7},
                links={"satisfaction_from_recognition": 0.1, "satisfaction_from_pay": 0.3,
                       "satisfaction_from_training": 0.01, "satisfaction_from_customers": 0.2})
    r = simulate(p, horizon=4, seed=16)
    gap = 0.1 * 0.5 + 0.3 * 0.2 + 0.01 * 2.0 + 0.2 * 0.1
    weeks = np.arange(1, 5)
    np.testing.assert_allclose(r.kpi("employee_satisfaction"), 0.6 + gap * (1 - np.exp(-weeks / tau)),
                               rtol=1e-12)


def test_workload_lowers_satisfaction_by_the_work_pressure_above_its_reference():
    tau, k, ref = 4.0, 0.3, 0.9
    p = neutral({"workforce.satisfaction_delay_weeks": tau, "workforce.base_satisfaction": 0.65,
                 "workforce.reference_utilisation": ref, "workforce.n_employees": 2,
                 "customers.n_customers": 400, "customers.visit_rate": 1.5},
                links={"satisfaction_from_workload": k})
    r = simulate(p, horizon=3, seed=17)
    pressure = r.kpi("work_pressure")
    assert np.all(pressure > ref + 0.2)  # overloaded every week
    s = 0.65
    for week in range(3):
        target = 0.65 - k * max(0.0, pressure[week] - ref)
        assert target > 0  # not clipped
        s = s + (target - s) * delay(1, tau)
        assert r.kpi("employee_satisfaction")[week] == pytest.approx(s, rel=1e-12), week


# ============================================================ internal service
def _one_department(ftr, sla, *, w=0.8, rate=2.0, staff=1, links=None, extra=None):
    return neutral({"workforce.n_employees": 5, "internal.request_rate": rate, "internal.timely_weight": w,
                    "internal.departments": {"it": {"n_staff": staff, "service_time_hours": 1.0, "ftr_prob": ftr,
                                                    "sla_hours": sla, "requests_to": {}}},
                    **(extra or {})}, links=links)


def test_a_late_request_right_first_time_scores_one_minus_the_timely_weight():
    r = simulate(_one_department(ftr=1.0, sla=1e-6), horizon=4, seed=18)
    resolved = r.field("requests_resolved")
    assert resolved.sum() > 20
    assert r.field("sla_met").sum() == 0
    np.testing.assert_allclose(r.field("isq_sum"), (1 - 0.8) * resolved, rtol=1e-12)  # overdue items add 0
    np.testing.assert_array_equal(r.field("isq_scored"), resolved + r.field("requests_overdue"))


def test_a_timely_request_right_first_time_scores_one():
    r = simulate(_one_department(ftr=1.0, sla=1e6), horizon=4, seed=18)
    assert r.field("requests_resolved").sum() > 20
    np.testing.assert_array_equal(r.field("isq_sum"), r.field("requests_resolved"))
    assert np.all(r.kpi("internal_service_quality")[r.field("isq_scored") > 0] == 1.0)
    np.testing.assert_array_equal(r.department("it", "reworked"), 0)


def test_isq_is_the_weighted_sum_of_timely_and_right_first_time():
    """Right first time always: a resolution scores w if timely and 0 otherwise, plus 1 - w."""
    r = simulate(_one_department(ftr=1.0, sla=2.0, rate=3.0), horizon=4, seed=19)
    met, resolved = r.field("sla_met").sum(), r.field("requests_resolved").sum()
    assert 0 < met < resolved  # some timely, some late
    assert r.field("isq_sum").sum() == pytest.approx(0.8 * met + 0.2 * resolved, rel=1e-12)
    assert r.field("isq_sum").sum() != pytest.approx(0.2 * met + 0.8 * resolved, rel=1e-3)  # swapped weights
    # the department's counts and the units' agree
    assert r.department("it", "resolved").sum() == resolved
    assert r.department("it", "sla_met").sum() == met


def test_a_timely_reworked_request_scores_the_timely_weight():
    """Every request timely (huge SLA), half reworked: each scores w + (1 - w) * right_first_time."""
    p = _one_department(ftr=0.5, sla=1e6, w=0.8)
    engine = Engine(p, 3, 20)
    seen = []
    resolve = engine.resolve

    def spy(dept, request):
        seen.append(request.first_time)
        resolve(dept, request)

    engine.resolve = spy
    engine.advance(3)
    first = np.array(seen)
    assert first.sum() > 5 and (~first).sum() > 5
    isq_sum = engine.sums[:, 0, FIELDS.index("isq_sum")].sum()
    assert isq_sum == pytest.approx(0.8 * first.size + 0.2 * first.sum(), rel=1e-12)
    assert engine.dept_sums[:, 0, DEPARTMENT_FIELDS.index("reworked")].sum() >= (~first).sum()  # every rework


def test_perceived_isq_is_smoothed_and_moves_satisfaction():
    """Each employee's ISQ: ref + a (mean score - ref) when scored this week; satisfaction target k (ISQ - ref)."""
    tau, a, k, ref = 6.0, 0.3, 1.0, 0.9
    p = _one_department(ftr=1.0, sla=1e-6, w=0.8, rate=1.5, links={"satisfaction_from_internal": k},
                        extra={"workforce.satisfaction_delay_weeks": tau, "workforce.isq_smoothing": a})
    engine = Engine(p, 1, 21)
    unit = engine.units[0]
    scores = {e: [] for e in range(5)}
    score = engine._score

    def spy(request, quality, hours, *, resolved, sla_due, sla_met):
        assert quality == pytest.approx(0.2 if resolved else 0.0)  # late, right first time / overdue
        scores[request.who[1]].append(quality)
        score(request, quality, hours, resolved=resolved, sla_due=sla_due, sla_met=sla_met)

    engine._score = spy
    engine.advance(1)
    isq = np.array([ref + a * (np.mean(scores[e]) - ref) if scores[e] else ref for e in range(5)])
    assert sum(map(len, scores.values())) > 3
    np.testing.assert_allclose(unit.isq, isq, rtol=1e-12)
    np.testing.assert_allclose(unit.satisfaction, 0.65 + k * (isq - ref) * delay(1, tau), rtol=1e-12)


def test_a_departments_speed_follows_the_internal_service_it_receives():
    """Department b's requests to a are all late: its ISQ falls by smoothing and slows it by the link."""
    a, k, ref = 0.3, 0.5, 0.9
    p = neutral({"internal.timely_weight": 0.6, "workforce.isq_smoothing": a,
                 "internal.departments": {
                     "a": {"n_staff": 1, "service_time_hours": 0.5, "ftr_prob": 1.0, "sla_hours": 1e-6},
                     "b": {"n_staff": 3, "service_time_hours": 2.0, "requests_to": {"a": 5.0}}}},
                links={"internal_speed_from_internal": k})
    engine = Engine(p, 1, 26)
    received = []
    score = engine._score

    def spy(request, quality, hours, **kw):
        if request.kind == 1:
            assert request.who == 1  # b raised it
            received.append(quality)
        score(request, quality, hours, **kw)

    engine._score = spy
    engine.advance(1)
    a_dept, b_dept = engine.departments
    assert len(received) > 2
    isq_b = ref + a * (np.mean(received) - ref)
    assert b_dept.isq_received == pytest.approx(isq_b, rel=1e-12)
    assert a_dept.isq_received == ref  # a raised nothing
    assert b_dept.mean_time == pytest.approx(2.0 / max(0.2, 1 + k * (isq_b - ref)), rel=1e-12)
    assert b_dept.mean_time > 2.0 and a_dept.mean_time == pytest.approx(0.5)


def test_tools_speed_up_departments_and_cut_rework():
    """At the half spend, tools give half their maximum speed-up and rework cut."""
    p = _one_department(ftr=0.6, sla=8.0, extra={"internal.tools_spend_per_week": 2000.0,
                                                 "internal.tools_half_spend": 2000.0,
                                                 "internal.tools_max_speedup": 0.4,
                                                 "internal.tools_max_ftr_gain": 0.5})
    engine = Engine(p, 1, 22)
    dept = engine.departments[0]
    assert engine.tools_speed == pytest.approx(1.2)
    assert dept.mean_time == pytest.approx(1.0 / 1.2)
    assert dept.ftr_prob == pytest.approx(1 - 0.4 * (1 - 0.25))


# ===================================================================== CLV
def test_run_clv_is_annual_from_the_runs_own_rates(customer_base):
    """``m r / (1 + i - r) - s AC`` with m and r a year (not a week) and s the marketing share."""
    r = customer_base
    ec = r.params.economics
    start = 2
    weeks = r.horizon - start
    margin = r.field("revenue")[start:].sum() * ec.gross_margin / r.field("active_customers")[start:].mean()
    margin *= 52.0 / weeks
    retention = (1 - r.field("churned")[start:].sum() / r.field("customers_start")[start:].sum()) ** 52
    share = 1 - r.field("referred")[start:].sum() / r.field("acquired")[start:].sum()
    i = ec.discount_rate
    expected = margin * retention / (1 + i - retention) - share * ec.acquisition_cost
    assert r.customer_lifetime_value(start=start) == pytest.approx(expected, rel=1e-9)


def test_run_clv_with_revenue_uses_an_annual_margin():
    p = neutral({"customers.n_customers": 2000, "customers.visit_rate": 0.5, "workforce.n_employees": 8,
                 "customers.base_churn_rate": 0.5, "economics.gross_margin": 0.5,
                 "economics.discount_rate": 0.1, "economics.acquisition_cost": 60.0,
                 "customers.acquisition_rate": 10.0})
    r = simulate(p, horizon=4, seed=23)
    weekly_margin = r.field("revenue").sum() * 0.5 / r.field("active_customers").mean() / 4
    retention = r.total("retention")
    assert weekly_margin > 5
    expected = 52 * weekly_margin * retention / (1.1 - retention) - 60.0
    assert r.customer_lifetime_value() == pytest.approx(expected, rel=1e-9)
    assert r.customer_lifetime_value() > 10 * (weekly_margin * retention / (1.1 - retention) - 60.0)
