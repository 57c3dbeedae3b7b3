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

import numpy as np
import simpy
from simpy.events import Timeout

from ..metrics import DEPARTMENT_FIELD_INDEX, DEPARTMENT_FIELDS, FIELD_INDEX, FIELDS
from ..records import record_kinds
from . import streams
from . import units as unit_traits
from .departments import ATTEMPTS, Department, Request
from .frontline import Unit
from .streams import STREAMS

__all__ = ["STREAMS", "SAMPLE_PATH_VERSION", "Engine", "Request"]

#: Version of the engine's sample path: bumped whenever the same parameters
#: and seed give different numbers (the golden run records it and fails
#: when the numbers change without a bump).  Experiment stores are keyed on
#: it, so a resumed sweep never mixes runs of two engines.
SAMPLE_PATH_VERSION = 4

#: Requests per position (or department) and week served from the shared
#: block; each owns a time, a routing draw and ``ATTEMPTS`` (service, rework) pairs.
_REQUESTS_PER_SLOT = 4
#: Uniforms of a request: time, routing, then (handling, right-first-time) per attempt.
_REQUEST_FIELDS = 2 + 2 * ATTEMPTS


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
        self.in_force = params.at_week(0)  # the parameters in force this week
        self.env = simpy.Environment()
        self.hours = self.in_force.organisation.hours_per_week
        self.profiles = unit_traits.unit_profiles(self.in_force, seed)
        self.footfall = [unit_traits.footfall_shocks(self.in_force, seed, u, horizon)
                         for u in range(len(self.profiles))]
        self.units = [Unit(self, u) for u in range(self.in_force.organisation.n_units)]
        self.departments = [Department(self, d, dep) for d, dep in enumerate(self.in_force.internal.departments)]
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
        params = self.in_force
        self.mean_patience = params.customers.patience_minutes / 60.0
        self.service_level_hours = params.measurement.service_level_seconds / 3600.0
        self._set_tools()
        for dept, dep in zip(self.departments, params.internal.departments):
            if dep.n_staff != dept.n_staff:
                dept.resize(dep.n_staff)
        self._set_department_speeds()
        for unit in self.units:
            unit.apply_levers()

    def _set_tools(self):
        """Effect of tools spend (the lever plus any reinvested profit) on departments."""
        internal = self.in_force.internal
        spend = internal.tools_spend_per_week + self.reinvestment
        tools = 1.0 - np.exp(-np.log(2.0) * spend / internal.tools_half_spend)
        self.tools_speed = 1.0 + internal.tools_max_speedup * tools
        self.tools_rework_cut = internal.tools_max_ftr_gain * tools

    def _set_department_speeds(self):
        """Each department's handling time and right-first-time probability for next week."""
        for dept in self.departments:
            dept.set_speed(self.tools_speed, self.tools_rework_cut)

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
        w = self.in_force.internal.timely_weight
        quality = w * timely + (1.0 - w) * request.first_time
        decided = dept.book_resolution(request, resolution, timely)
        self._score(request, quality, resolution, resolved=True, sla_due=decided, sla_met=decided and timely)

    def _score(self, request, quality, hours, *, resolved, sla_due, sla_met):
        """Credit one scored item (a resolution or a week overdue) to the request's requester."""
        if request.kind == 0:  # front-line employee: who = (unit, position)
            self.units[request.who[0]].credit_internal_service(request.who[1], quality, hours, resolved=resolved,
                                                               sla_due=sla_due, sla_met=sla_met)
        else:  # another department
            self.departments[request.who].receive_isq(quality)

    def _score_overdue(self, dept):
        """Week's end: every request open past its SLA scores 0 for its requester.

        A request counts as missed (once) when its SLA passes while it is
        open, and weighs on perceived ISQ with a zero score every week it
        stays open: a backlog's weight grows with its age.
        """
        now = self.env._now
        for request in dept.open_requests():
            if now <= request.due:
                continue
            age = now - request.raised_at
            first = dept.book_overdue(request, age)
            self._score(request, 0.0, age, resolved=False, sla_due=first, sla_met=False)

    def _raise_requests(self, week):
        """Schedule this week's internal requests (front line and departments).

        Counts per position (and per department and target) by inversion,
        each request with its own time, routing and handling uniforms.
        """
        if not self.in_force.internal.departments:
            return
        self._raise_front_line_requests(week)
        self._raise_department_requests(week)

    def _raise_front_line_requests(self, week):
        """Requests of each unit's employees, routed to departments by their shares."""
        internal = self.in_force.internal
        hours = self.hours
        start = week * hours
        shares = np.cumsum([dep.share for dep in internal.departments], dtype=float)
        if not shares[-1] > 0:
            return
        for unit in self.units:
            rates = np.where(unit.filled, internal.request_rate, 0.0)
            slots, u = streams.slot_events(self.seed, "requests", (week, unit.index), rates,
                                           _REQUEST_FIELDS, _REQUESTS_PER_SLOT)
            to = np.searchsorted(shares, u[:, 1] * shares[-1], side="right").tolist()
            nth = streams.ordinals(slots).tolist()
            for k, (e, t, d) in enumerate(zip(slots.tolist(), u[:, 0].tolist(), to)):
                request = Request(0, (unit.index, e), u[k, 2:].tolist(), (week, unit.index, e, nth[k]))
                self._submit_at(start + t * hours, d, request)

    def _raise_department_requests(self, week):
        """Requests each department's staff raise with the departments in its ``requests_to``."""
        dep_params = self.in_force.internal.departments
        hours = self.hours
        start = week * hours
        names = [dep.name for dep in dep_params]
        for source, dep in enumerate(dep_params):
            if not dep.requests_to:
                continue
            n_staff = self.departments[source].n_staff
            targets = [names.index(target) for target, _ in dep.requests_to]
            rates = np.array([rate * n_staff for _, rate in dep.requests_to])
            key = (week, len(self.units) + source)
            slots, u = streams.slot_events(self.seed, "requests", key, rates, _REQUEST_FIELDS, _REQUESTS_PER_SLOT)
            nth = streams.ordinals(slots).tolist()
            for k, (j, t) in enumerate(zip(slots.tolist(), u[:, 0].tolist())):
                request = Request(1, source, u[k, 2:].tolist(), key + (j, nth[k]))
                self._submit_at(start + t * hours, targets[j], request)

    def _submit_at(self, t, target, request):
        """Raise ``request`` with department ``target`` at time ``t``; it is due ``sla_hours`` later."""
        def fire(event, target=target, request=request):
            request.raised_at = self.env._now
            request.due = request.raised_at + self.in_force.internal.departments[target].sla_hours
            self.departments[target].submit(request)
        Timeout(self.env, t - self.env._now).callbacks.append(fire)

    # --------------------------------------------------------- the period
    def _schedule_week(self, week):
        """Draw this week's arrivals and quits (each unit's), and internal requests."""
        for unit in self.units:
            unit.schedule_week(week)
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
        """The run as a SimPy process: each week scheduled, simulated and closed; pauses at ``_stop_at``."""
        week = 0
        while week < self.horizon:
            if week > 0 and (self._pending_params or any(change.at_week == week for change in self.params.schedule)):
                self._pending_params = False
                self.in_force = self.params.at_week(week)
                self._apply_levers()
            self.week = week
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
        """Close the week's books: departments first (their cost is shared by the units), then units."""
        for dept in self.departments:  # overdue work scores first, for departments' requesters too
            self._score_overdue(dept)
        for dept in self.departments:
            self.dept_sums[week, dept.index] = dept.close_week()
        department_cost = self.dept_sums[week, :, DEPARTMENT_FIELD_INDEX["cost"]].sum()
        tools = self.in_force.internal.tools_spend_per_week + self.reinvestment
        internal_cost = (department_cost + tools) / len(self.units)  # the departments' wages and tools, shared
        for unit in self.units:
            self.sums[week, unit.index] = unit.close_week(internal_cost)
        # a share of this week's profit goes into internal tools next week
        profit = self.sums[week, :, FIELD_INDEX["profit"]].sum()
        self.reinvestment = self.in_force.economics.reinvestment_share * max(0.0, profit)
        self._set_tools()
        self._set_department_speeds()
