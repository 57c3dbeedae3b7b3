"""Fit duration distributions with scipy.stats: :func:`fit_distribution`.

Handling times, internal request times, inter-arrival times, employee
tenure and customer lifetimes are fitted by maximum likelihood with
``scipy.stats`` families (location fixed at 0: durations start at zero).
Right-censored observations (people still employed, customers still
active, callers served before their patience ran out) enter through
``scipy.stats.CensoredData``: their likelihood contribution is the survival
function, not the density.  Candidates are ranked by AIC; standard errors
come from the observed information (the numerical Hessian of the
log-likelihood, ``scipy.differentiate.hessian``) and the delta method
(``scipy.differentiate.jacobian``) for derived quantities.

With ``target=`` the fit is mapped onto the model's parameters (see
:data:`TARGETS`), so ``fit.params`` or ``params.override(fit.overrides)``
drops it straight into a run.
"""

from __future__ import annotations

import numpy as np
from scipy import differentiate, stats

from .result import DataError, build
from ..params import ParamError, Params, check_integer, suggest

__all__ = ["fit_distribution", "FAMILIES", "TARGETS"]

#: Default candidate families (``scipy.stats`` names), location fixed at 0.
FAMILIES = ("expon", "gamma", "lognorm", "weibull_min")

#: ``target`` -> (unit of the data, what the fit sets).  ``<name>`` is a department name.
TARGETS = {
    "workforce.service_time_minutes": (
        "minutes", "front-line handling times: mean -> workforce.service_time_minutes, "
        "coefficient of variation -> workforce.service_time_cv (the model draws gamma service "
        "times with that mean and cv, so a non-gamma best fit is matched by its first two moments)"),
    "internal.departments.<name>.service_time_hours": (
        "open hours", "hands-on time of one internal request: mean -> the department's "
        "service_time_hours (exponential in the model; a non-exponential fit is matched by its mean)"),
    "workforce.base_quit_rate": (
        "weeks", "employee tenure, censored=still employed: 52 / mean -> the annual quit hazard "
        "(exact for the exponential; otherwise the constant hazard with the same mean tenure); the "
        "model's hazard is at reference satisfaction, so fit tenure from a period when satisfaction "
        "was near workforce.reference_satisfaction or calibrate the two together"),
    "customers.base_churn_rate": (
        "weeks", "customer lifetimes, censored=still active: 52 / mean -> the annual churn hazard "
        "(as for base_quit_rate)"),
    "workforce.time_to_fill_weeks": (
        "weeks", "vacancy durations, censored=still open: mean -> workforce.time_to_fill_weeks"),
    "customers.patience_minutes": (
        "minutes", "time in queue until abandoning, censored=served before abandoning: mean -> "
        "customers.patience_minutes (exponential in the model)"),
    "customers.visit_rate": (
        "open hours", "inter-arrival times of one unit's customers: visit_rate = hours_per_week / "
        "(mean * n_customers), with both taken from params"),
}


def fit_distribution(data, *, censored=None, families=FAMILIES, target: str | None = None,
                     params: Params | None = None, gof_samples: int = 0, seed: int | None = 0):
    """Fit a duration distribution, choosing the family by AIC.

    Parameters
    ----------
    data : array_like of float
        Positive durations, one per case (for censored cases, the time
        observed so far).
    censored : array_like of bool, optional
        ``True`` where the duration is right-censored (the event has not
        happened yet: still employed, still a customer).  ``None``: nothing
        is censored.
    families : sequence of str
        ``scipy.stats`` continuous distribution names to compare.
    target : str, optional
        A key of :data:`TARGETS` (for departments, the real name, e.g.
        ``"internal.departments.it.service_time_hours"``): map the fit onto
        model parameters.  The data must be in the unit that key lists.
    params : Params, optional
        Base parameters for ``fit.params`` (and for the ``visit_rate``
        conversion); defaults to ``Params()``.
    gof_samples : int
        Monte Carlo samples for ``scipy.stats.goodness_of_fit`` (Anderson-
        Darling, parameters re-estimated on each sample) on the selected
        family; 0 skips it.  Only for uncensored data.
    seed : int or None
        Seed of the goodness-of-fit Monte Carlo.

    Returns
    -------
    FitResult
        ``observed``, ``fitted`` and ``data`` hold one part, ``"cdf"``: the
        empirical CDF (Kaplan-Meier under censoring) and the fitted CDF at
        the sorted durations, and the durations with their censoring flags.
        ``estimates``: the selected family's parameters (``scipy.stats``
        shape names and ``scale``), its ``mean`` and ``cv``, and the target
        parameter path(s); ``value`` is the frozen distribution;
        ``diagnostics["candidates"]`` ranks every family by AIC with
        Kolmogorov-Smirnov and Cramer-von Mises statistics (uncensored) or
        the largest distance to the Kaplan-Meier estimate (censored).

    Raises
    ------
    DataError
        Non-positive, non-finite or too few durations; ``censored`` of the
        wrong length or type.
    ParamError
        Unknown ``target``.

    Examples
    --------
    >>> import numpy as np
    >>> from spchain.fitting.distributions import fit_distribution
    >>> x = np.random.default_rng(1).gamma(4.0, 3.0, size=400)
    >>> fit = fit_distribution(x, target="workforce.service_time_minutes")
    >>> fit.diagnostics["family"]
    'gamma'
    >>> round(fit.overrides["workforce.service_time_minutes"])
    12
    """
    durations, censored = _validate(data, censored)
    families = _families(families)
    check_integer("gof_samples", gof_samples, 0, error=ValueError)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
    if gof_samples and seed is None:
        seed = int(np.random.SeedSequence().entropy)  # fresh, and recorded on the result
    base = Params() if params is None else params
    if not isinstance(base, Params):
        raise ParamError(f"params must be a spchain.Params, got {type(base).__name__}")
    mapping = _target(target, base) if target is not None else None
    need = max(d.numargs + 2 for d in families.values())
    if np.count_nonzero(~censored) < need:
        raise DataError(f"data has {np.count_nonzero(~censored)} uncensored durations; at least {need} "
                        f"are needed to fit {sorted(families)}")

    candidates = _candidates(families, durations, censored)
    ranked = sorted((c for c in candidates if "aic" in c and np.isfinite(c["aic"])), key=lambda c: c["aic"])
    if not ranked:
        raise DataError("no family could be fitted: "
                        + "; ".join(f"{c['family']}: {c.get('error')}" for c in candidates))
    best = ranked[0]
    for c in ranked:
        c["delta_aic"] = c["aic"] - best["aic"]
    dist = families[best["family"]]
    theta = np.array(best["params"])
    notes = []
    cov_theta = _parameter_cov(dist, durations, censored, theta, notes)
    frozen = dist(*theta[:-1], loc=0, scale=theta[-1])
    names, values, cov, overrides = _derived_estimates(dist, theta, cov_theta, frozen, mapping)
    gof = _goodness_of_fit(dist, durations, censored, gof_samples, seed, notes)
    try:
        fitted_params = base.override(overrides) if overrides else None
    except ParamError as exc:
        raise DataError(f"the fitted values do not give valid parameters: {exc}") from None
    diagnostics = dict(family=best["family"], candidates=candidates, n_censored=int(censored.sum()),
                       target=target, table=_table(ranked + [c for c in candidates if "aic" not in c]),
                       notes=notes, **gof)
    order = np.argsort(durations, kind="stable")
    return build("distribution", names, values, cov, df=None, overrides=overrides,
                 params=fitted_params, value=frozen, n_obs=int(durations.size), success=True,
                 observed={"cdf": _empirical_cdf(durations[order], censored[order])},
                 fitted={"cdf": frozen.cdf(durations[order])},
                 data={"cdf": {"duration": durations[order], "censored": censored[order]}},
                 message="", seed=seed if gof else None,
                 method=f"maximum likelihood, {best['family']} (loc=0) selected by AIC among "
                        f"{', '.join(families)}" + (", right-censored data" if censored.any() else ""),
                 diagnostics=diagnostics)


# ------------------------------------------------------ fit_distribution's steps
def _candidates(families, x, cens) -> list:
    """Each family fitted by maximum likelihood (loc fixed at 0): its parameters, log-likelihood, AIC,
    BIC and goodness of fit, or the error that stopped it."""
    cdata = stats.CensoredData(uncensored=x[~cens], right=x[cens]) if cens.any() else x
    candidates = []
    for name, dist in families.items():
        try:
            theta = np.array(dist.fit(cdata, floc=0), float)
        except Exception as exc:  # noqa: BLE001 - a family that cannot fit is reported, not fatal
            candidates.append(dict(family=name, error=str(exc)))
            continue
        theta = np.delete(theta, dist.numargs)  # drop loc (fixed at 0)
        ll = float(_loglik(dist, x, cens, theta))
        k = theta.size
        candidate = dict(family=name, params=theta.tolist(), loglik=ll, k=k, aic=2 * k - 2 * ll,
                         bic=k * np.log(x.size) - 2 * ll)
        candidate.update(_fit_checks(dist, theta, x, cens))
        candidates.append(candidate)
    return candidates


def _parameter_cov(dist, x, cens, theta, notes) -> np.ndarray:
    """Covariance of the MLE ``theta``: the inverse observed information (NaN, with a note, when it is
    not positive definite)."""
    # differentiate in relative terms (theta = theta_hat * r around r = 1): steps of 1% of each value
    scale_t = np.where(theta != 0, theta, 1.0)
    hess_r = differentiate.hessian(
        lambda r: _loglik(dist, x, cens, r * scale_t.reshape((-1,) + (1,) * (r.ndim - 1))),
        np.ones_like(theta), initial_step=0.01).ddf
    hess = hess_r / np.outer(scale_t, scale_t)
    try:
        cov_theta = np.linalg.inv(-hess)
        if np.any(np.diag(cov_theta) <= 0) or not np.all(np.isfinite(cov_theta)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov_theta = np.full((theta.size, theta.size), np.nan)
        notes.append("the observed information is not positive definite at the optimum; "
                     "standard errors are not available")
    return cov_theta


def _derived_estimates(dist, theta, cov_theta, frozen, mapping):
    """``(names, values, cov, overrides)``: the shapes and scale, the mean and cv, and the target
    parameters, with their covariance by the delta method."""
    shape_names = [s.strip() for s in dist.shapes.split(",")] if dist.shapes else []
    paths = [] if mapping is None else list(mapping[1](np.array([frozen.mean(), 1.0])))
    names = shape_names + ["scale", "mean", "cv"] + paths

    def derived(t):
        shapes, scale = t[:-1], t[-1]
        mean = dist.mean(*shapes, scale=scale)
        cv = dist.std(*shapes, scale=scale) / mean
        out = [*t, mean, cv]
        if mapping is not None:
            out += list(mapping[1](np.stack([mean, cv])).values())
        return np.stack([np.broadcast_to(np.asarray(v, float), np.shape(mean)) for v in out])

    values = derived(theta)
    step = 0.01 * np.abs(np.where(theta != 0, theta, 1.0))
    jac = differentiate.jacobian(derived, theta, initial_step=step).df
    overrides = {p: float(v) for p, v in zip(paths, values[len(names) - len(paths):])}
    return names, values, jac @ cov_theta @ jac.T, overrides


def _goodness_of_fit(dist, x, cens, gof_samples, seed, notes) -> dict:
    """The Monte Carlo Anderson-Darling test of the selected family (``gof_samples`` > 0, uncensored
    data), and the notes on how to read the fit checks."""
    gof = {}
    if gof_samples:
        if cens.any():
            notes.append("gof_samples ignored: the Monte Carlo goodness-of-fit test needs uncensored data")
        else:
            res = stats.goodness_of_fit(dist, x, known_params={"loc": 0}, statistic="ad",
                                        n_mc_samples=int(gof_samples), rng=np.random.default_rng(
                                            np.random.SeedSequence(seed)))
            gof = dict(ad_statistic=float(res.statistic), ad_pvalue=float(res.pvalue),
                       ad_samples=int(gof_samples))
    if cens.any():
        notes.append("goodness of fit under censoring: 'km_distance' is the largest gap between "
                     "the fitted CDF and the Kaplan-Meier estimate (no p-value)")
    elif not gof:
        notes.append("KS and CvM p-values use parameters estimated from the same data and are "
                     "conservative; pass gof_samples=999 for a calibrated Anderson-Darling test")
    return gof


# --------------------------------------------------------------- helpers
def _empirical_cdf(t, cens):
    """One minus the Kaplan-Meier survival just after each of the sorted durations ``t``
    (the plain empirical CDF when nothing is censored)."""
    events = np.unique(t[~cens])
    at_risk = t.size - np.searchsorted(t, events, side="left")
    deaths = np.searchsorted(t[~cens], events, side="right") - np.searchsorted(t[~cens], events, side="left")
    surv = np.cumprod(1.0 - deaths / at_risk)
    i = np.searchsorted(events, t, side="right") - 1
    return 1.0 - np.where(i >= 0, surv[np.maximum(i, 0)], 1.0)


def _validate(data, censored):
    try:
        x = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"data must be an array of positive numbers, got {type(data).__name__}") from None
    if x.ndim != 1:
        raise DataError(f"data must be one-dimensional, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x) | (x <= 0))
    if bad.size:
        raise DataError(f"data must be positive, finite durations; data[{bad[0]}] = {float(x[bad[0]])!r} "
                        f"({bad.size} such value(s))")
    if x.size and np.ptp(x) == 0:
        raise DataError(f"data are all equal ({float(x[0])!r}); a distribution needs varying durations")
    if censored is None:
        return x, np.zeros(x.size, bool)
    flags = np.asarray(censored)
    if flags.shape != x.shape:
        raise DataError(f"censored must have one flag per duration: shape {x.shape}, got {flags.shape}")
    if flags.dtype != bool:
        if not np.all(np.isin(flags, (0, 1))):
            raise DataError("censored must hold booleans (True = right-censored), got values "
                            f"{np.unique(flags)[:5].tolist()}")
        flags = flags.astype(bool)
    return x, flags


def _families(families):
    if isinstance(families, str):
        families = (families,)
    out = {}
    for family in families:
        if isinstance(family, stats.rv_continuous):
            out[family.name] = family
            continue
        dist = getattr(stats, family, None) if isinstance(family, str) else None
        if not isinstance(dist, stats.rv_continuous):
            names = [n for n in dir(stats) if isinstance(getattr(stats, n), stats.rv_continuous)]
            raise ValueError(f"unknown distribution family {family!r}{suggest(family, names)}; expected "
                             f"scipy.stats continuous distribution names such as {list(FAMILIES)}")
        out[family] = dist
    if not out:
        raise ValueError("families must name at least one distribution")
    return out


def _loglik(dist, x, cens, theta):
    """Log-likelihood; ``theta`` has shape (k, ...) for vectorised derivatives."""
    theta = np.asarray(theta, float)
    shapes = [t[..., None] for t in theta[:-1]]
    scale = theta[-1][..., None]
    ll = dist.logpdf(x[~cens], *shapes, loc=0, scale=scale).sum(axis=-1)
    if cens.any():
        ll = ll + dist.logsf(x[cens], *shapes, loc=0, scale=scale).sum(axis=-1)
    return ll


def _fit_checks(dist, theta, x, cens):
    """Kolmogorov-Smirnov and Cramer-von Mises statistics, or under censoring the largest distance
    between the fitted CDF and the Kaplan-Meier estimate."""
    frozen = dist(*theta[:-1], loc=0, scale=theta[-1])
    if cens.any():
        km = stats.ecdf(stats.CensoredData(uncensored=x[~cens], right=x[cens])).cdf
        q = km.quantiles
        return dict(km_distance=float(np.max(np.abs(km.probabilities - frozen.cdf(q)))))
    ks = stats.kstest(x, frozen.cdf)
    cvm = stats.cramervonmises(x, frozen.cdf)
    return dict(ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue),
                cvm_statistic=float(cvm.statistic), cvm_pvalue=float(cvm.pvalue))


def _target(target, base):
    """``(unit, f([mean, cv]) -> {path: value})`` for a target."""
    if not isinstance(target, str):
        raise ParamError(f"target must be a parameter path string, got {target!r}")
    parts = target.split(".")
    key = target
    if len(parts) == 4 and parts[:2] == ["internal", "departments"] and parts[3] == "service_time_hours":
        names = [d.name for d in base.internal.departments]
        if parts[2] not in names:
            raise ParamError(f"target {target!r}: unknown department {parts[2]!r}; expected one of {names}")
        key = "internal.departments.<name>.service_time_hours"
    if key not in TARGETS:
        raise ParamError(f"unknown fit target {target!r}{suggest(target, TARGETS)}; "
                         f"expected one of {list(TARGETS)}")
    unit = TARGETS[key][0]
    if key == "workforce.service_time_minutes":
        return unit, lambda m: {target: m[0], "workforce.service_time_cv": m[1]}
    if key in ("workforce.base_quit_rate", "customers.base_churn_rate"):
        return unit, lambda m: {target: 52.0 / m[0]}
    if key == "customers.visit_rate":
        h = base.organisation.hours_per_week
        n = base.customers.n_customers
        if n == 0:
            raise ParamError("target customers.visit_rate needs params with customers.n_customers > 0")
        return unit, lambda m: {target: h / (m[0] * n)}
    return unit, lambda m: {target: m[0]}


def _table(cands) -> str:
    lines = [f"{'family':<14}{'k':>3}{'log-lik':>14}{'AIC':>12}{'dAIC':>9}{'fit check':>26}"]
    for c in cands:
        if "aic" not in c:
            lines.append(f"{c['family']:<14}  failed: {c.get('error')}")
            continue
        if "km_distance" in c:
            check = f"KM dist {c['km_distance']:.3f}"
        else:
            check = f"KS {c['ks_statistic']:.3f} (p {c['ks_pvalue']:.3f})"
        lines.append(f"{c['family']:<14}{c['k']:>3}{c['loglik']:>14.2f}{c['aic']:>12.2f}"
                     f"{c['delta_aic']:>9.2f}{check:>26}")
    return "\n".join(lines)
