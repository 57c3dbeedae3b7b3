"""The ``spchain`` command line (also ``python -m spchain``).

``spchain demo`` runs a preset under its baseline and under an
internal-service investment, prints a comparison and writes a tidy CSV and
a PNG chart of the chain over time.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

__all__ = ["main", "demo"]


def _investment(params, at_week):
    """The demo's intervention: tools and one more IT employee from ``at_week``."""
    from .params import Change

    it_staff = params.get("internal.departments.it.n_staff")
    return params.with_changes(
        Change(at_week=at_week, path="internal.tools_spend_per_week", value=3000.0),
        Change(at_week=at_week, path="internal.departments.it.n_staff", value=it_staff + 1),
    )


def demo(*, preset_name="workshop", horizon=104, seed=2026, at_week=13, out="spchain-demo",
         stream=sys.stdout):
    """Run the demo and write ``out/demo.csv`` and ``out/chain.png``.

    Returns the two :class:`~spchain.RunResult` objects (baseline, investment).
    """
    from . import preset, simulate
    from .metrics import METRICS
    from .result import _fmt

    base = preset(preset_name)
    scenarios = {"baseline": base, "internal investment": _investment(base, at_week)}
    results = {name: simulate(p, horizon=horizon, seed=seed) for name, p in scenarios.items()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "demo.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["scenario", "period", "unit", "metric", "value"])
        for name, res in results.items():
            writer.writerows((name,) + row for row in res.to_records())
    import matplotlib
    matplotlib.use("Agg")
    from .plotting import plot_chain
    fig = plot_chain(list(results.values()), labels=list(results))
    fig.savefig(out / "chain.png", dpi=120)

    base_r, inv_r = results.values()
    start = at_week
    print(f"spchain demo: preset {preset_name!r}, {horizon} weeks, seed {seed}; "
          f"investment from week {at_week} (tools 3,000/week and one more IT employee)", file=stream)
    print(f"{'KPI, weeks ' + str(start + 1) + '-' + str(horizon):<36}{'baseline':>14}"
          f"{'investment':>14}{'change':>10}", file=stream)
    for name in ("internal_service_quality", "employee_satisfaction", "turnover", "service_quality",
                 "customer_satisfaction", "nps", "active_customers", "revenue", "costs", "profit"):
        a, b = base_r.total(name, start=start), inv_r.total(name, start=start)
        change = f"{(b - a) / abs(a):+.1%}" if a else "-"
        print(f"{METRICS[name].label:<36}{_fmt(a):>14}{_fmt(b):>14}{change:>10}", file=stream)
    print(f"wrote {out / 'demo.csv'} and {out / 'chain.png'} "
          f"({base_r.wall_seconds + inv_r.wall_seconds:.1f} s of simulation)", file=stream)
    return base_r, inv_r


def main(argv=None) -> int:
    """Entry point of the ``spchain`` command."""
    from . import PRESETS, __version__

    parser = argparse.ArgumentParser(prog="spchain", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"spchain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run a preset with and without an internal-service investment")
    d.add_argument("--preset", default="workshop", choices=sorted(PRESETS), help="preset to run (default: workshop)")
    d.add_argument("--horizon", type=int, default=104, help="weeks to simulate (default: 104)")
    d.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    d.add_argument("--at-week", type=int, default=13, help="week the investment starts (default: 13)")
    d.add_argument("--out", default="spchain-demo", help="output folder (default: spchain-demo)")
    sub.add_parser("presets", help="list the presets")
    args = parser.parse_args(argv)
    from .params import ParamError
    try:
        if args.command == "demo":
            demo(preset_name=args.preset, horizon=args.horizon, seed=args.seed, at_week=args.at_week,
                 out=args.out)
        elif args.command == "presets":
            for name, (text, _) in PRESETS.items():
                print(f"{name}: {text}")
    except (ParamError, OSError) as exc:
        print(f"spchain: error: {exc}", file=sys.stderr)
        return 2
    return 0
