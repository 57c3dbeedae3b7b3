"""Weekly updates: the slow-moving state of every unit, vectorised over people.

At the end of each period the engine calls these functions once per unit:
customers' experiences, surveys, churn and acquisition; employees'
perceived internal service, satisfaction, tenure, skill, productivity and
quality; and the unit's money.  Everything here works on NumPy arrays for
all customers or employees at once; the event-driven part is in
:mod:`spchain.model`.
"""

from __future__ import annotations

import numpy as np

from . import links as L
from . import survey
from .metrics import FIELDS

__all__ = ["close_customers", "add_customers", "update_loyalty_rates", "close_workforce",
           "set_performance", "close_money"]

_F = {name: i for i, name in enumerate(FIELDS)}


def close_customers(engine, unit):
    p = engine.p
    cu, lk, ms = p.customers, p.links, p.measurement
    acc = unit.acc
    rc = engine.generator("customers", engine.week, unit.index)
    rs = engine.generator("surveys", engine.week, unit.index)
    served = unit.served_log
    aband = unit.abandon_log
    if engine.record_events:
        engine.events["served"].extend((unit.index,) + r for r in served)
        engine.events["abandoned"].extend((unit.index,) + r for r in aband)
    # -- experiences: (position, customer, arrival, wait, service time, quality) rows
    if served:
        arr = np.array(served)
        c = arr[:, 1].astype(np.intp)
        wait_min = arr[:, 3] * 60.0
        quality = arr[:, 5]
        done_at = arr[:, 2] + arr[:, 3] + arr[:, 4]
        value = L.experienced_value(quality, cu.expected_quality, wait_min, cu.wait_tolerance_minutes,
                                    p.economics.price_index, lk.value_from_quality,
                                    lk.value_from_wait, lk.value_from_price)
        acc[_F["served"]] += len(served)
        acc[_F["quality_sum"]] += quality.sum()
        revenue = unit.c_spend[c].sum() * p.economics.price_index
    else:
        c = np.zeros(0, np.intp)
        value = done_at = np.zeros(0)
        revenue = 0.0
    acc[_F["revenue"]] += revenue
    if aband:
        ab = np.array(aband)  # (customer, arrival, abandon time) rows
        order = np.argsort(np.concatenate([done_at, ab[:, 2]]), kind="stable")  # time order
        c_all = np.concatenate([c, ab[:, 0].astype(np.intp)])[order]
        v_all = np.concatenate([value, np.full(len(aband), -lk.value_from_wait * cu.abandonment_penalty)])[order]
    else:
        order = np.argsort(done_at, kind="stable")
        c_all, v_all = c[order], value[order]
    acc[_F["abandoned"]] += len(aband)
    acc[_F["arrivals"]] = unit.n_arrivals_week
    experience = np.clip(cu.reference_satisfaction + v_all, 0.0, 1.0)
    _sequential_update(unit.c_satisfaction, c_all, experience, cu.update_weight)
    # -- surveys of served customers ------------------------------------
    if c.size:
        respond = rs.random(c.size) < ms.response_rate
        s = unit.c_satisfaction[c[respond]]
        latent = s + ms.csat_noise * rs.standard_normal(s.size)
        csat = survey.csat_responses(latent, [ms.csat_cut_2, ms.csat_cut_3, ms.csat_cut_4, ms.csat_cut_5])
        ltr = survey.ltr_responses(s, ms.ltr_noise * rs.standard_normal(s.size),
                                   intercept=ms.ltr_intercept, slope=ms.ltr_slope)
        acc[_F["responses"]] += s.size
        acc[_F["csat_sum"]] += csat.sum()
        acc[_F["promoters"]] += survey.promoters(ltr)
        acc[_F["detractors"]] += survey.detractors(ltr)
    unit.served_log = []
    unit.abandon_log = []
    # -- churn, referrals, acquisition ---------------------------------
    active = np.flatnonzero(unit.c_active)
    s = unit.c_satisfaction[active]
    referral = L.referral_rate(s, cu.referral_rate, cu.reference_satisfaction,
                               lk.referral_from_satisfaction).sum() / 52.0
    n_ref = rc.poisson(referral) if referral > 0 else 0
    n_mkt = rc.poisson(cu.acquisition_rate) if cu.acquisition_rate > 0 else 0
    hazard = L.churn_hazard(s, cu.base_churn_rate, cu.reference_satisfaction, lk.churn_from_satisfaction)
    churn = rc.random(unit.c_active.size)[active] < -np.expm1(-hazard / 52.0)  # one draw per slot
    gone = active[churn]
    unit.c_active[gone] = False
    # a churned customer may still be queueing or in service: reuse the slot a week later
    unit.c_free_slots.extend(unit.c_released)
    unit.c_released = gone[::-1].tolist()
    add_customers(engine, unit, n_ref + n_mkt)
    acc[_F["churned"]] += gone.size
    acc[_F["acquired"]] += n_ref + n_mkt
    acc[_F["referred"]] += n_ref
    acc[_F["marketing_cost"]] += n_mkt * p.economics.acquisition_cost
    acc[_F["active_customers"]] = unit.c_active.sum()
    acc[_F["customer_satisfaction_sum"]] = unit.c_satisfaction[unit.c_active].sum()
    update_loyalty_rates(engine, unit)


def add_customers(engine, unit, n):
    if n <= 0:
        return
    free = unit.c_free_slots
    if len(free) < n:
        cap = unit.c_active.size
        extra = max(n - len(free), cap // 2)
        unit.c_active = np.concatenate([unit.c_active, np.zeros(extra, bool)])
        unit.c_satisfaction = np.concatenate([unit.c_satisfaction, np.zeros(extra)])
        unit.c_spend = np.concatenate([unit.c_spend, np.zeros(extra)])
        free[:0] = range(cap + extra - 1, cap - 1, -1)
    slots = [free.pop() for _ in range(n)]
    unit.c_active[slots] = True
    unit.c_satisfaction[slots] = engine.p.customers.initial_satisfaction


def update_loyalty_rates(engine, unit):
    """Visit rates (cumulative over slots, per week) and spend per visit for next week."""
    cu, lk = engine.p.customers, engine.p.links
    s = unit.c_satisfaction
    rate = np.where(unit.c_active,
                    L.customer_visit_rate(s, cu.visit_rate, cu.reference_satisfaction,
                                          lk.revisit_from_satisfaction), 0.0)
    unit.c_rates = np.cumsum(rate)
    unit.c_spend = L.spend_per_visit(s, engine.p.economics.spend_per_visit, cu.reference_satisfaction,
                                     lk.spend_from_satisfaction)


def close_workforce(engine, unit):
    p = engine.p
    wf, lk = p.workforce, p.links
    acc = unit.acc
    filled = unit.filled
    idx = np.flatnonzero(filled)
    unit.utilisation = unit.busy_hours / unit.staffed_hours if unit.staffed_hours > 0 else 1.0
    acc[_F["busy_hours"]] = unit.busy_hours
    acc[_F["staffed_hours"]] = unit.staffed_hours
    acc[_F["started"]] = unit.started
    acc[_F["waited"]] = unit.waited
    acc[_F["wait_hours_sum"]] = unit.wait_sum
    unit.busy_hours = unit.staffed_hours = unit.wait_sum = 0.0
    unit.waited = unit.started = 0
    # perceived internal service quality
    got = unit.isq_week_n > 0
    mean_isq = np.divide(unit.isq_week_sum, unit.isq_week_n, out=np.zeros_like(unit.isq), where=got)
    unit.isq = np.where(got, unit.isq + wf.isq_smoothing * (mean_isq - unit.isq), unit.isq)
    unit.isq_week_sum[:] = 0.0
    unit.isq_week_n[:] = 0.0
    n_active = acc[_F["active_customers"]]
    c_sat = acc[_F["customer_satisfaction_sum"]] / n_active if n_active else p.customers.reference_satisfaction
    target = L.employee_satisfaction_target(
        wf.base_satisfaction, isq=unit.isq[idx], isq_ref=wf.reference_isq,
        utilisation=unit.utilisation, utilisation_ref=wf.reference_utilisation,
        recognition=wf.recognition, pay_index=wf.pay_index, training_hours=wf.training_hours,
        training_ref=wf.reference_training_hours, customer_satisfaction=c_sat,
        customer_ref=p.customers.reference_satisfaction, links=lk)
    unit.satisfaction[idx] = L.first_order_delay(unit.satisfaction[idx], target, 1.0,
                                                 wf.satisfaction_delay_weeks)
    unit.tenure[idx] += 1.0
    set_performance(engine, unit, idx)
    acc[_F["positions"]] = unit.exists.sum()
    acc[_F["headcount"]] = idx.size
    acc[_F["vacancies"]] = np.count_nonzero(unit.exists & ~filled)
    acc[_F["satisfaction_sum"]] = unit.satisfaction[idx].sum()
    acc[_F["skill_sum"]] = unit.skill[idx].sum()
    acc[_F["productivity_sum"]] = (wf.service_time_minutes / 60.0 /
                                   np.array(unit.mean_time)[idx]).sum() if idx.size else 0.0
    acc[_F["waiting"]] = len(unit.queue)
    acc[_F["in_service"]] = sum(unit.busy)


def set_performance(engine, unit, idx):
    """Skill, productivity and quality of the employees in positions ``idx``."""
    if len(idx) == 0:
        return
    wf, lk = engine.p.workforce, engine.p.links
    speedup = 1.0 + wf.learning_gain_per_training_hour * wf.training_hours
    unit.skill[idx] = L.learning_curve(unit.tenure[idx], wf.initial_skill, wf.learning_weeks, speedup)
    prod = L.productivity(unit.skill[idx], unit.satisfaction[idx], wf.reference_satisfaction,
                          lk.productivity_from_skill, lk.productivity_from_satisfaction)
    base = wf.service_time_minutes / 60.0
    for e, pi in zip(np.asarray(idx).tolist(), prod.tolist()):
        unit.mean_time[e] = base / pi
    quality = L.service_quality(wf.base_quality, unit.skill[idx], unit.satisfaction[idx],
                                wf.reference_satisfaction, lk.quality_from_skill,
                                lk.quality_from_satisfaction)
    for e, q in zip(np.asarray(idx).tolist(), quality.tolist()):
        unit.quality_of[e] = q


def close_money(engine, unit):
    p = engine.p
    ec, wf = p.economics, p.workforce
    acc = unit.acc
    H = engine.hours
    employee_weeks = acc[_F["staffed_hours"]] / H
    acc[_F["wage_cost"]] = employee_weeks * ec.wage_per_week * wf.pay_index
    acc[_F["training_cost"]] = employee_weeks * wf.training_hours * ec.wage_per_week * wf.pay_index / H
    acc[_F["hiring_cost"]] = acc[_F["hires"]] * ec.hiring_cost
    acc[_F["goods_cost"]] = (1.0 - ec.gross_margin) * acc[_F["revenue"]]
    acc[_F["fixed_cost"]] = ec.fixed_cost_per_week
    tools = p.internal.tools_spend_per_week + engine.reinvestment
    internal = sum(d.wage_per_week * d.n_staff for d in p.internal.departments) + tools
    acc[_F["internal_cost"]] = internal / len(engine.units)
    acc[_F["costs"]] = sum(acc[_F[k]] for k in ("wage_cost", "training_cost", "hiring_cost", "marketing_cost",
                                                 "goods_cost", "fixed_cost", "internal_cost"))
    acc[_F["profit"]] = acc[_F["revenue"]] - acc[_F["costs"]]


def _sequential_update(state, idx, target, weight):
    """``state[i] += weight * (target - state[i])`` for each (i, target) in order.

    Repeated indices are applied one after another, in the order given.
    """
    while idx.size:
        uniq, first = np.unique(idx, return_index=True)
        state[uniq] += weight * (target[first] - state[uniq])
        rest = np.ones(idx.size, bool)
        rest[first] = False
        idx, target = idx[rest], target[rest]
