"""Link coefficients from unit-level panel data: :func:`fit_links`.

Each structural equation of the chain is estimated separately on a panel
with one row per unit and period (see :class:`spchain.panel.Panel`), with
the model's timing (lags where the chain has delays), optional unit fixed
effects (the within transformation), and standard errors clustered by unit
or from a cluster bootstrap that resamples whole units.  Least squares uses
``numpy.linalg.lstsq``; the two hazard equations (quits and customer churn
counts) are Poisson regressions with an exposure, maximised with
``scipy.optimize.minimize`` (with unit effects: the conditional, i.e.
concentrated, Poisson likelihood).

The default equations (:data:`EQUATIONS`) and how a coefficient maps onto a
model parameter (weekly data; ``phi`` the coefficient of the lagged
dependent variable):

==========================  ==============================================  ============================================
equation                    regression                                      model parameter
==========================  ==============================================  ============================================
employee_satisfaction       ES[t] ~ ES[t-1] + ISQ[t] (+ recognition,        satisfaction_delay_weeks = -1/log(phi);
                            pay_index, training_hours,                      links.satisfaction_from_* = beta / (1 - phi)
                            customer_satisfaction)
turnover (Poisson)          quits[t] ~ ES[t-1], exposure headcount[t-1]/52  links.quit_from_satisfaction = -beta;
                                                                            base_quit_rate = exp(const + beta ES_ref)
productivity                productivity[t] ~ ES[t] (+ skill)               links.productivity_from_satisfaction =
                                                                            beta / (mean - beta (mean ES - ES_ref))
service_quality             service_quality[t] ~ ES[t-1] (+ skill[t-1])     links.quality_from_satisfaction = beta
customer_satisfaction       CS[t] ~ CS[t-1] + service_quality[t]            links.value_from_quality = beta / (1 - phi);
                            (+ wait_time)                                   links.value_from_wait =
                                                                            -beta * wait_tolerance / (1 - phi)
retention (Poisson)         churned[t] ~ CS[t], exposure                    links.churn_from_satisfaction = -beta;
                            customers_start/52                              base_churn_rate = exp(const + beta CS_ref)
revenue                     log(revenue[t] / active_customers[t-1])         links.revisit_from_satisfaction =
                            ~ CS[t-1]                                       beta - links.spend_from_satisfaction
==========================  ==============================================  ============================================

The mapped values are *within the model's structure*: they are what the
model's links would have to be to produce these regression coefficients,
not causal effects identified by the data (see ``docs/fitting.md``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import differentiate, optimize, stats

from .fitresult import DataError, build
from .panel import Panel
from .params import ParamError, Params, suggest

__all__ = ["Equation", "EQUATIONS", "fit_links"]

_TERM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[t-(\d+)\])?$")


@dataclass(frozen=True)
class Equation:
    """One regression: ``y ~ x`` with lags written ``"column[t-1]"``.

    Parameters
    ----------
    name : str
        Prefix of its coefficients in the result (``"name: term"``).
    y : str
        Dependent column (lags allowed).
    x : tuple of str
        Regressors that must be present.
    optional : tuple of str
        Regressors used when the panel has the column.
    kind : {"ols", "poisson"}
        Least squares, or Poisson regression of a count ``y`` with
        ``exposure``.
    exposure : str, optional
        Poisson exposure term (e.g. ``"headcount[t-1]"``), multiplied by
        ``exposure_scale`` (1/52 turns weekly counts into annual rates).
    per : str, optional
        Least squares: regress ``y / per`` (e.g. revenue per customer).
    log : bool
        Least squares: regress the logarithm of ``y`` (after ``per``).
    """

    name: str
    y: str
    x: tuple = ()
    optional: tuple = ()
    kind: str = "ols"
    exposure: str | None = None
    exposure_scale: float = 1.0
    per: str | None = None
    log: bool = False

    def __post_init__(self):
        if self.kind not in ("ols", "poisson"):
            raise ValueError(f"Equation {self.name!r}: kind must be 'ols' or 'poisson', got {self.kind!r}")
        if self.kind == "poisson" and self.exposure is None:
            raise ValueError(f"Equation {self.name!r}: a Poisson equation needs an exposure term")
        object.__setattr__(self, "x", tuple(self.x))
        object.__setattr__(self, "optional", tuple(self.optional))
        for term in (self.y, *self.x, *self.optional, self.exposure, self.per):
            if term is not None and not _TERM.match(term):
                raise ValueError(f"Equation {self.name!r}: term {term!r} must be a column name, "
                                 f"optionally lagged as 'column[t-1]'")
        if not self.x and not self.optional:
            raise ValueError(f"Equation {self.name!r} needs at least one regressor")


#: The chain's structural equations, in chain order (see the module docstring).
EQUATIONS = {e.name: e for e in (
    Equation("employee_satisfaction", "employee_satisfaction",
             ("employee_satisfaction[t-1]", "internal_service_quality"),
             ("recognition", "pay_index", "training_hours", "customer_satisfaction")),
    Equation("turnover", "quits", ("employee_satisfaction[t-1]",), kind="poisson",
             exposure="headcount[t-1]", exposure_scale=1 / 52),
    Equation("productivity", "productivity", ("employee_satisfaction",), ("skill",)),
    Equation("service_quality", "service_quality", ("employee_satisfaction[t-1]",), ("skill[t-1]",)),
    Equation("customer_satisfaction", "customer_satisfaction",
             ("customer_satisfaction[t-1]", "service_quality"), ("wait_time",)),
    Equation("retention", "churned", ("customer_satisfaction",), kind="poisson",
             exposure="customers_start", exposure_scale=1 / 52),
    Equation("revenue", "revenue", ("customer_satisfaction[t-1]",), per="active_customers[t-1]", log=True),
)}

_DYNAMIC = {"employee_satisfaction": "employee_satisfaction[t-1]",
            "customer_satisfaction": "customer_satisfaction[t-1]"}


def fit_links(panel, *, equations: Sequence | None = None, unit_effects: bool = True,
              columns: Mapping[str, str] | None = None, scales: Mapping | None = None,
              cov_type: str = "cluster", n_bootstrap: int = 0, seed: int | None = 0,
              missing: str = "drop", params: Params | None = None):
    """Estimate the chain's structural equations from a unit-by-period panel.

    Parameters
    ----------
    panel : Panel, mapping of columns, or pandas DataFrame
        One row per unit and period with ``unit`` and ``period`` columns;
        other columns named like the model's KPIs (``employee_satisfaction``,
        ``internal_service_quality``, ``quits`` or ``turnover`` with
        ``headcount``, ``productivity``, ``service_quality``,
        ``customer_satisfaction``, ``churned`` or ``retention`` with
        ``customers_start`` or ``active_customers``, ``revenue``...).
    equations : sequence of str or Equation, optional
        Names from :data:`EQUATIONS` and/or custom :class:`Equation` objects.
        By default every default equation whose columns the panel has.
    unit_effects : bool
        Unit fixed effects (within transformation; conditional likelihood
        for the Poisson equations).  Absorbs everything constant within a
        unit, but biases equations with a lagged dependent variable by
        about ``-(1 + phi) / (T - 1)`` (Nickell 1981); see the notes.
    columns : mapping of str to str, optional
        Model name -> panel column, e.g. ``{"customer_satisfaction": "csat"}``.
    scales : mapping of str to (low, high) or str, optional
        Panel column -> its scale.  ``(low, high)`` maps the column linearly
        onto the model's 0-1 scale (an engagement survey on 0-100:
        ``(0, 100)``); ``"csat"`` (1-5) and ``"nps"`` (points) convert to
        latent satisfaction with the measurement model of ``params``,
        linearised at the reference satisfaction.
    cov_type : {"cluster", "classical"}
        Standard errors clustered by unit (default; Student-t intervals on
        ``n_units - 1`` degrees of freedom) or classical i.i.d. ones.
    n_bootstrap : int
        Cluster bootstrap replicates (resampling units with replacement,
        the same draw for every equation); with > 0, ``conf_int`` defaults
        to percentile intervals.
    seed : int or None
        Seed of the bootstrap (``numpy.random.SeedSequence``); ``None`` draws
        fresh entropy, recorded as ``fit.seed``.
    missing : {"drop", "raise"}
        Drop rows with missing values (counted per column in
        ``diagnostics``) or raise :class:`DataError` naming the first.
    params : Params, optional
        Reference levels and measurement model for the mapping, and the base
        of ``fit.params``; defaults to ``Params()``.

    Returns
    -------
    FitResult
        ``observed``, ``fitted``, ``residuals`` and ``data`` by equation name
        (see :class:`~spchain.fitresult.FitResult`).
        ``estimates`` holds every coefficient (``"equation: term"``) and
        every mapped model parameter (dotted paths); ``overrides`` the
        mapped parameters that are valid model values; ``params`` the base
        with them applied.  ``cov`` is block-diagonal by equation (each is
        estimated on its own); the bootstrap draws keep cross-equation
        covariances.

    Raises
    ------
    DataError
        Unknown columns or equations, missing values (``missing="raise"``),
        too few rows or units, constant or collinear regressors; all before
        any estimation.

    Examples
    --------
    >>> from spchain.panel import structural_panel
    >>> from spchain.estimation import fit_links
    >>> fit = fit_links(structural_panel(n_units=60, seed=1), unit_effects=False)
    >>> lo, hi = fit.conf_int()["links.quality_from_satisfaction"]
    >>> bool(lo < 0.5 < hi)
    True
    """
    base = Params() if params is None else params
    if not isinstance(base, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(base).__name__}")
    if cov_type not in ("cluster", "classical"):
        raise ValueError(f"cov_type must be 'cluster' or 'classical', got {cov_type!r}")
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing must be 'drop' or 'raise', got {missing!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be an integer >= 0, got {n_bootstrap!r}")
    if not isinstance(unit_effects, (bool, np.bool_)):
        raise ValueError(f"unit_effects must be True or False, got {unit_effects!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
    if n_bootstrap and seed is None:
        seed = int(np.random.SeedSequence().entropy)  # fresh, and recorded on the result
    panel = _as_panel(panel)
    data, notes = _prepare(panel, columns or {}, scales or {}, base)
    lags = _Lags(panel["unit"], panel["period"])
    eqs = _resolve(equations, data)

    specs = [_design(eq, data, lags, panel, unit_effects, missing) for eq in eqs]
    units_all = np.unique(panel["unit"])
    fits = [_fit(spec, unit_effects, cov_type, want_parts=n_bootstrap > 0) for spec in specs]

    ctx = dict(s_ref=base.workforce.reference_satisfaction, c_ref=base.customers.reference_satisfaction,
               w_tol=base.customers.wait_tolerance_minutes, k_spend=base.links.spend_from_satisfaction)
    names, values, blocks, draws_cols, eq_diag = [], [], [], [], []
    observed, fitted_values, used = {}, {}, {}
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed))) if n_bootstrap else None
    weights = (rng.multinomial(units_all.size, np.full(units_all.size, 1.0 / units_all.size),
                               size=n_bootstrap).astype(float) if n_bootstrap else None)
    for spec, fit in zip(specs, fits):
        eq = spec["eq"]
        terms = spec["terms"]
        mapper = _MAPPERS.get(eq.name) if eq in EQUATIONS.values() else None
        local = dict(ctx, y_mean=spec["y_mean"], x_mean=spec["x_mean"])

        def derived(beta, terms=terms, mapper=mapper, local=local):
            b = {t: beta[i] for i, t in enumerate(terms)}
            return mapper(b, local) if mapper else {}

        out = derived(fit["beta"])
        paths = list(out)
        k = len(terms)
        if paths:
            jac = differentiate.jacobian(
                lambda z: np.stack([np.broadcast_to(np.asarray(v, float), np.shape(z[0]))
                                    for v in derived(z).values()]), fit["beta"],
                initial_step=_step(fit["beta"])).df
            jac = np.atleast_2d(jac)
            full_j = np.vstack([np.eye(k), jac])
        else:
            full_j = np.eye(k)
        cov = full_j @ fit["cov"] @ full_j.T
        names += [f"{eq.name}: {t}" for t in terms] + paths
        values += list(fit["beta"]) + [float(v) for v in out.values()]
        blocks.append(cov)
        if n_bootstrap:
            w = weights[:, spec["cluster_units"]]
            bdraws = _bootstrap(spec, fit, w, unit_effects)
            d = derived(bdraws.T)
            draws_cols.append(np.column_stack([bdraws] + [np.broadcast_to(np.asarray(v, float), (n_bootstrap,))
                                                          for v in d.values()]))
        eq_diag.append(dict(name=eq.name, kind=eq.kind, y=spec["y_label"], terms=terms,
                            n_obs=spec["n"], n_units=spec["n_clusters"], n_periods=spec["n_periods"],
                            dropped=spec["dropped"], r2=fit.get("r2"), sigma=fit.get("sigma"),
                            loglik=fit.get("loglik"), converged=fit["converged"],
                            maps_to=paths))
        notes += _equation_notes(eq, spec, fit, unit_effects)
        observed[eq.name], fitted_values[eq.name] = spec["y"], _fitted_values(spec, fit["beta"], unit_effects)
        used[eq.name] = dict(unit=spec["unit"], period=spec["period"],
                             **{t: spec["X"][:, j] for j, t in enumerate(terms) if t != "const"},
                             **({} if spec["exposure"] is None else {"exposure": spec["exposure"]}))
    cov = _block_diag(blocks)
    estimates = dict(zip(names, values))
    overrides, invalid = {}, []
    for name, v in estimates.items():
        if "." not in name or ":" in name:
            continue
        if not np.isfinite(v):
            invalid.append(f"{name} = {v} (not finite)")
            continue
        try:
            base.override({name: float(v)})
        except ParamError as exc:
            invalid.append(str(exc))
            continue
        overrides[name] = float(v)
    for msg in invalid:
        notes.append(f"not applied to params: {msg}")
    dfs = [d["n_units"] - 1 for d in eq_diag] if cov_type == "cluster" else \
        [d["n_obs"] - len(d["terms"]) - (d["n_units"] if unit_effects else 0) for d in eq_diag]
    draws = np.column_stack(draws_cols) if n_bootstrap else None
    method = (("within (unit fixed effects)" if unit_effects else "pooled") + " least squares / Poisson "
              "maximum likelihood by equation; standard errors "
              + ("clustered by unit" if cov_type == "cluster" else "classical")
              + (f"; cluster bootstrap by unit ({n_bootstrap} replicates)" if n_bootstrap else ""))
    return build("links", names, values, cov, df=float(min(dfs)), draws=draws,
                 interval="bootstrap" if n_bootstrap else "wald", overrides=overrides,
                 params=base.override(overrides), value=dict(overrides), n_obs=len(panel),
                 success=all(f["converged"] for f in fits),
                 message="; ".join(f"{s['eq'].name}: {f['message']}" for s, f in zip(specs, fits)
                                   if not f["converged"]),
                 method=method, seed=seed if n_bootstrap else None,
                 observed=observed, fitted=fitted_values, data=used,
                 diagnostics=dict(equations=eq_diag, unit_effects=bool(unit_effects), cov_type=cov_type,
                                  n_units=int(units_all.size), n_bootstrap=int(n_bootstrap),
                                  table=_table(eq_diag), notes=notes))


# ------------------------------------------------------------- mappings
def _phi_delay(phi):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((phi > 0) & (phi < 1), -1.0 / np.log(np.where((phi > 0) & (phi < 1), phi, 0.5)),
                        np.nan)


def _map_es(b, c):
    phi = b["employee_satisfaction[t-1]"]
    out = {"workforce.satisfaction_delay_weeks": _phi_delay(phi)}
    for term, path in (("internal_service_quality", "links.satisfaction_from_internal"),
                       ("recognition", "links.satisfaction_from_recognition"),
                       ("pay_index", "links.satisfaction_from_pay"),
                       ("training_hours", "links.satisfaction_from_training"),
                       ("customer_satisfaction", "links.satisfaction_from_customers")):
        if term in b:
            out[path] = b[term] / (1.0 - phi)
    return out


def _map_turnover(b, c):
    beta = b["employee_satisfaction[t-1]"]
    out = {"links.quit_from_satisfaction": -beta}
    if "const" in b:
        out["workforce.base_quit_rate"] = np.exp(b["const"] + beta * c["s_ref"])
    return out


def _map_productivity(b, c):
    beta = b["employee_satisfaction"]
    level = c["y_mean"] - beta * (c["x_mean"]["employee_satisfaction"] - c["s_ref"])
    return {"links.productivity_from_satisfaction": beta / level}


def _map_quality(b, c):
    out = {"links.quality_from_satisfaction": b["employee_satisfaction[t-1]"]}
    if "skill[t-1]" in b:
        out["links.quality_from_skill"] = b["skill[t-1]"]
    return out


def _map_cs(b, c):
    phi = b["customer_satisfaction[t-1]"]
    out = {"links.value_from_quality": b["service_quality"] / (1.0 - phi)}
    if "wait_time" in b:
        out["links.value_from_wait"] = -b["wait_time"] * c["w_tol"] / (1.0 - phi)
    return out


def _map_retention(b, c):
    beta = b["customer_satisfaction"]
    out = {"links.churn_from_satisfaction": -beta}
    if "const" in b:
        out["customers.base_churn_rate"] = np.exp(b["const"] + beta * c["c_ref"])
    return out


def _map_revenue(b, c):
    return {"links.revisit_from_satisfaction": b["customer_satisfaction[t-1]"] - c["k_spend"]}


_MAPPERS = {"employee_satisfaction": _map_es, "turnover": _map_turnover, "productivity": _map_productivity,
            "service_quality": _map_quality, "customer_satisfaction": _map_cs, "retention": _map_retention,
            "revenue": _map_revenue}


# ------------------------------------------------------------ data prep
def _as_panel(data) -> Panel:
    if isinstance(data, Panel):
        return data
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):
        return Panel.from_frame(data)
    if isinstance(data, Mapping):
        return Panel(data)
    raise DataError(f"panel must be a spchain Panel, a mapping of columns or a pandas DataFrame, "
                    f"got {type(data).__name__}")



def _prepare(panel, columns, scales, base):
    """Working columns under model names: renamed, rescaled, derived counts."""
    notes = []
    available = [c for c in panel.columns if c not in ("unit", "period")]
    for col in scales:
        if col not in panel:
            raise DataError(f"scales: unknown panel column {col!r}{suggest(col, available)}; "
                            f"the panel has {available}")
    for model_name, col in columns.items():
        if col not in panel:
            raise DataError(f"columns: {model_name!r} -> unknown panel column {col!r}"
                            f"{suggest(col, available)}; the panel has {available}")
    data = {}
    for col in available:
        data[col] = np.array(panel[col], float)
    for col, scale in scales.items():
        data[col] = _rescale(col, data[col], scale, base)
        notes.append(f"column {col!r} mapped to the model's 0-1 scale ({_scale_text(scale)})")
    for model_name, col in columns.items():
        data[model_name] = data[col]
    if "quits" not in data and "turnover" in data and "headcount" in data:
        data["quits"] = data["turnover"] * data["headcount"] / 52.0
        notes.append("quits derived as turnover * headcount / 52 (turnover annualised per week)")
    if "customers_start" not in data and "active_customers" in data:
        lags = _Lags(panel["unit"], panel["period"])
        data["customers_start"] = lags.shift(data["active_customers"], 1)
        notes.append("customers_start taken as last period's active_customers")
    if "churned" not in data and "retention" in data and "customers_start" in data:
        with np.errstate(invalid="ignore"):
            data["churned"] = data["customers_start"] * (1.0 - np.clip(data["retention"], 0, 1) ** (1 / 52))
        notes.append("churned derived as customers_start * (1 - retention ** (1/52)) (annualised retention)")
    return data, notes


def _rescale(col, x, scale, base):
    ms = base.measurement
    if isinstance(scale, str):
        ref = base.customers.reference_satisfaction
        if scale == "csat":
            cuts = np.array([ms.csat_cut_2, ms.csat_cut_3, ms.csat_cut_4, ms.csat_cut_5])
            sd = max(ms.csat_noise, 1e-9)
            level = 1.0 + stats.norm.cdf((ref - cuts) / sd).sum()
            slope = stats.norm.pdf((ref - cuts) / sd).sum() / sd
        elif scale == "nps":
            sd = max(ms.ltr_noise, 1e-9)
            m = ms.ltr_intercept + ms.ltr_slope * ref
            level = 100 * (stats.norm.cdf((m - 8.5) / sd) - stats.norm.cdf((6.5 - m) / sd))
            slope = 100 * ms.ltr_slope / sd * (stats.norm.pdf((m - 8.5) / sd) + stats.norm.pdf((6.5 - m) / sd))
        else:
            raise DataError(f"scales[{col!r}] must be (low, high), 'csat' or 'nps', got {scale!r}")
        if slope <= 0:
            raise DataError(f"scales[{col!r}] = {scale!r}: the measurement model is flat at the "
                            f"reference satisfaction, so it cannot be inverted")
        return ref + (x - level) / slope
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise DataError(f"scales[{col!r}] must be (low, high), 'csat' or 'nps', got {scale!r}") from None
    if not hi > lo:
        raise DataError(f"scales[{col!r}] = {scale!r}: high must be greater than low")
    return (x - lo) / (hi - lo)


def _scale_text(scale):
    if scale == "csat":
        return "CSAT 1-5 via the measurement model, linearised at the reference satisfaction"
    if scale == "nps":
        return "NPS points via the measurement model, linearised at the reference satisfaction"
    return f"linear from {tuple(scale)}"


class _Lags:
    """Row index of the same unit's previous period (panel rows sorted by unit, period)."""

    def __init__(self, unit, period):
        same = np.zeros(unit.size, bool)
        same[1:] = (unit[1:] == unit[:-1]) & (period[1:] == period[:-1] + 1)
        self.prev = np.where(same, np.arange(unit.size) - 1, -1)

    def index(self, k):
        idx = np.arange(self.prev.size)
        for _ in range(k):
            idx = np.where(idx >= 0, self.prev[np.maximum(idx, 0)], -1)
        return idx

    def shift(self, x, k):
        idx = self.index(k)
        return np.where(idx >= 0, x[np.maximum(idx, 0)], np.nan)


def _resolve(equations, data):
    if equations is None:
        chosen, why = [], []
        for eq in EQUATIONS.values():
            need = _required_columns(eq)
            lacking = [c for c in need if c not in data]
            if lacking:
                why.append(f"{eq.name} needs {lacking}")
            else:
                chosen.append(eq)
        if not chosen:
            raise DataError("the panel supports none of the chain's equations: " + "; ".join(why)
                            + f". The panel has {sorted(data)}; rename columns with columns={{...}}")
        return chosen
    if isinstance(equations, (str, Equation)):
        equations = [equations]
    out = []
    for e in equations:
        if isinstance(e, str):
            if e not in EQUATIONS:
                raise DataError(f"unknown equation {e!r}{suggest(e, EQUATIONS)}; expected one of "
                                f"{list(EQUATIONS)} or an Equation")
            e = EQUATIONS[e]
        if not isinstance(e, Equation):
            raise DataError(f"equations must be names or Equation objects, got {e!r}")
        lacking = [c for c in _required_columns(e) if c not in data]
        if lacking:
            hints = "".join(suggest(c, data) for c in lacking)
            raise DataError(f"equation {e.name!r} needs column(s) {lacking}{hints}; the panel has "
                            f"{sorted(data)}")
        out.append(e)
    names = [e.name for e in out]
    if len(set(names)) != len(names):
        raise DataError(f"equation names must be unique, got {names}")
    return out


def _required_columns(eq):
    terms = [eq.y, *eq.x] + [t for t in (eq.exposure, eq.per) if t]
    return list(dict.fromkeys(_TERM.match(t).group(1) for t in terms))


def _term(term, data, lags):
    col, k = _TERM.match(term).groups()
    x = data[col]
    return lags.shift(x, int(k)) if k else x


def _design(eq, data, lags, panel, unit_effects, missing):
    """Rows, response, regressors and clusters of one equation, validated."""
    terms = list(eq.x) + [t for t in eq.optional if _TERM.match(t).group(1) in data]
    used = [eq.y, *terms] + [t for t in (eq.exposure, eq.per) if t]
    raw = {t: _term(t, data, lags) for t in used}
    unit, period = panel["unit"], panel["period"]
    # missing values in the data (not the lag boundary)
    dropped = {}
    lag_rows = np.zeros(unit.size, bool)
    ok = np.ones(unit.size, bool)
    for t in used:
        col, k = _TERM.match(t).groups()
        base_nan = ~np.isfinite(data[col])
        if k:
            idx = lags.index(int(k))
            lag_rows |= idx < 0
            nan = np.where(idx >= 0, base_nan[np.maximum(idx, 0)], False)
        else:
            nan = base_nan
        if missing == "raise" and base_nan.any():
            i = int(np.flatnonzero(base_nan)[0])
            raise DataError(f"equation {eq.name!r}: column {col!r} has {int(base_nan.sum())} missing "
                            f"value(s), first at unit {unit[i]}, period {period[i]}; pass "
                            f"missing='drop' to drop those rows")
        if nan.any():
            dropped[col] = dropped.get(col, 0) + int(nan.sum())
        ok &= ~nan
    ok &= ~lag_rows
    y = raw[eq.y].copy()
    y_label = eq.y
    if eq.per:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = y / raw[eq.per]
        y_label = f"{eq.y} / {eq.per}"
    if eq.log:
        bad = ok & ~(y > 0)
        if bad.any():
            dropped["non-positive " + eq.y] = int(bad.sum())
        ok &= y > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(y)
        y_label = f"log({y_label})"
    expo = None
    if eq.kind == "poisson":
        expo = raw[eq.exposure] * eq.exposure_scale
        bad = ok & ~(expo > 0)
        if bad.any():
            dropped["non-positive " + eq.exposure] = int(bad.sum())
        ok &= expo > 0
        neg = ok & (y < 0)
        if neg.any():
            i = int(np.flatnonzero(neg)[0])
            raise DataError(f"equation {eq.name!r}: {eq.y!r} must be a count >= 0; unit {unit[i]}, "
                            f"period {period[i]} has {float(y[i])!r}")
    n = int(ok.sum())
    X = np.column_stack([raw[t][ok] for t in terms]) if terms else np.zeros((n, 0))
    groups_raw = unit[ok]
    cluster_units, groups = np.unique(groups_raw, return_inverse=True)
    all_units = np.unique(unit)
    cluster_idx = np.searchsorted(all_units, cluster_units)
    G = cluster_units.size
    if not unit_effects:
        X = np.column_stack([np.ones(n), X])
        terms = ["const"] + terms
    K = X.shape[1]
    need = K + (G if unit_effects and eq.kind == "ols" else 0) + 1
    if n < need or G < 2:
        raise DataError(f"equation {eq.name!r} has {n} usable row(s) from {G} unit(s) after dropping "
                        f"missing values and the first period(s) of each unit for lags; it needs at least "
                        f"{need} rows from 2 units ({K} coefficient(s)"
                        + (f" plus {G} unit effects" if unit_effects and eq.kind == "ols" else "") + ")")
    spec = dict(eq=eq, terms=terms, y=y[ok], X=X, groups=groups, n_clusters=G, cluster_units=cluster_idx,
                unit=groups_raw, period=period[ok],
                exposure=None if expo is None else expo[ok], n=n, dropped=dropped,
                n_lag_rows=int(lag_rows.sum()), y_label=y_label,
                n_periods=int(np.unique(period[ok]).size),
                y_mean=float(np.mean(y[ok])),
                x_mean={t: float(np.mean(raw[t][ok])) for t in terms if t != "const"})
    _check_design(spec, unit_effects)
    return spec


def _check_design(spec, unit_effects):
    eq, X, g, terms = spec["eq"], spec["X"], spec["groups"], spec["terms"]
    Xw = _demean(X, g, spec["n_clusters"]) if unit_effects else X
    for j, t in enumerate(terms):
        if t == "const":
            continue
        col = X[:, j]
        spread = np.ptp(col) if col.size else 0.0
        if spread == 0 or np.sqrt(np.mean(Xw[:, j] ** 2)) <= 1e-10 * max(1.0, np.abs(col).max()):
            name = _TERM.match(t).group(1)
            if spread == 0:
                raise DataError(f"equation {eq.name!r}: column {name!r} is constant ({float(col[0])!r}) in the "
                                f"rows used; its effect cannot be estimated - drop it from the panel or "
                                f"the equation")
            raise DataError(f"equation {eq.name!r}: column {name!r} does not vary within any unit, so "
                            f"with unit_effects=True its effect is absorbed by the unit effects; pass "
                            f"unit_effects=False or drop the column")
    rank = np.linalg.matrix_rank(Xw)
    if rank < Xw.shape[1]:
        for j in range(1, Xw.shape[1] + 1):
            if np.linalg.matrix_rank(Xw[:, :j]) < j:
                raise DataError(f"equation {eq.name!r}: regressor {terms[j - 1]!r} is collinear with "
                                f"{terms[:j - 1]} in the rows used; drop one of them")
    if eq.kind == "ols":
        y = spec["y"]
        yw = _demean(y[:, None], g, spec["n_clusters"])[:, 0] if unit_effects else y - y.mean()
        if np.allclose(yw, 0):
            raise DataError(f"equation {eq.name!r}: the response {spec['y_label']!r} is constant"
                            + (" within every unit" if unit_effects else ""))


# ---------------------------------------------------------- estimation
def _cross(a, b):
    """``a.T @ b`` for tall arrays, by einsum: BLAS's transposed product can stall when
    its threads compete for busy cores."""
    return np.einsum("ni,nj->ij", a, b)


def _demean(X, g, G, w=None):
    w = np.ones(X.shape[0]) if w is None else w
    tot = np.bincount(g, weights=w, minlength=G)
    means = np.column_stack([np.bincount(g, weights=w * X[:, j], minlength=G) for j in range(X.shape[1])])
    means /= np.where(tot > 0, tot, 1.0)[:, None]
    return X - means[g]


def _fit(spec, unit_effects, cov_type, want_parts=False):
    return _ols(spec, unit_effects, cov_type, want_parts) if spec["eq"].kind == "ols" else \
        _poisson(spec, unit_effects, cov_type)


def _ols(spec, unit_effects, cov_type, want_parts=False):
    X, y, g, G = spec["X"], spec["y"], spec["groups"], spec["n_clusters"]
    if unit_effects:
        X = _demean(X, g, G)
        y = _demean(y[:, None], g, G)[:, 0]
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    n, K = X.shape
    xtx_inv = np.linalg.inv(_cross(X, X))
    dof = n - K - (G if unit_effects else 0)
    if cov_type == "cluster":
        scores = np.column_stack([np.bincount(g, weights=X[:, j] * resid, minlength=G) for j in range(K)])
        corr = G / (G - 1) * (n - 1) / max(n - K, 1)
        cov = corr * xtx_inv @ _cross(scores, scores) @ xtx_inv
    else:
        cov = (resid @ resid / max(dof, 1)) * xtx_inv
    tss = y @ y if unit_effects else ((y - y.mean()) @ (y - y.mean()))
    out = dict(beta=beta, cov=cov, r2=float(1 - resid @ resid / tss) if tss > 0 else math.nan,
               sigma=float(np.sqrt(resid @ resid / max(dof, 1))), converged=True, message="")
    if want_parts:  # per-unit cross products: a bootstrap replicate is then one small solve
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])  # rows are sorted by unit
        out["A_g"] = np.add.reduceat(X[:, :, None] * X[:, None, :], starts, axis=0)
        out["b_g"] = np.add.reduceat(X * y[:, None], starts, axis=0)
    return out


def _poisson_parts(beta, X, y, expo, g, G, w, unit_effects):
    """Log-likelihood, gradient, Hessian and fitted means (conditional Poisson with unit effects)."""
    eta = X @ beta
    if unit_effects:
        # concentrated unit effects: alpha_g = log(sum_g y / sum_g expo * exp(eta))
        m = np.exp(eta - eta.max()) * expo
        Y = np.bincount(g, weights=y, minlength=G)
        M = np.bincount(g, weights=m, minlength=G)
        mu = np.where(M[g] > 0, Y[g] * m / np.where(M[g] > 0, M[g], 1.0), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            logmu = np.where(mu > 0, np.log(np.where(mu > 0, mu, 1.0)), 0.0)
        Xc = _demean(X, g, G, w=mu + 1e-300)
    else:
        logmu = eta + np.log(expo)
        mu = np.exp(logmu)
        Xc = X
    ll = float(np.sum(w * (y * logmu - mu)))
    grad = (w * (y - mu)) @ X
    hess = -_cross(Xc * (w * mu)[:, None], Xc)
    return ll, grad, hess, mu


def _poisson(spec, unit_effects, cov_type, w=None, beta0=None):
    X, y, expo, g, G = spec["X"], spec["y"], spec["exposure"], spec["groups"], spec["n_clusters"]
    w = np.ones(y.size) if w is None else w
    if beta0 is None:
        beta0 = np.zeros(X.shape[1])
        if not unit_effects:
            beta0[0] = math.log(max(np.sum(w * y), 1e-9) / np.sum(w * expo))

    memo = {}

    def parts(b):
        key = b.tobytes()
        if key not in memo:
            memo.clear()
            memo[key] = _poisson_parts(b, X, y, expo, g, G, w, unit_effects)
        return memo[key]

    def fun(b):
        ll, grad, _, _ = parts(b)
        return -ll, -grad

    def hess(b):
        return -parts(b)[2]

    res = optimize.minimize(fun, beta0, jac=True, hess=hess, method="trust-exact",
                            options=dict(gtol=1e-8, maxiter=200))
    beta = res.x
    ll, grad, H, mu = parts(beta)
    try:
        h_inv = np.linalg.inv(-H)
        decrement = float(grad @ h_inv @ grad)  # Newton decrement: ll gain still available
    except np.linalg.LinAlgError:
        h_inv = np.full_like(H, np.nan)
        decrement = math.inf
    converged = bool(res.success) or decrement < 1e-10
    if cov_type == "cluster":
        scores = np.column_stack([np.bincount(g, weights=X[:, j] * (y - mu), minlength=G)
                                  for j in range(X.shape[1])])
        cov = G / (G - 1) * h_inv @ _cross(scores, scores) @ h_inv
    else:
        cov = h_inv
    return dict(beta=beta, cov=cov, loglik=ll, converged=converged,
                message="" if converged else str(res.message))


def _fitted_values(spec, beta, unit_effects):
    """Fitted values of one equation in its rows: least squares with each unit's mean added back
    under unit effects (so ``y - fitted`` are the within residuals); Poisson fitted mean counts."""
    X, y, g, G = spec["X"], spec["y"], spec["groups"], spec["n_clusters"]
    if spec["eq"].kind == "ols":
        if not unit_effects:
            return X @ beta
        return y - (_demean(y[:, None], g, G)[:, 0] - _demean(X, g, G) @ beta)
    return _poisson_parts(beta, X, y, spec["exposure"], g, G, np.ones(y.size), unit_effects)[3]


def _bootstrap(spec, fit, w, unit_effects):
    """Cluster-bootstrap coefficient draws, shape (B, K), for unit weights ``w`` (B, G)."""
    if spec["eq"].kind == "ols":
        A = np.einsum("bg,gij->bij", w, fit["A_g"])
        b = w @ fit["b_g"]
        out = np.full(b.shape, np.nan)
        ok = np.linalg.matrix_rank(A) == A.shape[-1]
        out[ok] = np.linalg.solve(A[ok], b[ok][..., None])[..., 0]
        return out
    draws = np.full((w.shape[0], len(spec["terms"])), np.nan)
    for i, wb in enumerate(w):
        res = _poisson(spec, unit_effects, "classical", w=wb[spec["groups"]], beta0=fit["beta"])
        if res["converged"]:
            draws[i] = res["beta"]
    return draws


def _step(x):
    """Initial finite-difference steps: 1% of each value (at least 1e-4)."""
    return np.maximum(0.01 * np.abs(x), 1e-4)


def _block_diag(blocks):
    k = sum(b.shape[0] for b in blocks)
    out = np.zeros((k, k))
    i = 0
    for b in blocks:
        n = b.shape[0]
        out[i:i + n, i:i + n] = b
        i += n
    return out


def _equation_notes(eq, spec, fit, unit_effects):
    notes = []
    if unit_effects and eq.name in _DYNAMIC:
        phi = fit["beta"][spec["terms"].index(_DYNAMIC[eq.name])]
        T = spec["n_periods"]
        notes.append(f"{eq.name}: the within estimator with a lagged dependent variable is biased by "
                     f"about -(1 + phi)/(T - 1) = {-(1 + phi) / max(T - 1, 1):.3f} here (Nickell 1981), "
                     f"and the mapped links inherit it; with many periods, or with unit_effects=False "
                     f"when observed levers explain the differences between units, it vanishes")
    if spec["n_clusters"] < 30:
        notes.append(f"{eq.name}: only {spec['n_clusters']} units; cluster-robust standard errors are "
                     f"unreliable with fewer than about 30 clusters")
    if spec["dropped"]:
        parts = ", ".join(f"{k}: {v}" for k, v in spec["dropped"].items())
        notes.append(f"{eq.name}: rows dropped for missing or invalid values ({parts})")
    return notes


def _table(eq_diag) -> str:
    lines = [f"{'equation':<24}{'kind':>8}{'rows':>8}{'units':>7}{'R2 / loglik':>14}  maps to"]
    for d in eq_diag:
        stat = f"{d['r2']:.3f}" if d.get("r2") is not None else f"{d['loglik']:.1f}"
        lines.append(f"{d['name']:<24}{d['kind']:>8}{d['n_obs']:>8}{d['n_units']:>7}{stat:>14}  "
                     f"{', '.join(d['maps_to']) or '-'}")
    return "\n".join(lines)
