"""Internal service departments: multi-server FCFS queues of requests, with rework.

Front-line employees and other departments raise :class:`Request` s; a
:class:`Department` handles them first come, first served, reworks those not
right first time, books its staff and busy hours, and once a week closes
its books (:meth:`Department.close_week`).  The engine routes each resolved
or overdue request's score back to whoever raised it.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from simpy.events import Timeout

from .. import links
from ..metrics import DEPARTMENT_FIELD_INDEX, DEPARTMENT_FIELDS
from . import streams

__all__ = ["Request", "Department", "ATTEMPTS"]

_INF = float("inf")
#: Attempts at a request whose (handling, right-first-time) uniforms come with it.
ATTEMPTS = 3


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


class Department:
    """An internal service department: a multi-server FCFS queue of requests.

    Parameters
    ----------
    engine : spchain.engine.model.Engine
        The run (its clock, keyed generators, and where resolutions go).
    index : int
        The department's position in ``internal.departments``.
    dep : DepartmentParams
        Its parameters at the start of the run.
    """

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
        self.isq_received = engine.in_force.workforce.reference_isq
        self.staff_t = 0.0
        self.resize(dep.n_staff)

    def _book_staff(self):
        """Book staff hours up to now: the staff, and any who leave once they finish their request."""
        now = self.env._now
        self.acc[DEPARTMENT_FIELD_INDEX["staff_hours"]] += (now - self.staff_t) * max(self.n_staff,
                                                                                        len(self.in_progress))
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

    def set_speed(self, tools_speed, tools_rework_cut):
        """Handling time and right-first-time probability from its ISQ received and the tools.

        Parameters
        ----------
        tools_speed : float
            Speed-up of handling from internal tools.
        tools_rework_cut : float
            Share of rework the tools prevent.
        """
        params = self.engine.in_force
        dep = params.internal.departments[self.index]
        speed = tools_speed * links.internal_speed(self.isq_received, params.workforce.reference_isq,
                                                   params.links.internal_speed_from_internal)
        self.mean_time = dep.service_time_hours / speed
        self.ftr_prob = 1.0 - (1.0 - dep.ftr_prob) * (1.0 - tools_rework_cut)

    def submit(self, request):
        """A request arrives now: start it, or queue it."""
        self.acc[DEPARTMENT_FIELD_INDEX["raised"]] += 1
        if self.free > 0:
            self.free -= 1
            self.start(request)
        else:
            self.queue.append(request)

    def _uniform(self, request, which):
        """The request's own uniform for this attempt: 0 = handling time, 1 = right first time."""
        attempt = request.attempt
        if attempt < ATTEMPTS:
            return request.uniforms[2 * attempt + which]
        return float(self.engine.generator("internal_service", *request.key, attempt).random(2)[which])

    def start(self, request):
        """Start an attempt at ``request`` now."""
        handling = streams.exponential_quantile(self._uniform(request, 0)) * self.mean_time
        self.in_progress[request] = self.env._now
        Timeout(self.env, float(handling), request).callbacks.append(self.on_complete)

    def book_busy(self):
        """Book work in progress up to now (period boundary)."""
        now = self.env._now
        self.acc[DEPARTMENT_FIELD_INDEX["busy_hours"]] += sum(now - max(t, self.last_close)
                                                              for t in self.in_progress.values())
        self.last_close = now

    def open_requests(self):
        """Requests waiting or in hand."""
        return list(self.queue) + list(self.in_progress)

    def on_complete(self, event):
        """An attempt ends: resolved (scored by the engine) or reworked; the next request starts."""
        request = event._value
        if len(self.in_progress) > self.n_staff:  # a leaving member of staff finishes: paid until now
            self._book_staff()
        started = self.in_progress.pop(request)
        self.acc[DEPARTMENT_FIELD_INDEX["busy_hours"]] += self.env._now - max(started, self.last_close)
        right = self._uniform(request, 1) < self.ftr_prob
        request.attempt += 1
        if not right:  # not right: reworked, back of the queue
            self.acc[DEPARTMENT_FIELD_INDEX["reworked"]] += 1
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

    def book_resolution(self, request, hours, timely):
        """Count a resolution after ``hours``; returns whether its SLA outcome counts now.

        Its SLA outcome counts unless it was already counted as missed when
        its SLA passed while it was open.
        """
        record = self.acc
        record[DEPARTMENT_FIELD_INDEX["resolved"]] += 1
        record[DEPARTMENT_FIELD_INDEX["resolution_hours_sum"]] += hours
        decided = not request.missed
        if decided:
            record[DEPARTMENT_FIELD_INDEX["sla_due"]] += 1
            record[DEPARTMENT_FIELD_INDEX["sla_met"]] += timely
        return decided

    def book_overdue(self, request, age):
        """Count a request open past its SLA at the week's end; returns whether it is newly missed."""
        first = not request.missed
        request.missed = True
        record = self.acc
        record[DEPARTMENT_FIELD_INDEX["overdue"]] += 1
        record[DEPARTMENT_FIELD_INDEX["resolution_hours_sum"]] += age
        record[DEPARTMENT_FIELD_INDEX["sla_due"]] += first
        return first

    def receive_isq(self, quality):
        """A request this department raised was scored ``quality``."""
        self.isq_received_sum += quality
        self.isq_received_n += 1

    def close_week(self):
        """Book the week's staff and busy hours, its backlog and cost; smooth its ISQ received.

        Returns
        -------
        numpy.ndarray
            The week's record (fields of :data:`spchain.metrics.DEPARTMENT_FIELDS`).
        """
        params = self.engine.in_force
        self.resize(self.n_staff)  # books staff hours up to now
        self.book_busy()
        record = self.acc
        record[DEPARTMENT_FIELD_INDEX["backlog"]] = len(self.queue)
        dep = params.internal.departments[self.index]
        record[DEPARTMENT_FIELD_INDEX["cost"]] = (dep.wage_per_week * record[DEPARTMENT_FIELD_INDEX["staff_hours"]]
                                                  / self.engine.hours)  # the staff weeks it paid
        if self.isq_received_n:
            weight = params.workforce.isq_smoothing
            self.isq_received += weight * (self.isq_received_sum / self.isq_received_n - self.isq_received)
        self.isq_received_sum = 0.0
        self.isq_received_n = 0
        self.acc = np.zeros(len(DEPARTMENT_FIELDS))
        return record
