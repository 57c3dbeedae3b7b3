"""Plotting helpers (matplotlib, imported only when a helper is called).

Every helper takes ``ax=None`` (or ``fig=None`` for figure-level helpers)
and returns what it drew on; nothing calls ``plt.show()``.  Labels and units
come from :data:`spchain.metrics.METRICS`.  Colours are the Okabe-Ito
palette, which stays distinguishable for colour-blind readers.
"""

from __future__ import annotations

import numpy as np

from .metrics import metric

__all__ = ["PALETTE", "CHAIN_METRICS", "plot_kpi", "plot_chain"]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: The chain, stage by stage, as drawn by :func:`plot_chain`.
CHAIN_METRICS = ("internal_service_quality", "employee_satisfaction", "turnover", "productivity",
                 "service_quality", "wait_time", "customer_satisfaction", "nps",
                 "active_customers", "revenue", "profit")


def _smooth(y, window):
    if window <= 1 or y.size < window:
        return y
    kernel = np.ones(window) / window
    valid = np.isfinite(y)
    num = np.convolve(np.where(valid, y, 0.0), kernel, mode="same")
    den = np.convolve(valid.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def plot_kpi(result, name, *, ax=None, label=None, color=None, smooth=1):
    """One KPI of a :class:`~spchain.RunResult` over time.

    Parameters
    ----------
    result : RunResult
    name : str
        KPI name (a key of :data:`spchain.metrics.METRICS`).
    ax : matplotlib.axes.Axes, optional
        Draw here; a new figure otherwise.
    label, color : optional
        Line label and colour.
    smooth : int
        Width in weeks of a centred moving average (1 = raw).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    m = metric(name)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    y = _smooth(result.kpi(name), smooth)
    ax.plot(np.arange(1, y.size + 1), y, label=label, color=color, lw=1.8)
    ax.set_title(m.label, fontsize=11)
    ax.set_xlabel("week")
    ax.set_ylabel(m.unit)
    ax.grid(alpha=0.3)
    return ax


def plot_chain(results, *, labels=None, metrics=CHAIN_METRICS, smooth=4, fig=None, ncols=4):
    """The chain over time: one small multiple per stage, scenarios overlaid.

    Parameters
    ----------
    results : RunResult or sequence of RunResult
        One line per result (e.g. baseline and an intervention).
    labels : sequence of str, optional
        Legend entries, one per result.
    metrics : sequence of str
        KPIs to draw, in chain order.
    smooth : int
        Moving-average window in weeks.
    fig : matplotlib.figure.Figure, optional
        Draw into this figure (it is cleared).
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not isinstance(results, (list, tuple)):
        results = [results]
    labels = list(labels) if labels is not None else [f"run {i + 1}" for i in range(len(results))]
    if len(labels) != len(results):
        raise ValueError(f"labels must have one entry per result ({len(results)}), got {len(labels)}")
    nrows = -(-len(metrics) // ncols)
    if fig is None:
        fig = plt.figure(figsize=(3.6 * ncols, 2.7 * nrows))
    else:
        fig.clear()
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, metrics):
        for i, (res, lab) in enumerate(zip(results, labels)):
            plot_kpi(res, name, ax=ax, label=lab, color=PALETTE[i % len(PALETTE)], smooth=smooth)
        ax.set_xlabel("")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    for ax in axes[(nrows - 1) * ncols:]:
        ax.set_xlabel("week")
    handles, labs = axes[0].get_legend_handles_labels()
    fig.suptitle("The service-profit chain over time", x=0.01, y=0.995, ha="left", va="top", fontsize=13)
    fig.legend(handles, labs, loc="upper right", bbox_to_anchor=(0.99, 0.995), ncol=len(labs),
               frameon=False, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (2.7 * nrows)))
    return fig
