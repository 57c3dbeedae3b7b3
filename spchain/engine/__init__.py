"""The discrete-event engine: one replication of the chain on SimPy.

:func:`simulate` runs one replication and returns a
:class:`spchain.RunResult`; :class:`Simulation` steps one week at a time
(the workshop's rounds).  Inside: :mod:`.model` (the engine: the weeks,
levers and internal requests), :mod:`.frontline` (a unit's positions, queue,
employees and money), :mod:`.customers` (a unit's customer base),
:mod:`.departments` (internal service departments), :mod:`.units` (units'
profiles and departments' capacity), :mod:`.weekly` (vectorised helpers of
the weekly updates), :mod:`.streams` (the keyed random-number streams) and
:mod:`.survey` (the customer survey).  The engine imports only the shared specification
(:mod:`spchain.params`, :mod:`spchain.links`, :mod:`spchain.metrics`,
:mod:`spchain.records`, :mod:`spchain.result`): no statistics, files or plots.
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "simulate": "run", "Simulation": "run", "Engine": "model", "SAMPLE_PATH_VERSION": "model",
    "CapacityWarning": "units",
})
