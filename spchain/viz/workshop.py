"""The workshop's charts: the debrief, the live what-if dashboard and the web app's pictures.

The workshop tools (:mod:`spchain.apps.workshop`, :mod:`spchain.apps.webapp`)
keep the game's logic; what they show is drawn here, so Matplotlib stays in
:mod:`spchain.viz`.

========================  ======================================================
name                      draws
========================  ======================================================
:func:`plot_debrief`      a game's path against the baseline, rounds marked
:class:`LiveDashboard`    the what-if dashboard, redrawing only what changed
:func:`readable_ticks`    a KPI panel's value ticks for people
:func:`plot_team_weeks`   a web-app team's chain week by week
:func:`plot_team_paths`   every web-app team's KPIs round by round
:func:`plot_team_chain`   the chain diagram with a web-app team's numbers
:func:`figure_png`        a figure as PNG bytes, for a web page
========================  ======================================================
"""

from __future__ import annotations

import io

import numpy as np

from ..metrics import METRICS, metric
from .diagram import plot_chain_diagram
from .plotting import CHAIN_METRICS, kpi_range, plot_chain, trailing_kpi
from .style import compact_ticks, style

__all__ = ["plot_debrief", "LiveDashboard", "readable_ticks", "plot_team_weeks", "plot_team_paths",
           "plot_team_chain", "figure_png"]


def readable_ticks(ax, name):
    """Value ticks for people on one KPI panel: money and counts as
    :func:`~spchain.viz.style.tick_text`, shares in percent.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        A panel whose y axis shows KPI ``name``.
    name : str
        KPI name; a KPI whose unit is a share gets percent ticks and the y
        label ``"%"``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import PercentFormatter

    if metric(name).unit.startswith("share"):
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_ylabel("%")
    else:
        compact_ticks(ax.yaxis)
    return ax


def plot_debrief(baseline, path, *, rounds, weeks_per_round, changed=(), metrics=CHAIN_METRICS, smooth=4,
                 fig=None):
    """The debrief chart: a game's path against the baseline, rounds marked.

    Each week shows the KPI of the ``smooth`` weeks up to it
    (:func:`~spchain.viz.plotting.trailing_kpi`).  The x axis is labelled by
    round (``Q1``, ``Q2``, ...) with a line where each round starts, dashed
    where the levers changed; money is written ``52k`` or ``5,000`` and
    shares in percent (:func:`readable_ticks`).

    Parameters
    ----------
    baseline, path : RunResult
        The run without changes and the room's run (same seed).
    rounds : int
        Rounds played.
    weeks_per_round : int
        Weeks in a round.
    changed : collection of int
        Rounds (0 the first) at whose start the levers changed.
    metrics : sequence of str
        KPIs to draw; default :data:`~spchain.viz.plotting.CHAIN_METRICS`.
    smooth : int
        Weeks in each trailing window; 1 for weekly values.
    fig : matplotlib.figure.Figure, optional
        Draw into this figure (it is cleared).

    Returns
    -------
    matplotlib.figure.Figure
    """
    metrics = tuple(metrics)
    fig = plot_chain([baseline, path], labels=["baseline", "your path"], metrics=metrics, fig=fig,
                     smooth=smooth, title="Debrief: your path against the baseline")
    with style():
        for ax, name in zip([ax for ax in fig.axes if ax.get_visible()], metrics):
            readable_ticks(ax, name)
            _mark_rounds(ax, rounds, weeks_per_round, changed)
        _add_change_to_legend(fig, changed)
    return fig


def _mark_rounds(ax, rounds, weeks_per_round, changed):
    """A line where each round starts (dashed where the levers changed) and the x axis labelled by round."""
    for q in range(1, rounds):
        ax.axvline(weeks_per_round * q + 0.5, color="#555555" if q in changed else "#bbbbbb", lw=0.9,
                   ls=(0, (3, 2)) if q in changed else "-", zorder=1)
    ax.set_xticks([weeks_per_round * q + 0.5 for q in range(rounds + 1)], labels=[""] * (rounds + 1))
    ax.set_xticks([weeks_per_round * q + 7 for q in range(rounds)], labels=[f"Q{q + 1}" for q in range(rounds)],
                  minor=True)
    ax.tick_params(axis="x", which="minor", length=0)
    ax.set_xlim(0.5, weeks_per_round * rounds + 0.5)
    if ax.get_xlabel():
        ax.set_xlabel(f"round (quarter of {weeks_per_round} weeks)")


def _add_change_to_legend(fig, changed):
    """The figure's legend again, with an entry for the lines of changed levers when there are any."""
    from matplotlib.lines import Line2D

    legend = fig.legends[0]
    handles, labels = list(legend.legend_handles), [t.get_text() for t in legend.get_texts()]
    if changed:
        handles.append(Line2D([], [], color="#555555", lw=0.9, ls=(0, (3, 2))))
        labels.append("levers changed")
    legend.remove()
    fig.legend(handles, labels, loc="upper right", bbox_to_anchor=(0.995, 0.995), ncol=len(labels), fontsize=10)


class LiveDashboard:
    """The what-if dashboard: a baseline run against a changing one, redrawing only what changed.

    The figure is built once, on an Agg canvas, with both lines on every
    panel.  :meth:`show` sets the "what if" lines to a new run and draws them
    over a saved image of everything else; a panel whose line leaves its
    value range, or fills less than a quarter of it, is drawn again on its
    own (its place cleared first), and the whole figure only when such a
    panel's labels would reach into another panel.

    Parameters
    ----------
    baseline : RunResult
        The run the "baseline" lines show.
    metrics : sequence of str
        KPIs of the panels, in order.
    smooth : int
        Weeks in each trailing window of the lines (1: weekly values).

    Attributes
    ----------
    figure : matplotlib.figure.Figure
        The dashboard, on an Agg canvas.
    panels : list of tuple
        ``(axes, KPI name, baseline line, what-if line)`` per panel.
    boxes : list of matplotlib.transforms.Bbox
        Each panel's extent, labels included, when it was last drawn.
    n_full_redraws : int
        Drawings of the whole figure so far (the first one included).
    n_panel_redraws : int
        Panels drawn again on their own so far (a value range changed).
    """

    def __init__(self, baseline, metrics, smooth):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.metrics, self.smooth = tuple(metrics), smooth
        ncols = 4
        nrows = -(-len(self.metrics) // ncols)
        fig = Figure(figsize=(14, 2.6 * nrows + 0.7), dpi=72)
        FigureCanvasAgg(fig)
        plot_chain([baseline, baseline], labels=["baseline", "what if"], metrics=self.metrics,
                   fig=fig, smooth=smooth, ncols=ncols, title="What if? The chain over time")
        with style():
            axes = [ax for ax in fig.axes if ax.get_visible()]
            self.panels = []
            for ax, name in zip(axes, self.metrics):
                readable_ticks(ax, name)
                base_line, what_line = ax.lines[:2]
                self.panels.append((ax, name, base_line, what_line))
            for ax, *_ in self.panels:  # the figure without its panels: what a panel's place is cleared to
                ax.set_visible(False)
            fig.canvas.draw()
            self._blank = fig.canvas.copy_from_bbox(fig.bbox)
            for ax, *_ in self.panels:
                ax.set_visible(True)
        self.boxes = [None] * len(self.panels)
        self.figure = fig
        self._background = None
        self.n_full_redraws = 0
        self.n_panel_redraws = 0

    def show(self, result) -> bytes:
        """Show ``result`` on the "what if" lines; returns the dashboard as PNG.

        Parameters
        ----------
        result : RunResult
            The run at the levers' values.

        Returns
        -------
        bytes
            The canvas's pixels as PNG.
        """
        sums = result.sums.sum(axis=1)
        dirty = []
        with style():
            for i, (ax, name, base_line, what_line) in enumerate(self.panels):
                y = trailing_kpi(sums, name, self.smooth)
                what_line.set_ydata(y)
                limits = _value_range(np.concatenate([base_line.get_ydata(), y]), kpi_range(name), ax.get_ylim())
                if limits is not None:
                    ax.set_ylim(limits)
                    dirty.append(i)
            self._draw_changed(dirty)
            for ax, _name, _base, what_line in self.panels:
                ax.draw_artist(what_line)
            return _canvas_png(self.figure.canvas)

    def _draw_changed(self, dirty):
        """Everything but the what-if lines where it changed: the saved image, the ``dirty`` panels, or all."""
        canvas = self.figure.canvas
        regions = None if self._background is None else self._regions(dirty)
        if regions is None:  # everything but the what-if lines, saved to draw them over next time
            self._draw_without_lines(range(len(self.panels)), whole=True)
            self.n_full_redraws += 1
        else:
            canvas.restore_region(self._background)
            if dirty:
                for region in regions:
                    canvas.restore_region(self._blank, bbox=region, xy=(0, 0))
                self._draw_without_lines(dirty, whole=False)
                self.n_panel_redraws += len(dirty)

    def _draw_without_lines(self, panels, *, whole):
        """Draw the figure (or the given panels) without the what-if lines and save the image."""
        canvas = self.figure.canvas
        for *_, what_line in self.panels:
            what_line.set_visible(False)
        try:
            if whole:
                canvas.draw()
            else:
                for i in panels:
                    self.figure.draw_artist(self.panels[i][0])
        finally:
            for *_, what_line in self.panels:
                what_line.set_visible(True)
        self._background = canvas.copy_from_bbox(self.figure.bbox)
        renderer = canvas.get_renderer()
        for i in panels:
            self.boxes[i] = self.panels[i][0].get_tightbbox(renderer)

    def _regions(self, dirty):
        """The places to clear before drawing the ``dirty`` panels again, in the canvas's pixel rows.

        ``None`` when a panel's old or new labels would reach into another panel (draw everything).
        """
        from matplotlib.transforms import Bbox

        renderer = self.figure.canvas.get_renderer()
        height = self.figure.bbox.height
        others = [box for j, box in enumerate(self.boxes) if j not in dirty]
        regions = []
        for i in dirty:
            box = Bbox.union([self.boxes[i], self.panels[i][0].get_tightbbox(renderer)]).padded(2)
            if any(box.overlaps(other) for other in others):
                return None
            x0, y0, x1, y1 = box.extents
            regions.append((max(int(x0), 0), max(int(height - y1), 0), int(np.ceil(x1)), int(np.ceil(height - y0))))
        return regions


def _value_range(values, bounds, current):
    """New y limits for a panel, or ``None`` to keep ``current``.

    Kept while the data lie inside the limits and fill at least a quarter of
    them; otherwise the data's range with 25% headroom each side, clipped to
    the KPI's possible values ``bounds`` (a flat line gets a range of its own).

    Parameters
    ----------
    values : ndarray
        The panel's data (NaN ignored).
    bounds : tuple of float
        ``(low, high)``: the values the KPI can take
        (:func:`~spchain.viz.plotting.kpi_range`).
    current : tuple of float
        The panel's y limits.

    Returns
    -------
    tuple of float or None

    Examples
    --------
    >>> _value_range(np.array([1.0, 2.0]), (0.0, np.inf), (0.0, 3.0)) is None
    True
    >>> _value_range(np.array([1.0, 2.0]), (0.0, np.inf), (0.0, 100.0))
    (0.75, 2.25)
    """
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    a, b = current
    if a <= lo and hi <= b and (hi - lo) >= (b - a) / 4:
        return None
    pad = 0.25 * (hi - lo) or 0.05 * max(abs(hi), 1e-9)
    low, high = max(lo - pad, bounds[0]), min(hi + pad, bounds[1])
    if high <= low:
        low, high = lo - pad, hi + pad
    return low, high


def _canvas_png(canvas) -> bytes:
    """The canvas's pixels as PNG, without drawing the figure again (``savefig`` would)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
        buffer, format="png")
    return buffer.getvalue()


# ------------------------------------------------------------------ the web app's pictures
def figure_png(fig, *, dpi=100) -> bytes:
    """``fig`` as PNG bytes, at ``dpi``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int

    Returns
    -------
    bytes
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _thousands(axis):
    """Money ticks with thousands separators (``52,000``)."""
    axis.set_major_formatter(lambda v, _: f"{v:,.0f}")


def plot_team_weeks(rounds, *, metrics, weeks_per_round):
    """A team's chain week by week: each KPI's weekly values and 4-week mean, rounds marked.

    Parameters
    ----------
    rounds : dict
        Round number -> ``{"series": {KPI name: weekly values (None where undefined)}}``.
    metrics : sequence of str
        Four KPIs, one a panel.
    weeks_per_round : int
        Weeks in a round; a line marks where each round after the first starts.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn in the house style; PNG with :func:`figure_png`.
    """
    from matplotlib.figure import Figure

    with style():
        fig = Figure(figsize=(9, 5.5), layout="constrained")
        axes = fig.subplots(2, 2, sharex=True).ravel()
        for ax, m in zip(axes, metrics):
            y = [v if v is not None else np.nan for r in sorted(rounds) for v in rounds[r]["series"][m]]
            weeks = np.arange(1, len(y) + 1)
            ax.plot(weeks, y, color="0.7", lw=1, label="week")
            if len(y) >= 4:
                smooth = np.convolve(np.nan_to_num(y), np.ones(4) / 4, mode="valid")
                ax.plot(weeks[3:], smooth, lw=2, label="4-week mean")
            for r in sorted(rounds)[:-1]:
                ax.axvline(weeks_per_round * r + 0.5, color="0.85", lw=1)
            ax.set_title(f"{METRICS[m].label} ({METRICS[m].unit})")
            ax.set_xlabel("week")
            if METRICS[m].is_money:
                _thousands(ax.yaxis)
        axes[0].legend(loc="best")
    return fig


def plot_team_paths(results, names, *, metrics, rounds):
    """Every team's KPIs round by round, one line a team.

    Parameters
    ----------
    results : dict
        Team id -> round number -> ``{"metrics": {KPI name: value}}``.
    names : dict
        Team id -> the team's name (the legend's entries; no legend past 12 teams).
    metrics : sequence of str
        Four KPIs, one a panel; profit is the quarter's total.
    rounds : int
        Rounds closed (the x ticks).

    Returns
    -------
    matplotlib.figure.Figure
        Drawn in the house style; PNG with :func:`figure_png`.
    """
    from matplotlib.figure import Figure

    with style():
        fig = Figure(figsize=(11, 6.5), layout="constrained")
        axes = fig.subplots(2, 2, sharex=True).ravel()
        for ax, m in zip(axes, metrics):
            for team_id, by_round in results.items():
                xs = sorted(by_round)
                ax.plot(xs, [by_round[r]["metrics"][m] for r in xs], marker="o", lw=1.5, label=names[team_id])
            ax.set_title(f"{METRICS[m].label} per round" + (" (quarter's total)" if m == "profit" else ""))
            ax.set_xlabel("round")
            ax.set_xticks(range(1, rounds + 1))
            if METRICS[m].is_money:
                _thousands(ax.yaxis)
        if len(results) <= 12:
            axes[0].legend(fontsize="small", ncols=2)
    return fig


def plot_team_chain(result, name):
    """The chain diagram with a team's numbers over its weeks so far.

    Parameters
    ----------
    result : RunResult
        The team's run.
    name : str
        The team's name, in the title.

    Returns
    -------
    matplotlib.figure.Figure
        13 x 5.2 inches; PNG with :func:`figure_png`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5.2), layout="constrained")
    plot_chain_diagram(result, ax=fig.subplots(), title=f"{name}: the chain over weeks 1–{result.horizon}")
    return fig
