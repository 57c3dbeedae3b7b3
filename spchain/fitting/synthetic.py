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
from ..params import Change, ParamError, Params

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
    base = panel_params() if params is None else params
    if not isinstance(base, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(base).__name__}")
    for name, v, lo in (("n_units", n_units, 2), ("horizon", horizon, 2), ("warmup", warmup, 0),
                        ("n_lever_changes", n_lever_changes, 0), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not isinstance(employee_survey_sd, (int, float)) or employee_survey_sd < 0:
        raise ValueError(f"employee_survey_sd must be a number >= 0, got {employee_survey_sd!r}")
    levers = dict(DEFAULT_LEVERS if levers is None else levers)
    for path, rng_ in levers.items():
        base.get(path)  # ParamError for an unknown path
        if not (isinstance(rng_, (tuple, list)) and len(rng_) == 2 and rng_[0] <= rng_[1]):
            raise ParamError(f"lever {path}: range must be (low, high) with low <= high, got {rng_!r}")
    base = base.override({"organisation.n_units": 1})
    total = int(warmup) + int(horizon)
    root = np.random.SeedSequence(seed)
    lever_ss, survey_ss, *unit_ss = root.spawn(2 + n_units)
    rng = np.random.Generator(np.random.PCG64(lever_ss))
    names = {path: path.rsplit(".", 1)[-1] for path in levers}

    def draw():
        out = {}
        for path, (lo, hi) in levers.items():
            if isinstance(base.get(path), int) and not isinstance(base.get(path), bool):
                out[path] = int(rng.integers(int(math.ceil(lo)), int(math.floor(hi)) + 1))
            else:
                out[path] = float(rng.uniform(lo, hi))
        return out

    tasks, lever_paths = [], []
    for u in range(n_units):
        start = draw()
        p = base.override(start)
        candidates = np.arange(max(1, warmup), total)  # change weeks inside the recorded horizon
        weeks = sorted(rng.choice(candidates, size=min(n_lever_changes, candidates.size),
                                  replace=False).tolist()) if n_lever_changes else []
        changes = [Change(at_week=int(w), path=path, value=v) for w in weeks for path, v in draw().items()]
        p = p.with_changes(*changes)
        seed_u = int(unit_ss[u].generate_state(1, dtype=np.uint64)[0])
        tasks.append((p, total, seed_u))
        path_values, current = {col: [] for col in names.values()}, dict(start)
        for w in range(total):  # the lever values in force each week
            current.update({c.path: c.value for c in changes if c.at_week == w})
            if w >= warmup:
                for path, col in names.items():
                    path_values[col].append(current[path])
        lever_paths.append(path_values)
    results = list(executor.map(_simulate_task, tasks) if executor is not None
                   else map(_simulate_task, tasks))
    cols: dict = {"unit": [], "period": []}
    kpis = list(METRICS)
    for name in kpis + list(RAW_FIELDS) + ["perceived_isq"] + list(names.values()):
        cols[name] = []
    for u, (res, path_values) in enumerate(zip(results, lever_paths)):
        cols["unit"] += [u] * horizon
        cols["period"] += list(range(horizon))
        for name in kpis:
            cols[name] += res.kpi(name)[warmup:].tolist()
        for name in RAW_FIELDS:
            cols[name] += res.field(name)[warmup:].tolist()
        cols["perceived_isq"] += staff_perceived_isq(res)[warmup:, 0].tolist()
        for col, values in path_values.items():
            cols[col] += values
    if employee_survey_sd > 0:
        noise = np.random.Generator(np.random.PCG64(survey_ss)).standard_normal(len(cols["unit"]))
        cols["employee_satisfaction"] = (np.asarray(cols["employee_satisfaction"])
                                         + employee_survey_sd * noise).tolist()
    truth = true_links(base)
    meta = dict(kind="synthetic_panel", n_units=n_units, horizon=horizon, warmup=warmup, seed=seed,
                levers={p: list(r) for p, r in levers.items()}, lever_columns=names,
                n_lever_changes=n_lever_changes, employee_survey_sd=employee_survey_sd,
                params=base.to_dict())
    return Panel(cols, truth=truth, meta=meta)


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
    p = Params() if params is None else params
    if not isinstance(p, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(p).__name__}")
    for name, v, lo in (("n_units", n_units, 2), ("n_periods", n_periods, 3),
                        ("n_employees", n_employees, 1), ("n_customers", n_customers, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    for name, v in (("noise_sd", noise_sd), ("unit_sd", unit_sd)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {v!r}")
    if isinstance(isq_smoothing, bool) or not isinstance(isq_smoothing, (int, float)) or not 0 < isq_smoothing <= 1:
        raise ValueError(f"isq_smoothing must be a weight in (0, 1], got {isq_smoothing!r}")
    lk, wf, cu, ec = p.links, p.workforce, p.customers, p.economics
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    phi = math.exp(-1.0 / wf.satisfaction_delay_weeks)
    phi_c = 0.93
    s_ref, c_ref, isq_ref = wf.reference_satisfaction, cu.reference_satisfaction, wf.reference_isq
    k_rev = lk.revisit_from_satisfaction + lk.spend_from_satisfaction
    # intercepts: neutral drivers keep every satisfaction at its reference
    a_s = (1 - phi) * (s_ref - lk.satisfaction_from_internal * isq_ref - lk.satisfaction_from_customers * c_ref)
    a_c = (1 - phi_c) * (c_ref - lk.value_from_quality * wf.base_quality)
    q0 = wf.base_quality
    T = n_periods
    N = n_units
    isq_mean = np.clip(rng.normal(isq_ref - 0.05, 0.05, N), 0.5, 1.0)
    rec_mean = rng.uniform(-0.5, 0.5, N)
    pay_mean = rng.uniform(0.9, 1.1, N)
    isq = np.clip(isq_mean[:, None] + 0.05 * rng.standard_normal((N, T)), 0, 1)
    rec = np.clip(rec_mean[:, None] + 0.2 * rng.standard_normal((N, T)), -1, 1)
    pay = pay_mean[:, None] + 0.02 * rng.standard_normal((N, T))
    ue = unit_sd * rng.standard_normal((7, N)) if unit_sd > 0 else np.zeros((7, N))
    es, cs, sq, prod, quits, churned, revenue = (np.empty((N, T)) for _ in range(7))
    es_prev = s_ref + ue[0] + 0.02 * rng.standard_normal(N)  # the period before the first
    cs_prev = c_ref + ue[2] + 0.02 * rng.standard_normal(N)
    ue[0] *= 1 - phi  # dynamic equations: unit_sd is the long-run shift of the unit's level
    ue[2] *= 1 - phi_c
    e = lambda: noise_sd * rng.standard_normal(N)  # noqa: E731
    h0, c0 = wf.base_quit_rate, cu.base_churn_rate
    spend = ec.spend_per_visit * cu.visit_rate
    felt = isq[:, 0].copy()  # perceived ISQ, from the first reading
    for t in range(T):
        felt = felt + isq_smoothing * (isq[:, t] - felt)
        sq[:, t] = q0 + lk.quality_from_satisfaction * (es_prev - s_ref) + ue[1] + e()
        cs[:, t] = a_c + phi_c * cs_prev + (1 - phi_c) * lk.value_from_quality * sq[:, t] + ue[2] + e()
        es[:, t] = (a_s + phi * es_prev
                    + (1 - phi) * (lk.satisfaction_from_internal * felt
                                   + lk.satisfaction_from_recognition * rec[:, t]
                                   + lk.satisfaction_from_pay * (pay[:, t] - 1.0)
                                   + lk.satisfaction_from_customers * cs[:, t])
                    + ue[0] + e())
        prod[:, t] = 1.0 + lk.productivity_from_satisfaction * (es[:, t] - s_ref) + ue[3] + 20 * e()
        quits[:, t] = rng.poisson(n_employees / 52.0 * h0 * np.exp(
            -lk.quit_from_satisfaction * (es_prev - s_ref) + ue[4]))
        churned[:, t] = rng.poisson(n_customers / 52.0 * c0 * np.exp(
            -lk.churn_from_satisfaction * (cs[:, t] - c_ref) + ue[5]))
        revenue[:, t] = n_customers * spend * np.exp(k_rev * (cs_prev - c_ref) + ue[6] + 20 * e())
        es_prev, cs_prev = es[:, t], cs[:, t]
    cols = {
        "unit": np.repeat(np.arange(N), T), "period": np.tile(np.arange(T), N),
        "internal_service_quality": isq, "employee_satisfaction": es, "recognition": rec,
        "pay_index": pay, "service_quality": sq, "customer_satisfaction": cs, "productivity": prod,
        "quits": quits, "headcount": np.full((N, T), float(n_employees)),
        "turnover": 52.0 * quits / n_employees, "churned": churned,
        "customers_start": np.full((N, T), float(n_customers)),
        "active_customers": np.full((N, T), float(n_customers)), "revenue": revenue,
    }
    cols = {k: (np.ravel(v) if np.ndim(v) == 2 else v) for k, v in cols.items()}
    truth = {
        "employee_satisfaction: employee_satisfaction[t-1]": phi,
        "employee_satisfaction: internal_service_quality": (1 - phi) * lk.satisfaction_from_internal,
        "employee_satisfaction: recognition": (1 - phi) * lk.satisfaction_from_recognition,
        "employee_satisfaction: pay_index": (1 - phi) * lk.satisfaction_from_pay,
        "employee_satisfaction: customer_satisfaction": (1 - phi) * lk.satisfaction_from_customers,
        "turnover: employee_satisfaction[t-1]": -lk.quit_from_satisfaction,
        "productivity: employee_satisfaction": lk.productivity_from_satisfaction,
        "service_quality: employee_satisfaction[t-1]": lk.quality_from_satisfaction,
        "customer_satisfaction: customer_satisfaction[t-1]": phi_c,
        "customer_satisfaction: service_quality": (1 - phi_c) * lk.value_from_quality,
        "retention: customer_satisfaction": -lk.churn_from_satisfaction,
        "revenue: customer_satisfaction[t-1]": k_rev,
        "workforce.satisfaction_delay_weeks": wf.satisfaction_delay_weeks,
        "links.satisfaction_from_internal": lk.satisfaction_from_internal,
        "links.satisfaction_from_recognition": lk.satisfaction_from_recognition,
        "links.satisfaction_from_pay": lk.satisfaction_from_pay,
        "links.satisfaction_from_customers": lk.satisfaction_from_customers,
        "links.quit_from_satisfaction": lk.quit_from_satisfaction,
        "links.productivity_from_satisfaction": lk.productivity_from_satisfaction,
        "links.quality_from_satisfaction": lk.quality_from_satisfaction,
        "links.value_from_quality": lk.value_from_quality,
        "links.churn_from_satisfaction": lk.churn_from_satisfaction,
        "links.revisit_from_satisfaction": lk.revisit_from_satisfaction,
        "workforce.base_quit_rate": h0,
        "customers.base_churn_rate": c0,
    }
    if unit_sd > 0:
        for k in ("workforce.base_quit_rate", "customers.base_churn_rate"):
            truth.pop(k)  # unit effects shift each unit's base rate
    meta = dict(kind="structural_panel", n_units=N, n_periods=T, noise_sd=noise_sd, unit_sd=unit_sd,
                isq_smoothing=isq_smoothing, seed=seed, phi_customers=phi_c, params=p.to_dict())
    return Panel(cols, truth=truth, meta=meta)
