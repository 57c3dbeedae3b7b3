"""Run one replication: :func:`simulate`, or in pieces: :class:`Simulation`."""

from __future__ import annotations

import time

import numpy as np

from .model import Engine
from ..params import ParamError, Params, check_schedulable, run_fixed_differences
from ..records import record_kinds
from ..result import RunResult
from .units import check_capacity, unit_profiles

__all__ = ["simulate", "Simulation"]


def simulate(params: Params | None = None, *, horizon: int = 52, seed: int | None = None,
             record_events: bool = False, record=None) -> RunResult:
    """Run one replication of the Service-Profit Chain.

    Parameters
    ----------
    params : Params, optional
        Model parameters (with any scheduled lever changes); defaults to ``Params()``.
    horizon : int
        Number of periods (weeks) to simulate, >= 1.
    seed : int, optional
        Root of every random stream (``numpy.random.SeedSequence(seed)``);
        ``None`` draws fresh entropy, recorded on the result so the run can
        be repeated.
    record_events : bool
        Keep per-event records of every kind (services, abandonments,
        survey responses, churn, acquisition, quits and hires).  Off by
        default so memory does not grow with the horizon.
    record : str or iterable of str, optional
        Keep only these kinds of per-event records (names of
        :data:`spchain.records.RECORDS`: ``"served"``, ``"abandoned"``,
        ``"surveys"``, ``"churn"``, ``"acquisition"``, ``"quits"``,
        ``"hires"``, or ``"all"``); read them with
        :meth:`RunResult.records`.  Memory grows with the events of these
        kinds only.  Recording never changes a random draw.

    Returns
    -------
    RunResult

    Raises
    ------
    ParamError
        Before the run starts: a bad horizon or seed, a scheduled change
        beyond the horizon, or one to a parameter fixed for a whole run
        (:func:`spchain.params.check_schedulable`); an unknown record kind,
        or both ``record_events=True`` and ``record``.

    Examples
    --------
    >>> from spchain import simulate, preset
    >>> result = simulate(preset("workshop"), horizon=4, seed=1)
    >>> result.kpi("served").shape
    (4,)
    """
    params, horizon, seed = _checked(params, horizon, seed)
    kinds = _record_kinds(record_events, record)
    started = time.perf_counter()
    engine = Engine(params, horizon, seed, record_events=kinds)
    sums, dept_sums, events = engine.run()
    return RunResult(params=params, horizon=horizon, seed=seed, sums=sums,
                     department_sums=dept_sums, events=events,
                     wall_seconds=time.perf_counter() - started)


def _record_kinds(record_events, record):
    """The per-event record kinds asked for by ``simulate(record_events=..., record=...)``."""
    if not isinstance(record_events, (bool, np.bool_)):
        raise ParamError(f"record_events must be True or False, got {record_events!r}")
    if record_events and record is not None:
        raise ParamError(f"give record_events=True (every kind) or record={record!r}, not both")
    try:
        return record_kinds(True if record_events else record)
    except ValueError as exc:
        raise ParamError(str(exc)) from None


def _checked(params, horizon, seed):
    """Validated ``(params, horizon, seed)`` of a run, before any work is done."""
    if params is None:
        params = Params()
    if not isinstance(params, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(params).__name__}")
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ParamError(f"horizon must be an integer >= 1 (weeks), got {horizon!r}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParamError(f"seed must be an integer >= 0 or None, got {seed!r}")
    _check_schedule(params, horizon)
    _check_capacity(params, int(seed))
    return params, int(horizon), int(seed)


def _check_capacity(params, seed):
    """Warn before the run if a shared department is offered its capacity or more, at any week."""
    profiles = unit_profiles(params.at_week(0), seed)
    for week in sorted({0} | {change.at_week for change in params.schedule}):
        loads = check_capacity(params.at_week(week), profiles, stacklevel=4,
                               context=f"from week {week}: " if week else "")
        if any(v >= 1.0 for v in loads.values()):
            return


def _check_schedule(params, horizon):
    """Refuse a schedule with a change beyond the horizon, or one to a run-fixed parameter."""
    late = [change for change in params.schedule if change.at_week >= horizon]
    if late:
        raise ParamError(f"schedule change at week {late[0].at_week} ({late[0].path}) is beyond "
                         f"the horizon of {horizon} weeks")
    for change in params.schedule:
        check_schedulable(change.path, change.at_week, context=f"schedule change at week {change.at_week}: ")


class Simulation:
    """One replication run in pieces: advance some weeks, change the levers, go on.

    ``Simulation(params, horizon=h, seed=s).advance(h)`` gives the same
    numbers as ``simulate(params, horizon=h, seed=s)``; so does advancing
    in several pieces, and changing the parameters between pieces gives the
    same numbers as one run with those changes scheduled.  A workshop round
    therefore plays one quarter from the saved state instead of re-running
    from week 0.

    Parameters
    ----------
    params : Params, optional
        Starting parameters (with any schedule); default ``Params()``.
    horizon : int
        The most weeks the run may reach.
    seed : int, optional
        Root of every random stream; ``None`` draws fresh entropy.
    record : str or iterable of str, optional
        Per-event record kinds to keep, as in :func:`simulate`; each
        :meth:`advance` returns those of the weeks played so far.

    Examples
    --------
    >>> from spchain import preset
    >>> from spchain.engine.run import Simulation
    >>> sim = Simulation(preset("workshop"), horizon=8, seed=1)
    >>> sim.advance(4).horizon, sim.week
    (4, 4)
    >>> later = preset("workshop").override({"workforce.recognition": 0.5})
    >>> sim.advance(8, params=later).horizon
    8
    """

    def __init__(self, params: Params | None = None, *, horizon: int, seed: int | None = None, record=None):
        self.params, self.horizon, self.seed = _checked(params, horizon, seed)
        self._record = _record_kinds(False, record)
        self._engine = Engine(self.params, self.horizon, self.seed, record_events=self._record)
        self._seconds = 0.0

    @property
    def week(self) -> int:
        """Weeks simulated so far."""
        return self._engine.weeks_done

    def advance(self, until_week: int, *, params: Params | None = None) -> RunResult:
        """Simulate up to week ``until_week`` (exclusive) and return the run so far.

        Parameters
        ----------
        until_week : int
            Weeks simulated in all after the call, ``week <= until_week <= horizon``.
        params : Params, optional
            Parameters from the next week to be simulated on (their schedule
            applies to the weeks still to come).  They are validated, and
            must keep the run-fixed parameters (organisation, departments,
            service-time shape, initial customers) of the run, before
            anything is simulated.

        Returns
        -------
        RunResult
            Weeks 0 to ``until_week - 1``.
        """
        if isinstance(until_week, bool) or not isinstance(until_week, (int, np.integer)) \
                or not self.week <= until_week <= self.horizon:
            raise ParamError(f"until_week must be an integer in [{self.week}, {self.horizon}], got {until_week!r}")
        if params is not None:
            if not isinstance(params, Params):
                raise ParamError(f"params must be a spchain.Params, got {type(params).__name__}")
            _check_schedule(params, self.horizon)
            fixed = run_fixed_differences(self.params, params)
            if fixed:
                raise ParamError(f"{fixed[0]} is fixed for a whole run and cannot change between pieces "
                                 f"of a Simulation; start a new one")
            self.params = params
        started = time.perf_counter()
        if params is not None and self.week == 0:  # nothing simulated yet: start afresh from them
            self._engine = Engine(params, self.horizon, self.seed, record_events=self._record)
            params = None
        self._engine.advance(int(until_week), params=params)
        self._seconds += time.perf_counter() - started
        n = int(until_week)
        events = self._engine.events
        return RunResult(params=self.params, horizon=n, seed=self.seed, sums=self._engine.sums[:n].copy(),
                         department_sums=self._engine.dept_sums[:n].copy(),
                         events=None if events is None else {k: list(v) for k, v in events.items()},
                         wall_seconds=self._seconds)

