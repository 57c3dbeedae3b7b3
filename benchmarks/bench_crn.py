"""Common random numbers: how much they shrink the noise of a paired scenario difference.

For four levers (price index, recognition, tools spend, one department's
staff), each changed at week 4 of the ``workshop`` preset, the standard
deviation of the paired difference lever - baseline over replications is
measured twice in one run: with common random numbers (replication ``i``
of both scenarios uses seed ``i``) and with independent seeds (the
baseline of replication ``i`` uses another seed).  The ratio CRN /
independent is reported for active customers, customer satisfaction,
revenue and profit, each as the mean over the four weeks ending at week 52
and at week 104.  Target: at most 0.5 for every lever on customers and
profit.

Run: ``python benchmarks/bench_crn.py [--replications 30] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import time

import numpy as np

from spchain import Change, preset, simulate

LEVERS = {
    "price index 1.00 -> 1.05": ("economics.price_index", 1.05),
    "recognition 0 -> 0.3": ("workforce.recognition", 0.3),
    "tools spend 0 -> 2000/week": ("internal.tools_spend_per_week", 2000.0),
    "IT staff 2 -> 3": ("internal.departments.it.n_staff", 3),
}
KPIS = ("active_customers", "customer_satisfaction", "revenue", "profit")
WEEKS = (52, 104)
AT_WEEK = 4


def _run(lever, seed):
    params = preset("workshop")
    if lever is not None:
        path, value = LEVERS[lever]
        params = params.with_changes(Change(at_week=AT_WEEK, path=path, value=value))
    result = simulate(params, horizon=max(WEEKS), seed=seed)
    return {(kpi, week): float(np.nanmean(result.kpi(kpi)[week - 4:week])) for kpi in KPIS for week in WEEKS}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    n = args.replications
    jobs = [(None, s) for s in range(2 * n)] + [(lever, s) for lever in LEVERS for s in range(n)]
    started = time.perf_counter()
    with cf.ProcessPoolExecutor(args.workers) as pool:
        values = dict(zip(jobs, pool.map(_run, *zip(*jobs))))
    print(f"workshop preset, levers changed at week {AT_WEEK}, {n} replications each, "
          f"{len(jobs)} runs of {max(WEEKS)} weeks in {time.perf_counter() - started:.0f} s")
    print("sd of paired differences, common random numbers / independent seeds "
          "(mean of the 4 weeks ending at the week shown)")
    header = f"{'lever':<28}" + "".join(f"{kpi[:20] + ' w' + str(w):>26}" for kpi in KPIS for w in WEEKS)
    print(header)
    worst = {}
    for lever in LEVERS:
        cells = []
        for kpi in KPIS:
            for week in WEEKS:
                lev = np.array([values[(lever, s)][(kpi, week)] for s in range(n)])
                crn = lev - np.array([values[(None, s)][(kpi, week)] for s in range(n)])
                ind = lev - np.array([values[(None, n + s)][(kpi, week)] for s in range(n)])
                ratio = crn.std(ddof=1) / ind.std(ddof=1)
                cells.append(f"{ratio:>26.2f}")
                if kpi in ("active_customers", "profit"):
                    worst[lever] = max(worst.get(lever, 0.0), ratio)
        print(f"{lever:<28}" + "".join(cells))
    ok = all(r <= 0.5 for r in worst.values())
    print(f"worst ratio on customers and profit per lever: "
          + ", ".join(f"{k}: {v:.2f}" for k, v in worst.items()) + f"  (target <= 0.5: {'met' if ok else 'MISSED'})")


if __name__ == "__main__":
    main()
