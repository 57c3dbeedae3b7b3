"""Parameters: validation messages, overrides, round trips, presets."""

import json
import math
import tomllib

import pytest
from hypothesis import given, settings, strategies as st

from spchain import PRESETS, Change, ParamError, Params, preset
from spchain.params import Department, Workforce, describe


@pytest.mark.parametrize("path, value, message", [
    ("workforce.n_employees", 0, "workforce.n_employees must be an integer >= 1, got 0"),
    ("workforce.n_employees", 2.5, "workforce.n_employees must be an integer, got 2.5"),
    ("customers.update_weight", 1.5, "customers.update_weight must be a number <= 1, got 1.5"),
    ("customers.visit_rate", -0.1, "customers.visit_rate must be a number >= 0, got -0.1"),
    ("customers.visit_rate", math.inf, "customers.visit_rate must be finite, got inf"),
    ("economics.price_index", "high", "economics.price_index must be a number, got 'high'"),
    ("workforce.pay_index", True, "workforce.pay_index must be a number, got True"),
    ("internal.departments.it.ftr_prob", 1.2, "internal.departments.it.ftr_prob must be a number <= 1, got 1.2"),
    ("internal.departments.hr.requests_to.payroll", 1.0, "unknown department 'payroll'"),
    ("measurement.csat_cut_3", 0.9, "csat_cut_2..5 must increase strictly"),
])
def test_errors_name_path_value_and_bound(path, value, message):
    with pytest.raises(ParamError) as info:
        Params().override({path: value})
    assert message in str(info.value)


def test_unknown_path_suggests_the_nearest_name():
    with pytest.raises(ParamError, match=r"did you mean 'n_employees'"):
        Params().override({"workforce.n_employes": 3})
    with pytest.raises(ParamError, match=r"unknown parameter path 'staff.n'"):
        Params().override({"staff.n": 3})


def test_override_returns_a_new_object_and_keeps_the_original():
    p = Params()
    q = p.override({"workforce.n_employees": 7, "internal.departments.it.n_staff": 5})
    assert (p.workforce.n_employees, q.workforce.n_employees) == (6, 7)
    assert q.internal.department("it").n_staff == 5
    with pytest.raises(AttributeError):
        p.workforce.n_employees = 3  # frozen


def test_keyword_only():
    with pytest.raises(TypeError):
        Workforce(3)  # noqa


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_round_trip_through_json_and_toml(name, tmp_path):
    p = preset(name).with_changes(Change(at_week=26, path="internal.tools_spend_per_week", value=2500.0))
    assert Params.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    toml = _to_toml(p.to_dict())
    assert Params.from_dict(tomllib.loads(toml)) == p


def _to_toml(d, prefix=""):
    """A tiny TOML writer for nested dicts of numbers (enough for the round trip)."""
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list):
            items = ", ".join("{" + ", ".join(f"{a} = {json.dumps(b)}" for a, b in x.items()) + "}" for x in v)
            lines.append(f"{k} = [{items}]")
        elif isinstance(v, float) and math.isinf(v):
            lines.append(f"{k} = inf")
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    out = ([f"[{prefix}]"] if prefix and lines else []) + lines
    for k, v in tables:
        out.append(_to_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)


@given(n=st.integers(1, 50), rate=st.floats(0, 5, allow_nan=False), share=st.floats(0.01, 1.0))
@settings(max_examples=40, deadline=None)
def test_valid_overrides_round_trip(n, rate, share):
    p = Params().override({"workforce.n_employees": n, "customers.visit_rate": rate,
                           "internal.departments.hr.share": share})
    assert Params.from_dict(p.to_dict()) == p
    assert p.get("workforce.n_employees") == n


def test_schedule_is_validated_on_creation():
    with pytest.raises(ParamError, match="schedule change at week 3: workforce.n_employees must be"):
        Params().with_changes(Change(at_week=3, path="workforce.n_employees", value=-2))
    with pytest.raises(ParamError, match="at_week must be an integer >= 0"):
        Change(at_week=-1, path="workforce.recognition", value=0.5)


def test_at_week_applies_changes_in_order():
    p = Params().with_changes(Change(at_week=10, path="workforce.recognition", value=0.5),
                              Change(at_week=20, path="workforce.recognition", value=-0.5))
    assert [p.at_week(w).workforce.recognition for w in (0, 9, 10, 19, 20, 99)] == [0, 0, 0.5, 0.5, -0.5, -0.5]


def test_unknown_section_and_key():
    with pytest.raises(ParamError, match="unknown parameter section 'staff'"):
        Params.from_dict({"staff": {}})
    with pytest.raises(ParamError, match=r"unknown parameter customers.visits \(did you mean 'visit_rate'\?\)"):
        Params.from_dict({"customers": {"visits": 1}})


def test_duplicate_and_bad_department_names():
    with pytest.raises(ParamError, match="identifier"):
        Department(name="back office")


def test_unknown_preset():
    with pytest.raises(ParamError, match="unknown preset 'bank'; expected one of"):
        preset("bank")


def test_every_parameter_is_documented():
    rows = describe()
    assert {r["path"] for r in rows} >= {"workforce.n_employees", "links.quit_from_satisfaction",
                                         "internal.departments.<name>.sla_hours"}
    for r in rows:
        assert r["unit"], r["path"]
        assert r["source"], r["path"]
        assert r["doc"], r["path"]


def test_department_order_does_not_matter():
    """Sorted-key JSON (as in the experiment store) must give back the same model."""
    p = preset("bank_branches")
    again = Params.from_dict(json.loads(json.dumps(p.to_dict(), sort_keys=True)))
    assert again == p
    assert [d.name for d in again.internal.departments] == sorted(d.name for d in p.internal.departments)
