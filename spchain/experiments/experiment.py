"""What-if experiments that run: scenarios x replications, anywhere, stored as they finish.

An :class:`Experiment` is an :class:`~spchain.experiments.spec.ExperimentSpec`
-- base parameters, scenarios, replications, horizon, warm-up, seed,
validated when it is made, before anything runs -- that can run itself:
:meth:`Experiment.run` executes it and returns an
:class:`~spchain.experiments.analysis.ExperimentResult`.  Each run's seed,
and how common random numbers share them between scenarios, is described in
:mod:`spchain.experiments.spec` (:func:`replication_seed`).

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
import time
import warnings

from ..params import ParamError, Params, check_integer
from .analysis import ExperimentResult
from .spec import ExperimentSpec, replication_seed

__all__ = ["Experiment", "run_task", "replication_seed", "execute", "check_executor", "process_pool",
           "DEFAULT_MAX_HOURS", "UNPROBED_RUN_WEEKS"]

#: Default run budget of :meth:`Experiment.run`: the estimated CPU hours
#: (runs x seconds per run, on one core) above which it refuses to start.
DEFAULT_MAX_HOURS = 24.0
#: Weeks of the probe run that times one run (see :meth:`Experiment.estimate_seconds`).
_PROBE_WEEKS = 2
#: Experiments of at most this many run-weeks (runs x horizon) start without a probe run.
UNPROBED_RUN_WEEKS = 1000


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


class Experiment(ExperimentSpec):
    """Scenarios run side by side with replications and common random numbers.

    An :class:`~spchain.experiments.spec.ExperimentSpec` that runs: it takes
    the specification's parameters (``base``, ``scenarios``,
    ``n_replications``, ``horizon``, ``warmup``, ``seed``, ``crn``,
    ``baseline``), checked the same way before anything runs, and adds
    :meth:`run` and its budget (:meth:`estimate_seconds`,
    :meth:`check_budget`).

    Raises
    ------
    ParamError
        As :class:`~spchain.experiments.spec.ExperimentSpec`, naming the
        problem before anything runs.
    """

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

            with Store(store) as stored:
                n_runs -= sum(1 for s, r in stored.finished() if s in self.params and r < self.n_replications)
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
        from .store import Store

        workers = check_executor(workers, executor)
        self.check_budget(max_hours, store=store, workers=workers)
        runs_store = Store(store) if store is not None else None
        try:
            where = (type(executor).__name__ if executor is not None else
                     f"ProcessPoolExecutor({workers}, spawn)" if workers and workers > 1 else "serial")
            manifest = self.manifest()
            session = runs_store.begin(manifest, {"executor": where}) if runs_store else 0
            done = runs_store.finished() if runs_store else set()
            dicts = {name: p.to_dict() for name, p in self.params.items()}
            tasks = [(s, r, dicts[s], self.horizon, self.seed_of(s, r))
                     for r in range(self.n_replications) for s in self.names if (s, r) not in done]
            runs = {}

            def record(output):
                scenario, replication, sums, department_sums, wall_seconds = output
                if runs_store:
                    runs_store.put(scenario, replication, seed=self.seed_of(scenario, replication), sums=sums,
                                   department_sums=department_sums, wall_seconds=wall_seconds, session=session)
                else:
                    runs[(scenario, replication)] = (sums, department_sums, wall_seconds)

            started = time.perf_counter()
            execute(tasks, record, workers=workers, executor=executor,
                    progress=progress, initial=len(done), total=len(done) + len(tasks))
            elapsed = time.perf_counter() - started
            if runs_store:
                runs_store.end(session, {"n_runs": len(tasks), "wall_seconds": elapsed})
                runs = {(s, r): (sums, department_sums, wall_seconds)
                        for s, r, sums, department_sums, wall_seconds in runs_store.runs()}
                manifest = runs_store.manifest()
            else:
                manifest = dict(manifest, sessions=[{"session": 0, "executor": where,
                                                     "n_runs": len(tasks), "wall_seconds": elapsed}])
        finally:
            if runs_store:
                runs_store.close()
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
        workers = check_integer("workers", workers, 1)
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

