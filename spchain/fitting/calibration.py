"""Calibration by simulation: :func:`calibrate` and its :class:`Target` statistics.

Free parameters (dotted paths with bounds; everything else held) are chosen
so that statistics of simulated runs match targets: the simulated method of
moments.  Every evaluation runs the same replication seeds (common random
numbers), and an intervention is always compared with its baseline on the
same seed, so the objective is a deterministic, nearly smooth function of
the parameters that ``scipy.optimize`` can minimise (bounded Nelder-Mead by
default; Powell or ``least_squares`` on request).

The objective is :math:`Q(\\theta) = \\sum_j ((\\bar m_j(\\theta) - t_j)/s_j)^2` with
:math:`\\bar m_j` the replication mean of statistic *j*, :math:`t_j` its
target and :math:`s_j` its ``sd``.  Uncertainty is the sandwich of the
simulated method of moments: with :math:`G` the Jacobian of the simulated
moments (central differences at the optimum, on the same seeds),
:math:`W = \\mathrm{diag}(1/s^2)` and
:math:`\\Omega = \\mathrm{diag}(s^2) + S/R` (target uncertainty plus the
simulation noise of *R* replications, *S* the full covariance matrix of the
statistics across replications at the optimum: statistics of the same runs
are correlated),
:math:`V = (G'WG)^{-1} G'W\\Omega WG (G'WG)^{-1}`.  The standard errors are
only as meaningful as the ``sd`` of the targets: give each target the
standard error of the observed statistic.  When ``sd`` is omitted it is set
to the spread of the statistic between replications at the starting point,
i.e. the target is treated as one organisation's worth of data.

A calibration succeeds only when every target is met: ``z = (simulated -
target) / sqrt(sd^2 + mc_se^2)`` within ``tolerance`` (default 2) for each
statistic, whatever the optimiser says (its own verdict is
``diagnostics["converged"]``); over-identified fits add the misfit
:math:`J = r'\\Omega^{-1} r` with an approximate chi-square p-value, and
every fit an identifiability report (rank and condition number of the
Jacobian, the free parameters the targets pin down).  ``maxfev`` bounds
every simulated parameter point, finite differences included.

Besides KPI levels, series and intervention effects, targets can be what
unit-level studies report for one organisation (Harter, Schmidt & Hayes
2002; Heskett et al. 1994; Evanschitzky et al. 2011; Brown & Lam 2008):
correlations across its units, quintile contrasts, ratios of slopes between
split samples, or any statistic of a run a user supplies; and what
customer-level loyalty studies report (Jones & Sasser 1995): the retention
of customers who gave one survey answer over that of customers who gave
another, from the runs' per-event records.
:func:`evaluate_target` computes a target's per-replication values on given
runs exactly as :func:`calibrate` does.

A long calibration runs where an experiment runs and survives as one does:
``workers=`` (a local process pool) or ``executor=`` (any
:class:`concurrent.futures.Executor`, a Dask cluster's included) go through
:func:`spchain.experiments.experiment.execute`, and ``store=`` commits each simulated
point's per-replication statistics to a
:class:`spchain.experiments.store.CalibrationStore` as soon as it finishes, keyed by the
calibration's definition (:func:`calibration_definition`) and the exact
parameter vector.  Called again with that store, the optimiser replays its
deterministic path from the stored points and continues where it stopped;
the result is the same bit for bit serially, on a pool, on Dask and resumed.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import operator
import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy import optimize, stats

from ..experiments.experiment import check_executor, execute, process_pool
from .result import DataError, build, format_estimate
from ..metrics import METRICS
from ..params import Change, ParamError, Params, check_integer, suggest
from ..records import RECORDS
from ..experiments.store import CalibrationStore, definition_hash, point_id

__all__ = ["Target", "calibrate", "calibration_definition", "evaluate_target", "sears_targets"]


@dataclass(frozen=True, eq=False)
class Target:
    """A statistic of simulated runs and the value it should take.

    Build targets with the constructors :meth:`series`, :meth:`mean`,
    :meth:`correlation`, :meth:`effect`, and for what unit-level studies
    report :meth:`quintile_ratio`, :meth:`slope_ratio` and (anything else)
    :meth:`statistic`, for customer-level studies :meth:`retention_ratio`;
    ``sears_targets`` builds the Sears chain's effect sizes.

    Attributes
    ----------
    name : str
        Label in tables.
    kind : str
        ``"series"``, ``"correlation"``, ``"effect"``, ``"quintile_ratio"``,
        ``"slope_ratio"``, ``"statistic"`` or ``"retention_ratio"``.
    metric : str or None
        KPI of :data:`spchain.METRICS` (quintile and slope ratios: the
        outcome *y*); None for a user statistic and a retention ratio.
    value : ndarray
        Target value(s); NaN entries (missing months) are skipped.
    sd : ndarray or None
        Standard error of each target value (None: set from the simulation
        noise at the starting point).
    windows : tuple of (int, int)
        Week windows ``[start, stop)`` over which the KPI is aggregated
        exactly (ratios of summed fields, as :meth:`RunResult.total`).
    unit : int or None
        A unit's KPI instead of the organisation's.
    other : str or None
        Correlation: the second KPI.  Effect: the KPI whose effect divides
        this one (``per``).  Slope ratio: the regressor *x*.
    by : str or None
        Quintile ratio: the KPI that ranks the units.  Slope ratio: the KPI
        whose median splits them.
    top : str or None
        Quintile ratio: ``"high"`` or ``"low"``, the quintile of ``by`` whose
        mean outcome is the numerator.
    function : callable or None
        User statistic: ``function(result) -> float`` for one replication's
        :class:`spchain.RunResult`.
    answers : tuple of int
        Retention ratio: the CSAT answers ``(top, base)`` whose customers'
        retention is the numerator and the denominator.
    within : int or None
        Retention ratio: weeks of follow-up after an answer.
    changes : tuple of Change
        Effect: the intervention, compared on the same seeds with the
        baseline.
    relative_to : (int, int) or None
        Effect: divide the difference by the baseline's KPI over this
        window (a growth difference when the windows have equal length).
    scale : float
        Effect: multiply the statistic (e.g. 100 for percentage points).
    """

    name: str
    kind: str
    metric: str | None
    value: np.ndarray
    sd: np.ndarray | None = None
    windows: tuple = ()
    unit: int | None = None
    other: str | None = None
    changes: tuple = ()
    relative_to: tuple | None = None
    scale: float = 1.0
    by: str | None = None
    top: str | None = None
    function: Callable | None = None
    answers: tuple = ()
    within: int | None = None

    # --------------------------------------------------------- builders
    @classmethod
    def series(cls, metric: str, values, *, every: int = 1, start: int = 0,
               windows: Sequence | None = None, unit: int | None = None, sd=None,
               name: str | None = None) -> "Target":
        """A KPI time series, e.g. a client's monthly turnover.

        Parameters
        ----------
        metric : str
            KPI name (``"turnover"``, ``"csat"``, ``"revenue"``...).
        values : array_like
            One target per block; NaN for a missing block.
        every : int
            Weeks per block (4 for four-week months, 13 for quarters),
            consecutive from ``start``.
        windows : sequence of (int, int), optional
            Explicit ``[start, stop)`` week windows instead (calendar months).
        unit : int, optional
            Match one unit's series instead of the organisation's.
        sd : float or array_like, optional
            Standard error of each value.
        """
        v = _values(metric, values)
        if windows is None:
            check_integer("every", every, 1, error=ValueError)
            check_integer("start", start, 0, error=ValueError)
            windows = tuple((start + i * every, start + (i + 1) * every) for i in range(v.size))
        else:
            windows = tuple((int(a), int(b)) for a, b in windows)
            if len(windows) != v.size:
                raise DataError(f"target {metric!r}: {v.size} values but {len(windows)} windows")
        return cls(name=name or f"{metric} series", kind="series", metric=_metric(metric), value=v,
                   sd=_sd(metric, sd, v.size), windows=_windows(metric, windows), unit=unit)

    @classmethod
    def mean(cls, metric: str, value: float, *, start: int = 0, stop: int | None = None,
             unit: int | None = None, sd=None, name: str | None = None) -> "Target":
        """A KPI over one window (``stop=None``: to the end of the horizon)."""
        v = _values(metric, [value])
        return cls(name=name or f"{metric} mean", kind="series", metric=_metric(metric), value=v,
                   sd=_sd(metric, sd, 1), windows=(_window(metric, start, stop),), unit=unit)

    @classmethod
    def correlation(cls, x: str, y: str, value: float, *, start: int = 0, stop: int | None = None,
                    sd=None, name: str | None = None) -> "Target":
        """Correlation across the units of one organisation of two KPIs over a window.

        Each unit's KPIs are totalled over ``[start, stop)`` (ratios of
        summed fields, as :meth:`RunResult.total`), e.g. unit employee
        satisfaction with unit profit over weeks 13-52, the business-unit
        correlations of Harter, Schmidt & Hayes (2002).  The Pearson
        correlation is computed per replication over the units whose two
        KPIs are defined, and averaged over replications; a replication with
        fewer than 3 such units, or a KPI constant across them, gives NaN.
        Units differ by the organisation's heterogeneity
        (``organisation.*_sd``) and by their own histories (turnover,
        vacancies, customers).  Needs ``organisation.n_units >= 3``.

        Parameters
        ----------
        x, y : str
            KPI names.
        value : float
            Target correlation in [-1, 1].
        start, stop : int
            Weeks ``[start, stop)``; ``stop=None``: to the end of the horizon.
        sd : float, optional
            Standard error of ``value`` (about ``(1 - r**2) / sqrt(n)`` for *n* units).
        name : str, optional
            Label in tables.
        """
        v = _values(f"correlation({x}, {y})", [value])
        if not -1 <= v[0] <= 1:
            raise DataError(f"target correlation({x}, {y}) must be in [-1, 1], got {value!r}")
        return cls(name=name or f"corr({x}, {y})", kind="correlation", metric=_metric(x), other=_metric(y),
                   value=v, sd=_sd(x, sd, 1), windows=(_window(f"correlation({x}, {y})", start, stop),))

    @classmethod
    def effect(cls, metric: str, value: float, *, changes: Sequence[Change], start: int,
               stop: int | None = None, per: str | None = None, relative_to: tuple | None = None,
               scale: float = 1.0, sd=None, name: str | None = None) -> "Target":
        """The effect of an intervention on a KPI, from paired runs on the same seeds.

        ``effect = scale * (KPI_with - KPI_without)`` over ``[start, stop)``;
        with ``relative_to=(a, b)`` the difference is divided by the
        baseline's KPI over ``[a, b)`` (a difference in growth rates); with
        ``per="employee_satisfaction"`` it is divided by that KPI's effect
        over the same window (an effect size per unit of another).
        """
        if isinstance(changes, Change):
            changes = (changes,)
        changes = tuple(changes)
        if not changes or not all(isinstance(c, Change) for c in changes):
            raise DataError(f"target effect on {metric!r}: changes must be one or more spchain.Change")
        if relative_to is not None:
            relative_to = tuple(int(v) for v in relative_to)
            _windows(metric, (relative_to,))
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale == 0:
            raise DataError(f"target effect on {metric!r}: scale must be a non-zero number, got {scale!r}")
        v = _values(metric, [value])
        return cls(name=name or f"effect on {metric}" + (f" per {per}" if per else ""), kind="effect",
                   metric=_metric(metric), value=v, sd=_sd(metric, sd, 1),
                   windows=(_window(metric, start, stop),),
                   other=None if per is None else _metric(per), changes=changes,
                   relative_to=relative_to, scale=float(scale))

    @classmethod
    def quintile_ratio(cls, by: str, y: str, value: float, *, top: str = "high", start: int = 0,
                       stop: int | None = None, sd=None, name: str | None = None) -> "Target":
        """Mean of KPI ``y`` over one quintile of units ranked by ``by``, over that of the other.

        The quintile contrasts of unit-level studies, e.g. the sales of the
        units in the lowest-turnover quintile over those of the
        highest-turnover quintile: ``quintile_ratio("turnover", "revenue",
        1.1, top="low")``.  Each unit's KPIs are totalled over ``[start,
        stop)``; of the *n* units whose two KPIs are defined, a quintile is
        the ``n // 5`` with the highest (lowest) ``by``, units tied at its
        boundary sharing the remaining places equally, so the statistic does
        not depend on the units' order.  In each replication the numerator
        and the denominator are the two quintiles' mean ``y``; the statistic
        is the ratio of their means over replications (stable when one
        replication's bottom quintile is small), its Monte Carlo standard
        error by the delta method, as for an effect ``per`` another KPI.
        Needs ``organisation.n_units >= 5``.

        Parameters
        ----------
        by : str
            KPI that ranks the units.
        y : str
            KPI whose quintile means are compared.
        value : float
            Target ratio.
        top : {"high", "low"}
            Which quintile of ``by`` is the numerator: ``"high"`` (top
            quintile over bottom) or ``"low"`` (bottom over top).
        start, stop : int
            Weeks ``[start, stop)``; ``stop=None``: to the end of the horizon.
        sd : float, optional
            Standard error of ``value``.
        name : str, optional
            Label in tables.
        """
        label = f"quintile_ratio({by}, {y})"
        if top not in ("high", "low"):
            raise DataError(f"target {label}: top must be 'high' or 'low', got {top!r}")
        v = _values(label, [value])
        other = "low" if top == "high" else "high"
        return cls(name=name or f"{y}: {top} over {other} {by} quintile", kind="quintile_ratio",
                   metric=_metric(y), by=_metric(by), top=top, value=v, sd=_sd(label, sd, 1),
                   windows=(_window(label, start, stop),))

    @classmethod
    def slope_ratio(cls, x: str, y: str, split_by: str, value: float, *, start: int = 0,
                    stop: int | None = None, sd=None, name: str | None = None) -> "Target":
        """Slope of ``y`` on ``x`` across units above the median of ``split_by``, over that below.

        A moderation as unit-level studies report it (Evanschitzky et al.
        2011): e.g. the slope of profit on customer satisfaction among the
        units with above-median employee satisfaction over the slope among
        those below.  Each unit's KPIs are totalled over ``[start, stop)``;
        of the *n* units whose three KPIs are defined, the upper half is the
        ``n // 2`` with the highest ``split_by`` and the lower half the
        ``n // 2`` with the lowest (an odd *n* leaves the median unit out;
        units tied at the median share the remaining places as weights), and
        each half's slope is the (weighted) least-squares slope of ``y`` on
        ``x``.  The statistic is the ratio of the two slopes' means over
        replications, its Monte Carlo standard error by the delta method (a
        ratio of single replications' slopes is unstable when the lower
        slope is near 0).  Needs ``organisation.n_units >= 4``.

        Parameters
        ----------
        x, y : str
            Regressor and outcome KPIs.
        split_by : str
            KPI whose median splits the units (the moderator).
        value : float
            Target ratio of the upper half's slope to the lower half's.
        start, stop : int
            Weeks ``[start, stop)``; ``stop=None``: to the end of the horizon.
        sd : float, optional
            Standard error of ``value``.
        name : str, optional
            Label in tables.
        """
        label = f"slope_ratio({x}, {y}, {split_by})"
        v = _values(label, [value])
        return cls(name=name or f"slope({y} on {x}): high over low {split_by}", kind="slope_ratio",
                   metric=_metric(y), other=_metric(x), by=_metric(split_by), value=v,
                   sd=_sd(label, sd, 1), windows=(_window(label, start, stop),))

    @classmethod
    def statistic(cls, name: str, function: Callable, value: float, *, sd=None) -> "Target":
        """Any statistic of a run: ``function(result) -> float``, averaged over replications.

        ``function`` receives each baseline replication's
        :class:`spchain.RunResult` (the runs without interventions) and
        returns one number; NaN marks a replication where it is undefined
        (the simulated statistic is then NaN).  :func:`calibrate` computes
        statistics in the calling process, also when an ``executor`` runs
        the replications elsewhere, so ``function`` may be a lambda or a
        closure; it is called once per replication and parameter point, so
        keep it fast, and deterministic: common random numbers rely on it.

        Parameters
        ----------
        name : str
            Label in tables.
        function : callable
            ``function(result: RunResult) -> float``.
        value : float
            Target value.
        sd : float, optional
            Standard error of ``value``.

        Examples
        --------
        The share of units whose turnover exceeds 50% a year:

        >>> share = Target.statistic(
        ...     "high-turnover units", lambda r: np.mean([r.total("turnover", start=13, unit=u) > 0.5
        ...                                               for u in range(r.n_units)]), 0.2, sd=0.1)
        """
        if not isinstance(name, str) or not name:
            raise DataError(f"target statistic: name must be a non-empty string, got {name!r}")
        if not callable(function):
            raise DataError(f"target {name!r}: function must be callable (result -> float), got {function!r}")
        v = _values(name, [value])
        return cls(name=name, kind="statistic", metric=None, function=function, value=v, sd=_sd(name, sd, 1))

    @classmethod
    def retention_ratio(cls, value: float, *, top: int = 5, base: int = 4, within: int = 26,
                        start: int = 0, stop: int | None = None, sd=None,
                        name: str | None = None) -> "Target":
        """Retention of customers who answered CSAT ``top`` over that of those who answered ``base``.

        What loyalty studies report at the customer level: Jones & Sasser
        (1995) found "totally satisfied" customers (the top box, 5) far more
        loyal than merely satisfied ones (4).  From each replication's
        per-event survey and churn records (:func:`calibrate` asks the runs
        for them; :func:`evaluate_target` needs runs made with
        ``record=("surveys", "churn")``):

        1. a customer's **first** survey answer in weeks ``[start, stop)``
           puts it in a group (``top``, ``base`` or neither); answers too
           close to the horizon to follow up, week ``w > horizon - within``,
           are left out;
        2. the customer is **retained** if it did not churn in weeks ``w``
           to ``w + within - 1`` (a churn at the end of the answer's own
           week counts as a defection);
        3. per replication, the share retained in each group; the statistic
           is the ratio of the two shares' means over replications, its Monte
           Carlo standard error by the delta method (as for
           :meth:`quintile_ratio`); a replication where a group is empty
           gives NaN.

        A record's ``customer`` is a slot of the unit's customer base, reused
        by a new customer from the week after a churn (docs/model.md 4.5), so
        a customer is a unit, a slot and the number of that slot's churns
        before the answer; an answer in the week after its slot churned is
        the defected customer's last visit (already under way at the churn)
        and is left out.

        Parameters
        ----------
        value : float
            Target ratio (> 0; above 1 when the ``top`` answers stay more).
        top, base : int
            CSAT answers (1-5, different) of the numerator's and the
            denominator's customers.
        within : int
            Weeks of follow-up after an answer (>= 1).
        start, stop : int
            Weeks ``[start, stop)`` of the answers; ``stop=None``: to the end
            of the horizon.  The horizon must reach ``start + within``.
        sd : float, optional
            Standard error of ``value``.
        name : str, optional
            Label in tables.

        Raises
        ------
        DataError
            ``top`` or ``base`` not an integer in 1-5 or equal, ``within``
            below 1, a bad window or value; (in :func:`calibrate`) a window
            or follow-up beyond the horizon.

        Examples
        --------
        Customers answering 5 stay 12% more often through the half year
        after their answer than those answering 4:

        >>> t = Target.retention_ratio(1.12, within=26, start=8, sd=0.03)
        >>> t.name, t.records
        ('retention 26 weeks: CSAT 5 over 4', ('surveys', 'churn'))
        """
        label = f"retention_ratio(top={top!r}, base={base!r})"
        for arg, v in (("top", top), ("base", base)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 5:
                raise DataError(f"target {label}: {arg} must be a CSAT answer, an integer in 1-5, got {v!r}")
        if top == base:
            raise DataError(f"target {label}: top and base must be different answers, got {top!r} for both")
        if isinstance(within, bool) or not isinstance(within, (int, np.integer)) or within < 1:
            raise DataError(f"target {label}: within must be an integer >= 1 (weeks), got {within!r}")
        v = _values(label, [value])
        if not v[0] > 0:
            raise DataError(f"target {label}: value must be a positive ratio, got {value!r}")
        return cls(name=name or f"retention {within} weeks: CSAT {top} over {base}", kind="retention_ratio",
                   metric=None, value=v, sd=_sd(label, sd, 1), windows=(_window(label, start, stop),),
                   answers=(int(top), int(base)), within=int(within))

    @property
    def n_values(self) -> int:
        return int(self.value.size)

    @property
    def records(self) -> tuple:
        """Per-event record kinds the target's runs must keep (``()``: none)."""
        return ("surveys", "churn") if self.kind == "retention_ratio" else ()


def sears_targets(params: Params, *, at_week: int = 26, settle_weeks: int = 13, weeks: int = 26,
                  lever: str = "workforce.base_satisfaction", rise: float = 0.05,
                  sd_customer: float = 0.05 / 5, sd_growth: float = 0.05) -> list:
    """The Sears employee-customer-profit chain as two effect-size targets.

    Rucci, Kirn & Quinn (HBR 1998): a 5-unit rise in employee attitude went
    with a 1.3-unit rise in customer impression and a 0.5 percentage-point
    rise in revenue growth.  Here an intervention raises ``lever`` by
    ``rise`` (default: the employees' baseline satisfaction by 5 points on
    0-100) at ``at_week``; effects are measured over the ``weeks`` weeks
    starting ``settle_weeks`` after it, on the same seeds with and without
    the intervention:

    1. customer satisfaction effect / employee satisfaction effect = 1.3 / 5
       (both on the model's 0-1 scale, which the 0-100 survey scale maps onto);
    2. revenue growth effect per 5 points of employee satisfaction = 0.5 pp,
       where the growth effect is ``100 * (R_with - R_without) / R_pre``
       (revenue over the measurement window, relative to the baseline's
       revenue over the ``weeks`` weeks before the intervention; equal
       windows make it a difference in growth rates), divided by the
       employee satisfaction effect over 0.05.

    The published figures are rounded to one decimal, so the default
    ``sd`` are that rounding precision (half a unit of the last digit) on
    each statistic's scale.  The horizon must reach
    ``at_week + settle_weeks + weeks``.
    """
    if not isinstance(params, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(params).__name__}")
    check_integer("at_week", at_week, 1, error=ValueError)
    check_integer("weeks", weeks, 1, error=ValueError)
    check_integer("settle_weeks", settle_weeks, 0, error=ValueError)
    if weeks > at_week:
        raise DataError(f"sears_targets: weeks ({weeks}) must not exceed at_week ({at_week}): revenue "
                        f"growth compares with the weeks before the intervention")
    if isinstance(rise, bool) or not isinstance(rise, (int, float)) or not rise > 0:
        raise DataError(f"sears_targets: rise must be a positive number, got {rise!r}")
    value = params.get(lever)
    change = Change(at_week=at_week, path=lever, value=value + rise)
    params.with_changes(change).at_week(at_week)  # validates the raised value
    start, stop = at_week + settle_weeks, at_week + settle_weeks + weeks
    return [
        Target.effect("customer_satisfaction", 1.3 / 5, changes=[change], start=start, stop=stop,
                      per="employee_satisfaction", sd=sd_customer,
                      name="Sears: customer impression per employee attitude (1.3/5)"),
        Target.effect("revenue", 0.5, changes=[change], start=start, stop=stop,
                      per="employee_satisfaction", relative_to=(at_week - weeks, at_week),
                      scale=100.0 * 0.05, sd=sd_growth,
                      name="Sears: revenue growth pp per 5 points of employee attitude (0.5)"),
    ]


def calibrate(params: Params, *, free: Mapping[str, tuple], targets: Sequence[Target], horizon: int = 52,
              n_replications: int = 4, seed: int = 0, method: str = "Nelder-Mead",
              x0: Mapping[str, float] | None = None, maxfev: int = 200, xtol: float = 1e-3,
              jacobian_step: float = 0.05, tolerance: float = 2.0, standard_errors: bool = True,
              workers: int | None = None, executor=None, store=None):
    """Find free parameter values whose simulated statistics match the targets.

    Parameters
    ----------
    params : Params
        The model; every parameter not in ``free`` is held at its value.
    free : mapping of str to (float, float)
        Dotted paths of continuous parameters and their bounds.
    targets : sequence of Target
        Statistics to match (see :class:`Target` and :func:`sears_targets`).
        The runs keep the per-event records a target needs
        (:attr:`Target.records`, e.g. a :meth:`Target.retention_ratio`'s
        surveys and churn) and no others.
    horizon : int
        Weeks per run; must cover every target window.
    n_replications : int
        Replications per evaluation (>= 2, for the simulation noise); the
        same seeds at every evaluation (common random numbers).
    seed : int
        Replication *i* runs with ``SeedSequence(seed, spawn_key=(i,))``, the
        seed :class:`spchain.Experiment` gives its replication *i*.
    method : {"Nelder-Mead", "Powell", "least_squares"}
        Derivative-free Nelder-Mead (default; bounds enforced by the sine
        transformation ``theta = lo + (hi - lo)(1 + sin z)/2``, as MINUIT
        and lmfit do) or bounded Powell from ``scipy.optimize.minimize``, or
        ``scipy.optimize.least_squares`` (trust region, finite differences
        of 5% of each range) on the standardised residuals.  Parameters are
        optimised on ranges rescaled to [0, 1].
    x0 : mapping of str to float, optional
        Starting values, each within its bounds (else :class:`ParamError`,
        before any simulation); default: the value in ``params`` (the
        middle of the range when that lies outside).
    maxfev : int
        Most distinct parameter points the optimiser simulates, its
        finite-difference points included (each point is
        ``n_replications`` runs per scenario).  When the budget runs out the
        best point simulated is reported, ``diagnostics["converged"]`` is
        False and so is ``success``.  The standard errors add at most
        ``2 * len(free)`` points on top (central differences; fewer where a
        step is clipped onto the estimate at a bound).
    xtol : float
        Convergence tolerance on the rescaled [0, 1] parameters.
    jacobian_step : float
        Step of the central differences for the standard errors, as a
        share of each range.
    tolerance : float
        Largest ``|z|`` of a met target (default 2).  ``success`` is False,
        and ``message`` names the missed targets, when any target's ``|z|``
        exceeds it, even if the optimiser converged.
    standard_errors : bool
        False skips the ``2 * len(free)`` extra points of the standard
        errors: ``std_errors``, ``cov`` and ``conf_int()`` are then NaN (no
        error is raised, so ``summary()`` and ``to_dict()`` still work).
    workers : int, optional
        Run each point's replications on a local pool of this many
        processes (``spawn``, started once for the whole calibration and
        shut down at its end); ``None`` or 1 runs serially.  The same
        executor code as :meth:`spchain.experiments.experiment.Experiment.run`
        (:func:`spchain.experiments.experiment.execute`).
    executor : concurrent.futures.Executor, optional
        Runs the replications of each point instead, e.g. a Dask cluster's
        ``client.get_executor(pure=False)``; not shut down.  Give
        ``workers`` or ``executor``, not both.  The runs' results come back
        to this process, which computes every target's statistic (so a
        :meth:`Target.statistic` function need not be picklable).  The
        result is the same bit for bit serially, on a pool and on Dask.
    store : str or Path, optional
        SQLite file (:class:`spchain.experiments.store.CalibrationStore`) that receives
        every simulated point's per-replication statistics as soon as its
        last run finishes, one transaction per point (a point is stored
        whole or not at all).  Calling ``calibrate`` again with the same
        store and the same definition -- base parameters, free paths,
        the targets' statistics, horizon, seeds, spchain version and the
        engine's sample-path version -- reads the points already simulated
        instead of simulating them: the optimiser follows the same
        deterministic path, so an interrupted calibration resumes where it
        stopped and a finished one is replayed without a run, with the
        same result bit for bit.  ``method``, ``x0``, bounds, ``maxfev``
        and the targets' values and ``sd`` are not part of the definition
        (they do not change a point's statistics): a re-run with another
        budget or target value reuses every point it meets.  A store of
        another definition is refused, naming the differences.

    Returns
    -------
    FitResult
        ``estimates`` and ``std_errors`` per free path, ``params`` the
        calibrated parameters; ``success`` is True only when the optimiser
        converged **and** every target is met (``|z| <= tolerance``), and
        ``message`` says which targets were missed or why the optimiser
        stopped.  ``diagnostics`` holds ``converged`` and
        ``optimiser_message`` (the optimiser's own verdict), ``tolerance``,
        ``missed_targets``, the objective at the optimum, ``n_evaluations``
        (distinct parameter points the optimiser simulated, <= ``maxfev``),
        ``n_evaluations_total`` (with the standard errors' points),
        ``n_runs`` (runs this call simulated), ``n_points_simulated`` and
        ``n_points_reused`` (distinct points simulated by this call and
        read from ``store``; with a store also a line of ``notes``, which
        ``summary()`` prints), ``store`` (its path or None), ``executor``
        (where the runs went), ``wall_seconds``, ``targets``: simulated versus target
        per statistic, with ``z = (simulated - value) / sqrt(sd^2 +
        mc_se^2)`` (``mc_se`` the Monte Carlo standard error of the
        simulated mean); ``moment_cov``, the covariance matrix of the
        simulated means (``S/R``); ``misfit``, the statistic
        ``J = r' Omega^-1 r`` of the residuals ``r = simulated - value``,
        with ``chi2_pvalue`` its approximate p-value on ``dof`` = statistics
        - free parameters (NaN when not over-identified; with no more
        replications than statistics, whose sample covariance is singular,
        ``Omega`` keeps only its diagonal and J is the sum of ``z^2``); ``jacobian`` (None
        when not computed) and ``identifiability``: the ``rank`` and
        ``condition_number`` of the Jacobian scaled to target-``sd`` units
        per full bound range, its ``singular_values``, each parameter's
        ``sensitivity`` (how many ``sd`` its full range moves the targets)
        and the free parameters the targets pin down (``pinned``: sensitivity
        >= 1 and less than half its weight on directions of singular values
        below 1e-3 of the largest) or not (``not_pinned``); its ``summary``
        line is printed by ``summary()``.  Without standard errors the
        Jacobian is least squares' own forward differences, and not
        available for Nelder-Mead or Powell.

    Raises
    ------
    ParamError
        Unknown or integer paths, bounds outside the parameter's range, an
        ``x0`` outside its bounds or for a path that is not free; bad
        ``workers``, ``executor`` or ``store``.
    spchain.experiments.store.StoreError
        ``store`` holds another calibration, an experiment, or was written
        by an engine of another sample-path version; before any simulation.
    DataError
        Unknown KPIs, windows beyond the horizon, invalid interventions,
        too few units for a correlation (3), a slope ratio (4) or a
        quintile ratio (5), a retention ratio's follow-up beyond the
        horizon; all before any simulation.

    See Also
    --------
    evaluate_target : a target's per-replication values on given runs.
    """
    started = time.perf_counter()
    base, names, lo, hi, u0 = _check_free(params, free, x0)
    targets = _check_targets(base, targets, horizon)
    _check_options(n_replications, maxfev, seed, method, jacobian_step, xtol, tolerance, standard_errors)
    seeds = [int(s.generate_state(1, dtype=np.uint64)[0])
             for s in np.random.SeedSequence(seed).spawn(n_replications)]
    workers = check_executor(workers, executor)
    if store is not None and not isinstance(store, (str, os.PathLike)):
        raise ParamError(f"store must be a path (str or pathlib.Path) of an SQLite file, got {store!r}")
    where = (type(executor).__name__ if executor is not None else
             f"ProcessPoolExecutor({workers}, spawn)" if workers and workers > 1 else "serial")
    definition = calibration_definition(base, names, targets, horizon, seeds)
    database = pool = None
    session = 0
    try:
        if store is not None:
            database = CalibrationStore(store)
            session = database.begin(_manifest(definition), {"executor": where})
        if workers and workers > 1:
            pool = executor = process_pool(workers)
        sim = _Simulator(base, names, targets, horizon, seeds, executor, store=database,
                         definition_hash=definition_hash(definition), session=session)
        fit = _calibrate(sim, base, names, lo, hi, u0, targets, horizon, n_replications, seed, method, maxfev,
                         xtol, jacobian_step, tolerance, standard_errors, seeds, started)
        fit.diagnostics.update(store=None if database is None else str(database.path), executor=where)
        if database is not None:
            fit.diagnostics["notes"].append(
                f"store {database.path}: {sim.n_reused} point(s) read back, {sim.n_simulated} simulated "
                f"({sim.n_runs} runs)")
            database.end(session, {"n_points_simulated": sim.n_simulated, "n_points_reused": sim.n_reused,
                                   "n_runs": sim.n_runs, "wall_seconds": time.perf_counter() - started})
        return fit
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if database is not None:
            database.close()


def _check_options(n_replications, maxfev, seed, method, jacobian_step, xtol, tolerance, standard_errors):
    """The optimiser's options of :func:`calibrate`, checked before any simulation."""
    check_integer("n_replications", n_replications, 2, error=ValueError)
    check_integer("maxfev", maxfev, 1, error=ValueError)
    check_integer("seed", seed, 0, error=ValueError)
    if method not in ("Nelder-Mead", "Powell", "least_squares"):
        raise ValueError(f"method must be 'Nelder-Mead', 'Powell' or 'least_squares', got {method!r}")
    if not 0 < jacobian_step <= 0.5:
        raise ValueError(f"jacobian_step must be in (0, 0.5], got {jacobian_step!r}")
    if not 0 < xtol < 1:
        raise ValueError(f"xtol must be in (0, 1), got {xtol!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < math.inf:
        raise ValueError(f"tolerance must be a positive number (largest |z| of a met target), got {tolerance!r}")
    if not isinstance(standard_errors, bool):
        raise ValueError(f"standard_errors must be True or False, got {standard_errors!r}")


def calibration_definition(params: Params, names: Sequence[str], targets: Sequence[Target], horizon: int,
                           seeds: Sequence[int]) -> dict:
    """Everything that decides a calibration point's statistics, as JSON-able data.

    The key of a :class:`spchain.experiments.store.CalibrationStore`: spchain version,
    the engine's sample-path version (:data:`spchain.engine.model.SAMPLE_PATH_VERSION`),
    base parameters, free paths in order, horizon, the replications' seeds
    and, per target, what its statistic is (kind, KPIs, windows, unit,
    interventions, scale, quintile, answers, follow-up; a
    :meth:`Target.statistic` by its function's qualified name and source
    text -- values the function reads from elsewhere, a closure's or a
    module's, are not seen).  A target's ``value``, ``sd`` and ``name`` are
    left out: they do not change what a point simulates.

    Parameters
    ----------
    params : Params
        Base parameters.
    names : sequence of str
        Free paths, in the order of the parameter vector.
    targets : sequence of Target
        The targets.
    horizon : int
        Weeks per run.
    seeds : sequence of int
        The replications' integer seeds.

    Returns
    -------
    dict
    """
    from .. import __version__
    from ..engine.model import SAMPLE_PATH_VERSION

    return {"spchain_version": __version__, "sample_path_version": SAMPLE_PATH_VERSION,
            "base": params.to_dict(), "free": list(names), "horizon": int(horizon),
            "seeds": [int(v) for v in seeds], "targets": [_target_definition(t) for t in targets]}


def _target_definition(target) -> dict:
    out = {"kind": target.kind, "n_values": target.n_values,
           "windows": [[a, b] for a, b in target.windows]}
    for name in ("metric", "other", "by", "top", "unit", "within"):
        if getattr(target, name) is not None:
            out[name] = getattr(target, name)
    if target.kind == "effect":
        out.update(changes=[c.to_dict() for c in target.changes], scale=target.scale,
                   relative_to=None if target.relative_to is None else list(target.relative_to))
    if target.answers:
        out["answers"] = list(target.answers)
    if target.function is not None:
        f = target.function
        try:
            source = inspect.getsource(f)
        except (OSError, TypeError):
            source = None
        out["function"] = {"name": f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}",
                           "source": source}
    return out


def _manifest(definition) -> dict:
    return {"spchain_version": definition["spchain_version"],
            "sample_path_version": definition["sample_path_version"],
            "definition": definition, "definition_hash": definition_hash(definition)}


def _calibrate(sim, base, names, lo, hi, u0, targets, horizon, n_replications, seed, method, maxfev, xtol,
               jacobian_step, tolerance, standard_errors, seeds, started):
    """The optimisation and its report, on a simulator that knows where to run and store."""
    sim.budget = maxfev  # every point the optimiser simulates counts, finite differences included
    target_vec = np.concatenate([t.value for t in targets])
    keep = np.isfinite(target_vec)
    to_theta = lambda u: lo + np.clip(u, 0, 1) * (hi - lo)  # noqa: E731
    sd, default_sd = _moment_sd(sim.moments(to_theta(u0)), targets, target_vec, keep)
    objective = _Objective(sim, to_theta, target_vec, sd, keep, u0)
    u_hat, converged, optimiser_message, jac_u = _optimise(objective, method, u0, maxfev, xtol)
    sim.budget = None
    n_opt = sim.n_evaluations
    theta = to_theta(u_hat)
    reps = sim.moments(theta)
    m_hat = reps.mean(axis=0)
    q = objective(u_hat)
    moment_cov = np.atleast_2d(np.cov(reps, rowvar=False, ddof=1)) / n_replications  # of the simulated means

    notes = []
    G, jac_from = _moment_jacobian(sim, theta, lo, hi, jacobian_step, standard_errors, jac_u, sd)
    cov = _estimate_cov(G, sd, keep, moment_cov, names, standard_errors, notes)
    ident = _identifiability(G[keep] if G is not None else None, sd[keep], hi - lo, names, jac_from)
    notes.append(ident["summary"])
    at_bound = [n for n, v, a, b in zip(names, theta, lo, hi) if np.isclose(v, a) or np.isclose(v, b)]
    if at_bound:
        notes.append(f"estimate(s) at a bound: {at_bound}; their standard errors and the targets' "
                     f"fit are unreliable - widen the bounds if the model allows")
    n_m, dof = int(keep.sum()), int(keep.sum()) - len(names)
    j_stat, chi2_p = _misfit(m_hat, target_vec, sd, moment_cov, keep, n_replications, dof, notes)
    rows, missed = _target_rows(targets, target_vec, sd, m_hat, moment_cov, keep, tolerance)
    overrides = {n: float(v) for n, v in zip(names, theta)}
    fitted = base.override(overrides)
    diagnostics = dict(objective=q, n_moments=n_m, misfit=j_stat, dof=dof, chi2_pvalue=chi2_p,
                       converged=converged, optimiser_message=optimiser_message, tolerance=float(tolerance),
                       missed_targets=[n for n, _ in missed], identifiability=ident,
                       n_evaluations=n_opt, maxfev=maxfev, n_evaluations_total=sim.n_evaluations,
                       n_runs=sim.n_runs, n_points_simulated=sim.n_simulated, n_points_reused=sim.n_reused,
                       runs_per_evaluation=sim.runs_per_evaluation, wall_seconds=time.perf_counter() - started,
                       bounds={n: [float(a), float(b)] for n, a, b in zip(names, lo, hi)},
                       start={n: float(v) for n, v in zip(names, to_theta(u0))},
                       n_replications=n_replications, horizon=horizon, seeds=seeds,
                       targets=rows, jacobian=None if G is None else G.tolist(),
                       moment_cov=moment_cov.tolist(), table=_table(rows), notes=notes,
                       sd_from_simulation=[bool(d) for d in default_sd])
    return build("calibration", names, theta, cov, df=None, overrides=overrides, params=fitted,
                 value=fitted, n_obs=n_m, success=converged and not missed,
                 message=_outcome_message(missed, converged, optimiser_message, tolerance), seed=seed,
                 method=f"simulated method of moments, {method} on bounded ranges, "
                        f"{n_replications} common-random-number replications, "
                        + ("sandwich standard errors" if standard_errors else "no standard errors"),
                 diagnostics=diagnostics)


def _moment_sd(first, targets, target_vec, keep):
    """``(sd, default_sd)``: each statistic's ``sd``, the spread between replications at the start
    (``first``, shape (R, n_moments)) where a target gives none, and which ones are such defaults."""
    sd = np.concatenate([t.sd if t.sd is not None else np.full(t.n_values, np.nan) for t in targets])
    rep_sd = first.std(axis=0, ddof=1)
    default_sd = np.isnan(sd)
    floor = 1e-6 * np.maximum(np.abs(target_vec), 1e-6)
    sd = np.where(default_sd, np.maximum(rep_sd, floor), sd)
    if np.any(default_sd & keep & (rep_sd <= floor)):
        bad = [n for n, d in zip(_moment_names(targets), default_sd & keep & (rep_sd <= floor)) if d]
        raise DataError(f"targets {bad} have no simulation noise at the start, so no default sd; "
                        f"give them an sd")
    return sd, default_sd


class _Objective:
    """Standardised residuals of the simulated statistics at rescaled parameters ``u``, their sum of
    squares (``objective(u)``), and the best point simulated so far."""

    def __init__(self, sim, to_theta, target_vec, sd, keep, u0):
        self.sim, self.to_theta, self.target_vec, self.sd, self.keep = sim, to_theta, target_vec, sd, keep
        self.best_value, self.best_u = math.inf, np.asarray(u0, float)

    def residuals(self, u):
        m = self.sim.moments(self.to_theta(u)).mean(axis=0)
        r = (m - self.target_vec) / self.sd
        r = np.where(self.keep & np.isfinite(r), r, np.where(self.keep, 1e3, 0.0))
        if float(r @ r) < self.best_value:
            self.best_value, self.best_u = float(r @ r), np.array(u, float)
        return r

    def __call__(self, u):
        r = self.residuals(u)
        return float(r @ r)


def _optimise(objective, method, u0, maxfev, xtol):
    """``(u_hat, converged, message, jac_u)``: the optimiser's point on the [0, 1] ranges (the best
    point simulated when the budget ran out or the optimiser's own was not simulated), and the
    least-squares Jacobian of the residuals there (None for the other methods)."""
    k = u0.size
    jac_u = None
    try:
        if method == "least_squares":
            res = optimize.least_squares(objective.residuals, u0, bounds=(np.zeros(k), np.ones(k)),
                                         diff_step=0.05, x_scale=np.ones(k), xtol=xtol, max_nfev=maxfev,
                                         method="trf")
            u_hat, converged, message = res.x, bool(res.success), str(res.message)
            jac_u = np.asarray(res.jac, float)
        elif method == "Nelder-Mead":
            # bounds by the sine transformation u = (1 + sin z) / 2 (as MINUIT and lmfit do): the
            # simplex moves freely in z, so it cannot collapse onto a bound the way clipping does
            z0 = np.arcsin(2 * u0 - 1)
            simplex = [z0] + [z0 + 0.5 * np.eye(k)[i] * (1 if z0[i] < 1.0 else -1) for i in range(k)]
            res = optimize.minimize(lambda z: objective(_unsine(z)), z0, method="Nelder-Mead",
                                    options=dict(maxfev=maxfev, xatol=2 * xtol, fatol=1e-3,
                                                 initial_simplex=np.array(simplex)))
            u_hat, converged, message = _unsine(res.x), bool(res.success), str(res.message)
        else:
            res = optimize.minimize(objective, u0, method="Powell", bounds=[(0.0, 1.0)] * k,
                                    options=dict(maxfev=maxfev, xtol=xtol, ftol=1e-4))
            u_hat, converged, message = np.clip(res.x, 0, 1), bool(res.success), str(res.message)
    except _BudgetSpent:
        u_hat, converged = objective.best_u, False
        message = (f"stopped after maxfev = {maxfev} simulated parameter points (finite-difference points "
                   f"included) before converging; the best point simulated is reported")
    if tuple(float(v) for v in objective.to_theta(u_hat)) not in objective.sim.cache:
        u_hat, jac_u = objective.best_u, None  # not simulated: the best point that was
    elif jac_u is not None and not np.array_equal(u_hat, objective.best_u) \
            and objective(u_hat) > objective.best_value:
        jac_u = None
    return u_hat, converged, message, jac_u


def _moment_jacobian(sim, theta, lo, hi, jacobian_step, standard_errors, jac_u, sd):
    """``(G, source)``: the Jacobian of the simulated means in the parameters and how it was computed
    (``(None, None)`` without standard errors from a derivative-free method)."""
    if standard_errors:  # central differences on the same seeds
        G = np.zeros((sd.size, theta.size))
        for i in range(theta.size):
            h = jacobian_step * (hi[i] - lo[i])
            up, down = theta.copy(), theta.copy()
            up[i] = min(theta[i] + h, hi[i])
            down[i] = max(theta[i] - h, lo[i])
            G[:, i] = (sim.moments(up).mean(axis=0) - sim.moments(down).mean(axis=0)) / (up[i] - down[i])
        return G, f"central differences of {jacobian_step:g} of each range"
    if jac_u is not None:  # the optimiser's forward differences: r = (m - t) / sd, u = (theta - lo) / (hi - lo)
        return jac_u * sd[:, None] / (hi - lo)[None, :], "the least-squares optimiser's forward differences"
    return None, None


def _estimate_cov(G, sd, keep, moment_cov, names, standard_errors, notes) -> np.ndarray:
    """The sandwich covariance of the estimates; NaN, with a note, without standard errors or when
    the targets do not pin down every free parameter."""
    cov = np.full((len(names), len(names)), np.nan)
    if not standard_errors:
        notes.append("standard errors not computed (standard_errors=False): std_errors, cov and "
                     "conf_int() are NaN")
        return cov
    try:
        return _sandwich(G[keep], sd[keep], moment_cov[np.ix_(keep, keep)])
    except np.linalg.LinAlgError:
        flat = [n for n, col in zip(names, G[keep].T) if np.allclose(col, 0)]
        notes.append("the targets do not pin down every free parameter (singular G'WG)"
                     + (f"; no target moves {flat}" if flat else "") + "; standard errors unavailable")
        return cov


def _misfit(m_hat, target_vec, sd, moment_cov, keep, n_replications, dof, notes):
    """``(J, chi-square p-value)`` of the residuals, with notes on how to read them."""
    n_m = int(keep.sum())
    full_rank = n_replications > n_m  # a sample covariance of R replications has rank <= R - 1
    j_cov = moment_cov[np.ix_(keep, keep)]
    j_stat, chi2_p = _j_statistic(m_hat[keep] - target_vec[keep], sd[keep],
                                  j_cov if full_rank else np.diag(np.diag(j_cov)), dof)
    if dof > 0 and not full_rank:
        notes.append(f"J uses the diagonal of the moments' covariance (sum of z^2): {n_replications} "
                     f"replications cannot estimate the covariance of {n_m} statistics (needs more than {n_m})")
    if dof > 0:
        notes.append(f"misfit J = {j_stat:.3g} on {dof} over-identifying degree(s) of freedom: "
                     f"chi-square p = {chi2_p:.3g}, approximate, and meaningful when the targets' sd are "
                     f"their standard errors; a small p says the model cannot match every target")
    return j_stat, chi2_p


def _target_rows(targets, target_vec, sd, m_hat, moment_cov, keep, tolerance):
    """``(rows, missed)``: simulated versus target per statistic with its ``z``, and the
    ``(name, z)`` of the statistics beyond ``tolerance``."""
    mc_se = np.sqrt(np.diag(moment_cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (m_hat - target_vec) / np.sqrt(sd ** 2 + mc_se ** 2)
    rows = []
    for name, t_val, s, sim_v, se, zz in zip(_moment_names(targets), target_vec, sd, m_hat, mc_se, z):
        rows.append(dict(target=name, value=t_val, simulated=sim_v, sd=s, mc_se=se,
                         z=zz if np.isfinite(t_val) else math.nan))
    missed = [(r["target"], r["z"]) for r, kept in zip(rows, keep)
              if kept and not abs(r["z"]) <= tolerance]
    return rows, missed


def _outcome_message(missed, converged, optimiser_message, tolerance) -> str:
    if missed:
        return (f"targets missed (|z| > {tolerance:g}): "
                + "; ".join(f"{n} (z = {zz:.2f})" for n, zz in missed)
                + f". Optimiser: {optimiser_message}")
    if not converged:
        return f"every target met, but the optimiser did not converge: {optimiser_message}"
    return optimiser_message


def _sandwich(G, sd, moment_cov) -> np.ndarray:
    """Covariance of the estimates: (G'WG)^-1 G'W Omega W G (G'WG)^-1.

    ``W = diag(1/sd^2)`` and ``Omega = diag(sd^2) + moment_cov``, the targets'
    uncertainty plus the full covariance of the simulated moments' means
    (moments of the same replications are correlated).  Raises
    ``LinAlgError`` when ``G'WG`` is singular or nearly so.
    """
    WG = G / sd[:, None] ** 2
    bread = G.T @ WG
    if not np.all(np.isfinite(bread)) or np.linalg.cond(bread) > 1e12:
        raise np.linalg.LinAlgError("singular G'WG")
    b_inv = np.linalg.inv(bread)
    omega = np.diag(sd ** 2) + moment_cov
    return b_inv @ (WG.T @ omega @ WG) @ b_inv


def _j_statistic(r, sd, moment_cov, dof):
    """``r' Omega^-1 r`` with ``Omega = diag(sd^2) + moment_cov``, and its chi-square p-value on ``dof``."""
    omega = np.diag(sd ** 2) + moment_cov
    if not np.all(np.isfinite(r)) or not np.all(np.isfinite(omega)):
        return math.nan, math.nan
    j = float(r @ np.linalg.solve(omega, r))
    return j, float(stats.chi2.sf(j, dof)) if dof > 0 else math.nan


def _identifiability(G, sd, ranges, names, source, rtol=1e-3) -> dict:
    """Rank, condition number and per-parameter sensitivity of the standardised Jacobian.

    The Jacobian is scaled to target-``sd`` units per full bound range of
    each parameter, ``J = diag(1/sd) G diag(hi - lo)``.  Its numerical rank
    counts singular values above ``rtol`` times the largest.  A parameter is
    pinned down when moving it across its range moves the targets by at
    least one ``sd`` (``sensitivity``, the column norm of ``J``) and it
    loads less than half on the directions the targets do not see (right
    singular vectors of the negligible singular values).
    """
    k = len(names)
    if G is None:
        return dict(available=False, source=None, rank=None, n_free=k, condition_number=None,
                    singular_values=[], sensitivity={}, pinned=[], not_pinned=[],
                    summary="identifiability: no Jacobian (standard_errors=False with a derivative-free "
                            "method); pass standard_errors=True or method='least_squares'")
    J = G / sd[:, None] * ranges[None, :]
    if not np.all(np.isfinite(J)):
        return dict(available=False, source=source, rank=None, n_free=k, condition_number=None,
                    singular_values=[], sensitivity={}, pinned=[], not_pinned=list(names),
                    summary="identifiability: the Jacobian has non-finite entries (a statistic undefined "
                            "near the estimate)")
    _, s, vt = np.linalg.svd(J, full_matrices=True)
    rank = int(np.sum(s > rtol * s.max())) if s.size and s.max() > 0 else 0
    cond = float(s.max() / s.min()) if s.size == k and s.min() > 0 else math.inf
    null = vt[rank:]  # directions the targets do not see
    sens = np.linalg.norm(J, axis=0)
    weak = (null ** 2).sum(axis=0) if null.size else np.zeros(k)
    pinned = [n for n, se, w in zip(names, sens, weak) if se >= 1.0 and w < 0.5]
    not_pinned = [n for n in names if n not in pinned]
    text = (f"identifiability: Jacobian rank {rank} of {k} free parameter(s), condition number "
            f"{cond:.3g} (from {source}); pinned down by the targets: {pinned or 'none'}"
            + (f"; not pinned down: {not_pinned}" if not_pinned else ""))
    return dict(available=True, source=source, rank=rank, n_free=k, condition_number=cond,
                singular_values=s.tolist(), sensitivity={n: float(v) for n, v in zip(names, sens)},
                pinned=pinned, not_pinned=not_pinned, summary=text)


def evaluate_target(target: Target, runs: Sequence, *, runs_with_changes: Sequence | None = None) -> np.ndarray:
    """A target's per-replication values on given runs, as :func:`calibrate` computes them.

    Parameters
    ----------
    target : Target
        The statistic.
    runs : sequence of RunResult
        One run per replication, without interventions.
    runs_with_changes : sequence of RunResult, optional
        Effect targets: the same replications (same seeds) with the
        target's ``changes``.

    Returns
    -------
    ndarray, shape (len(runs), target.n_values)
        Their mean over replications (axis 0) is the simulated statistic
        and their standard deviation over ``sqrt(len(runs))`` its Monte
        Carlo standard error (``mc_se``).  For ratios of replication means
        (effects ``per`` another KPI, quintile and slope ratios) the rows
        are the delta-method linearisation, whose mean is that ratio.

    Raises
    ------
    DataError
        Not a Target, no runs, runs of different sizes, or a target the
        runs cannot give (a window beyond their horizon, too few units,
        missing runs with the changes, runs without the per-event records
        it needs).

    Examples
    --------
    >>> import spchain
    >>> p = spchain.preset("bank_branches")
    >>> runs = [spchain.simulate(p, horizon=6, seed=s) for s in (1, 2)]
    >>> evaluate_target(Target.mean("csat", 4.0, start=2), runs).shape
    (2, 1)
    """
    from ..result import RunResult

    if not isinstance(target, Target):
        raise DataError(f"target must be a spchain Target, got {target!r}")
    runs = list(runs)
    if not runs or not all(isinstance(r, RunResult) for r in runs):
        raise DataError(f"runs must be a non-empty sequence of spchain.RunResult, got {runs!r:.200}")
    runs_by_scenario = {(): runs}
    if target.kind == "effect":
        if runs_with_changes is None:
            raise DataError(f"target {target.name!r}: an effect needs runs_with_changes, the same "
                            f"replications with its changes")
        changed = list(runs_with_changes)
        if len(changed) != len(runs) or not all(isinstance(r, RunResult) for r in changed):
            raise DataError(f"target {target.name!r}: runs_with_changes must hold {len(runs)} RunResult, "
                            f"one per run, got {len(changed)}")
        runs_by_scenario[target.changes] = changed
    every = [r for group in runs_by_scenario.values() for r in group]
    shapes = {(r.horizon, r.n_units) for r in every}
    if len(shapes) > 1:
        raise DataError(f"runs must share one horizon and number of units, got (horizon, n_units) "
                        f"{sorted(shapes)}")
    (horizon, _), = shapes
    _check_targets(runs[0].params, [target], horizon)
    missing = [k for k in target.records if any(k not in r.recorded for r in every)]
    if missing:
        raise DataError(f"target {target.name!r} needs the runs' {list(target.records)} records; "
                        f"some runs kept no {missing[0]!r} records: simulate(..., "
                        f"record={target.records!r})")
    return _statistic(target, runs_by_scenario, len(runs))


# ------------------------------------------------------------ simulation
class _BudgetSpent(Exception):
    """Raised inside the optimiser when the next point would exceed ``maxfev``."""


class _Simulator:
    """Runs the scenarios a set of targets needs and computes their per-replication statistics."""

    def __init__(self, base, names, targets, horizon, seeds, executor, *, store=None, definition_hash=None,
                 session=0):
        self.base, self.names, self.targets = base, names, targets
        self.horizon, self.seeds, self.executor = horizon, seeds, executor
        self.store, self.definition_hash, self.session = store, definition_hash, session
        self.scenarios = [()]  # () is the baseline
        # per-event records only when a target needs them, so the others run as fast as ever
        self.record = tuple(k for k in RECORDS if any(k in t.records for t in targets)) or None
        for t in targets:
            if t.kind == "effect" and t.changes not in self.scenarios:
                self.scenarios.append(t.changes)
        self.cache = {}
        self.budget = None  # most distinct points to simulate (None: no limit)
        self.n_evaluations = 0  # distinct points, simulated or read from the store
        self.n_simulated = 0
        self.n_reused = 0
        self.n_runs = 0
        self.runs_per_evaluation = len(self.scenarios) * len(seeds)

    def moments(self, theta) -> np.ndarray:
        """Statistics, shape (n_replications, n_moments)."""
        key = tuple(float(v) for v in theta)
        if key in self.cache:
            return self.cache[key]
        if self.budget is not None and self.n_evaluations >= self.budget:
            raise _BudgetSpent
        point = None if self.store is None else point_id(self.definition_hash, key)
        stored = None if point is None else self.store.get(point)
        if stored is not None:
            self.n_evaluations += 1
            self.n_reused += 1
            self.cache[key] = stored
            return stored
        started = time.perf_counter()
        point_params = self.base.override(dict(zip(self.names, key)))
        tasks = list(enumerate((point_params.with_changes(*changes) if changes else point_params, self.horizon,
                                seed, self.record) for changes in self.scenarios for seed in self.seeds))
        runs = [None] * len(tasks)

        def record(out):
            runs[out[0]] = out[1]

        execute(tasks, record, executor=self.executor, function=_run_indexed)
        self.n_evaluations += 1
        self.n_simulated += 1
        self.n_runs += len(tasks)
        R = len(self.seeds)
        runs_by_scenario = {changes: runs[i * R:(i + 1) * R] for i, changes in enumerate(self.scenarios)}
        out = np.hstack([_statistic(target, runs_by_scenario, R) for target in self.targets])
        if self.store is not None:
            self.store.put(point, key, out, n_runs=len(tasks), wall_seconds=time.perf_counter() - started,
                           session=self.session)
        self.cache[key] = out
        return out


def _run(task):
    from ..engine.run import simulate

    params, horizon, seed, record = task
    return simulate(params, horizon=horizon, seed=seed, record=record)


def _run_indexed(task):
    """``(index, RunResult)`` of one replication of a point: the unit of work sent to an executor."""
    i, run = task
    return i, _run(run)


def _window_total(result, name, a, b, unit=None):
    b = result.horizon if b is None else b
    part = dataclasses.replace(result, sums=result.sums[a:b], horizon=b - a)
    if unit is None:
        return part.total(name)
    return part.total(name, unit=unit)


def _statistic(target, runs_by_scenario, R) -> np.ndarray:
    """Per-replication values of a target's statistic, shape (R, n_values).

    Their mean is the statistic.  For an effect ``per`` another KPI and a
    quintile, slope or retention ratio the statistic is the ratio of the
    replication means of numerator and denominator (stable when single
    replications' denominators are noisy) and the rows are its linearised
    (delta-method) replication values, so their variance is the ratio's.
    """
    out = []
    for r in range(R):
        base = runs_by_scenario[()][r]
        if target.kind == "series":
            out.append([_window_total(base, target.metric, a, b, target.unit) for a, b in target.windows])
            continue
        if target.kind == "statistic":
            out.append([_call(target, base)])
            continue
        (a, b), = target.windows
        if target.kind == "correlation":
            x, y = _unit_totals(base, (target.metric, target.other), a, b)
            ok = x.size >= 3 and np.std(x) > 0 and np.std(y) > 0
            out.append([float(stats.pearsonr(x, y).statistic) if ok else math.nan])
            continue
        if target.kind == "quintile_ratio":
            rank, y = _unit_totals(base, (target.by, target.metric), a, b)
            k = rank.size // 5
            if k == 0:
                out.append([math.nan, math.nan])
                continue
            high, low = _top_weights(rank, k), _top_weights(-rank, k)
            num, den = (high, low) if target.top == "high" else (low, high)
            out.append([num @ y / k, den @ y / k])
            continue
        if target.kind == "retention_ratio":
            out.append(_retention_shares(base, target.answers, target.within, a, b))
            continue
        if target.kind == "slope_ratio":
            split, x, y = _unit_totals(base, (target.by, target.other, target.metric), a, b)
            k = split.size // 2
            out.append([_slope(x, y, _top_weights(split, k)), _slope(x, y, _top_weights(-split, k))]
                       if k >= 2 else [math.nan, math.nan])
            continue
        alt = runs_by_scenario[target.changes][r]
        diff = _window_total(alt, target.metric, a, b) - _window_total(base, target.metric, a, b)
        if target.relative_to is not None:
            diff /= _window_total(base, target.metric, *target.relative_to)
        d_other = (_window_total(alt, target.other, a, b) - _window_total(base, target.other, a, b)
                   if target.other is not None else math.nan)
        out.append([target.scale * diff, d_other])
    out = np.asarray(out, float)
    if target.kind in ("series", "correlation", "statistic") or (target.kind == "effect" and target.other is None):
        return out[:, :1] if target.kind == "effect" else out
    return _ratio_rows(out[:, 0], out[:, 1])


def _ratio_rows(y, x) -> np.ndarray:
    """Delta-method replication values of ``mean(y) / mean(x)``, shape (R, 1)."""
    x_bar = x.mean()
    if x_bar == 0 or not np.isfinite(x_bar):
        return np.full((y.size, 1), math.nan)
    ratio = y.mean() / x_bar
    return (ratio + (y - ratio * x) / x_bar)[:, None]


def _retention_shares(result, answers, within, a, b):
    """Shares of the customers whose first CSAT answer in ``[a, b)`` was each of ``answers``
    who did not churn in the ``within`` weeks from the answer's week (NaN for an empty group).

    A customer is (unit, slot, churns of the slot before the answer); an answer in the week
    after its slot churned is the defected customer's last visit and is left out.
    """
    surveys, churn = result.records("surveys"), result.records("churn")
    horizon = result.horizon
    b = min(horizon if b is None else b, horizon - within + 1)  # answers whose follow-up ends by the horizon
    n_slots = 1 + max(surveys["customer"].max(initial=0), churn["customer"].max(initial=0))
    span = horizon + 1
    slot = surveys["unit"] * n_slots + surveys["customer"]
    at = slot * span + surveys["week"]  # (slot, week) codes, ordered as the pairs are
    churned = np.sort(churn["unit"] * n_slots * span + churn["customer"] * span + churn["week"])
    first_of_slot = np.searchsorted(churned, slot * span)
    nxt = np.searchsorted(churned, at)  # this slot's first churn in the answer's week or later
    tenancy = nxt - first_of_slot  # the slot's churns before the answer
    last = np.where(tenancy > 0, churned[np.maximum(nxt - 1, 0)], -1)
    gone = (tenancy > 0) & (last == at - 1)  # the slot churned the week before: a defected customer
    keep = (surveys["week"] >= a) & (surveys["week"] < b) & ~gone
    next_churn = np.append(churned, np.iinfo(np.int64).max)[nxt]
    retained = next_churn >= at + within  # no churn of this slot in weeks w .. w + within - 1
    rows = np.flatnonzero(keep)
    # each customer's first answer in the window (within a week, the first row)
    order = rows[np.lexsort((rows, surveys["week"][rows], tenancy[rows], slot[rows]))]
    who_slot, who_tenancy = slot[order], tenancy[order]
    new = np.ones(order.size, bool)
    new[1:] = (who_slot[1:] != who_slot[:-1]) | (who_tenancy[1:] != who_tenancy[:-1])
    first = order[new]
    csat, kept = surveys["csat"][first], retained[first]
    return [float(kept[csat == answer].mean()) if np.any(csat == answer) else math.nan for answer in answers]


def _unit_totals(result, names, a, b):
    """Each KPI of ``names`` per unit over ``[a, b)``, keeping the units where all are defined."""
    values = np.array([[_window_total(result, n, a, b, u) for u in range(result.n_units)] for n in names])
    return tuple(values[:, np.isfinite(values).all(axis=0)])


def _top_weights(values, k):
    """Weights picking the ``k`` largest values: 1 above the k-th largest, ties at it sharing the rest.

    The weights sum to ``k`` and do not depend on the order of the values.
    """
    cut = np.sort(values)[::-1][k - 1]
    above, tied = values > cut, values == cut
    return above + tied * (k - above.sum()) / tied.sum()


def _slope(x, y, w):
    """Weighted least-squares slope of ``y`` on ``x``; NaN with fewer than 2 units or no spread in x."""
    if np.count_nonzero(w) < 2:
        return math.nan
    xm, ym = (w @ x) / w.sum(), (w @ y) / w.sum()
    sxx = w @ (x - xm) ** 2
    if not sxx > 1e-12 * max(w @ x ** 2, 1e-300):
        return math.nan
    return float(w @ ((x - xm) * (y - ym)) / sxx)


def _call(target, result) -> float:
    """A user statistic of one run, with errors that name the target."""
    try:
        value = target.function(result)
    except Exception as exc:
        raise DataError(f"target {target.name!r}: its function raised {type(exc).__name__}: {exc}") from exc
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"target {target.name!r}: its function must return one number, got {value!r:.200}") from None


# ------------------------------------------------------------ validation
def _metric(name):
    if name not in METRICS:
        raise DataError(f"unknown KPI {name!r}{suggest(name, METRICS)}; expected one of {list(METRICS)}")
    return name


def _values(label, values):
    try:
        v = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        raise DataError(f"target {label!r}: values must be numbers, got {values!r}") from None
    if v.ndim != 1 or v.size == 0:
        raise DataError(f"target {label!r}: values must be a non-empty 1-D sequence, got shape {v.shape}")
    if np.isinf(v).any():
        raise DataError(f"target {label!r}: values must be finite (NaN marks a missing one), got {v.tolist()}")
    if not np.isfinite(v).any():
        raise DataError(f"target {label!r}: every value is missing")
    return v


def _window(label, start, stop):
    """``(start, stop)`` as integers with ``0 <= start < stop``; ``stop`` None: to the horizon."""
    try:
        a = operator.index(start)
    except TypeError:
        a = None
    if a is None or a < 0:
        raise DataError(f"target {label!r}: start must be an integer >= 0, got {start!r}")
    if stop is None:
        return (a, None)
    try:
        b = operator.index(stop)
    except TypeError:
        b = None
    if b is None or b <= a:
        raise DataError(f"target {label!r}: stop must be None or an integer > start ({a}), got {stop!r}")
    return (a, b)


def _sd(label, sd, n):
    if sd is None:
        return None
    s = np.broadcast_to(np.asarray(sd, dtype=float), (n,)).copy() if np.ndim(sd) == 0 else \
        np.asarray(sd, dtype=float)
    if s.shape != (n,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise DataError(f"target {label!r}: sd must be one positive number or one per value ({n}), got {sd!r}")
    return s


def _windows(label, windows):
    for a, b in windows:
        if a < 0 or (b is not None and b <= a):
            raise DataError(f"target {label!r}: window [{a}, {b}) must have 0 <= start < stop")
    return tuple(windows)


def _check_free(params, free, x0):
    if not isinstance(params, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(params).__name__}")
    if not isinstance(free, Mapping) or not free:
        raise ParamError("free must map at least one dotted parameter path to (low, high) bounds")
    names, lo, hi, start = [], [], [], []
    x0 = dict(x0 or {})
    for path, bounds in free.items():
        value = params.get(path)
        if isinstance(value, bool) or not isinstance(value, float):
            raise ParamError(f"free parameter {path} must be a continuous (float) parameter, got {value!r}")
        try:
            a, b = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise ParamError(f"free parameter {path}: bounds must be (low, high), got {bounds!r}") from None
        if not (math.isfinite(a) and math.isfinite(b) and a < b):
            raise ParamError(f"free parameter {path}: bounds must be finite with low < high, got {bounds!r}")
        for v in (a, b):
            params.override({path: v})  # ParamError if a bound is outside the parameter's range
        given = path in x0
        s = x0.pop(path, value)
        if given:
            if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(s):
                raise ParamError(f"x0 for {path} must be a finite number, got {s!r}")
            if not a <= s <= b:
                raise ParamError(f"x0 for {path} = {s!r} is outside its bounds [{a!r}, {b!r}]")
        s = float(s)
        if not a <= s <= b:  # the base value outside the range: start in its middle
            s = 0.5 * (a + b)
        names.append(path)
        lo.append(a)
        hi.append(b)
        start.append(s)
    if x0:
        raise ParamError(f"x0 names paths that are not free: {sorted(x0)}")
    lo, hi = np.array(lo), np.array(hi)
    return params, names, lo, hi, (np.array(start) - lo) / (hi - lo)


def _check_targets(params, targets, horizon):
    check_integer("horizon", horizon, 1, error=ValueError)
    if isinstance(targets, Target):
        targets = [targets]
    targets = list(targets)
    if not targets:
        raise DataError("targets must hold at least one Target")
    for target in targets:
        if not isinstance(target, Target):
            raise DataError(f"targets must be spchain Target objects, got {target!r}")
        wins = list(target.windows) + ([target.relative_to] if target.relative_to else [])
        for a, b in wins:
            if (b if b is not None else horizon) > horizon or a >= horizon:
                raise DataError(f"target {target.name!r}: window [{a}, {b}) reaches beyond the horizon of "
                                f"{horizon} weeks")
        if target.kind == "retention_ratio" and target.windows[0][0] + target.within > horizon:
            raise DataError(f"target {target.name!r}: within={target.within} weeks of follow-up after start="
                            f"{target.windows[0][0]} reach beyond the horizon of {horizon} weeks (need start "
                            f"+ within <= horizon)")
        if target.unit is not None and not 0 <= target.unit < params.organisation.n_units:
            raise DataError(f"target {target.name!r}: unit {target.unit} does not exist; the model has "
                            f"{params.organisation.n_units} unit(s)")
        need = {"correlation": (3, "a correlation across units"),
                "slope_ratio": (4, "a ratio of slopes between the two halves of the units"),
                "quintile_ratio": (5, "a quintile ratio")}.get(target.kind)
        if need and params.organisation.n_units < need[0]:
            raise DataError(f"target {target.name!r}: {need[1]} needs organisation.n_units >= {need[0]}, "
                            f"got {params.organisation.n_units}")
        if target.kind == "effect":
            late = [c for c in target.changes if c.at_week >= horizon]
            if late:
                raise DataError(f"target {target.name!r}: intervention at week {late[0].at_week} is beyond the "
                                f"horizon of {horizon} weeks")
            try:
                params.with_changes(*target.changes).at_week(max(c.at_week for c in target.changes))
            except ParamError as exc:
                raise DataError(f"target {target.name!r}: invalid intervention: {exc}") from None
    return targets


def _unsine(z):
    return (1.0 + np.sin(z)) / 2.0


def _moment_names(targets):
    out = []
    for target in targets:
        if target.n_values == 1:
            out.append(target.name)
        else:
            out += [f"{target.name} [{a}, {b})" for a, b in target.windows]
    return out


def _table(rows) -> str:
    width = max([len(r["target"]) for r in rows] + [10])
    lines = [f"{'target':<{width}} {'value':>11} {'simulated':>11} {'MC s.e.':>10} {'sd':>10} {'z':>7}"]
    for r in rows:
        lines.append(f"{r['target']:<{width}} {format_estimate(r['value']):>11} "
                     f"{format_estimate(r['simulated']):>11} {format_estimate(r['mc_se']):>10} "
                     f"{format_estimate(r['sd']):>10} {format_estimate(r['z'], 2):>7}")
    return "\n".join(lines)
