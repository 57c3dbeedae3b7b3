"""Customer-employee relationships: assigned employees, bonds, and what a quit costs her customers."""

import numpy as np
import pytest

from spchain import preset, simulate
from spchain.engine.model import Engine

REL = {"customers.relationship_share": 1.0, "customers.relationship_loss": 0.1,
       "customers.relationship_churn_prob": 0.3, "links.value_from_relationship": 0.3}


def test_encounter_service_by_default_changes_nothing():
    p = preset("workshop")
    a = simulate(p, horizon=6, seed=2)
    b = simulate(p.override({"links.value_from_relationship": 0.9, "customers.relationship_loss": 0.5}),
                 horizon=6, seed=2)
    np.testing.assert_array_equal(a.sums, b.sums)  # no relationships: the relationship parameters do nothing


def test_a_quit_breaks_her_customers_relationships():
    engine = Engine(preset("workshop").override({**REL, "workforce.base_quit_rate": 0.0}), horizon=10, seed=3)
    engine.advance(4)
    unit = engine.units[0]
    e = int(np.flatnonzero(unit.filled)[0])
    mine = np.flatnonzero((unit.customers.assigned == e) & unit.customers.active)
    others = np.flatnonzero((unit.customers.assigned != e) & unit.customers.active)
    assert mine.size > 300 and unit.customers.bond[mine].max() > 0  # bonds were built in four weeks
    before, bond_others = unit.customers.satisfaction.copy(), unit.customers.bond[others].copy()
    unit.quit(e)
    np.testing.assert_allclose(unit.customers.satisfaction[mine], np.maximum(0.0, before[mine] - 0.1))
    np.testing.assert_array_equal(unit.customers.satisfaction[others], before[others])
    assert np.all(unit.customers.bond[mine] == 0) and np.array_equal(unit.customers.bond[others], bond_others)
    # in the week's sweep, her customers leave with the extra probability on top of the usual hazard
    churned = np.zeros(0, int)
    active_before = unit.customers.active.copy()
    engine.advance(5)
    churned = np.flatnonzero(active_before & ~unit.customers.active)
    share_mine = np.isin(mine, churned).mean()
    share_others = np.isin(others, churned).mean()
    se = np.sqrt(0.3 * 0.7 / mine.size)
    assert share_mine - share_others == pytest.approx(0.3, abs=4 * se)


def test_relationship_customers_are_served_by_their_own_employee_when_free():
    p = preset("workshop").override({**REL, "workforce.base_quit_rate": 0.0, "customers.visit_rate": 0.02})
    r = simulate(p, horizon=3, seed=4, record="served")  # a quiet branch: their own employee is mostly free
    engine = Engine(p, horizon=3, seed=4)
    assigned = engine.units[0].customers.assigned  # the initial assignment, the same in the run
    served = r.records("served")
    own = assigned[served["customer"].astype(int)] == served["position"].astype(int)
    waited = served["wait"] > 0
    assert own[~waited].mean() > 0.85  # arriving to free servers: their own (1 in 10 by chance)


def test_departing_employees_customers_fare_worse_than_a_control_group():
    """Satisfaction change over the weeks after a quit: her customers against customers of staff who stay."""
    p = preset("workshop").override({**REL, "workforce.base_quit_rate": 1.5})
    engine = Engine(p, horizon=30, seed=5, record_events=["quits"])
    unit = engine.units[0]
    snapshots = []
    for week in range(1, 31):
        engine.advance(week)
        snapshots.append((unit.customers.satisfaction.copy(), unit.customers.assigned.copy(), unit.customers.active.copy()))
    quits = engine.events["quits"]
    diffs = []
    for _, week, _, e, _, _ in quits:
        if week < 1 or week + 4 >= len(snapshots):
            continue
        s0, assigned, active = snapshots[week - 1]  # state at the start of the quit's week
        s1, _, active1 = snapshots[week + 3]
        quit_positions = {q[3] for q in quits if week - 4 <= q[1] <= week + 4}
        stay = active & active1 & np.isin(assigned, [x for x in range(unit.exists.size) if x not in quit_positions])
        mine = active & active1 & (assigned == e)
        diffs.append((s1[mine] - s0[mine]).mean() - (s1[stay] - s0[stay]).mean())
    assert len(diffs) >= 5
    d = np.array(diffs)
    assert d.mean() + 3 * d.std(ddof=1) / np.sqrt(d.size) < 0, d  # her customers lose satisfaction
