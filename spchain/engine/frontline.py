"""A service unit's front line: its positions, its queue, its employees' weeks and its money.

The event-driven part: customers arrive (each arrival schedules the next
pre-drawn one), are served FCFS by the free positions or wait with a
patience resolved lazily when a server frees up; employees quit and
vacancies are filled.  Once a week the unit closes its books
(:meth:`Unit.close_week`): its customers' week
(:class:`spchain.engine.customers.CustomerBase`), its employees' perceived
internal service, satisfaction, tenure, skill, effort and quality, and its
money.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from simpy.events import Timeout

from .. import links
from ..metrics import FIELD_INDEX, FIELDS
from . import streams
from . import units as unit_traits
from .customers import CustomerBase
from .weekly import service_time_draws

__all__ = ["Unit"]

_INF = float("inf")
#: Visits per customer slot and week served from the slot's shared block of
#: uniforms (time, service time, patience); rarer further visits use a
#: generator keyed by the slot.
_VISITS_PER_SLOT = 3


class Unit:
    """One service unit: its front-line positions, queue and customer base.

    Parameters
    ----------
    engine : spchain.engine.model.Engine
        The run: clock, parameters in force, keyed generators, event records.
    index : int
        The unit's index (keys its random numbers).
    """

    def __init__(self, engine, index):
        self.engine = engine
        self.index = index
        params = engine.in_force
        self.env = engine.env
        self.profile = profile = engine.profiles[index]
        self.base_satisfaction = float(np.clip(params.workforce.base_satisfaction + profile.manager, 0.0, 1.0))
        self.footfall = engine.footfall[index]  # weekly visit-rate multipliers
        n = unit_traits.positions(params, profile)
        # --- positions (one server each) -------------------------------
        self.exists = np.ones(n, bool)
        self.filled = np.ones(n, bool)
        self.satisfaction = np.full(n, self.base_satisfaction)
        # a mature team: tenure uniform over four learning time constants
        self.tenure = engine.generator("workforce", 0, index, 2).uniform(0, 4 * params.workforce.learning_weeks, n)
        self.skill = np.ones(n)
        self.isq = np.full(n, params.workforce.reference_isq)
        self.isq_week_sum = np.zeros(n)
        self.isq_week_n = np.zeros(n)
        self.recruitments = [0] * n  # per position: keys its time-to-fill draws
        self.mean_time = [0.0] * n  # hours per service, per position
        self.quality_of = [0.0] * n  # service quality, per position
        # effort and service standards (close_effort; Oliva & Sterman 2001)
        self.standard = 1.0  # service standard, as a multiple of the base service time
        self.effort = 1.0    # time given per customer, as a multiple of the standard
        self.fatigue = 0.0   # smoothed work pressure above 1
        self.busy_since = [0.0] * n
        self.busy = [False] * n
        self.leaving = [False] * n
        self.free = list(range(n))[::-1]
        self.pending_hire = set()  # vacant positions with a hire scheduled
        self.queue = deque()  # (arrival time, abandonment deadline, customer, service draw)
        self.customers = CustomerBase(engine, index, profile, n)
        self.relationships = self.customers.relationships
        # --- accumulators ------------------------------------------------
        self.acc = np.zeros(len(FIELDS))
        self.served_log = []      # (position, customer, arrival time, wait, service time, quality)
        self.abandon_log = []     # (customer, arrival time, deadline)
        self.head_t = 0.0
        self.arrivals_t = []
        self.visitors = []
        self.arrival_service = []   # standard service-time draw of each arrival
        self.arrival_patience = []  # standard patience draw of each arrival
        self.next_arrival = 0
        self.n_arrivals_week = 0
        self.busy_hours = 0.0
        self.staffed_hours = 0.0
        self.wait_sum = 0.0
        self.waited = 0
        self.started = 0
        self.answered_in_target = 0

    # ----------------------------------------------------------- hot path
    def on_arrival(self, event):
        """The next pre-drawn customer arrives now: schedule the one after, serve or queue this one."""
        now = self.env._now
        i = self.next_arrival
        c = self.visitors[i]
        self.next_arrival = i + 1
        if i + 1 < self.n_arrivals_week:
            Timeout(self.env, self.arrivals_t[i + 1] - now).callbacks.append(self.on_arrival)
        if self.free:
            e = self._own_or_any(c) if self.relationships else self.free.pop()
            self.start(e, c, now, 0.0, self.arrival_service[i])
        else:
            patience = self.engine.mean_patience
            deadline = now + self.arrival_patience[i] * patience if patience < _INF else _INF
            self.queue.append((now, deadline, c, self.arrival_service[i]))

    def _own_or_any(self, c):
        """A free position for customer ``c``: their own employee's if she is free (relationship service)."""
        free = self.free
        mine = self.customers.assigned[c]
        if mine >= 0 and mine in free:
            free.remove(mine)
            return mine
        return free.pop()

    def start(self, e, c, t_arrival, wait, service_draw):
        """Position ``e`` starts serving customer ``c`` now, after ``wait`` hours in the queue."""
        st = service_draw * self.mean_time[e]
        self.busy[e] = True
        self.busy_since[e] = self.env._now
        self.started += 1
        if wait > 0.0:
            self.waited += 1
            self.wait_sum += wait
            if wait <= self.engine.service_level_hours:
                self.answered_in_target += 1
        else:  # answered at once: within any threshold
            self.answered_in_target += 1
        Timeout(self.env, st, (e, c, t_arrival, wait, st, self.quality_of[e])).callbacks.append(self.on_complete)

    def on_complete(self, event):
        """A service ends: log it, and the position serves the next customer (or its leaver goes)."""
        rec = event._value
        e = rec[0]
        self.served_log.append(rec)
        if self.leaving[e]:  # busy time was booked up to the quit
            self.leaving[e] = False
            self.busy[e] = False
            return
        self.busy_hours += self.env._now - self.busy_since[e]
        self.serve_next(e)

    def serve_next(self, e):
        """Position ``e`` is free: serve the next customer still waiting, or go idle.

        Customers whose patience ran out are dropped on the way: they
        abandoned at their deadline, before now (lazy abandonment).
        """
        now = self.env._now
        queue = self.queue
        while queue:
            t_arr, deadline, c, service_draw = queue.popleft()
            if deadline >= now:
                self.start(e, c, t_arr, now - t_arr, service_draw)
                return
            self.abandon_log.append((c, t_arr, deadline))
        self.busy[e] = False
        self.free.append(e)

    # ------------------------------------------------------------ the week
    def schedule_week(self, week):
        """Draw this week's arrivals and quits, and schedule them.

        Each customer slot's visits come from its own uniforms; each
        position has one (decision, time) pair for a quit.
        """
        self.acc[FIELD_INDEX["customers_start"]] = self.customers.active.sum()
        self._schedule_arrivals(week)
        self._schedule_quits(week)

    def _schedule_arrivals(self, week):
        """Draw the week's visits of every customer slot; schedule the first (each schedules the next)."""
        engine = self.engine
        hours = engine.hours
        start = week * hours
        footfall = self.footfall[week]
        rates = self.customers.visit_rate if footfall == 1.0 else self.customers.visit_rate * footfall
        slots, u = streams.slot_events(engine.seed, "arrivals", (week, self.index), rates, 3, _VISITS_PER_SLOT)
        order = np.argsort(u[:, 0], kind="stable")
        slots, u = slots[order], u[order]
        n = slots.size
        self.arrivals_t = (start + u[:, 0] * hours).tolist()
        self.visitors = slots.tolist()
        self.arrival_service = service_time_draws(u[:, 1], engine.in_force.workforce.service_time_cv).tolist()
        self.arrival_patience = streams.exponential_quantile(u[:, 2]).tolist()
        self.next_arrival = 0
        self.n_arrivals_week = n
        if n:
            Timeout(self.env, self.arrivals_t[0] - self.env._now).callbacks.append(self.on_arrival)

    def _schedule_quits(self, week):
        """Draw whether and when each employee quits this week; schedule the quits."""
        engine = self.engine
        params = engine.in_force
        hours = engine.hours
        draws = engine.generator("workforce", week, self.index).random((self.exists.size, 2))
        idx = np.flatnonzero(self.filled)
        workforce = params.workforce
        hazard = links.quit_hazard(self.satisfaction[idx], workforce.base_quit_rate,
                                   workforce.reference_satisfaction, params.links.quit_from_satisfaction)
        quits = draws[idx, 0] < -np.expm1(-hazard / 52.0)
        if engine.events is not None and "employees" in engine.events:  # everyone at risk of quitting
            engine.events["employees"].extend(
                (self.index, week, e, s, t, k, self.quality_of[e], left) for e, s, t, k, left in
                zip(idx.tolist(), self.satisfaction[idx].tolist(), self.tenure[idx].tolist(),
                    self.skill[idx].tolist(), quits.tolist()))
        for e, t in zip(idx[quits].tolist(), (draws[idx, 1][quits] * hours).tolist()):
            self.env.process(self._quit_later(e, t))

    def close_week(self, internal_cost):
        """Close the week: book hours up to now, then customers, employees and money.

        Parameters
        ----------
        internal_cost : float
            The unit's share of the departments' wages and the tools spend.

        Returns
        -------
        numpy.ndarray
            The week's record (fields of :data:`spchain.metrics.FIELDS`); the
            next week starts a fresh one.
        """
        self.expire_queue()
        self._headcount_changed()
        now = self.env._now
        for e, b in enumerate(self.busy):
            if b and not self.leaving[e]:
                self.busy_hours += now - self.busy_since[e]
                self.busy_since[e] = now
        served, abandoned = self.served_log, self.abandon_log
        self.served_log = []
        self.abandon_log = []
        self.acc[FIELD_INDEX["arrivals"]] = self.n_arrivals_week
        self.customers.close_week(self.acc, served, abandoned, self.staff_satisfaction(), self.exists.size)
        self._close_workforce()
        self._close_money(internal_cost)
        record = self.acc
        self.acc = np.zeros(len(FIELDS))
        return record

    def expire_queue(self):
        """Remove customers whose patience ran out before now (period boundary)."""
        now = self.env._now
        keep = deque()
        for item in self.queue:
            if item[1] >= now:
                keep.append(item)
            else:
                self.abandon_log.append((item[2], item[0], item[1]))
        self.queue = keep

    def staff_satisfaction(self):
        """Mean satisfaction of the employees in post (the reference satisfaction with none)."""
        in_post = self.satisfaction[self.filled]
        return in_post.mean() if in_post.size else self.engine.in_force.workforce.reference_satisfaction

    def update_loyalty_rates(self):
        """Next week's visit rates and spend of the unit's customers (see :class:`CustomerBase`)."""
        self.customers.update_loyalty_rates(self.staff_satisfaction())

    def _record_service_counts(self):
        """Move the week's service counters into the record and reset them."""
        record = self.acc
        record[FIELD_INDEX["busy_hours"]] = self.busy_hours
        record[FIELD_INDEX["staffed_hours"]] = self.staffed_hours
        record[FIELD_INDEX["started"]] = self.started
        record[FIELD_INDEX["waited"]] = self.waited
        record[FIELD_INDEX["wait_hours_sum"]] = self.wait_sum
        record[FIELD_INDEX["answered_in_target"]] = self.answered_in_target

    def _close_workforce(self):
        """Employees' week: effort, perceived ISQ, satisfaction, tenure, skill and quality."""
        params = self.engine.in_force
        workforce = params.workforce
        record = self.acc
        idx = np.flatnonzero(self.filled)
        self._record_service_counts()
        # work pressure: customers in service or waiting (abandoners until they left) per staffed hour
        demand = self.busy_hours + self.wait_sum + record[FIELD_INDEX["abandoned_wait_hours_sum"]]
        pressure = demand / self.staffed_hours if self.staffed_hours > 0 else workforce.reference_utilisation
        self.close_effort(idx)  # work pressure at the standard, effort, standard, fatigue
        self.busy_hours = self.staffed_hours = self.wait_sum = 0.0
        self.waited = self.started = self.answered_in_target = 0
        self._update_isq()
        n_active = record[FIELD_INDEX["active_customers"]]
        customer_satisfaction = (record[FIELD_INDEX["customer_satisfaction_sum"]] / n_active if n_active
                                 else params.customers.reference_satisfaction)
        target = links.employee_satisfaction_target(
            self.base_satisfaction, isq=self.isq[idx], isq_ref=workforce.reference_isq,
            workload=pressure, workload_ref=workforce.reference_utilisation,
            recognition=workforce.recognition, pay_index=workforce.pay_index,
            training_hours=workforce.training_hours, training_ref=workforce.reference_training_hours,
            customer_satisfaction=customer_satisfaction, customer_ref=params.customers.reference_satisfaction,
            links=params.links, fatigue=self.fatigue)
        self.satisfaction[idx] = links.first_order_delay(self.satisfaction[idx], target, 1.0,
                                                         workforce.satisfaction_delay_weeks)
        self.tenure[idx] += 1.0
        self.set_performance(idx)
        self._record_staff(idx)

    def _update_isq(self):
        """Each position's perceived internal service quality moves toward this week's mean score."""
        smoothing = self.engine.in_force.workforce.isq_smoothing
        got = self.isq_week_n > 0
        mean_isq = np.divide(self.isq_week_sum, self.isq_week_n, out=np.zeros_like(self.isq), where=got)
        self.isq = np.where(got, self.isq + smoothing * (mean_isq - self.isq), self.isq)
        self.isq_week_sum[:] = 0.0
        self.isq_week_n[:] = 0.0

    def _record_staff(self, idx):
        """Record the week's end state of the employees in positions ``idx``."""
        engine = self.engine
        workforce = engine.in_force.workforce
        record = self.acc
        record[FIELD_INDEX["positions"]] = self.exists.sum()
        record[FIELD_INDEX["headcount"]] = idx.size
        record[FIELD_INDEX["vacancies"]] = np.count_nonzero(self.exists & ~self.filled)
        record[FIELD_INDEX["satisfaction_sum"]] = self.satisfaction[idx].sum()
        if engine.events is not None and "staff" in engine.events:  # per-unit week rows (spchain.records)
            isq, sat = ((float(self.isq[idx].mean()), float(self.satisfaction[idx].mean())) if idx.size
                        else (np.nan,) * 2)
            engine.events["staff"].append((self.index, engine.week, int(idx.size), isq, sat))
        record[FIELD_INDEX["skill_sum"]] = self.skill[idx].sum()
        factor = self.standard * self.effort  # time given / time needed (section 3.9)
        record[FIELD_INDEX["productivity_sum"]] = (workforce.service_time_minutes / 60.0 * factor /
                                                   np.array(self.mean_time)[idx]).sum() if idx.size else 0.0
        standard_minutes = workforce.service_time_minutes * self.profile.process * self.standard
        record[FIELD_INDEX["standard_minutes_sum"]] = idx.size * standard_minutes
        record[FIELD_INDEX["time_given_minutes_sum"]] = idx.size * standard_minutes * self.effort
        record[FIELD_INDEX["waiting"]] = len(self.queue)
        record[FIELD_INDEX["in_service"]] = sum(self.busy)

    def close_effort(self, idx):
        """The week's work pressure at the standard; the standard, effort and fatigue for next week.

        After Oliva & Sterman (2001): pressure ``p`` is the staffed hours the
        week's arrivals require at the service standard over the staffed hours
        (:func:`spchain.links.standard_pressure`); the standard moves toward the
        time given this week (:func:`spchain.links.service_standard`); next
        week's time per customer answers this week's pressure
        (:func:`spchain.links.time_per_customer`); fatigue smooths ``p - 1``
        above 0.  Records ``required_hours``.

        Parameters
        ----------
        idx : numpy.ndarray of int
            Positions filled this week.

        Returns
        -------
        float
            The week's work pressure ``p``.
        """
        params = self.engine.in_force
        workforce, strength = params.workforce, params.links
        staffed = self.staffed_hours
        if idx.size:  # productivity in force this week, before this week's updates
            productivity = links.productivity(self.skill[idx], self.satisfaction[idx],
                                              workforce.reference_satisfaction, strength.productivity_from_skill,
                                              strength.productivity_from_satisfaction).mean()
        else:
            productivity = 1.0
        standard_hours = workforce.service_time_minutes / 60.0 * self.profile.process * self.standard
        pressure = links.standard_pressure(self.acc[FIELD_INDEX["arrivals"]], standard_hours, staffed,
                                           productivity, workforce.pressure_utilisation)
        self.acc[FIELD_INDEX["required_hours"]] = pressure * staffed if staffed > 0 else 0.0
        if strength.effort_from_pressure != 0.0 or self.effort != 1.0:
            achieved = self.standard * self.effort  # time given this week, as a multiple of the base time
            self.standard = float(links.service_standard(self.standard, achieved, workforce.standard_erosion_weeks,
                                                         workforce.standard_recovery_weeks))
            self.effort = float(links.time_per_customer(1.0, pressure, strength.effort_from_pressure))
        self.fatigue = float(links.first_order_delay(self.fatigue, max(0.0, pressure - 1.0), 1.0,
                                                     workforce.fatigue_weeks))
        return pressure

    def set_performance(self, idx):
        """Skill, productivity and quality of the employees in positions ``idx``.

        Parameters
        ----------
        idx : array_like of int
            Positions whose employees' performance to set.
        """
        if len(idx) == 0:
            return
        params = self.engine.in_force
        workforce, strength = params.workforce, params.links
        speedup = 1.0 + workforce.learning_gain_per_training_hour * workforce.training_hours
        self.skill[idx] = links.learning_curve(self.tenure[idx], workforce.initial_skill, workforce.learning_weeks,
                                               speedup)
        productivity = links.productivity(self.skill[idx], self.satisfaction[idx], workforce.reference_satisfaction,
                                          strength.productivity_from_skill, strength.productivity_from_satisfaction)
        base = workforce.service_time_minutes / 60.0 * self.profile.process  # the unit's processes and layout
        factor = self.standard * self.effort  # time given / time needed: 1 unless effort is on (section 3.9)
        for e, pi in zip(np.asarray(idx).tolist(), productivity.tolist()):
            self.mean_time[e] = base * factor / pi
        quality = links.service_quality(workforce.base_quality, self.skill[idx], self.satisfaction[idx],
                                        workforce.reference_satisfaction, strength.quality_from_skill,
                                        strength.quality_from_satisfaction, factor, strength.quality_from_time)
        for e, q in zip(np.asarray(idx).tolist(), quality.tolist()):
            self.quality_of[e] = q

    def _close_money(self, internal_cost):
        """Wages, training, hiring, goods, fixed and internal costs, and the week's profit."""
        params = self.engine.in_force
        economics, workforce = params.economics, params.workforce
        record = self.acc
        hours = self.engine.hours
        employee_weeks = record[FIELD_INDEX["staffed_hours"]] / hours
        record[FIELD_INDEX["wage_cost"]] = employee_weeks * economics.wage_per_week * workforce.pay_index
        record[FIELD_INDEX["training_cost"]] = (employee_weeks * workforce.training_hours * economics.wage_per_week
                                                * workforce.pay_index / hours)
        record[FIELD_INDEX["hiring_cost"]] = record[FIELD_INDEX["hires"]] * economics.hiring_cost
        record[FIELD_INDEX["goods_cost"]] = (1.0 - economics.gross_margin) * record[FIELD_INDEX["revenue"]]
        record[FIELD_INDEX["fixed_cost"]] = economics.fixed_cost_per_week
        record[FIELD_INDEX["internal_cost"]] = internal_cost
        record[FIELD_INDEX["costs"]] = sum(record[FIELD_INDEX[k]] for k in (
            "wage_cost", "training_cost", "hiring_cost", "marketing_cost", "goods_cost", "fixed_cost",
            "internal_cost"))
        record[FIELD_INDEX["profit"]] = record[FIELD_INDEX["revenue"]] - record[FIELD_INDEX["costs"]]

    # ---------------------------------------------------- workforce events
    def _headcount_changed(self):
        now = self.env._now
        self.staffed_hours += (now - self.head_t) * self.filled.sum()
        self.head_t = now

    def quit(self, e):
        """Employee in position ``e`` leaves now; recruit or abolish the position."""
        if not self.filled[e]:
            return
        self._headcount_changed()
        self.filled[e] = False
        self.acc[FIELD_INDEX["quits"]] += 1
        events = self.engine.events
        if events is not None and "quits" in events:
            events["quits"].append((self.index, self.engine.week, self.env._now, e,
                                    float(self.tenure[e]), float(self.satisfaction[e])))
        if self.relationships:  # her customers lose the relationship
            self.customers.lose_relationship(e, self.engine.in_force.customers.relationship_loss)
        if self.busy[e]:  # finishes the customer in hand, unpaid and off the books
            self.leaving[e] = True
            self.busy_hours += self.env._now - self.busy_since[e]
        else:
            self.free.remove(e)
        self.recruit_or_abolish(e)

    def hire(self, e):
        """A new employee fills position ``e`` now: satisfaction, tenure, skill and ISQ start afresh."""
        self._headcount_changed()
        self.filled[e] = True
        self.acc[FIELD_INDEX["hires"]] += 1
        events = self.engine.events
        if events is not None and "hires" in events:
            events["hires"].append((self.index, self.engine.week, self.env._now, e))
        self.satisfaction[e] = self.base_satisfaction
        self.tenure[e] = 0.0
        self.isq[e] = self.engine.in_force.workforce.reference_isq
        self.set_performance(np.array([e]))
        if self.busy[e]:  # the leaver is still finishing a customer: the hire takes over
            self.leaving[e] = False
            self.busy_since[e] = self.env._now
            return
        self.serve_next(e)

    def recruit_or_abolish(self, e):
        """After a quit (or a change of positions): refill ``e`` or abolish it.

        Positions shrink by attrition: a vacated position beyond the target
        is abolished, never a filled one.  The time to fill is drawn from a
        generator keyed by the unit, the position and its recruitment count.
        """
        engine = self.engine
        pending = self.pending_hire
        target = unit_traits.positions(engine.in_force, self.profile)
        if int(self.exists.sum()) > target:
            self.exists[e] = False
            pending.discard(e)
            return
        if e in pending:
            return
        pending.add(e)
        self.recruitments[e] += 1
        mean_weeks = engine.in_force.workforce.time_to_fill_weeks
        weeks = 0.0
        if mean_weeks > 0:
            u = engine.generator("workforce", self.index, 1, int(e), self.recruitments[e]).random()
            weeks = mean_weeks * float(streams.exponential_quantile(u))
        self.env.process(self._hire_later(e, weeks * engine.hours))

    def _hire_later(self, e, delay):
        yield self.env.timeout(delay)
        pending = self.pending_hire
        if e in pending:
            pending.discard(e)
            if self.exists[e] and not self.filled[e]:
                self.hire(e)

    def _quit_later(self, e, delay):
        yield self.env.timeout(delay)
        self.quit(e)

    def _add_positions(self, k):
        """``k`` new vacant positions, each recruited for."""
        workforce = self.engine.in_force.workforce
        grow = lambda a, v: np.concatenate([a, np.full(k, v, dtype=a.dtype)])  # noqa: E731
        n0 = self.exists.size
        self.exists = grow(self.exists, True)
        self.filled = grow(self.filled, False)
        self.satisfaction = grow(self.satisfaction, self.base_satisfaction)
        self.tenure = grow(self.tenure, 0.0)
        self.skill = grow(self.skill, workforce.initial_skill)
        self.isq = grow(self.isq, workforce.reference_isq)
        self.isq_week_sum = grow(self.isq_week_sum, 0.0)
        self.isq_week_n = grow(self.isq_week_n, 0.0)
        self.recruitments += [0] * k
        self.mean_time += [0.0] * k
        self.quality_of += [0.0] * k
        self.busy_since += [0.0] * k
        self.busy += [False] * k
        self.leaving += [False] * k
        for e in range(n0, n0 + k):
            self.recruit_or_abolish(e)

    def apply_levers(self):
        """Apply the parameters in force: base satisfaction, positions, performance, loyalty rates."""
        params = self.engine.in_force
        self.base_satisfaction = float(np.clip(params.workforce.base_satisfaction + self.profile.manager, 0.0, 1.0))
        target = unit_traits.positions(params, self.profile)
        n_existing = int(self.exists.sum())
        if target > n_existing:
            self._add_positions(target - n_existing)
        if target != n_existing:
            for e in np.flatnonzero(self.exists & ~self.filled):
                self.recruit_or_abolish(e)
        self.set_performance(np.flatnonzero(self.filled))
        self.update_loyalty_rates()

    # ---------------------------------------------------- internal service
    def credit_internal_service(self, e, quality, hours, *, resolved, sla_due, sla_met):
        """A request of position ``e`` scored ``quality`` after ``hours`` (a resolution or a week overdue)."""
        self.isq_week_sum[e] += quality
        self.isq_week_n[e] += 1
        record = self.acc
        record[FIELD_INDEX["isq_scored"]] += 1
        record[FIELD_INDEX["isq_sum"]] += quality
        record[FIELD_INDEX["resolution_hours_sum"]] += hours
        record[FIELD_INDEX["requests_resolved"]] += resolved
        record[FIELD_INDEX["requests_overdue"]] += not resolved
        record[FIELD_INDEX["sla_due"]] += sla_due
        record[FIELD_INDEX["sla_met"]] += sla_met
