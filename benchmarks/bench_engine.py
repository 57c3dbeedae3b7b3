"""Engine benchmarks, measured side by side in one run (ratios, not seconds).

1. Customers served per second: spchain with every link on (the workshop
   preset), and with every mechanism on as well (heterogeneity, lasting
   customer differences, loyalty forms, relationships, effort and
   standards: ``EVERYTHING_ON``), against an idiomatic plain-SimPy M/M/c
   and against Ciw, both with the same arrival rate, service rate and
   servers.  Targets: >= 2.0x plain SimPy (both) and >= 2x Ciw.
2. Peak traced memory of a 10x longer horizon.  Target: <= 1.25x.
3. Wall time of the workshop preset for one simulated year.  Target: < 1 s.

Run: ``python benchmarks/bench_engine.py`` (needs the ``bench`` extra for Ciw).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import ciw_mmc, simpy_mmc  # noqa: E402

from spchain import preset, simulate  # noqa: E402


def _best(fn, repeats):
    """Best-of-``repeats`` (seconds, value) of ``fn()``."""
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        runs.append((time.perf_counter() - t, value))
    return min(runs, key=lambda r: r[0])


#: Every mechanism of the engine switched on, on top of the workshop preset's links.
EVERYTHING_ON = {
    "organisation.manager_sd": 0.05, "organisation.attractiveness_sd": 0.2, "organisation.footfall_sd": 0.05,
    "customers.relationship_share": 0.5, "customers.expectation_sd": 0.05, "customers.tolerance_sd": 0.3,
    "customers.churn_propensity_sd": 0.5, "customers.spend_sd": 0.4, "customers.churn_form": "threshold",
    "customers.visit_form": "logistic", "links.loyalty_from_employees": 2.0,
    "links.effort_from_pressure": 0.64, "links.quality_from_time": 1.0, "links.satisfaction_from_fatigue": 0.5,
}


def throughput(weeks=26, repeats=3):
    p = preset("workshop")
    seconds, res = _best(lambda: simulate(p, horizon=weeks, seed=1), repeats)
    everything = p.override(EVERYTHING_ON)
    all_seconds, all_res = _best(lambda: simulate(everything, horizon=weeks, seed=1), repeats)
    served = res.field("served").sum()
    lam = res.field("arrivals").sum() / (weeks * p.organisation.hours_per_week)  # per hour
    mu = 60.0 / p.workforce.service_time_minutes
    c = p.workforce.n_employees
    n = int(served)
    rows = {"spchain (all links on)": served / seconds,
            "spchain (every mechanism)": all_res.field("served").sum() / all_seconds}
    s_seconds = min(simpy_mmc(lam, mu, c, n, seed=r)["seconds"] for r in range(repeats))
    rows["plain SimPy M/M/c"] = n / s_seconds
    try:
        c_seconds = ciw_mmc(lam, mu, c, n // 4, seed=1)["seconds"]
        rows["Ciw M/M/c"] = (n // 4) / c_seconds
    except ImportError:
        rows["Ciw M/M/c"] = float("nan")
    return lam, mu, c, n, rows


def peak_memory(weeks=52, factor=10):
    p = preset("workshop")
    peaks = []
    for h in (weeks, weeks * factor):
        tracemalloc.start()
        simulate(p, horizon=h, seed=1)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return peaks


def workshop_year(repeats=5):
    p = preset("workshop")
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        simulate(p, horizon=52, seed=r)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = parser.parse_args(argv)
    weeks = 4 if args.quick else 26
    lam, mu, c, n, rows = throughput(weeks=weeks, repeats=1 if args.quick else 3)
    print(f"1. Throughput, lambda={lam:.2f}/h, mu={mu:.2f}/h, c={c}, {n:,} customers")
    ref = rows["plain SimPy M/M/c"]
    for name, rate in rows.items():
        print(f"   {name:<26}{rate:>12,.0f} customers/s   {rate / ref:5.2f}x plain SimPy")
    spc = rows["spchain (all links on)"]
    print(f"   spchain / plain SimPy = {spc / ref:.2f}x (target >= 2.0); "
          f"spchain / Ciw = {spc / rows['Ciw M/M/c']:.2f}x (target >= 2); every mechanism on: "
          f"{rows['spchain (every mechanism)'] / ref:.2f}x (target >= 2.0)")
    short, long_ = peak_memory(weeks=8 if args.quick else 52)
    print(f"2. Peak traced memory: {short / 1e6:.2f} MB for the horizon, {long_ / 1e6:.2f} MB for 10x: "
          f"{long_ / short:.2f}x (target <= 1.25)")
    best, median = workshop_year(repeats=1 if args.quick else 5)
    print(f"3. Workshop preset, one simulated year: best {best:.3f} s, median {median:.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
