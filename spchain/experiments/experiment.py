"""What-if experiments: scenarios x replications, run anywhere, stored as they finish.

An :class:`Experiment` is a specification -- base parameters, scenarios,
replications, horizon, warm-up, seed -- validated when it is made, before
anything runs.  :meth:`Experiment.run` executes it and returns an
:class:`~spchain.experiments.analysis.ExperimentResult`.

**Seeds and common random numbers.**  Replication ``i`` runs with the
integer seed ``SeedSequence(seed, spawn_key=(i,)).generate_state(1, uint64)``
in *every* scenario; inside a run the engine spawns one child of that seed
per stochastic stream (arrivals, service, patience, requests, internal
service, workforce, customers, surveys), so a lever change does not
reshuffle the randomness of unrelated streams.  Seeds do not depend on the
number of replications: asking for more adds replications and keeps the
first ones.  With ``crn=False`` scenario ``j`` uses ``spawn_key=(i, j + 1)``
instead (independent streams, for comparison).

**Where it runs.**  Serially by default; ``workers=N`` uses a local process
pool started with the ``spawn`` method (the same on Linux, macOS and
Windows, and safe in Jupyter); ``executor=`` takes any
:class:`concurrent.futures.Executor`, such as a Dask client's
``client.get_executor(pure=False)`` (see ``docs/dask.md``).  The unit of
work, :func:`run_task`, is a module-level pure function of (parameters as
a dict, horizon, seed), so results are identical bit for bit whatever runs
them.

**What survives.**  With ``store="sweep.sqlite"`` every finished run is
committed as it arrives (:mod:`spchain.experiments.store`); calling ``run`` again with
the same store -- after an interruption, a crash or a kill -- runs only
what is missing.

Examples
--------
>>> from spchain import preset
>>> from spchain.experiments.experiment import Experiment
>>> from spchain.experiments.scenarios import Scenario
>>> exp = Experiment(preset("workshop"), horizon=8, n_replications=3, seed=1, scenarios=[
...     Scenario("baseline"),
...     Scenario("more staff", levers={"workforce.n_employees": 11})])
>>> result = exp.run()
>>> result.difference("wait_time", scenario="more staff").mean < 0
True
"""

from __future__ import annotations

import concurrent.futures as cf
import platform
import sys
import time
import warnings
from dataclasses import KW_ONLY, dataclass, field

import numpy as np

from ..params import ParamError, Params, check_schedulable
from .scenarios import Scenario

__all__ = ["Experiment", "run_task", "replication_seed", "execute", "check_executor", "process_pool",
           "DEFAULT_MAX_HOURS", "UNPROBED_RUN_WEEKS"]

#: Default run budget of :meth:`Experiment.run`: the estimated CPU hours
#: (runs x seconds per run, on one core) above which it refuses to start.
DEFAULT_MAX_HOURS = 24.0
#: Weeks of the probe run that times one run (see :meth:`Experiment.estimate_seconds`).
_PROBE_WEEKS = 2
#: Experiments of at most this many run-weeks (runs x horizon) start without a probe run.
UNPROBED_RUN_WEEKS = 1000


def replication_seed(seed: int, replication: int, scenario_index: int | None = None) -> int:
    """The integer seed of one run (see the module docstring).

    ``scenario_index=None`` gives the common-random-numbers seed shared by
    every scenario.
    """
    key = (replication,) if scenario_index is None else (replication, scenario_index + 1)
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0])


def run_task(task: tuple) -> tuple:
    """Run one replication: the unit of work sent to an executor.

    Parameters
    ----------
    task : tuple
        ``(scenario, replication, params_dict, horizon, seed)``.

    Returns
    -------
    tuple
        ``(scenario, replication, sums, department_sums, wall_seconds)``.
    """
    from ..engine.run import simulate

    scenario, replication, params, horizon, seed = task
    result = simulate(Params.from_dict(params), horizon=horizon, seed=seed)
    return scenario, replication, result.sums, result.department_sums, result.wall_seconds


def _int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParamError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Experiment:
    """Scenarios run side by side with replications and common random numbers.

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

    Raises
    ------
    ParamError
        Before anything runs, naming the problem: an unknown parameter
        path or a value out of range in a scenario, duplicate names, zero
        replications, a horizon not longer than the warm-up, a scheduled
        change beyond the horizon, or a scheduled change (in a scenario or
        in the base's schedule) to a parameter fixed for a whole run
        (:func:`spchain.params.check_schedulable`).
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
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if not isinstance(self.base, Params):
            raise ParamError(f"base must be a spchain.Params, got {type(self.base).__name__}")
        scenarios = self.scenarios
        if isinstance(scenarios, Scenario) or not isinstance(scenarios, (list, tuple)) or not scenarios:
            raise ParamError(f"scenarios must be a non-empty list of spchain Scenario, got {scenarios!r}")
        for s in scenarios:
            if not isinstance(s, Scenario):
                raise ParamError(f"scenarios must hold Scenario objects, got {s!r}")
        names = [s.name for s in scenarios]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ParamError(f"scenario names must be unique, {dup[0]!r} appears {names.count(dup[0])} times")
        set_("scenarios", tuple(scenarios))
        set_("n_replications", _int("n_replications", self.n_replications, 1))
        set_("horizon", _int("horizon", self.horizon, 1))
        set_("warmup", _int("warmup", self.warmup, 0))
        if self.warmup >= self.horizon:
            raise ParamError(f"horizon ({self.horizon} weeks) must be longer than the warm-up "
                             f"({self.warmup} weeks)")
        seed = int(np.random.SeedSequence().entropy) if self.seed is None else self.seed
        set_("seed", _int("seed", seed, 0))
        if not isinstance(self.crn, bool):
            raise ParamError(f"crn must be True or False, got {self.crn!r}")
        baseline = names[0] if self.baseline is None else self.baseline
        if baseline not in names:
            raise ParamError(f"baseline {baseline!r} is not a scenario; expected one of {names}")
        set_("baseline", baseline)
        params = {}
        for s in self.scenarios:  # every run's schedule, checked before any run starts
            p = s.apply(self.base)
            for c in p.schedule:
                check_schedulable(c.path, c.at_week, context=f"scenario {s.name!r}: ")
            late = [c for c in p.schedule if c.at_week >= self.horizon]
            if late:
                raise ParamError(f"scenario {s.name!r}: change at week {late[0].at_week} "
                                 f"({late[0].path}) is beyond the horizon of {self.horizon} weeks")
            params[s.name] = p
        set_("params", params)

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
    def from_dict(cls, data: dict) -> "Experiment":
        """The experiment written by :meth:`to_dict`.

        Its ``spchain_version`` and ``sample_path_version`` are not checked:
        the experiment is rebuilt with this engine, and running it into the
        store it came from is refused if the sample-path versions differ.
        """
        return cls(Params.from_dict(data["base"]),
                   scenarios=[Scenario.from_dict(s) for s in data["scenarios"]],
                   n_replications=data["n_replications"], horizon=data["horizon"],
                   warmup=data["warmup"], seed=data["seed"], crn=data["crn"], baseline=data["baseline"])

    @classmethod
    def from_store(cls, path) -> "Experiment":
        """The experiment a store was written for, to resume or extend it.

        A store written by an engine of another sample-path version still
        gives its experiment (and :meth:`ExperimentResult.load
        <spchain.experiments.analysis.ExperimentResult.load>` its runs), but running it
        into that store is refused (:meth:`spchain.experiments.store.Store.check`).
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

    # --------------------------------------------------------------- budget
    def estimate_seconds(self, *, store=None) -> tuple:
        """Estimated CPU time of the runs still to do, from a short probe run.

        The baseline scenario's parameters (its week-0 changes applied) are
        simulated once for ``min(2, horizon)`` weeks on this machine; the
        time per week, times the horizon, is the time of one run.  Start-up
        costs are scaled with the weeks, so the estimate errs on the long
        side for short horizons.

        Parameters
        ----------
        store : str or Path, optional
            An existing store's finished runs of this experiment are not counted.

        Returns
        -------
        tuple
            ``(n_runs, seconds_per_run)``: runs still to do and the estimated
            CPU seconds of one (on one core; ``workers`` divide the wall time).
        """
        from pathlib import Path

        from ..engine.run import simulate

        n_runs = len(self.scenarios) * self.n_replications
        if store is not None and Path(store).is_file():
            from .store import Store

            with Store(store) as db:
                n_runs -= sum(1 for s, r in db.finished() if s in self.params and r < self.n_replications)
        if n_runs <= 0:
            return 0, 0.0
        weeks = min(_PROBE_WEEKS, self.horizon)
        started = time.perf_counter()
        simulate(self.params[self.baseline].at_week(0), horizon=weeks, seed=0)
        return n_runs, (time.perf_counter() - started) * self.horizon / weeks

    def check_budget(self, max_hours: float | None = DEFAULT_MAX_HOURS, *, store=None,
                     workers: int | None = None, override: str = "max_hours=None") -> None:
        """Refuse, before anything runs or is written, an experiment estimated to take over ``max_hours``.

        Parameters
        ----------
        max_hours : float or None
            Limit on the estimated CPU hours (:meth:`estimate_seconds`);
            ``None`` checks nothing.  Experiments of at most
            :data:`UNPROBED_RUN_WEEKS` (1,000) run-weeks are not probed
            (a small study starts at once, and its runs are all it simulates).
        store : str or Path, optional
            Runs already in this store are not counted.
        workers : int, optional
            Named in the message (wall time is about CPU time / workers).
        override : str
            How to lift the limit, named in the message.

        Raises
        ------
        ParamError
            Naming the runs, the estimate, the limit and how to lift it.
        """
        if max_hours is None:
            return
        if isinstance(max_hours, bool) or not isinstance(max_hours, (int, float)) or not max_hours > 0:
            raise ParamError(f"max_hours must be a number > 0 (hours of CPU time) or None for no limit, "
                             f"got {max_hours!r}")
        if len(self.scenarios) * self.n_replications * self.horizon <= UNPROBED_RUN_WEEKS:
            return
        n_runs, per_run = self.estimate_seconds(store=store)
        hours = n_runs * per_run / 3600.0
        if hours <= max_hours:
            return
        wall = f", about {hours / workers:,.1f} h of wall time on {workers} workers" if workers and workers > 1 else ""
        raise ParamError(
            f"this experiment would take about {hours:,.1f} CPU hours{wall}: {len(self.scenarios)} scenario(s) x "
            f"{self.n_replications:,} replication(s) = {n_runs:,} runs still to do, of {self.horizon} weeks at "
            f"about {per_run:.3g} s each (timed on a {min(_PROBE_WEEKS, self.horizon)}-week probe run of the "
            f"baseline on this machine); the limit is {max_hours:g} CPU hours. Run fewer replications or "
            f"scenarios or a shorter horizon, or pass {override} to run it anyway")

    # ------------------------------------------------------------------ run
    def run(self, *, workers: int | None = None, executor: cf.Executor | None = None,
            store=None, progress: bool = False, max_hours: float | None = DEFAULT_MAX_HOURS):
        """Run every scenario and replication not already in ``store``.

        Parameters
        ----------
        workers : int, optional
            Size of a local process pool (``spawn`` start method); ``None``
            or 1 runs serially in this process.
        executor : concurrent.futures.Executor, optional
            Where to run instead, e.g. ``client.get_executor(pure=False)``
            for a Dask cluster.  Not shut down afterwards.
        store : str or Path, optional
            SQLite file that receives each run as it finishes, with a
            manifest; an existing store of this experiment is resumed.
        progress : bool
            Show a tqdm progress bar with an ETA (needs the ``progress``
            extra; without tqdm a warning says so and the run goes on).
        max_hours : float or None, default :data:`DEFAULT_MAX_HOURS` (24)
            Run budget: refuse to start when the runs still to do are
            estimated (:meth:`estimate_seconds`, a 2-week probe run) to take
            more CPU hours than this (:meth:`check_budget`; experiments of
            at most 1,000 run-weeks are not probed).  ``None`` lifts the limit.

        Returns
        -------
        ExperimentResult

        Raises
        ------
        ParamError
            For bad ``workers``, ``executor`` or ``max_hours``, or when the
            estimated CPU time is over ``max_hours`` (:meth:`check_budget`),
            before anything runs or is written.
        spchain.experiments.store.StoreError
            When ``store`` belongs to another experiment, or was written by
            an engine of another sample-path version, before anything runs.
        """
        from .analysis import ExperimentResult
        from .store import Store

        workers = check_executor(workers, executor)
        self.check_budget(max_hours, store=store, workers=workers)
        db = Store(store) if store is not None else None
        try:
            where = (type(executor).__name__ if executor is not None else
                     f"ProcessPoolExecutor({workers}, spawn)" if workers and workers > 1 else "serial")
            manifest = self.manifest()
            session = db.begin(manifest, {"executor": where}) if db else 0
            done = db.finished() if db else set()
            dicts = {name: p.to_dict() for name, p in self.params.items()}
            tasks = [(s, r, dicts[s], self.horizon, self.seed_of(s, r))
                     for r in range(self.n_replications) for s in self.names if (s, r) not in done]
            runs = {}

            def record(out):
                s, r, sums, dept, wall = out
                if db:
                    db.put(s, r, seed=self.seed_of(s, r), sums=sums, department_sums=dept,
                           wall_seconds=wall, session=session)
                else:
                    runs[(s, r)] = (sums, dept, wall)

            started = time.perf_counter()
            execute(tasks, record, workers=workers, executor=executor,
                     progress=progress, initial=len(done), total=len(done) + len(tasks))
            elapsed = time.perf_counter() - started
            if db:
                db.end(session, {"n_runs": len(tasks), "wall_seconds": elapsed})
                runs = {(s, r): (a, d, w) for s, r, a, d, w in db.runs()}
                manifest = db.manifest()
            else:
                manifest = dict(manifest, sessions=[{"session": 0, "executor": where,
                                                     "n_runs": len(tasks), "wall_seconds": elapsed}])
        finally:
            if db:
                db.close()
        return ExperimentResult.from_runs(self, runs, manifest=manifest)


def check_executor(workers, executor):
    """Check where runs go, as :meth:`Experiment.run` and :func:`spchain.fitting.calibration.calibrate` take it.

    Parameters
    ----------
    workers : int or None
        Size of a local process pool (:func:`process_pool`); ``None`` or 1: serial.
    executor : concurrent.futures.Executor or None
        Any executor instead (a Dask client's ``client.get_executor(pure=False)``).

    Returns
    -------
    int or None
        ``workers``, as an int.

    Raises
    ------
    ParamError
        ``workers`` not an integer >= 1, both given, or an ``executor`` that is
        not a :class:`concurrent.futures.Executor`.
    """
    if workers is not None:
        workers = _int("workers", workers, 1)
        if executor is not None:
            raise ParamError("give workers or executor, not both")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise ParamError(f"executor must be a concurrent.futures.Executor, got "
                         f"{type(executor).__name__}; for Dask pass client.get_executor(pure=False)")
    return workers


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A local pool of ``workers`` processes started with ``spawn`` (the same on every platform)."""
    import multiprocessing

    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def execute(tasks, record, *, workers=None, executor=None, function=None, progress=False, initial=0,
            total=None):
    """Run ``function`` on every task and hand each output to ``record`` as it finishes.

    Parameters
    ----------
    tasks : list
        Arguments of ``function``, one per call.
    record : callable
        Called in this process with each output, in the order they finish.
    workers : int, optional
        Run on a :func:`process_pool` of this size (shut down afterwards);
        ``None`` or 1: serially in this process.
    executor : concurrent.futures.Executor, optional
        Run on this executor instead (not shut down).
    function : callable, optional
        A module-level function (picklable); default :func:`run_task`
        (looked up when called).
    progress : bool
        A tqdm progress bar (``initial`` of ``total`` already done).
    """
    function = run_task if function is None else function
    bar = _bar(progress, initial=initial, total=len(tasks) + initial if total is None else total)
    pool, completed = None, False
    if executor is None and workers and workers > 1 and tasks:
        pool = executor = process_pool(min(workers, len(tasks)))
    try:
        if executor is None:
            for task in tasks:
                record(function(task))
                if bar is not None:
                    bar.update()
        else:
            pending = {executor.submit(function, task) for task in tasks}
            try:
                for future in cf.as_completed(pending):
                    pending.discard(future)  # hold no finished result longer than needed
                    record(future.result())
                    if bar is not None:
                        bar.update()
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        completed = True
    finally:
        if pool is not None:
            pool.shutdown(wait=completed, cancel_futures=True)
        if bar is not None:
            bar.close()


def _bar(progress, *, initial, total):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn("progress=True needs tqdm: pip install 'spchain[progress]'; running without a bar",
                      stacklevel=4)
        return None
    return tqdm(total=total, initial=initial, unit="run", desc="spchain", smoothing=0.1)


def _platform() -> dict:
    import scipy
    import simpy

    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "system": platform.platform(), "machine": platform.machine(),
            "numpy": np.__version__, "scipy": scipy.__version__, "simpy": simpy.__version__}
