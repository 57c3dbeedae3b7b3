"""Plotting helpers (matplotlib, imported only when a helper is called).

Every helper takes ``ax=None`` (or ``fig=None`` for the figure-level
:func:`plot_chain`) and returns what it drew on; nothing calls
``plt.show()``.  Labels and units come from :data:`spchain.metrics.METRICS`.
Colours are the Okabe-Ito palette, distinguishable for colour-blind readers,
and every scenario also has its own line style, so charts survive greyscale
printing.  :func:`style` is the house style (DejaVu Sans, sizes readable on a
projector); :func:`save_figure` writes PNG and byte-for-byte reproducible SVG.

============================  ==================================================
helper                        draws
============================  ==================================================
:func:`plot_kpi`              one KPI over time: a run, or scenarios' means with
                              confidence bands across replications
:func:`plot_chain`            the dashboard: every stage of the chain over time
:func:`plot_fan`              one KPI's spread across replications (fan chart)
:func:`plot_comparison`       scenario means, or paired differences against the
                              baseline, with confidence intervals
:func:`plot_tornado`          one-at-a-time designs: each factor's low and high
                              effect
:func:`plot_chain_diagram`    the chain's boxes and arrows with stage values and
                              link strengths (:mod:`spchain.diagram`)
:func:`plot_fit`              fit diagnostics: Q-Q, observed against fitted,
                              residuals (:mod:`spchain.fitplots`)
============================  ==================================================
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .diagram import plot_chain_diagram
from .fitplots import plot_fit
from .metrics import metric

__all__ = ["PALETTE", "SCENARIO_COLORS", "CHAIN_METRICS", "STYLE", "style", "save_figure",
           "plot_kpi", "plot_chain", "plot_fan", "plot_comparison", "plot_tornado",
           "plot_chain_diagram", "plot_fit", "tidy", "total_unit"]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: Scenario colours, in order: the palette without yellow (too pale on a projector).
SCENARIO_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_DASHES = ("-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 1)), (0, (8, 3)))

#: The chain, stage by stage, as drawn by :func:`plot_chain`.
CHAIN_METRICS = ("internal_service_quality", "employee_satisfaction", "turnover", "productivity",
                 "service_quality", "wait_time", "customer_satisfaction", "nps",
                 "active_customers", "revenue", "profit")

#: rcParams of the house style (see :func:`style`).
STYLE = {
    "font.family": "DejaVu Sans", "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11,
    "axes.titlelocation": "left", "xtick.labelsize": 10, "ytick.labelsize": 10,
    "legend.fontsize": 10, "legend.frameon": False, "lines.linewidth": 2.0,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": "#d9d9d9", "grid.linewidth": 0.6, "axes.axisbelow": True,
    "axes.edgecolor": "#444444", "axes.labelcolor": "#222222", "xtick.color": "#444444",
    "ytick.color": "#444444", "figure.facecolor": "white", "axes.facecolor": "white",
    "savefig.facecolor": "white", "savefig.dpi": 150, "svg.fonttype": "path",
    "svg.hashsalt": "spchain", "path.simplify": True,
}


def style():
    """Context manager applying :data:`STYLE` (the helpers use it themselves).

    >>> import spchain.plotting as sp
    >>> with sp.style():
    ...     pass
    """
    import matplotlib

    return matplotlib.rc_context(STYLE)


def save_figure(fig, path, *, formats=("png", "svg"), dpi=150) -> list:
    """Save ``fig`` as ``path`` with each suffix in ``formats``; return the paths written.

    SVG output is reproducible byte for byte (fixed hash salt, no date);
    PNG output is pixel for pixel.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        Target without suffix, or with one that is replaced (``charts/dashboard``).
    formats : sequence of {"png", "svg", "pdf"}
    dpi : int
        Resolution of raster output.
    """
    path = Path(path)
    if path.suffix.lower() in (".png", ".svg", ".pdf"):
        path = path.with_suffix("")
    out = []
    with style():
        if fig.get_layout_engine() is not None:  # settle the layout once; every format and save keeps it
            fig.canvas.draw()
            fig.set_layout_engine("none")
        for fmt in formats:
            if fmt not in ("png", "svg", "pdf"):
                raise ValueError(f"formats must hold 'png', 'svg' or 'pdf', got {fmt!r}")
            target = path.with_name(f"{path.name}.{fmt}")
            meta = {"Date": None} if fmt == "svg" else ({"CreationDate": None} if fmt == "pdf" else None)
            fig.savefig(target, format=fmt, dpi=dpi, metadata=meta)
            out.append(target)
    return out


# ----------------------------------------------------------------- helpers
def _is_experiment(result) -> bool:
    from .analysis import ExperimentResult

    return isinstance(result, ExperimentResult)


def _look(i):
    return SCENARIO_COLORS[i % len(SCENARIO_COLORS)], _DASHES[i % len(_DASHES)]


def _smooth(y, window):
    """Centred moving average over the last axis, ignoring NaN."""
    y = np.asarray(y, float)
    if window <= 1 or y.shape[-1] < window:
        return y
    kernel = np.ones(window) / window
    valid = np.isfinite(y)
    conv = lambda a: np.apply_along_axis(np.convolve, -1, a, kernel, mode="same")  # noqa: E731
    num, den = conv(np.where(valid, y, 0.0)), conv(valid.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _band(series, level):
    """Mean over replications and its Student-t half-width per period."""
    from scipy import stats

    n = np.sum(np.isfinite(series), axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(series, axis=0)
        sd = np.nanstd(series, axis=0, ddof=1)
        t = np.where(n > 1, stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)), np.nan)
        return mean, t * sd / np.sqrt(n)


def _scenarios(result, scenarios, *, limit=None):
    names = result.scenarios if scenarios is None else [result._scenario(s) for s in
                                                        ([scenarios] if isinstance(scenarios, str) else scenarios)]
    return list(names)[:limit] if limit else list(names)


def total_unit(name, result) -> str:
    """Unit of a per-run total: flows are summed over the weeks after the warm-up."""
    m = metric(name)
    if m.is_flow:
        return f"{m.unit.replace('/week', '')}, total of weeks {result.warmup + 1}-{result.horizon}"
    return m.unit


def _fmt(x) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if a >= 1 else f"{x:.3f}".rstrip("0").rstrip(".") if a else "0"


def _compact_formatter(largest):
    """Tick labels in thousands (``52k``) or millions (``1.2M``) for an axis reaching ``largest``."""
    from matplotlib.ticker import FuncFormatter

    div, suffix = (1e6, "M") if largest >= 1e7 else (1e3, "k")
    return FuncFormatter(lambda v, _pos=None: "0" if v == 0 else f"{v / div:g}{suffix}".replace("-", "\u2212"))


def tidy(ax, *, value_axis="y"):
    """House style on an Axes made elsewhere: open frame, light grid, compact big numbers."""
    from matplotlib.ticker import MaxNLocator

    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_axisbelow(True)
    ax.grid(True, color=STYLE["grid.color"], linewidth=STYLE["grid.linewidth"])
    axis = ax.yaxis if value_axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if value_axis == "y" else ax.get_xlim()
    largest = max(abs(lo), abs(hi))
    if largest >= 10000:
        axis.set_major_locator(MaxNLocator(6))
        axis.set_major_formatter(_compact_formatter(largest))


def _lower(label: str) -> str:
    """``"Mean wait"`` -> ``"mean wait"``, but ``"NPS"`` and ``"CSAT"`` stay as they are."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _mark_timeline(ax, result, names):
    """Shade the warm-up and mark the weeks levers change."""
    if result.warmup > 0:
        ax.axvspan(0.5, result.warmup + 0.5, color="#000000", alpha=0.06, lw=0, zorder=0)
    weeks = sorted({c.at_week for s in result.experiment.scenarios if s.name in names
                    for c in s.levers + s.uncertainties if c.at_week > 0})
    for w in weeks:
        ax.axvline(w + 0.5, color="#555555", lw=1.0, ls=(0, (2, 2)), zorder=1)


# -------------------------------------------------------------- over time
def plot_kpi(result, name, *, scenarios=None, unit=None, ax=None, label=None, color=None,
             linestyle=None, smooth=1, level=0.95, band=True, legend=None):
    """One KPI over time: one run, or each scenario's mean with a confidence band.

    Parameters
    ----------
    result : RunResult or ExperimentResult
        A run draws one line.  An experiment draws, per scenario, the mean
        over replications and its Student-t ``level`` band (per week), with
        the warm-up shaded and dotted lines where levers change.
    name : str
        KPI name (a key of :data:`spchain.metrics.METRICS`).
    scenarios : str or sequence of str, optional
        Experiment scenarios to draw; default all.
    unit : int, optional
        One unit's KPI instead of the organisation's.
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure otherwise.
    label, color, linestyle : optional
        For a run (or a single scenario): legend entry, colour, line style.
    smooth : int
        Width in weeks of a centred moving average (1 = raw), applied to
        each replication before averaging.
    level : float
        Confidence level of the bands.
    band : bool
        Draw the bands.
    legend : bool, optional
        Draw a legend; default when more than one scenario is drawn.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    m = metric(name)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
        if _is_experiment(result):
            names = _scenarios(result, scenarios)
            for i, s in enumerate(names):
                c, ls = _look(result.scenarios.index(s))
                if len(names) == 1:
                    c, ls = color or c, linestyle or ls
                series = _smooth(result.kpi(name, scenario=s, unit=unit), smooth)
                mean, half = _band(series, level)
                x = np.arange(1, mean.size + 1)
                ax.plot(x, mean, color=c, ls=ls, label=label if len(names) == 1 and label else s)
                if band and np.isfinite(half).any():
                    ax.fill_between(x, mean - half, mean + half, color=c, alpha=0.18, lw=0)
            _mark_timeline(ax, result, names)
            legend = len(names) > 1 if legend is None else legend
        else:
            y = _smooth(result.kpi(name, unit), smooth)
            ax.plot(np.arange(1, y.size + 1), y, label=label, color=color, ls=linestyle or "-")
            legend = bool(legend)
        ax.set_title(m.label)
        ax.set_xlabel("week")
        ax.set_ylabel(m.unit)
        ax.margins(x=0.01)
        tidy(ax)
        if legend:
            ax.legend()
    return ax


def plot_chain(results, *, labels=None, scenarios=None, metrics=CHAIN_METRICS, smooth=4, level=0.95,
               fig=None, ncols=4, title="The service-profit chain over time"):
    """The dashboard: every stage of the chain over time, one small multiple per KPI.

    Parameters
    ----------
    results : RunResult, sequence of RunResult, or ExperimentResult
        Runs draw one line each.  An experiment draws every scenario's mean
        with its confidence band across replications (see :func:`plot_kpi`).
    labels : sequence of str, optional
        Legend entries, one per run (runs only).
    scenarios : sequence of str, optional
        Experiment scenarios to overlay; default all (at most 7 stay legible).
    metrics : sequence of str
        KPIs to draw, in chain order.
    smooth : int
        Moving-average window in weeks.
    level : float
        Confidence level of the bands.
    fig : matplotlib.figure.Figure, optional
        Draw into this figure (it is cleared).
    ncols : int
        Panels per row.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    experiment = _is_experiment(results)
    if experiment:
        names = _scenarios(results, scenarios)
        entries = names
    else:
        if not isinstance(results, (list, tuple)):
            results = [results]
        entries = list(labels) if labels is not None else [f"run {i + 1}" for i in range(len(results))]
        if len(entries) != len(results):
            raise ValueError(f"labels must have one entry per result ({len(results)}), got {len(entries)}")
    for name in metrics:
        metric(name)
    nrows = -(-len(metrics) // ncols)
    with style():
        if fig is None:
            fig = plt.figure(figsize=(3.7 * ncols, 2.75 * nrows + 0.7))
        else:
            fig.clear()
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for k, (ax, name) in enumerate(zip(axes, metrics)):
            if experiment:
                plot_kpi(results, name, scenarios=names, ax=ax, smooth=smooth, level=level, legend=False)
            else:
                for i, (res, lab) in enumerate(zip(results, entries)):
                    c, ls = _look(i)
                    plot_kpi(res, name, ax=ax, label=lab, color=c, linestyle=ls, smooth=smooth)
            ax.title.set_fontsize(11)
            below = k + ncols
            ax.set_xlabel("week" if below >= len(metrics) else "")
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=_look(i)[0], ls=_look(i)[1]) for i in range(len(entries))]
        legend_labels = list(entries)
        note = f"{smooth}-week moving average" if smooth > 1 else "weekly values"
        if experiment:
            n = results.n_replications
            note += f"; mean of {n} replication{'s' if n != 1 else ''}"
            if n > 1:
                note += f" with {level:.0%} confidence band"
            if results.warmup:
                handles.append(Patch(color="#000000", alpha=0.06))
                legend_labels.append("warm-up")
            if any(c.at_week > 0 for s in results.experiment.scenarios if s.name in names
                   for c in s.levers + s.uncertainties):
                handles.append(Line2D([], [], color="#555555", lw=1.0, ls=(0, (2, 2))))
                legend_labels.append("change")
        top = 1 - 0.55 / fig.get_figheight()
        fig.suptitle(title, x=0.01, y=0.995, ha="left", va="top", fontsize=14)
        fig.text(0.01, 1 - 0.36 / fig.get_figheight(), note, ha="left", va="top", fontsize=10,
                 color="#555555")
        fig.legend(handles, legend_labels, loc="upper right", bbox_to_anchor=(0.995, 0.995),
                   ncol=min(len(legend_labels), 4), fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def plot_fan(result, name, *, scenario=None, unit=None, quantiles=(0.05, 0.25), smooth=1, ax=None,
             color=None, show_runs=True):
    """Fan chart: one KPI's spread across replications, week by week.

    Parameters
    ----------
    result : ExperimentResult
    name : str
        KPI name.
    scenario : str, optional
        Default the baseline.
    unit : int, optional
        One unit's KPI instead of the organisation's.
    quantiles : sequence of float
        Lower quantiles of the nested bands, each paired with ``1 - q``;
        default the 5-95% and 25-75% ranges of the replications.
    smooth : int
        Moving-average window in weeks, applied to each replication.
    ax : matplotlib.axes.Axes, optional
    color : optional
        Default the scenario's colour.
    show_runs : bool
        Also draw each replication as a thin line.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not _is_experiment(result):
        raise TypeError(f"plot_fan needs an ExperimentResult (replications), got {type(result).__name__}")
    m = metric(name)
    s = result._scenario(scenario)
    qs = sorted(float(q) for q in quantiles)
    if not qs or any(not 0 < q < 0.5 for q in qs):
        raise ValueError(f"quantiles must be numbers in (0, 0.5), got {quantiles!r}")
    c = color or _look(result.scenarios.index(s))[0]
    series = _smooth(result.kpi(name, scenario=s, unit=unit), smooth)
    x = np.arange(1, series.shape[1] + 1)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
        if show_runs:
            for row in series:
                ax.plot(x, row, color=c, lw=0.6, alpha=0.35)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for k, q in enumerate(qs):
                lo, hi = np.nanquantile(series, [q, 1 - q], axis=0)
                ax.fill_between(x, lo, hi, color=c, alpha=0.15 + 0.15 * k, lw=0,
                                label=f"{1 - 2 * q:.0%} of runs")
            ax.plot(x, np.nanmedian(series, axis=0), color=c, lw=2.2, label="median")
        _mark_timeline(ax, result, [s])
        ax.set_title(f"{m.label}: {s} ({result.n_replications} runs)")
        ax.set_xlabel("week")
        ax.set_ylabel(m.unit)
        ax.margins(x=0.01)
        tidy(ax)
        ax.legend(loc="best")
    return ax


# ------------------------------------------------------------ comparisons
def plot_comparison(result, name, *, kind="difference", relative=False, scenarios=None, level=0.95,
                    ax=None):
    """Scenario means, or paired differences against the baseline, with confidence intervals.

    Parameters
    ----------
    result : ExperimentResult
    name : str
        KPI name; each run's total after the warm-up (as
        :meth:`~spchain.ExperimentResult.estimate`).
    kind : {"difference", "mean"}
        Paired differences ``scenario - baseline`` (default), or each
        scenario's mean.
    relative : bool
        Differences as a percentage of the baseline's mean.
    scenarios : sequence of str, optional
        Scenarios to show; default all.
    level : float
        Confidence level.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not _is_experiment(result):
        raise TypeError(f"plot_comparison needs an ExperimentResult, got {type(result).__name__}")
    if kind not in ("difference", "mean"):
        raise ValueError(f"kind must be 'difference' or 'mean', got {kind!r}")
    m = metric(name)
    names = _scenarios(result, scenarios)
    if kind == "difference":
        names = [s for s in names if s != result.baseline]
        if not names:
            raise ValueError("no scenario to compare with the baseline; use kind='mean'")
    rows = []
    for s in names:
        if kind == "mean":
            e = result.estimate(name, scenario=s, level=level)
            rows.append((s, e.mean, e.low, e.high))
        else:
            d = result.difference(name, scenario=s, level=level)
            rows.append((s, 100 * d.relative, 100 * d.relative_low, 100 * d.relative_high) if relative
                        else (s, d.mean, d.low, d.high))
    unit = "%" if relative else total_unit(name, result)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 1.7 + 0.5 * len(rows)), layout="constrained")
        y = np.arange(len(rows))[::-1]
        for yi, (s, mean, lo, hi) in zip(y, rows):
            c = _look(result.scenarios.index(s))[0]
            err = None if not np.isfinite(lo) else [[mean - lo], [hi - mean]]
            ax.errorbar(mean, yi, xerr=err, fmt="o", color=c, ms=7, capsize=4, lw=2)
            ax.annotate(_fmt(mean) + ("%" if relative else ""), (mean, yi), xytext=(0, 7),
                        textcoords="offset points", ha="center", va="bottom", fontsize=9, color="#222222")
        if kind == "difference":
            ax.axvline(0, color="#222222", lw=1)
        ax.set_yticks(y, [r[0] for r in rows])
        ax.set_ylim(-0.6, len(rows) - 0.3)
        ax.grid(axis="y", visible=False)
        what = "change" if relative else "difference"
        if kind == "difference":
            ax.set_title(f"{m.label}: {what} against {result.baseline!r}")
            ax.set_xlabel(f"{what} in {_lower(m.label)} ({unit}), {level:.0%} CI")
        else:
            ax.set_title(f"{m.label} by scenario")
            ax.set_xlabel(f"{m.label} ({unit}), mean and {level:.0%} CI")
        ax.set_ylabel("scenario")
        tidy(ax, value_axis="x")
        ax.grid(axis="y", visible=False)
    return ax


def _oat_factors(result, baseline):
    """``{path: [(value, scenario), ...]}`` of a one-at-a-time design."""
    factors = {}
    for s in result.experiment.scenarios:
        if s.name == baseline:
            continue
        changes = s.levers + s.uncertainties
        if len({c.path for c in changes}) != 1:
            raise ValueError(f"plot_tornado needs a one-at-a-time design (each scenario changing one "
                             f"parameter); scenario {s.name!r} changes {len({c.path for c in changes})}")
        c = changes[-1]
        factors.setdefault(c.path, []).append((c.value, s.name))
    if not factors:
        raise ValueError("plot_tornado needs scenarios besides the baseline")
    return factors


def plot_tornado(result, name, *, baseline=None, relative=False, level=0.95, ax=None):
    """Tornado chart of a one-at-a-time design: each factor's effect at its low and high value.

    Bars are paired differences against the baseline with their confidence
    intervals, the factor with the widest swing on top.  Build the design with
    :func:`spchain.one_at_a_time`.

    Parameters
    ----------
    result : ExperimentResult
        Every scenario but the baseline changes exactly one parameter.
    name : str
        KPI name (per-run totals after the warm-up).
    baseline : str, optional
        Default the experiment's baseline.
    relative : bool
        Effects as a percentage of the baseline's mean.
    level : float
        Confidence level of the error bars.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If a scenario changes more than one parameter.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not _is_experiment(result):
        raise TypeError(f"plot_tornado needs an ExperimentResult, got {type(result).__name__}")
    m = metric(name)
    b = result._scenario(baseline)
    from .scenarios import short_names

    factors = _oat_factors(result, b)
    short = short_names(list(factors))
    rows = []
    for path, items in factors.items():
        base_value = result.experiment.params[b].get(path)
        bars = []
        for value, s in sorted(items, key=lambda vs: (vs[0] if isinstance(vs[0], (int, float)) else 0)):
            d = result.difference(name, scenario=s, baseline=b, level=level)
            est = (100 * d.relative, 100 * d.relative_low, 100 * d.relative_high) if relative else \
                (d.mean, d.low, d.high)
            high = isinstance(value, (int, float)) and isinstance(base_value, (int, float)) and value > base_value
            bars.append((value, high, *est))
        swing = max(abs(v[2]) for v in bars)
        rows.append((swing, short[path], base_value, bars))
    rows.sort(key=lambda r: r[0])
    low_c, high_c = SCENARIO_COLORS[0], SCENARIO_COLORS[1]
    unit = "%" if relative else total_unit(name, result)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(7.6, 1.6 + 0.62 * len(rows)), layout="constrained")
        for yi, (*_, bars) in enumerate(rows):
            for value, high, mean, lo, hi in bars:
                c = high_c if high else low_c
                ax.barh(yi, mean, height=0.55, color=c, alpha=0.85)
                if np.isfinite(lo):
                    ax.errorbar(mean, yi, xerr=[[mean - lo], [hi - mean]], fmt="none", ecolor="#222222",
                                capsize=3, lw=1.2)
                ax.annotate(_fmt(value) if isinstance(value, (int, float)) else str(value), (mean, yi),
                            xytext=(4 if mean >= 0 else -4, -12), textcoords="offset points",
                            ha="left" if mean >= 0 else "right", va="center", fontsize=9, color="#222222")
        ax.axvline(0, color="#222222", lw=1)
        ax.set_yticks(range(len(rows)), [f"{r[1]}\n(base {_fmt(r[2]) if isinstance(r[2], (int, float)) else r[2]})"
                                         for r in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_title(f"{m.label}: one factor at a time against {b!r}")
        ax.set_xlabel(f"{'change' if relative else 'difference'} in {_lower(m.label)} ({unit}), "
                      f"{level:.0%} CI")
        ax.set_ylabel("factor")
        tidy(ax, value_axis="x")
        ax.grid(axis="y", visible=False)
        ax.legend([Patch(color=low_c), Patch(color=high_c)], ["lower\nvalue", "higher\nvalue"],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax
