"""Fit diagnostics: :func:`plot_fit` for every kind of :class:`~spchain.fitting.result.FitResult`.

========================  ===================================================
fit                       ``kind=``
========================  ===================================================
distribution              ``"qq"`` (default): observed against fitted
                          quantiles (Kaplan-Meier quantiles under censoring);
                          ``"density"``: histogram and fitted density;
                          ``"survival"``: Kaplan-Meier and fitted survival
links                     ``"observed"`` (default): observed against fitted,
                          one equation; ``"residuals"``: residuals against
                          fitted (Pearson residuals for Poisson equations),
                          from the fit's ``observed`` and ``fitted``
calibration               ``"observed"`` (default): simulated and target,
                          relative to the target; ``"residuals"``: ``z`` per
                          statistic
========================  ===================================================

Also available as :func:`spchain.viz.plotting.plot_fit` and :func:`spchain.viz.plot_fit`.
"""

from __future__ import annotations

import numpy as np

from .style import style, tidy

__all__ = ["plot_fit", "link_predictions", "kaplan_meier"]

_KINDS = {"distribution": ("qq", "density", "survival"), "links": ("observed", "residuals"),
          "calibration": ("observed", "residuals")}
_BLUE, _VERM, _INK = "#0072B2", "#D55E00", "#222222"


def kaplan_meier(times, censored=None):
    """Kaplan-Meier estimate: ``(event times, survival just after each)``.

    >>> t, s = kaplan_meier([1.0, 2.0, 3.0, 4.0], censored=[False, True, False, False])
    >>> s.round(3).tolist()
    [0.75, 0.375, 0.0]
    """
    t = np.asarray(times, float)
    c = np.zeros(t.size, bool) if censored is None else np.asarray(censored, bool)
    order = np.argsort(t, kind="stable")
    t, c = t[order], c[order]
    at_risk = t.size - np.arange(t.size)
    events = np.unique(t[~c])
    surv, s = [], 1.0
    for e in events:
        n = at_risk[np.searchsorted(t, e, side="left")]
        d = np.count_nonzero((t == e) & ~c)
        s *= 1.0 - d / n
        surv.append(s)
    return events, np.array(surv)


def _duration_unit(fit, unit):
    if unit is not None:
        return unit
    from ..fitting.distributions import TARGETS

    target = fit.diagnostics.get("target")
    for key, (u, _) in TARGETS.items():
        if target == key or (target and "<name>" in key and target.endswith(key.split("<name>.")[-1])):
            return u
    return "data units"


def _distribution(fit, data, censored, kind, unit, ax):
    if data is None:
        raise ValueError("plot_fit of a distribution fit needs the data it was fitted to: plot_fit(fit, data)")
    x = np.asarray(data, float)
    cens = np.zeros(x.size, bool) if censored is None else np.asarray(censored, bool)
    if cens.shape != x.shape:
        raise ValueError(f"censored must have one entry per duration ({x.size}), got {cens.size}")
    dist, family = fit.value, fit.diagnostics.get("family", "fitted")
    unit = _duration_unit(fit, unit)
    note = f" ({cens.sum()} censored)" if cens.any() else ""
    if kind == "qq":
        times, surv = kaplan_meier(x, cens)
        prob = 1.0 - surv
        if not cens.any():  # plotting positions (i - 0.5) / n for complete data
            times = np.sort(x)
            prob = (np.arange(1, x.size + 1) - 0.5) / x.size
        keep = (prob > 0) & (prob < 1)
        theo = dist.ppf(prob[keep])
        ax.plot(theo, times[keep], "o", ms=3.5, color=_BLUE, alpha=0.7, label="observed")
        hi = max(np.nanmax(theo), np.nanmax(times[keep]))
        ax.plot([0, hi], [0, hi], color=_INK, lw=1.2, label="perfect fit")
        ax.set_xlabel(f"fitted {family} quantile ({unit})")
        ax.set_ylabel(f"observed quantile ({unit})")
        ax.set_title(f"Q-Q plot: {family} fit, {x.size} durations{note}")
    elif kind == "density":
        if cens.any():
            raise ValueError("kind='density' needs uncensored data (a histogram of censored durations "
                             "is biased); use kind='survival' or 'qq'")
        ax.hist(x, bins="auto", density=True, color=_BLUE, alpha=0.35, label="observed")
        grid = np.linspace(0, np.quantile(x, 0.995), 300)
        ax.plot(grid, dist.pdf(grid), color=_VERM, lw=2.2, label=f"fitted {family}")
        ax.set_xlabel(f"duration ({unit})")
        ax.set_ylabel(f"density (1/{unit})")
        ax.set_title(f"Observed and fitted density, {x.size} durations")
    else:
        times, surv = kaplan_meier(x, cens)
        ax.step(np.r_[0, times], np.r_[1, surv], where="post", color=_BLUE, label="Kaplan-Meier")
        grid = np.linspace(0, np.max(x), 300)
        ax.plot(grid, dist.sf(grid), color=_VERM, ls="--", label=f"fitted {family}")
        ax.set_xlabel(f"duration ({unit})")
        ax.set_ylabel("share surviving")
        ax.set_title(f"Survival: observed and fitted{note}")
    ax.legend()


def link_predictions(fit, panel=None, equation=None, *, columns=None, scales=None):
    """Observed and fitted values of one equation of a :func:`~spchain.fit_links` result.

    Read from the fit's public ``observed``, ``fitted``, ``residuals`` and
    ``data`` (:class:`~spchain.fitting.result.FitResult`); ``panel``,
    ``columns`` and ``scales`` are accepted for compatibility and not used.

    Returns
    -------
    dict
        ``observed``, ``fitted``, ``residuals`` (Pearson for Poisson), ``unit``
        arrays, and ``y_label`` and ``kind`` of the equation.
    """
    eqs = {d["name"]: d for d in fit.diagnostics.get("equations", [])}
    if equation is None:
        raise TypeError("link_predictions() needs the equation's name")
    if equation not in eqs:
        raise KeyError(f"equation {equation!r} is not in this fit; expected one of {list(eqs)}")
    if equation not in fit.fitted:
        raise ValueError(f"this fit carries no fitted values for {equation!r} (a FitResult made without "
                         f"them); fit it again with spchain.fit_links")
    y, fitted, kind = fit.observed[equation], fit.fitted[equation], eqs[equation]["kind"]
    resid = fit.residuals[equation]
    if kind == "poisson":
        with np.errstate(divide="ignore", invalid="ignore"):
            resid = resid / np.sqrt(fitted)
    return dict(observed=y, fitted=fitted, residuals=resid, unit=fit.data[equation]["unit"],
                y_label=eqs[equation]["y"], kind=kind)


def _y_unit(equation, kind):
    from ..metrics import METRICS

    if equation == "revenue":
        return "log money/customer/week"
    if kind == "poisson":
        return "count/week"
    return METRICS[equation].unit if equation in METRICS else "data units"


def _title(equation):
    from ..metrics import METRICS

    return METRICS[equation].label if equation in METRICS else equation.replace("_", " ").capitalize()


def _links(fit, equation, kind, ax):
    names = [d["name"] for d in fit.diagnostics.get("equations", [])]
    equation = names[0] if equation is None else equation
    p = link_predictions(fit, equation=equation)
    unit = _y_unit(equation, p["kind"])
    if kind == "observed":
        ax.plot(p["fitted"], p["observed"], "o", ms=3, color=_BLUE, alpha=0.45, label="unit-week")
        lo = np.nanmin([p["fitted"].min(), p["observed"].min()])
        hi = np.nanmax([p["fitted"].max(), p["observed"].max()])
        ax.plot([lo, hi], [lo, hi], color=_INK, lw=1.2, label="observed = fitted")
        ax.set_ylabel(f"observed {p['y_label']} ({unit})")
        ax.set_title(f"{_title(equation)}: observed against fitted")
        ax.legend()
    else:
        ax.plot(p["fitted"], p["residuals"], "o", ms=3, color=_BLUE, alpha=0.45)
        ax.axhline(0, color=_INK, lw=1.2)
        what = "Pearson residual (sd)" if p["kind"] == "poisson" else f"residual ({unit})"
        ax.set_ylabel(what)
        ax.set_title(f"{_title(equation)}: residuals against fitted")
    ax.set_xlabel(f"fitted {p['y_label']} ({unit})")


def _calibration(fit, kind, ax):
    rows = [r for r in fit.diagnostics.get("targets", []) if r.get("value") is not None
            and np.isfinite(r["value"])]
    if not rows:
        raise ValueError("this calibration fit has no targets to plot")
    y = np.arange(len(rows))[::-1]
    labels = [r["target"] for r in rows]
    if kind == "observed":
        scale = np.array([abs(r["value"]) if r["value"] else 1.0 for r in rows])
        value = np.array([r["value"] for r in rows]) / scale * 100
        sim = np.array([r["simulated"] for r in rows]) / scale * 100
        sd = np.array([r["sd"] for r in rows]) / scale * 100
        se = np.array([r["mc_se"] for r in rows]) / scale * 100
        ax.errorbar(value, y + 0.12, xerr=2 * sd, fmt="s", color=_INK, mfc="white", capsize=3,
                    label="target \u00b1 2 sd")
        ax.errorbar(sim, y - 0.12, xerr=2 * se, fmt="o", color=_BLUE, capsize=3,
                    label="simulated \u00b1 2 MC s.e.")
        ax.set_xlabel("value relative to the target's size (% of |target|)")
        ax.set_title("Calibration: simulated against target")
        ax.legend()
    else:
        z = np.array([r["z"] if r["z"] is not None else np.nan for r in rows], float)
        ax.barh(y, z, color=[_VERM if abs(v) > 2 else _BLUE for v in z], height=0.6)
        for v in (-2, 2):
            ax.axvline(v, color="#888888", lw=1, ls="--")
        ax.axvline(0, color=_INK, lw=1)
        ax.set_xlabel("z = (simulated - target) / sd (standard deviations)")
        ax.set_title("Calibration: standardised misfit")
    ax.set_yticks(y, labels)
    ax.set_ylabel("target statistic")
    ax.grid(axis="y", visible=False)


def plot_fit(fit, data=None, *, kind=None, censored=None, equation=None, columns=None, scales=None,
             unit=None, ax=None):
    """Diagnostics of a fit: observed against fitted, residuals, Q-Q.

    Parameters
    ----------
    fit : FitResult
        From :func:`~spchain.fit_distribution`, :func:`~spchain.fit_links` or
        :func:`~spchain.calibrate`.
    data : array_like, optional
        Distribution fits: the durations the fit was made from.  Link and
        calibration fits carry what they need (``fit.observed``,
        ``fit.fitted``); a panel passed here is not used.
    kind : str, optional
        See the module docstring; default ``"qq"`` for distributions,
        ``"observed"`` otherwise.
    censored : array_like of bool, optional
        Distribution fits: which durations are right-censored.
    equation : str, optional
        Link fits: the equation to show; default the first.
    columns, scales : mapping, optional
        Not used (link fits carry their data); accepted for compatibility.
    unit : str, optional
        Distribution fits: the data's unit; default the ``target``'s.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if fit.kind not in _KINDS:
        raise ValueError(f"plot_fit cannot draw a {fit.kind!r} fit; expected one of {list(_KINDS)}")
    kind = _KINDS[fit.kind][0] if kind is None else kind
    if kind not in _KINDS[fit.kind]:
        raise ValueError(f"kind must be one of {_KINDS[fit.kind]} for a {fit.kind} fit, got {kind!r}")
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
        if fit.kind == "distribution":
            _distribution(fit, data, censored, kind, unit, ax)
        elif fit.kind == "links":
            _links(fit, equation, kind, ax)
        else:
            _calibration(fit, kind, ax)
        tidy(ax, value_axis="x" if fit.kind == "calibration" else "y")
        if fit.kind == "calibration":
            ax.grid(axis="y", visible=False)
    return ax
