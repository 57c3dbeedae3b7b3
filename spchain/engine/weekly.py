"""Weekly updates: the slow-moving state of every unit, vectorised over people.

At the end of each period the engine calls these functions once per unit:
customers' experiences, surveys, churn and acquisition; employees'
perceived internal service, satisfaction, tenure, skill, productivity and
quality; and the unit's money.  Everything here works on NumPy arrays for
all customers or employees at once; the event-driven part is in
:mod:`spchain.engine.model`.
"""

from __future__ import annotations

import numpy as np

from .. import links as L
from . import streams, survey
from ..metrics import FIELDS

__all__ = ["close_customers", "add_customers", "update_loyalty_rates", "close_workforce",
           "close_effort", "set_performance", "close_money", "sequential_update", "service_time_draws", "customer_traits",
           "loyalty_strength", "assign_positions"]

_F = {name: i for i, name in enumerate(FIELDS)}
#: Services per customer and week whose survey draws come from the shared block.
_SURVEYS_PER_SLOT = 2
#: Columns of a unit's ``c_traits``: lasting customer differences (:func:`customer_traits`).
_EXPECTATION, _TOLERANCE, _CHURN, _SPEND = range(4)


def close_customers(engine, unit):
    """The week's experiences, surveys, churn, referrals and acquisition of one unit."""
    p = engine.p
    cu, lk, ms = p.customers, p.links, p.measurement
    acc = unit.acc
    week = engine.week
    served = unit.served_log
    aband = unit.abandon_log
    events = engine.events  # per-event records asked for (spchain.records), or None
    if events is not None:
        if "served" in events:
            events["served"].extend((unit.index,) + r for r in served)
        if "abandoned" in events:
            events["abandoned"].extend((unit.index,) + r for r in aband)
    # -- experiences: (position, customer, arrival, wait, service time, quality) rows
    if served:
        arr = np.array(served)
        c = arr[:, 1].astype(np.intp)
        wait_min = arr[:, 3] * 60.0
        quality = arr[:, 5]
        done_at = arr[:, 2] + arr[:, 3] + arr[:, 4]
        traits = unit.c_traits[c]
        expected = cu.expected_quality + unit.profile.expectations + traits[:, _EXPECTATION]
        value = L.experienced_value(quality, expected, wait_min,
                                    cu.wait_tolerance_minutes * traits[:, _TOLERANCE],
                                    p.economics.price_index, lk.value_from_quality,
                                    lk.value_from_wait, lk.value_from_price)
        if unit.relationships:  # continuity: served by their own employee, with the bond built so far
            own = unit.c_assigned[c] == arr[:, 0].astype(np.intp)
            value = value + lk.value_from_relationship * unit.c_bond[c] * own
            sequential_update(unit.c_bond, c[own], np.ones(int(own.sum())), cu.bond_rate)
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
        acc[_F["abandoned_wait_hours_sum"]] += (ab[:, 2] - ab[:, 1]).sum()
        times = np.concatenate([done_at, ab[:, 2]])
        c_all = np.concatenate([c, ab[:, 0].astype(np.intp)])
        v_all = np.concatenate([value, np.full(len(aband), -lk.value_from_wait * cu.abandonment_penalty)])
    else:
        times, c_all, v_all = done_at, c, value
    order = np.argsort(times, kind="stable")  # experiences count in the order they end
    acc[_F["abandoned"]] += len(aband)
    acc[_F["arrivals"]] = unit.n_arrivals_week
    experience = np.clip(cu.reference_satisfaction + v_all[order], 0.0, 1.0)
    sequential_update(unit.c_satisfaction, c_all[order], experience, cu.update_weight)
    unit.served_log = []
    unit.abandon_log = []
    # -- surveys of served customers: each slot's k-th service of the week owns its draws
    if c.size:
        by_slot = np.argsort(c, kind="stable")
        cs = c[by_slot]
        nth = streams.ordinals(cs)
        n_rows = int(cs[-1]) + 1
        respond_u = engine.generator("surveys", week, unit.index, 0).random((n_rows, _SURVEYS_PER_SLOT))
        noise = engine.generator("surveys", week, unit.index, 1).standard_normal((n_rows, 2 * _SURVEYS_PER_SLOT))
        draws = np.empty((cs.size, 3))
        inside = nth < _SURVEYS_PER_SLOT
        draws[inside, 0] = respond_u[cs[inside], nth[inside]]
        draws[inside, 1:] = noise[cs[inside, None], 2 * nth[inside, None] + np.arange(2)]
        for k in np.flatnonzero(~inside).tolist():  # a customer served many times this week
            g = engine.generator("surveys", week, unit.index, 2, int(cs[k]), int(nth[k]))
            draws[k] = [g.random(), *g.standard_normal(2)]
        respond = draws[:, 0] < ms.response_rate
        s = unit.c_satisfaction[cs[respond]]
        latent = s + ms.csat_noise * draws[respond, 1]
        csat = survey.csat_responses(latent, [ms.csat_cut_2, ms.csat_cut_3, ms.csat_cut_4, ms.csat_cut_5])
        ltr = survey.ltr_responses(s, ms.ltr_noise * draws[respond, 2],
                                   intercept=ms.ltr_intercept, slope=ms.ltr_slope)
        acc[_F["responses"]] += s.size
        acc[_F["csat_sum"]] += csat.sum()
        acc[_F["promoters"]] += survey.promoters(ltr)
        acc[_F["detractors"]] += survey.detractors(ltr)
        if events is not None and "surveys" in events:
            events["surveys"].extend((unit.index, week, c_, s_, q_, r_) for c_, s_, q_, r_ in
                                     zip(cs[respond].tolist(), s.tolist(), csat.tolist(), ltr.tolist()))
    # -- churn, referrals, acquisition: each on its own keyed stream ------------
    active = np.flatnonzero(unit.c_active)
    s = unit.c_satisfaction[active]
    zone = (cu.zone_low, cu.zone_high)
    referral = L.referral_rate(s, cu.referral_rate, cu.reference_satisfaction,
                               loyalty_strength(engine, unit, lk.referral_from_satisfaction),
                               cu.referral_form, zone).sum() / 52.0
    n_ref = int(streams.poisson_quantile(engine.generator("customers", week, unit.index, 1).random(), referral))
    n_mkt = int(streams.poisson_quantile(engine.generator("customers", week, unit.index, 2).random(),
                                         cu.acquisition_rate * unit.profile.market_size))
    hazard = L.churn_hazard(s, cu.base_churn_rate * unit.profile.competition, cu.reference_satisfaction,
                            loyalty_strength(engine, unit, lk.churn_from_satisfaction), cu.churn_form,
                            zone) * unit.c_traits[active, _CHURN]
    churn_u = engine.generator("customers", week, unit.index, 0).random(unit.c_active.size)  # one per slot
    leave = churn_u[active] < -np.expm1(-hazard / 52.0)
    if unit.relationships:  # customers whose employee quit this week may follow her out
        lost = unit.c_lost[active]
        extra = engine.generator("customers", week, unit.index, 6).random(unit.c_active.size)[active]
        leave |= lost & (extra < cu.relationship_churn_prob)
        unit.c_lost[:] = False
    gone = active[leave]
    unit.c_active[gone] = False
    # a churned customer may still be queueing or in service: reuse the slot a week later
    unit.c_free_slots.extend(unit.c_released)
    unit.c_released = gone[::-1].tolist()
    new = add_customers(engine, unit, n_ref + n_mkt)
    if events is not None:
        if "churn" in events:
            events["churn"].extend((unit.index, week, c_, s_) for c_, s_ in
                                   zip(gone.tolist(), unit.c_satisfaction[gone].tolist()))
        if "acquisition" in events:  # the first n_ref new slots are counted as the referred ones
            events["acquisition"].extend((unit.index, week, c_, "referral" if k < n_ref else "marketing")
                                         for k, c_ in enumerate(new))
    acc[_F["churned"]] += gone.size
    acc[_F["acquired"]] += n_ref + n_mkt
    acc[_F["referred"]] += n_ref
    acc[_F["marketing_cost"]] += n_mkt * p.economics.acquisition_cost
    acc[_F["active_customers"]] = unit.c_active.sum()
    acc[_F["customer_satisfaction_sum"]] = unit.c_satisfaction[unit.c_active].sum()
    update_loyalty_rates(engine, unit)


def add_customers(engine, unit, n):
    """Activate ``n`` new customers in free slots (growing the arrays if needed); returns their slots."""
    if n <= 0:
        return []
    free = unit.c_free_slots
    if len(free) < n:
        cap = unit.c_active.size
        extra = max(n - len(free), cap // 2)
        unit.c_active = np.concatenate([unit.c_active, np.zeros(extra, bool)])
        unit.c_satisfaction = np.concatenate([unit.c_satisfaction, np.zeros(extra)])
        unit.c_spend = np.concatenate([unit.c_spend, np.zeros(extra)])
        unit.c_rate = np.concatenate([unit.c_rate, np.zeros(extra)])
        unit.c_traits = np.concatenate([unit.c_traits, np.zeros((extra, unit.c_traits.shape[1]))])
        unit.c_assigned = np.concatenate([unit.c_assigned, np.full(extra, -1, np.intp)])
        unit.c_bond = np.concatenate([unit.c_bond, np.zeros(extra)])
        unit.c_lost = np.concatenate([unit.c_lost, np.zeros(extra, bool)])
        free[:0] = range(cap + extra - 1, cap - 1, -1)
    slots = [free.pop() for _ in range(n)]
    unit.c_active[slots] = True
    unit.c_satisfaction[slots] = engine.p.customers.initial_satisfaction
    # the k-th customer acquired this week draws row k of the week's trait block
    z = engine.generator("customers", engine.week, unit.index, 4).standard_normal((n, 4))
    unit.c_traits[slots] = customer_traits(engine.p.customers, z)
    unit.c_bond[slots] = 0.0
    unit.c_lost[slots] = False
    if unit.relationships:
        u = engine.generator("customers", engine.week, unit.index, 5).random((n, 2))
        unit.c_assigned[slots] = assign_positions(u, engine.p.customers.relationship_share, unit.exists.size)
    else:
        unit.c_assigned[slots] = -1
    return slots


def assign_positions(u, share, n_positions):
    """Assigned positions from uniform pairs: -1 (no relationship) unless ``u[:, 0] < share``."""
    position = np.minimum((u[:, 1] * n_positions).astype(np.intp), n_positions - 1)
    return np.where(u[:, 0] < share, position, -1)


def customer_traits(customers, z):
    """Lasting traits of customers from standard normals ``z`` (rows of 4).

    Columns: offset to the quality they expect (normal, sd
    ``expectation_sd``), multipliers of their wait tolerance, churn hazard
    and spend per visit (mean-one log-normals with log-sds
    ``tolerance_sd``, ``churn_propensity_sd``, ``spend_sd``).  All neutral
    (0, 1, 1, 1) when the spreads are 0.
    """
    sds = np.array([customers.tolerance_sd, customers.churn_propensity_sd, customers.spend_sd])
    out = np.empty((len(z), 4))
    out[:, _EXPECTATION] = customers.expectation_sd * z[:, 0] + 0.0
    out[:, 1:] = np.exp(sds * z[:, 1:] - 0.5 * sds * sds)
    return out


def loyalty_strength(engine, unit, k):
    """A loyalty link's strength in ``unit``, moderated by its employees' satisfaction."""
    m = engine.p.links.loyalty_from_employees
    if m == 0.0 or k == 0.0:
        return k
    filled = unit.satisfaction[unit.filled]
    mean = filled.mean() if filled.size else engine.p.workforce.reference_satisfaction
    return L.loyalty_strength(k, mean, engine.p.workforce.reference_satisfaction, m)


def update_loyalty_rates(engine, unit):
    """Visit rate (visits per week, per slot; 0 when inactive) and spend per visit for next week."""
    cu, lk = engine.p.customers, engine.p.links
    s = unit.c_satisfaction
    zone = (cu.zone_low, cu.zone_high)
    unit.c_rate = np.where(unit.c_active,
                           L.customer_visit_rate(s, cu.visit_rate * unit.profile.attractiveness,
                                                 cu.reference_satisfaction,
                                                 loyalty_strength(engine, unit, lk.revisit_from_satisfaction),
                                                 cu.visit_form, zone), 0.0)
    unit.c_spend = L.spend_per_visit(s, engine.p.economics.spend_per_visit, cu.reference_satisfaction,
                                     loyalty_strength(engine, unit, lk.spend_from_satisfaction),
                                     cu.spend_form, zone) * unit.c_traits[:, _SPEND]


def close_workforce(engine, unit):
    p = engine.p
    wf, lk = p.workforce, p.links
    acc = unit.acc
    filled = unit.filled
    idx = np.flatnonzero(filled)
    acc[_F["busy_hours"]] = unit.busy_hours
    acc[_F["staffed_hours"]] = unit.staffed_hours
    acc[_F["started"]] = unit.started
    acc[_F["waited"]] = unit.waited
    acc[_F["wait_hours_sum"]] = unit.wait_sum
    acc[_F["answered_in_target"]] = unit.answered_in_target
    # work pressure: customers in service or waiting (abandoners until they left) per staffed hour
    demand = unit.busy_hours + unit.wait_sum + acc[_F["abandoned_wait_hours_sum"]]
    pressure = demand / unit.staffed_hours if unit.staffed_hours > 0 else wf.reference_utilisation
    close_effort(engine, unit, idx)  # work pressure at the standard, effort, standard, fatigue
    unit.busy_hours = unit.staffed_hours = unit.wait_sum = 0.0
    unit.waited = unit.started = unit.answered_in_target = 0
    # perceived internal service quality
    got = unit.isq_week_n > 0
    mean_isq = np.divide(unit.isq_week_sum, unit.isq_week_n, out=np.zeros_like(unit.isq), where=got)
    unit.isq = np.where(got, unit.isq + wf.isq_smoothing * (mean_isq - unit.isq), unit.isq)
    unit.isq_week_sum[:] = 0.0
    unit.isq_week_n[:] = 0.0
    n_active = acc[_F["active_customers"]]
    c_sat = acc[_F["customer_satisfaction_sum"]] / n_active if n_active else p.customers.reference_satisfaction
    target = L.employee_satisfaction_target(
        unit.base_satisfaction, isq=unit.isq[idx], isq_ref=wf.reference_isq,
        workload=pressure, workload_ref=wf.reference_utilisation,
        recognition=wf.recognition, pay_index=wf.pay_index, training_hours=wf.training_hours,
        training_ref=wf.reference_training_hours, customer_satisfaction=c_sat,
        customer_ref=p.customers.reference_satisfaction, links=lk, fatigue=unit.fatigue)
    unit.satisfaction[idx] = L.first_order_delay(unit.satisfaction[idx], target, 1.0,
                                                 wf.satisfaction_delay_weeks)
    unit.tenure[idx] += 1.0
    set_performance(engine, unit, idx)
    acc[_F["positions"]] = unit.exists.sum()
    acc[_F["headcount"]] = idx.size
    acc[_F["vacancies"]] = np.count_nonzero(unit.exists & ~filled)
    acc[_F["satisfaction_sum"]] = unit.satisfaction[idx].sum()
    if engine.events is not None and "staff" in engine.events:  # per-unit week rows (spchain.records)
        isq, sat = (float(unit.isq[idx].mean()), float(unit.satisfaction[idx].mean())) if idx.size else (np.nan,) * 2
        engine.events["staff"].append((unit.index, engine.week, int(idx.size), isq, sat))
    acc[_F["skill_sum"]] = unit.skill[idx].sum()
    factor = unit.standard * unit.effort  # time given / time needed (section 3.9)
    acc[_F["productivity_sum"]] = (wf.service_time_minutes / 60.0 * factor /
                                   np.array(unit.mean_time)[idx]).sum() if idx.size else 0.0
    standard_minutes = wf.service_time_minutes * unit.profile.process * unit.standard
    acc[_F["standard_minutes_sum"]] = idx.size * standard_minutes
    acc[_F["time_given_minutes_sum"]] = idx.size * standard_minutes * unit.effort
    acc[_F["waiting"]] = len(unit.queue)
    acc[_F["in_service"]] = sum(unit.busy)


def close_effort(engine, unit, idx):
    """The week's work pressure at the standard; the standard, effort and fatigue for next week.

    After Oliva & Sterman (2001): pressure ``p`` is the staffed hours the
    week's arrivals require at the service standard over the staffed hours
    (:func:`spchain.links.standard_pressure`); the standard moves toward the
    time given this week (:func:`spchain.links.service_standard`); next
    week's time per customer answers this week's pressure
    (:func:`spchain.links.time_per_customer`); fatigue smooths ``p - 1``
    above 0.  Records ``required_hours``; returns ``p``.
    """
    wf, lk = engine.p.workforce, engine.p.links
    staffed = unit.staffed_hours
    if idx.size:  # productivity in force this week, before this week's updates
        prod = L.productivity(unit.skill[idx], unit.satisfaction[idx], wf.reference_satisfaction,
                              lk.productivity_from_skill, lk.productivity_from_satisfaction).mean()
    else:
        prod = 1.0
    standard_hours = wf.service_time_minutes / 60.0 * unit.profile.process * unit.standard
    p = L.standard_pressure(unit.acc[_F["arrivals"]], standard_hours, staffed, prod, wf.pressure_utilisation)
    unit.acc[_F["required_hours"]] = p * staffed if staffed > 0 else 0.0
    if lk.effort_from_pressure != 0.0 or unit.effort != 1.0:
        achieved = unit.standard * unit.effort  # time given this week, as a multiple of the base time
        unit.standard = float(L.service_standard(unit.standard, achieved, wf.standard_erosion_weeks,
                                                 wf.standard_recovery_weeks))
        unit.effort = float(L.time_per_customer(1.0, p, lk.effort_from_pressure))
    unit.fatigue = float(L.first_order_delay(unit.fatigue, max(0.0, p - 1.0), 1.0, wf.fatigue_weeks))
    return p


def set_performance(engine, unit, idx):
    """Skill, productivity and quality of the employees in positions ``idx``."""
    if len(idx) == 0:
        return
    wf, lk = engine.p.workforce, engine.p.links
    speedup = 1.0 + wf.learning_gain_per_training_hour * wf.training_hours
    unit.skill[idx] = L.learning_curve(unit.tenure[idx], wf.initial_skill, wf.learning_weeks, speedup)
    prod = L.productivity(unit.skill[idx], unit.satisfaction[idx], wf.reference_satisfaction,
                          lk.productivity_from_skill, lk.productivity_from_satisfaction)
    base = wf.service_time_minutes / 60.0 * unit.profile.process  # the unit's processes and layout
    factor = unit.standard * unit.effort  # time given / time needed: 1 unless effort is on (section 3.9)
    for e, pi in zip(np.asarray(idx).tolist(), prod.tolist()):
        unit.mean_time[e] = base * factor / pi
    quality = L.service_quality(wf.base_quality, unit.skill[idx], unit.satisfaction[idx],
                                wf.reference_satisfaction, lk.quality_from_skill,
                                lk.quality_from_satisfaction, factor, lk.quality_from_time)
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
    internal = engine.department_cost + tools  # the departments' wages for the staff weeks they paid
    acc[_F["internal_cost"]] = internal / len(engine.units)
    acc[_F["costs"]] = sum(acc[_F[k]] for k in ("wage_cost", "training_cost", "hiring_cost", "marketing_cost",
                                                 "goods_cost", "fixed_cost", "internal_cost"))
    acc[_F["profit"]] = acc[_F["revenue"]] - acc[_F["costs"]]


def sequential_update(state, idx, target, weight):
    """``state[i] += weight * (target - state[i])`` for each ``(i, target)`` in the order given.

    Repeated indices are applied one after another, in closed form: after
    targets ``t_1..t_n`` a state ``s`` becomes
    ``(1 - w)^n s + sum_k w (1 - w)^(n - k) t_k``, so a customer with many
    visits costs no more than many customers with one (``O(n log n)``).

    Examples
    --------
    >>> s = np.array([0.0, 1.0])
    >>> sequential_update(s, np.array([0, 0, 1]), np.array([1.0, 0.0, 0.0]), 0.5)
    >>> s.tolist()
    [0.25, 0.5]
    """
    idx = np.asarray(idx)
    if idx.size == 0:
        return
    order = np.argsort(idx, kind="stable")
    ids, tg = idx[order], np.asarray(target, float)[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, ids.size])
    pos = np.arange(ids.size) - np.repeat(starts, counts)
    after = np.repeat(counts, counts) - 1 - pos  # later experiences of the same customer
    keep = 1.0 - weight
    contrib = weight * keep ** after * tg
    uniq = ids[starts]
    state[uniq] = keep ** counts * state[uniq] + np.add.reduceat(contrib, starts)


def service_time_draws(u, cv):
    """Standard service times (mean 1) from uniforms: exponential, or gamma with CV ``cv``."""
    if cv == 1.0:
        return streams.exponential_quantile(u)
    from scipy import special

    shape = 1.0 / cv ** 2
    return special.gammaincinv(shape, np.asarray(u, float)) / shape
