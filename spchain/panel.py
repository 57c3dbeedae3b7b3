"""Unit-level panels: a light table, CSV input/output, and synthetic panels with known truth.

A :class:`Panel` holds one row per unit and period as NumPy columns (``unit``
and ``period`` plus any measured quantity).  :func:`read_panel` and
:meth:`Panel.to_csv` use the standard-library ``csv`` module; pandas is only
needed for :meth:`Panel.to_frame` / :meth:`Panel.from_frame`.

Two generators give panels whose truth is known, for testing estimators:

* :func:`synthetic_panel` runs the simulation model once per unit, each unit
  with its own levers (recognition, pay, internal tools spend) drawn from a
  ``SeedSequence``-driven generator and changed at random weeks, so the data
  have the model's feedback loops, delays, turnover, survey noise and
  response rates.  The truth is the link parameters that generated it;
  :func:`spchain.fit_links` recovers them only approximately (see
  ``docs/fitting.md``: the model is non-linear, smooths ISQ per employee,
  mixes new hires and customers).
* :func:`structural_panel` draws directly from the linear estimating
  equations of :mod:`spchain.estimation` with Gaussian noise and Poisson
  counts, so the truth is *exactly* identified: the tool for checking an
  estimator's bias and interval coverage.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np

from .fitresult import DataError
from .metrics import METRICS
from .params import Change, ParamError, Params

__all__ = ["Panel", "read_panel", "synthetic_panel", "structural_panel", "staff_perceived_isq", "DEFAULT_LEVERS"]

#: Levers varied across (and within) units by :func:`synthetic_panel`: path -> (low, high).
DEFAULT_LEVERS = {
    "workforce.recognition": (-0.5, 0.5),
    "workforce.pay_index": (0.9, 1.1),
    "internal.tools_spend_per_week": (0.0, 4000.0),
}

#: Raw fields copied into model panels next to the KPIs (counts for the hazard equations).
_RAW_FIELDS = ("quits", "churned", "customers_start", "responses")


class Panel:
    """A unit-by-period table of NumPy columns.

    Parameters
    ----------
    columns : mapping of str to array_like
        Equal-length 1-D columns; must include ``unit`` and ``period``
        (integers).  Other columns are converted to float (empty strings
        and ``"nan"`` become NaN).
    truth : mapping, optional
        Known true values (parameter paths or coefficient names) for
        synthetic panels.
    meta : mapping, optional
        JSON-able description of how the panel was made.

    Examples
    --------
    >>> p = Panel({"unit": [0, 0, 1, 1], "period": [0, 1, 0, 1], "csat": [4.1, 4.2, 3.9, 4.0]})
    >>> p.n_units, p.n_periods, len(p)
    (2, 2, 4)
    """

    def __init__(self, columns: Mapping, *, truth: Mapping | None = None, meta: Mapping | None = None):
        if not isinstance(columns, Mapping):
            raise DataError(f"panel columns must be a mapping of name to array, got {type(columns).__name__}")
        for key in ("unit", "period"):
            if key not in columns:
                raise DataError(f"panel needs a {key!r} column; got columns {sorted(columns)}")
        cols = {}
        n = None
        for name, values in columns.items():
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise DataError(f"panel column {name!r} must be one-dimensional, got shape {arr.shape}")
            if n is None:
                n = arr.size
            elif arr.size != n:
                raise DataError(f"panel column {name!r} has {arr.size} rows; expected {n} like the others")
            if name in ("unit", "period"):
                try:
                    f = arr.astype(float)
                except (TypeError, ValueError):
                    raise DataError(f"panel column {name!r} must hold integers, got {arr[:3].tolist()}") from None
                bad = ~np.isfinite(f) | (f != np.round(f))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise DataError(f"panel column {name!r} must hold integers; row {i} is {arr[i].item()!r}")
                cols[name] = f.astype(np.int64)
            else:
                cols[name] = _to_float(name, arr)
        key = np.stack([cols["unit"], cols["period"]], axis=1)
        if n and np.unique(key, axis=0).shape[0] != n:
            order = np.lexsort((cols["period"], cols["unit"]))
            k = key[order]
            dup = np.flatnonzero((k[1:] == k[:-1]).all(axis=1))[0]
            raise DataError(f"panel has more than one row for unit {k[dup, 0]}, period {k[dup, 1]}")
        order = np.lexsort((cols["period"], cols["unit"]))
        self._columns = {name: arr[order] for name, arr in cols.items()}
        self.truth = dict(truth or {})
        self.meta = dict(meta or {})

    # ------------------------------------------------------------ access
    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"unknown panel column {name!r}; expected one of {self.columns}") from None

    def __contains__(self, name) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return self._columns["unit"].size

    def __repr__(self) -> str:
        return (f"Panel({self.n_units} units x {self.n_periods} periods, {len(self)} rows, "
                f"columns {self.columns})")

    @property
    def columns(self) -> list[str]:
        """Column names, ``unit`` and ``period`` first."""
        return list(self._columns)

    @property
    def n_units(self) -> int:
        return int(np.unique(self._columns["unit"]).size)

    @property
    def n_periods(self) -> int:
        return int(np.unique(self._columns["period"]).size)

    def to_dict(self) -> dict:
        """``{column: ndarray}`` (copies)."""
        return {k: v.copy() for k, v in self._columns.items()}

    # ------------------------------------------------------------- files
    def to_csv(self, path) -> Path:
        """Write the panel as CSV (header row, one row per unit and period).

        When the panel carries ``truth`` or ``meta`` they are written next to
        it as ``<path>.json``, which :func:`read_panel` reads back.
        """
        path = Path(path)
        names = self.columns
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(names)
            cols = [self._columns[n] for n in names]
            for row in zip(*cols):
                w.writerow([_fmt(v) for v in row])
        if self.truth or self.meta:
            side = path.with_name(path.name + ".json")
            side.write_text(json.dumps({"truth": self.truth, "meta": self.meta}, indent=2, default=_json))
        return path

    def to_frame(self):
        """A pandas DataFrame of the columns (requires pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame() needs pandas: pip install 'spchain[pandas]'") from exc
        return pd.DataFrame(self._columns)

    @classmethod
    def from_frame(cls, frame, *, truth=None, meta=None) -> "Panel":
        """A panel from a pandas DataFrame (or any mapping of columns)."""
        return cls({str(c): np.asarray(frame[c]) for c in frame.columns}
                   if hasattr(frame, "columns") else frame, truth=truth, meta=meta)

    @classmethod
    def from_result(cls, result, *, start: int = 0, levers=()) -> "Panel":
        """The unit-by-week panel of one simulated run; see :meth:`spchain.RunResult.to_panel`."""
        h, n_units = result.horizon, result.n_units
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < h:
            raise ValueError(f"start must be an integer in [0, {h}), got {start!r}")
        levers = (levers,) if isinstance(levers, str) else tuple(levers)
        weeks = np.arange(int(start), h)
        cols = {"unit": np.repeat(np.arange(n_units), weeks.size), "period": np.tile(weeks, n_units)}
        for name in METRICS:  # (weeks, units) -> unit-major rows
            cols[name] = result.kpi(name, by_unit=True)[start:].T.ravel()
        for name in _RAW_FIELDS:
            cols[name] = np.concatenate([result.field(name, u)[start:] for u in range(n_units)])
        if "staff" in result.recorded:
            cols["perceived_isq"] = staff_perceived_isq(result)[start:].T.ravel()
        in_force = [result.params.at_week(int(w)) for w in weeks] if levers else []
        for path in levers:
            result.params.get(path)  # ParamError for an unknown path
            col = path.rsplit(".", 1)[-1]
            if col in cols:
                raise ValueError(f"lever {path}: its column {col!r} is already in the panel")
            cols[col] = np.tile(np.array([p.get(path) for p in in_force], float), n_units)
        meta = dict(kind="run", seed=result.seed, horizon=h, start=int(start), levers=list(levers),
                    params=result.params.to_dict())
        return cls(cols, truth=_truth(result.params), meta=meta)


def read_panel(path, *, unit: str = "unit", period: str = "period") -> Panel:
    """Read a panel CSV (header row; ``unit`` and ``period`` columns, numbers elsewhere).

    Parameters
    ----------
    path : str or Path
        The CSV file; a ``<path>.json`` written by :meth:`Panel.to_csv` is
        read back into ``truth`` and ``meta``.
    unit, period : str
        Names of the unit and period columns in the file (renamed to
        ``unit`` and ``period``).  Unit labels that are not integers are
        numbered in order of appearance; the labels are kept in
        ``meta["unit_labels"]``.

    Raises
    ------
    DataError
        Missing unit/period column, ragged rows, or a non-numeric value
        (named by column, row and value).
    """
    path = Path(path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataError(f"{path}: empty file; expected a header row")
    header = [h.strip() for h in rows[0]]
    for key in (unit, period):
        if key not in header:
            raise DataError(f"{path}: no {key!r} column; the header has {header}")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise DataError(f"{path}: row {i + 2} has {len(r)} fields; the header has {len(header)}")
    cols = {h: [r[j].strip() for r in body] for j, h in enumerate(header)}
    meta = {}
    labels = cols.pop(unit)
    try:
        unit_ids = [int(float(v)) for v in labels]
    except ValueError:
        order = {}
        unit_ids = [order.setdefault(v, len(order)) for v in labels]
        meta["unit_labels"] = list(order)
    out = {"unit": unit_ids, "period": cols.pop(period)}
    for name, values in cols.items():
        arr = np.empty(len(values))
        for i, v in enumerate(values):
            if v == "" or v.lower() in ("na", "nan", "null", "none"):
                arr[i] = np.nan
                continue
            try:
                arr[i] = float(v)
            except ValueError:
                raise DataError(f"{path}: column {name!r}, row {i + 2}: {v!r} is not a number") from None
        out[name] = arr
    truth = {}
    side = path.with_name(path.name + ".json")
    if side.exists():
        extra = json.loads(side.read_text())
        truth = extra.get("truth", {})
        meta = {**extra.get("meta", {}), **meta}
    return Panel(out, truth=truth, meta=meta)


# ------------------------------------------------------ synthetic panels
def staff_perceived_isq(result) -> np.ndarray:
    """The mean perceived ISQ of each unit's staff at each week's end, ``(weeks, units)``.

    What an internal-service survey of every employee in post would read:
    the mean of the smoothed ISQ each employee feels (``docs/model.md``,
    section 2.5), the driver of their satisfaction target, which the
    unit's weekly ``internal_service_quality`` KPI (the mean score of the
    week's scored items) measures only with error.  NaN in a week with
    nobody in post.

    Parameters
    ----------
    result : RunResult
        A run that kept the ``"staff"`` records
        (``simulate(..., record=("staff",))``).

    Returns
    -------
    numpy.ndarray
        Shape ``(horizon, n_units)``.

    Raises
    ------
    ValueError
        The run kept no ``"staff"`` records.
    """
    rows = result.records("staff")
    out = np.full((result.horizon, result.n_units), np.nan)
    out[rows["week"], rows["unit"]] = rows["perceived_isq"]
    return out


def panel_params() -> Params:
    """The default single-unit organisation of :func:`synthetic_panel`.

    The ``workshop`` preset with 6 front-line employees and a customer base
    of 1,000 (acquisition scaled to match), so one unit-year runs in well
    under a tenth of a second.
    """
    from .presets import preset

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
    for name in kpis + list(_RAW_FIELDS) + ["perceived_isq"] + list(names.values()):
        cols[name] = []
    for u, (res, path_values) in enumerate(zip(results, lever_paths)):
        cols["unit"] += [u] * horizon
        cols["period"] += list(range(horizon))
        for name in kpis:
            cols[name] += res.kpi(name)[warmup:].tolist()
        for name in _RAW_FIELDS:
            cols[name] += res.field(name)[warmup:].tolist()
        cols["perceived_isq"] += staff_perceived_isq(res)[warmup:, 0].tolist()
        for col, values in path_values.items():
            cols[col] += values
    if employee_survey_sd > 0:
        noise = np.random.Generator(np.random.PCG64(survey_ss)).standard_normal(len(cols["unit"]))
        cols["employee_satisfaction"] = (np.asarray(cols["employee_satisfaction"])
                                         + employee_survey_sd * noise).tolist()
    truth = _truth(base)
    meta = dict(kind="synthetic_panel", n_units=n_units, horizon=horizon, warmup=warmup, seed=seed,
                levers={p: list(r) for p, r in levers.items()}, lever_columns=names,
                n_lever_changes=n_lever_changes, employee_survey_sd=employee_survey_sd,
                params=base.to_dict())
    return Panel(cols, truth=truth, meta=meta)


def _truth(params) -> dict:
    """The data-generating values a model panel's ``truth`` records: every link and the reference levels."""
    truth = {f"links.{k}": v for k, v in params.links.to_dict().items()}
    for path in ("workforce.satisfaction_delay_weeks", "workforce.base_quit_rate",
                 "customers.base_churn_rate", "workforce.reference_satisfaction",
                 "customers.reference_satisfaction", "workforce.reference_isq",
                 "customers.wait_tolerance_minutes"):
        truth[path] = params.get(path)
    return truth


def _simulate_task(task):
    from .run import simulate

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
      (:func:`spchain.estimation.perceived`);
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


# --------------------------------------------------------------- helpers
def _to_float(name, arr):
    if arr.dtype.kind in "fiub":
        return arr.astype(float)
    out = np.empty(arr.size)
    for i, v in enumerate(arr.tolist()):
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "na", "nan", "null", "none")):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise DataError(f"panel column {name!r}, row {i}: {v!r} is not a number") from None
    return out


def _fmt(v) -> str:
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if not math.isfinite(v):
        return ""
    return repr(v)


def _json(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
