"""Who owns the engine's state: the customer base grows in step, a unit's week record is handed over once.

The weekly updates are methods of the classes whose state they change
(``engine.frontline.Unit``, ``engine.customers.CustomerBase``,
``engine.departments.Department``); these tests pin what each hands back.
"""

import numpy as np
import pytest

from spchain import Params, preset
from spchain.engine.model import Engine
from spchain.metrics import DEPARTMENT_FIELD_INDEX, FIELD_INDEX
from spchain.params import run_fixed_differences


def _per_slot_arrays(customers):
    return {name: getattr(customers, name) for name in ("active", "satisfaction", "spend", "visit_rate",
                                                         "traits", "assigned", "bond", "lost_relationship")}


def test_customer_base_grows_every_per_slot_array_together():
    p = preset("workshop").override({"customers.n_customers": 40, "customers.relationship_share": 0.5})
    engine = Engine(p, horizon=2, seed=3)
    customers = engine.units[0].customers
    capacity = customers.active.size
    assert capacity == max(16, int(40 * 1.25)) == 50 and len(customers.free_slots) == 10
    new = customers.add(25, n_positions=engine.units[0].exists.size)  # 15 more than the free slots
    assert len(new) == len(set(new)) == 25
    grown = customers.active.size
    assert grown == capacity + max(15, capacity // 2)
    assert {len(a) for a in _per_slot_arrays(customers).values()} == {grown}
    assert customers.active.sum() == 65 and customers.active[new].all()
    np.testing.assert_array_equal(customers.satisfaction[new], p.customers.initial_satisfaction)
    assert np.all(customers.bond[new] == 0) and not customers.lost_relationship[new].any()
    # every slot is active or free, never both
    free = np.zeros(grown, bool)
    free[customers.free_slots] = True
    assert len(customers.free_slots) == free.sum() == grown - 65
    assert not (free & customers.active).any()


def test_a_units_week_record_is_the_runs_row_and_the_next_week_starts_afresh():
    engine = Engine(preset("workshop"), horizon=3, seed=5)
    engine.advance(1)
    unit = engine.units[0]
    row = engine.sums[0, 0]
    assert row[FIELD_INDEX["served"]] > 0 and row[FIELD_INDEX["profit"]] == pytest.approx(
        row[FIELD_INDEX["revenue"]] - row[FIELD_INDEX["costs"]])
    # paused between weeks: the records handed over, fresh ones open for week 1
    assert not unit.acc.any() and unit.acc is not row
    assert not engine.departments[0].acc.any()
    # each department paid its staff for the whole week: n_staff * hours
    staff = [dep.n_staff for dep in preset("workshop").internal.departments]
    np.testing.assert_allclose(engine.dept_sums[0, :, DEPARTMENT_FIELD_INDEX["staff_hours"]],
                               np.array(staff) * engine.hours)
    engine.advance(2)  # week 1 booked into its own row: week 0's stays as it was
    assert engine.sums[1, 0, FIELD_INDEX["customers_start"]] == pytest.approx(
        row[FIELD_INDEX["customers_start"]] - row[FIELD_INDEX["churned"]] + row[FIELD_INDEX["acquired"]])


def test_run_fixed_differences_name_the_department_set_but_not_department_levers():
    base = Params()
    assert run_fixed_differences(base, base.override({"internal.departments.it.n_staff": 9})) == []
    only_it = {"it": {**base.get("internal.departments.it"), "requests_to": {}}}
    fewer = base.override({"internal.departments": only_it})
    assert run_fixed_differences(base, fewer) == ["internal.departments"]
    changed = base.override({"organisation.hours_per_week": 50.0, "workforce.service_time_cv": 0.5})
    assert run_fixed_differences(base, changed) == ["organisation", "workforce.service_time_cv"]
