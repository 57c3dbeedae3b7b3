"""spchain: the Service-Profit Chain as a discrete-event simulation on SimPy.

Specify parameters (:class:`Params`, or a :func:`preset`), run one
replication with :func:`simulate`, read KPIs from the :class:`RunResult`;
compare scenarios with replications and confidence intervals with an
:class:`Experiment`; fit to data with :func:`fit_distribution`,
:func:`fit_links` and :func:`calibrate`.

The package is layered (``docs/architecture.md``): the specification and
records every layer shares (:mod:`spchain.params`, :mod:`spchain.links`,
:mod:`spchain.metrics`, :mod:`spchain.presets`, :mod:`spchain.records`,
:mod:`spchain.result`, :mod:`spchain.panel`, :mod:`spchain.theory`,
:mod:`spchain.formatting`), then
:mod:`spchain.engine`, :mod:`spchain.experiments`, :mod:`spchain.fitting`,
:mod:`spchain.viz` (the only place Matplotlib is imported) and
:mod:`spchain.apps` (command line, scenario files, report, workshop).
The names below are imported when first used, so ``import spchain`` is light.
"""

from .lazy import attach, install_moved_modules

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach(__name__, {
    "Params": "params", "Change": "params", "ParamError": "params",
    "simulate": "engine.run", "RunResult": "result", "preset": "presets", "PRESETS": "presets",
    "METRICS": "metrics",
    "Scenario": "experiments.scenarios", "full_factorial": "experiments.scenarios",
    "one_at_a_time": "experiments.scenarios", "latin_hypercube": "experiments.scenarios",
    "Experiment": "experiments.experiment", "ExperimentResult": "experiments.analysis",
    "StoreError": "experiments.store", "optimise_levers": "experiments.optimise",
    "fit_distribution": "fitting.distributions", "fit_links": "fitting.estimation",
    "Equation": "fitting.estimation", "calibrate": "fitting.calibration",
    "Target": "fitting.calibration", "sears_targets": "fitting.calibration",
    "FitResult": "fitting.result", "DataError": "panel", "Panel": "panel", "read_panel": "panel",
    "synthetic_panel": "fitting.synthetic", "structural_panel": "fitting.synthetic",
    # the layer subpackages and the shared modules, as attributes
    "engine": None, "experiments": None, "fitting": None, "viz": None, "apps": None,
    "params": None, "links": None, "metrics": None, "presets": None, "records": None,
    "result": None, "panel": None, "theory": None,
})
__all__ = [*__all__, "__version__"]

install_moved_modules()
