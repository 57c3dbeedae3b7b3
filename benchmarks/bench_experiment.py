"""Experiment-layer benchmarks, measured side by side in one run.

1. Overhead of :class:`spchain.experiments.experiment.Experiment` over calling
   :func:`spchain.simulate` directly for the same runs (serial), without and
   with the SQLite store.  Target: < 5%.
2. Speed-up of ``workers=2`` (a spawn process pool, started inside ``run``)
   over serial for 8 replications of a few seconds each.  Target: >= 1.6x
   on 2 cores.
3. Per-run overhead of a Dask ``LocalCluster`` executor (2 worker
   processes, 1 thread each) against a process pool of 2, both already
   started, on many tiny runs where the overhead dominates.  Needs the
   ``dask`` extra; skipped without it.
4. Start-up of a fresh ``ProcessPoolExecutor(n)`` with the ``spawn`` start
   method: wall time from creating the pool until all ``n`` workers have
   started, run their initializer and shut down, with an initializer that
   imports what a replication needs (:data:`REPLICATION_MODULES`) against
   none (a no-op task).  The difference is what spchain's imports add to
   every worker of every ``workers=n`` run.
5. Speed-up of ``workers=n`` over serial on a 64-run sweep (8 scenarios x 8
   replications of the workshop preset, a year each), pool start-up
   included.

Run: ``python benchmarks/bench_experiment.py`` (``--quick`` for a smoke run,
``--parts 4 5`` for some of the measurements, ``--workers n`` for the pool
size of 4 and 5).

spchain is imported inside the functions, not at the top of this script:
a ``spawn`` worker imports the parent's main script again, and the no-op
pool of measurement 4 must not pay for spchain there.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

#: What a worker imports to run a replication: the task function's module and the engine it calls.
REPLICATION_MODULES = ("spchain.experiments.experiment", "spchain.engine.run")
PARTS = (1, 2, 3, 4, 5)


def _seconds(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def overhead(*, horizon=52, n_replications=6, repeats=5):
    """Serial experiment (no store, store) against a loop of ``simulate`` calls."""
    from spchain import Experiment, Scenario, preset, simulate

    exp = Experiment(preset("workshop"), horizon=horizon, n_replications=n_replications, seed=1,
                     scenarios=[Scenario("baseline"),
                                Scenario("invest", levers={"internal.tools_spend_per_week": 3000.0})])
    tasks = [(exp.params[s], exp.seed_of(s, r)) for r in range(n_replications) for s in exp.names]

    def direct():
        for params, seed in tasks:
            simulate(params, horizon=horizon, seed=seed)

    times = {"simulate loop": [], "experiment": [], "experiment + store": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats):   # interleaved, so drifts in machine speed hit all three alike
            times["simulate loop"].append(_seconds(direct))
            times["experiment"].append(_seconds(exp.run))
            store = Path(tmp) / f"s{k}.sqlite"
            times["experiment + store"].append(_seconds(lambda: exp.run(store=store)))  # noqa: B023
    best = {k: min(v) for k, v in times.items()}
    return len(tasks), best


def pool_speedup(*, horizon=780, n_replications=8):
    """``workers=2`` against serial, pool start-up included."""
    from spchain import Experiment, preset

    exp = Experiment(preset("workshop"), horizon=horizon, n_replications=n_replications, seed=2)
    serial = _seconds(exp.run)
    pooled = _seconds(lambda: exp.run(workers=2))
    return serial / n_replications, serial, pooled


def executor_overhead(*, n_runs=400):
    """Seconds per tiny run: serial, warm process pool, warm Dask LocalCluster (2 workers each)."""
    from spchain import Experiment
    from spchain.presets import queue_only

    exp = Experiment(queue_only(2.0, 1.0, 3, hours_per_week=8.0), horizon=1, n_replications=n_runs, seed=3)
    out = {"serial": _seconds(exp.run) / n_runs}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        exp.run(executor=pool)  # warm: workers started and spchain imported
        out["process pool"] = statistics.median(_seconds(lambda: exp.run(executor=pool)) for _ in range(3)) / n_runs
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        return out
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        executor = client.get_executor(pure=False)
        exp.run(executor=executor)
        out["dask"] = statistics.median(_seconds(lambda: exp.run(executor=executor)) for _ in range(3)) / n_runs
    return out


def load_replication_modules():
    """Import :data:`REPLICATION_MODULES` (a pool initializer: runs once in every worker)."""
    for name in REPLICATION_MODULES:
        importlib.import_module(name)


def pool_start_seconds(n_workers, initializer=None):
    """Wall seconds from creating a spawn pool of ``n_workers`` until every worker has started and stopped.

    One task runs (so the pool starts its workers); leaving the ``with``
    block waits for all of them, each of which has run ``initializer``.
    """
    start = time.perf_counter()
    with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=initializer) as pool:
        pool.submit(int).result()
    return time.perf_counter() - start


def worker_startup(*, n_workers=2, repeats=5):
    """Best and median start-up seconds of a fresh spawn pool: no-op workers, workers ready to replicate."""
    times = {"no-op task": [], "replication imports": []}
    for _ in range(repeats):   # interleaved
        times["no-op task"].append(pool_start_seconds(n_workers))
        times["replication imports"].append(pool_start_seconds(n_workers, load_replication_modules))
    return {name: (min(values), statistics.median(values)) for name, values in times.items()}


def sweep_speedup(*, n_workers=2, horizon=52, n_scenarios=8, n_replications=8, repeats=2):
    """Serial against ``workers=n_workers`` on a sweep of ``n_scenarios x n_replications`` runs (best of repeats)."""
    from spchain import Experiment, Scenario, preset

    spends = [1000.0 * k for k in range(n_scenarios)]
    scenarios = [Scenario(f"tools {spend:.0f}", levers={"internal.tools_spend_per_week": spend})
                 for spend in spends]
    exp = Experiment(preset("workshop"), horizon=horizon, n_replications=n_replications, seed=4,
                     scenarios=scenarios)
    serial, pooled = [], []
    for _ in range(repeats):   # interleaved, so drifts in machine speed hit both alike
        serial.append(_seconds(exp.run))
        pooled.append(_seconds(lambda: exp.run(workers=n_workers)))
    return n_scenarios * n_replications, min(serial), min(pooled)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--parts", type=int, nargs="+", choices=PARTS, default=list(PARTS),
                        help="which measurements to run (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="pool size of measurements 4 and 5 (default: 2)")
    args = parser.parse_args(argv)
    q = args.quick
    if args.workers < 1:
        parser.error(f"--workers must be an integer >= 1, got {args.workers}")

    if 1 in args.parts:
        n, best = overhead(horizon=13 if q else 52, n_replications=2 if q else 6, repeats=2 if q else 5)
        base = best["simulate loop"]
        print(f"1. experiment-layer overhead, workshop preset, {n} runs, serial (best of repeats)")
        for name, t in best.items():
            print(f"   {name:<20}{t:8.3f} s   {100 * (t / base - 1):+6.2f}%")
        print("   target: < 5%")

    if 2 in args.parts:
        per_run, serial, pooled = pool_speedup(horizon=104 if q else 780, n_replications=8)
        print(f"2. process pool, 8 replications of {per_run:.2f} s (workshop preset)")
        print(f"   serial {serial:.2f} s, workers=2 {pooled:.2f} s: speed-up {serial / pooled:.2f}x "
              f"(target >= 1.6x on 2 cores)")

    if 3 in args.parts:
        out = executor_overhead(n_runs=100 if q else 400)
        print("3. per-run cost of tiny runs (ms), executors already started, 2 workers")
        for name, t in out.items():
            print(f"   {name:<20}{1e3 * t:8.2f} ms")
        if "dask" in out:
            print(f"   Dask per-run overhead against the process pool: "
                  f"{1e3 * (out['dask'] - out['process pool']):+.2f} ms")
        else:
            print("   (Dask not installed: pip install 'spchain[dask]')")

    if 4 in args.parts:
        repeats = 2 if q else 7
        startup = worker_startup(n_workers=args.workers, repeats=repeats)
        print(f"4. start-up of a fresh spawn pool of {args.workers} workers, until all have started and "
              f"stopped (best / median of {repeats})")
        for name, (best, median) in startup.items():
            print(f"   {name:<20}{best:8.3f} s {median:8.3f} s")
        extra = startup["replication imports"][0] - startup["no-op task"][0]
        print(f"   spchain's imports ({', '.join(REPLICATION_MODULES)}) add {extra:.3f} s to the pool's start "
              f"(best against best)")

    if 5 in args.parts:
        n_runs, serial, pooled = sweep_speedup(n_workers=args.workers, horizon=13 if q else 52,
                                               repeats=1 if q else 2)
        print(f"5. sweep of {n_runs} runs (8 scenarios x 8 replications, workshop preset), pool start-up "
              f"included (best of {1 if q else 2})")
        print(f"   serial {serial:.2f} s ({serial / n_runs:.3f} s per run), workers={args.workers} {pooled:.2f} s: "
              f"speed-up {serial / pooled:.2f}x")


if __name__ == "__main__":
    main()
