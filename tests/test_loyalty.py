"""Loyalty forms by name, lasting customer differences, and employee satisfaction moderating loyalty."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spchain import ParamError, Params, preset, simulate
from spchain import links as L
from spchain.engine import weekly
from spchain.engine.model import Engine


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(L.LOYALTY_FORMS), st.floats(0, 1), st.floats(0.2, 0.9))
def test_every_form_is_neutral_at_strength_zero(form, s, ref):
    assert float(L.loyalty_response(s, ref, 0.0, form)) == 1.0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(L.LOYALTY_FORMS), st.floats(0.5, 10.0), st.floats(0, 0.99))
def test_every_form_rises_with_satisfaction(form, k, s):
    assert L.loyalty_response(s + 0.01, 0.7, k, form) >= L.loyalty_response(s, 0.7, k, form)
    assert L.loyalty_response(s + 0.01, 0.7, -k, form) <= L.loyalty_response(s, 0.7, -k, form)


def test_forms_by_their_equations():
    s = np.array([0.3, 0.6, 0.7, 0.8, 0.95])
    np.testing.assert_allclose(L.loyalty_response(s, 0.7, 3.0, "exponential"), np.exp(3.0 * (s - 0.7)))
    np.testing.assert_allclose(L.loyalty_response(s, 0.7, 3.0, "linear"), np.maximum(0, 1 + 3.0 * (s - 0.7)))
    logistic = L.loyalty_response(s, 0.7, 3.0, "logistic")
    np.testing.assert_allclose(logistic, 2 / (1 + np.exp(-6.0 * (s - 0.7))))
    assert np.all((logistic > 0) & (logistic < 2))
    h = 1e-6  # the logistic form has the exponential's slope k at the reference
    slope = (L.loyalty_response(0.7 + h, 0.7, 3.0, "logistic") - L.loyalty_response(0.7 - h, 0.7, 3.0, "logistic")) / (2 * h)
    assert float(slope) == pytest.approx(3.0, rel=1e-6)
    # the zone of tolerance: flat inside, exponential outside
    zone = (0.55, 0.85)
    t = L.loyalty_response(np.array([0.56, 0.7, 0.84]), 0.7, 8.0, "threshold", zone)
    np.testing.assert_array_equal(t, 1.0)
    assert float(L.loyalty_response(0.95, 0.7, 8.0, "threshold", zone)) == pytest.approx(np.exp(0.8))
    assert float(L.loyalty_response(0.45, 0.7, 8.0, "threshold", zone)) == pytest.approx(np.exp(-0.8))
    with pytest.raises(ValueError, match="unknown loyalty form 'step'"):
        L.loyalty_response(0.5, 0.7, 1.0, "step")


def test_churn_uses_the_form_in_the_reverse_direction():
    zone = (0.55, 0.85)
    assert L.churn_hazard(0.95, 0.2, 0.7, 8.0, "threshold", zone) == pytest.approx(0.2 * np.exp(-0.8))
    assert L.churn_hazard(0.80, 0.2, 0.7, 8.0, "threshold", zone) == pytest.approx(0.2)
    # delighted (answering 5) against merely satisfied (4): the apostles stay
    assert L.churn_hazard(0.95, 0.2, 0.7, 8.0, "threshold", zone) < 0.5 * L.churn_hazard(0.8, 0.2, 0.7, 8.0, "threshold", zone)


def test_forms_are_validated_and_kept_when_links_go_off():
    with pytest.raises(ParamError, match=r"customers.churn_form must be one of .* got 'treshold' \(did you mean 'threshold'\?\)"):
        Params().override({"customers.churn_form": "treshold"})
    with pytest.raises(ParamError, match="zone_low must be < customers.zone_high"):
        Params().override({"customers.zone_low": 0.9})
    p = Params().override({"customers.churn_form": "threshold"})
    assert p.customers.churn_form == "threshold"
    assert Params.from_dict(p.to_dict()) == p


def test_loyalty_strength_moderated_by_employee_satisfaction():
    assert L.loyalty_strength(2.0, 0.8, 0.65, 0.0) == 2.0
    assert L.loyalty_strength(2.0, 0.8, 0.65, 4.0) == pytest.approx(2.0 * 1.6)
    assert L.loyalty_strength(2.0, 0.2, 0.65, 4.0) == 0.0  # floored: never reverses the link


def test_unit_employee_satisfaction_scales_the_visit_link():
    p = preset("workshop").override({"links.loyalty_from_employees": 3.0})
    engine = Engine(p, horizon=2, seed=1)
    unit = engine.units[0]
    unit.customers.satisfaction[:] = 0.9
    for es in (0.65, 0.85):
        unit.satisfaction[:] = es
        unit.update_loyalty_rates()
        k = p.links.revisit_from_satisfaction * (1 + 3.0 * (es - p.workforce.reference_satisfaction))
        expected = p.customers.visit_rate * np.exp(k * (0.9 - p.customers.reference_satisfaction))
        np.testing.assert_allclose(unit.customers.visit_rate[unit.customers.active], expected)


def test_customer_traits_are_mean_one_lognormals_and_neutral_by_default():
    z = np.random.default_rng(3).standard_normal((200_000, 4))
    neutral = weekly.customer_traits(Params().customers, z)
    np.testing.assert_array_equal(neutral, np.tile([0.0, 1.0, 1.0, 1.0], (len(z), 1)))
    cu = Params().override({"customers.expectation_sd": 0.05, "customers.tolerance_sd": 0.3,
                            "customers.churn_propensity_sd": 0.6, "customers.spend_sd": 0.4}).customers
    t = weekly.customer_traits(cu, z)
    assert t[:, 0].std() == pytest.approx(0.05, rel=0.01)
    for col, sd in ((1, 0.3), (2, 0.6), (3, 0.4)):
        assert t[:, col].mean() == pytest.approx(1.0, abs=0.01)
        assert np.log(t[:, col]).std() == pytest.approx(sd, rel=0.01)


def test_traits_last_and_act_on_each_customer():
    p = preset("workshop").override({"customers.spend_sd": 0.5, "customers.churn_propensity_sd": 0.8,
                                     "customers.expectation_sd": 0.08, "links.spend_from_satisfaction": 0.0,
                                     "customers.base_churn_rate": 0.0})  # nobody leaves: slots keep their customer
    engine = Engine(p, horizon=6, seed=4)
    unit = engine.units[0]
    before = unit.customers.traits.copy()
    engine.advance(6)
    stayed = np.arange(6000)
    np.testing.assert_array_equal(unit.customers.traits[stayed], before[stayed])  # lasting, not redrawn
    np.testing.assert_allclose(unit.customers.spend[stayed], p.economics.spend_per_visit * before[stayed, 3])
    # customers who expect more end up less satisfied
    high = before[stayed, 0] > 0.08
    low = before[stayed, 0] < -0.08
    assert unit.customers.satisfaction[stayed][high].mean() < unit.customers.satisfaction[stayed][low].mean()


def test_lasting_expectations_spread_satisfaction_and_keep_the_average():
    base = preset("workshop")
    plain = simulate(base, horizon=20, seed=6)
    spread = simulate(base.override({"customers.expectation_sd": 0.05}), horizon=20, seed=6)
    assert abs(spread.total("customer_satisfaction", start=10) - plain.total("customer_satisfaction", start=10)) < 0.02


def test_churn_propensity_multiplies_each_customers_hazard():
    p = preset("workshop").override({"customers.churn_propensity_sd": 1.0, "links.churn_from_satisfaction": 0.0,
                                     "customers.base_churn_rate": 2.0})
    engine = Engine(p, horizon=30, seed=8)
    unit = engine.units[0]
    propensity = unit.customers.traits[:6000, 2].copy()
    engine.advance(30)
    gone = ~unit.customers.active[:6000] | (unit.customers.traits[:6000, 2] != propensity)  # left (maybe replaced since)
    high, low = propensity > np.exp(0.5), propensity < np.exp(-1.5)
    assert gone[high].mean() > 2 * gone[low].mean()
