"""Plotting helpers (matplotlib, imported only when a helper is called).

Every helper takes ``ax=None`` (or ``fig=None`` for the figure-level
:func:`plot_chain`) and returns what it drew on; nothing calls
``plt.show()``.  Labels and units come from :data:`spchain.metrics.METRICS`.
Colours are the Okabe-Ito palette, distinguishable for colour-blind readers,
and every scenario also has its own line style, so charts survive greyscale
printing.  The house style (DejaVu Sans, sizes readable on a projector), the
palettes and :func:`~spchain.viz.style.save_figure` (PNG and byte-for-byte
reproducible SVG) live in :mod:`spchain.viz.style`; ``style``, ``save_figure``,
``tidy``, ``PALETTE``, ``plot_chain_diagram`` and ``plot_fit`` can also be
imported from here.

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
                              link strengths (:mod:`spchain.viz.diagram`)
:func:`plot_fit`              fit diagnostics: Q-Q, observed against fitted,
                              residuals (:mod:`spchain.viz.fitplots`)
============================  ==================================================

Charts over time show each week the KPI of the 4 weeks up to it
(:func:`trailing_kpi`; ``smooth=1`` for weekly values) and say so in a label;
confidence bands stop where the KPI does (:func:`kpi_range`: no negative
turnover, no share above 1).  Comparison and tornado charts state in their x
label which way is better for the KPI (:attr:`spchain.metrics.Metric.better`),
and :func:`plot_comparison` stays legible on narrow axes
(:func:`~spchain.viz.style.wrap_text`).
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..metrics import metric
# the diagram, the fit charts and the house style are also offered here, where they were first
from .diagram import plot_chain_diagram  # noqa: F401
from .fitplots import plot_fit  # noqa: F401
from .style import PALETTE, save_figure  # noqa: F401
from .style import SCENARIO_COLORS, STYLE, style, text_width, tidy, wrap_text

__all__ = ["CHAIN_METRICS", "plot_kpi", "plot_chain", "plot_fan", "plot_comparison", "plot_tornado",
           "oat_factors", "total_unit", "trailing_kpi", "kpi_range"]

_DASHES = ("-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 1)), (0, (8, 3)))

#: The chain, stage by stage, as drawn by :func:`plot_chain`.
CHAIN_METRICS = ("internal_service_quality", "employee_satisfaction", "turnover", "productivity",
                 "service_quality", "wait_time", "customer_satisfaction", "nps",
                 "active_customers", "revenue", "profit")

# ----------------------------------------------------------------- helpers
def _is_experiment(result) -> bool:
    from ..experiments.analysis import ExperimentResult

    return isinstance(result, ExperimentResult)


def _look(i):
    return SCENARIO_COLORS[i % len(SCENARIO_COLORS)], _DASHES[i % len(_DASHES)]


def trailing_kpi(sums, name, window=4):
    """A KPI over trailing windows of ``window`` weeks, from weekly field sums.

    Every field is averaged over the window (the week itself and the
    ``window - 1`` weeks before it) and the KPI is computed from those means,
    as the registry aggregates over periods: a ratio of the window's totals,
    never a mean of weekly ratios.  So a flow (revenue) becomes its mean per
    week, turnover the window's quits over its mean headcount (annualised),
    NPS the window's promoters less detractors over its responses.  The
    first ``window - 1`` weeks average the weeks so far.  A window reaches
    back only, so a change at week *w* shows from week *w* on, never before.

    Parameters
    ----------
    sums : ndarray, shape (..., weeks, len(FIELDS))
        Weekly sums of the recorded fields, in :data:`spchain.metrics.FIELDS`
        order (one run's ``sums`` summed over units; or replications first).
    name : str
        KPI name (a key of :data:`spchain.metrics.METRICS`).
    window : int or None
        Weeks per window; 1 or ``None``: the weekly KPI.

    Returns
    -------
    ndarray, shape (..., weeks)

    Examples
    --------
    >>> import numpy as np
    >>> from spchain.metrics import FIELDS
    >>> sums = np.zeros((5, len(FIELDS)))
    >>> sums[:, FIELDS.index("revenue")] = [4.0, 8.0, 0.0, 4.0, 12.0]
    >>> trailing_kpi(sums, "revenue", window=2).tolist()
    [4.0, 6.0, 4.0, 2.0, 8.0]
    """
    from ..metrics import FIELDS

    m = metric(name)
    window = _window(window)
    sums = np.asarray(sums, dtype=float)
    if sums.ndim < 2 or sums.shape[-1] != len(FIELDS):
        raise ValueError(f"sums must have shape (..., weeks, {len(FIELDS)}) (fields last, in FIELDS order), "
                         f"got {sums.shape}")
    index = [FIELDS.index(f) for f in m.fields]
    data = sums[..., index]
    if window > 1:
        running = np.cumsum(data, axis=-2)
        weeks = data.shape[-2]
        lagged = np.concatenate([np.zeros_like(running[..., :1, :]), running[..., :-1, :]], axis=-2)
        start = np.maximum(np.arange(weeks) - window + 1, 0)
        count = (np.arange(weeks) - start + 1).astype(float)
        data = (running - lagged[..., start, :]) / count[:, None]
    return m.evaluate({f: data[..., k] for k, f in enumerate(m.fields)})


def _window(smooth):
    if smooth is None:
        return 1
    if isinstance(smooth, bool) or not isinstance(smooth, (int, np.integer)) or smooth < 1:
        raise ValueError(f"smooth must be a whole number of weeks >= 1 (1 or None: weekly values), got {smooth!r}")
    return int(smooth)


def _weekly(result, name, smooth, *, scenario=None, unit=None):
    """``(series, label)``: one run's (weeks,) or an experiment's (replications, weeks) KPI,
    over trailing ``smooth``-week windows, and the words saying so."""
    window = _window(smooth)
    if _is_experiment(result):
        shown = result._scenario(scenario)
        data = result.sums[shown]
        if unit is not None and (not isinstance(unit, (int, np.integer)) or not 0 <= unit < data.shape[2]):
            raise IndexError(f"unit must be an integer in [0, {data.shape[2]}), got {unit!r}")
        data = data.sum(axis=2) if unit is None else data[:, :, unit]
    else:
        data = result.sums
        if unit is not None and (not isinstance(unit, (int, np.integer)) or not 0 <= unit < data.shape[1]):
            raise IndexError(f"unit must be an integer in [0, {data.shape[1]}), got {unit!r}")
        data = data.sum(axis=1) if unit is None else data[:, unit]
    return trailing_kpi(data, name, window), (f"{window}-week mean" if window > 1 else "weekly")


def kpi_range(name) -> tuple:
    """The values a KPI can take, ``(low, high)``; bands are clipped to it.

    Derived from the registry: every recorded field is a count, a sum of
    hours or an amount of money that cannot be negative, except profit
    (revenue less costs), and NPS is a difference of two shares; so a KPI is
    non-negative unless it reads profit or is NPS (-100 to 100).  A unit
    ``"a-b"`` (``"0-1"``, ``"1-5"``) bounds a score; shares (and annual
    retention) lie in [0, 1].

    Parameters
    ----------
    name : str
        KPI name.

    Returns
    -------
    tuple of float
        ``(low, high)``, ``-inf`` / ``inf`` where unbounded.

    Examples
    --------
    >>> kpi_range("turnover"), kpi_range("sla_attainment"), kpi_range("profit")
    ((0.0, inf), (0.0, 1.0), (-inf, inf))
    """
    m = metric(name)
    if m.kind == "nps":
        return (-m.scale, m.scale)
    low = -np.inf if "profit" in m.fields else 0.0
    if m.unit.startswith("share"):
        return (0.0, 1.0)
    bounds = re.fullmatch(r"(-?\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)", m.unit)
    if bounds:
        return (float(bounds[1]), float(bounds[2]))
    return (low, np.inf)


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
    if a >= 1:
        return f"{x:.3g}"
    if a >= 0.001:
        return f"{x:.3f}".rstrip("0").rstrip(".")
    return f"{x:.2g}" if a else "0"


def _fit_width(ax, values, top_row):
    """Make a horizontal-value chart legible at the width its axes will have.

    Wraps the title, the x label and the y tick labels, picks as many x
    ticks as fit side by side, and shifts each value label (an annotation
    ``values``, placed at its point) sideways so that it stays inside the
    axes, and raises the top of the y axis until the label of the point at
    ``top_row`` fits under it.  Widths are measured in the house font; under a layout engine
    the axes lose the y tick labels' and the y label's width to them.
    """
    from matplotlib.ticker import MaxNLocator

    fig = ax.figure
    spec = ax.get_subplotspec()
    if fig.get_layout_engine() is not None and spec is not None:  # the layout spreads the grid over the figure
        ncols = spec.get_gridspec().ncols
        span = spec.colspan.stop - spec.colspan.start
        slot = fig.get_figwidth() * 72.0 * span / ncols - 8.0
    else:
        slot = ax.get_position().width * fig.get_figwidth() * 72.0
    ytick_size = STYLE["ytick.labelsize"]
    names = [t.get_text() for t in ax.get_yticklabels()]
    names = [wrap_text(n, max(0.4 * slot, 40.0), ytick_size) for n in names]
    ax.set_yticks(ax.get_yticks(), names)
    decoration = 0.0
    if fig.get_layout_engine() is not None:
        decoration = (max((text_width(n, ytick_size) for n in names), default=0.0)
                      + 1.4 * STYLE["axes.labelsize"] + 18.0)
    width = max(slot - decoration, 60.0)
    ax.set_title(wrap_text(ax.get_title(loc="left") or ax.get_title(), width, ax.title.get_fontsize()))
    ax.set_xlabel(wrap_text(ax.get_xlabel(), width, ax.xaxis.label.get_fontsize(), at_clauses=True))

    lo, hi = ax.get_xlim()
    formatter = ax.xaxis.get_major_formatter()
    tick_size = STYLE["xtick.labelsize"]
    for nbins in range(9, 1, -1):
        locator = MaxNLocator(nbins, steps=[1, 2, 2.5, 5, 10])
        ticks = [t for t in locator.tick_values(lo, hi) if lo <= t <= hi]
        labels = formatter.format_ticks(ticks)
        spacing = width * (ticks[1] - ticks[0]) / (hi - lo) if len(ticks) > 1 else width
        widest = max((text_width(t, tick_size) for t in labels), default=0.0)
        if widest + 0.6 * tick_size <= spacing:
            break
    ax.xaxis.set_major_locator(locator)
    ax.set_xlim(lo, hi)

    # room above the top row for its value label (offset 7 pt, ~1.3 lines of its font high); the
    # height left by the title, the x label, the tick labels and the layout's pads is estimated, and
    # taken at 3/4 since the layout gives a row of panels the decorations of the tallest one
    if spec is not None and fig.get_layout_engine() is not None:
        rows = spec.rowspan.stop - spec.rowspan.start
        height = fig.get_figheight() * 72.0 * rows / spec.get_gridspec().nrows
        height -= (1.3 * (ax.get_title(loc="left").count("\n") + 1) * STYLE["axes.titlesize"]
                   + 1.3 * (ax.get_xlabel().count("\n") + 1) * STYLE["axes.labelsize"]
                   + 1.3 * tick_size + 30.0)
    else:
        height = ax.get_position().height * fig.get_figheight() * 72.0
    height *= 0.75
    bottom = ax.get_ylim()[0]
    need = 7.0 + 1.3 * max((t.get_fontsize() for t in values), default=0.0) + 2.0
    below = top_row - bottom  # data units from the axes' bottom to the top row's point
    ax.set_ylim(bottom, top_row + max(0.7, need * below / max(height - need, 1.0)))

    for text in values:
        half = text_width(text.get_text(), text.get_fontsize()) / 2 + 2.0
        at = width * (text.xy[0] - lo) / (hi - lo)
        shift = max(half - at, 0.0) - max(at + half - width, 0.0)
        text.set_position((shift, text.get_position()[1]))


def _better(m) -> str:
    """``"; lower is better"`` for an axis label, from the KPI's direction (empty for "neither")."""
    return {"higher": "; higher is better", "lower": "; lower is better"}.get(m.better, "")


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
             linestyle=None, smooth=4, level=0.95, band=True, legend=None):
    """One KPI over time: one run, or each scenario's mean with a confidence band.

    Weekly values of a small organisation are noisy (a 10-person unit's
    turnover jumps between 0 and 5 a year), so by default each week shows
    the KPI of the 4 weeks up to it (:func:`trailing_kpi`), and the y label
    says so.

    Parameters
    ----------
    result : RunResult or ExperimentResult
        A run draws one line.  An experiment draws, per scenario, the mean
        over replications and its Student-t ``level`` band (per week), with
        the warm-up shaded and dotted lines where levers change.  The band
        is clipped to the values the KPI can take (:func:`kpi_range`: no
        negative turnover, no share above 1).
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
    smooth : int or None
        Weeks in each trailing window (default 4); 1 or ``None``: weekly
        values.  Applied to each replication before the mean and the band,
        so the band is the band of the smoothed KPI.
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
    low, high = kpi_range(name)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
        if _is_experiment(result):
            names = _scenarios(result, scenarios)
            for i, shown in enumerate(names):
                colour, dashes = _look(result.scenarios.index(shown))
                if len(names) == 1:
                    colour, dashes = color or colour, linestyle or dashes
                series, what = _weekly(result, name, smooth, scenario=shown, unit=unit)
                mean, half = _band(series, level)
                x = np.arange(1, mean.size + 1)
                ax.plot(x, mean, color=colour, ls=dashes, label=label if len(names) == 1 and label else shown)
                if band and np.isfinite(half).any():
                    ax.fill_between(x, np.clip(mean - half, low, high), np.clip(mean + half, low, high),
                                    color=colour, alpha=0.18, lw=0)
            _mark_timeline(ax, result, names)
            legend = len(names) > 1 if legend is None else legend
        else:
            y, what = _weekly(result, name, smooth, unit=unit)
            ax.plot(np.arange(1, y.size + 1), y, label=label, color=color, ls=linestyle or "-")
            legend = bool(legend)
        ax.set_title(m.label)
        ax.set_xlabel("week")
        ax.set_ylabel(f"{m.unit}, {what}")
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
    smooth : int or None
        Weeks in each trailing window (default 4, see :func:`plot_kpi`);
        1 or ``None``: weekly values.  The figure's note says which.
    level : float
        Confidence level of the bands (clipped to the KPI's possible values).
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

    experiment = _is_experiment(results)
    if experiment:
        names = entries = _scenarios(results, scenarios)
    else:
        results, entries = _runs_and_labels(results, labels)
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
                for i, (run, entry) in enumerate(zip(results, entries)):
                    colour, dashes = _look(i)
                    plot_kpi(run, name, ax=ax, label=entry, color=colour, linestyle=dashes, smooth=smooth)
            ax.title.set_fontsize(11)
            ax.set_ylabel(metric(name).unit)  # the figure's note says how weeks are averaged
            below = k + ncols
            ax.set_xlabel("week" if below >= len(metrics) else "")
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        handles, legend_labels, note = _chain_legend(results if experiment else None, names if experiment else (),
                                                     entries, smooth, level)
        top = 1 - 0.55 / fig.get_figheight()
        fig.suptitle(title, x=0.01, y=0.995, ha="left", va="top", fontsize=14)
        fig.text(0.01, 1 - 0.36 / fig.get_figheight(), note, ha="left", va="top", fontsize=10,
                 color="#555555")
        fig.legend(handles, legend_labels, loc="upper right", bbox_to_anchor=(0.995, 0.995),
                   ncol=min(len(legend_labels), 4), fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def _runs_and_labels(results, labels):
    """The runs of a dashboard as a list, and their legend entries (``run 1``, ... by default)."""
    if not isinstance(results, (list, tuple)):
        results = [results]
    entries = list(labels) if labels is not None else [f"run {i + 1}" for i in range(len(results))]
    if len(entries) != len(results):
        raise ValueError(f"labels must have one entry per result ({len(results)}), got {len(entries)}")
    return results, entries


def _chain_legend(experiment, names, entries, smooth, level):
    """The dashboard's legend handles and labels, and its note on how weeks (and replications) are averaged.

    ``experiment``: the ExperimentResult drawn, or None for runs; ``names``: its scenarios drawn.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=_look(i)[0], ls=_look(i)[1]) for i in range(len(entries))]
    legend_labels = list(entries)
    window = _window(smooth)
    note = f"each week: mean of the {window} weeks up to it" if window > 1 else "weekly values"
    if experiment is not None:
        n = experiment.n_replications
        note += f"; mean of {n} replication{'s' if n != 1 else ''}"
        if n > 1:
            note += f" with {level:.0%} confidence band"
        if experiment.warmup:
            handles.append(Patch(color="#000000", alpha=0.06))
            legend_labels.append("warm-up")
        if any(c.at_week > 0 for s in experiment.experiment.scenarios if s.name in names
               for c in s.levers + s.uncertainties):
            handles.append(Line2D([], [], color="#555555", lw=1.0, ls=(0, (2, 2))))
            legend_labels.append("change")
    return handles, legend_labels, note


def plot_fan(result, name, *, scenario=None, unit=None, quantiles=(0.05, 0.25), smooth=4, ax=None,
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
    smooth : int or None
        Weeks in each trailing window (default 4, see :func:`trailing_kpi`),
        applied to each replication before the quantiles; 1 or ``None``:
        weekly values.  The y label says which.
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
    shown = result._scenario(scenario)
    lower_quantiles = sorted(float(q) for q in quantiles)
    if not lower_quantiles or any(not 0 < q < 0.5 for q in lower_quantiles):
        raise ValueError(f"quantiles must be numbers in (0, 0.5), got {quantiles!r}")
    colour = color or _look(result.scenarios.index(shown))[0]
    series, what = _weekly(result, name, smooth, scenario=shown, unit=unit)
    x = np.arange(1, series.shape[1] + 1)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
        if show_runs:
            for row in series:
                ax.plot(x, row, color=colour, lw=0.6, alpha=0.35)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for k, q in enumerate(lower_quantiles):
                lo, hi = np.nanquantile(series, [q, 1 - q], axis=0)
                ax.fill_between(x, lo, hi, color=colour, alpha=0.15 + 0.15 * k, lw=0,
                                label=f"{1 - 2 * q:.0%} of runs")
            ax.plot(x, np.nanmedian(series, axis=0), color=colour, lw=2.2, label="median")
        _mark_timeline(ax, result, [shown])
        ax.set_title(f"{m.label}: {shown} ({result.n_replications} runs)")
        ax.set_xlabel("week")
        ax.set_ylabel(f"{m.unit}, {what}")
        ax.margins(x=0.01)
        tidy(ax)
        # on a light ground: the replications' lines run under it wherever it goes
        ax.legend(loc="best", frameon=True, framealpha=0.85, facecolor="white", edgecolor="none")
    return ax


# ------------------------------------------------------------ comparisons
def plot_comparison(result, name, *, kind="difference", relative=False, scenarios=None, level=0.95,
                    ax=None, title=None):
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
        Draw here; a new figure otherwise.  Narrow axes (a 3 x 3 inch
        figure, a panel of a 3 x 4 grid) stay legible: the title, the x
        label and long scenario names are wrapped to the axes' width, the x
        axis gets as many ticks as fit side by side, and each value label
        is shifted sideways to stay inside the axes.
    title : str, optional
        Axes title; default the KPI and what is shown ("Profit: difference
        against 'baseline'").  A grid of panels under one heading that
        already says it can give just the KPI's label.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    The y tick labels are the scenarios' names, so the y axis has no label.
    Colours are the scenarios'; whether a change is good is read from the
    KPI's direction (:attr:`spchain.metrics.Metric.better`), which the x
    label states ("lower is better" for turnover), never from its sign.
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
    rows = _comparison_rows(result, name, names, kind=kind, relative=relative, level=level)
    unit = "%" if relative else total_unit(name, result)
    better = _better(m)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 1.7 + 0.5 * len(rows)), layout="constrained")
        values = _draw_intervals(ax, result, rows, "%" if relative else "")
        if kind == "difference":
            ax.axvline(0, color="#222222", lw=1)
        ax.set_yticks(np.arange(len(rows))[::-1], [r[0] for r in rows])
        ax.set_ylim(-0.6, len(rows) - 0.3)
        ax.grid(axis="y", visible=False)
        what = "change" if relative else "difference"
        if kind == "difference":
            ax.set_title(f"{m.label}: {what} against {result.baseline!r}" if title is None else title)
            ax.set_xlabel(f"{what} in {_lower(m.label)} ({unit}), {level:.0%} CI{better}")
        else:
            ax.set_title(f"{m.label} by scenario" if title is None else title)
            ax.set_xlabel(f"{m.label} ({unit}), mean and {level:.0%} CI{better}")
        tidy(ax, value_axis="x")
        ax.grid(axis="y", visible=False)
        _fit_width(ax, values, top_row=len(rows) - 1)
    return ax


def _comparison_rows(result, name, names, *, kind, relative, level):
    """``(scenario, estimate, low, high)`` per scenario: its mean, or its paired difference against the baseline."""
    rows = []
    for shown in names:
        if kind == "mean":
            estimate = result.estimate(name, scenario=shown, level=level)
            rows.append((shown, estimate.mean, estimate.low, estimate.high))
        else:
            difference = result.difference(name, scenario=shown, level=level)
            rows.append((shown, 100 * difference.relative, 100 * difference.relative_low,
                         100 * difference.relative_high) if relative
                        else (shown, difference.mean, difference.low, difference.high))
    return rows


def _draw_intervals(ax, result, rows, suffix):
    """Each row's estimate and interval, top to bottom in the scenario's colour; returns the value labels."""
    y = np.arange(len(rows))[::-1]
    values = []
    for yi, (shown, mean, lo, hi) in zip(y, rows):
        colour = _look(result.scenarios.index(shown))[0]
        err = None if not np.isfinite(lo) else [[mean - lo], [hi - mean]]
        ax.errorbar(mean, yi, xerr=err, fmt="o", color=colour, ms=7, capsize=4, lw=2)
        values.append(ax.annotate((_fmt(mean) + suffix).replace("-", "\u2212"),
                                  (mean, yi), xytext=(0, 7), textcoords="offset points", ha="center",
                                  va="bottom", fontsize=9, color="#222222", zorder=4,  # over the 0 line
                                  bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.85)))
    return values


def oat_factors(result, baseline):
    """The factors of a one-at-a-time design and the scenarios that change each.

    Parameters
    ----------
    result : ExperimentResult
        Every scenario but ``baseline`` changes exactly one parameter
        (:func:`spchain.one_at_a_time` builds such designs).
    baseline : str
        The scenario the others change one factor of.

    Returns
    -------
    dict
        ``{parameter path: [(value, scenario name), ...]}``, in the order of
        the experiment's scenarios.

    Raises
    ------
    ValueError
        If a scenario changes more than one parameter, or no scenario
        besides the baseline exists (the report draws a tornado only where
        this does not raise).
    """
    factors = {}
    for scenario in result.experiment.scenarios:
        if scenario.name == baseline:
            continue
        changes = scenario.levers + scenario.uncertainties
        if len({change.path for change in changes}) != 1:
            raise ValueError(f"plot_tornado needs a one-at-a-time design (each scenario changing one parameter); "
                             f"scenario {scenario.name!r} changes {len({change.path for change in changes})}")
        change = changes[-1]
        factors.setdefault(change.path, []).append((change.value, scenario.name))
    if not factors:
        raise ValueError("plot_tornado needs scenarios besides the baseline")
    return factors


def plot_tornado(result, name, *, baseline=None, relative=False, level=0.95, ax=None):
    """Tornado chart of a one-at-a-time design: each factor's effect at its low and high value.

    Bars are paired differences against the baseline with their confidence
    intervals, the factor with the widest swing on top.  Bars are coloured by
    the factor's value (lower or higher than the baseline's), not by the
    sign of the effect; the x label says which way is better for the KPI
    (:attr:`spchain.metrics.Metric.better`).  Build the design with
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
    base = result._scenario(baseline)
    rows = _tornado_rows(result, name, base, relative=relative, level=level)
    lower_colour, higher_colour = SCENARIO_COLORS[0], SCENARIO_COLORS[1]
    unit = "%" if relative else total_unit(name, result)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(7.6, 1.6 + 0.62 * len(rows)), layout="constrained")
        _draw_tornado_bars(ax, rows, lower_colour, higher_colour)
        ax.axvline(0, color="#222222", lw=1)
        ax.set_yticks(range(len(rows)), [f"{r[1]}\n(base {_fmt(r[2]) if isinstance(r[2], (int, float)) else r[2]})"
                                         for r in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="y", visible=False)
        ax.set_title(f"{m.label}: one factor at a time against {base!r}")
        ax.set_xlabel(f"{'change' if relative else 'difference'} in {_lower(m.label)} ({unit}), "
                      f"{level:.0%} CI{_better(m)}")
        ax.set_ylabel("factor")
        tidy(ax, value_axis="x")
        ax.grid(axis="y", visible=False)
        ax.legend([Patch(color=lower_colour), Patch(color=higher_colour)], ["lower\nvalue", "higher\nvalue"],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax


def _tornado_rows(result, name, baseline, *, relative, level):
    """``(swing, factor's short name, base value, bars)`` per factor, narrowest swing first; a bar is
    ``(value, higher than the base, effect, low, high)``."""
    from ..experiments.scenarios import short_names

    factors = oat_factors(result, baseline)
    short = short_names(list(factors))
    rows = []
    for path, items in factors.items():
        base_value = result.experiment.params[baseline].get(path)
        bars = []
        for value, scenario in sorted(items, key=lambda vs: (vs[0] if isinstance(vs[0], (int, float)) else 0)):
            difference = result.difference(name, scenario=scenario, baseline=baseline, level=level)
            effect = ((100 * difference.relative, 100 * difference.relative_low, 100 * difference.relative_high)
                      if relative else (difference.mean, difference.low, difference.high))
            high = isinstance(value, (int, float)) and isinstance(base_value, (int, float)) and value > base_value
            bars.append((value, high, *effect))
        swing = max(abs(v[2]) for v in bars)
        rows.append((swing, short[path], base_value, bars))
    rows.sort(key=lambda r: r[0])
    return rows


def _draw_tornado_bars(ax, rows, lower_colour, higher_colour):
    """Each factor's bars on its row, coloured by the factor's value, with intervals and the value under each."""
    for yi, (*_, bars) in enumerate(rows):
        for value, high, mean, lo, hi in bars:
            ax.barh(yi, mean, height=0.55, color=higher_colour if high else lower_colour, alpha=0.85)
            if np.isfinite(lo):
                ax.errorbar(mean, yi, xerr=[[mean - lo], [hi - mean]], fmt="none", ecolor="#222222",
                            capsize=3, lw=1.2)
            # the factor's value under the bar's end, clear of its edge, whatever the row's height
            ax.annotate(_fmt(value) if isinstance(value, (int, float)) else str(value), (mean, yi - 0.275),
                        xytext=(4 if mean >= 0 else -4, -2), textcoords="offset points",
                        ha="left" if mean >= 0 else "right", va="top", fontsize=9, color="#222222")
