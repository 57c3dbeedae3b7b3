"""spchain: the Service-Profit Chain as a discrete-event simulation on SimPy.

Specify parameters (:class:`Params`, or a :func:`preset`), run one
replication with :func:`simulate`, read KPIs from the :class:`RunResult`;
compare scenarios with replications and confidence intervals with an
:class:`Experiment`; fit to data with :func:`fit_distribution`,
:func:`fit_links` and :func:`calibrate`.
Plotting lives in :mod:`spchain.plotting` and is imported only when used.
"""

from .analysis import ExperimentResult
from .calibration import Target, calibrate, sears_targets
from .distributions import fit_distribution
from .estimation import Equation, fit_links
from .experiment import Experiment
from .fitresult import DataError, FitResult
from .metrics import METRICS
from .optimise import optimise_levers
from .panel import Panel, read_panel, structural_panel, synthetic_panel
from .params import Change, ParamError, Params
from .presets import PRESETS, preset
from .result import RunResult
from .run import simulate
from .scenarios import Scenario, full_factorial, latin_hypercube, one_at_a_time
from .store import StoreError

__version__ = "0.1.0"

__all__ = ["Params", "Change", "ParamError", "simulate", "RunResult", "preset", "PRESETS",
           "METRICS", "Scenario", "full_factorial", "one_at_a_time", "latin_hypercube",
           "Experiment", "ExperimentResult", "StoreError", "optimise_levers",
           "fit_distribution", "fit_links", "Equation", "calibrate", "Target", "sears_targets",
           "FitResult", "DataError", "Panel", "synthetic_panel", "structural_panel", "read_panel",
           "__version__"]
