"""Charts of sensitivity analysis and ranking and selection (matplotlib, imported only when drawing).

============================  ==================================================
helper                        draws
============================  ==================================================
:func:`plot_morris`           Morris screening: each factor's ``mu*`` against
                              ``sigma``, labelled, with ``mu*``'s interval
:func:`plot_sobol`            Sobol' first-order and total indices as bars
                              with their bootstrap intervals
:func:`plot_sobol_over_time`  one index per window of weeks, a line and band
                              per factor (a ``SimulationModel(window=...)``)
:func:`plot_selection`        a :class:`~spchain.experiments.selection.Selection`: the
                              running mean of each scenario until it was
                              eliminated, or the runs each scenario received
============================  ==================================================

Every helper takes ``ax=None`` and returns the Axes it drew on; colours are
:data:`spchain.viz.style.PALETTE` (Okabe-Ito) and the house style is
:func:`spchain.viz.style.style`.
"""

from __future__ import annotations

import numpy as np

from .style import PALETTE, SCENARIO_COLORS, style, tidy

__all__ = ["plot_morris", "plot_sobol", "plot_sobol_over_time", "plot_selection"]


def _axes(ax, size):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    with style():
        fig, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _check_window(result, window, what):
    """One window's values of a per-window result; the result itself otherwise."""
    windows = getattr(result, "windows", None)
    if windows is None:
        if window is not None:
            raise ValueError(f"window={window!r}: this result has one output, not one per window")
        return None
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not -len(windows) <= window < len(
            windows):
        raise ValueError(f"{what} of a result with one output per window needs window= an integer in "
                         f"[{-len(windows)}, {len(windows)}) (which window to draw), got {window!r}")
    return int(window) % len(windows)


def _window_label(result, j) -> str:
    if j is None:
        return ""
    a, b = result.windows[j]
    return f" (week {a})" if b == a + 1 else f" (weeks {a}-{b - 1})"


def plot_morris(result, *, window: int | None = None, ax=None, labels: bool = True):
    """Morris screening: ``mu*`` (x) against ``sigma`` (y), one labelled point per factor.

    Factors far to the right matter; far up, their effect depends on the
    other factors' values (interactions or curvature).  A horizontal bar
    is the bootstrap interval of ``mu*``; the grey line ``sigma = mu*``
    separates mostly linear effects (below) from mostly non-linear ones.

    Parameters
    ----------
    result : spchain.experiments.sensitivity.MorrisResult
    window : int, optional
        Which window of weeks to draw, for a result with one output per
        window (required then).
    ax : matplotlib.axes.Axes, optional
    labels : bool
        Write each factor's name next to its point.

    Returns
    -------
    matplotlib.axes.Axes
    """
    j = _check_window(result, window, "plot_morris")
    pick = (lambda a: a) if j is None else (lambda a: a[:, j])  # noqa: E731
    mu_star, sigma, conf = pick(result.mu_star), pick(result.sigma), pick(result.mu_star_conf)
    if np.all(np.isnan(sigma)):
        raise ValueError("sigma is undefined for grouped factors (SALib gives NaN): plot_morris needs a "
                         "result without groups")
    ax = _axes(ax, (7.0, 5.0))
    with style():
        ax.errorbar(mu_star, sigma, xerr=conf, fmt="o", color=PALETTE[0], ecolor=PALETTE[5],
                    elinewidth=1.2, capsize=3, markersize=6, zorder=3)
        top = float(np.nanmax(np.concatenate([mu_star + conf, sigma]))) * 1.08 or 1.0
        ax.plot([0, top], [0, top], color="#999999", linewidth=1, linestyle="--", zorder=1,
                label="sigma = mu*")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        if labels:  # a label near the previous one (by mu*) goes below its point instead of above
            placed = []
            for i in np.argsort(mu_star, kind="stable"):
                near = any(abs(mu_star[i] - x) < 0.08 * top and abs(sigma[i] - y) < 0.05 * top and up
                           for x, y, up in placed)
                ax.annotate(result.names[i], (mu_star[i], sigma[i]), xytext=(5, -12 if near else 4),
                            textcoords="offset points", fontsize=9, color="#222222")
                placed.append((mu_star[i], sigma[i], not near))
        ax.set_xlabel("mu* (mean absolute elementary effect, per factor range)")
        ax.set_ylabel("sigma (spread of the effects)")
        ax.set_title(f"Morris screening{_window_label(result, j)}: {result.n_trajectories} trajectories, "
                     f"{result.n_runs:,} runs")
        ax.legend(loc="upper left")
        tidy(ax, value_axis="x")
        tidy(ax)
    return ax


def plot_sobol(result, *, window: int | None = None, alpha: float = 0.05, ax=None):
    """Sobol' first-order and total indices, one pair of bars per factor, with their intervals.

    Bars are the point estimates; a black line across each bar is the
    ``1 - alpha`` bootstrap interval (design points and replications
    resampled together, :meth:`~spchain.experiments.sensitivity.SobolResult.conf_int`).
    A total index well above the first-order one marks a factor that acts
    through interactions.

    Parameters
    ----------
    result : spchain.experiments.sensitivity.SobolResult
    window : int, optional
        Which window of weeks to draw, for a result with one output per
        window (required then).
    alpha : float
        The intervals' level is ``1 - alpha``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its bars are ``ax.containers[0]`` (first order) and
        ``ax.containers[1]`` (total), in the order of ``result.names`` from
        the top.
    """
    j = _check_window(result, window, "plot_sobol")
    one = result if j is None else result.window(j)
    ci = one.conf_int(alpha)
    g = len(one.names)
    y = np.arange(g)[::-1].astype(float)
    h = 0.38
    ax = _axes(ax, (7.5, 1.2 + 0.55 * g))
    with style():
        for k, (key, label, color, shift) in enumerate((("first_order", "first order S1", PALETTE[0], h / 2),
                                                        ("total_order", "total ST", PALETTE[1], -h / 2))):
            values = getattr(one, key)
            ax.barh(y + shift, values, height=h, color=color, label=label)
            ax.hlines(y + shift, ci[key][:, 0], ci[key][:, 1], color="#222222", linewidth=1.4,
                      label=f"{100 * (1 - alpha):g}% interval" if k == 1 else None)
        ax.set_yticks(y, one.names)
        ax.axvline(0, color="#444444", linewidth=0.8)
        ax.set_xlabel("share of the output's variance")
        ax.set_title(f"Sobol' indices{_window_label(result, j)}: n = {one.n}, {one.n_replications} "
                     f"replications, {one.n_runs:,} runs")
        ax.legend(loc="lower right")
        tidy(ax, value_axis="x")
        ax.grid(False, axis="y")
    return ax


def plot_sobol_over_time(result, *, index: str = "total", alpha: float = 0.05, names=None, ax=None):
    """One Sobol' index per window of weeks: a line per factor, its interval as a band.

    Parameters
    ----------
    result : spchain.experiments.sensitivity.SobolResult
        A result with one output per window (``SimulationModel(window=...)``).
    index : {"total", "first"}
        Total (``ST``) or first-order (``S1``) indices.
    alpha : float
        The bands' level is ``1 - alpha``.
    names : sequence of str, optional
        Factors (or groups) to draw; default all.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        One line per factor, at each window's first week, in the order of
        ``names``; the bands are ``ax.collections``, in the same order.
    """
    if result.windows is None:
        raise ValueError("plot_sobol_over_time needs a result with one output per window of weeks: "
                         "SimulationModel(..., window=1) for weeks, window=13 for quarters")
    if index not in ("total", "first"):
        raise ValueError(f"index must be 'total' or 'first', got {index!r}")
    names = list(result.names) if names is None else list(names)
    unknown = [n for n in names if n not in result.names]
    if unknown or not names:
        raise ValueError(f"names {unknown or names!r}: expected some of {list(result.names)}")
    key = "total_order" if index == "total" else "first_order"
    values, ci = getattr(result, key), result.conf_int(alpha)[key]
    weeks = np.array([a for a, _ in result.windows], dtype=float)
    ax = _axes(ax, (8.0, 4.5))
    with style():
        for k, name in enumerate(names):
            i = result.names.index(name)
            color = SCENARIO_COLORS[k % len(SCENARIO_COLORS)]
            ax.plot(weeks, values[i], color=color, label=name, marker="o" if len(weeks) < 20 else None,
                    markersize=4)
            ax.fill_between(weeks, ci[i, :, 0], ci[i, :, 1], color=color, alpha=0.15, linewidth=0)
        width = result.windows[0][1] - result.windows[0][0]
        ax.set_xlabel("week" if width == 1 else f"first week of each {width}-week window")
        ax.set_ylabel("total index ST" if index == "total" else "first-order index S1")
        ax.set_title(f"Sobol' {'total' if index == 'total' else 'first-order'} indices over time, "
                     f"{100 * (1 - alpha):g}% bands")
        ax.legend(loc="best", fontsize=9)
        tidy(ax)
    return ax


def plot_selection(selection, *, kind: str | None = None, ax=None):
    """How a ranking-and-selection procedure spent its runs.

    Parameters
    ----------
    selection : spchain.experiments.selection.Selection
    kind : {"elimination", "allocation"}, optional
        ``"elimination"``: each scenario's running mean over its
        replications (common random numbers: replication ``r`` shares its
        random numbers across scenarios), ending where the scenario was
        eliminated (a cross) or the procedure stopped; the chosen scenario
        is drawn thick and ends in a star.  ``"allocation"``: horizontal bars
        of the replications each scenario received.  Default: elimination
        for KN and KN++, allocation for Rinott and OCBA.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Elimination: one line per scenario, in the order of
        ``selection.names``.  Allocation: the bars are ``ax.containers[0]``,
        in the order of ``selection.names`` from the top.
    """
    if kind is None:
        kind = "elimination" if selection.procedure in ("kn", "kn++") else "allocation"
    if kind not in ("elimination", "allocation"):
        raise ValueError(f"kind must be 'elimination' or 'allocation', got {kind!r}")
    if kind == "elimination" and len(selection.samples) != len(selection.names):
        raise ValueError("kind='elimination' needs the selection's samples (select_best and select keep them)")
    what = selection.kpi.replace("_", " ")
    ax = _axes(ax, (8.0, 4.5) if kind == "elimination" else (7.0, 1.2 + 0.5 * len(selection.names)))
    with style():
        if kind == "elimination":
            for i, name in enumerate(selection.names):
                x = np.asarray(selection.samples[i], dtype=float)
                reps = np.arange(1, x.size + 1)
                running = np.cumsum(x) / reps
                best = name == selection.best
                color = SCENARIO_COLORS[i % len(SCENARIO_COLORS)]
                ax.plot(reps, running, color=color, linewidth=3.0 if best else 1.5, label=name)
                ax.plot(reps[-1], running[-1], marker="*" if best else "x", markersize=14 if best else 9,
                        color=color, linestyle="none")
            ax.set_xlabel("replications")
            ax.set_ylabel(f"running mean of {what}")
            ax.legend(loc="best", fontsize=9)
            tidy(ax)
        else:
            y = np.arange(len(selection.names))[::-1]
            colors = [SCENARIO_COLORS[0] if n == selection.best else "#9a9a9a" for n in selection.names]
            bars = ax.barh(y, selection.n_replications, color=colors)
            for bar, name, n in zip(bars, selection.names, selection.n_replications):
                note = ("chosen" if name == selection.best else
                        "eliminated" if name in selection.eliminated else "")
                ax.annotate(f"{int(n)} {note}".strip(), (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                            xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
            ax.set_yticks(y, selection.names)
            ax.set_xlabel("replications run")
            ax.set_xlim(0, float(np.max(selection.n_replications)) * 1.2)
            tidy(ax, value_axis="x")
            ax.grid(False, axis="y")
        ax.set_title(f"{selection.procedure.upper()} selection by {what}: {selection.n_runs:,} runs, "
                     f"best {selection.best!r}")
    return ax
