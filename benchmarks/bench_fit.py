"""Fitting benchmarks (issue 4).

1. Link estimation: :func:`spchain.fitting.estimation.fit_links` on a panel of 1,000
   units x 20 periods (every default equation).  Target: under 1 second with
   the default estimator; the instrumental-variables estimator
   (``estimator="anderson-hsiao"``) and the ISQ smoothing timed side by side.
2. Calibration to the Sears effect sizes: evaluations (parameter points
   simulated) and wall time to converge, for the default Nelder-Mead and for
   ``least_squares``.
3. With ``--coverage``: coverage of the 95% intervals of fit_links and
   fit_distribution over seeded repetitions (the numbers quoted in
   docs/fitting.md); with ``--recovery``: how close fit_links gets on panels
   simulated by the model.

Run: ``python benchmarks/bench_fit.py [--coverage] [--recovery]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spchain.fitting.calibration import calibrate, sears_targets
from spchain.fitting.distributions import fit_distribution
from spchain.fitting.estimation import fit_links
from spchain.fitting.synthetic import panel_params, structural_panel, synthetic_panel


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def bench_links(repeats=5):
    panel = structural_panel(n_units=1000, n_periods=20, seed=1)
    print(f"1. fit_links on {panel.n_units} units x {panel.n_periods} periods ({len(panel)} rows), "
          f"7 equations, best of {repeats}")
    fit_links(panel, estimator="anderson-hsiao")  # import linearmodels once, outside the timings
    for label, kw in (("unit effects (default, estimator='ols')", {}), ("pooled", dict(unit_effects=False)),
                      ("unit effects + isq_smoothing=0.3", dict(isq_smoothing=0.3)),
                      ("estimator='anderson-hsiao'", dict(estimator="anderson-hsiao")),
                      ("estimator='anderson-hsiao' + isq_smoothing=0.3",
                       dict(estimator="anderson-hsiao", isq_smoothing=0.3)),
                      ("unit effects + 199 cluster-bootstrap replicates", dict(n_bootstrap=199)),
                      ("anderson-hsiao + 199 cluster-bootstrap replicates",
                       dict(estimator="anderson-hsiao", n_bootstrap=199))):
        seconds, _ = _best(lambda kw=kw: fit_links(panel, **kw), 1 if "bootstrap" in label else repeats)
        target = "" if "bootstrap" in label else f"   {seconds / 1.0:.3f}x the 1 s target"
        print(f"   {label:<52} {seconds:7.3f} s{target}")


def bench_sears(n_replications=4):
    base = panel_params().override({"links.revisit_from_satisfaction": 0.0,
                                    "links.churn_from_satisfaction": 0.0,
                                    "links.referral_from_satisfaction": 0.0})
    targets = sears_targets(base)
    free = {"links.quality_from_satisfaction": (0.0, 1.0), "links.spend_from_satisfaction": (0.0, 3.0)}
    print(f"2. calibrate to the Sears effect sizes: 2 free links, {n_replications} CRN replications, "
          f"65 weeks, {2 * n_replications} runs per evaluation")
    for method in ("Nelder-Mead", "least_squares", "Powell"):
        t = time.perf_counter()
        fit = calibrate(base, free=free, targets=targets, horizon=65, n_replications=n_replications,
                        seed=1, method=method)
        seconds = time.perf_counter() - t
        d = fit.diagnostics
        sim = ", ".join(f"{r['simulated']:.3f} (target {r['value']:.3f})" for r in d["targets"])
        est = ", ".join(f"{k.split('.')[-1]} {v:.3f} +- {fit.std_errors[k]:.3f}" for k, v in fit.estimates.items())
        print(f"   {method:<14} {d['n_evaluations']:4d} evaluations to converge "
              f"({d['n_evaluations_total']} with the standard errors, {d['n_runs']} runs), {seconds:6.1f} s, "
              f"objective {d['objective']:.2g}, success {fit.success}")
        print(f"   {'':<14} {est}; simulated {sim}")


def _cover(make, fit, n_rep, alpha=0.05):
    hits = {}
    for rep in range(n_rep):
        panel = make(rep)
        ci = fit(panel).conf_int(alpha)
        for k, v in panel.truth.items():
            if k in ci:
                hits[k] = hits.get(k, 0) + int(ci[k][0] <= v <= ci[k][1])
    return {k: v / n_rep for k, v in hits.items()}


def bench_coverage(n_rep=200):
    print(f"3. coverage of 95% intervals over {n_rep} seeded repetitions")
    rows = {
        "fit_links pooled, structural panels 50 x 20 (all equations)":
            _cover(lambda r: structural_panel(n_units=50, n_periods=20, seed=r),
                   lambda p: fit_links(p, unit_effects=False), n_rep),
        "fit_links within, unit effects, exogenous equations":
            _cover(lambda r: structural_panel(n_units=50, n_periods=20, unit_sd=0.05, seed=10_000 + r),
                   lambda p: fit_links(p, equations=["productivity", "turnover", "retention", "revenue"]), n_rep),
        "fit_links within, unit effects, dynamic equations (Nickell bias)":
            _cover(lambda r: structural_panel(n_units=50, n_periods=20, unit_sd=0.05, seed=10_000 + r),
                   lambda p: fit_links(p, equations=["employee_satisfaction", "customer_satisfaction"]), n_rep),
        "fit_links pooled, cluster bootstrap (199), 3 equations, 50 units x 20":
            _cover(lambda r: structural_panel(n_units=50, n_periods=20, seed=20_000 + r),
                   lambda p: fit_links(p, equations=["service_quality", "customer_satisfaction", "revenue"],
                                       unit_effects=False, n_bootstrap=199, seed=p.meta["seed"]), n_rep),
        "fit_links pooled, cluster bootstrap (199), 3 equations, 200 units x 10":
            _cover(lambda r: structural_panel(n_units=200, n_periods=10, seed=20_000 + r),
                   lambda p: fit_links(p, equations=["service_quality", "customer_satisfaction", "revenue"],
                                       unit_effects=False, n_bootstrap=199, seed=p.meta["seed"]), n_rep),
    }
    for label, cov in rows.items():
        vals = np.array(list(cov.values()))
        print(f"   {label}: mean {vals.mean():.3f}, min {vals.min():.3f}, max {vals.max():.3f} "
              f"over {vals.size} quantities")
        for k, v in cov.items():
            if k.startswith("links.") or k.startswith("workforce.") or k.startswith("customers."):
                print(f"      {k:<45} {v:.3f}")
    hits = np.zeros(3)
    for s in np.random.SeedSequence(2024).spawn(n_rep):
        rng = np.random.default_rng(s)
        ci = fit_distribution(rng.gamma(2.5, 10.0, size=300), families="gamma").conf_int()
        hits[0] += ci["a"][0] <= 2.5 <= ci["a"][1]
        t, c = rng.exponential(50.0, 300), rng.uniform(0, 80, 300)
        lo, hi = fit_distribution(np.minimum(t, c), censored=t > c, families="expon").conf_int()["mean"]
        hits[1] += lo <= 50.0 <= hi
        naive = fit_distribution(np.minimum(t, c), families="expon").conf_int()["mean"]
        hits[2] += naive[0] <= 50.0 <= naive[1]
    print(f"   fit_distribution gamma shape: {hits[0] / n_rep:.3f}; censored exponential mean: "
          f"{hits[1] / n_rep:.3f}; the same ignoring censoring: {hits[2] / n_rep:.3f}")


def bench_recovery(seeds=(1, 2, 3)):
    print("4. fit_links on panels simulated by the model (60 units x 30 weeks after 10 warm-up weeks): "
          "estimate / truth, and (estimate - truth) / std error")
    table = {}
    for seed in seeds:
        panel = synthetic_panel(n_units=60, horizon=30, warmup=10, seed=seed)
        for ue in (False, True):
            fit = fit_links(panel, unit_effects=ue)
            for k, v in fit.estimates.items():
                if k in panel.truth and panel.truth[k]:
                    table.setdefault((k, ue), []).append((v / panel.truth[k], (v - panel.truth[k]) / fit.std_errors[k]))
    print(f"   {'parameter':<42} {'pooled ratio':>13} {'z':>6} {'within ratio':>13} {'z':>6}")
    for k in dict.fromkeys(k for k, _ in table):
        cells = []
        for ue in (False, True):
            vals = np.array(table.get((k, ue), [(np.nan, np.nan)]))
            cells.append(f"{np.mean(vals[:, 0]):13.2f} {np.mean(vals[:, 1]):6.1f}")
        print(f"   {k:<42} {' '.join(cells)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coverage", action="store_true", help="also measure interval coverage")
    parser.add_argument("--recovery", action="store_true", help="also fit panels simulated by the model")
    args = parser.parse_args()
    bench_links()
    bench_sears()
    if args.coverage:
        bench_coverage()
    if args.recovery:
        bench_recovery()


if __name__ == "__main__":
    main()
