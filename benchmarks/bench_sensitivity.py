"""Sensitivity analysis and selection at size: runs, wall time, the layer's overhead, runs saved by CRN.

Two measurements on the ``workshop`` preset, profit over the run:

1. **Morris** with 20 factors (``r = 10`` trajectories, 210 points) and
   **Sobol'** with 10 factors (``N = 512``, first and total order: 6,144
   points), each point with ``--replications`` replications on a process
   pool of ``--workers`` workers.  Reported: runs, wall time, the time
   inside the runs (wall and CPU, summed over workers, from the runs' own
   clocks) and the layer's overhead -- the CPU time of the main process
   (design, parameter overrides, dispatch, collection, analysis,
   bootstrap; the runs themselves execute in the workers) over the CPU
   time inside the runs -- and ``wall x workers / run wall``, which is 1
   when the pool is never idle.  Target for the overhead: under 5%.
2. **Replications saved by common random numbers**: KN++ (delta, 95%)
   among six plans, once with common random numbers (replication ``r`` of
   every plan shares its seed, as ``select_best`` does) and once with
   independent seeds per plan (``replication_seed(seed, r, plan)``, as an
   ``Experiment(crn=False)``) -- the same procedure, the same guarantee.
   Repeated for ``--selections`` root seeds; reported: runs per selection
   and the ratio.

Run: ``python benchmarks/bench_sensitivity.py`` (full size: a year per run,
Sobol' ``N = 512``, ten selections; hours on two busy cores) or ``--quick``
(26 weeks per run, Sobol' ``N = 64``, two selections).

Measured 2026-11-26, 11:36-11:59 UTC, on the shared 2-core development
machine (load average about 8: six other jobs), ``--quick`` configuration
only (horizon 26 weeks, 2 replications per point, ``workers=2``; Sobol'
with ``N = 64``, **not** the 512 of the issue).  Wall times are inflated
about 5x by the load (the runs' wall time is 6x their CPU time), so the
CPU figures are the ones to read:

* Morris, 20 factors, r = 10: 420 runs in 248.8 s wall; inside the runs
  491.7 s wall, 77.7 s CPU (0.185 s per run); layer CPU 0.62 s =
  **0.80%** of the runs' CPU; wall x workers / run wall = 1.01 (the pool
  was never idle).  Top five by ``mu*``: ``workforce.n_employees``,
  ``workforce.service_time_minutes``, ``economics.gross_margin``,
  ``economics.spend_per_visit``, ``customers.visit_rate``.
* Sobol', 10 factors, N = 64, first and total order: 1,536 runs in 767.9 s
  wall; inside the runs 1,520.1 s wall, 277.4 s CPU; layer CPU 1.22 s =
  **0.44%** of the runs' CPU (design, overrides, dispatch, analysis and
  the 200-resample bootstrap); wall x workers / run wall = 1.01.  Noise was
  0.4% of the output variance; the largest total indices were
  ``workforce.n_employees`` 0.55 [0.31, 0.77], ``customers.expected_quality``
  0.32 [0.18, 0.51] and ``customers.visit_rate`` 0.22 [0.14, 0.31].
* KN++ among six plans (baseline, recognition 0.3/0.4/0.5, price index
  1.02/1.03; delta 6,000 on 26 weeks' profit, 95%, ``n0 = 10``), root seeds
  0 and 1: **60 runs per selection with common random numbers (10 per
  plan, both at the first-stage minimum) against 473 with independent
  seeds (340 and 606; 78.8 per plan)**: ratio 0.13, 87% of the runs saved
  for the same guarantee; both chose ``recognition 0.5`` both times (284 s).
  As CRN stopped at ``n0`` the saving is a lower bound: one run's profit
  has a standard deviation of about 47,000, a paired difference about
  36,000 with independent seeds and 5,300 with common random numbers.

Measured again 2026-11-26 at 12:46 UTC on the same machine, quiet (load
average 1.1-2.0), ``--quick --skip selection``: Morris 420 runs in 26.7 s
wall on 2 workers (52.3 s CPU inside the runs; layer 0.41 s = **0.78%**);
Sobol' N = 64, 1,536 runs in 98.8 s wall (195.3 s CPU inside the runs;
layer 0.94 s = **0.48%**); wall x workers / run wall = 1.01 for both.

The layer's overhead is a per-point cost (a parameter override, a pickled
task, a store row when ``store=`` is used) plus the analysis, so its share
of the time does not grow with the horizon; the full-size configuration
has not been run on this machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import time

import numpy as np

from spchain import Params, preset, simulate
from spchain.experiments.experiment import replication_seed
from spchain.experiments.selection import select
from spchain.experiments.sensitivity import SimulationModel, morris, sobol

#: Twenty levers and uncertainties of the workshop, with ranges around the preset's values.
FACTORS_20 = {
    "economics.price_index": (0.9, 1.1),
    "internal.tools_spend_per_week": (0, 6000),
    "workforce.recognition": (0.0, 0.5),
    "workforce.training_hours": (0.0, 3.0),
    "workforce.pay_index": (0.95, 1.05),
    "workforce.n_employees": (8, 12),
    "internal.departments.it.n_staff": (1, 3),
    "internal.departments.back_office.n_staff": (1, 3),
    "customers.visit_rate": (0.18, 0.28),
    "customers.expected_quality": (0.7, 0.85),
    "customers.base_churn_rate": (0.08, 0.16),
    "customers.acquisition_rate": (8.0, 15.0),
    "economics.gross_margin": (0.5, 0.7),
    "economics.spend_per_visit": (35.0, 45.0),
    "workforce.base_quit_rate": (0.2, 0.4),
    "workforce.service_time_minutes": (12.0, 18.0),
    "links.satisfaction_from_internal": (0.5, 1.5),
    "links.quality_from_satisfaction": (0.25, 0.75),
    "links.spend_from_satisfaction": (0.5, 1.5),
    "links.churn_from_satisfaction": (4.0, 12.0),
}
#: The first ten, for Sobol'.
FACTORS_10 = dict(list(FACTORS_20.items())[:10])

#: Six plans: name and the levers it sets from the start.
PLANS = {"baseline": {}, **{f"recognition {v}": {"workforce.recognition": v} for v in (0.3, 0.4, 0.5)},
         **{f"price {v}": {"economics.price_index": v} for v in (1.02, 1.03)}}


def _timed(name, call, model, workers):
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    runs = model.last_call["n_simulated"]
    inside, inside_cpu = model.last_call["run_seconds"], model.last_call["run_cpu_seconds"]
    print(f"{name}: {runs:,} runs in {wall:.1f} s wall on {workers} workers; inside the runs (summed) "
          f"{inside:.1f} s wall, {inside_cpu:.1f} s CPU; layer CPU {cpu:.2f} s = {cpu / inside_cpu:.2%} of the "
          f"runs' CPU; wall x workers / run wall = {wall * workers / inside:.2f}")
    return result


class _Sampler:
    """One run's profit for plan ``i``, replication ``r`` (picklable, for the pool)."""

    def __init__(self, params, horizon, seed, crn):
        self.params, self.horizon, self.seed, self.crn = [p.to_dict() for p in params], horizon, seed, crn

    def __call__(self, i, r):
        seed = replication_seed(self.seed, r, None if self.crn else i)
        return simulate(Params.from_dict(self.params[i]), horizon=self.horizon, seed=seed).total("profit")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="26 weeks, Sobol' N = 64, two selections")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--selections", type=int, default=None, help="root seeds of the CRN comparison")
    parser.add_argument("--skip", choices=("gsa", "selection"), default=None)
    args = parser.parse_args(argv)
    horizon = 26 if args.quick else 52
    n_sobol = 64 if args.quick else 512
    selections = args.selections or (2 if args.quick else 10)
    # one run's profit has a standard deviation of about 47,000 over 26 weeks; paired differences
    # between plans about 36,000 with independent seeds and 5,000 with common random numbers
    delta = 6000.0 if args.quick else 10000.0
    base = preset("workshop")
    print(f"workshop, profit over {horizon} weeks, {args.replications} replications per point, "
          f"workers={args.workers}{' (quick)' if args.quick else ''}")
    with cf.ProcessPoolExecutor(args.workers) as pool:
        if args.skip != "gsa":
            model = SimulationModel(base, kpi="profit", horizon=horizon, seed=1, executor=pool)
            res = _timed("Morris, 20 factors, r = 10", lambda: morris(
                model, FACTORS_20, n_trajectories=10, n_replications=args.replications, seed=1), model, args.workers)
            print("  top five by mu*:", ", ".join(res.ranking()[:5]))
            model = SimulationModel(base, kpi="profit", horizon=horizon, seed=1, executor=pool)
            res = _timed(f"Sobol', 10 factors, N = {n_sobol}", lambda: sobol(
                model, FACTORS_10, n=n_sobol, n_replications=args.replications, seed=1), model, args.workers)
            print("\n".join("  " + line for line in res.summary().splitlines()))
        if args.skip != "selection":
            params = [base.override(levers) for levers in PLANS.values()]
            names = list(PLANS)
            runs, chosen = {True: [], False: []}, {True: [], False: []}
            started = time.perf_counter()
            for seed in range(selections):
                for crn in (True, False):
                    sel = select(_Sampler(params, horizon, seed, crn), names, delta=delta, alpha=0.05,
                                 procedure="kn++", n0=10, executor=pool, kpi="profit", seed=seed)
                    runs[crn].append(sel.n_runs)
                    chosen[crn].append(sel.best)
            mean = {crn: float(np.mean(runs[crn])) for crn in runs}
            k = len(PLANS)
            print(f"KN++ among {k} plans, delta {delta:g} on profit, 95%, {selections} root seeds "
                  f"({time.perf_counter() - started:.0f} s):")
            for crn, label in ((True, "common random numbers"), (False, "independent seeds")):
                print(f"  {label}: {mean[crn]:.1f} runs per selection ({mean[crn] / k:.1f} per plan), "
                      f"runs {runs[crn]}, chosen {chosen[crn]}")
            print(f"  ratio CRN / independent: {mean[True] / mean[False]:.2f} "
                  f"({1 - mean[True] / mean[False]:.0%} of the runs saved)")


if __name__ == "__main__":
    main()
