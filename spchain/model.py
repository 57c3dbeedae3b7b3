"""The discrete-event engine: the Service-Profit Chain on SimPy.

Events are reserved for what happens at a point in time: customer arrivals,
service completions, internal requests and their completions, quits and
hires.  Slow-moving state (satisfaction, skill, tenure, loyalty) lives in
NumPy arrays updated once per period (one week of open hours) for everybody
at once.  Per customer the engine schedules two events (arrival, service
completion); abandonment is resolved lazily when a server frees up, which
gives exactly the FCFS-with-patience sample path.  A customer base of any
size is one superposed Poisson stream per unit whose visitor is drawn in
proportion to the individual visit rates.

The engine knows nothing of statistics, files or plots: it fills a
``(periods, units, fields)`` array of additive sums (see
:mod:`spchain.metrics`).  Use :func:`spchain.simulate` to run it.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import simpy
from simpy.events import Timeout

from . import links as L
from . import weekly
from .metrics import DEPARTMENT_FIELDS, FIELDS

__all__ = ["STREAMS", "SAMPLE_PATH_VERSION", "Engine"]

#: Named stochastic streams; replication ``i`` of every scenario draws each
#: from the same child of ``SeedSequence(seed)`` (common random numbers).
STREAMS = ("arrivals", "service", "patience", "requests", "internal_service",
           "workforce", "customers", "surveys")

_F = {name: i for i, name in enumerate(FIELDS)}
_D = {name: i for i, name in enumerate(DEPARTMENT_FIELDS)}
_BLOCK = 4096
_INF = float("inf")

#: Version of the engine's sample path: bumped whenever the same parameters
#: and seed give different numbers (tied to the golden run, which records
#: it).  Experiment stores are keyed on it, so a resumed sweep never mixes
#: runs of two engines.
SAMPLE_PATH_VERSION = 2


def _blocks(draw):
    """Endless iterator of Python floats drawn ``_BLOCK`` at a time."""
    while True:
        yield from draw(_BLOCK).tolist()


class _Unit:
    """One service unit: its front-line positions, queue and customer base."""

    def __init__(self, engine, index):
        self.engine = engine
        self.index = index
        p = engine.p
        env = engine.env
        self.env = env
        n = p.workforce.n_employees
        # --- positions (one server each) -------------------------------
        self.exists = np.ones(n, bool)
        self.filled = np.ones(n, bool)
        self.satisfaction = np.full(n, p.workforce.base_satisfaction)
        rng = engine.rng["workforce"]
        self.tenure = rng.uniform(0, 4 * p.workforce.learning_weeks, n)  # a mature team
        self.skill = np.ones(n)
        self.isq = np.full(n, p.workforce.reference_isq)
        self.isq_week_sum = np.zeros(n)
        self.isq_week_n = np.zeros(n)
        self.mean_time = [0.0] * n  # hours per service, per position
        self.quality_of = [0.0] * n  # service quality, per position
        self.busy_since = [0.0] * n
        self.busy = [False] * n
        self.leaving = [False] * n
        self.free = list(range(n))[::-1]
        self.pending_hire = set()  # vacant positions with a hire scheduled
        self.queue = deque()
        # --- customers ---------------------------------------------------
        m = p.customers.n_customers
        cap = max(16, int(m * 1.25))
        self.c_active = np.zeros(cap, bool)
        self.c_active[:m] = True
        self.c_satisfaction = np.zeros(cap)
        self.c_satisfaction[:m] = p.customers.initial_satisfaction
        self.c_free_slots = list(range(cap - 1, m - 1, -1))
        self.c_released = []  # slots of last week's churned customers
        self.c_spend = np.zeros(cap)
        # --- accumulators ------------------------------------------------
        self.acc = np.zeros(len(FIELDS))
        self.served_log = []      # (position, customer, arrival time, wait, service time)
        self.abandon_log = []     # (customer, arrival time, deadline)
        self.head_t = 0.0
        self.utilisation = p.workforce.reference_utilisation
        self.arrivals_t = []
        self.visitors = []
        self.next_arrival = 0
        self.n_arrivals_week = 0
        self.busy_hours = 0.0
        self.staffed_hours = 0.0
        self.wait_sum = 0.0
        self.waited = 0
        self.started = 0

    # ----------------------------------------------------------- hot path
    def on_arrival(self, event):
        now = self.env._now
        i = self.next_arrival
        c = self.visitors[i]
        self.next_arrival = i + 1
        if i + 1 < self.n_arrivals_week:
            Timeout(self.env, self.arrivals_t[i + 1] - now).callbacks.append(self.on_arrival)
        if self.free:
            self.start(self.free.pop(), c, now, 0.0)
        else:
            patience = self.engine.mean_patience
            deadline = now + next(self.engine.patience) * patience if patience < _INF else _INF
            self.queue.append((now, deadline, c))

    def start(self, e, c, t_arrival, wait):
        st = next(self.engine.service) * self.mean_time[e]
        self.busy[e] = True
        self.busy_since[e] = self.env._now
        self.started += 1
        if wait > 0.0:
            self.waited += 1
            self.wait_sum += wait
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
            t_arr, deadline, c = queue.popleft()
            if deadline >= now:
                self.start(e, c, t_arr, now - t_arr)
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
        if self.busy[e]:  # finishes the customer in hand, unpaid and off the books
            self.leaving[e] = True
            self.busy_hours += self.env._now - self.busy_since[e]
        else:
            self.free.remove(e)
        self.engine.recruit_or_abolish(self, e)

    def hire(self, e):
        """A new employee fills position ``e`` now."""
        wf = self.engine.p.workforce
        self._headcount_changed()
        self.filled[e] = True
        self.acc[_F["hires"]] += 1
        self.satisfaction[e] = wf.base_satisfaction
        self.tenure[e] = 0.0
        self.skill[e] = wf.initial_skill
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
        self.in_progress = {}  # id(request) -> start of the current piece of work
        self.last_close = 0.0
        self.isq_received_sum = 0.0
        self.isq_received_n = 0
        self.isq_received = engine.p.workforce.reference_isq
        self.staff_t = 0.0
        self.resize(dep.n_staff)

    def resize(self, n_staff):
        """Change the number of staff; extra staff leave when they finish."""
        now = self.env._now
        self.acc[_D["staff_hours"]] += (now - self.staff_t) * self.n_staff
        self.staff_t = now
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

    def start(self, request):
        st = next(self.engine.internal_service) * self.mean_time
        self.in_progress[id(request)] = self.env._now
        Timeout(self.env, st, request).callbacks.append(self.on_complete)

    def book_busy(self):
        """Book work in progress up to now (period boundary)."""
        now = self.env._now
        self.acc[_D["busy_hours"]] += sum(now - max(t, self.last_close) for t in self.in_progress.values())
        self.last_close = now

    def on_complete(self, event):
        request = event._value
        started = self.in_progress.pop(id(request))
        self.acc[_D["busy_hours"]] += self.env._now - max(started, self.last_close)
        u = next(self.engine.internal_uniform)
        if u >= self.ftr_prob:  # not right: reworked, back of the queue
            self.acc[_D["reworked"]] += 1
            request[3] = False
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
    """One replication of the model.  Use :func:`spchain.simulate`."""

    def __init__(self, params, horizon, seed, record_events=False):
        self.params = params
        self.horizon = horizon
        self.record_events = record_events
        self.seed = seed
        self.p = params.at_week(0)
        self.env = simpy.Environment()
        self.hours = self.p.organisation.hours_per_week
        self._reseed(0)
        self.units = [_Unit(self, u) for u in range(self.p.organisation.n_units)]
        self.departments = [_Department(self, d, dep) for d, dep in enumerate(self.p.internal.departments)]
        self.sums = np.zeros((horizon, len(self.units), len(FIELDS)))
        self.dept_sums = np.zeros((horizon, len(self.departments), len(DEPARTMENT_FIELDS)))
        self.events = {"served": [], "abandoned": []} if record_events else None
        self.reinvestment = 0.0  # money/week of profit reinvested in internal tools
        self._apply_levers()

    # ------------------------------------------------------------- levers
    def _apply_levers(self):
        """Copy the parameters in force into the engine's fast attributes."""
        p = self.p
        self.mean_patience = p.customers.patience_minutes / 60.0
        self._set_tools()
        for dept, dep in zip(self.departments, p.internal.departments):
            if dep.n_staff != dept.n_staff:
                dept.resize(dep.n_staff)
        self._set_department_speeds()
        for unit in self.units:
            target = p.workforce.n_employees
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
        unit.satisfaction = grow(unit.satisfaction, wf.base_satisfaction)
        unit.tenure = grow(unit.tenure, 0.0)
        unit.skill = grow(unit.skill, wf.initial_skill)
        unit.isq = grow(unit.isq, wf.reference_isq)
        unit.isq_week_sum = grow(unit.isq_week_sum, 0.0)
        unit.isq_week_n = grow(unit.isq_week_n, 0.0)
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
        is abolished, never a filled one.
        """
        pending = unit.pending_hire
        target = self.p.workforce.n_employees
        if int(unit.exists.sum()) > target:
            unit.exists[e] = False
            pending.discard(e)
            return
        if e in pending:
            return
        pending.add(e)
        weeks = self.rng["workforce"].exponential(self.p.workforce.time_to_fill_weeks) \
            if self.p.workforce.time_to_fill_weeks > 0 else 0.0
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
        """A request is resolved: score it for its requester."""
        now = self.env._now
        t_raised, kind, who, first_time = request[0], request[1], request[2], request[3]
        resolution = now - t_raised
        dep = self.p.internal.departments[dept.index]
        timely = resolution <= dep.sla_hours
        w = self.p.internal.timely_weight
        quality = w * timely + (1.0 - w) * first_time
        a = dept.acc
        a[_D["resolved"]] += 1
        a[_D["resolution_hours_sum"]] += resolution
        a[_D["sla_met"]] += timely
        if kind == 0:  # front-line employee: who = (unit, position)
            unit = self.units[who[0]]
            unit.isq_week_sum[who[1]] += quality
            unit.isq_week_n[who[1]] += 1
            acc = unit.acc
            acc[_F["requests_resolved"]] += 1
            acc[_F["isq_sum"]] += quality
            acc[_F["resolution_hours_sum"]] += resolution
            acc[_F["sla_met"]] += timely
        else:  # another department
            d = self.departments[who]
            d.isq_received_sum += quality
            d.isq_received_n += 1

    def _raise_requests(self, week_start):
        """Schedule this week's internal requests (front line and departments)."""
        rng = self.rng["requests"]
        H = self.hours
        inv = self.p.internal
        deps = inv.departments
        if not deps:
            return
        names = [d.name for d in deps]
        shares = np.array([d.share for d in deps], float)
        for unit in self.units:
            staff = np.flatnonzero(unit.filled)
            n = rng.poisson(inv.request_rate * staff.size) if staff.size else 0
            if n == 0 or shares.sum() <= 0:
                continue
            times = np.sort(rng.uniform(0.0, H, n))
            who = staff[rng.integers(0, staff.size, n)]
            to = rng.choice(len(deps), n, p=shares / shares.sum())
            for t, e, d in zip(times.tolist(), who.tolist(), to.tolist()):
                self._submit_at(week_start + t, d, [0.0, 0, (unit.index, e), True])
        for src, dep in enumerate(deps):
            for target, rate in dep.requests_to:
                n = rng.poisson(rate * self.departments[src].n_staff)
                d = names.index(target)
                for t in np.sort(rng.uniform(0.0, H, n)).tolist():
                    self._submit_at(week_start + t, d, [0.0, 1, src, True])

    def _submit_at(self, t, d, request):
        def fire(event, d=d, request=request):
            request[0] = self.env._now
            self.departments[d].submit(request)
        Timeout(self.env, t - self.env._now).callbacks.append(fire)

    # ------------------------------------------------------------ streams
    def generator(self, stream, week, *key):
        """The Generator of ``stream`` for ``week`` (and e.g. a unit): ``SeedSequence(seed, spawn_key=...)``.

        Every stream is re-seeded each week, per unit where units draw
        separately, and draws are tied to positions (customer slots,
        employee positions, the j-th arrival) rather than to how many
        draws came before.  A lever change therefore does not shift the
        random numbers of later weeks or other units: common random
        numbers stay in step across scenarios.
        """
        ss = np.random.SeedSequence(self.seed, spawn_key=(STREAMS.index(stream), week) + key)
        return np.random.Generator(np.random.PCG64(ss))

    def _reseed(self, week):
        """Fresh per-week generators and random-number blocks for the event streams."""
        self.week = week
        self.rng = {name: self.generator(name, week) for name in STREAMS}
        cv = self.p.workforce.service_time_cv
        rs = self.rng["service"]
        if cv == 1.0:
            self.service = _blocks(rs.standard_exponential)
        else:
            shape = 1.0 / cv ** 2
            self.service = _blocks(lambda n: rs.gamma(shape, 1.0 / shape, n))
        self.patience = _blocks(self.rng["patience"].standard_exponential)
        ri = self.rng["internal_service"]
        self.internal_service = _blocks(ri.standard_exponential)
        self.internal_uniform = _blocks(ri.random)

    # --------------------------------------------------------- the period
    def _schedule_week(self, week):
        """Draw this week's arrivals, requests and quits."""
        start = week * self.hours
        H = self.hours
        for unit in self.units:
            # arrivals by inversion: the j-th gap and the j-th visitor draw are the same
            # in every scenario, and scale smoothly with the total visit rate
            rates = unit.c_rates
            total = rates[-1] if rates.size else 0.0
            times = np.zeros(0)
            if total > 0:
                gaps = self.generator("arrivals", week, unit.index, 0)
                block = int(total + 6.0 * np.sqrt(total) + 16)
                times = np.cumsum(gaps.standard_exponential(block)) * (H / total)
                while times[-1] < H:
                    times = np.concatenate([times, times[-1] + np.cumsum(gaps.standard_exponential(block)) * (H / total)])
                times = times[:np.searchsorted(times, H)]
            n = times.size
            pick = self.generator("arrivals", week, unit.index, 1).random(n)
            unit.arrivals_t = (start + times).tolist()
            unit.visitors = np.searchsorted(rates, pick * total, side="right").tolist()
            unit.next_arrival = 0
            unit.n_arrivals_week = n
            if n:
                Timeout(self.env, unit.arrivals_t[0] - self.env._now).callbacks.append(unit.on_arrival)
            # quits during the week: one draw per position
            rw = self.generator("workforce", week, unit.index)
            u, when = rw.random(unit.exists.size), rw.uniform(0.0, H, unit.exists.size)
            idx = np.flatnonzero(unit.filled)
            wf = self.p.workforce
            hazard = L.quit_hazard(unit.satisfaction[idx], wf.base_quit_rate,
                                   wf.reference_satisfaction, self.p.links.quit_from_satisfaction)
            quits = u[idx] < -np.expm1(-hazard / 52.0)
            for e, t in zip(idx[quits].tolist(), when[idx][quits].tolist()):
                self.env.process(self._quit_later(unit, e, t))
        self._raise_requests(start)

    def run(self):
        """Run the whole horizon; returns ``(sums, dept_sums, events)``."""
        self.env.run(until=self.env.process(self._periods()))
        return self.sums, self.dept_sums, self.events

    def _periods(self):
        change_weeks = {c.at_week for c in self.params.schedule} - {0}
        for week in range(self.horizon):
            if week > 0:
                self._reseed(week)
            if week in change_weeks:
                self.p = self.params.at_week(week)
                self._apply_levers()
            for unit in self.units:
                unit.acc[_F["customers_start"]] = unit.c_active.sum()
            self._schedule_week(week)
            yield self.env.timeout(self.hours)
            self._close_week(week)

    def _close_week(self, week):
        for dept in self.departments:
            self._close_department(dept, week)
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
        a[_D["cost"]] = dep.wage_per_week * dept.n_staff
        if dept.isq_received_n:
            w = self.p.workforce.isq_smoothing
            dept.isq_received += w * (dept.isq_received_sum / dept.isq_received_n - dept.isq_received)
        dept.isq_received_sum = 0.0
        dept.isq_received_n = 0
        self.dept_sums[week, dept.index] = a
        dept.acc = np.zeros(len(DEPARTMENT_FIELDS))


