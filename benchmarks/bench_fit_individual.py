"""Bias and 95% interval coverage of the links fitted from individual records (issue 11, item 2).

Each replication simulates one organisation of ``--n-units`` units (default 40) for 10 warm-up
weeks and 30 recorded weeks, with the ``retail_chain`` preset's unit spreads
(``organisation.*_sd``: manager effect, market size, attractiveness, competition, expectations,
process, staffing, footfall; as ``bench_fit_coverage.py --model --heterogeneity retail``) on
:func:`spchain.fitting.synthetic.panel_params` (6 employees and 1,000 customers per unit), its
internal departments sized for the units (:func:`spchain.engine.units.size_departments`), keeping
the ``"customers"``, ``"employees"``, ``"served"`` and ``"abandoned"`` records.  :func:`spchain.fitting.individual.fit_individual_links`
fits the churn hazard (unit effects) and the quit hazard (one intercept) from week 10, with
standard errors clustered by customer and employee, the quality equation within unit-weeks
(clustered by unit), the value equation from each customer's week (profile least squares) and the
productivity equation from each employee's service times (Poisson pseudo-ML within unit-weeks,
clustered by unit).  ``--equations`` fits some of them only.  ``--frailty`` fits the churn hazard
with a log-normal frailty integrated out (:func:`spchain.fitting.individual.fit_frailty_hazard`,
conditioned on survival to week 10), which adds ``customers.churn_propensity_sd`` to the table
(with a truth of 0 its bias is printed as the mean estimate itself, marked ``a``).

Printed per parameter: the truth, mean and median of estimate / truth - 1, the share of 95%
intervals covering the truth (an interval of no width at the truth, to 1e-6, counts as covering:
the quality and value equations have no error term), the binomial tolerance band 0.95 +- 1.96 sqrt(0.95 * 0.05 / n), and
a check mark where |mean bias| < 10% and coverage is inside the band.

Run: ``python benchmarks/bench_fit_individual.py [--runs 100] [--workers 2]``; ``--quick`` for a
short smoke run (8 runs of 20 units).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

from spchain.fitting.individual import EQUATIONS, fit_individual_links
from spchain.fitting.synthetic import panel_params

SPREADS = ("manager_sd", "market_size_sd", "attractiveness_sd", "competition_sd", "expectations_sd",
           "process_sd", "staffing_sd", "footfall_sd")
WARMUP, WEEKS = 10, 30


def model_params(n_units, churn_propensity_sd=0.0):
    """``panel_params()`` with ``n_units`` units, the retail_chain spreads and departments sized for them
    (and customers who differ in churn propensity with ``churn_propensity_sd > 0``)."""
    from spchain.engine.units import size_departments
    from spchain.presets import preset

    retail = preset("retail_chain")
    base = panel_params().override({f"organisation.{k}": retail.get(f"organisation.{k}") for k in SPREADS})
    return size_departments(base.override({"organisation.n_units": n_units,
                                           "customers.churn_propensity_sd": churn_propensity_sd}))


def replicate(args):
    """One run: ``{path: (estimate, lower, upper)}``, and the seconds to simulate and to fit."""
    from spchain import simulate

    seed, n_units, equations, propensity_sd, frailty = args
    params = model_params(n_units, propensity_sd)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = simulate(params, horizon=WARMUP + WEEKS, seed=seed,
                       record=tuple(dict.fromkeys(kind for eq in equations for kind in EQUATIONS[eq])))
    simulated = time.perf_counter() - t
    fit = fit_individual_links(run, equations=equations, start=WARMUP, frailty=frailty)
    ci = fit.conf_int(0.05)
    return ({path: (fit.estimates[path], *ci[path]) for path in fit.estimates}, simulated,
            time.perf_counter() - t - simulated)


def _covers(fitted, truth):
    """Whether ``(estimate, lower, upper)`` covers ``truth``, or is exact (to 1e-6) with no width."""
    estimate, lower, upper = fitted
    exact = abs(estimate - truth) < 1e-6 * abs(truth) and upper - lower < 1e-6 * abs(truth)
    return lower <= truth <= upper or exact


def table(results, truth):
    """The printed table: per parameter bias, coverage, tolerance and whether both criteria hold."""
    n = len(results)
    band = 1.96 * math.sqrt(0.95 * 0.05 / n)
    lines = [f"{'parameter':<37} {'truth':>7} {'mean':>8} {'median':>8} {'cover':>6}  {'band':<13} ok",
             "-" * 85]
    for path in results[0]:
        est = np.array([r[path][0] for r in results])
        covered = np.mean([_covers(r[path], truth[path]) for r in results])
        if truth[path] == 0:  # no relative bias: the mean and median estimates themselves
            ok = abs(covered - 0.95) <= band
            lines.append(f"{path:<37} {0:7.3g} {est.mean():7.3f}a {np.median(est):7.3f}a "
                         f"{covered:6.2f}  [{0.95 - band:.3f}, {min(1.0, 0.95 + band):.3f}] {'✓' if ok else '✗'}")
            continue
        rel = est / truth[path] - 1.0
        ok = abs(rel.mean()) < 0.10 and abs(covered - 0.95) <= band
        lines.append(f"{path:<37} {truth[path]:7.3g} {100 * rel.mean():7.1f}% {100 * np.median(rel):7.1f}% "
                     f"{covered:6.2f}  [{0.95 - band:.3f}, {min(1.0, 0.95 + band):.3f}] {'✓' if ok else '✗'}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="replications (default 100)")
    parser.add_argument("--n-units", type=int, default=40, help="units per run (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="8 runs of 20 units")
    parser.add_argument("--churn-propensity-sd", type=float, default=0.0,
                        help="customers' spread in churn propensity (unobserved frailty; default 0, the "
                             "retail_chain preset has 0.5)")
    parser.add_argument("--frailty", action="store_true",
                        help="fit the churn hazard with a log-normal frailty integrated out")
    parser.add_argument("--first-seed", type=int, default=80_000, help="seed of the first run (default 80000)")
    parser.add_argument("--equations", nargs="+", default=list(EQUATIONS), choices=list(EQUATIONS),
                        help="equations to fit (default all)")
    args = parser.parse_args()
    runs, n_units = (8, 20) if args.quick else (args.runs, args.n_units)
    params = model_params(n_units, args.churn_propensity_sd)
    print(f"individual-record links ({', '.join(args.equations)}): {runs} runs of {n_units} units x {WEEKS} weeks "
          f"after {WARMUP} warm-up, retail_chain unit spreads, churn_propensity_sd {args.churn_propensity_sd:g}, "
          f"{'churn with frailty, ' if args.frailty else ''}{args.workers} processes")
    t = time.perf_counter()
    tasks = [(args.first_seed + r, n_units, tuple(args.equations), args.churn_propensity_sd,
              ("churn",) if args.frailty and "churn" in args.equations else False) for r in range(runs)]
    if args.workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers) as pool:
            out = list(pool.map(replicate, tasks))
    else:
        out = [replicate(task) for task in tasks]
    print(table([o[0] for o in out], {path: params.get(path) for path in out[0][0]}))
    print(f"(bias: estimate / truth - 1, or 'a': the estimate where the truth is 0; ok: |mean bias| < 10% and "
          f"coverage inside the band; "
          f"n = {runs} runs)")
    print(f"wall {time.perf_counter() - t:.0f} s; per run: simulate {np.mean([o[1] for o in out]):.1f} s, "
          f"fit {np.mean([o[2] for o in out]):.1f} s (records to columns included)")


if __name__ == "__main__":
    main()
