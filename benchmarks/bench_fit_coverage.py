"""Bias and 95% interval coverage of fit_links' estimators, per link (issue 11, item 2).

1. Exactly identified panels with heterogeneous units
   (:func:`spchain.fitting.synthetic.structural_panel` with a unit effect in every equation,
   ``unit_sd=0.05``, and satisfaction driven by the smoothed ISQ employees perceive,
   ``isq_smoothing=0.3``, as in the simulation model): for every coefficient and
   mapped link, the mean and median of (estimate - truth) / truth and the share of
   95% intervals that cover the truth, for

   * ``within``: today's default, ``fit_links(panel)`` (``estimator="ols"``);
   * ``pooled``: ``fit_links(panel, unit_effects=False)``;
   * ``AH + ISQ``: ``fit_links(panel, estimator="anderson-hsiao", isq_smoothing=0.3)``.

   Coverage within the binomial tolerance 0.95 +- 1.96 sqrt(0.95 * 0.05 / n) is marked ``ok``.
2. Panels simulated by the model (:func:`spchain.fitting.synthetic.synthetic_panel`, 60 units x 30 weeks
   after 10 warm-up weeks): the same figures for the links, with the smoothing at the model's
   ``workforce.isq_smoothing``.

3. ``--model``: at least 100 panels simulated by the model (40 units x 30 weeks after 10 warm-up
   weeks, levers drawn per unit and re-drawn twice), every estimator above plus the structural
   instrument of the first link, ``pooled + ISQ + IV`` =
   ``fit_links(panel, unit_effects=False, isq_smoothing=w, isq_instruments=["tools_spend_per_week"])``
   (the tools-spend lever drives ISQ and nothing else in the satisfaction equation), and the
   measurement the satisfaction equation needs, ``staff ISQ, stable`` = ``fit_links(panel,
   columns={"internal_service_quality": "perceived_isq"}, stable_staff=True)`` (the staff's mean
   perceived ISQ; weeks without a quit or a hire), simulated and fitted in ``--workers`` processes.
   ``--heterogeneity retail`` (default) adds the ``retail_chain`` preset's unit spreads
   (``organisation.*_sd``) to the levers; ``levers`` leaves the units differing in their levers only.

Run: ``python benchmarks/bench_fit_coverage.py [--n-panels 100] [--n-units 200] [--model-panels 20]``;
``--model [--model-panels 100] [--workers 2]`` for section 3 alone; ``--quick`` for a short smoke run.

"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from spchain.fitting.estimation import fit_links
from spchain.fitting.synthetic import structural_panel, synthetic_panel

W = 0.3  # the model's workforce.isq_smoothing


def _estimators(w):
    return {
        "within": dict(),
        "pooled": dict(unit_effects=False),
        "AH + ISQ": dict(estimator="anderson-hsiao", isq_smoothing=w),
    }


def _collect(panels, estimators):
    """(estimator, quantity) -> list of (relative error, covered)."""
    out, seconds = {}, {name: 0.0 for name in estimators}
    for panel in panels:
        for name, kw in estimators.items():
            t = time.perf_counter()
            fit = fit_links(panel, **kw)
            seconds[name] += time.perf_counter() - t
            ci = fit.conf_int(0.05)
            for k, v in panel.truth.items():
                if k in fit.estimates and v != 0 and math.isfinite(fit.estimates[k]):
                    lo, hi = ci[k]
                    exact = abs(fit.estimates[k] - v) < 1e-6 * abs(v) and hi - lo < 1e-6 * abs(v)
                    out.setdefault((name, k), []).append(((fit.estimates[k] - v) / abs(v), lo <= v <= hi or exact))
    return out, seconds


def _table(out, estimators, keys, n):
    tol = 1.96 * math.sqrt(0.95 * 0.05 / n)
    head = "".join(f" | {name:^30}" for name in estimators)
    sub = "".join(f" | {'mean':>8} {'median':>8} {'cover':>6}   " for _ in estimators)
    print(f"   {'quantity':<52}{head}")
    print(f"   {'':<52}{sub}")
    for k in keys:
        cells = []
        for name in estimators:
            rows = out.get((name, k))
            if not rows:
                cells.append(f" | {'-':>30}")
                continue
            rel = np.array([r for r, _ in rows])
            cov = np.mean([c for _, c in rows])
            ok = "ok" if abs(cov - 0.95) <= tol else "  "
            cells.append(f" | {100 * rel.mean():7.1f}% {100 * np.median(rel):7.1f}% {cov:6.2f} {ok}")
        print(f"   {k:<52}{''.join(cells)}")
    print(f"   (bias in % of the truth; coverage ok within 0.95 +- {tol:.3f}, n = {n} panels)")


def bench_structural(n_panels, n_units, n_periods=20):
    print(f"1. structural panels, {n_units} units x {n_periods} weeks, unit effects in every equation "
          f"(unit_sd 0.05), ISQ smoothed at {W}: {n_panels} seeded panels")
    panels = (structural_panel(n_units=n_units, n_periods=n_periods, unit_sd=0.05, isq_smoothing=W,
                               seed=40_000 + r) for r in range(n_panels))
    est = _estimators(W)
    out, seconds = _collect(panels, est)
    keys = list(dict.fromkeys(k for _, k in out))
    _table(out, est, keys, n_panels)
    print("   seconds per panel: " + ", ".join(f"{k} {v / n_panels:.3f}" for k, v in seconds.items()))


def bench_model(n_panels):
    print(f"2. panels simulated by the model (60 units x 30 weeks after 10 warm-up): {n_panels} seeded panels")
    t = time.perf_counter()
    panels = [synthetic_panel(n_units=60, horizon=30, warmup=10, seed=50_000 + r) for r in range(n_panels)]
    print(f"   simulated in {time.perf_counter() - t:.0f} s")
    w = panels[0].meta["params"]["workforce"]["isq_smoothing"]
    est = dict(_estimators(w), **{"pooled + ISQ": dict(unit_effects=False, isq_smoothing=w)})
    out, _ = _collect(panels, est)
    keys = [k for k in dict.fromkeys(k for _, k in out) if k.startswith(("links.", "workforce.satisfaction"))]
    _table(out, est, keys, n_panels)


#: Unit heterogeneity of the model panels of section 3 (``--heterogeneity``): ``"levers"``, units
#: differ only in the levers drawn for them; ``"retail"``, also in the ``organisation.*_sd`` spreads
#: of the ``retail_chain`` preset (manager effect on base satisfaction, market size, attractiveness,
#: competition, expectations, process, staffing, footfall).
HETEROGENEITY = ("levers", "retail")
_SPREADS = ("manager_sd", "market_size_sd", "attractiveness_sd", "competition_sd", "expectations_sd",
            "process_sd", "staffing_sd", "footfall_sd")


def _model_estimators(w):
    return dict(_estimators(w), **{
        "pooled + ISQ": dict(unit_effects=False, isq_smoothing=w),
        "pooled + ISQ + IV": dict(unit_effects=False, isq_smoothing=w, isq_instruments=["tools_spend_per_week"]),
        "staff ISQ, stable": dict(columns={"internal_service_quality": "perceived_isq"}, stable_staff=True),
    })


def _model_params(heterogeneity):
    from spchain.fitting.synthetic import panel_params
    from spchain.presets import preset

    base = panel_params()
    if heterogeneity == "retail":
        retail = preset("retail_chain")
        base = base.override({f"organisation.{k}": retail.get(f"organisation.{k}") for k in _SPREADS})
    return base


def _model_task(args):
    seed, n_units, heterogeneity = args
    panel = synthetic_panel(_model_params(heterogeneity), n_units=n_units, horizon=30, warmup=10, seed=seed)
    w = panel.meta["params"]["workforce"]["isq_smoothing"]
    out, _ = _collect([panel], _model_estimators(w))
    return out


def bench_model_coverage(n_panels, n_units=40, workers=2, heterogeneity="retail"):
    """Section 3: every estimator on ``n_panels`` model panels, in ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    what = ("levers and the retail_chain preset's organisation spreads" if heterogeneity == "retail"
            else "levers")
    print(f"3. panels simulated by the model ({n_units} units x 30 weeks after 10 warm-up; units differ in "
          f"{what}; levers change twice): {n_panels} seeded panels, {workers} processes")
    t = time.perf_counter()
    tasks = [(60_000 + r, n_units, heterogeneity) for r in range(n_panels)]
    out = {}
    with ProcessPoolExecutor(workers) as pool:
        for part in pool.map(_model_task, tasks):
            for key, rows in part.items():
                out.setdefault(key, []).extend(rows)
    print(f"   simulated and fitted in {time.perf_counter() - t:.0f} s")
    est = _model_estimators(W)
    keys = [k for k in dict.fromkeys(k for _, k in out) if k.startswith(("links.", "workforce.satisfaction"))]
    _table(out, est, keys, n_panels)
    print("   (coverage counts an interval of zero width at the truth, to 1e-6, as covering: the staff-ISQ "
          "equation is exact)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-panels", type=int, default=100, help="structural panels (default 100)")
    parser.add_argument("--n-units", type=int, default=200, help="units per structural panel (default 200)")
    parser.add_argument("--model-panels", type=int, default=20, help="model-simulated panels (default 20; 0 skips)")
    parser.add_argument("--model", action="store_true",
                        help="section 3 only: every estimator on --model-panels (default 100) model panels")
    parser.add_argument("--workers", type=int, default=2, help="processes for --model (default 2)")
    parser.add_argument("--heterogeneity", choices=HETEROGENEITY, default="retail",
                        help="how the units of --model panels differ (default retail)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (few, small panels)")
    args = parser.parse_args()
    if args.model:
        n = 4 if args.quick else (args.model_panels if args.model_panels != 20 else 100)
        bench_model_coverage(n, n_units=20 if args.quick else 40, workers=args.workers,
                             heterogeneity=args.heterogeneity)
        return
    if args.quick:
        args.n_panels, args.n_units, args.model_panels = 5, 100, 2
    bench_structural(args.n_panels, args.n_units)
    if args.model_panels:
        bench_model(args.model_panels)


if __name__ == "__main__":
    main()
