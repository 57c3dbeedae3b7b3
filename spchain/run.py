"""Run one replication: :func:`simulate`."""

from __future__ import annotations

import time

import numpy as np

from .model import Engine
from .params import RUN_FIXED_PATHS, ParamError, Params
from .result import RunResult

__all__ = ["simulate"]


def simulate(params: Params | None = None, *, horizon: int = 52, seed: int | None = None,
             record_events: bool = False) -> RunResult:
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
        Keep per-event records (every service and abandonment).  Off by
        default so memory does not grow with the horizon.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> from spchain import simulate, preset
    >>> result = simulate(preset("workshop"), horizon=4, seed=1)
    >>> result.kpi("served").shape
    (4,)
    """
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
    late = [c for c in params.schedule if c.at_week >= horizon]
    if late:
        raise ParamError(f"schedule change at week {late[0].at_week} ({late[0].path}) is beyond "
                         f"the horizon of {horizon} weeks")
    for c in params.schedule:
        if any(c.path == s or c.path.startswith(s) and s.endswith(".") for s in RUN_FIXED_PATHS):
            raise ParamError(f"schedule change at week {c.at_week}: {c.path} is fixed for a whole run "
                             f"and cannot be scheduled; set it in the base parameters")
    started = time.perf_counter()
    engine = Engine(params, int(horizon), int(seed), record_events=record_events)
    sums, dept_sums, events = engine.run()
    return RunResult(params=params, horizon=int(horizon), seed=int(seed), sums=sums,
                     department_sums=dept_sums, events=events,
                     wall_seconds=time.perf_counter() - started)
