"""Units that differ: persistent unit characteristics, and what units ask of shared departments.

Real organisations are not copies of one branch.  Each unit draws, once at
the start of a run, persistent characteristics from documented
distributions whose spreads are ``organisation.*_sd`` parameters (0 =
identical units):

``manager``
    its manager's effect on the base satisfaction of its employees (0-1
    scale, normal with sd ``manager_sd``);
``market_size``
    size of its local market: multiplies its initial customer base and its
    marketing acquisition (log-normal, mean 1, log-sd ``market_size_sd``);
``attractiveness``
    multiplies its customers' visit rates (log-normal, mean 1);
``competition``
    multiplies its customers' churn hazard (log-normal, mean 1);
``expectations``
    an offset to the service quality its local customers expect (normal,
    sd ``expectations_sd``): markets differ in what they ask;
``process``
    multiplies the mean service time of its employees (log-normal, mean 1):
    layout, processes and systems that differ by unit;
``staffing``
    multiplies its front-line positions on top of demand:
    ``positions = max(1, round(n_employees * (market_size * attractiveness)
    ** staffing_elasticity * staffing))`` (log-normal, mean 1).

A weekly footfall shock moves every unit's visits independently of the
chain: a stationary AR(1) process on the log of a visit-rate multiplier
with sd ``footfall_sd`` and persistence ``footfall_persistence``.

All draws come from the ``units`` stream keyed by the unit (and the week
for footfall), so common random numbers hold.  Users who know their units
give explicit values per unit in ``organisation.units`` (e.g.
``{"0": {"market_size": 1.4, "manager": -0.05}}``), which replace the
drawn ones.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from . import streams

__all__ = ["UNIT_FACTORS", "UnitProfile", "unit_profiles", "positions", "footfall_shocks",
           "CapacityWarning", "department_work", "department_loads", "check_capacity", "size_departments"]

#: Unit characteristics that ``organisation.units`` may set explicitly.
UNIT_FACTORS = ("manager", "market_size", "attractiveness", "competition", "staffing", "expectations",
                "process")


@dataclass(frozen=True)
class UnitProfile:
    """Persistent characteristics of one unit (see the module docstring)."""

    manager: float = 0.0
    market_size: float = 1.0
    attractiveness: float = 1.0
    competition: float = 1.0
    staffing: float = 1.0
    expectations: float = 0.0
    process: float = 1.0


def _lognormal(z, sd):
    """Mean-one log-normal multiplier ``exp(sd z - sd^2 / 2)``."""
    return math.exp(sd * z - 0.5 * sd * sd)


def unit_profiles(params, seed: int) -> list:
    """Each unit's :class:`UnitProfile` for a run with ``seed``.

    Examples
    --------
    >>> from spchain import Params
    >>> unit_profiles(Params(), seed=1)
    [UnitProfile(manager=0.0, market_size=1.0, attractiveness=1.0, competition=1.0, staffing=1.0, expectations=0.0, process=1.0)]
    >>> p = Params().override({"organisation.n_units": 3, "organisation.market_size_sd": 0.3,
    ...                        "organisation.units": {"1": {"market_size": 2.0}}})
    >>> [round(u.market_size, 3) for u in unit_profiles(p, seed=1)][1]
    2.0
    """
    organisation = params.organisation
    explicit = dict(organisation.units)
    out = []
    for unit in range(organisation.n_units):
        z = streams.generator(seed, "units", unit).standard_normal(len(UNIT_FACTORS)).tolist()
        drawn = dict(manager=organisation.manager_sd * z[0] + 0.0,  # + 0.0: no negative zero
                     market_size=_lognormal(z[1], organisation.market_size_sd),
                     attractiveness=_lognormal(z[2], organisation.attractiveness_sd),
                     competition=_lognormal(z[3], organisation.competition_sd),
                     staffing=_lognormal(z[4], organisation.staffing_sd),
                     expectations=organisation.expectations_sd * z[5] + 0.0,
                     process=_lognormal(z[6], organisation.process_sd))
        drawn.update(explicit.get(unit, {}))
        out.append(UnitProfile(**drawn))
    return out


def positions(params, profile: UnitProfile) -> int:
    """Front-line positions of a unit: ``n_employees`` scaled by its demand and staffing."""
    demand = profile.market_size * profile.attractiveness
    return max(1, round(params.workforce.n_employees * demand ** params.organisation.staffing_elasticity
                        * profile.staffing))


def footfall_shocks(params, seed: int, unit: int, weeks: int) -> np.ndarray:
    """Weekly visit-rate multipliers of one unit over ``weeks`` weeks (all 1 when ``footfall_sd`` is 0).

    ``x_0 ~ N(0, s^2)``, ``x_w = phi x_{w-1} + sqrt(1 - phi^2) s e_w``, and the
    multiplier is ``exp(x_w - s^2 / 2)`` (mean one); ``e_w`` is keyed by
    (week, unit).
    """
    s, phi = params.organisation.footfall_sd, params.organisation.footfall_persistence
    if s == 0:
        return np.ones(weeks)
    e = np.array([streams.generator(seed, "units", w, unit).standard_normal() for w in range(weeks)])
    x = np.empty(weeks)
    x[0] = s * e[0]
    for w in range(1, weeks):
        x[w] = phi * x[w - 1] + math.sqrt(1.0 - phi * phi) * s * e[w]
    return np.exp(x - 0.5 * s * s)


class CapacityWarning(UserWarning):
    """A shared department is offered at least as much work as its staff can do."""


def department_work(params, profiles=None) -> dict:
    """Hours of work asked of each internal department per week.

    Front-line requests (``request_rate`` per employee, routed by share) and
    requests from other departments' staff, each taking
    ``service_time_hours / ftr_prob`` hours on average (rework included,
    tools effects ignored).  ``profiles`` (default: identical units) sets
    each unit's positions.
    """
    internal = params.internal
    departments = internal.departments
    profiles = profiles or [UnitProfile()] * params.organisation.n_units
    employees = sum(positions(params, profile) for profile in profiles)
    total_share = sum(dep.share for dep in departments)
    asked = {dep.name: internal.request_rate * employees * (dep.share / total_share if total_share > 0 else 0.0)
             for dep in departments}
    for dep in departments:
        for target, rate in dep.requests_to:
            asked[target] += rate * dep.n_staff
    return {dep.name: asked[dep.name] * dep.service_time_hours / max(dep.ftr_prob, 1e-12) for dep in departments}


def department_loads(params, profiles=None) -> dict:
    """Offered load of each internal department: the work asked of it over what its staff can do.

    :func:`department_work` over ``n_staff * hours_per_week``.  A load at or
    above 1 means the backlog grows without bound (infinite with no staff).

    Examples
    --------
    >>> from spchain import Params
    >>> {k: round(v, 3) for k, v in department_loads(Params()).items()}
    {'back_office': 0.037, 'hr': 0.084, 'it': 0.085}
    """
    hours = params.organisation.hours_per_week
    loads = {}
    work = department_work(params, profiles)
    for dep in params.internal.departments:
        capacity = dep.n_staff * hours
        loads[dep.name] = work[dep.name] / capacity if capacity > 0 else (math.inf if work[dep.name] > 0 else 0.0)
    return loads


def check_capacity(params, profiles=None, *, context: str = "", stacklevel: int = 2) -> dict:
    """Warn (:class:`CapacityWarning`) about departments offered a load of 1 or more; return the loads."""
    loads = department_loads(params, profiles)
    over = {k: v for k, v in loads.items() if v >= 1.0}
    if over:
        text = ", ".join(f"{k} {v:.2f}" for k, v in over.items())
        warnings.warn(f"{context}internal departments offered at least their capacity (offered load "
                      f"{text}): their backlogs grow without bound; add staff "
                      f"(internal.departments.<name>.n_staff, or spchain.engine.units.size_departments)",
                      CapacityWarning, stacklevel=stacklevel + 1)
    return loads


def size_departments(params, *, load: float = 0.7, profiles=None):
    """Parameters whose departments have the staff for an offered load of at most ``load``.

    Each department gets ``max(1, ceil(work / (load * hours_per_week)))``
    staff, up or down, with the work departments ask of each other
    recomputed as their staff change (fixed-point iteration).

    Examples
    --------
    >>> from spchain import preset
    >>> big = preset("bank_branches").override({"organisation.n_units": 40})
    >>> max(department_loads(big).values()) >= 1
    True
    >>> max(department_loads(size_departments(big)).values()) <= 0.7
    True
    """
    if isinstance(load, bool) or not isinstance(load, (int, float)) or not 0 < load < 1:
        raise ValueError(f"load must be a number in (0, 1), got {load!r}")
    hours = params.organisation.hours_per_week
    for _ in range(50):
        work = department_work(params, profiles)
        staff = {name: max(1, math.ceil(w / (load * hours))) for name, w in work.items()}
        if all(staff[dep.name] == dep.n_staff for dep in params.internal.departments):
            break
        params = params.override({f"internal.departments.{k}.n_staff": v for k, v in staff.items()})
    return params
