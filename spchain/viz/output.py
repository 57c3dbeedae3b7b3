"""Figures for the front ends' files: blank report figures, currency in chart text, fit charts.

The report (:mod:`spchain.apps.report`) and the command line
(:mod:`spchain.apps.cli`) draw with the charts of :mod:`.plotting`,
:mod:`.diagram`, :mod:`.fitplots` and :mod:`.sensplots`; what they need
of Matplotlib itself is here, so that Matplotlib is imported only in
:mod:`spchain.viz`:

* :func:`new_figure`: a figure outside pyplot in the house style;
* :func:`name_the_currency`: every "money" in a figure's text names the currency;
* :func:`write_fit_charts`: the observed-against-fitted and residual charts
  of each fitted equation, as files (``spchain fit --plots``).
"""

from __future__ import annotations

import re
from pathlib import Path

from .fitplots import plot_fit
from .style import save_figure, style

__all__ = ["new_figure", "name_the_currency", "write_fit_charts"]


def new_figure(width, height, layout="constrained"):
    """A figure outside pyplot (nothing to close, no backend needed) in the house style.

    Parameters
    ----------
    width, height : float
        Size in inches.
    layout : str or None
        Matplotlib's layout engine (``"constrained"``, or None for none).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    with style():
        return Figure(figsize=(width, height), layout=layout)


def name_the_currency(fig, currency):
    """Every "money" in a chart's text (axis labels, the chain diagram's units) names ``currency``.

    Tick labels keep the amounts as they are (compacted to ``k`` and ``M``
    by the charts), so the unscaled currency is the honest unit.  A
    "money units" the chain diagram prints already is left alone.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Changed in place.
    currency : str
        A currency name or code (``"EUR"``).
    """
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        words = text.get_text()
        if "money" in words:
            text.set_text(re.sub(r"\bmoney\b(?! units)", currency, words))


def write_fit_charts(fit, folder) -> list:
    """Write each fitted equation's observed-against-fitted and residual charts into ``folder``.

    Parameters
    ----------
    fit : FitResult
        A result of :func:`spchain.fit_links` (its ``diagnostics["equations"]``).
    folder : str or Path
        Created if missing; one chart ``fit-<equation>`` (PNG and SVG) per equation.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for equation in fit.diagnostics.get("equations", []):
        fig = new_figure(11, 4.4)
        observed, residuals = fig.subplots(1, 2)
        plot_fit(fit, equation=equation["name"], ax=observed)
        plot_fit(fit, equation=equation["name"], kind="residuals", ax=residuals)
        files += save_figure(fig, folder / f"fit-{equation['name']}")
    return files
