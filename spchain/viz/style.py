"""The house style every chart shares: colours, rcParams, saving, axes and text helpers.

Every chart module of :mod:`spchain.viz` draws with these and takes them from
here, never from another chart module.  Matplotlib is imported inside the
functions, when a chart is drawn.

=======================  ========================================================
name                     what it is
=======================  ========================================================
:data:`PALETTE`          the Okabe-Ito colours (colour-blind safe)
:data:`SCENARIO_COLORS`  a scenario's colour, in order (no pale yellow)
:data:`STYLE`            the rcParams of the house style
:func:`style`            a context manager applying :data:`STYLE`
:func:`save_figure`      PNG, reproducible SVG and PDF files of a figure
:func:`tidy`             the house style on axes made elsewhere
:func:`compact_number`   a number for people: ``5,000``, ``52k``, ``1.2M``
:func:`tick_text`        one tick label of an axis, in the axis's k or M
:func:`compact_ticks`    an axis's tick labels written by :func:`tick_text`
:func:`text_width`       the width of a text in the house font
:func:`wrap_text`        a text broken into lines of a given width
=======================  ========================================================
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PALETTE", "SCENARIO_COLORS", "STYLE", "style", "save_figure", "tidy", "compact_number", "tick_text",
           "compact_ticks", "text_width", "wrap_text"]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: Scenario colours, in order: the palette without yellow (too pale on a projector).
SCENARIO_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

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

    >>> with style():
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
            # a renderer's draw, not fig.canvas.draw(): a Figure made outside pyplot has a base canvas
            # whose draw does nothing, and the layout would be switched off without ever running
            fig.draw_without_rendering()
            fig.set_layout_engine("none")
        for fmt in formats:
            if fmt not in ("png", "svg", "pdf"):
                raise ValueError(f"formats must hold 'png', 'svg' or 'pdf', got {fmt!r}")
            target = path.with_name(f"{path.name}.{fmt}")
            meta = {"Date": None} if fmt == "svg" else ({"CreationDate": None} if fmt == "pdf" else None)
            fig.savefig(target, format=fmt, dpi=dpi, metadata=meta)
            out.append(target)
    return out


def tidy(ax, *, value_axis="y"):
    """House style on an Axes made elsewhere: open frame, light grid, compact big numbers.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    value_axis : {"y", "x"}
        The axis of the values: one reaching 10,000 or more gets at most 6
        ticks, labelled in thousands or millions (:func:`compact_ticks`).

    Returns
    -------
    None
    """
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
        compact_ticks(axis)


def compact_number(x, *, reach=None, digits=4, thousands_from=1e4, minus="\u2212") -> str:
    """A number for people: ``"5,000"``, ``"52k"``, ``"1.2M"``, never ``"1e+05"``.

    The one writer of thousands (``k``) and millions (``M``) in spchain's
    charts: tick labels (:func:`tick_text`) and the chain diagram's values.

    Parameters
    ----------
    x : float
        The number.
    reach : float, optional
        The size that picks the unit, default ``abs(x)``: millions from
        1,000,000, thousands from ``thousands_from``; below it the number
        itself, thousands separated, to 6 significant digits.  An axis
        passes its largest limit, so every tick of it has the same unit.
    digits : int
        Significant digits of a number in thousands or millions.
    thousands_from : float
        The smallest ``reach`` written in thousands.
    minus : str
        The minus sign: a true minus (U+2212) by default, ``"-"`` to keep
        the hyphen.

    Returns
    -------
    str

    Examples
    --------
    >>> compact_number(2500.0), compact_number(52000.0), compact_number(-1.25e6)
    ('2,500', '52k', '\u22121.25M')
    >>> compact_number(1234.0, digits=3, thousands_from=1e3, minus="-")
    '1.23k'
    """
    reach = abs(x) if reach is None else reach
    if reach >= 1e6:
        text = f"{x / 1e6:.{digits}g}M"
    elif reach >= thousands_from:
        text = f"{x / 1e3:.{digits}g}k"
    else:
        text = f"{x:,.6g}"
    return text.replace("-", minus)


def tick_text(x, low, high) -> str:
    """A tick label for people: ``"5,000"``, ``"52k"``, ``"1.2M"``, never ``"1e+05"``.

    Parameters
    ----------
    x : float
        The tick's value.
    low, high : float
        The axis's view limits: an axis reaching 10,000 writes thousands
        (``k``), one reaching 1,000,000 millions (``M``), so every tick of an
        axis uses the same unit (:func:`compact_number`).

    Returns
    -------
    str
        With a true minus sign (U+2212); ``"0"`` for a value that is zero
        but for rounding.

    Examples
    --------
    >>> tick_text(2500.0, 0, 7500), tick_text(52000.0, 0, 1.2e5), tick_text(-1.25e6, -2e6, 0)
    ('2,500', '52k', '\u22121.25M')
    """
    span = abs(high - low) or 1.0
    if abs(x) < 1e-9 * span:
        return "0"
    return compact_number(x, reach=max(abs(low), abs(high)))


def compact_ticks(axis):
    """Write an axis's tick labels with :func:`tick_text`, in the unit its view limits call for.

    Parameters
    ----------
    axis : matplotlib.axis.Axis
        ``ax.xaxis`` or ``ax.yaxis``; the limits are read when the ticks are
        drawn, so the labels follow a change of limits.

    Returns
    -------
    matplotlib.axis.Axis
    """
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _pos=None: tick_text(x, *axis.get_view_interval())))
    return axis


def text_width(text, fontsize) -> float:
    """Width in points of ``text`` (its widest line) in the house font; no figure or canvas is needed.

    Parameters
    ----------
    text : str
    fontsize : float
        Font size in points.

    Returns
    -------
    float

    Examples
    --------
    >>> text_width("a\\nabc", 10) == text_width("abc", 10) > text_width("a", 10)
    True
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family=STYLE["font.family"], size=fontsize)
    return max((TextToPath().get_text_width_height_descent(line, prop, ismath=False)[0]
                for line in text.split("\n")), default=0.0)


def wrap_text(text, width, fontsize, *, at_clauses=False) -> str:
    """``text`` broken into lines at most ``width`` points wide in the house font.

    Text that does not fit is broken at spaces (with ``at_clauses``, after
    each ``"; "`` instead where every clause then fits); a word longer than
    ``width`` keeps a line of its own.  Measured with
    matplotlib's own glyph metrics, so no figure or canvas is needed.

    Parameters
    ----------
    text : str
    width : float
        Line width in points (1/72 inch).
    fontsize : float
        Font size in points.
    at_clauses : bool
        Prefer a line per clause (an axis label's "; lower is better").

    Returns
    -------
    str
        The lines joined by newlines.

    Examples
    --------
    >>> wrap_text("lower is better", 50, 10)
    'lower is\\nbetter'
    """
    if at_clauses and "; " in text and text_width(text, fontsize) > width:  # a clause a line, where each fits
        clauses = text.split("; ")
        if all(text_width(c, fontsize) <= width for c in clauses):
            return ";\n".join(clauses)
    lines = []
    for word in text.split(" "):
        if lines and text_width(f"{lines[-1]} {word}", fontsize) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines)
