"""What an experiment is: base parameters, scenarios, replications, horizon, warm-up, seed.

An :class:`ExperimentSpec` is validated when it is made, before anything
runs, and knows everything that decides its runs' numbers: each scenario's
parameters, each run's seed (:func:`replication_seed`), its definition as
JSON-able data and the manifest a store keeps.  It does not know how to run
itself: :class:`spchain.experiments.experiment.Experiment` is the
specification that runs, and an
:class:`~spchain.experiments.analysis.ExperimentResult` keeps the
specification it was run from (the one read back from a store when it is
loaded).

**Seeds and common random numbers.**  Replication ``i`` runs with the
integer seed ``SeedSequence(seed, spawn_key=(i,)).generate_state(1, uint64)``
in *every* scenario; inside a run the engine spawns one child of that seed
per stochastic stream (arrivals, service, patience, requests, internal
service, workforce, customers, surveys), so a lever change does not
reshuffle the randomness of unrelated streams.  Seeds do not depend on the
number of replications: asking for more adds replications and keeps the
first ones.  With ``crn=False`` scenario ``j`` uses ``spawn_key=(i, j + 1)``
instead (independent streams, for comparison).
"""

from __future__ import annotations

import dataclasses
import platform
import sys
from dataclasses import KW_ONLY, dataclass, field

import numpy as np

from ..params import ParamError, Params, check_integer, check_schedulable
from .scenarios import Scenario

__all__ = ["ExperimentSpec", "replication_seed"]


def replication_seed(seed: int, replication: int, scenario_index: int | None = None) -> int:
    """The integer seed of one run (see the module docstring).

    ``scenario_index=None`` gives the common-random-numbers seed shared by
    every scenario.
    """
    key = (replication,) if scenario_index is None else (replication, scenario_index + 1)
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0])


@dataclass(frozen=True)
class ExperimentSpec:
    """Scenarios side by side with replications and common random numbers: what to run.

    Parameters
    ----------
    base : Params, optional
        Parameters every scenario starts from (default ``Params()``); never
        mutated.
    scenarios : sequence of Scenario
        Unique names; default one scenario ``"baseline"`` that changes nothing.
    n_replications : int
        Replications per scenario, >= 1 (>= 2 for confidence intervals).
    horizon : int
        Weeks per run, longer than the warm-up.
    warmup : int
        Initial weeks left out of every statistic (the runs still simulate
        them); see :meth:`ExperimentResult.mser5
        <spchain.experiments.analysis.ExperimentResult.mser5>` for a data-driven choice.
    seed : int, optional
        Root seed; ``None`` draws fresh entropy, recorded on the experiment.
    crn : bool
        Common random numbers across scenarios (default).  ``False`` gives
        every scenario independent streams.
    baseline : str, optional
        Scenario that differences are taken against; default the first.

    Attributes
    ----------
    params : dict of str to Params
        Each scenario's parameters (the base with its changes applied).

    Raises
    ------
    ParamError
        Before anything runs, naming the problem: an unknown parameter
        path or a value out of range in a scenario, duplicate names, zero
        replications, a horizon not longer than the warm-up, a scheduled
        change beyond the horizon, or a scheduled change (in a scenario or
        in the base's schedule) to a parameter fixed for a whole run
        (:func:`spchain.params.check_schedulable`).

    Notes
    -----
    Two specifications are equal when every field is, whichever of this
    class and :class:`~spchain.experiments.experiment.Experiment` they are:
    the specification read back from a store equals the experiment that
    wrote it.
    """

    base: Params = field(default_factory=Params)
    _: KW_ONLY
    scenarios: tuple = (Scenario("baseline"),)
    n_replications: int = 10
    horizon: int = 52
    warmup: int = 0
    seed: int | None = None
    crn: bool = True
    baseline: str | None = None
    params: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.base, Params):
            raise ParamError(f"base must be a spchain.Params, got {type(self.base).__name__}")
        names = _scenario_names(self.scenarios)
        self._set("scenarios", tuple(self.scenarios))
        self._set("n_replications", check_integer("n_replications", self.n_replications, 1))
        self._set("horizon", check_integer("horizon", self.horizon, 1))
        self._set("warmup", check_integer("warmup", self.warmup, 0))
        if self.warmup >= self.horizon:
            raise ParamError(f"horizon ({self.horizon} weeks) must be longer than the warm-up "
                             f"({self.warmup} weeks)")
        seed = int(np.random.SeedSequence().entropy) if self.seed is None else self.seed
        self._set("seed", check_integer("seed", seed, 0))
        if not isinstance(self.crn, bool):
            raise ParamError(f"crn must be True or False, got {self.crn!r}")
        baseline = names[0] if self.baseline is None else self.baseline
        if baseline not in names:
            raise ParamError(f"baseline {baseline!r} is not a scenario; expected one of {names}")
        self._set("baseline", baseline)
        self._set("params", {s.name: _scenario_params(s, self.base, self.horizon) for s in self.scenarios})

    def _set(self, name, value):
        object.__setattr__(self, name, value)  # a frozen dataclass settles its own fields once

    def __eq__(self, other):
        if not isinstance(other, ExperimentSpec):
            return NotImplemented
        return _compared(self) == _compared(other)

    # ------------------------------------------------------------ definition
    @property
    def names(self) -> list:
        """Scenario names, in order."""
        return [s.name for s in self.scenarios]

    def seed_of(self, scenario: str, replication: int) -> int:
        """Integer seed of one run; the same for every scenario when ``crn``."""
        return replication_seed(self.seed, replication, None if self.crn else self.names.index(scenario))

    def definition(self) -> dict:
        """Everything that decides the runs' numbers, as JSON-able data (see :mod:`spchain.experiments.store`).

        It includes the engine's sample-path version,
        :data:`spchain.engine.model.SAMPLE_PATH_VERSION` (read when called), so a
        store written by an engine whose runs give other numbers is refused.
        """
        from .. import __version__
        from ..engine.model import SAMPLE_PATH_VERSION

        return {"spchain_version": __version__, "sample_path_version": SAMPLE_PATH_VERSION,
                "base": self.base.to_dict(),
                "scenarios": [s.to_dict() for s in self.scenarios], "horizon": self.horizon,
                "seed": self.seed, "crn": self.crn}

    def to_dict(self) -> dict:
        """The definition plus replications, warm-up and baseline; :meth:`from_dict` reads it."""
        return dict(self.definition(), n_replications=self.n_replications, warmup=self.warmup,
                    baseline=self.baseline)

    @classmethod
    def from_dict(cls, data: dict):
        """The experiment written by :meth:`to_dict`, of the class this is called on.

        Its ``spchain_version`` and ``sample_path_version`` are not checked:
        the experiment is rebuilt with this engine, and running it into the
        store it came from is refused if the sample-path versions differ.
        """
        return cls(Params.from_dict(data["base"]),
                   scenarios=[Scenario.from_dict(s) for s in data["scenarios"]],
                   n_replications=data["n_replications"], horizon=data["horizon"],
                   warmup=data["warmup"], seed=data["seed"], crn=data["crn"], baseline=data["baseline"])

    @classmethod
    def from_store(cls, path):
        """The experiment a store was written for, of the class this is called on.

        ``Experiment.from_store(path)`` gives one to resume or extend.  A
        store written by an engine of another sample-path version still
        gives its experiment (and :meth:`ExperimentResult.load
        <spchain.experiments.analysis.ExperimentResult.load>` its runs), but running it
        into that store is refused (:meth:`spchain.experiments.store.Store.check`).

        Raises
        ------
        StoreError
            No store at ``path``, or one that holds no experiment yet.
        """
        from pathlib import Path

        from .store import Store, StoreError

        if not Path(path).is_file():
            raise StoreError(f"no experiment store at {str(path)!r}")
        with Store(path) as store:
            manifest = store.manifest()
        if "definition" not in manifest:
            raise StoreError(f"{path} holds no experiment yet")
        return cls.from_dict(dict(manifest["definition"], n_replications=manifest["n_replications"],
                                  warmup=manifest["warmup"], baseline=manifest["baseline"]))

    def manifest(self) -> dict:
        """Manifest entries for a store: versions, definition, hash, seeds, design, platform."""
        from .store import definition_hash

        definition = self.definition()
        rows = [{"scenario": s.name, "kind": kind, **c.to_dict()}
                for s in self.scenarios for kind, c in s.changes]
        return {
            "spchain_version": definition["spchain_version"],
            "sample_path_version": definition["sample_path_version"],
            "definition": definition,
            "definition_hash": definition_hash(definition),
            "n_replications": self.n_replications,
            "warmup": self.warmup,
            "baseline": self.baseline,
            "seeds": {s: [self.seed_of(s, r) for r in range(self.n_replications)] for s in self.names},
            "design": rows,
            "platform": _platform(),
        }


def _compared(spec: ExperimentSpec) -> tuple:
    """The fields that equality compares (``params`` follows from them)."""
    return tuple(getattr(spec, f.name) for f in dataclasses.fields(spec) if f.compare)


def _scenario_names(scenarios) -> list:
    """The scenarios' names, after checking they are a non-empty list of uniquely named Scenario."""
    if isinstance(scenarios, Scenario) or not isinstance(scenarios, (list, tuple)) or not scenarios:
        raise ParamError(f"scenarios must be a non-empty list of spchain Scenario, got {scenarios!r}")
    for s in scenarios:
        if not isinstance(s, Scenario):
            raise ParamError(f"scenarios must hold Scenario objects, got {s!r}")
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ParamError(f"scenario names must be unique, {duplicates[0]!r} appears "
                         f"{names.count(duplicates[0])} times")
    return names


def _scenario_params(scenario: Scenario, base: Params, horizon: int) -> Params:
    """A scenario's parameters, its schedule checked (schedulable paths, within the horizon)."""
    params = scenario.apply(base)
    for change in params.schedule:
        check_schedulable(change.path, change.at_week, context=f"scenario {scenario.name!r}: ")
    late = [c for c in params.schedule if c.at_week >= horizon]
    if late:
        raise ParamError(f"scenario {scenario.name!r}: change at week {late[0].at_week} "
                         f"({late[0].path}) is beyond the horizon of {horizon} weeks")
    return params


def _platform() -> dict:
    import scipy
    import simpy

    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "system": platform.platform(), "machine": platform.machine(),
            "numpy": np.__version__, "scipy": scipy.__version__, "simpy": simpy.__version__}
