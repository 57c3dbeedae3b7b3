"""spchain: the Service-Profit Chain as a discrete-event simulation on SimPy.

Specify parameters (:class:`Params`, or a :func:`preset`), run one
replication with :func:`simulate`, read KPIs from the :class:`RunResult`.
Plotting lives in :mod:`spchain.plotting` and is imported only when used.
"""

from .metrics import METRICS
from .params import Change, ParamError, Params
from .presets import PRESETS, preset
from .result import RunResult
from .run import simulate

__version__ = "0.1.0"

__all__ = ["Params", "Change", "ParamError", "simulate", "RunResult", "preset", "PRESETS",
           "METRICS", "__version__"]
