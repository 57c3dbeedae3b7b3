"""Charts: the only part of spchain that imports Matplotlib (when a chart is drawn).

:mod:`.style` holds what every chart shares (palettes, the house style,
saving, tick labels, text widths); the chart modules import it and never
each other's helpers.  :mod:`.plotting` draws runs and experiments (KPI
series, dashboards, fans, comparisons, tornadoes); :mod:`.diagram` the chain
diagram; :mod:`.fitplots` fit diagnostics; :mod:`.sensplots` sensitivity and
selection charts; :mod:`.workshop` the workshop's debrief, live dashboard and
web pictures.  Every public chart is also a name of this package, imported
when first used (the house style's context manager is
``spchain.viz.style.style``: ``spchain.viz.style`` is the module):

>>> from spchain.viz import plot_chain_diagram, plot_chain
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "plotting": None, "diagram": None, "fitplots": None, "sensplots": None, "style": None, "workshop": None,
    "plot_kpi": "plotting", "plot_chain": "plotting", "plot_fan": "plotting", "plot_comparison": "plotting",
    "plot_tornado": "plotting", "oat_factors": "plotting", "trailing_kpi": "plotting", "kpi_range": "plotting",
    "total_unit": "plotting", "CHAIN_METRICS": "plotting",
    "plot_chain_diagram": "diagram", "plot_fit": "fitplots",
    "plot_morris": "sensplots", "plot_sobol": "sensplots", "plot_sobol_over_time": "sensplots",
    "plot_selection": "sensplots",
    "plot_debrief": "workshop", "LiveDashboard": "workshop",
    "PALETTE": "style", "SCENARIO_COLORS": "style", "STYLE": "style", "save_figure": "style", "tidy": "style",
    "compact_number": "style", "tick_text": "style", "compact_ticks": "style",
    "text_width": "style", "wrap_text": "style",
})
