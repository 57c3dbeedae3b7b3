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
                            customer_satisfaction, overload)                (links.satisfaction_from_workload =
                                                                            -beta / (1 - phi))
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

Two corrections are opt-in (``docs/fitting.md``, "Consistent estimators"):
``estimator="anderson-hsiao"`` estimates the equations with a lagged
dependent variable or a fed-back regressor in first differences with lagged
levels as instruments (Anderson & Hsiao 1981), by two-stage least squares
from ``linearmodels`` (the ``fit`` extra), removing the Nickell bias of the
within estimator; ``isq_smoothing=w`` replaces the weekly ISQ reading by the
smoothed ISQ employees perceive (:func:`perceived`), the errors-in-variables
correction of the first link; ``isq_instruments`` instruments it by
levers that move ISQ.  :class:`Equation` takes ``instruments`` for
two-stage least squares with a second measurement of a noisy regressor.
On the model's own panels the first link is exact with the staff's mean
perceived ISQ as the ISQ column (``perceived_isq``, from the ``"staff"``
records) and ``stable_staff=True`` (the weeks without a quit or a hire).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
from scipy import differentiate, optimize, stats

from .result import DataError, build
from ..panel import Panel
from ..params import ParamError, Params, check_integer, suggest

__all__ = ["Equation", "EQUATIONS", "ESTIMATORS", "fit_links", "maps_like_default", "perceived"]

#: Estimators of :func:`fit_links` (``estimator=``) and what they do.
ESTIMATORS = {
    "ols": "least squares by equation: within (unit effects) or pooled; Poisson maximum likelihood for "
           "counts (Nickell-biased in the two dynamic equations with unit effects)",
    "anderson-hsiao": "first differences with instruments one period further back for the lagged "
                      "dependent variable and the regressors the chain feeds back (Anderson & Hsiao "
                      "1981), two-stage least squares; the other equations as 'ols'",
}

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
    instruments : mapping of str to str or tuple of str
        Least squares: regressors measured with error (or otherwise
        endogenous) and their excluded instruments, e.g. a second,
        independent measurement of the same quantity:
        ``{"internal_service_quality": ("sla_attainment",)}``.  Such an
        equation is estimated by two-stage least squares (``linearmodels``,
        the ``fit`` extra), with the same treatment of unit effects as the
        regressors.  Instrument terms may be lagged.
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
    instruments: tuple = ()

    def __post_init__(self):
        if self.kind not in ("ols", "poisson"):
            raise ValueError(f"Equation {self.name!r}: kind must be 'ols' or 'poisson', got {self.kind!r}")
        if self.kind == "poisson" and self.exposure is None:
            raise ValueError(f"Equation {self.name!r}: a Poisson equation needs an exposure term")
        object.__setattr__(self, "x", tuple(self.x))
        object.__setattr__(self, "optional", tuple(self.optional))
        inst = self.instruments
        pairs = tuple(inst.items()) if isinstance(inst, Mapping) else tuple(inst)
        try:
            pairs = tuple((str(k), (v,) if isinstance(v, str) else tuple(v)) for k, v in pairs)
        except (TypeError, ValueError):
            raise ValueError(f"Equation {self.name!r}: instruments must map a regressor to its instrument "
                             f"term(s), e.g. {{'x': ('z',)}}, got {inst!r}") from None
        object.__setattr__(self, "instruments", pairs)
        if pairs and self.kind != "ols":
            raise ValueError(f"Equation {self.name!r}: instruments are for least-squares equations "
                             f"(kind='ols'), got kind={self.kind!r}")
        for k, v in pairs:
            if k not in (*self.x, *self.optional):
                raise ValueError(f"Equation {self.name!r}: instrumented term {k!r} is not one of its "
                                 f"regressors {[*self.x, *self.optional]}")
            if not v:
                raise ValueError(f"Equation {self.name!r}: regressor {k!r} needs at least one instrument")
        for term in (self.y, *self.x, *self.optional, self.exposure, self.per,
                     *(t for _, v in pairs for t in v)):
            if term is not None and not _TERM.match(term):
                raise ValueError(f"Equation {self.name!r}: term {term!r} must be a column name, "
                                 f"optionally lagged as 'column[t-1]'")
        if not self.x and not self.optional:
            raise ValueError(f"Equation {self.name!r} needs at least one regressor")


#: The chain's structural equations, in chain order (see the module docstring).
EQUATIONS = {e.name: e for e in (
    Equation("employee_satisfaction", "employee_satisfaction",
             ("employee_satisfaction[t-1]", "internal_service_quality"),
             ("recognition", "pay_index", "training_hours", "customer_satisfaction", "overload")),
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

#: Regressors of the default equations that the chain's loop makes depend on the equation's own past
#: errors (service quality -> customer satisfaction -> employee satisfaction -> service quality), so
#: that after first differences they are correlated with the differenced error: the Anderson-Hsiao
#: estimator instruments each with its level one period further back.
_FEEDBACK = {"employee_satisfaction": ("employee_satisfaction[t-1]", "customer_satisfaction"),
             "customer_satisfaction": ("customer_satisfaction[t-1]", "service_quality"),
             "service_quality": ("employee_satisfaction[t-1]",)}


def fit_links(panel, *, equations: Sequence | None = None, unit_effects: bool = True,
              columns: Mapping[str, str] | None = None, scales: Mapping | None = None,
              cov_type: str = "cluster", n_bootstrap: int = 0, seed: int | None = 0,
              missing: str = "drop", params: Params | None = None, estimator: str = "ols",
              isq_smoothing: float | None = None, isq_instruments: Sequence[str] | None = None,
              stable_staff: bool = False):
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
    estimator : {"ols", "anderson-hsiao"}
        ``"ols"`` (default): least squares by equation, within or pooled
        as ``unit_effects`` says (Poisson maximum likelihood for the
        counts).  ``"anderson-hsiao"`` (needs ``unit_effects=True`` and the
        ``fit`` extra, ``linearmodels``): the least-squares equations with a
        lagged dependent variable or a regressor the chain feeds back
        (employee satisfaction, customer satisfaction, service quality) in
        first differences, each such regressor instrumented by its level
        one period further back (Anderson & Hsiao 1981), by two-stage least
        squares with unit-clustered errors: no Nickell bias, wider
        intervals; the other equations as with ``"ols"``.  See
        :data:`ESTIMATORS` and ``docs/fitting.md``.
    isq_smoothing : float in (0, 1], optional
        Errors in variables in the first link.  Employees feel a smoothed
        internal service quality, not one week's reading: with a weight
        ``w`` the employee-satisfaction equation's ``internal_service_quality``
        regressor is replaced by :func:`perceived` (``P[t] = P[t-1] + w
        (ISQ[t] - P[t-1])``, weeks without a reading leave it unchanged).
        For panels simulated by the model pass
        ``params.workforce.isq_smoothing``; ``None`` (default) uses the
        weekly reading as it is, which attenuates the link.
    isq_instruments : sequence of str, optional
        Panel columns that drive internal service quality but not employee
        satisfaction otherwise (levers such as ``tools_spend_per_week``).
        The employee-satisfaction equation's ``internal_service_quality``
        regressor is then instrumented, by two-stage least squares (the
        ``fit`` extra), by each column smoothed with ``isq_smoothing``
        (:func:`perceived`; needs ``isq_smoothing``).  This removes the
        attenuation left after the smoothing on panels simulated by the
        model, where each employee smooths only their own requests (see
        ``docs/fitting.md``).  The mapped links are kept.
    stable_staff : bool
        Estimate the employee-satisfaction equation only on the weeks
        without a quit or a hire (``quits`` is 0 and ``headcount`` equals
        last week's; both columns needed).  Employee satisfaction is a mean
        over the staff in post: in a week a leaver (selected on low
        satisfaction) drops out of it or a hire (at the base satisfaction)
        enters it, last week's mean is not the lagged value of this week's
        staff and the equation does not hold.  With the staff's mean
        perceived ISQ as the ISQ column (``columns={"internal_service_quality":
        "perceived_isq"}`` on a model panel) the equation is then exact.

    Returns
    -------
    FitResult
        ``observed``, ``fitted``, ``residuals`` and ``data`` by equation name
        (see :class:`~spchain.fitting.result.FitResult`).
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
        too few rows or units (for ``"anderson-hsiao"``: too few consecutive
        periods for the lag instruments), constant or collinear regressors,
        ``isq_instruments`` naming a column the panel lacks (or without the
        employee-satisfaction equation), ``stable_staff`` without ``quits``
        and ``headcount``; all before any estimation.
    ParamError
        Unknown ``estimator``, ``isq_smoothing`` outside (0, 1],
        ``isq_instruments`` without ``isq_smoothing`` or not a sequence of
        column names, ``stable_staff`` not a bool or with
        ``estimator="anderson-hsiao"``.

    Examples
    --------
    >>> from spchain.fitting.synthetic import structural_panel
    >>> from spchain.fitting.estimation import fit_links
    >>> fit = fit_links(structural_panel(n_units=60, seed=1), unit_effects=False)
    >>> lo, hi = fit.conf_int()["links.quality_from_satisfaction"]
    >>> bool(lo < 0.5 < hi)
    True
    """
    base, isq_instruments = _check_options(params, cov_type, missing, n_bootstrap, unit_effects, seed, estimator,
                                           isq_smoothing, isq_instruments, stable_staff)
    if n_bootstrap and seed is None:
        seed = int(np.random.SeedSequence().entropy)  # fresh, and recorded on the result
    panel = _as_panel(panel)
    data, notes = _prepare(panel, columns or {}, scales or {}, base)
    lags = _Lags(panel["unit"], panel["period"])
    notes += _smooth_isq(data, panel, isq_smoothing)
    equations = _resolve(equations, data)
    if isq_instruments is not None:
        equations = _instrument_isq(equations, data, panel, isq_instruments, float(isq_smoothing), notes)
    staff_changed = _staff_changes(data, lags, notes) if stable_staff else None
    specs = [_design(eq, data, lags, panel, unit_effects, missing,
                     exclude=staff_changed if eq.name == "employee_satisfaction" else None) for eq in equations]
    specs = [_iv_design(spec, data, lags, panel, unit_effects, estimator)
             if _iv_terms(spec, estimator) else spec for spec in specs]
    all_units = np.unique(panel["unit"])
    fits = [_fit(spec, unit_effects, cov_type, want_parts=n_bootstrap > 0) for spec in specs]

    context = dict(employee_reference=base.workforce.reference_satisfaction,
                   customer_reference=base.customers.reference_satisfaction,
                   wait_tolerance=base.customers.wait_tolerance_minutes,
                   spend_link=base.links.spend_from_satisfaction)
    weights = _bootstrap_weights(all_units.size, n_bootstrap, seed)
    parts = [_equation_estimates(spec, fit, context, weights, unit_effects) for spec, fit in zip(specs, fits)]
    equation_diagnostics = [part["diagnostics"] for part in parts]
    for part in parts:
        notes += part["notes"]
    names = [name for part in parts for name in part["names"]]
    values = [value for part in parts for value in part["values"]]
    overrides = _valid_overrides(dict(zip(names, values)), base, notes)
    dfs = [d["n_units"] - 1 for d in equation_diagnostics] if cov_type == "cluster" else \
        [d["n_obs"] - len(d["terms"]) - (d["n_units"] if unit_effects else 0) for d in equation_diagnostics]
    return build("links", names, values, _block_diag([part["cov"] for part in parts]), df=float(min(dfs)),
                 draws=np.column_stack([part["draws"] for part in parts]) if n_bootstrap else None,
                 interval="bootstrap" if n_bootstrap else "wald", overrides=overrides,
                 params=base.override(overrides), value=dict(overrides), n_obs=len(panel),
                 success=all(f["converged"] for f in fits),
                 message="; ".join(f"{s['eq'].name}: {f['message']}" for s, f in zip(specs, fits)
                                   if not f["converged"]),
                 method=_method_text(specs, unit_effects, isq_smoothing, stable_staff, cov_type, n_bootstrap),
                 seed=seed if n_bootstrap else None,
                 observed={part["name"]: part["observed"] for part in parts},
                 fitted={part["name"]: part["fitted"] for part in parts},
                 data={part["name"]: part["data"] for part in parts},
                 diagnostics=dict(equations=equation_diagnostics, unit_effects=bool(unit_effects),
                                  cov_type=cov_type, estimator=estimator,
                                  isq_smoothing=None if isq_smoothing is None else float(isq_smoothing),
                                  isq_instruments=None if isq_instruments is None else list(isq_instruments),
                                  stable_staff=bool(stable_staff),
                                  n_units=int(all_units.size), n_bootstrap=int(n_bootstrap),
                                  table=_table(equation_diagnostics), notes=notes))


# ---------------------------------------------------------- fit_links' steps
def _check_options(params, cov_type, missing, n_bootstrap, unit_effects, seed, estimator, isq_smoothing,
                   isq_instruments, stable_staff):
    """The base ``Params`` and ``isq_instruments`` as a tuple (or None), after checking every option."""
    base = Params() if params is None else params
    if not isinstance(base, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(base).__name__}")
    if cov_type not in ("cluster", "classical"):
        raise ValueError(f"cov_type must be 'cluster' or 'classical', got {cov_type!r}")
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing must be 'drop' or 'raise', got {missing!r}")
    check_integer("n_bootstrap", n_bootstrap, 0, error=ValueError)
    if not isinstance(unit_effects, (bool, np.bool_)):
        raise ValueError(f"unit_effects must be True or False, got {unit_effects!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        raise ParamError(f"estimator: unknown value {estimator!r}"
                         f"{suggest(estimator, ESTIMATORS) if isinstance(estimator, str) else ''}; "
                         f"expected one of {list(ESTIMATORS)}")
    if estimator == "anderson-hsiao" and not unit_effects:
        raise ParamError("estimator='anderson-hsiao' removes the unit effects by first differences; it needs "
                         "unit_effects=True (pooled estimation has no Nickell bias: use estimator='ols')")
    if isq_smoothing is not None and (isinstance(isq_smoothing, bool)
                                      or not isinstance(isq_smoothing, (int, float, np.floating))
                                      or not 0 < isq_smoothing <= 1):
        raise ParamError(f"isq_smoothing must be a weight in (0, 1] or None, got {isq_smoothing!r}")
    if isq_instruments is not None:
        isq_instruments = _check_isq_instruments(isq_instruments, isq_smoothing)
    if not isinstance(stable_staff, (bool, np.bool_)):
        raise ParamError(f"stable_staff must be True or False, got {stable_staff!r}")
    if stable_staff and estimator == "anderson-hsiao":
        raise ParamError("stable_staff=True selects weeks for an equation in levels; first differences "
                         "(estimator='anderson-hsiao') span two weeks: use estimator='ols'")
    return base, isq_instruments


def _check_isq_instruments(isq_instruments, isq_smoothing) -> tuple:
    if isinstance(isq_instruments, str):
        isq_instruments = (isq_instruments,)
    try:
        isq_instruments = tuple(isq_instruments)
    except TypeError:
        raise ParamError(f"isq_instruments must be a sequence of column names, got {isq_instruments!r}") from None
    if not isq_instruments or not all(isinstance(c, str) and _TERM.match(c) and "[" not in c
                                       for c in isq_instruments):
        raise ParamError(f"isq_instruments must be a non-empty sequence of column names, "
                         f"got {isq_instruments!r}")
    if isq_smoothing is None:
        raise ParamError(f"isq_instruments={list(isq_instruments)!r} instruments the smoothed ISQ: it needs "
                         f"isq_smoothing (for panels simulated by the model, workforce.isq_smoothing)")
    return isq_instruments


def _smooth_isq(data, panel, isq_smoothing) -> list:
    """Replace ``data``'s ISQ column by the smoothed ISQ employees perceive; the notes saying so."""
    if isq_smoothing is None:
        return []
    if "internal_service_quality" not in data:
        return ["isq_smoothing has no effect: the panel has no internal_service_quality column"]
    data["internal_service_quality"] = perceived(data["internal_service_quality"], panel["unit"],
                                                 panel["period"], float(isq_smoothing))
    return [f"internal_service_quality: the smoothed ISQ employees perceive, weight "
            f"{float(isq_smoothing):g} on each week's reading (errors-in-variables correction)"]


def _instrument_isq(equations, data, panel, isq_instruments, isq_smoothing, notes) -> list:
    """The equations with the default employee-satisfaction one instrumenting its ISQ regressor by the
    smoothed ``isq_instruments`` columns (added to ``data`` as ``<column>_perceived``)."""
    lacking = [c for c in isq_instruments if c not in data]
    if lacking:
        raise DataError(f"isq_instruments: column(s) {lacking} not in the panel"
                        f"{''.join(suggest(c, data) for c in lacking)}; the panel has {sorted(data)}")
    default = EQUATIONS["employee_satisfaction"]
    if default not in equations:
        raise DataError("isq_instruments instruments the default employee_satisfaction equation, "
                        "which is not among the equations fitted")
    smoothed = []
    for column in isq_instruments:
        name = f"{column}_perceived"
        data[name] = perceived(data[column], panel["unit"], panel["period"], isq_smoothing)
        smoothed.append(name)
    instrumented = Equation(default.name, default.y, default.x, default.optional,
                            instruments={"internal_service_quality": tuple(smoothed)})
    notes.append(f"internal_service_quality (smoothed) instrumented by {list(isq_instruments)} smoothed the "
                 f"same way ({', '.join(smoothed)}): two-stage least squares")
    return [instrumented if eq is default else eq for eq in equations]


def _staff_changes(data, lags, notes) -> np.ndarray:
    """Rows of the weeks with a quit or a hire (``stable_staff=True`` leaves them out)."""
    lacking = [c for c in ("quits", "headcount") if c not in data]
    if lacking:
        raise DataError(f"stable_staff=True needs the column(s) {lacking} (the weeks with a quit or a "
                        f"hire are left out); the panel has {sorted(data)}")
    with np.errstate(invalid="ignore"):
        changed = (data["quits"] > 0) | (data["headcount"] != lags.shift(data["headcount"], 1))
    notes.append("employee_satisfaction: estimated on the weeks without a quit or a hire (stable_staff=True; "
                 "the rows left out are counted as 'staff changes' below)")
    return changed


def _bootstrap_weights(n_units, n_bootstrap, seed):
    """Cluster-bootstrap weights, shape (n_bootstrap, n_units): how often each unit is drawn (None: no bootstrap)."""
    if not n_bootstrap:
        return None
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_bootstrap).astype(float)


def _equation_estimates(spec, fit, context, weights, unit_effects) -> dict:
    """One equation's share of the result: coefficients and mapped parameters, their covariance
    (delta method), bootstrap draws, diagnostics, notes and the rows it used."""
    eq, terms = spec["eq"], spec["terms"]
    mapper = _MAPPERS.get(eq.name) if maps_like_default(eq) else None
    local = dict(context, y_mean=spec["y_mean"], x_mean=spec["x_mean"])

    def derived(beta):
        coefficients = {t: beta[i] for i, t in enumerate(terms)}
        return mapper(coefficients, local) if mapper else {}

    mapped = derived(fit["beta"])
    paths = list(mapped)
    k = len(terms)
    if paths:
        jac = differentiate.jacobian(
            lambda z: np.stack([np.broadcast_to(np.asarray(v, float), np.shape(z[0]))
                                for v in derived(z).values()]), fit["beta"],
            initial_step=_step(fit["beta"])).df
        full_jacobian = np.vstack([np.eye(k), np.atleast_2d(jac)])
    else:
        full_jacobian = np.eye(k)
    draws = None
    if weights is not None:
        coefficient_draws = _bootstrap(spec, fit, weights[:, spec["cluster_units"]], unit_effects)
        draws = np.column_stack([coefficient_draws]
                                + [np.broadcast_to(np.asarray(v, float), (weights.shape[0],))
                                   for v in derived(coefficient_draws.T).values()])
    diagnostics = dict(name=eq.name, kind=eq.kind, y=spec["y_label"], terms=terms,
                       n_obs=spec["n"], n_units=spec["n_clusters"], n_periods=spec["n_periods"],
                       dropped=spec["dropped"], r2=fit.get("r2"), sigma=fit.get("sigma"),
                       loglik=fit.get("loglik"), converged=fit["converged"],
                       maps_to=paths, estimator=_eq_method(spec, unit_effects),
                       instruments=spec["iv"]["instruments"] if "iv" in spec else {},
                       first_stage_f=fit.get("first_stage_f", {}))
    rows = dict(unit=spec["unit"], period=spec["period"],
                **{t: spec["X"][:, j] for j, t in enumerate(terms) if t != "const"},
                **({} if spec["exposure"] is None else {"exposure": spec["exposure"]}))
    return dict(name=eq.name, names=[f"{eq.name}: {t}" for t in terms] + paths,
                values=list(fit["beta"]) + [float(v) for v in mapped.values()],
                cov=full_jacobian @ fit["cov"] @ full_jacobian.T, draws=draws, diagnostics=diagnostics,
                notes=_equation_notes(eq, spec, fit, unit_effects), observed=spec["y"],
                fitted=_fitted_values(spec, fit["beta"], unit_effects), data=rows)


def _valid_overrides(estimates, base, notes) -> dict:
    """The mapped parameters (dotted names) that are valid model values; a note for each other one."""
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
    return overrides


def _method_text(specs, unit_effects, isq_smoothing, stable_staff, cov_type, n_bootstrap) -> str:
    ivs = [f"{s['eq'].name}: {_eq_method(s, unit_effects)}" for s in specs if "iv" in s]
    return (("within (unit fixed effects)" if unit_effects else "pooled") + " least squares / Poisson "
            "maximum likelihood by equation"
            + (f"; instrumental variables ({'; '.join(ivs)})" if ivs else "")
            + (f"; ISQ smoothed (weight {float(isq_smoothing):g})" if isq_smoothing is not None else "")
            + ("; employee satisfaction on the weeks without a quit or a hire" if stable_staff else "")
            + "; standard errors "
            + ("clustered by unit" if cov_type == "cluster" else "classical")
            + (f"; cluster bootstrap by unit ({n_bootstrap} replicates)" if n_bootstrap else ""))


# ------------------------------------------------------------- mappings
def _phi_delay(phi):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((phi > 0) & (phi < 1), -1.0 / np.log(np.where((phi > 0) & (phi < 1), phi, 0.5)),
                        np.nan)


def _map_employee_satisfaction(coef, context):
    phi = coef["employee_satisfaction[t-1]"]
    out = {"workforce.satisfaction_delay_weeks": _phi_delay(phi)}
    for term, path in (("internal_service_quality", "links.satisfaction_from_internal"),
                       ("recognition", "links.satisfaction_from_recognition"),
                       ("pay_index", "links.satisfaction_from_pay"),
                       ("training_hours", "links.satisfaction_from_training"),
                       ("customer_satisfaction", "links.satisfaction_from_customers")):
        if term in coef:
            out[path] = coef[term] / (1.0 - phi)
    if "overload" in coef:  # the target falls by k_load * max(0, work pressure - reference)
        out["links.satisfaction_from_workload"] = -coef["overload"] / (1.0 - phi)
    return out


def _hazard_mapper(term, link, base_rate, reference):
    """The mapping of a Poisson hazard equation: ``link = -beta`` (the coefficient of ``term``) and,
    pooled, ``base_rate = exp(const + beta * reference)`` (the annual rate at the reference level)."""
    def mapper(coef, context):
        beta = coef[term]
        out = {link: -beta}
        if "const" in coef:
            out[base_rate] = np.exp(coef["const"] + beta * context[reference])
        return out
    return mapper


def _map_productivity(coef, context):
    beta = coef["employee_satisfaction"]
    mean_satisfaction = context["x_mean"]["employee_satisfaction"]
    level = context["y_mean"] - beta * (mean_satisfaction - context["employee_reference"])
    return {"links.productivity_from_satisfaction": beta / level}


def _map_quality(coef, context):
    out = {"links.quality_from_satisfaction": coef["employee_satisfaction[t-1]"]}
    if "skill[t-1]" in coef:
        out["links.quality_from_skill"] = coef["skill[t-1]"]
    return out


def _map_customer_satisfaction(coef, context):
    phi = coef["customer_satisfaction[t-1]"]
    out = {"links.value_from_quality": coef["service_quality"] / (1.0 - phi)}
    if "wait_time" in coef:
        out["links.value_from_wait"] = -coef["wait_time"] * context["wait_tolerance"] / (1.0 - phi)
    return out


def _map_revenue(coef, context):
    return {"links.revisit_from_satisfaction": coef["customer_satisfaction[t-1]"] - context["spend_link"]}


_MAPPERS = {"employee_satisfaction": _map_employee_satisfaction,
            "turnover": _hazard_mapper("employee_satisfaction[t-1]", "links.quit_from_satisfaction",
                                       "workforce.base_quit_rate", "employee_reference"),
            "productivity": _map_productivity, "service_quality": _map_quality,
            "customer_satisfaction": _map_customer_satisfaction,
            "retention": _hazard_mapper("customer_satisfaction", "links.churn_from_satisfaction",
                                        "customers.base_churn_rate", "customer_reference"),
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
    if "overload" not in data and "work_pressure" in data:
        with np.errstate(invalid="ignore"):
            over = np.maximum(0.0, data["work_pressure"] - base.workforce.reference_utilisation)
        if np.count_nonzero(over > 0):  # otherwise the term would be a constant 0
            data["overload"] = over
            notes.append(f"overload = max(0, work_pressure - {base.workforce.reference_utilisation:g}) "
                         f"(workforce.reference_utilisation), the work pressure above the level that hurts: "
                         f"{int(np.count_nonzero(over > 0))} rows above it")
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
    measurement = base.measurement
    if isinstance(scale, str):
        ref = base.customers.reference_satisfaction
        if scale == "csat":
            cuts = np.array([measurement.csat_cut_2, measurement.csat_cut_3, measurement.csat_cut_4,
                             measurement.csat_cut_5])
            sd = max(measurement.csat_noise, 1e-9)
            level = 1.0 + stats.norm.cdf((ref - cuts) / sd).sum()
            slope = stats.norm.pdf((ref - cuts) / sd).sum() / sd
        elif scale == "nps":
            sd = max(measurement.ltr_noise, 1e-9)
            m = measurement.ltr_intercept + measurement.ltr_slope * ref
            level = 100 * (stats.norm.cdf((m - 8.5) / sd) - stats.norm.cdf((6.5 - m) / sd))
            slope = 100 * measurement.ltr_slope / sd * (stats.norm.pdf((m - 8.5) / sd) + stats.norm.pdf((6.5 - m) / sd))
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


def maps_like_default(eq) -> bool:
    """Whether an equation's coefficients map onto model parameters as a default equation's do.

    True for the equations of :data:`EQUATIONS` and for an :class:`Equation`
    that differs from the default of its name only in ``instruments``
    (estimating the same regression by two-stage least squares), e.g.
    ``dataclasses.replace(EQUATIONS["employee_satisfaction"],
    instruments={"employee_satisfaction[t-1]": ("employee_satisfaction[t-2]",)})``.

    Parameters
    ----------
    eq : Equation

    Returns
    -------
    bool
    """
    default = EQUATIONS.get(eq.name)
    return default is not None and replace(eq, instruments=default.instruments) == default


def _resolve(equations, data):
    """The equations to fit: names resolved, each checked for its columns; by default every default
    equation whose columns ``data`` has."""
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
    for equation in equations:
        if isinstance(equation, str):
            if equation not in EQUATIONS:
                raise DataError(f"unknown equation {equation!r}{suggest(equation, EQUATIONS)}; expected one "
                                f"of {list(EQUATIONS)} or an Equation")
            equation = EQUATIONS[equation]
        if not isinstance(equation, Equation):
            raise DataError(f"equations must be names or Equation objects, got {equation!r}")
        lacking = [c for c in _required_columns(equation) if c not in data]
        if lacking:
            hints = "".join(suggest(c, data) for c in lacking)
            raise DataError(f"equation {equation.name!r} needs column(s) {lacking}{hints}; the panel has "
                            f"{sorted(data)}")
        out.append(equation)
    names = [equation.name for equation in out]
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


def _design(eq, data, lags, panel, unit_effects, missing, exclude=None):
    """Rows, response, regressors and clusters of one equation, validated (``exclude``: rows to leave out)."""
    terms = list(eq.x) + [t for t in eq.optional if _TERM.match(t).group(1) in data]
    used = [eq.y, *terms] + [t for t in (eq.exposure, eq.per) if t]
    raw = {t: _term(t, data, lags) for t in used}
    unit, period = panel["unit"], panel["period"]
    ok, dropped, lag_rows = _usable_rows(eq, data, lags, used, unit, period, missing, exclude)
    y, y_label, exposure, ok = _transformed_response(eq, raw, ok, dropped, unit, period)
    n = int(ok.sum())
    # the derived overload term is left out where it never leaves 0 in the rows used (a user's column is not)
    terms = [t for t in terms if t != "overload" or t in eq.x or (n and np.ptp(raw[t][ok]) > 0)]
    X = np.column_stack([raw[t][ok] for t in terms]) if terms else np.zeros((n, 0))
    row_units = unit[ok]
    cluster_units, groups = np.unique(row_units, return_inverse=True)
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
    spec = dict(eq=eq, terms=terms, y=y[ok], X=X, groups=groups, n_clusters=G,
                cluster_units=np.searchsorted(np.unique(unit), cluster_units), unit=row_units, period=period[ok],
                exposure=None if exposure is None else exposure[ok], n=n, dropped=dropped,
                n_lag_rows=int(lag_rows.sum()), y_label=y_label, exclude=exclude,
                n_periods=int(np.unique(period[ok]).size),
                y_mean=float(np.mean(y[ok])),
                x_mean={t: float(np.mean(raw[t][ok])) for t in terms if t != "const"})
    _check_design(spec, unit_effects)
    return spec


def _usable_rows(eq, data, lags, used, unit, period, missing, exclude):
    """``(ok, dropped, lag_rows)``: the rows where every term of ``used`` has a value, past each unit's
    first period(s) for lags and outside ``exclude``; rows dropped by column; rows without a lag."""
    dropped = {}
    lag_rows = np.zeros(unit.size, bool)
    ok = np.ones(unit.size, bool)
    for t in used:
        col, k = _TERM.match(t).groups()
        base_nan = ~np.isfinite(data[col])  # missing values in the data (not the lag boundary)
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
    if exclude is not None:
        left_out = ok & exclude
        if left_out.any():
            dropped["staff changes"] = int(left_out.sum())
        ok &= ~exclude
    return ok, dropped, lag_rows


def _transformed_response(eq, raw, ok, dropped, unit, period):
    """``(y, y_label, exposure, ok)``: the response after ``per`` and ``log``, the scaled Poisson
    exposure (None for least squares), and ``ok`` without the rows they make invalid."""
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
        ok = ok & (y > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(y)
        y_label = f"log({y_label})"
    exposure = None
    if eq.kind == "poisson":
        exposure = raw[eq.exposure] * eq.exposure_scale
        bad = ok & ~(exposure > 0)
        if bad.any():
            dropped["non-positive " + eq.exposure] = int(bad.sum())
        ok = ok & (exposure > 0)
        negative = ok & (y < 0)
        if negative.any():
            i = int(np.flatnonzero(negative)[0])
            raise DataError(f"equation {eq.name!r}: {eq.y!r} must be a count >= 0; unit {unit[i]}, "
                            f"period {period[i]} has {float(y[i])!r}")
    return y, y_label, exposure, ok


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


def perceived(x, unit, period, weight):
    """Exponentially smoothed reading per unit: what employees perceive of a weekly measure.

    ``P[t] = P[t-1] + weight * (x[t] - P[t-1])``, starting from each unit's
    first finite reading (and again after a gap in the periods); a week
    without a reading (NaN) leaves ``P`` unchanged, as the model does for
    an employee with no internal request resolved that week.

    Parameters
    ----------
    x : array_like
        The weekly readings, rows sorted by unit and period.
    unit, period : array_like of int
        Unit and period of each row.
    weight : float
        Weight of this week's reading, in (0, 1] (the model's
        ``workforce.isq_smoothing``).

    Returns
    -------
    ndarray
        The smoothed series; NaN before a unit's first reading.

    Examples
    --------
    >>> perceived([1.0, 0.0, float("nan"), 0.0], [0, 0, 0, 0], [0, 1, 2, 3], 0.5)
    array([1.  , 0.5 , 0.5 , 0.25])
    """
    x = np.asarray(x, float)
    unit, period = np.asarray(unit), np.asarray(period)
    if not 0 < weight <= 1:
        raise ValueError(f"weight must be in (0, 1], got {weight!r}")
    if x.shape != unit.shape or x.shape != period.shape or x.ndim != 1:
        raise ValueError(f"x, unit and period must be 1-D of one length, got shapes {x.shape}, "
                         f"{unit.shape}, {period.shape}")
    prev = _Lags(unit, period).prev
    out = np.full(x.size, np.nan)
    p = math.nan
    for i, v in enumerate(x.tolist()):  # a recursion: one pass over the rows
        if prev[i] < 0:
            p = math.nan
        if v == v:  # a reading
            p = v if p != p else p + weight * (v - p)
        out[i] = p
    return out


def _iv_terms(spec, estimator):
    """Instrumented terms of one equation -> their instrument terms (empty: not an IV equation)."""
    eq = spec["eq"]
    terms = [t for t in spec["terms"] if t != "const"]
    out = {k: v for k, v in eq.instruments if k in terms}
    if estimator == "anderson-hsiao" and eq.kind == "ols":
        ycol = _TERM.match(eq.y).group(1)
        feedback = _FEEDBACK.get(eq.name, ()) if eq in EQUATIONS.values() else ()
        for t in terms:
            col, k = _TERM.match(t).groups()
            if t not in out and (t in feedback or (col == ycol and k)):
                out[t] = (f"{col}[t-{int(k or 0) + 1}]",)
    return out


def _response(eq, data, lags):
    y = _term(eq.y, data, lags)
    with np.errstate(divide="ignore", invalid="ignore"):
        if eq.per:
            y = y / _term(eq.per, data, lags)
        if eq.log:
            y = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), np.nan)
    return y


def _iv_design(spec, data, lags, panel, unit_effects, estimator):
    """The rows and transformed arrays of an instrumental-variables equation (validated)."""
    eq = spec["eq"]
    instrumented = _iv_terms(spec, estimator)
    first_differences = estimator == "anderson-hsiao"
    transform = "fd" if first_differences else ("within" if unit_effects else "pooled")
    level_instruments = ({z for t, zs in instrumented.items() for z in zs if t not in dict(eq.instruments)}
                         if first_differences else set())  # the lag instruments, in levels
    _check_instrument_columns(eq, instrumented, data)
    terms = [t for t in spec["terms"] if t != "const"]
    y_lvl, x_lvl, y_t, x_t, z_t = _iv_series(eq, data, lags, terms, instrumented, first_differences,
                                             level_instruments)
    ok = np.isfinite(y_lvl) & np.isfinite(y_t)
    for arr in (*x_lvl.values(), *x_t.values(), *z_t.values()):
        ok &= np.isfinite(arr)
    if spec.get("exclude") is not None:
        ok &= ~spec["exclude"]
    unit, period = panel["unit"], panel["period"]
    n = int(ok.sum())
    cluster_units, groups = np.unique(unit[ok], return_inverse=True)
    G = cluster_units.size
    z_names = list(dict.fromkeys(z for zs in instrumented.values() for z in zs))
    endogenous = [terms.index(t) for t in instrumented]
    exogenous = [j for j in range(len(terms)) if j not in endogenous]
    X = np.column_stack([x_t[t][ok] for t in terms])
    Z_excluded = np.column_stack([z_t[z][ok] for z in z_names])
    y = y_t[ok]
    X_lvl = np.column_stack([x_lvl[t][ok] for t in terms])
    max_lag = max(int(_TERM.match(t).group(2) or 0)
                  for t in (eq.y, *terms, *z_names, *([eq.per] if eq.per else [])))
    if transform == "pooled":
        X, X_lvl = np.column_stack([np.ones(n), X]), np.column_stack([np.ones(n), X_lvl])
        endogenous, exogenous = [j + 1 for j in endogenous], [0] + [j + 1 for j in exogenous]
        terms = ["const"] + terms
    K = X.shape[1]
    if n < K + 1 or G < 2:
        # a first-difference row needs its deepest lag one period further back, unless that lag is an
        # instrument in levels
        periods = max_lag + 1 + (not any(z in level_instruments for z in z_names))
        need = (f"; first differences with instruments one period further back need at least "
                f"{periods} consecutive periods per unit") if first_differences else ""
        raise DataError(f"equation {eq.name!r} ({_eq_method(dict(spec, iv=dict(transform=transform)), unit_effects)})"
                        f" has {n} usable row(s) from {G} unit(s) after lags, differences and missing values; "
                        f"it needs at least {K + 1} rows from 2 units{need}")
    if transform == "within":
        X, y = _demean(X, groups, G), _demean(y[:, None], groups, G)[:, 0]
        Z_excluded = _demean(Z_excluded, groups, G)
    Z = np.column_stack([X[:, exogenous], Z_excluded])
    if len(z_names) < len(endogenous) or np.linalg.matrix_rank(_cross(Z, X)) < K:
        raise DataError(f"equation {eq.name!r}: the instruments {z_names} do not identify the instrumented "
                        f"regressor(s) {list(instrumented)} (too few, or collinear with the other regressors)")
    y_raw = y_lvl[ok]
    return dict(spec, terms=terms, y=y_raw, X=X_lvl, groups=groups, n_clusters=G,
                cluster_units=np.searchsorted(np.unique(unit), cluster_units), unit=unit[ok], period=period[ok],
                n=n, n_periods=int(np.unique(period[ok]).size), y_mean=float(np.mean(y_raw)),
                x_mean={t: float(np.mean(X_lvl[:, j])) for j, t in enumerate(terms) if t != "const"},
                y_label=("d " if first_differences else "") + spec["y_label"],
                iv=dict(y=y, X=X, Z=Z_excluded, exog=exogenous, endog=endogenous, transform=transform,
                        instruments={terms[j]: list(instrumented[terms[j]]) for j in endogenous}))


def _check_instrument_columns(eq, instrumented, data):
    for t, zs in instrumented.items():
        for z in zs:
            col = _TERM.match(z).group(1)
            if col not in data:
                raise DataError(f"equation {eq.name!r}: instrument {z!r} for {t!r} needs column {col!r}"
                                f"{suggest(col, data)}; the panel has {sorted(data)}")


def _iv_series(eq, data, lags, terms, instrumented, first_differences, level_instruments):
    """``(y, x, y_t, x_t, z_t)``: the response and regressors in levels, and the response, regressors
    and instruments as estimated (first differences, but lag instruments in levels), by row."""
    y_lvl = _response(eq, data, lags)
    x_lvl = {t: _term(t, data, lags) for t in terms}
    z_lvl = {z: _term(z, data, lags) for zs in instrumented.values() for z in zs}
    if not first_differences:
        return y_lvl, x_lvl, y_lvl, x_lvl, z_lvl

    def diff(v):
        return v - lags.shift(v, 1)

    z_t = {z: (v if z in level_instruments else diff(v)) for z, v in z_lvl.items()}
    return y_lvl, x_lvl, diff(y_lvl), {t: diff(v) for t, v in x_lvl.items()}, z_t


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
    if "iv" in spec:
        return _tsls(spec, cov_type, want_parts)
    return _ols(spec, unit_effects, cov_type, want_parts) if spec["eq"].kind == "ols" else \
        _poisson(spec, unit_effects, cov_type)


def _tsls(spec, cov_type, want_parts=False):
    """Two-stage least squares on the transformed rows of an IV spec (``linearmodels.iv.IV2SLS``).

    Clustered errors use linearmodels' small-sample factor ``G/(G-1) (n-1)/(n-K)`` (``debiased=True``),
    the same as :func:`_ols`; classical errors on within-transformed rows are rescaled to the
    ``n - K - G`` residual degrees of freedom.
    """
    try:
        from linearmodels.iv import IV2SLS
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("instrumental-variables estimation needs linearmodels: "
                          "pip install 'spchain[fit]'") from exc
    iv = spec["iv"]
    y, X, Z_excluded, g, G = iv["y"], iv["X"], iv["Z"], spec["groups"], spec["n_clusters"]
    exogenous, endogenous = iv["exog"], iv["endog"]
    model = IV2SLS(y, X[:, exogenous] if exogenous else None, X[:, endogenous], Z_excluded)
    if cov_type == "cluster":
        result = model.fit(cov_type="clustered", clusters=g, debiased=True)
    else:
        result = model.fit(cov_type="unadjusted", debiased=True)
    order = np.argsort(np.array(exogenous + endogenous))  # linearmodels orders exogenous, then endogenous columns
    beta = np.asarray(result.params)[order]
    cov = np.asarray(result.cov)[np.ix_(order, order)]
    n, K = X.shape
    if cov_type != "cluster" and iv["transform"] == "within":
        cov = cov * (n - K) / max(n - K - G, 1)
    resid = y - X @ beta
    dof = n - K - (G if iv["transform"] == "within" else 0)
    tss = y @ y if iv["transform"] != "pooled" else (y - y.mean()) @ (y - y.mean())
    first = {spec["terms"][j]: _first_stage_f(X[:, j], X[:, exogenous], Z_excluded, g, G, cov_type) for j in endogenous}
    out = dict(beta=beta, cov=cov, r2=float(1 - resid @ resid / tss) if tss > 0 else math.nan,
               sigma=float(np.sqrt(resid @ resid / max(dof, 1))), converged=True, message="",
               resid=resid, first_stage_f=first)
    if want_parts:  # per-unit cross products for the bootstrap's 2SLS replicates
        Z = np.column_stack([X[:, exogenous], Z_excluded])
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        out["A_g"] = np.add.reduceat(Z[:, :, None] * X[:, None, :], starts, axis=0)
        out["b_g"] = np.add.reduceat(Z * y[:, None], starts, axis=0)
        out["C_g"] = np.add.reduceat(Z[:, :, None] * Z[:, None, :], starts, axis=0)
    return out


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


def _first_stage_f(x, exog, excluded, g, G, cov_type):
    """Wald statistic / q that the q excluded instruments do not move ``x`` given the exogenous regressors
    (first-stage F; clustered by unit like the estimate, the Kleibergen-Paap-type robust version)."""
    Z = np.column_stack([exog, excluded])
    zz_inv = np.linalg.pinv(_cross(Z, Z))
    b = zz_inv @ (Z.T @ x)
    e = x - Z @ b
    n, k = Z.shape
    if cov_type == "cluster":
        scores = np.column_stack([np.bincount(g, weights=Z[:, j] * e, minlength=G) for j in range(k)])
        cov = G / (G - 1) * (n - 1) / max(n - k, 1) * zz_inv @ _cross(scores, scores) @ zz_inv
    else:
        cov = (e @ e / max(n - k, 1)) * zz_inv
    q = excluded.shape[1]
    sel = slice(k - q, k)
    try:
        stat = float(b[sel] @ np.linalg.solve(cov[sel, sel], b[sel]))
    except np.linalg.LinAlgError:
        return math.nan
    return stat / q


def _poisson_parts(beta, X, y, exposure, g, G, w, unit_effects):
    """Log-likelihood, gradient, Hessian and fitted means (conditional Poisson with unit effects)."""
    eta = X @ beta
    if unit_effects:
        # concentrated unit effects: alpha_g = log(sum_g y / sum_g exposure * exp(eta))
        m = np.exp(eta - eta.max()) * exposure
        Y = np.bincount(g, weights=y, minlength=G)
        M = np.bincount(g, weights=m, minlength=G)
        mu = np.where(M[g] > 0, Y[g] * m / np.where(M[g] > 0, M[g], 1.0), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            logmu = np.where(mu > 0, np.log(np.where(mu > 0, mu, 1.0)), 0.0)
        Xc = _demean(X, g, G, w=mu + 1e-300)
    else:
        logmu = eta + np.log(exposure)
        mu = np.exp(logmu)
        Xc = X
    ll = float(np.sum(w * (y * logmu - mu)))
    grad = (w * (y - mu)) @ X
    hess = -_cross(Xc * (w * mu)[:, None], Xc)
    return ll, grad, hess, mu


def _poisson(spec, unit_effects, cov_type, w=None, beta0=None):
    X, y, exposure, g, G = spec["X"], spec["y"], spec["exposure"], spec["groups"], spec["n_clusters"]
    w = np.ones(y.size) if w is None else w
    if beta0 is None:
        beta0 = np.zeros(X.shape[1])
        if not unit_effects:
            beta0[0] = math.log(max(np.sum(w * y), 1e-9) / np.sum(w * exposure))

    memo = {}

    def parts(b):
        key = b.tobytes()
        if key not in memo:
            memo.clear()
            memo[key] = _poisson_parts(b, X, y, exposure, g, G, w, unit_effects)
        return memo[key]

    def fun(b):
        ll, grad, _, _ = parts(b)
        return -ll, -grad

    def hess(b):
        return -parts(b)[2]

    result = optimize.minimize(fun, beta0, jac=True, hess=hess, method="trust-exact",
                            options=dict(gtol=1e-8, maxiter=200))
    beta = result.x
    ll, grad, H, mu = parts(beta)
    try:
        h_inv = np.linalg.inv(-H)
        decrement = float(grad @ h_inv @ grad)  # Newton decrement: ll gain still available
    except np.linalg.LinAlgError:
        h_inv = np.full_like(H, np.nan)
        decrement = math.inf
    converged = bool(result.success) or decrement < 1e-10
    if cov_type == "cluster":
        scores = np.column_stack([np.bincount(g, weights=X[:, j] * (y - mu), minlength=G)
                                  for j in range(X.shape[1])])
        cov = G / (G - 1) * h_inv @ _cross(scores, scores) @ h_inv
    else:
        cov = h_inv
    return dict(beta=beta, cov=cov, loglik=ll, converged=converged,
                message="" if converged else str(result.message))


def _fitted_values(spec, beta, unit_effects):
    """Fitted values of one equation in its rows: least squares with each unit's mean added back
    under unit effects (so ``y - fitted`` are the within residuals); Poisson fitted mean counts."""
    X, y, g, G = spec["X"], spec["y"], spec["groups"], spec["n_clusters"]
    if "iv" in spec:  # y - fitted = the transformed (within or first-difference) residuals
        iv = spec["iv"]
        return y - (iv["y"] - iv["X"] @ beta)
    if spec["eq"].kind == "ols":
        if not unit_effects:
            return X @ beta
        return y - (_demean(y[:, None], g, G)[:, 0] - _demean(X, g, G) @ beta)
    return _poisson_parts(beta, X, y, spec["exposure"], g, G, np.ones(y.size), unit_effects)[3]


def _bootstrap(spec, fit, w, unit_effects):
    """Cluster-bootstrap coefficient draws, shape (B, K), for unit weights ``w`` (B, G)."""
    if "C_g" in fit:  # 2SLS: (A' C^-1 A)^-1 A' C^-1 b with A = Z'X, C = Z'Z, b = Z'y reweighted by unit
        A = np.einsum("bg,gij->bij", w, fit["A_g"])
        C = np.einsum("bg,gij->bij", w, fit["C_g"])
        b = w @ fit["b_g"]
        out = np.full((w.shape[0], A.shape[-1]), np.nan)
        ok = (np.linalg.matrix_rank(C) == C.shape[-1]) & (np.linalg.matrix_rank(A) == A.shape[-1])
        if ok.any():
            CiA = np.linalg.solve(C[ok], A[ok])
            Cib = np.linalg.solve(C[ok], b[ok][..., None])
            At = np.swapaxes(A[ok], -1, -2)
            out[ok] = np.linalg.solve(At @ CiA, At @ Cib)[..., 0]
        return out
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
    if "iv" in spec:
        inst = "; ".join(f"{t} by {', '.join(z)}" for t, z in spec["iv"]["instruments"].items())
        notes.append(f"{eq.name}: {_eq_method(spec, unit_effects)}, instrumenting {inst}")
        weak = {t: f for t, f in fit.get("first_stage_f", {}).items() if not f >= 10}
        if weak:
            notes.append(f"{eq.name}: weak instrument(s), first-stage F "
                         + ", ".join(f"{t} {f:.1f}" for t, f in weak.items())
                         + " (below 10): the estimate leans toward least squares and its interval is "
                           "unreliable (Staiger & Stock 1997)")
    elif unit_effects and eq.name in _DYNAMIC:
        phi = fit["beta"][spec["terms"].index(_DYNAMIC[eq.name])]
        T = spec["n_periods"]
        notes.append(f"{eq.name}: the within estimator with a lagged dependent variable is biased by "
                     f"about -(1 + phi)/(T - 1) = {-(1 + phi) / max(T - 1, 1):.3f} here (Nickell 1981), "
                     f"and the mapped links inherit it; with many periods, or with unit_effects=False "
                     f"when observed levers explain the differences between units, it vanishes; "
                     f"estimator='anderson-hsiao' has none (wider intervals)")
    if spec["n_clusters"] < 30:
        notes.append(f"{eq.name}: only {spec['n_clusters']} units; cluster-robust standard errors are "
                     f"unreliable with fewer than about 30 clusters")
    if spec["dropped"]:
        parts = ", ".join(f"{k}: {v}" for k, v in spec["dropped"].items())
        notes.append(f"{eq.name}: rows dropped for missing or invalid values ({parts})")
    return notes


def _eq_method(spec, unit_effects):
    if "iv" not in spec:
        if spec["eq"].kind == "poisson":
            return "conditional Poisson" if unit_effects else "Poisson"
        return "within least squares" if unit_effects else "pooled least squares"
    return {"fd": "first-difference 2SLS (Anderson-Hsiao)", "within": "within 2SLS",
            "pooled": "pooled 2SLS"}[spec["iv"]["transform"]]


def _table(equations) -> str:
    lines = [f"{'equation':<24}{'kind':>8}{'rows':>8}{'units':>7}{'R2 / loglik':>14}  maps to"]
    for equation in equations:
        stat = f"{equation['r2']:.3f}" if equation.get("r2") is not None else f"{equation['loglik']:.1f}"
        lines.append(f"{equation['name']:<24}{equation['kind']:>8}{equation['n_obs']:>8}"
                     f"{equation['n_units']:>7}{stat:>14}  "
                     f"{', '.join(equation['maps_to']) or '-'}")
    return "\n".join(lines)
