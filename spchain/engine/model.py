"""The discrete-event engine: the Service-Profit Chain on SimPy.

Events are reserved for what happens at a point in time: customer arrivals,
service completions, internal requests and their completions, quits and
hires.  Slow-moving state (satisfaction, skill, tenure, loyalty) lives in
NumPy arrays updated once per period (one week of open hours) for everybody
at once.  Per customer the engine schedules two events (arrival, service
completion); abandonment is resolved lazily when a server frees up, which
gives exactly the FCFS-with-patience sample path.

Random numbers are keyed by what they belong to (:mod:`spchain.engine.streams`):
each customer slot's visits in a week come from its own uniforms (count by
inversion, then the time, service time and patience of each visit), each
position's quits and requests likewise, each request's handling times and
rework, so a lever moves only the numbers it should.

The engine knows nothing of statistics, files or plots: it fills a
``(periods, units, fields)`` array of additive sums (see
:mod:`spchain.metrics`).  Use :func:`spchain.simulate` to run it.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import simpy
from simpy.events import Timeout

from .. import links as L
from . import streams
from . import units as unit_traits
from . import weekly
from ..metrics import DEPARTMENT_FIELDS, FIELDS
from ..records import record_kinds
from .streams import STREAMS

__all__ = ["STREAMS", "SAMPLE_PATH_VERSION", "Engine", "Request"]

_F = {name: i for i, name in enumerate(FIELDS)}
_D = {name: i for i, name in enumerate(DEPARTMENT_FIELDS)}
_INF = float("inf")

#: Version of the engine's sample path: bumped whenever the same parameters
#: and seed give different numbers (the golden run records it and fails
#: when the numbers change without a bump).  Experiment stores are keyed on
#: it, so a resumed sweep never mixes runs of two engines.
SAMPLE_PATH_VERSION = 4

#: Visits per customer slot and week served from the slot's shared block of
#: uniforms (time, service time, patience); rarer further visits use a
#: generator keyed by the slot.
_VISITS_PER_SLOT = 3
#: Requests per position (or department) and week served from the shared
#: block; each owns a time, a routing draw and _ATTEMPTS (service, rework) pairs.
_REQUESTS_PER_SLOT = 4
_ATTEMPTS = 3


class Request:
    """An internal request: who raised it, when it is due, its own random numbers.

    ``kind`` is 0 for a front-line employee (``who = (unit, position)``) and
    1 for another department (``who`` = its index).  ``uniforms`` holds the
    handling-time and right-first-time uniforms of its first attempts;
    further attempts draw from a generator keyed by ``key``.
    """

    __slots__ = ("raised_at", "due", "kind", "who", "first_time", "missed", "attempt",
                 "uniforms", "key")

    def __init__(self, kind, who, uniforms, key):
        self.raised_at = 0.0
        self.due = _INF
        self.kind = kind
        self.who = who
        self.first_time = True
        self.missed = False  # SLA passed while open (counted once)
        self.attempt = 0
        self.uniforms = uniforms
        self.key = key


class _Unit:
    """One service unit: its front-line positions, queue and customer base."""

    def __init__(self, engine, index):
        self.engine = engine
        self.index = index
        p = engine.p
        env = engine.env
        self.env = env
        self.profile = profile = engine.profiles[index]
        self.base_satisfaction = float(np.clip(p.workforce.base_satisfaction + profile.manager, 0.0, 1.0))
        self.footfall = engine.footfall[index]  # weekly visit-rate multipliers
        n = unit_traits.positions(p, profile)
        # --- positions (one server each) -------------------------------
        self.exists = np.ones(n, bool)
        self.filled = np.ones(n, bool)
        self.satisfaction = np.full(n, self.base_satisfaction)
        # a mature team: tenure uniform over four learning time constants
        self.tenure = engine.generator("workforce", 0, index, 2).uniform(0, 4 * p.workforce.learning_weeks, n)
        self.skill = np.ones(n)
        self.isq = np.full(n, p.workforce.reference_isq)
        self.isq_week_sum = np.zeros(n)
        self.isq_week_n = np.zeros(n)
        self.recruitments = [0] * n  # per position: keys its time-to-fill draws
        self.mean_time = [0.0] * n  # hours per service, per position
        self.quality_of = [0.0] * n  # service quality, per position
        # effort and service standards (weekly.close_workforce; Oliva & Sterman 2001)
        self.standard = 1.0  # service standard, as a multiple of the base service time
        self.effort = 1.0    # time given per customer, as a multiple of the standard
        self.fatigue = 0.0   # smoothed work pressure above 1
        self.busy_since = [0.0] * n
        self.busy = [False] * n
        self.leaving = [False] * n
        self.free = list(range(n))[::-1]
        self.pending_hire = set()  # vacant positions with a hire scheduled
        self.queue = deque()  # (arrival time, abandonment deadline, customer, service draw)
        # --- customers ---------------------------------------------------
        m = round(p.customers.n_customers * profile.market_size)
        cap = max(16, int(m * 1.25))
        self.c_active = np.zeros(cap, bool)
        self.c_active[:m] = True
        self.c_satisfaction = np.zeros(cap)
        self.c_satisfaction[:m] = p.customers.initial_satisfaction
        self.c_free_slots = list(range(cap - 1, m - 1, -1))
        self.c_released = []  # slots of last week's churned customers
        self.c_spend = np.zeros(cap)
        self.c_rate = np.zeros(cap)
        self.c_traits = np.zeros((cap, 4))  # lasting differences: see weekly.customer_traits
        self.c_traits[:, 1:] = 1.0
        z = engine.generator("customers", 0, index, 3).standard_normal((m, 4))
        self.c_traits[:m] = weekly.customer_traits(p.customers, z)
        # relationship service: an assigned position (-1: none), a bond, a relationship just lost
        self.relationships = p.customers.relationship_share > 0
        self.c_assigned = np.full(cap, -1, np.intp)
        self.c_bond = np.zeros(cap)
        self.c_lost = np.zeros(cap, bool)
        if self.relationships:
            u = engine.generator("customers", 0, index, 5).random((m, 2))
            self.c_assigned[:m] = weekly.assign_positions(u, p.customers.relationship_share, n)
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
        mine = self.c_assigned[c]
        if mine >= 0 and mine in free:
            free.remove(mine)
            return mine
        return free.pop()

    def start(self, e, c, t_arrival, wait, service_draw):
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
        self.acc[_F["quits"]] += 1
        if self.engine.events is not None and "quits" in self.engine.events:
            self.engine.events["quits"].append((self.index, self.engine.week, self.env._now, e,
                                                float(self.tenure[e]), float(self.satisfaction[e])))
        if self.relationships:  # her customers lose the relationship
            lost = np.flatnonzero((self.c_assigned == e) & self.c_active)
            self.c_bond[lost] = 0.0
            self.c_satisfaction[lost] = np.maximum(0.0, self.c_satisfaction[lost]
                                                   - self.engine.p.customers.relationship_loss)
            self.c_lost[lost] = True
        if self.busy[e]:  # finishes the customer in hand, unpaid and off the books
            self.leaving[e] = True
            self.busy_hours += self.env._now - self.busy_since[e]
        else:
            self.free.remove(e)
        self.engine.recruit_or_abolish(self, e)

    def hire(self, e):
        """A new employee fills position ``e`` now: satisfaction, tenure, skill and ISQ start afresh."""
        wf = self.engine.p.workforce
        self._headcount_changed()
        self.filled[e] = True
        self.acc[_F["hires"]] += 1
        if self.engine.events is not None and "hires" in self.engine.events:
            self.engine.events["hires"].append((self.index, self.engine.week, self.env._now, e))
        self.satisfaction[e] = self.base_satisfaction
        self.tenure[e] = 0.0
        self.isq[e] = wf.reference_isq
        weekly.set_performance(self.engine, self, np.array([e]))
        if self.busy[e]:  # the leaver is still finishing a customer: the hire takes over
            self.leaving[e] = False
            self.busy_since[e] = self.env._now
            return
        self.serve_next(e)

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


class _Department:
    """An internal service department: a multi-server FCFS queue of requests."""

    def __init__(self, engine, index, dep):
        self.engine = engine
        self.index = index
        self.env = engine.env
        self.n_staff = dep.n_staff
        self.n_servers = 0
        self.free = 0
        self.queue = deque()
        self.mean_time = dep.service_time_hours
        self.ftr_prob = dep.ftr_prob
        self.acc = np.zeros(len(DEPARTMENT_FIELDS))
        self.in_progress = {}  # request -> start of the current piece of work
        self.last_close = 0.0
        self.isq_received_sum = 0.0
        self.isq_received_n = 0
        self.isq_received = engine.p.workforce.reference_isq
        self.staff_t = 0.0
        self.resize(dep.n_staff)

    def _book_staff(self):
        """Book staff hours up to now: the staff, and any who leave once they finish their request."""
        now = self.env._now
        self.acc[_D["staff_hours"]] += (now - self.staff_t) * max(self.n_staff, len(self.in_progress))
        self.staff_t = now

    def resize(self, n_staff):
        """Change the number of staff; extra staff leave when they finish (and are paid until then)."""
        self._book_staff()
        self.n_staff = n_staff
        added = n_staff - self.n_servers
        self.n_servers = n_staff
        self.free += added  # may go negative: busy staff retire on completion
        while self.free > 0 and self.queue:
            self.free -= 1
            self.start(self.queue.popleft())

    def submit(self, request):
        self.acc[_D["raised"]] += 1
        if self.free > 0:
            self.free -= 1
            self.start(request)
        else:
            self.queue.append(request)

    def _uniform(self, request, which):
        """The request's own uniform for this attempt: 0 = handling time, 1 = right first time."""
        a = request.attempt
        if a < _ATTEMPTS:
            return request.uniforms[2 * a + which]
        return float(self.engine.generator("internal_service", *request.key, a).random(2)[which])

    def start(self, request):
        st = streams.exponential_quantile(self._uniform(request, 0)) * self.mean_time
        self.in_progress[request] = self.env._now
        Timeout(self.env, float(st), request).callbacks.append(self.on_complete)

    def book_busy(self):
        """Book work in progress up to now (period boundary)."""
        now = self.env._now
        self.acc[_D["busy_hours"]] += sum(now - max(t, self.last_close) for t in self.in_progress.values())
        self.last_close = now

    def open_requests(self):
        """Requests waiting or in hand."""
        return list(self.queue) + list(self.in_progress)

    def on_complete(self, event):
        request = event._value
        if len(self.in_progress) > self.n_staff:  # a leaving member of staff finishes: paid until now
            self._book_staff()
        started = self.in_progress.pop(request)
        self.acc[_D["busy_hours"]] += self.env._now - max(started, self.last_close)
        right = self._uniform(request, 1) < self.ftr_prob
        request.attempt += 1
        if not right:  # not right: reworked, back of the queue
            self.acc[_D["reworked"]] += 1
            request.first_time = False
            self.queue.append(request)
        else:
            self.engine.resolve(self, request)
        if self.free < 0:
            self.free += 1
        elif self.queue:
            self.start(self.queue.popleft())
        else:
            self.free += 1


class Engine:
    """One replication of the model.  Use :func:`spchain.simulate`.

    The run can be advanced in pieces (:meth:`advance`), with the parameters
    (and their schedule) replaced between pieces: a workshop round plays a
    quarter from the saved state instead of re-running from week 0, and the
    numbers are the same as one run with the same schedule.

    ``record_events`` is ``True`` (every kind), ``False``, or the kinds of
    :data:`spchain.records.RECORDS` whose rows to keep in ``events``.
    """

    def __init__(self, params, horizon, seed, record_events=False):
        self.params = params
        self.horizon = horizon
        self.record_events = record_events
        self.seed = seed
        self.week = 0
        self.p = params.at_week(0)
        self.env = simpy.Environment()
        self.hours = self.p.organisation.hours_per_week
        self.profiles = unit_traits.unit_profiles(self.p, seed)
        self.footfall = [unit_traits.footfall_shocks(self.p, seed, u, horizon) for u in range(len(self.profiles))]
        self.units = [_Unit(self, u) for u in range(self.p.organisation.n_units)]
        self.departments = [_Department(self, d, dep) for d, dep in enumerate(self.p.internal.departments)]
        self.sums = np.zeros((horizon, len(self.units), len(FIELDS)))
        self.dept_sums = np.zeros((horizon, len(self.departments), len(DEPARTMENT_FIELDS)))
        # per-event records of the kinds asked for (spchain.records); None: nothing is kept
        self.events = {kind: [] for kind in record_kinds(record_events)} or None
        self.reinvestment = 0.0  # money/week of profit reinvested in internal tools
        self._apply_levers()
        self.weeks_done = 0  # weeks simulated so far
        self._pending_params = False  # new parameters to apply at the next week
        self._pause = None
        self._resume = None
        self._process = None

    def generator(self, stream, *key):
        """The generator of ``stream`` keyed by ``key`` (week, unit, slot...); see :mod:`spchain.engine.streams`."""
        return streams.generator(self.seed, stream, *key)

    # ------------------------------------------------------------- levers
    def _apply_levers(self):
        """Copy the parameters in force into the engine's fast attributes."""
        p = self.p
        self.mean_patience = p.customers.patience_minutes / 60.0
        self.service_level_hours = p.measurement.service_level_seconds / 3600.0
        self._set_tools()
        for dept, dep in zip(self.departments, p.internal.departments):
            if dep.n_staff != dept.n_staff:
                dept.resize(dep.n_staff)
        self._set_department_speeds()
        for unit in self.units:
            unit.base_satisfaction = float(np.clip(p.workforce.base_satisfaction + unit.profile.manager, 0.0, 1.0))
            target = unit_traits.positions(p, unit.profile)
            n_existing = int(unit.exists.sum())
            if target > n_existing:
                self._add_positions(unit, target - n_existing)
            if target != n_existing:
                for e in np.flatnonzero(unit.exists & ~unit.filled):
                    self.recruit_or_abolish(unit, e)
            weekly.set_performance(self, unit, np.flatnonzero(unit.filled))
            weekly.update_loyalty_rates(self, unit)

    def _set_tools(self):
        """Effect of tools spend (the lever plus any reinvested profit) on departments."""
        inv = self.p.internal
        spend = inv.tools_spend_per_week + self.reinvestment
        tools = 1.0 - np.exp(-np.log(2.0) * spend / inv.tools_half_spend)
        self.tools_speed = 1.0 + inv.tools_max_speedup * tools
        self.tools_rework_cut = inv.tools_max_ftr_gain * tools

    def _set_department_speeds(self):
        k = self.p.links.internal_speed_from_internal
        ref = self.p.workforce.reference_isq
        for dept, dep in zip(self.departments, self.p.internal.departments):
            speed = self.tools_speed * L.internal_speed(dept.isq_received, ref, k)
            dept.mean_time = dep.service_time_hours / speed
            dept.ftr_prob = 1.0 - (1.0 - dep.ftr_prob) * (1.0 - self.tools_rework_cut)

    def _add_positions(self, unit, k):
        wf = self.p.workforce
        grow = lambda a, v: np.concatenate([a, np.full(k, v, dtype=a.dtype)])  # noqa: E731
        n0 = unit.exists.size
        unit.exists = grow(unit.exists, True)
        unit.filled = grow(unit.filled, False)
        unit.satisfaction = grow(unit.satisfaction, unit.base_satisfaction)
        unit.tenure = grow(unit.tenure, 0.0)
        unit.skill = grow(unit.skill, wf.initial_skill)
        unit.isq = grow(unit.isq, wf.reference_isq)
        unit.isq_week_sum = grow(unit.isq_week_sum, 0.0)
        unit.isq_week_n = grow(unit.isq_week_n, 0.0)
        unit.recruitments += [0] * k
        unit.mean_time += [0.0] * k
        unit.quality_of += [0.0] * k
        unit.busy_since += [0.0] * k
        unit.busy += [False] * k
        unit.leaving += [False] * k
        for e in range(n0, n0 + k):
            self.recruit_or_abolish(unit, e)

    def recruit_or_abolish(self, unit, e):
        """After a quit (or a change of positions): refill ``e`` or abolish it.

        Positions shrink by attrition: a vacated position beyond the target
        is abolished, never a filled one.  The time to fill is drawn from a
        generator keyed by the unit, the position and its recruitment count.
        """
        pending = unit.pending_hire
        target = unit_traits.positions(self.p, unit.profile)
        if int(unit.exists.sum()) > target:
            unit.exists[e] = False
            pending.discard(e)
            return
        if e in pending:
            return
        pending.add(e)
        unit.recruitments[e] += 1
        mean_weeks = self.p.workforce.time_to_fill_weeks
        weeks = 0.0
        if mean_weeks > 0:
            u = self.generator("workforce", unit.index, 1, int(e), unit.recruitments[e]).random()
            weeks = mean_weeks * float(streams.exponential_quantile(u))
        self.env.process(self._hire_later(unit, e, weeks * self.hours))

    def _hire_later(self, unit, e, delay):
        yield self.env.timeout(delay)
        pending = unit.pending_hire
        if e in pending:
            pending.discard(e)
            if unit.exists[e] and not unit.filled[e]:
                unit.hire(e)

    def _quit_later(self, unit, e, delay):
        yield self.env.timeout(delay)
        unit.quit(e)

    # ------------------------------------------------------ internal service
    def resolve(self, dept, request):
        """A request is resolved: score it for its requester.

        Its quality is ``w * timely + (1 - w) * first_time``; its SLA outcome
        counts now unless it was already counted as missed when its SLA
        passed while it was open.
        """
        now = self.env._now
        resolution = now - request.raised_at
        timely = now <= request.due
        w = self.p.internal.timely_weight
        quality = w * timely + (1.0 - w) * request.first_time
        a = dept.acc
        a[_D["resolved"]] += 1
        a[_D["resolution_hours_sum"]] += resolution
        decided = not request.missed
        if decided:
            a[_D["sla_due"]] += 1
            a[_D["sla_met"]] += timely
        self._score(request, quality, resolution, resolved=True, sla_due=decided, sla_met=decided and timely)

    def _score(self, request, quality, hours, *, resolved, sla_due, sla_met):
        """Credit one scored item (a resolution or a week overdue) to the request's requester."""
        if request.kind == 0:  # front-line employee: who = (unit, position)
            unit = self.units[request.who[0]]
            e = request.who[1]
            unit.isq_week_sum[e] += quality
            unit.isq_week_n[e] += 1
            acc = unit.acc
            acc[_F["isq_scored"]] += 1
            acc[_F["isq_sum"]] += quality
            acc[_F["resolution_hours_sum"]] += hours
            acc[_F["requests_resolved"]] += resolved
            acc[_F["requests_overdue"]] += not resolved
            acc[_F["sla_due"]] += sla_due
            acc[_F["sla_met"]] += sla_met
        else:  # another department
            d = self.departments[request.who]
            d.isq_received_sum += quality
            d.isq_received_n += 1

    def _score_overdue(self, dept):
        """Week's end: every request open past its SLA scores 0 for its requester.

        A request counts as missed (once) when its SLA passes while it is
        open, and weighs on perceived ISQ with a zero score every week it
        stays open: a backlog's weight grows with its age.
        """
        now = self.env._now
        a = dept.acc
        for request in dept.open_requests():
            if now <= request.due:
                continue
            first = not request.missed
            request.missed = True
            age = now - request.raised_at
            a[_D["overdue"]] += 1
            a[_D["resolution_hours_sum"]] += age
            a[_D["sla_due"]] += first
            self._score(request, 0.0, age, resolved=False, sla_due=first, sla_met=False)

    def _raise_requests(self, week):
        """Schedule this week's internal requests (front line and departments).

        Counts per position (and per department and target) by inversion,
        each request with its own time, routing and handling uniforms.
        """
        inv = self.p.internal
        deps = inv.departments
        if not deps:
            return
        start = week * self.hours
        H = self.hours
        shares = np.cumsum([d.share for d in deps], dtype=float)
        fields = 2 + 2 * _ATTEMPTS  # time, routing, then (handling, right-first-time) per attempt
        if shares[-1] > 0:
            for unit in self.units:
                rates = np.where(unit.filled, inv.request_rate, 0.0)
                slots, u = streams.slot_events(self.seed, "requests", (week, unit.index), rates,
                                               fields, _REQUESTS_PER_SLOT)
                to = np.searchsorted(shares, u[:, 1] * shares[-1], side="right").tolist()
                nth = streams.ordinals(slots).tolist()
                for k, (e, t, d) in enumerate(zip(slots.tolist(), u[:, 0].tolist(), to)):
                    request = Request(0, (unit.index, e), u[k, 2:].tolist(), (week, unit.index, e, nth[k]))
                    self._submit_at(start + t * H, d, request)
        names = [d.name for d in deps]
        for src, dep in enumerate(deps):
            if not dep.requests_to:
                continue
            n_staff = self.departments[src].n_staff
            targets = [names.index(t) for t, _ in dep.requests_to]
            rates = np.array([rate * n_staff for _, rate in dep.requests_to])
            key = (week, len(self.units) + src)
            slots, u = streams.slot_events(self.seed, "requests", key, rates, fields, _REQUESTS_PER_SLOT)
            nth = streams.ordinals(slots).tolist()
            for k, (j, t) in enumerate(zip(slots.tolist(), u[:, 0].tolist())):
                request = Request(1, src, u[k, 2:].tolist(), key + (j, nth[k]))
                self._submit_at(start + t * H, targets[j], request)

    def _submit_at(self, t, d, request):
        def fire(event, d=d, request=request):
            dept = self.departments[d]
            request.raised_at = self.env._now
            request.due = request.raised_at + self.p.internal.departments[d].sla_hours
            dept.submit(request)
        Timeout(self.env, t - self.env._now).callbacks.append(fire)

    # --------------------------------------------------------- the period
    def _schedule_week(self, week):
        """Draw this week's arrivals, requests and quits."""
        start = week * self.hours
        H = self.hours
        cv = self.p.workforce.service_time_cv
        for unit in self.units:
            # arrivals: each customer slot's visits from its own uniforms
            footfall = unit.footfall[week]
            rates = unit.c_rate if footfall == 1.0 else unit.c_rate * footfall
            slots, u = streams.slot_events(self.seed, "arrivals", (week, unit.index), rates,
                                           3, _VISITS_PER_SLOT)
            order = np.argsort(u[:, 0], kind="stable")
            slots, u = slots[order], u[order]
            n = slots.size
            unit.arrivals_t = (start + u[:, 0] * H).tolist()
            unit.visitors = slots.tolist()
            unit.arrival_service = weekly.service_time_draws(u[:, 1], cv).tolist()
            unit.arrival_patience = streams.exponential_quantile(u[:, 2]).tolist()
            unit.next_arrival = 0
            unit.n_arrivals_week = n
            if n:
                Timeout(self.env, unit.arrivals_t[0] - self.env._now).callbacks.append(unit.on_arrival)
            # quits during the week: one (decision, time) pair per position
            draws = self.generator("workforce", week, unit.index).random((unit.exists.size, 2))
            idx = np.flatnonzero(unit.filled)
            wf = self.p.workforce
            hazard = L.quit_hazard(unit.satisfaction[idx], wf.base_quit_rate,
                                   wf.reference_satisfaction, self.p.links.quit_from_satisfaction)
            quits = draws[idx, 0] < -np.expm1(-hazard / 52.0)
            for e, t in zip(idx[quits].tolist(), (draws[idx, 1][quits] * H).tolist()):
                self.env.process(self._quit_later(unit, e, t))
        self._raise_requests(week)

    def run(self):
        """Run the whole horizon; returns ``(sums, dept_sums, events)``."""
        self.advance(self.horizon)
        return self.sums, self.dept_sums, self.events

    def advance(self, until_week, params=None):
        """Simulate up to the end of week ``until_week - 1`` from where the run stands.

        Parameters
        ----------
        until_week : int
            Weeks simulated in all after this call (``<= horizon``).
        params : Params, optional
            Replace the parameters from the next week on: their schedule
            applies to the weeks still to come (changes in weeks already
            played are ignored, as they were in force or not).
        """
        if not self.weeks_done <= until_week <= self.horizon:
            raise ValueError(f"until_week must be in [{self.weeks_done}, {self.horizon}], got {until_week}")
        if params is not None:
            self.params = params
            self._pending_params = True
        if until_week == self.weeks_done:
            return
        self._stop_at = until_week
        self._pause = self.env.event()
        if self._process is None:
            self._process = self.env.process(self._periods())
        else:
            self._resume.succeed()
        self.env.run(until=self._pause)

    def _periods(self):
        week = 0
        while week < self.horizon:
            if week > 0 and (self._pending_params or any(c.at_week == week for c in self.params.schedule)):
                self._pending_params = False
                self.p = self.params.at_week(week)
                self._apply_levers()
            self.week = week
            for unit in self.units:
                unit.acc[_F["customers_start"]] = unit.c_active.sum()
            self._schedule_week(week)
            yield self.env.timeout(self.hours)
            self._close_week(week)
            week += 1
            self.weeks_done = week
            if week == self._stop_at and week < self.horizon:
                self._resume = self.env.event()
                self._pause.succeed()
                yield self._resume
        self._pause.succeed()

    def _close_week(self, week):
        for dept in self.departments:  # overdue work scores first, for departments' requesters too
            self._score_overdue(dept)
        for dept in self.departments:
            self._close_department(dept, week)
        self.department_cost = self.dept_sums[week, :, _D["cost"]].sum()
        for unit in self.units:
            unit.expire_queue()
            unit._headcount_changed()
            now = self.env._now
            for e, b in enumerate(unit.busy):
                if b and not unit.leaving[e]:
                    unit.busy_hours += now - unit.busy_since[e]
                    unit.busy_since[e] = now
            weekly.close_customers(self, unit)
            weekly.close_workforce(self, unit)
            weekly.close_money(self, unit)
            self.sums[week, unit.index] = unit.acc
            unit.acc = np.zeros(len(FIELDS))
        # a share of this week's profit goes into internal tools next week
        profit = self.sums[week, :, _F["profit"]].sum()
        self.reinvestment = self.p.economics.reinvestment_share * max(0.0, profit)
        self._set_tools()
        self._set_department_speeds()

    def _close_department(self, dept, week):
        dept.resize(dept.n_staff)  # books staff hours up to now
        dept.book_busy()
        a = dept.acc
        a[_D["backlog"]] = len(dept.queue)
        dep = self.p.internal.departments[dept.index]
        a[_D["cost"]] = dep.wage_per_week * a[_D["staff_hours"]] / self.hours  # the staff weeks it paid
        if dept.isq_received_n:
            w = self.p.workforce.isq_smoothing
            dept.isq_received += w * (dept.isq_received_sum / dept.isq_received_n - dept.isq_received)
        dept.isq_received_sum = 0.0
        dept.isq_received_n = 0
        self.dept_sums[week, dept.index] = a
        dept.acc = np.zeros(len(DEPARTMENT_FIELDS))
