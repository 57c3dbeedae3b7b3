"""The chain diagram: Heskett et al.'s boxes and arrows, with numbers on them.

:func:`plot_chain_diagram` draws internal service quality -> employee
satisfaction -> retention and productivity -> external service value ->
customer satisfaction -> loyalty -> revenue and profit, with the two
feedback loops the model has (the satisfaction mirror and the reinvestment
of profit).  Each box is titled by the KPI it shows (the retention stage
shows employee turnover, "per year, lower is better"; the growth stage the
revenue level per week) and shows its value from a run or an experiment;
each arrow shows the strength of the link it stands for, from the
parameters or, where a :class:`~spchain.fitting.result.FitResult` is given, the
fitted estimate with its confidence interval.  It is also available as
:func:`spchain.viz.plotting.plot_chain_diagram` and
:func:`spchain.viz.plot_chain_diagram`.
"""

from __future__ import annotations

import numpy as np

from ..metrics import METRICS
from .style import compact_number, style, text_width, wrap_text

__all__ = ["plot_chain_diagram", "unit_words", "STAGES", "ARROWS", "MIN_FONTSIZE"]

#: Boxes: key -> (title, KPIs shown, column, row: 0 centre, +1 upper, -1 lower).  Keys follow
#: Heskett's stages; titles name the number the box shows (the retention stage shows turnover,
#: the growth stage the revenue level).
STAGES = {
    "isq": ("Internal service\nquality", ("internal_service_quality", "sla_attainment"), 0, 0),
    "es": ("Employee\nsatisfaction", ("employee_satisfaction",), 1, 0),
    "ret": ("Employee\nturnover", ("turnover",), 2, 1),
    "prod": ("Employee\nproductivity", ("productivity",), 2, -1),
    "value": ("Service quality\nand wait", ("service_quality", "wait_time"), 3, 0),
    "cs": ("Customer\nsatisfaction", ("customer_satisfaction", "nps"), 4, 0),
    "loyal": ("Customer\nretention", ("retention",), 5, 0),
    "rev": ("Revenue", ("revenue",), 6, 1),
    "profit": ("Profit", ("profit",), 6, -1),
}

#: Smallest font size (points) of any text on the diagram.  The report draws it 13 inches wide,
#: shows it at most 1116 CSS pixels wide (0.89 of its size) and prints it on A4 landscape within
#: 12 mm margins (273 mm, 0.83 of its size), so 10 pt reads as 8.9 pt on screen and 8.3 pt on paper.
MIN_FONTSIZE = 10.0

#: How the registry's units read under a box's value.
_UNIT_WORDS = {"1/year": "per year", "share/year": "share per year", "money/week": "money per week"}

#: Arrows: (from, to, parameter path, short description); ``None`` path: accounting, no coefficient.
ARROWS = (
    ("isq", "es", "links.satisfaction_from_internal", "ISQ -> satisfaction"),
    ("es", "ret", "links.quit_from_satisfaction", "satisfaction -> fewer quits"),
    ("es", "prod", "links.productivity_from_satisfaction", "satisfaction -> productivity"),
    ("ret", "value", "links.quality_from_skill", "retained skill -> quality"),
    ("prod", "value", "links.value_from_wait", "shorter waits -> value"),
    ("value", "cs", "links.value_from_quality", "quality -> value"),
    ("cs", "loyal", "links.churn_from_satisfaction", "satisfaction -> less churn"),
    ("loyal", "rev", "links.revisit_from_satisfaction", "satisfaction -> revisits"),
    ("rev", "profit", None, ""),
    ("es", "value", "links.quality_from_satisfaction", "satisfaction -> service quality"),
    ("cs", "es", "links.satisfaction_from_customers", "the satisfaction mirror"),
    ("profit", "isq", "economics.reinvestment_share", "profit reinvested in internal service"),
)

#: Layout in data units: the columns' spacing, a box's width, a centre-row and a side box's height,
#: the rows' spacing and the first column's centre.
_COLUMN_STEP, _BOX_WIDTH, _BOX_HEIGHT, _SIDE_BOX_HEIGHT, _ROW_STEP, _FIRST_COLUMN = 2.3, 1.7, 1.5, 1.3, 0.8, 0.95
_MIRROR, _DIRECT, _REINVEST = 1.78, -1.62, -2.12
_BLUE, _GREY, _INK = "#0072B2", "#666666", "#222222"


def unit_words(name, money="money") -> str:
    """What a box's unit line says under a KPI's value: its unit in words, and
    "lower is better" where lower is (:attr:`spchain.metrics.Metric.better`).

    Parameters
    ----------
    name : str
        KPI name.
    money : str
        What the model's money is called ("EUR", "money units").

    Returns
    -------
    str

    Examples
    --------
    >>> unit_words("turnover")
    'per year, lower is better'
    >>> unit_words("revenue")
    'money per week'
    >>> unit_words("profit", money="EUR")
    'EUR per week'
    """
    m = METRICS[name]
    words = _UNIT_WORDS.get(m.unit, m.unit)
    if m.unit.startswith("money"):
        words = words.replace("money", money, 1)
    return words + (", lower is better" if m.better == "lower" else "")


def _box(key):
    _, _, col, row = STAGES[key]
    x, y = _FIRST_COLUMN + col * _COLUMN_STEP, row * _ROW_STEP
    h = _BOX_HEIGHT if row == 0 else _SIDE_BOX_HEIGHT
    return x, y, _BOX_WIDTH, h


def _fmt(x, *, sign=False) -> str:
    """Compact: 3 significant digits, thousands as k and millions as M (:func:`compact_number`)."""
    if x is None or not np.isfinite(x):
        return "-"
    a, plus = abs(x), "+" if sign and x >= 0 else ""
    if a >= 1e3:
        return plus + compact_number(x, digits=3, thousands_from=1e3, minus="-")
    if a >= 100:
        return f"{plus}{x:.0f}"
    return f"{plus}{x:.3g}" if a >= 1 else f"{plus}{x:.2f}"


def _source(source, scenario):
    """``(params, values, deltas, subtitle)`` from what was given."""
    from ..experiments.analysis import ExperimentResult
    from ..params import Params
    from ..result import RunResult

    def per_week(name, x, weeks):
        m = METRICS[name]
        return x / weeks if m.is_flow else x

    names = [n for stage in STAGES.values() for n in stage[1]]
    if source is None or isinstance(source, Params):
        return source or Params(), {}, {}, "parameters only"
    if isinstance(source, RunResult):
        weeks = source.horizon
        vals = {n: per_week(n, source.total(n), weeks) for n in names}
        return source.params, vals, {}, f"one run of {weeks} weeks, seed {source.seed}"
    if isinstance(source, ExperimentResult):
        s = source._scenario(scenario)
        weeks = source.horizon - source.warmup
        vals = {n: per_week(n, source.estimate(n, scenario=s).mean, weeks) for n in names}
        deltas = {}
        if s != source.baseline:
            deltas = {n: per_week(n, source.difference(n, scenario=s).mean, weeks) for n in names}
        n = source.n_replications
        sub = (f"{s!r}, weeks {source.warmup + 1}-{source.horizon}, mean of {n} replication"
               f"{'s' if n != 1 else ''}" + (f"; changes against {source.baseline!r} in brackets"
                                             if deltas else ""))
        return source.experiment.params[s], vals, deltas, sub
    raise TypeError(f"source must be Params, a RunResult or an ExperimentResult, got {type(source).__name__}")


def _strengths(params, fit, level):
    """``{path: (value, half_width or None, fitted)}`` for every arrow."""
    out = {}
    ci = fit.conf_int(1 - level) if fit is not None else {}
    for *_, path, _ in ARROWS:
        if path is None:
            continue
        if fit is not None and path in fit.estimates:
            lo, hi = ci[path]
            out[path] = (fit.estimates[path], (hi - lo) / 2 if np.isfinite(hi - lo) else None, True)
        else:
            out[path] = (float(params.get(path)), None, False)
    return out


def _draw_box(ax, key, values, deltas, scale, money):
    """One stage's box; ``scale``: points per data unit across, so every line fits inside the box."""
    from matplotlib.patches import FancyBboxPatch

    title, kpis, _, row = STAGES[key]
    x, y, w, h = _box(key)
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.12",
                                fc="#F2F7FB", ec=_BLUE, lw=1.6, zorder=2))
    top = y + h / 2
    ax.text(x, top - 0.08, title, ha="center", va="top", fontsize=10, fontweight="bold", color=_INK,
            zorder=3, linespacing=1.05)
    if not values:
        return
    first = kpis[0]
    text = _fmt(values[first])
    if first in deltas:
        text += f" ({_fmt(deltas[first], sign=True)})"
    inner = w * scale - 12.0  # the box's width in points, less a margin at each side
    unit = unit_words(first, money)
    if text_width(unit, MIN_FONTSIZE) > inner:  # wider than the box: unit above direction, then wrapped
        unit = "\n".join(_fit_line(part, inner) for part in unit.split(", "))
    yv = y - (0.08 if row == 0 or "\n" in unit else 0.2)
    size = 13.0  # the value's font: as large as fits the box, never under MIN_FONTSIZE
    while size > MIN_FONTSIZE and text_width(text, size) > inner:
        size -= 0.5
    ax.text(x, yv, text, ha="center", va="center", fontsize=size, color=_INK, zorder=3)
    ax.text(x, yv - 0.17, unit, ha="center", va="top", fontsize=MIN_FONTSIZE, color=_GREY, zorder=3,
            linespacing=1.0)
    if len(kpis) > 1:
        second = METRICS[kpis[1]]
        # the second KPI under its box title ("Service quality and wait": the mean wait)
        label = {"sla_attainment": "SLA met", "wait_time": "wait", "nps": "NPS"}.get(second.name, second.label)
        value = values[kpis[1]]
        shown = f"{100 * value:.0f}%" if second.unit == "share" and np.isfinite(value) else \
            f"{_fmt(value)} {second.unit.replace('points', '')}".strip()
        ax.text(x, yv - 0.54, f"{label} {shown}", ha="center", va="center", fontsize=MIN_FONTSIZE, color=_INK,
                zorder=3)


def _fit_line(words, width) -> str:
    """``words`` within ``width`` points at MIN_FONTSIZE: broken before "per" where that fits, else at spaces."""
    if text_width(words, MIN_FONTSIZE) <= width:
        return words
    head, per, tail = words.partition(" per ")
    if per and max(text_width(head, MIN_FONTSIZE), text_width("per " + tail, MIN_FONTSIZE)) <= width:
        return f"{head}\nper {tail}"
    return wrap_text(words, width, MIN_FONTSIZE)


def _label_text(value, half, off, *, one_line=False) -> str:
    """An arrow's label: its strength, and under it (beside it, ``one_line``) the interval's half-width."""
    if off:
        return "off"
    return f"{value:.2f}" + (("  " if one_line else "\n") + f"\u00b1{half:.2f}" if half is not None else "")


def _label(ax, x, y, value, half, fitted, off, va="center", ha="center", one_line=False):
    """An arrow's label; ``one_line``: it sits on a connector line, on a white ground that hides the line.

    A label beside its arrow, in the gap between two boxes, has no ground: it would cover the boxes' edges.
    """
    text = _label_text(value, half, off, one_line=one_line)
    ground = dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9) if one_line else None
    ax.text(x, y, text, ha=ha, va=va, fontsize=MIN_FONTSIZE, color=_BLUE if fitted else _GREY,
            fontweight="bold" if fitted else "normal", zorder=5, linespacing=1.0, bbox=ground)


def _edge(key, side, dy=0.0):
    x, y, w, h = _box(key)
    return {"right": (x + w / 2, y + dy), "left": (x - w / 2, y + dy), "top": (x, y + h / 2),
            "bottom": (x, y - h / 2)}[side]


def _arrow(ax, points, off, *, straight=False):
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MPath

    kw = dict(arrowstyle="-|>,head_length=6,head_width=3.5", mutation_scale=1.6, lw=1.8,
              color="#9a9a9a" if off else "#3c3c3c", ls=(0, (3, 2)) if off else "-", zorder=4,
              shrinkA=0, shrinkB=0)
    if straight:
        ax.add_patch(FancyArrowPatch(points[0], points[1], **kw))
    else:
        codes = [MPath.MOVETO] + [MPath.LINETO] * (len(points) - 1)
        ax.add_patch(FancyArrowPatch(path=MPath(points, codes), **kw))


def plot_chain_diagram(source=None, *, scenario=None, fit=None, level=0.95, ax=None,
                       title="The service-profit chain", money="money"):
    """The chain as boxes and arrows, with each stage's value and each link's strength.

    Parameters
    ----------
    source : Params, RunResult or ExperimentResult, optional
        Where stage values and link strengths come from.  A run gives its
        whole-run values; an experiment the mean after the warm-up of
        ``scenario`` (with its difference against the baseline in brackets).
        Flows (revenue, profit) are per week.  Params (default ``Params()``)
        give link strengths only.
    scenario : str, optional
        Experiment scenario; default the baseline.
    fit : FitResult, optional
        A :func:`~spchain.fit_links` (or calibration) result: arrows whose
        parameter it estimates show the estimate and the half-width of its
        ``level`` interval, in bold blue; the others the model's value, in grey.
    level : float
        Confidence level of fitted intervals.
    ax : matplotlib.axes.Axes, optional
        Draw here (about 13 x 5.2 inches reads best: no text is smaller than
        :data:`MIN_FONTSIZE`, and the key below the chain is wrapped to the
        axes' width); a new figure otherwise.
    title : str
        Axes title.
    money : str
        What the unit lines call the model's money ("EUR", "money units");
        a unit line wider than its box is wrapped to it.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(money, str) or not money.strip():
        raise ValueError(f"money={money!r}: expected a non-empty string such as 'EUR'")
    params, values, deltas, subtitle = _source(source, scenario)
    strengths = _strengths(params, fit, level)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(13, 5.2), layout="constrained")
        width = _axes_width(ax)
        x_lo, x_hi = 0.05, _FIRST_COLUMN + 6 * _COLUMN_STEP + _BOX_WIDTH / 2 + 0.1
        scale = 0.97 * width / (x_hi - x_lo)  # points per data unit across (a little lost to the layout's pads)
        for key in STAGES:
            _draw_box(ax, key, values, deltas, scale, money.strip())
        for a, b, path, _ in ARROWS:
            _draw_link(ax, a, b, strengths[path] if path else None, scale)
        lines = _draw_key(ax, fit, level, width)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(_REINVEST - 0.4 - 0.22 * len(lines), _MIRROR + 0.25)
        ax.axis("off")
        _draw_titles(ax, title, subtitle, width)
    return ax


def _axes_width(ax) -> float:
    """The axes' width in points, as the figure's layout will make it."""
    fig, spec = ax.figure, ax.get_subplotspec()
    if fig.get_layout_engine() is not None and spec is not None:  # the layout spreads the grid out
        return fig.get_figwidth() * 72.0 * (spec.colspan.stop - spec.colspan.start) / spec.get_gridspec().ncols
    return ax.get_position().width * fig.get_figwidth() * 72.0


def _draw_link(ax, a, b, strength, scale):
    """The arrow from stage ``a`` to ``b`` and its label; ``strength``: ``(value, half-width, fitted)`` or None."""
    value, half, fitted = strength if strength else (None, None, False)
    off = strength is not None and value == 0 and not fitted
    if strength is None:  # revenue -> profit: accounting, no coefficient
        _arrow(ax, [_edge(a, "bottom"), _edge(b, "top")], False, straight=True)
    elif (a, b) == ("cs", "es"):  # the mirror, above
        p0, p1 = _loop(ax, a, b, "top", _MIRROR, off)
        # right of the words "satisfaction mirror", which end 0.23 past the middle
        _label(ax, (p0[0] + p1[0]) / 2 + 0.35, _MIRROR, value, half, fitted, off, ha="left", one_line=True)
        ax.text((p0[0] + p1[0]) / 2 - 0.55, _MIRROR + 0.05, "satisfaction mirror", ha="center",
                va="bottom", fontsize=MIN_FONTSIZE, color=_GREY)
    elif (a, b) == ("es", "value"):  # direct, below
        p0, p1 = _loop(ax, a, b, "bottom", _DIRECT, off)
        # on the line, one line high: clear of the box above it
        _label(ax, (p0[0] + p1[0]) / 2, _DIRECT, value, half, fitted, off, one_line=True)
    elif (a, b) == ("profit", "isq"):  # reinvestment, below
        p0, p1 = _loop(ax, a, b, "bottom", _REINVEST, off)
        _label(ax, (p0[0] + p1[0]) / 2 + 2.0, _REINVEST, value, half, fitted, off, one_line=True)
        ax.text((p0[0] + p1[0]) / 2 - 0.6, _REINVEST + 0.05, "share of profit reinvested",
                ha="center", va="bottom", fontsize=MIN_FONTSIZE, color=_GREY)
    else:
        _forward_link(ax, a, b, value, half, fitted, off, scale)


def _loop(ax, a, b, side, level, off):
    """An arrow leaving ``a`` and entering ``b`` on ``side``, running at height ``level``; its two ends."""
    p0, p1 = _edge(a, side), _edge(b, side)
    _arrow(ax, [p0, (p0[0], level), (p1[0], level), p1], off)
    return p0, p1


def _forward_link(ax, a, b, value, half, fitted, off, scale):
    """A straight arrow to the next column, its label in the gap between the boxes."""
    ra, rb = STAGES[a][3], STAGES[b][3]
    dy_a = 0.28 * rb if ra == 0 else 0.0
    dy_b = 0.28 * ra if rb == 0 else 0.0
    p0, p1 = _edge(a, "right", dy_a), _edge(b, "left", dy_b)
    _arrow(ax, [p0, p1], off, straight=True)
    mid = (p0[0] + p1[0]) / 2
    if ra == rb:  # level: the label above the arrow, clear of its head
        _label(ax, mid, p0[1] + 0.12, value, half, fitted, off, va="bottom")
        return
    # to or from a box above (below) the centre row: above (below) the arrow's outer end, in
    # the gap between the boxes, clear of the other diagonal arrow and of both boxes' edges
    outer = ra or rb
    end = max(p0[1], p1[1]) if outer > 0 else min(p0[1], p1[1])
    wide = text_width(_label_text(value, half, off), MIN_FONTSIZE) / scale + 0.12  # data units, padded
    x, ha = mid, "center"
    if wide > p1[0] - p0[0] - 0.08:  # wider than the gap: along the outer box's side, over the
        # other box's top (bottom), which lies lower (higher) than the label
        x, ha = (p1[0] - 0.06, "right") if rb == outer else (p0[0] + 0.06, "left")
    _label(ax, x, end + 0.12 * outer, value, half, fitted, off, va="bottom" if outer > 0 else "top", ha=ha)


def _draw_key(ax, fit, level, width) -> list:
    """The key under the chain, wrapped to the axes' width; returns its lines."""
    fitted_note = ("bold blue: fitted, \u00b1 half-width of the "
                   f"{level:.0%} interval; grey: model values" if fit is not None else
                   "model values (spchain.Params)")
    key = (f"Numbers on arrows: link strengths, {fitted_note}; dashed: switched off. Left to right: "
           + "; ".join(f"{d} ({p.split('.')[-1]})" for _, _, p, d in ARROWS[:8] if p)
           + f"; below: {ARROWS[9][3]} ({ARROWS[9][2].split('.')[-1]}).")
    lines = wrap_text(key, 0.9 * width - 10.0, MIN_FONTSIZE).split("\n")  # room for hinting at low dpi
    ax.text(0.1, _REINVEST - 0.3, "\n".join(lines), ha="left", va="top", fontsize=MIN_FONTSIZE,
            color=_GREY, in_layout=False)  # wrapped to the axes' width: it need not shrink them
    return lines


def _draw_titles(ax, title, subtitle, width):
    """The title, and under it the subtitle saying where the numbers come from."""
    subtitle = wrap_text(subtitle, 0.9 * width - 10.0, 10)  # a long scenario name wraps, as the key does
    ax.text(0.0, 1.0, subtitle, transform=ax.transAxes, ha="left", va="bottom", fontsize=10, color=_GREY,
            linespacing=1.15)
    # the title stands above the subtitle's lines (10 pt each, 1.15 apart) with 6 points between
    ax.set_title(title, loc="left", fontsize=14, pad=6.0 + 11.5 * (subtitle.count("\n") + 1) + 4.0)
