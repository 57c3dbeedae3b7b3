"""Experiments: many replications, honest statistics, sensitivity and choice.

:class:`Scenario` and its designs (:func:`full_factorial`,
:func:`one_at_a_time`, :func:`latin_hypercube`); an :class:`ExperimentSpec`
(:mod:`.spec`) says what to run, and :class:`Experiment`, a specification
that runs, runs them with common random numbers on any executor, into a resumable store
(:mod:`.store`); :class:`ExperimentResult` (:mod:`.analysis`) compares them
with the intervals of :mod:`.statistics`.  :mod:`.sensitivity` (Morris,
Sobol'), :mod:`.selection` (ranking and selection) and :mod:`.optimise`
(lever search) build on them.
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Scenario": "scenarios", "full_factorial": "scenarios", "one_at_a_time": "scenarios",
    "latin_hypercube": "scenarios", "ExperimentSpec": "spec", "replication_seed": "spec",
    "Experiment": "experiment",
    "ExperimentResult": "analysis", "Store": "store", "StoreError": "store",
    "Difference": "statistics", "Interval": "statistics", "paired_difference": "statistics",
    "t_interval": "statistics", "select": "selection", "select_best": "selection",
    "optimise_levers": "optimise", "morris": "sensitivity", "sobol": "sensitivity",
})
