"""Consultants: run a scenario file from Python and write the report folder.

    python examples/consultant_run_scenario_file.py                        # the example file, report in ./invest-report
    python examples/consultant_run_scenario_file.py my.toml --out client   # your own file
    python examples/consultant_run_scenario_file.py --quick --out /tmp/r   # 2 replications (tests)

The same as ``spchain run FILE --out DIR`` on the command line.
"""

import argparse
from pathlib import Path

from spchain.apps.report import write_report
from spchain.apps.scenario_file import load_scenario_file

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=HERE / "invest_in_internal_service.toml")
    parser.add_argument("--out", default="invest-report", help="report folder")
    parser.add_argument("--quick", action="store_true", help="2 replications, for a smoke test")
    args = parser.parse_args(argv)

    plan = load_scenario_file(args.file)            # validated before anything runs
    experiment = plan.experiment
    if args.quick:
        from dataclasses import replace

        experiment = replace(experiment, n_replications=2)
    result = experiment.run(workers=plan.workers)
    print(result.summary(metrics=list(plan.metrics)))
    for name, cost in plan.costs.items():
        if name == result.baseline:
            continue
        r = result.roi(name, cost=cost)
        print(f"return on {name!r}: net {r.net.mean:,.0f} ({r.net.low:,.0f} to {r.net.high:,.0f})")
    written = write_report(result, args.out, settings=plan.settings(), formats=("png",))
    print(f"report: {written['html']}")


if __name__ == "__main__":
    main()
