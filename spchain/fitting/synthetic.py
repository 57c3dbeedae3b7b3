"""Panels with known truth, for testing estimators.

* :func:`synthetic_panel` runs the simulation model once per unit, each unit
  with its own levers (recognition, pay, internal tools spend) drawn from a
  ``SeedSequence``-driven generator and changed at random weeks, so the data
  have the model's feedback loops, delays, turnover, survey noise and
  response rates.  The truth is the link parameters that generated it;
  :func:`spchain.fit_links` recovers them only approximately (see
  ``docs/fitting.md``: the model is non-linear, smooths ISQ per employee,
  mixes new hires and customers).
* :func:`structural_panel` draws directly from the linear estimating
  equations of :mod:`spchain.fitting.estimation` with Gaussian noise and Poisson
  counts, so the truth is *exactly* identified: the tool for checking an
  estimator's bias and interval coverage.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ..metrics import METRICS
from ..panel import RAW_FIELDS, Panel, staff_perceived_isq, true_links
from ..params import Change, ParamError, Params, check_integer

__all__ = ["synthetic_panel", "structural_panel", "panel_params", "DEFAULT_LEVERS"]

#: Levers varied across (and within) units by :func:`synthetic_panel`: path -> (low, high).
DEFAULT_LEVERS = {
    "workforce.recognition": (-0.5, 0.5),
    "workforce.pay_index": (0.9, 1.1),
    "internal.tools_spend_per_week": (0.0, 4000.0),
}


def panel_params() -> Params:
    """The default single-unit organisation of :func:`synthetic_panel`.

    The ``workshop`` preset with 6 front-line employees and a customer base
    of 1,000 (acquisition scaled to match), so one unit-year runs in well
    under a tenth of a second.
    """
    from ..presets import preset

    return preset("workshop").override({
        "workforce.n_employees": 6,
        "customers.n_customers": 1000,
        "customers.acquisition_rate": 1.6,
        "economics.fixed_cost_per_week": 1500.0,
    })


def synthetic_panel(params: Params | None = None, *, n_units: int = 40, horizon: int = 26,
                    warmup: int = 0, levers: Mapping | None = None, n_lever_changes: int = 2,
                    employee_survey_sd: float = 0.0, seed: int = 0, executor=None) -> Panel:
    """A unit-level panel simulated by the model, with heterogeneous levers and known links.

    Each unit is simulated as its own one-unit organisation (with its own
    internal departments), with lever values drawn uniformly from
    ``levers`` at the start and re-drawn at ``n_lever_changes`` random
    weeks, so levers vary both across and within units.  Customer surveys
    (CSAT, NPS) carry the measurement model's noise and response rate.

    Parameters
    ----------
    params : Params, optional
        Base parameters; ``organisation.n_units`` is set to 1.  Defaults to
        :func:`panel_params`.
    n_units, horizon : int
        Units and recorded weeks (after ``warmup``).
    warmup : int
        Weeks simulated before recording starts.
    levers : mapping of str to (float, float), optional
        Dotted parameter paths and uniform ranges; integer parameters are
        drawn as integers.  Defaults to :data:`DEFAULT_LEVERS`.
    n_lever_changes : int
        Random weeks (within the recorded horizon) at which every lever of
        a unit is re-drawn.
    employee_survey_sd : float
        Standard deviation of survey noise added to the unit's employee
        satisfaction (0: the true mean is recorded).
    seed : int
        Root of a ``numpy.random.SeedSequence``: one child draws the levers,
        one child per unit seeds its simulation.
    executor : concurrent.futures.Executor, optional
        Runs the units' simulations (``executor.map``); sequential by default.

    Returns
    -------
    Panel
        Columns ``unit, period``, every KPI of :data:`spchain.METRICS` for
        the unit, the raw counts ``quits, churned, customers_start,
        responses``, ``perceived_isq`` (the mean perceived ISQ of the staff
        in post, :func:`staff_perceived_isq`), and one column per lever (named by the path's last
        part).  ``truth`` holds every link coefficient and the reference
        levels of the data-generating parameters.
    """
    base, levers = _check_synthetic_options(params, n_units, horizon, warmup, n_lever_changes, seed,
                                            employee_survey_sd, levers)
    base = base.override({"organisation.n_units": 1})
    lever_seeds, survey_seeds, *unit_seeds = np.random.SeedSequence(seed).spawn(2 + n_units)
    lever_rng = np.random.Generator(np.random.PCG64(lever_seeds))
    lever_columns = {path: path.rsplit(".", 1)[-1] for path in levers}
    tasks, lever_values = [], []
    for unit_seed in unit_seeds:
        task, values = _unit_task(base, levers, lever_columns, lever_rng, unit_seed, warmup, horizon,
                                  n_lever_changes)
        tasks.append(task)
        lever_values.append(values)
    results = list(executor.map(_simulate_task, tasks) if executor is not None
                   else map(_simulate_task, tasks))
    columns = _simulated_columns(results, lever_values, lever_columns, warmup, horizon)
    if employee_survey_sd > 0:
        noise = np.random.Generator(np.random.PCG64(survey_seeds)).standard_normal(len(columns["unit"]))
        columns["employee_satisfaction"] = (np.asarray(columns["employee_satisfaction"])
                                            + employee_survey_sd * noise).tolist()
    meta = dict(kind="synthetic_panel", n_units=n_units, horizon=horizon, warmup=warmup, seed=seed,
                levers={p: list(r) for p, r in levers.items()}, lever_columns=lever_columns,
                n_lever_changes=n_lever_changes, employee_survey_sd=employee_survey_sd,
                params=base.to_dict())
    return Panel(columns, truth=true_links(base), meta=meta)


def _check_synthetic_options(params, n_units, horizon, warmup, n_lever_changes, seed, employee_survey_sd,
                             levers):
    """The base ``Params`` and the levers (path -> (low, high)) of :func:`synthetic_panel`, checked."""
    base = panel_params() if params is None else params
    if not isinstance(base, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(base).__name__}")
    for name, value, low in (("n_units", n_units, 2), ("horizon", horizon, 2), ("warmup", warmup, 0),
                             ("n_lever_changes", n_lever_changes, 0), ("seed", seed, 0)):
        check_integer(name, value, low, error=ValueError)
    if not isinstance(employee_survey_sd, (int, float)) or employee_survey_sd < 0:
        raise ValueError(f"employee_survey_sd must be a number >= 0, got {employee_survey_sd!r}")
    levers = dict(DEFAULT_LEVERS if levers is None else levers)
    for path, bounds in levers.items():
        base.get(path)  # ParamError for an unknown path
        if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2 and bounds[0] <= bounds[1]):
            raise ParamError(f"lever {path}: range must be (low, high) with low <= high, got {bounds!r}")
    return base, levers


def _draw_levers(base, levers, rng) -> dict:
    """One value per lever, uniform on its range (integer parameters as integers)."""
    out = {}
    for path, (low, high) in levers.items():
        if isinstance(base.get(path), int) and not isinstance(base.get(path), bool):
            out[path] = int(rng.integers(int(math.ceil(low)), int(math.floor(high)) + 1))
        else:
            out[path] = float(rng.uniform(low, high))
    return out


def _unit_task(base, levers, lever_columns, rng, unit_seed, warmup, horizon, n_lever_changes):
    """One unit's simulation task ``(params, weeks, seed)``, its levers drawn at the start and re-drawn at
    ``n_lever_changes`` random weeks, and the lever values in force each recorded week, by column."""
    total = int(warmup) + int(horizon)
    start = _draw_levers(base, levers, rng)
    candidates = np.arange(max(1, warmup), total)  # change weeks inside the recorded horizon
    weeks = sorted(rng.choice(candidates, size=min(n_lever_changes, candidates.size),
                              replace=False).tolist()) if n_lever_changes else []
    changes = [Change(at_week=int(w), path=path, value=v) for w in weeks
               for path, v in _draw_levers(base, levers, rng).items()]
    unit_params = base.override(start).with_changes(*changes)
    seed = int(unit_seed.generate_state(1, dtype=np.uint64)[0])
    values, current = {column: [] for column in lever_columns.values()}, dict(start)
    for week in range(total):
        current.update({c.path: c.value for c in changes if c.at_week == week})
        if week >= warmup:
            for path, column in lever_columns.items():
                values[column].append(current[path])
    return (unit_params, total, seed), values


def _simulated_columns(results, lever_values, lever_columns, warmup, horizon) -> dict:
    """The panel's columns from the units' runs: every KPI, the raw counts, the staff's perceived ISQ
    and the levers, from week ``warmup`` on."""
    columns: dict = {"unit": [], "period": []}
    for name in list(METRICS) + list(RAW_FIELDS) + ["perceived_isq"] + list(lever_columns.values()):
        columns[name] = []
    for unit, (result, values) in enumerate(zip(results, lever_values)):
        columns["unit"] += [unit] * horizon
        columns["period"] += list(range(horizon))
        for name in METRICS:
            columns[name] += result.kpi(name)[warmup:].tolist()
        for name in RAW_FIELDS:
            columns[name] += result.field(name)[warmup:].tolist()
        columns["perceived_isq"] += staff_perceived_isq(result)[warmup:, 0].tolist()
        for column, column_values in values.items():
            columns[column] += column_values
    return columns


def _simulate_task(task):
    from ..engine.run import simulate

    p, horizon, seed = task
    return simulate(p, horizon=horizon, seed=seed, record=("staff",))


def structural_panel(params: Params | None = None, *, n_units: int = 50, n_periods: int = 20,
                     noise_sd: float = 0.01, unit_sd: float = 0.0, n_employees: int = 10,
                     n_customers: int = 1000, isq_smoothing: float = 1.0, seed: int = 0) -> Panel:
    r"""A panel drawn directly from the linear estimating equations: exactly identified truth.

    In period order, per unit *i* (reference levels and link values from
    ``params``; :math:`\phi = e^{-1/\tau}` with :math:`\tau` the
    satisfaction delay, :math:`\phi_c = 0.93`):

    * ISQ, recognition and pay are exogenous: unit means drawn once, weekly
      noise around them;
    * ``service_quality[t] = q0 + k_q (ES[t-1] - ref) + e``;
    * ``customer_satisfaction[t] = a_c + phi_c CS[t-1] + (1 - phi_c) k_v SQ[t] + e``;
    * ``employee_satisfaction[t] = a + phi ES[t-1] + (1 - phi)(k_isq ISQ*[t] + k_rec R[t]
      + k_pay (P[t] - 1) + k_cust CS[t]) + e``, with ``ISQ*`` the ISQ employees
      perceive: the weekly reading itself (``isq_smoothing = 1``) or, as in
      the simulation model, its exponential smoothing
      ``ISQ*[t] = ISQ*[t-1] + w (ISQ[t] - ISQ*[t-1])`` from ``ISQ*[0] = ISQ[0]``
      (:func:`spchain.fitting.estimation.perceived`);
    * ``productivity[t] = (1 + k_p (ES[t] - ref)) + e``;
    * ``quits[t] ~ Poisson(headcount / 52 * h0 exp(-k_quit (ES[t-1] - ref)))``;
    * ``churned[t] ~ Poisson(customers_start / 52 * c0 exp(-k_churn (CS[t] - ref)))``;
    * ``log(revenue[t] / active_customers[t-1]) = log(m) + (k_visit + k_spend)(CS[t-1] - ref) + e``.

    Gaussian errors have standard deviation ``noise_sd`` (on the 0-1
    scales; ``20 * noise_sd`` for productivity and log revenue), plus, when
    ``unit_sd > 0``, a unit effect of standard deviation ``unit_sd`` in
    every equation (in the two dynamic ones it shifts the unit's long-run
    level by that much).  With ``unit_sd = 0`` pooled estimation is
    consistent for every equation.  With unit effects the within estimator
    is consistent only where the regressors are strictly exogenous:
    productivity, turnover, retention and revenue.  The two dynamic
    equations (Nickell bias) and service quality (its regressor, last
    week's employee satisfaction, is fed back by past service quality
    through customer satisfaction) are biased by order 1/T.  With
    ``isq_smoothing < 1`` the recorded ``internal_service_quality`` is the
    weekly reading, not what drives satisfaction: least squares on it is
    attenuated (errors in variables); ``fit_links(..., isq_smoothing=w)``
    is exact again.

    Parameters
    ----------
    params : Params, optional
        Link values and reference levels of the generating equations;
        defaults to ``Params()``.
    n_units, n_periods : int
        Units (at least 2) and periods (at least 3).
    noise_sd : float
        Standard deviation of the Gaussian errors on the 0-1 scales.
    unit_sd : float
        Standard deviation of the unit effects (0: none).
    n_employees, n_customers : int
        Headcount and customer base of every unit (the Poisson exposures).
    isq_smoothing : float in (0, 1]
        Weight of this week's ISQ reading in the ISQ employees perceive
        (1: the reading itself; the simulation model uses 0.3).
    seed : int
        Seed of the ``numpy.random.SeedSequence`` that draws everything.

    Returns
    -------
    Panel
        ``truth`` holds the link parameters (dotted paths) *and* the
        coefficients of :func:`spchain.fit_links`' default equations
        (``"equation: term"``) that generated the data.
    """
    params = _check_structural_options(params, n_units, n_periods, n_employees, n_customers, seed, noise_sd,
                                       unit_sd, isq_smoothing)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    phi = math.exp(-1.0 / params.workforce.satisfaction_delay_weeks)
    drivers = _exogenous_drivers(rng, params.workforce.reference_isq, n_units, n_periods)
    series = _structural_series(params, rng, drivers, phi, noise_sd, unit_sd, n_employees, n_customers,
                                isq_smoothing)
    shape = (n_units, n_periods)
    columns = {
        "unit": np.repeat(np.arange(n_units), n_periods), "period": np.tile(np.arange(n_periods), n_units),
        "internal_service_quality": drivers["isq"], "employee_satisfaction": series["employee_satisfaction"],
        "recognition": drivers["recognition"], "pay_index": drivers["pay"],
        "service_quality": series["service_quality"], "customer_satisfaction": series["customer_satisfaction"],
        "productivity": series["productivity"], "quits": series["quits"],
        "headcount": np.full(shape, float(n_employees)),
        "turnover": 52.0 * series["quits"] / n_employees, "churned": series["churned"],
        "customers_start": np.full(shape, float(n_customers)),
        "active_customers": np.full(shape, float(n_customers)), "revenue": series["revenue"],
    }
    columns = {k: (np.ravel(v) if np.ndim(v) == 2 else v) for k, v in columns.items()}
    meta = dict(kind="structural_panel", n_units=n_units, n_periods=n_periods, noise_sd=noise_sd,
                unit_sd=unit_sd, isq_smoothing=isq_smoothing, seed=seed, phi_customers=_PHI_CUSTOMERS,
                params=params.to_dict())
    return Panel(columns, truth=_structural_truth(params, phi, unit_sd), meta=meta)


#: Weekly persistence of customer satisfaction in :func:`structural_panel`.
_PHI_CUSTOMERS = 0.93


def _check_structural_options(params, n_units, n_periods, n_employees, n_customers, seed, noise_sd, unit_sd,
                              isq_smoothing) -> Params:
    """The ``Params`` of :func:`structural_panel` after checking every option."""
    params = Params() if params is None else params
    if not isinstance(params, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(params).__name__}")
    for name, value, low in (("n_units", n_units, 2), ("n_periods", n_periods, 3),
                             ("n_employees", n_employees, 1), ("n_customers", n_customers, 1), ("seed", seed, 0)):
        check_integer(name, value, low, error=ValueError)
    for name, value in (("noise_sd", noise_sd), ("unit_sd", unit_sd)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if isinstance(isq_smoothing, bool) or not isinstance(isq_smoothing, (int, float)) \
            or not 0 < isq_smoothing <= 1:
        raise ValueError(f"isq_smoothing must be a weight in (0, 1], got {isq_smoothing!r}")
    return params


def _exogenous_drivers(rng, reference_isq, n_units, n_periods) -> dict:
    """Weekly ISQ, recognition and pay index, shape (n_units, n_periods): unit means drawn once,
    weekly noise around them."""
    isq_mean = np.clip(rng.normal(reference_isq - 0.05, 0.05, n_units), 0.5, 1.0)
    recognition_mean = rng.uniform(-0.5, 0.5, n_units)
    pay_mean = rng.uniform(0.9, 1.1, n_units)
    shape = (n_units, n_periods)
    return dict(isq=np.clip(isq_mean[:, None] + 0.05 * rng.standard_normal(shape), 0, 1),
                recognition=np.clip(recognition_mean[:, None] + 0.2 * rng.standard_normal(shape), -1, 1),
                pay=pay_mean[:, None] + 0.02 * rng.standard_normal(shape))


def _structural_series(params, rng, drivers, phi, noise_sd, unit_sd, n_employees, n_customers,
                       isq_smoothing) -> dict:
    """The chain's series, shape (n_units, n_periods), drawn period by period from the linear
    estimating equations of :func:`structural_panel`'s docstring."""
    links, workforce, customers = params.links, params.workforce, params.customers
    isq, recognition, pay = drivers["isq"], drivers["recognition"], drivers["pay"]
    n_units, n_periods = isq.shape
    phi_c = _PHI_CUSTOMERS
    s_ref, c_ref = workforce.reference_satisfaction, customers.reference_satisfaction
    k_rev = links.revisit_from_satisfaction + links.spend_from_satisfaction
    # intercepts: neutral drivers keep every satisfaction at its reference
    a_s = (1 - phi) * (s_ref - links.satisfaction_from_internal * workforce.reference_isq
                       - links.satisfaction_from_customers * c_ref)
    a_c = (1 - phi_c) * (c_ref - links.value_from_quality * workforce.base_quality)
    # unit effects by equation: ES, SQ, CS, productivity, quits, churn, revenue
    unit_effect = unit_sd * rng.standard_normal((7, n_units)) if unit_sd > 0 else np.zeros((7, n_units))
    es, cs, sq, productivity, quits, churned, revenue = (np.empty((n_units, n_periods)) for _ in range(7))
    es_prev = s_ref + unit_effect[0] + 0.02 * rng.standard_normal(n_units)  # the period before the first
    cs_prev = c_ref + unit_effect[2] + 0.02 * rng.standard_normal(n_units)
    unit_effect[0] *= 1 - phi  # dynamic equations: unit_sd is the long-run shift of the unit's level
    unit_effect[2] *= 1 - phi_c

    def noise():
        return noise_sd * rng.standard_normal(n_units)

    spend = params.economics.spend_per_visit * customers.visit_rate
    felt = isq[:, 0].copy()  # perceived ISQ, from the first reading
    for t in range(n_periods):
        felt = felt + isq_smoothing * (isq[:, t] - felt)
        sq[:, t] = (workforce.base_quality + links.quality_from_satisfaction * (es_prev - s_ref)
                    + unit_effect[1] + noise())
        cs[:, t] = (a_c + phi_c * cs_prev + (1 - phi_c) * links.value_from_quality * sq[:, t]
                    + unit_effect[2] + noise())
        es[:, t] = (a_s + phi * es_prev
                    + (1 - phi) * (links.satisfaction_from_internal * felt
                                   + links.satisfaction_from_recognition * recognition[:, t]
                                   + links.satisfaction_from_pay * (pay[:, t] - 1.0)
                                   + links.satisfaction_from_customers * cs[:, t])
                    + unit_effect[0] + noise())
        productivity[:, t] = (1.0 + links.productivity_from_satisfaction * (es[:, t] - s_ref) + unit_effect[3]
                              + 20 * noise())
        quits[:, t] = rng.poisson(n_employees / 52.0 * workforce.base_quit_rate * np.exp(
            -links.quit_from_satisfaction * (es_prev - s_ref) + unit_effect[4]))
        churned[:, t] = rng.poisson(n_customers / 52.0 * customers.base_churn_rate * np.exp(
            -links.churn_from_satisfaction * (cs[:, t] - c_ref) + unit_effect[5]))
        revenue[:, t] = n_customers * spend * np.exp(k_rev * (cs_prev - c_ref) + unit_effect[6] + 20 * noise())
        es_prev, cs_prev = es[:, t], cs[:, t]
    return dict(employee_satisfaction=es, customer_satisfaction=cs, service_quality=sq,
                productivity=productivity, quits=quits, churned=churned, revenue=revenue)


def _structural_truth(params, phi, unit_sd) -> dict:
    """The coefficients of the default equations and the link parameters that generated the panel."""
    links, workforce = params.links, params.workforce
    phi_c = _PHI_CUSTOMERS
    truth = {
        "employee_satisfaction: employee_satisfaction[t-1]": phi,
        "employee_satisfaction: internal_service_quality": (1 - phi) * links.satisfaction_from_internal,
        "employee_satisfaction: recognition": (1 - phi) * links.satisfaction_from_recognition,
        "employee_satisfaction: pay_index": (1 - phi) * links.satisfaction_from_pay,
        "employee_satisfaction: customer_satisfaction": (1 - phi) * links.satisfaction_from_customers,
        "turnover: employee_satisfaction[t-1]": -links.quit_from_satisfaction,
        "productivity: employee_satisfaction": links.productivity_from_satisfaction,
        "service_quality: employee_satisfaction[t-1]": links.quality_from_satisfaction,
        "customer_satisfaction: customer_satisfaction[t-1]": phi_c,
        "customer_satisfaction: service_quality": (1 - phi_c) * links.value_from_quality,
        "retention: customer_satisfaction": -links.churn_from_satisfaction,
        "revenue: customer_satisfaction[t-1]": links.revisit_from_satisfaction + links.spend_from_satisfaction,
        "workforce.satisfaction_delay_weeks": workforce.satisfaction_delay_weeks,
    }
    truth.update({f"links.{name}": getattr(links, name) for name in (
        "satisfaction_from_internal", "satisfaction_from_recognition", "satisfaction_from_pay",
        "satisfaction_from_customers", "quit_from_satisfaction", "productivity_from_satisfaction",
        "quality_from_satisfaction", "value_from_quality", "churn_from_satisfaction",
        "revisit_from_satisfaction")})
    if unit_sd == 0:  # unit effects shift each unit's base rate
        truth.update({"workforce.base_quit_rate": workforce.base_quit_rate,
                      "customers.base_churn_rate": params.customers.base_churn_rate})
    return truth
