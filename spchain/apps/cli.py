"""The ``spchain`` command line (also ``python -m spchain``).

========================  ========================================================
command                   does
========================  ========================================================
``spchain demo``          runs the workshop preset with and without one more
                          front-line employee, prints when it pays back and
                          writes the full report
``spchain run FILE``      runs a scenario file (TOML) and writes the report folder
``spchain sensitivity``   ``FILE``: runs a scenario file's ``[sensitivity]``
                          section (Morris or Sobol') and writes its report folder
``spchain select FILE``   chooses the best of a scenario file's scenarios
                          (``[selection]``) and writes its report folder
``spchain report DIR``    rebuilds a report from a stored experiment
``spchain presets``       lists the presets, or shows one (``--toml``: as a file)
``spchain fit CSV``       estimates the chain's links from a unit-by-period CSV
                          and writes them as a scenario file ``run`` accepts
``spchain workshop``      ``serve``: starts the browser workshop for a room of
                          teams (docs/workshop-facilitator.md)
========================  ========================================================

Every failure prints one line, ``spchain: error: <reason>``, and exits
non-zero: 2 for invalid input (nothing is run or written), 1 when running
fails, 130 when interrupted (finished runs are kept; ``--resume`` goes on).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "demo", "demo_plan", "print_comparison", "DEMO_SCENARIO"]

_EPILOG = """examples:
  spchain demo                                   the workshop demo, report in spchain-demo/
  spchain run examples/invest_in_internal_service.toml --out invest-report --workers 4
  spchain run sweep.toml --out sweep --scheduler tcp://scheduler-host:8786
  spchain run sweep.toml --out sweep --resume    continue an interrupted run
  spchain report invest-report                   rebuild the report without re-running
  spchain sensitivity examples/which_levers.toml --out levers --workers 2
  spchain select examples/choose_best.toml --out best
  spchain presets bank_branches --toml > bank.toml
  spchain fit branches.csv --preset bank_branches --out fitted.toml

docs/consultants.md is the guide: scenario files, the report, fitting to a CSV."""


class _Failure(Exception):
    """A failure to report in one line with an exit code."""

    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------------ demo
#: Name of the demo's intervention scenario (:func:`demo_plan`).
DEMO_SCENARIO = "one more employee"


def demo_plan(*, preset_name="workshop", horizon=104, seed=2026, at_week=13, replications=8):
    """The demo as a :class:`~spchain.apps.scenario_file.Plan`: the preset's baseline and one more employee.

    The intervention adds one front-line employee per unit from
    ``at_week``; statistics start at that week (the warm-up).  It was
    chosen because its time profile is the chain's: the wage (and the
    hiring cost) come at once, while lower workload lifts employee
    satisfaction over weeks, and service, customer satisfaction, visits
    and the customer base follow over months, so the cumulative profit
    difference dips first and pays back later (in the ``workshop`` preset
    after about half a year; see :func:`demo`).

    Parameters
    ----------
    preset_name : str
        A preset of :data:`spchain.PRESETS`.
    horizon : int
        Weeks per run.
    seed : int
        Seed of the experiment.
    at_week : int
        Week the employee starts, counted from 0, and the warm-up.
    replications : int
        Replications per scenario.

    Returns
    -------
    Plan
    """
    from ..presets import preset
    from ..experiments.experiment import Experiment
    from .scenario_file import Plan
    from ..experiments.scenarios import Scenario

    base = preset(preset_name)
    staff = base.get("workforce.n_employees")
    hire = Scenario(DEMO_SCENARIO, at_week=at_week, levers={"workforce.n_employees": staff + 1})
    experiment = Experiment(base, scenarios=[Scenario("baseline"), hire], n_replications=replications,
                            horizon=horizon, warmup=at_week, seed=seed)
    return Plan(experiment=experiment, title=f"spchain demo: one more front-line employee ({preset_name})",
                descriptions={"baseline": f"The {preset_name!r} preset as it is",
                              DEMO_SCENARIO: f"Front-line employees per unit {staff} -> {staff + 1} from "
                                             f"week {at_week}"},
                base=f"preset {preset_name!r}", source="spchain demo")


def demo(*, preset_name="workshop", horizon=104, seed=2026, at_week=13, replications=8, workers=1,
         out="spchain-demo", stream=sys.stdout, progress=False):
    """Run the demo, print the comparison and the payback, and write the full report into ``out``.

    The ``workshop`` preset runs for ``horizon`` weeks with and without one
    more front-line employee from ``at_week`` (:func:`demo_plan`).  Printed:
    the KPIs of both scenarios with the paired change and its interval, the
    cumulative profit difference at checkpoints, the payback time with its
    interval (:meth:`spchain.ExperimentResult.payback`) and what the time
    profile means (:func:`print_comparison`).

    With the defaults the cumulative profit difference is below zero for
    the first weeks (the wage comes first) and every replication pays back
    within the two years.

    Parameters
    ----------
    preset_name, horizon, seed, at_week, replications
        As :func:`demo_plan`.
    workers : int
        Local worker processes.
    out : str or Path
        Report folder; a demo's earlier runs there are replaced, another
        study's folder is refused.
    stream : file
        Where the comparison is printed.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ExperimentResult
    """
    import json

    from ..params import ParamError
    from .report import SETTINGS_NAME, STORE_NAME, write_report

    if not 0 <= at_week < horizon:
        raise ParamError(f"the new employee must start before the horizon: --at-week {at_week} is not in "
                         f"[0, {horizon})")
    started = time.perf_counter()
    plan = demo_plan(preset_name=preset_name, horizon=horizon, seed=seed, at_week=at_week,
                     replications=replications)
    out = Path(out)
    if (out / STORE_NAME).exists():  # start afresh in a demo's folder, never in another study's
        settings = out / SETTINGS_NAME
        if not settings.is_file() or json.loads(settings.read_text(encoding="utf-8")).get("source") != "spchain demo":
            raise _Failure(f"{out} holds the results of another study ({STORE_NAME}); choose another --out")
        for suffix in ("", "-wal", "-shm"):
            (out / f"{STORE_NAME}{suffix}").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    result = plan.experiment.run(workers=workers if workers > 1 else None, store=out / STORE_NAME,
                                 progress=progress)
    staff = plan.experiment.base.get("workforce.n_employees")
    print(f"spchain demo: preset {preset_name!r}, {horizon} weeks, {replications} replications, seed {seed}; "
          f"one more front-line employee per unit ({staff} -> {staff + 1}) from week {at_week}", file=stream)
    print_comparison(result, metrics=plan.metrics, level=plan.level, stream=stream)
    p = result.payback(DEMO_SCENARIO, level=plan.level)
    q = max(1, min(13, p.horizon_weeks // 4))
    early, late = p.cumulative[:, q - 1].mean(), p.cumulative[:, -1].mean()
    shape = (" So the cumulative profit difference goes below zero first and climbs after: costs first, "
             "benefits later." if early < 0 < late else "")
    if p.time is None:
        shape += (f" Not every replication paid back within the {p.horizon_weeks} weeks after the change; a "
                  f"longer --horizon shows whether they do later.")
    workforce = plan.experiment.base.workforce
    print(_wrap(f"Why: from week {at_week} the unit recruits one more employee; the position takes "
                f"{workforce.time_to_fill_weeks:g} weeks to fill on average, then the wage and the hiring cost are "
                f"paid. Less workload shortens waits and lifts employee satisfaction over weeks (it moves "
                f"with a delay of {workforce.satisfaction_delay_weeks:g} weeks); service, customer "
                f"satisfaction, visits and the customer base follow over months.{shape}"), file=stream)
    files = write_report(result, out, settings=plan.settings())
    simulated = sum(float(w.sum()) for w in result.wall_seconds.values())
    print(f"wrote the report to {out}/: {files['html'].name}, {len(files['csv'])} CSV files, "
          f"{len(files['charts'])} charts ({simulated:.1f} s of simulation, "
          f"{time.perf_counter() - started:.1f} s in all)", file=stream)
    return result


# ------------------------------------------------------------------ comparison
def print_comparison(result, *, metrics=None, level=0.95, payback_metric="profit", max_scenarios=8,
                     stream=sys.stdout):
    """Print what ``spchain demo`` and ``spchain run`` print: each scenario against the baseline.

    For every scenario other than the baseline (the first
    ``max_scenarios``): a table of each KPI's mean in the baseline and in
    the scenario over the weeks after the warm-up, the paired relative
    change and its interval; then the cumulative difference of
    ``payback_metric`` from the scenario's first lever change at
    checkpoints, with intervals, its payback
    (:meth:`~spchain.ExperimentResult.payback`), and the mean weekly
    difference in the first and the last weeks compared (the time
    profile).  With only a baseline, the table of its means.

    Parameters
    ----------
    result : ExperimentResult
        The runs.
    metrics : sequence of str, optional
        KPIs of the table; default those of the report
        (:data:`spchain.apps.tables.DEFAULT_REPORT_METRICS`).
    level : float
        Confidence level of the intervals.
    payback_metric : str
        A flow KPI where more is better (see ``payback``).
    max_scenarios : int
        Scenarios shown at most; a line says how many more the report has.
    stream : file
        Where to print.
    """
    from ..formatting import format_number
    from ..metrics import METRICS, metric
    from .tables import DEFAULT_REPORT_METRICS

    metrics = [metric(name).name for name in (DEFAULT_REPORT_METRICS if metrics is None else metrics)]
    flows = [name for name, m in METRICS.items() if m.is_flow and m.better == "higher"]
    if payback_metric not in flows:
        raise ValueError(f"payback_metric must be a flow KPI where more is better, one of {flows}, "
                         f"got {payback_metric!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95, got {level!r}")
    if isinstance(max_scenarios, bool) or not isinstance(max_scenarios, int) or max_scenarios < 1:
        raise ValueError(f"max_scenarios must be an integer >= 1, got {max_scenarios!r}")
    base, pct = result.baseline, f"{level:.0%}"
    others = [s for s in result.scenarios if s != base]
    window = f"KPI, weeks {result.warmup + 1}-{result.horizon}"
    if not others:
        print(f"{window:<36}{base[:14]:>14}", file=stream)
        for name in metrics:
            print(f"{METRICS[name].label:<36}{format_number(result.estimate(name).mean, plain=True):>14}",
                  file=stream)
        return
    for k, s in enumerate(others[:max_scenarios]):
        width = max(14, min(len(s), 24) + 2)
        if k:
            print("", file=stream)
        print(f"{window:<36}{base[:12]:>14}{s[:width - 2]:>{width}}{'change':>11}{pct + ' CI of change':>24}"
              f"  reading", file=stream)
        for name in metrics:
            a, b = result.estimate(name).mean, result.estimate(name, scenario=s).mean
            d = result.difference(name, scenario=s, level=level)
            change, ci = _change_text(METRICS[name], d, a)
            means = f"{format_number(a, plain=True):>14}{format_number(b, plain=True):>{width}}"
            print(f"{METRICS[name].label:<36}{means}{change:>11}{ci:>24}  {METRICS[name].assess(d.low, d.high)}",
                  file=stream)
        _print_payback(result.payback(s, metric=payback_metric, level=level), stream)
    if len(others) > max_scenarios:
        print(f"\n... and {len(others) - max_scenarios} more scenario(s): see the report", file=stream)


def _change_text(m, d, base_mean):
    """The change and its interval as the report words them: points for scores and shares, else percent."""
    if m.change_in_points:
        k = m.points_scale
        if not np.isfinite(d.mean):
            return "-", "-"
        ci = f"[{d.low * k:+.1f}, {d.high * k:+.1f}] pts" if np.isfinite(d.high) else "-"
        return f"{d.mean * k:+.1f} pts", ci
    if not base_mean or not np.isfinite(d.relative):
        return "-", "-"
    ci = f"[{d.relative_low:+.1%}, {d.relative_high:+.1%}]" if np.isfinite(d.relative_high) else "-"
    return f"{d.relative:+.1%}", ci


def _weeks(x):
    return f"{x:.0f} week" + ("" if round(x) == 1 else "s")


def _span(weeks):
    low, high = np.nanmin(weeks), np.nanmax(weeks)
    return _weeks(low) if low == high else f"{low:.0f} to {_weeks(high)}"


def _checkpoints(n):
    """Weeks after a change to show: each quarter of the first year, then each half year, and the last."""
    weeks = [w for w in (13, 26, 39, 52) if w < n] + list(range(78, n, 26))
    return weeks + [n]


def _print_payback(p, stream):
    from ..formatting import format_number
    from ..metrics import METRICS

    label, pct, n = METRICS[p.metric].label, f"{p.level:.0%}", p.horizon_weeks
    print(f"{label}, cumulative difference from the change at week {p.start} ({p.scenario} - {p.baseline}):",
          file=stream)
    for w in _checkpoints(n):
        c = p.after(w)
        ci = (f"[{format_number(c.low, plain=True)}, {format_number(c.high, plain=True)}]"
              if np.isfinite(c.half_width) else "-")
        print(f"  {f'after {w} weeks (week {p.start + w})':<34}{format_number(c.mean, plain=True):>16}{ci:>32}",
              file=stream)
    if p.time is not None:
        t = p.time
        ci = f" ({pct} CI {t.low:.0f} to {t.high:.0f})" if np.isfinite(t.half_width) else ""
        line = (f"Payback: after {_weeks(t.mean)}{ci}, about week {p.start + t.mean:.0f}; every "
                f"replication paid back, after {_span(p.weeks)}.")
    elif p.n_paid_back:
        line = (f"Payback: none within {n} weeks in {p.n_replications - p.n_paid_back} of {p.n_replications} "
                f"replications (the others after {_span(p.weeks)}), "
                f"so the payback is not established within the horizon.")
    else:
        line = f"Payback: none within {n} weeks in any of {p.n_replications} replications."
    q = max(1, min(13, n // 4))
    first = p.cumulative[:, q - 1].mean() / q
    last = (p.cumulative[:, -1] - (p.cumulative[:, -1 - q] if n > q else 0.0)).mean() / min(q, n)
    print(_wrap(f"{line} {label} differs by {format_number(first, plain=True)} a week in the first {q} weeks "
                f"after the change and by {format_number(last, plain=True)} a week in the last {q} weeks of "
                f"the run."), file=stream)


# ------------------------------------------------------------------------- run
def _executor(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise _Failure("--scheduler needs Dask distributed: pip install 'spchain[dask]'") from None
    try:
        client = Client(scheduler)  # waits distributed.comm.timeouts.connect (dask config)
    except (OSError, TimeoutError) as exc:
        raise _Failure(f"cannot reach the Dask scheduler at {scheduler}: {exc}", 1) from None
    return client, client.get_executor(pure=False)


def _run(args, stream):
    import json

    from ..metrics import METRICS
    from .report import SETTINGS_NAME, STORE_NAME, write_report
    from .scenario_file import load_scenario_file
    from ..experiments.store import StoreError

    plan = load_scenario_file(args.file, workers=args.workers)  # validates everything, runs nothing
    if args.workers is not None and args.scheduler:
        raise _Failure("give --workers or --scheduler, not both")
    out = Path(args.out)
    store = out / STORE_NAME
    if store.exists() and not args.resume:
        raise _Failure(f"{out} already holds results ({STORE_NAME}); pass --resume to continue them, "
                       f"or choose another --out")
    if out.exists() and not out.is_dir():
        raise _Failure(f"--out {out} is a file, not a folder")
    e = plan.experiment
    try:  # a refused --resume is invalid input: nothing has run or been written
        e.check_budget(None if args.allow_long else args.max_hours, store=store if store.exists() else None,
                       workers=plan.workers, override="--allow-long (or a larger --max-hours)")
        if store.exists():
            _check_store(store, e, args.file)
    except StoreError as exc:
        raise _Failure(str(exc)) from None
    client, executor = _executor(args.scheduler) if args.scheduler else (None, None)
    total = len(e.names) * e.n_replications
    where = f"Dask at {args.scheduler}" if client else (f"{plan.workers} processes" if plan.workers > 1
                                                       else "1 process")
    try:
        out.mkdir(parents=True, exist_ok=True)
        source = Path(args.file)
        (out / "scenario.toml").write_bytes(source.read_bytes())
        (out / SETTINGS_NAME).write_text(json.dumps(plan.settings(), indent=2) + "\n", encoding="utf-8")
        print(f"spchain run {source.name}: {len(e.names)} scenario(s) x {e.n_replications} replication(s) "
              f"= {total} runs of {e.horizon} weeks on {where}" + (" (resuming)" if store.exists() else ""),
              file=stream)
        started = time.perf_counter()
        try:
            result = e.run(workers=None if client or plan.workers == 1 else plan.workers, executor=executor,
                           store=store, progress=not args.quiet, max_hours=None)  # budget checked above
        except KeyboardInterrupt:
            from ..experiments.store import Store

            with Store(store) as db:
                n = len(db.finished())
            raise _Failure(f"interrupted: {n} of {total} runs are kept in {store}; continue with "
                           f"'spchain run {args.file} --out {out} --resume'", 130) from None
        files = write_report(result, out, settings=plan.settings())
    finally:
        if client is not None:
            client.close()
    flows = [name for name, m in METRICS.items() if m.is_flow and m.better == "higher"]
    print_comparison(result, metrics=plan.metrics, level=plan.level,
                     payback_metric=plan.focus if plan.focus in flows else "profit", stream=stream)
    print(f"wrote {files['html']} and {len(files['csv'])} CSV files, {len(files['charts'])} charts "
          f"({time.perf_counter() - started:.1f} s)", file=stream)
    return 0


def _check_store(store, experiment, file):
    """Refuse, before anything is written, to resume a store of another experiment."""
    from ..experiments.store import Store

    with Store(store) as db:
        db.check(experiment.manifest(), advice=f"Use another --out, or undo those changes to {file}")


def _report(args, stream):
    from .report import rebuild_report

    folder = Path(args.dir)
    if not folder.is_dir():
        raise _Failure(f"no report folder {str(folder)!r}")
    files = rebuild_report(folder, out=args.out)
    print(f"wrote {files['html']} and {len(files['csv'])} CSV files, {len(files['charts'])} charts "
          f"from {folder} (nothing re-run)", file=stream)
    return 0


# ------------------------------------------------------ sensitivity and select
def _study_folder(out, store=None, resume=False):
    """Refuse, before anything is written, an --out that is a file or holds another study's results."""
    from .report import STORE_NAME

    if out.exists() and not out.is_dir():
        raise _Failure(f"--out {out} is a file, not a folder")
    if (out / STORE_NAME).exists():
        raise _Failure(f"{out} holds the results of a scenario run ({STORE_NAME}); choose another --out")
    if store is not None and store.exists() and not resume:
        raise _Failure(f"{out} already holds sensitivity runs ({store.name}); pass --resume to continue them, "
                       f"or choose another --out")


def _check_hours(n_runs, params, horizon, max_hours, workers, what):
    """Refuse (exit 2) a study estimated to take more CPU hours than ``max_hours`` (None: no limit)."""
    from ..experiments.experiment import UNPROBED_RUN_WEEKS, Experiment

    if max_hours is None or n_runs * horizon <= UNPROBED_RUN_WEEKS:
        return
    _, per_run = Experiment(params, n_replications=1, horizon=horizon).estimate_seconds()
    hours = n_runs * per_run / 3600.0
    if hours > max_hours:
        wall = f", about {hours / workers:,.1f} h of wall time on {workers} workers" if workers > 1 else ""
        raise _Failure(f"this {what} would take about {hours:,.1f} CPU hours{wall}: {n_runs:,} runs of {horizon} "
                       f"weeks at about {per_run:.3g} s each (timed on a short probe run on this machine); the "
                       f"limit is {max_hours:g} CPU hours. Use fewer factors, trajectories, replications or a "
                       f"smaller n, a shorter horizon, or pass --allow-long (or a larger --max-hours)")


def _where(args, workers):
    if args.scheduler:
        return f"Dask at {args.scheduler}"
    return f"{workers} processes" if workers > 1 else "1 process"


@contextlib.contextmanager
def _open_executor(args, workers):
    """The executor of --scheduler, of --workers N (a local process pool) or of neither (``None``).

    The Dask client or the pool is closed when the block ends, also on an interruption.
    """
    if args.scheduler:
        client, executor = _executor(args.scheduler)
        try:
            yield executor
        finally:
            client.close()
    elif workers > 1:
        from ..experiments.experiment import process_pool

        pool = process_pool(workers)
        try:
            yield pool
        finally:
            pool.shutdown(cancel_futures=True)
    else:
        yield None


def _study_plan(args, section, missing):
    """The scenario file's plan and its ``[section]`` spec, validated before anything runs or is written."""
    from .scenario_file import load_scenario_file

    plan = load_scenario_file(args.file, workers=args.workers)  # validates everything, runs nothing
    spec = getattr(plan, section)
    if spec is None:
        raise _Failure(f"{args.file}: no [{section}] section, so {missing}")
    if args.workers is not None and args.scheduler:
        raise _Failure("give --workers or --scheduler, not both")
    return plan, spec


def _study_title(plan, file, what):
    """The plan's title, or ``what`` and the file's name when the file gave none."""
    stem = Path(file).stem
    return f"{what} ({stem})" if plan.title == f"spchain report: {stem}" else plan.title


def _platform():
    import platform

    return {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()}


def _sensitivity(args, stream):
    from .. import __version__
    from ..metrics import METRICS
    from .report import SENSITIVITY_STORE_NAME, write_sensitivity_report
    from ..experiments.store import SensitivityStore, StoreError, definition_hash

    plan, spec = _study_plan(args, "sensitivity", "nothing to analyse; add one (method, kpi, factors: "
                                                  "docs/consultants.md, 'Which levers matter')")
    e = plan.experiment
    out = Path(args.out)
    store = out / SENSITIVITY_STORE_NAME
    _study_folder(out, store, args.resume)
    model = spec.model(e.base, horizon=e.horizon, warmup=e.warmup)
    done = 0
    if store.exists():
        definition = model.definition()
        try:
            with SensitivityStore(store) as db:
                db.check({"definition": definition, "definition_hash": definition_hash(definition)},
                         advice=f"Use another --out, or undo those changes to {args.file}")
                done = len(db)
        except StoreError as exc:
            raise _Failure(str(exc)) from None
    n_runs = spec.max_runs()
    _check_hours(max(n_runs - done, 0), e.base, e.horizon, None if args.allow_long else args.max_hours,
                 plan.workers, "sensitivity analysis")
    label = METRICS[spec.kpi].label
    title = _study_title(plan, args.file, f"Which levers matter: {label}")
    reps = "replications planned from the noise" if spec.n_replications is None else \
        f"{spec.n_replications} replication(s) per point"
    print(f"spchain sensitivity {Path(args.file).name}: {spec.method} on {label.lower()}, "
          f"{len(spec.factors)} factor(s), {spec.n_points():,} points x {reps} = at most {n_runs:,} runs of "
          f"{e.horizon} weeks on {_where(args, plan.workers)}" + (" (resuming)" if store.exists() else ""),
          file=stream)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    started = time.perf_counter()
    with _open_executor(args, plan.workers) as executor:
        out.mkdir(parents=True, exist_ok=True)
        (out / "scenario.toml").write_bytes(Path(args.file).read_bytes())
        try:
            result = spec.run(e.base, horizon=e.horizon, warmup=e.warmup, executor=executor, store=store)
        except KeyboardInterrupt:
            with SensitivityStore(store) as db:
                n = len(db)
            raise _Failure(f"interrupted: {n} runs are kept in {store}; continue with "
                           f"'spchain sensitivity {args.file} --out {out} --resume'", 130) from None
    wall = time.perf_counter() - started
    print(result.summary(), file=stream)
    definition = model.definition()
    manifest = {"spchain_version": __version__, "command": "spchain sensitivity", "source": str(args.file),
                "base": plan.base, "horizon": e.horizon, "warmup": e.warmup, "sensitivity": spec.to_dict(),
                "n_runs": result.n_runs, "n_replications": result.n_replications,
                "replication_plan": result.plan.summary() if result.plan is not None else None,
                "definition_hash": definition_hash(definition), "started": started_at,
                "wall_seconds": wall, "executor": _where(args, plan.workers), "platform": _platform()}
    settings = dict(spec.to_dict(), title=title, level=plan.level, base=plan.base, source=str(args.file),
                    horizon=e.horizon, warmup=e.warmup, currency=plan.currency, money_scale=plan.money_scale)
    files = write_sensitivity_report(result, out, settings=settings, manifest=manifest)
    print(f"wrote {files['html']}, {files['csv'][0].name} and {len(files['charts'])} chart files "
          f"({wall:.1f} s)", file=stream)
    return 0


def _select(args, stream):
    from .. import __version__
    from ..metrics import METRICS
    from .report import write_selection_report

    plan, spec = _study_plan(args, "selection", "nothing to choose; add one (kpi, delta: "
                                                "docs/consultants.md, 'Choose the best plan')")
    e = plan.experiment
    out = Path(args.out)
    _study_folder(out)
    if (out / "selection.csv").exists() and not args.force:
        raise _Failure(f"{out} already holds a selection (selection.csv); pass --force to replace it, or choose "
                       f"another --out")
    first = spec.first_stage_runs()
    _check_hours(first, e.base, e.horizon, None if args.allow_long else args.max_hours, plan.workers,
                 "selection's first stage")
    label = METRICS[spec.kpi].label
    title = _study_title(plan, args.file, f"Choosing the best plan: {label}")
    runs = (f"a budget of {first:,} runs" if spec.procedure == "ocba" else
            f"{spec.n0} replication(s) per scenario first, more where the noise needs them")
    print(f"spchain select {Path(args.file).name}: {spec.procedure} among {len(spec.scenarios)} scenarios by "
          f"{label.lower()}, delta {spec.delta:g}, confidence {1 - spec.alpha:.0%}; {runs}, {e.horizon}-week runs on "
          f"{_where(args, plan.workers)}", file=stream)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    started = time.perf_counter()
    with _open_executor(args, plan.workers) as executor:
        out.mkdir(parents=True, exist_ok=True)
        (out / "scenario.toml").write_bytes(Path(args.file).read_bytes())
        selection = spec.run(e, executor=executor)
    wall = time.perf_counter() - started
    print(selection.summary(), file=stream)
    manifest = {"spchain_version": __version__, "command": "spchain select", "source": str(args.file),
                "base": plan.base, "horizon": e.horizon, "warmup": e.warmup, "seed": e.seed,
                "selection": spec.to_dict(), "result": selection.to_dict(), "started": started_at,
                "wall_seconds": wall, "executor": _where(args, plan.workers), "platform": _platform()}
    settings = dict(title=title, base=plan.base, source=str(args.file), horizon=e.horizon, warmup=e.warmup,
                    descriptions=plan.descriptions, currency=plan.currency, money_scale=plan.money_scale)
    files = write_selection_report(selection, out, settings=settings, manifest=manifest)
    print(f"wrote {files['html']}, {len(files['csv'])} CSV files and {len(files['charts'])} chart files "
          f"({wall:.1f} s)", file=stream)
    return 0


# --------------------------------------------------------------------- presets
def _presets(args, stream):
    import textwrap

    from ..presets import PRESETS, preset
    from ..params import suggest

    if args.name is None:
        for name, (text, _) in PRESETS.items():
            print(f"{name}\n" + textwrap.fill(text, 88, initial_indent="    ", subsequent_indent="    "),
                  file=stream)
        print("\n'spchain presets NAME' shows one; '--toml' prints it as a parameter file.", file=stream)
        return 0
    if args.name not in PRESETS:
        raise _Failure(f"unknown preset {args.name!r}{suggest(args.name, PRESETS)}; expected one of "
                       f"{sorted(PRESETS)}")
    text, overrides = PRESETS[args.name]
    if args.toml:
        from .scenario_file import dumps_toml

        print(f"# spchain preset {args.name!r}: every parameter, as a parameter file.\n"
              f"# Use it in a scenario file as [base] file = \"{args.name}.toml\".\n", file=stream)
        data = preset(args.name).to_dict()
        data.pop("schedule")
        print(dumps_toml({"preset": args.name, **data}), end="", file=stream)
        return 0
    print(f"{args.name}\n" + textwrap.fill(text, 88, initial_indent="    ", subsequent_indent="    ")
          + "\n\nchanges from the defaults:", file=stream)
    for path, value in overrides.items():
        print(f"    {path} = {value!r}", file=stream)
    print(f"\nin a scenario file:\n    [base]\n    preset = \"{args.name}\"", file=stream)
    return 0


# ------------------------------------------------------------------------- fit
def _pairs(items, what):
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise _Failure(f"{what} must look like NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _scales(items):
    out = {}
    for col, spec in _pairs(items, "--scale").items():
        if spec in ("csat", "nps"):
            out[col] = spec
            continue
        try:
            low, high = (float(v) for v in spec.split(":"))
        except ValueError:
            raise _Failure(f"--scale {col}={spec}: expected LOW:HIGH (e.g. 0:100), csat or nps") from None
        out[col] = (low, high)
    return out


def _fit(args, stream):
    from ..fitting.estimation import fit_links
    from ..panel import read_panel

    data, out = Path(args.data), Path(args.out)
    if not data.is_file():
        raise _Failure(f"no such file {str(data)!r}")
    if out.exists() and not args.force:
        raise _Failure(f"{out} exists; pass --force to replace it, or choose another --out")
    if args.preset and args.base:
        raise _Failure("give --preset or --base, not both")
    params, base_table = _fit_base(args, out)
    panel = read_panel(data, unit=args.unit, period=args.period)
    equations = [e.strip() for e in args.equations.split(",")] if args.equations else None
    columns = _pairs(args.column, "--column")
    scales = _scales(args.scale)
    if args.estimator == "anderson-hsiao" and args.pooled:
        raise _Failure("--estimator anderson-hsiao removes the unit effects by first differences; "
                       "drop --pooled (pooled estimation has no Nickell bias: use --estimator ols)")
    fit = fit_links(panel, equations=equations, unit_effects=not args.pooled, columns=columns,
                    scales=scales, n_bootstrap=args.bootstrap, seed=args.seed, params=params,
                    estimator=args.estimator, isq_smoothing=args.isq_smoothing, stable_staff=args.stable_staff)
    print(fit.summary(), file=stream)
    written, skipped, notes, text = _fitted_file(fit, args, params, base_table, data.name, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if args.plots:
        from ..viz.output import write_fit_charts

        write_fit_charts(fit, args.plots)
    print("", *notes, sep="\n", file=stream)
    print(f"wrote {out}: {len(written)} fitted parameter(s), {len(skipped)} left at the base's value; "
          f"run it with 'spchain run {out} --out {out.stem}-report'", file=stream)
    return 0


def _fit_base(args, out):
    """The parameters the fit starts from (``--preset``, ``--base`` or the defaults) and its ``[base]`` table."""
    import os

    from ..params import Params, suggest
    from ..presets import PRESETS, preset
    from .scenario_file import read_parameter_file

    if args.preset:
        if args.preset not in PRESETS:
            raise _Failure(f"unknown preset {args.preset!r}{suggest(args.preset, PRESETS)}; "
                           f"expected one of {sorted(PRESETS)}")
        return preset(args.preset), {"preset": args.preset}
    if args.base:
        params, _ = read_parameter_file(args.base)
        return params, {"file": os.path.relpath(Path(args.base).resolve(), out.resolve().parent)}
    return Params(), {}
def _fitted_file(fit, args, params, base_table, data_name, out):
    """The scenario file ``spchain fit`` writes: the values the data determine, with what they mean.

    Returns ``(written, skipped, notes, text)``: the parameters written
    (rounded to 6 significant digits), a line for each one left at the
    base's value, the lines printed after the fit (caveats, the rule,
    the skipped), and the file's text.
    """
    from .scenario_file import dumps_toml

    kept, why = fit.select_overrides(max_share=args.max_ci_share)
    ci = fit.conf_int()
    written = {path: float(f"{value:.6g}") for path, value in kept.items()}
    comments = {}
    for path in written:
        low, high = ci[path]
        comments[f'base.parameters."{path}"'] = (f"fitted; 95% CI [{low:.4g}, {high:.4g}], "
                                                 f"std err {fit.std_errors[path]:.3g}")
    doc = {"base": dict(base_table, parameters=written),
           "experiment": {"replications": 10, "horizon": 52, "warmup": 13, "seed": args.seed},
           "scenarios": {"baseline": {"description": "the base with the fitted links"}}}
    rule = (f"Written: the fitted values the data determine - 95% CI excludes 0 and its half-width is at "
            f"most {args.max_ci_share:g} of the estimate (--max-ci-share); the others stay at the base's value.")
    skipped = [f"{path} not written: {reason}; stays at the base's {params.get(path):.4g}"
               for path, reason in why.items()]
    notes = _fit_caveats(fit) + [rule] + skipped
    fit_notes = "".join(f"# note: {note}\n" for note in fit.diagnostics.get("notes", []))
    header = (f"# Fitted by `spchain fit {data_name}`: {fit.n_obs} rows, "
              f"{fit.diagnostics.get('n_units')} units.\n# {fit.method}.\n"
              f"# Run it:  spchain run {out.name} --out {out.stem}-report\n"
              f"# Or use it as the base of another scenario file:  [base] file = \"{out.name}\"\n"
              + "".join(f"# {line}\n" for line in notes) + f"{fit_notes}\n")
    return written, skipped, notes, header + dumps_toml(doc, comments=comments)


def _fit_caveats(fit):
    """What the fitted numbers mean, and the known biases of the estimator that made them."""
    lines = ["What the numbers mean: associations in these data, read through the model's structure - "
             "not proven causes (docs/fitting.md, section 6)."]
    eqs = {d["name"]: d for d in fit.diagnostics.get("equations", [])}
    es = eqs.get("employee_satisfaction")
    smoothing = fit.diagnostics.get("isq_smoothing")
    if es and "internal_service_quality" in es["terms"] and smoothing is None:
        lines.append("Known bias: links.satisfaction_from_internal is underestimated and "
                     "workforce.satisfaction_delay_weeks overestimated (errors in variables: weekly ISQ is a "
                     "noisy measure of the ISQ employees perceive; --isq-smoothing W corrects part of it; "
                     "docs/fitting.md, section 6).")
    elif es and "internal_service_quality" in es["terms"]:
        lines.append(f"Known bias: ISQ smoothed with weight {smoothing:g} (--isq-smoothing) is still an imperfect "
                     f"measure of the ISQ employees perceive when each smooths only their own requests: "
                     f"links.satisfaction_from_internal can stay underestimated and "
                     f"workforce.satisfaction_delay_weeks overestimated; a staff survey of perceived ISQ "
                     f"(--column internal_service_quality=COL) with --stable-staff removes both "
                     f"(docs/fitting.md, section 6).")
    dynamic = [n for n in ("employee_satisfaction", "customer_satisfaction") if n in eqs]
    if dynamic and fit.diagnostics.get("estimator") == "anderson-hsiao":
        lines.append(f"Known bias: {' and '.join(dynamic)} - the Anderson-Hsiao estimator (--estimator) has no "
                     f"Nickell bias but is consistent only when the equations' errors are not serially "
                     f"correlated (lagged levels are then valid instruments); its intervals are wide and a "
                     f"weak instrument (first-stage F below 10, in the notes) biases it toward least squares "
                     f"(docs/fitting.md, section 3).")
    elif dynamic and fit.diagnostics.get("unit_effects"):
        lines.append(f"Known bias: {' and '.join(dynamic)} - the within estimator with a lagged dependent "
                     f"variable carries the Nickell bias of about -(1 + phi)/(T - 1), and the links mapped "
                     f"from these equations inherit it (size in the notes; --pooled avoids it).")
    elif dynamic:
        lines.append(f"Known bias: {' and '.join(dynamic)} - the pooled estimator with a lagged dependent "
                     f"variable is consistent only when the included levers explain the differences between "
                     f"units; differences they miss inflate the lag coefficient (docs/fitting.md, section 3).")
    return lines


# ------------------------------------------------------------------------ main
def _wrap(text):
    import textwrap

    return textwrap.fill(text, 79)


def _number(accepts, message):
    """An argparse type: a float that ``accepts`` holds for, else ``message`` (a format of ``text``)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accepts(value):
            raise argparse.ArgumentTypeError(message.format(text=text))
        return value
    return parse


#: --max-ci-share: a number > 0 (``inf`` allowed).
_share = _number(lambda value: value > 0,
                 "must be a number > 0 (e.g. 0.5, or inf for the zero rule only), got {text!r}")
#: --isq-smoothing: a smoothing weight in (0, 1].
_weight = _number(lambda value: 0 < value <= 1,
                  "must be a weight in (0, 1] (the model's workforce.isq_smoothing is 0.3), got {text!r}")
#: --max-hours: a finite number of hours > 0.
_hours = _number(lambda value: 0 < value < float("inf"),
                 "expected a number of hours > 0 (e.g. 48), got {text!r}; --allow-long lifts the limit")


def _count(low):
    """An argparse type: an integer >= ``low``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    return parse


def _parser():
    """The ``spchain`` command's argument parser: one sub-command per front end."""
    from .. import __version__
    from .webapp.command import add_parser as add_workshop_parser

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="spchain", formatter_class=formatter, epilog=_EPILOG,
        description=_wrap("The Service-Profit Chain as a discrete-event simulation: run scenario files, "
                          "write reports, fit the chain to your data."))
    parser.add_argument("--version", action="version", version=f"spchain {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo_command(commands, formatter)
    _add_run_command(commands, formatter)
    for name in ("sensitivity", "select"):
        _add_study_command(commands, formatter, name)
    _add_report_command(commands, formatter)
    _add_presets_command(commands, formatter)
    _add_fit_command(commands, formatter)
    add_workshop_parser(commands, formatter)
    return parser


def _add_demo_command(commands, formatter):
    from ..presets import PRESETS

    command = commands.add_parser(
        "demo", formatter_class=formatter, help="run the workshop demo and write its report",
        description=_wrap("Run a preset under its baseline and with one more front-line employee per unit from "
                          "--at-week, print the comparison, the cumulative profit difference and its payback "
                          "week with intervals, and write the full report (HTML, CSV, charts) into --out."))
    command.add_argument("--preset", default="workshop", choices=sorted(PRESETS),
                         help="preset to run (default: workshop)")
    command.add_argument("--horizon", type=_count(1), default=104, help="weeks to simulate (default: 104)")
    command.add_argument("--seed", type=_count(0), default=2026, help="random seed (default: 2026)")
    command.add_argument("--at-week", type=_count(0), default=13,
                         help="week the new employee starts, counted from 0 (default: 13)")
    command.add_argument("--replications", type=_count(1), default=8,
                         help="replications per scenario (default: 8)")
    command.add_argument("--workers", type=_count(1), default=1, help="local worker processes (default: 1)")
    command.add_argument("--out", default="spchain-demo", help="report folder (default: spchain-demo)")


def _add_where_to_run(command):
    """``--out``, ``--workers`` and ``--scheduler``: where a study runs and writes (run, sensitivity, select)."""
    command.add_argument("--out", required=True, metavar="DIR", help="report folder (created if missing)")
    command.add_argument("--workers", type=_count(1), metavar="N",
                         help="local worker processes (overrides the file)")
    command.add_argument("--scheduler", metavar="ADDRESS",
                         help="run on a Dask cluster, e.g. tcp://scheduler-host:8786 (needs spchain[dask])")


def _add_run_budget(command, runs):
    """``--max-hours`` and ``--allow-long``: the CPU hours a study may take; ``runs`` says which runs count."""
    command.add_argument("--max-hours", type=_hours, default=24.0, metavar="HOURS",
                         help=f"refuse to start when {runs} to take more CPU hours than this (default: 24)")
    command.add_argument("--allow-long", action="store_true", help="no run budget: run however long it takes")


def _add_run_command(commands, formatter):
    command = commands.add_parser(
        "run", formatter_class=formatter, help="run a scenario file and write the report folder",
        description=_wrap("Validate a TOML scenario file (nothing runs until it is valid), run every scenario and "
                          "replication, storing each run in DIR/runs.sqlite as it finishes, and write the report "
                          "into DIR."),
        epilog="docs/consultants.md documents the scenario file; examples/ holds some.")
    command.add_argument("file", metavar="FILE", help="scenario file (TOML)")
    _add_where_to_run(command)
    command.add_argument("--resume", action="store_true",
                         help="continue an interrupted run in DIR: finished runs are not re-run")
    command.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_run_budget(command, "the runs are estimated (from a 2-week probe run)")


#: What ``spchain sensitivity`` and ``spchain select`` do, as their help describes it.
_STUDY_DESCRIPTIONS = {
    "sensitivity": "Validate a TOML scenario file (nothing runs until it is valid), run its [sensitivity] section "
                   "(Morris screening or Sobol' indices of a KPI over the factors' ranges, replications per "
                   "point planned from the noise or as given), print the indices and write the report into DIR "
                   "(report.html, indices.csv, charts, manifest.json); every run is kept in "
                   "DIR/sensitivity.sqlite.",
    "select": "Validate a TOML scenario file (nothing runs until it is valid), choose the best of its scenarios "
              "by its [selection] section (KN++, KN, Rinott or OCBA with common random numbers), print the "
              "choice and its guarantee and write the report into DIR (report.html, selection.csv, runs.csv, "
              "charts, manifest.json).",
}


def _add_study_command(commands, formatter, name):
    """``spchain sensitivity`` or ``spchain select``: a scenario file's ``[sensitivity]`` or ``[selection]``."""
    section = "sensitivity" if name == "sensitivity" else "selection"
    command = commands.add_parser(
        name, formatter_class=formatter, description=_wrap(_STUDY_DESCRIPTIONS[name]),
        help=("rank a scenario file's factors (Morris or Sobol')" if name == "sensitivity"
              else "choose the best of a scenario file's scenarios, with a guarantee"),
        epilog=f"docs/consultants.md documents the [{section}] section.")
    command.add_argument("file", metavar="FILE", help=f"scenario file (TOML) with a [{section}] section")
    _add_where_to_run(command)
    if name == "sensitivity":
        command.add_argument("--resume", action="store_true",
                             help="continue an interrupted analysis in DIR: runs in DIR/sensitivity.sqlite are "
                                  "read back, not re-run")
    else:
        command.add_argument("--force", action="store_true", help="replace an earlier selection's files in DIR")
    _add_run_budget(command, "the runs (for select: its first stage) are estimated")


def _add_report_command(commands, formatter):
    command = commands.add_parser(
        "report", formatter_class=formatter, help="rebuild a report from a stored experiment",
        description=_wrap("Write the report again from DIR/runs.sqlite without re-running anything."))
    command.add_argument("dir", metavar="DIR", help="a folder written by 'spchain run' or 'spchain demo'")
    command.add_argument("--out", metavar="DIR2", help="write the report here instead of DIR")


def _add_presets_command(commands, formatter):
    command = commands.add_parser(
        "presets", formatter_class=formatter, help="list the presets, or show one",
        description=_wrap("List the presets; with NAME, show its description and changes."))
    command.add_argument("name", nargs="?", metavar="NAME", help="a preset to show")
    command.add_argument("--toml", action="store_true", help="print every parameter as a parameter file")


def _add_fit_command(commands, formatter):
    command = commands.add_parser(
        "fit", formatter_class=formatter, help="estimate the chain's links from a CSV",
        description=_wrap("Estimate the chain's structural equations from a unit-by-period CSV (docs/fitting.md) "
                          "and write the fitted parameters as a scenario file that 'spchain run' accepts, or that "
                          "another scenario file uses as its base."))
    command.add_argument("data", metavar="DATA.csv", help="one row per unit and period")
    command.add_argument("--out", default="fitted.toml", metavar="FILE",
                         help="scenario file to write (default: fitted.toml)")
    command.add_argument("--force", action="store_true", help="replace --out if it exists")
    command.add_argument("--preset", metavar="NAME", help="base preset (reference levels, measurement model)")
    command.add_argument("--base", metavar="FILE", help="base parameter or scenario file instead of a preset")
    command.add_argument("--unit", default="unit", metavar="COL", help="unit column (default: unit)")
    command.add_argument("--period", default="period", metavar="COL", help="period column (default: period)")
    command.add_argument("--equations", metavar="A,B", help="equations to fit (default: all the data supports)")
    command.add_argument("--column", action="append", metavar="MODEL=COL",
                         help="read a model quantity from another column, e.g. customer_satisfaction=csat_latent")
    command.add_argument("--scale", action="append", metavar="COL=LOW:HIGH",
                         help="map a column to 0-1: LOW:HIGH (e.g. 0:100), csat (1-5) or nps")
    command.add_argument("--pooled", action="store_true", help="no unit fixed effects (pooled, with a constant)")
    command.add_argument("--estimator", choices=("ols", "anderson-hsiao"), default="ols",
                         help="ols: least squares (default); anderson-hsiao: the equations with a lagged dependent "
                              "variable in first differences with lagged levels as instruments (no Nickell bias, "
                              "wider intervals; needs unit effects and the 'fit' extra)")
    command.add_argument("--isq-smoothing", type=_weight, metavar="W",
                         help="replace weekly ISQ in the employee-satisfaction equation by its exponential "
                              "smoothing with weight W in (0, 1] (the ISQ employees perceive; the model's 0.3)")
    command.add_argument("--stable-staff", action="store_true",
                         help="fit the employee-satisfaction equation on the weeks without a quit or a hire "
                              "(needs quits or turnover, and headcount)")
    command.add_argument("--bootstrap", type=_count(0), default=0, metavar="N", help="cluster bootstrap replicates")
    command.add_argument("--seed", type=_count(0), default=1, help="seed of the bootstrap and of the written file")
    command.add_argument("--max-ci-share", type=_share, default=0.5, metavar="SHARE",
                         help="write a fitted value only when its 95%% CI excludes 0 and the CI's half-width is at "
                              "most SHARE of the estimate (default: 0.5); the others stay at the base's value")
    command.add_argument("--plots", metavar="DIR", help="also write observed-against-fitted charts here")


def main(argv=None) -> int:
    """Entry point of the ``spchain`` command; returns the exit code."""
    from ..fitting.result import DataError
    from ..params import ParamError
    from ..experiments.store import StoreError

    args = _parser().parse_args(argv)
    stream = sys.stdout
    handlers = {"demo": None, "run": _run, "report": _report, "presets": _presets, "fit": _fit,
                "sensitivity": _sensitivity, "select": _select, "workshop": _workshop}
    try:
        if args.command == "demo":
            demo(preset_name=args.preset, horizon=args.horizon, seed=args.seed, at_week=args.at_week,
                 replications=args.replications, workers=args.workers, out=args.out)
            return 0
        return handlers[args.command](args, stream)
    except BrokenPipeError:  # e.g. `spchain presets | head`: the reader has gone, stay quiet
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except _Failure as exc:
        return _fail(exc, exc.code, args, exc)
    except KeyboardInterrupt as exc:
        return _fail("interrupted", 130, args, exc)
    except (ParamError, DataError, StoreError, OSError) as exc:
        return _fail(exc, 2 if isinstance(exc, (ParamError, DataError)) else 1, args, exc)
    except Exception as exc:  # noqa: BLE001 - one line, or the traceback with --debug
        return _fail(f"{type(exc).__name__}: {exc}", 1, args, exc)


def _workshop(args, stream):
    from .webapp.command import run_command

    return run_command(args, stream)


def _fail(message, code, args, exc=None) -> int:
    if getattr(args, "debug", False) and exc is not None:
        import traceback

        traceback.print_exception(exc)
    lines = [" ".join(line.split()) for line in str(message).splitlines() if line.strip()]
    text = "\n    ".join(lines)  # one line, unless the message holds an example (an empty scenario file)
    print(f"spchain: error: {text}", file=sys.stderr)
    return code
