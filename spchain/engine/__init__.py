"""The discrete-event engine: one replication of the chain on SimPy.

:func:`simulate` runs one replication and returns a
:class:`spchain.RunResult`; :class:`Simulation` steps one week at a time
(the workshop's rounds).  Inside: :mod:`.model` (the event loop and
customer service), :mod:`.units` (units' profiles and departments'
capacity), :mod:`.weekly` (the weekly updates of every unit),
:mod:`.streams` (the keyed random-number streams) and :mod:`.survey` (the
customer survey).  The engine imports only the shared specification
(:mod:`spchain.params`, :mod:`spchain.links`, :mod:`spchain.metrics`,
:mod:`spchain.records`, :mod:`spchain.result`): no statistics, files or plots.
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "simulate": "run", "Simulation": "run", "Engine": "model", "SAMPLE_PATH_VERSION": "model",
    "CapacityWarning": "units",
})
