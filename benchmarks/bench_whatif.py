"""The what-if panel: wall time of one slider change, model and redraw separately.

On the ``workshop`` preset with the panel's one-year horizon (52 weeks,
seed 2026), a scripted participant moves the sliders through a sequence of
changes (every lever once, then back to values seen before).  Two ways of
handling each change are timed in the same run, change by change, one
right after the other:

reference
    what the panel did before: re-run the model, then redraw the whole
    dashboard from scratch (:func:`spchain.plotting.plot_chain` into the
    cleared figure, its layout computed again, ``savefig`` to PNG);
panel
    :class:`spchain.workshop.WhatIf` as it is: the figure built once, the
    "what if" lines set in place and drawn over a saved image of the rest
    (the whole figure only when a panel's value range must change), runs of
    lever combinations seen before kept.

Both use the same runs (same seed, same levers), so the model times differ
only by noise and by the cache.  The machine's load average is printed
before and after: on a shared machine the absolute seconds move with it,
the ratios much less.  Target: every change of the panel under 1 second.

Run: ``python benchmarks/bench_whatif.py [--horizon 52]``.
"""

from __future__ import annotations

import argparse
import io
import os
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from spchain import preset, simulate  # noqa: E402
from spchain.plotting import CHAIN_METRICS, plot_chain  # noqa: E402
from spchain.workshop import WhatIf  # noqa: E402

#: The participant's slider moves, in order: (lever path, new value).
MOVES = (
    ("internal.tools_spend_per_week", 2000.0),
    ("internal.tools_spend_per_week", 4000.0),
    ("internal.departments.it.n_staff", 4),
    ("workforce.training_hours", 2.0),
    ("workforce.recognition", 0.5),
    ("workforce.pay_index", 1.1),
    ("economics.price_index", 1.1),
    ("economics.price_index", 1.0),   # back to a combination seen before
    ("internal.tools_spend_per_week", 2000.0),
)


def _reference_redraw(fig, baseline, result, metrics):
    """The panel's redraw before this benchmark's change: everything from scratch, then PNG."""
    plot_chain([baseline, result], labels=["baseline", "what if"], metrics=metrics, fig=fig,
               title="What if? The chain over time")
    fig.set_size_inches(14, 8.5)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=int, default=52)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    params = preset("workshop")
    started = time.perf_counter()
    panel = WhatIf(params, horizon=args.horizon, seed=args.seed)
    opened = time.perf_counter() - started
    reference_fig = Figure()
    values = {path: params.get(path) for path in panel.sliders}
    rows = []
    for path, value in MOVES:
        values[path] = value
        changed = {p: v for p, v in values.items() if v != params.get(p)}
        t0 = time.perf_counter()
        result = simulate(params.override(changed), horizon=args.horizon, seed=args.seed)
        t1 = time.perf_counter()
        _reference_redraw(reference_fig, panel.baseline, result, CHAIN_METRICS)
        t2 = time.perf_counter()
        full_before = panel.n_full_redraws
        t3 = time.perf_counter()
        panel.sliders[path].value = value  # what dragging the slider does
        t4 = time.perf_counter()
        assert np.array_equal(panel.result.sums, result.sums), "the panel's run differs from the reference run"
        rows.append((f"{path.split('.')[-1]}={value:g}", t1 - t0, t2 - t1, panel.timings["model"],
                     panel.timings["redraw"], t4 - t3, panel.n_full_redraws > full_before))
    load_after = os.getloadavg()
    print(f"what-if panel, workshop preset, {args.horizon} weeks, seed {args.seed}, "
          f"{len(CHAIN_METRICS)} KPI panels; opening the panel: {opened:.2f} s")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} (1, 5, 15 min) "
          f"on {os.cpu_count()} CPUs")
    print()
    print(f"{'change':<26} {'reference':>30}   {'panel':>44}")
    print(f"{'':<26} {'model':>9} {'redraw':>9} {'total':>9}   {'model':>9} {'redraw':>9} {'total':>9} "
          f"{'figure':>8} {'redraw ratio':>13}")
    for name, rm, rr, pm, pr, pt, full in rows:
        print(f"{name:<26} {rm:>8.3f}s {rr:>8.3f}s {rm + rr:>8.3f}s   {pm:>8.3f}s {pr:>8.3f}s {pt:>8.3f}s "
              f"{'whole' if full else 'lines':>8} {rr / pr:>12.1f}x")
    ref_total = np.array([r[1] + r[2] for r in rows])
    new_total = np.array([r[5] for r in rows])
    ref_redraw = np.array([r[2] for r in rows])
    new_redraw = np.array([r[4] for r in rows])
    print()
    print(f"median of {len(rows)} changes: reference {np.median(ref_total):.3f} s "
          f"(redraw {np.median(ref_redraw):.3f} s), panel {np.median(new_total):.3f} s "
          f"(redraw {np.median(new_redraw):.3f} s); redraw {np.median(ref_redraw / new_redraw):.1f}x faster")
    print(f"slowest change of the panel: {new_total.max():.3f} s "
          f"({'under' if new_total.max() < 1.0 else 'NOT under'} the 1 s target)")


if __name__ == "__main__":
    main()
