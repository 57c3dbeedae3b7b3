"""Scenarios and designs: changes applied without mutation, names, sampling properties."""

import numpy as np
import pytest

from spchain import Change, ParamError, Params
from spchain.experiments.scenarios import Scenario, full_factorial, latin_hypercube, one_at_a_time


def test_apply_returns_new_params_and_leaves_base_alone():
    base = Params()
    before = base.to_dict()
    s = Scenario("s", levers={"workforce.n_employees": 9}, uncertainties={"customers.visit_rate": 0.08})
    p = s.apply(base)
    assert p.workforce.n_employees == 9 and p.customers.visit_rate == 0.08
    assert base.to_dict() == before
    assert Scenario("nothing").apply(base) is base


def test_timed_levers_go_to_the_schedule_and_uncertainties_hold_from_week_zero():
    s = Scenario("invest", levers={"internal.tools_spend_per_week": 3000.0},
                 uncertainties={"customers.visit_rate": 0.08}, at_week=26)
    p = s.apply(Params())
    assert p.customers.visit_rate == 0.08
    assert p.internal.tools_spend_per_week == 0.0
    assert p.at_week(26).internal.tools_spend_per_week == 3000.0
    assert [c.at_week for c in s.levers] == [26] and [c.at_week for c in s.uncertainties] == [0]


def test_sequence_of_changes_gives_each_its_week():
    s = Scenario("budget", levers=[Change(at_week=13, path="internal.tools_spend_per_week", value=2000.0),
                                   Change(at_week=39, path="internal.tools_spend_per_week", value=0.0)])
    p = s.apply(Params())
    assert [p.at_week(w).internal.tools_spend_per_week for w in (12, 13, 39)] == [0.0, 2000.0, 0.0]


def test_levers_and_uncertainties_are_told_apart():
    s = Scenario("s", levers={"workforce.pay_index": 1.1}, uncertainties={"customers.visit_rate": 0.08})
    assert [k for k, _ in s.changes] == ["uncertainty", "lever"]
    assert "levers: workforce.pay_index = 1.1" in s.describe()
    assert "uncertainties: customers.visit_rate = 0.08" in s.describe()
    with pytest.raises(ParamError, match="both a lever and an uncertainty"):
        Scenario("x", levers={"workforce.pay_index": 1.1}, uncertainties={"workforce.pay_index": 1.0})


def test_round_trip_through_dict():
    s = Scenario("s", levers={"workforce.pay_index": np.float64(1.1)}, at_week=4,
                 uncertainties={"customers.visit_rate": 0.08})
    assert Scenario.from_dict(s.to_dict()) == s
    assert type(s.levers[0].value) is float  # numpy scalars become plain numbers


def test_bad_paths_and_values_name_scenario_path_and_value():
    with pytest.raises(ParamError, match=r"scenario 'typo'.*workforce\.n_employes.*did you mean 'n_employees'"):
        Scenario("typo", levers={"workforce.n_employes": 7}).apply(Params())
    with pytest.raises(ParamError, match=r"scenario 'neg'.*workforce\.n_employees must be an integer >= 1, got 0"):
        Scenario("neg", levers={"workforce.n_employees": 0}).apply(Params())
    with pytest.raises(ParamError, match=r"scenario 'late'.*schedule change at week 5.*pay_index"):
        Scenario("late", levers={"workforce.pay_index": -1.0}, at_week=5).apply(Params())
    with pytest.raises(ParamError, match="at_week must be an integer >= 0"):
        Scenario("x", levers={"workforce.pay_index": 1.0}, at_week=-1)
    with pytest.raises(ParamError, match="non-empty string"):
        Scenario("")


def test_full_factorial_crosses_every_level():
    out = full_factorial(levers={"workforce.n_employees": [6, 7, 8], "internal.departments.it.n_staff": [1, 2]},
                         uncertainties={"customers.visit_rate": [0.05, 0.07]}, at_week=3)
    assert len(out) == 12 and len({s.name for s in out}) == 12
    assert out[0].name == "n_employees=6, n_staff=1 | visit_rate=0.05"
    assert {(s.levers[0].value, s.levers[1].value, s.uncertainties[0].value) for s in out} == {
        (a, b, c) for a in (6, 7, 8) for b in (1, 2) for c in (0.05, 0.07)}
    assert all(c.at_week == 3 for s in out for c in s.levers)
    assert all(c.at_week == 0 for s in out for c in s.uncertainties)


def test_short_names_stay_unambiguous():
    out = full_factorial(levers={"internal.departments.it.n_staff": [1], "internal.departments.hr.n_staff": [2]})
    assert out[0].name == "it.n_staff=1, hr.n_staff=2"


def test_one_at_a_time_moves_one_factor_from_the_base():
    out = one_at_a_time(levers={"workforce.pay_index": (0.9, 1.1)},
                        uncertainties={"customers.visit_rate": (0.05, 0.07)})
    assert [s.name for s in out] == ["baseline", "pay_index=0.9", "pay_index=1.1",
                                     "visit_rate=0.05", "visit_rate=0.07"]
    assert all(len(s.changes) == 1 for s in out[1:]) and out[0].changes == ()
    with pytest.raises(ParamError, match="low bound must be below the high bound"):
        one_at_a_time(levers={"workforce.pay_index": (1.1, 0.9)})


def test_latin_hypercube_stratifies_every_factor_and_is_reproducible():
    n = 20
    kw = dict(levers={"workforce.pay_index": (0.8, 1.2), "internal.departments.it.n_staff": (1, 4)},
              uncertainties={"customers.visit_rate": (0.05, 0.07)}, seed=11)
    out = latin_hypercube(n, **kw)
    assert [s.name for s in out] == [f"lhs {i}" for i in range(1, n + 1)]
    pay = np.array([s.levers[0].value for s in out])
    # one point in each of the n equal strata of the box
    assert sorted(np.floor((pay - 0.8) / 0.4 * n).astype(int)) == list(range(n))
    staff = [s.levers[1].value for s in out]
    assert all(type(v) is int for v in staff) and set(staff) == {1, 2, 3, 4}
    assert all(staff.count(v) == n // 4 for v in (1, 2, 3, 4))  # integer strata equally filled
    assert [s.to_dict() for s in latin_hypercube(n, **kw)] == [s.to_dict() for s in out]
    assert [s.to_dict() for s in latin_hypercube(n, **dict(kw, seed=12))] != [s.to_dict() for s in out]


@pytest.mark.parametrize("call, message", [
    (lambda: full_factorial(), "at least one lever or uncertainty"),
    (lambda: full_factorial(levers={"workforce.pay_index": []}), "non-empty sequence"),
    (lambda: full_factorial(levers={"workforce.pay_index": [1.0, 1.0]}), "distinct"),
    (lambda: latin_hypercube(0, levers={"workforce.pay_index": (0.9, 1.1)}), "n must be an integer >= 1"),
    (lambda: latin_hypercube(3, levers={"workforce.pay_index": 1.0}), "pair"),
    (lambda: one_at_a_time(levers=[("workforce.pay_index", 1.0)]), "levers must be a mapping"),
])
def test_design_input_is_checked(call, message):
    with pytest.raises(ParamError, match=message):
        call()
