"""Fitting the chain to data: one result type, three kinds of fit.

:func:`fit_distribution` (:mod:`.distributions`) fits service-time and
tenure distributions; :func:`fit_links` (:mod:`.estimation`) estimates the
chain's links from a unit panel; :func:`calibrate` (:mod:`.calibration`)
matches simulated moments to targets; :func:`fit_individual_links`
(:mod:`.individual`) estimates the churn, quit, quality, value and
productivity links from individual customer and employee records.  All return a :class:`FitResult`
(:mod:`.result`).  :mod:`.synthetic` draws panels with known truth.
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "FitResult": "result", "DataError": "result",
    "fit_distribution": "distributions", "fit_links": "estimation", "Equation": "estimation",
    "calibrate": "calibration", "Target": "calibration", "sears_targets": "calibration",
    "fit_individual_links": "individual",
    "synthetic_panel": "synthetic", "structural_panel": "synthetic", "panel_params": "synthetic",
})
