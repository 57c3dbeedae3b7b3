"""Units that differ: drawn and explicit characteristics, their effects, and department capacity."""

import warnings

import numpy as np
import pytest

from spchain import ParamError, Params, preset, simulate
from spchain.metrics import FIELDS
from spchain.engine.units import (CapacityWarning, department_loads, footfall_shocks, positions, size_departments,
                           unit_profiles)

def _by_unit(result, name):
    return result.sums[:, :, FIELDS.index(name)]


SPREAD = {"organisation.manager_sd": 0.05, "organisation.market_size_sd": 0.4,
          "organisation.attractiveness_sd": 0.3, "organisation.competition_sd": 0.5,
          "organisation.staffing_sd": 0.2}


def test_identical_units_by_default():
    p = preset("bank_branches")
    assert {(u.manager, u.market_size, u.attractiveness, u.competition, u.staffing)
            for u in unit_profiles(p, seed=3)} == {(0.0, 1.0, 1.0, 1.0, 1.0)}
    assert np.all(np.isclose(footfall_shocks(p, 3, 0, 20), 1.0))


def test_profiles_are_keyed_per_unit():
    small = unit_profiles(Params().override({"organisation.n_units": 3, **SPREAD}), seed=9)
    large = unit_profiles(Params().override({"organisation.n_units": 7, **SPREAD}), seed=9)
    assert small == large[:3]
    assert len({u.market_size for u in large}) == 7
    assert unit_profiles(Params().override({"organisation.n_units": 3, **SPREAD}), seed=10) != small


def test_drawn_characteristics_follow_their_distributions():
    n = 4000
    profiles = unit_profiles(Params().override({"organisation.n_units": n, **SPREAD}), seed=1)
    for name, sd in (("market_size", 0.4), ("attractiveness", 0.3), ("competition", 0.5), ("staffing", 0.2)):
        x = np.array([getattr(u, name) for u in profiles])
        assert x.mean() == pytest.approx(1.0, abs=4 * x.std() / np.sqrt(n)), name  # mean-one log-normal
        assert np.log(x).std() == pytest.approx(sd, rel=0.05), name
    manager = np.array([u.manager for u in profiles])
    assert manager.mean() == pytest.approx(0.0, abs=4 * 0.05 / np.sqrt(n))
    assert manager.std() == pytest.approx(0.05, rel=0.05)


def test_explicit_values_replace_drawn_ones_and_are_validated():
    p = Params().override({"organisation.n_units": 3, **SPREAD,
                           "organisation.units": {"1": {"market_size": 2.0, "manager": -0.1}}})
    drawn = unit_profiles(Params().override({"organisation.n_units": 3, **SPREAD}), seed=4)
    got = unit_profiles(p, seed=4)
    assert (got[1].market_size, got[1].manager) == (2.0, -0.1)
    assert got[1].attractiveness == drawn[1].attractiveness and got[0] == drawn[0]
    assert Params.from_dict(p.to_dict()) == p
    for bad, match in (({"7": {"market_size": 2.0}}, "no such unit"),
                       ({"x": {"market_size": 2.0}}, "unit indices"),
                       ({"1": {"market": 2.0}}, "did you mean 'market_size'"),
                       ({"1": {"market_size": 0.0}}, r"market_size must be a number > 0, got 0.0")):
        with pytest.raises(ParamError, match=match):
            Params().override({"organisation.n_units": 3, "organisation.units": bad})


def test_units_are_run_fixed():
    from spchain import Change

    p = Params().with_changes(Change(at_week=2, path="organisation.market_size_sd", value=0.3))
    with pytest.raises(ParamError, match="fixed for a whole run"):
        simulate(p, horizon=4, seed=1)


def test_characteristics_act_where_documented():
    base = preset("workshop").override({"organisation.n_units": 2, "links": Params().links.off().to_dict(),
                                        "workforce.base_quit_rate": 0.0, "customers.referral_rate": 0.0})
    p = base.override({"organisation.units": {"1": {"market_size": 2.0, "attractiveness": 1.5,
                                                    "competition": 4.0, "manager": 0.1}},
                       "organisation.staffing_elasticity": 0.0})
    r = simulate(p, horizon=12, seed=2)
    customers = r.kpi("active_customers", by_unit=True)
    first = customers[0] + _by_unit(r, "churned")[0] - _by_unit(r, "acquired")[0]
    assert first[1] == 2 * first[0]                                  # twice the market: twice the customers
    visits = r.kpi("arrivals", by_unit=True).sum(axis=0) / customers.mean(axis=0)
    assert visits[1] / visits[0] == pytest.approx(1.5, rel=0.06)    # visits per customer x attractiveness
    # churn hazard x competition, marketing acquisition x market size: counts within 4 Poisson sd
    hazard = p.customers.base_churn_rate * np.array([1.0, 4.0])
    expected_churn = (_by_unit(r, "customers_start") * -np.expm1(-hazard / 52.0)).sum(axis=0)
    expected_marketing = 12 * p.customers.acquisition_rate * np.array([1.0, 2.0])
    for observed, expected in ((_by_unit(r, "churned").sum(axis=0), expected_churn),
                               ((_by_unit(r, "acquired") - _by_unit(r, "referred")).sum(axis=0), expected_marketing)):
        assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected)), (observed, expected)
    assert expected_churn[1] > 6 * expected_churn[0]  # informative: 4x the hazard on 2x the customers
    assert r.kpi("employee_satisfaction", by_unit=True)[-1, 1] == pytest.approx(
        r.kpi("employee_satisfaction", by_unit=True)[-1, 0] + 0.1, abs=0.02)  # the manager's effect on the target


def test_positions_follow_demand():
    p = Params().override({"workforce.n_employees": 6})
    from spchain.engine.units import UnitProfile

    assert positions(p, UnitProfile()) == 6
    assert positions(p, UnitProfile(market_size=2.0, attractiveness=1.5)) == 18
    assert positions(p, UnitProfile(market_size=0.01)) == 1
    flat = p.override({"organisation.staffing_elasticity": 0.0})
    assert positions(flat, UnitProfile(market_size=2.0, staffing=1.5)) == 9
    r = simulate(Params().override({"organisation.n_units": 2, "organisation.units": {"0": {"market_size": 2.0}},
                                    "customers.n_customers": 500}), horizon=2, seed=1)
    assert _by_unit(r, "positions")[0].tolist() == [12, 6]


def test_footfall_is_a_stationary_ar1():
    p = Params().override({"organisation.footfall_sd": 0.2, "organisation.footfall_persistence": 0.7})
    x = np.log(footfall_shocks(p, 5, 0, 6000)) + 0.5 * 0.2 ** 2
    assert x.std() == pytest.approx(0.2, rel=0.08)
    assert np.corrcoef(x[1:], x[:-1])[0, 1] == pytest.approx(0.7, abs=0.04)
    np.testing.assert_array_equal(footfall_shocks(p, 5, 0, 50), footfall_shocks(p, 5, 0, 6000)[:50])
    # it moves visits: the weekly visits follow the shock
    q = preset("workshop").override({"organisation.footfall_sd": 0.3, "links": Params().links.off().to_dict()})
    r = simulate(q, horizon=30, seed=5)
    shock = footfall_shocks(q, 5, 0, 30)
    assert np.corrcoef(r.kpi("arrivals"), shock)[0, 1] > 0.9


def test_overloaded_departments_warn_and_sizing_fixes_them():
    big = preset("bank_branches").override({"organisation.n_units": 40})
    assert max(department_loads(big).values()) >= 1.0
    with pytest.warns(CapacityWarning, match="hr 1.69"):
        simulate(big, horizon=1, seed=1)
    sized = size_departments(big)
    assert max(department_loads(sized).values()) <= 0.7
    assert min(department_loads(sized).values()) > 0.35  # sized, not padded
    with warnings.catch_warnings():
        warnings.simplefilter("error", CapacityWarning)
        simulate(preset("bank_branches"), horizon=1, seed=1)
    # the offered load is what the run shows: a department at 0.7 keeps up, one at 1.7 does not
    run = simulate(big.override({"organisation.n_units": 40}), horizon=10, seed=1)
    assert run.department("hr", "backlog")[-1] > 3 * run.department("hr", "backlog")[2] > 0


def test_scheduled_base_satisfaction_reaches_every_unit():
    from spchain import Change

    p = preset("bank_branches").override({"organisation.manager_sd": 0.05})
    q = p.with_changes(Change(at_week=2, path="workforce.base_satisfaction", value=0.8))
    a, b = simulate(p, horizon=12, seed=3), simulate(q, horizon=12, seed=3)
    gain = b.kpi("employee_satisfaction", by_unit=True)[-1] - a.kpi("employee_satisfaction", by_unit=True)[-1]
    assert np.all(gain > 0.05)


def test_units_can_be_set_by_path_as_in_scenario_files():
    p = Params().override({"organisation.n_units": 3, "organisation.units.2.market_size": 1.5,
                           "organisation.units.2.manager": 0.05})
    assert dict(p.organisation.units) == {2: (("manager", 0.05), ("market_size", 1.5))}
    with pytest.raises(ParamError, match="did you mean 'market_size'"):
        Params().override({"organisation.n_units": 3, "organisation.units.2.market": 1.5})
    with pytest.raises(ParamError, match="not found"):
        Params().override({"organisation.unit.2.market_size": 1.5})
