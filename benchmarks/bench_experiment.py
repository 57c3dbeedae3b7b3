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

Run: ``python benchmarks/bench_experiment.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from spchain import preset, simulate
from spchain.experiments.experiment import Experiment
from spchain.presets import queue_only
from spchain.experiments.scenarios import Scenario


def _seconds(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def overhead(*, horizon=52, n_replications=6, repeats=5):
    """Serial experiment (no store, store) against a loop of ``simulate`` calls."""
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
    exp = Experiment(preset("workshop"), horizon=horizon, n_replications=n_replications, seed=2)
    serial = _seconds(exp.run)
    pooled = _seconds(lambda: exp.run(workers=2))
    return serial / n_replications, serial, pooled


def executor_overhead(*, n_runs=400):
    """Seconds per tiny run: serial, warm process pool, warm Dask LocalCluster (2 workers each)."""
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    q = args.quick

    n, best = overhead(horizon=13 if q else 52, n_replications=2 if q else 6, repeats=2 if q else 5)
    base = best["simulate loop"]
    print(f"1. experiment-layer overhead, workshop preset, {n} runs, serial (best of repeats)")
    for name, t in best.items():
        print(f"   {name:<20}{t:8.3f} s   {100 * (t / base - 1):+6.2f}%")
    print("   target: < 5%")

    per_run, serial, pooled = pool_speedup(horizon=104 if q else 780, n_replications=8)
    print(f"2. process pool, 8 replications of {per_run:.2f} s (workshop preset)")
    print(f"   serial {serial:.2f} s, workers=2 {pooled:.2f} s: speed-up {serial / pooled:.2f}x "
          f"(target >= 1.6x on 2 cores)")

    out = executor_overhead(n_runs=100 if q else 400)
    print("3. per-run cost of tiny runs (ms), executors already started, 2 workers")
    for name, t in out.items():
        print(f"   {name:<20}{1e3 * t:8.2f} ms")
    if "dask" in out:
        print(f"   Dask per-run overhead against the process pool: {1e3 * (out['dask'] - out['process pool']):+.2f} ms")
    else:
        print("   (Dask not installed: pip install 'spchain[dask]')")


if __name__ == "__main__":
    main()
