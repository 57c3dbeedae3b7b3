"""The one result type of every fitting function: :class:`FitResult`.

:func:`spchain.fit_distribution`, :func:`spchain.fit_links` and
:func:`spchain.calibrate` all return a :class:`FitResult`: named
``estimates`` with ``std_errors`` and their covariance, ``conf_int(alpha)``
(Wald intervals with the normal or Student-t reference distribution, or
percentile intervals from bootstrap draws), a regression-style
``summary()`` string, a JSON-safe ``to_dict()``, and the fitted value ready
to use: ``overrides`` (dotted parameter paths to values) and ``params``
(the base :class:`~spchain.params.Params` with those overrides applied),
and what diagnostics need: ``observed``, ``fitted``, ``residuals`` and
``data``, each a dict keyed by the fit's parts (equations of a links fit,
targets of a calibration, ``"cdf"`` of a distribution fit).
:meth:`FitResult.select_overrides` applies the rule that decides which
fitted values the data determine well enough to use.

Also here: :class:`DataError`, the error every fitting function raises for
bad data or targets, before any optimisation starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ..panel import DataError
from ..params import Params

__all__ = ["FitResult", "DataError", "format_estimate"]


@dataclass(frozen=True, eq=False)
class FitResult:
    """Estimates, their uncertainty and the fitted value ready to use.

    Attributes
    ----------
    kind : str
        ``"distribution"``, ``"links"`` or ``"calibration"``.
    estimates : dict of str to float
        Point estimates by name.  Names with a dot are parameter paths of
        :class:`~spchain.params.Params` (derived from the fit by a documented
        mapping); other names are the fit's own coefficients.
    std_errors : dict of str to float
        Standard errors, same keys (NaN where not available).
    cov : ndarray, shape (k, k)
        Covariance of the estimates in the order of ``estimates``.
    df : float or None
        Degrees of freedom of the Student-t reference for Wald intervals;
        ``None`` uses the normal distribution.
    draws : ndarray, shape (n_draws, k), or None
        Bootstrap draws of the estimates (same order), when a bootstrap was run.
    interval : str
        Default interval of :meth:`conf_int`: ``"wald"`` or ``"bootstrap"``.
    overrides : dict of str to float
        Dotted parameter paths and fitted values: ``params.override(overrides)``.
    params : Params or None
        The base parameters with ``overrides`` applied (``None`` when the
        fit maps to no parameter).
    value : object
        The fitted object itself: a frozen ``scipy.stats`` distribution
        (:func:`~spchain.fit_distribution`), the ``overrides``
        (:func:`~spchain.fit_links`) or the calibrated ``Params``
        (:func:`~spchain.calibrate`).
    n_obs : int
        Observations (rows, durations, or target moments) the fit used.
    success : bool
        Whether the fit succeeded: the estimator or optimiser converged and,
        for :func:`~spchain.calibrate`, every target is met within its
        tolerance (``diagnostics["converged"]`` holds the optimiser's own
        verdict).
    message : str
        The optimiser's or estimator's message.
    method : str
        How the estimates were computed.
    diagnostics : dict
        Fit-specific, JSON-safe details (candidate families and AIC,
        goodness of fit, rows dropped, simulated versus target...).
    seed : int or None
        Seed of any randomness used (bootstrap, simulation).
    observed : dict of str to ndarray
        What the fit tried to reproduce, by part, as read-only arrays:

        * links: the response of each equation (key: equation name) in the
          rows it used (after lags, ``per`` and ``log``, missing values
          dropped);
        * distribution: key ``"cdf"``, the empirical CDF (one minus the
          Kaplan-Meier survival under censoring) at each duration, sorted;
        * calibration: each target statistic's value (key: the target's
          name in ``diagnostics["targets"]``), an array of one.
    fitted : dict of str to ndarray
        The fit's values for the same rows: an equation's fitted values
        (least squares: with unit effects, each unit's mean added back;
        Poisson: the fitted mean count), the fitted CDF, the simulated
        statistic.
    data : dict of str to dict of str to ndarray
        The data behind each part, row-aligned with ``observed[part]``:
        links: ``unit``, ``period`` and each regressor (by term, e.g.
        ``"employee_satisfaction[t-1]"``) plus ``exposure`` for Poisson
        equations; distribution: ``duration`` (sorted) and ``censored``;
        calibration: ``sd`` (the target's) and ``mc_se`` (the simulation's).
        Empty for results made without it.

    See Also
    --------
    residuals : ``observed - fitted`` by part.
    """

    kind: str
    estimates: dict
    std_errors: dict
    cov: np.ndarray
    df: float | None = None
    draws: np.ndarray | None = None
    interval: str = "wald"
    overrides: dict = field(default_factory=dict)
    params: Params | None = None
    value: Any = None
    n_obs: int = 0
    success: bool = True
    message: str = ""
    method: str = ""
    diagnostics: dict = field(default_factory=dict)
    seed: int | None = None
    observed: dict = field(default_factory=dict, repr=False)
    fitted: dict = field(default_factory=dict, repr=False)
    data: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if set(self.observed) != set(self.fitted):
            raise ValueError(f"observed and fitted must have the same parts, got {sorted(self.observed)} "
                             f"and {sorted(self.fitted)}")
        for part in self.observed:
            o, f = _frozen(self.observed[part]), _frozen(self.fitted[part])
            if o.shape != f.shape:
                raise ValueError(f"part {part!r}: observed has shape {o.shape}, fitted {f.shape}")
            self.observed[part], self.fitted[part] = o, f
        for part, cols in self.data.items():
            self.data[part] = {k: _frozen(v, dtype=None) for k, v in cols.items()}

    # ------------------------------------------------------------ access
    @property
    def names(self) -> list[str]:
        """Names of the estimates, in the order of ``cov``."""
        return list(self.estimates)

    @property
    def residuals(self) -> dict:
        """``observed - fitted`` by part (read-only arrays; raw, not standardised).

        For a Poisson equation of a links fit these are counts; divide by
        ``sqrt(fitted)`` for Pearson residuals.
        """
        out = {}
        for part, o in self.observed.items():
            with np.errstate(invalid="ignore"):
                out[part] = _frozen(o - self.fitted[part])
        return out

    def select_overrides(self, *, alpha: float = 0.05, max_share: float = 0.5) -> tuple[dict, dict]:
        """Split ``overrides`` into the values the data determine and the rest.

        The rule: a fitted parameter is *determined* when its ``1 - alpha``
        interval (:meth:`conf_int`, the default method) excludes zero and
        its half-width is at most ``max_share`` times the estimate's size.

        Parameters
        ----------
        alpha : float
            In (0, 1); 0.05 judges by 95% intervals.
        max_share : float
            Largest half-width, as a share of ``|estimate|``, that counts as
            determined; > 0 (``math.inf`` keeps only the zero rule).

        Returns
        -------
        (dict of str to float, dict of str to str)
            The determined ``overrides``, and for each other one why not.

        Examples
        --------
        >>> fit = build("links", ["links.a", "links.b"], [2.0, 0.1], [[0.25, 0], [0, 1.0]],
        ...             overrides={"links.a": 2.0, "links.b": 0.1})
        >>> kept, why = fit.select_overrides()
        >>> kept, why["links.b"]
        ({'links.a': 2.0}, '95% CI [-1.86, 2.06] includes 0')
        """
        if isinstance(max_share, bool) or not isinstance(max_share, (int, float)) or not max_share > 0:
            raise ValueError(f"max_share must be a number > 0, got {max_share!r}")
        ci = self.conf_int(alpha)
        level = f"{100 * (1 - alpha):g}%"
        kept, why = {}, {}
        for path, value in self.overrides.items():
            lo, hi = ci.get(path, (math.nan, math.nan))
            est = self.estimates.get(path, value)
            text = f"{level} CI [{lo:.3g}, {hi:.3g}]"
            if not (np.isfinite(lo) and np.isfinite(hi)):
                why[path] = f"no {level} interval (standard error not available)"
            elif lo <= 0 <= hi:
                why[path] = f"{text} includes 0"
            elif (hi - lo) / 2 > max_share * abs(est):
                why[path] = (f"{text}: half-width {(hi - lo) / 2:.3g} is {(hi - lo) / 2 / abs(est):.0%} of "
                             f"the estimate {est:.3g}, more than {max_share:.0%}")
            else:
                kept[path] = value
        return kept, why

    def apply(self, params: Params) -> Params:
        """``params`` with this fit's ``overrides`` applied (a new, validated ``Params``)."""
        return params.override(self.overrides)

    def conf_int(self, alpha: float = 0.05, *, method: str | None = None) -> dict:
        """Two-sided ``1 - alpha`` confidence intervals.

        Parameters
        ----------
        alpha : float
            In (0, 1); 0.05 gives 95% intervals.
        method : {"wald", "bootstrap"}, optional
            ``"wald"``: estimate +- quantile * std error, with Student-t
            quantiles on ``df`` degrees of freedom when ``df`` is set, else
            normal.  ``"bootstrap"``: percentile interval of ``draws``.
            Defaults to :attr:`interval`.

        Returns
        -------
        dict of str to (float, float)
        """
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        method = self.interval if method is None else method
        if method == "bootstrap":
            if self.draws is None or len(self.draws) == 0:
                raise ValueError("method='bootstrap' needs bootstrap draws; this fit has none "
                                 "(fit again with n_bootstrap > 0)")
            lo = np.nanquantile(self.draws, alpha / 2, axis=0)
            hi = np.nanquantile(self.draws, 1 - alpha / 2, axis=0)
            return {n: (float(a), float(b)) for n, a, b in zip(self.estimates, lo, hi)}
        if method != "wald":
            raise ValueError(f"method must be 'wald' or 'bootstrap', got {method!r}")
        q = self._quantile(alpha)
        out = {}
        for n, est in self.estimates.items():
            se = self.std_errors.get(n, math.nan)
            out[n] = (float(est - q * se), float(est + q * se))
        return out

    def _quantile(self, alpha):
        if self.df is not None and np.isfinite(self.df) and self.df > 0:
            return float(stats.t.ppf(1 - alpha / 2, self.df))
        return float(stats.norm.ppf(1 - alpha / 2))

    def p_values(self) -> dict:
        """Two-sided p-values of ``estimate / std_error`` (t on ``df``, or normal)."""
        out = {}
        for n, est in self.estimates.items():
            se = self.std_errors.get(n, math.nan)
            z = est / se if se and np.isfinite(se) and se > 0 else math.nan
            if self.df is not None and np.isfinite(self.df) and self.df > 0:
                out[n] = float(2 * stats.t.sf(abs(z), self.df)) if np.isfinite(z) else math.nan
            else:
                out[n] = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else math.nan
        return out

    # ---------------------------------------------------------- reporting
    def summary(self, *, alpha: float = 0.05) -> str:
        """A regression-style table of the estimates and the fit's diagnostics."""
        ci = self.conf_int(alpha)
        pv = self.p_values()
        level = f"{100 * (1 - alpha):g}%"
        ref = (f"t({self.df:g})" if self.df is not None and np.isfinite(self.df) else "normal")
        head = [f"spchain {self.kind} fit: {self.method}",
                f"observations: {self.n_obs}   success: {self.success}   "
                f"intervals: {self.interval if self.interval == 'bootstrap' else 'Wald, ' + ref}"
                + (f"   seed: {self.seed}" if self.seed is not None else "")]
        if self.message:
            head.append(f"message: {self.message}")
        width = max([len(n) for n in self.estimates] + [12])
        lines = head + ["", f"{'':<{width}} {'estimate':>11} {'std err':>11} {'p':>8} "
                            f"{'[' + level:>12} {'interval]':>11}"]
        for n, est in self.estimates.items():
            lo, hi = ci[n]
            lines.append(f"{n:<{width}} {format_estimate(est):>11} {format_estimate(self.std_errors.get(n)):>11} "
                         f"{format_estimate(pv[n], p_value=True):>8} {format_estimate(lo):>12} "
                         f"{format_estimate(hi):>11}")
        if self.overrides:
            lines += ["", "parameters (params.override(overrides)):"]
            for path, v in self.overrides.items():
                lines.append(f"  {path} = {format_estimate(v)}")
        notes = self.diagnostics.get("notes") or []
        text = self.diagnostics.get("table")
        if text:
            lines += ["", text]
        for note in notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={format_estimate(v)}" for k, v in list(self.estimates.items())[:4])
        more = ", ..." if len(self.estimates) > 4 else ""
        return f"FitResult(kind={self.kind!r}, {shown}{more})"

    def to_dict(self) -> dict:
        """Plain JSON-safe data: numbers (NaN and inf as ``None``), strings, lists, dicts."""
        ci = self.conf_int()
        d = {
            "kind": self.kind, "method": self.method,
            "estimates": self.estimates, "std_errors": self.std_errors,
            "conf_int_95": {k: list(v) for k, v in ci.items()},
            "cov": np.asarray(self.cov).tolist(), "df": self.df,
            "interval": self.interval,
            "n_draws": 0 if self.draws is None else int(len(self.draws)),
            "overrides": self.overrides, "n_obs": self.n_obs, "success": self.success,
            "message": self.message, "diagnostics": self.diagnostics, "seed": self.seed,
            "params": None if self.params is None else self.params.to_dict(),
        }
        return _jsonable(d)

    def to_frame(self, *, alpha: float = 0.05):
        """The estimates table as a pandas DataFrame (requires pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame() needs pandas: pip install 'spchain[pandas]'") from exc
        ci = self.conf_int(alpha)
        pv = self.p_values()
        rows = [(n, e, self.std_errors.get(n, math.nan), pv[n], ci[n][0], ci[n][1])
                for n, e in self.estimates.items()]
        return pd.DataFrame(rows, columns=["name", "estimate", "std_error", "p_value",
                                           "ci_low", "ci_high"]).set_index("name")


def _frozen(x, dtype=float) -> np.ndarray:
    """A read-only copy of ``x`` (floats unless ``dtype=None``: unit labels may be strings)."""
    a = np.array(x, dtype)
    a.flags.writeable = False
    return a


def format_estimate(x, digits: int = 4, *, p_value: bool = False) -> str:
    """A number as the fitting tables print it.

    Fixed ``digits`` decimals, scientific notation from 1e5 and below 1e-3
    (zero excepted), ``"-"`` for a missing or non-finite value.

    Parameters
    ----------
    x : float or None
        The number (anything ``float()`` refuses is printed with ``str``).
    digits : int
        Decimals in fixed notation.
    p_value : bool
        Print a p-value: three decimals, ``"<0.001"`` below 0.001.

    Returns
    -------
    str

    Examples
    --------
    >>> format_estimate(0.51234), format_estimate(2.5e6), format_estimate(None), format_estimate(3.14159, 2)
    ('0.5123', '2.500e+06', '-', '3.14')
    >>> format_estimate(0.0004, p_value=True)
    '<0.001'
    """
    if x is None:
        return "-"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not np.isfinite(x):
        return "-"
    if p_value:
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.3e}"
    return f"{x:.{digits}f}"


def _jsonable(x):
    """Recursively convert NumPy scalars/arrays and non-finite floats to JSON-safe values."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)


def build(kind, names, values, cov, **kw) -> FitResult:
    """Assemble a :class:`FitResult` from parallel arrays (internal helper)."""
    values = np.asarray(values, float)
    cov = np.asarray(cov, float).reshape(len(names), len(names))
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    estimates = {n: float(v) for n, v in zip(names, values)}
    std_errors = {n: float(s) for n, s in zip(names, se)}
    if kind == "calibration" and "observed" not in kw:  # one part per target statistic
        rows = [r for r in kw.get("diagnostics", {}).get("targets", []) if "target" in r]
        kw["observed"] = {r["target"]: [r.get("value", math.nan)] for r in rows}
        kw["fitted"] = {r["target"]: [r.get("simulated", math.nan)] for r in rows}
        kw["data"] = {r["target"]: {"sd": [r.get("sd", math.nan)], "mc_se": [r.get("mc_se", math.nan)]}
                      for r in rows}
    return FitResult(kind=kind, estimates=estimates, std_errors=std_errors, cov=cov, **kw)
