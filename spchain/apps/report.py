"""The report folder: tidy CSV files, charts as PNG and SVG, one self-contained HTML page.

:func:`write_report` turns an :class:`~spchain.experiments.analysis.ExperimentResult`
into a folder a consultant can hand over::

    report.html            the page: scenario table, returns, chain diagram, dashboard,
                           comparisons, fan chart, tornado chart, manifest (charts embedded)
    results.csv            scenario, replication, period, metric, value (every KPI, every week)
    totals.csv             scenario, replication, seed, metric, value (per-run totals after the warm-up)
    summary.csv            the scenario table: means, intervals, differences against the baseline
    returns.csv            the return on each intervention
    charts/*.png, *.svg    every chart (SVG reproducible byte for byte)
    manifest.json          versions, seeds, parameters, design, sessions and timings
    report-settings.json   title, KPIs, costs... (what :func:`rebuild_report` needs)

:func:`rebuild_report` writes it again from a stored experiment
(``runs.sqlite``) without running anything.  Nothing here needs pandas.

The page prints every number by one rule
(:func:`spchain.formatting.format_number`: three significant digits, a value
and its interval with the same decimals), every amount of money in the
settings' ``currency`` and ``money_scale``
(:func:`spchain.apps.tables.money_unit`), and words and colours each change by its KPI's
direction (:attr:`spchain.metrics.Metric.better`).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from ..formatting import format_number  # noqa: F401 - tests and older code import it (and money_unit) from here
from ..metrics import METRICS, metric
from .tables import DEFAULT_CURRENCY, DEFAULT_REPORT_METRICS, csv_number, money_unit, summary_rows

__all__ = ["write_report", "rebuild_report", "STORE_NAME", "SETTINGS_NAME", "report_charts",
           "write_sensitivity_report", "sensitivity_rows", "write_selection_report", "selection_rows",
           "SENSITIVITY_STORE_NAME"]

STORE_NAME = "runs.sqlite"
SETTINGS_NAME = "report-settings.json"
#: The sensitivity runs' store in a ``spchain sensitivity`` report folder (what ``--resume`` reads back).
SENSITIVITY_STORE_NAME = "sensitivity.sqlite"
_MAX_LINES, _MAX_DIAGRAMS, _MAX_FANS = 7, 4, 6


def _with_defaults(settings, **defaults) -> dict:
    """``settings`` over ``defaults`` (None entries left out), refusing a currency or scale it cannot print."""
    filled = dict(defaults, base="", source="", currency=DEFAULT_CURRENCY, money_scale="units")
    filled.update({k: v for k, v in (settings or {}).items() if v is not None})
    try:
        money_unit(filled["currency"], filled["money_scale"])
    except ValueError as exc:
        raise ValueError(f"report settings: {exc}") from None
    return filled


def _report_settings(result, settings) -> dict:
    """A scenario report's settings with every default filled in, checked before anything is written."""
    filled = _with_defaults(settings, title="spchain scenario report", metrics=list(DEFAULT_REPORT_METRICS),
                            focus="profit", level=0.95, costs={}, descriptions={})
    for name in list(filled["metrics"]) + [filled["focus"]]:
        metric(name)  # a clear error, with the nearest name, for a KPI that does not exist
    filled["costs"] = {name: float(filled["costs"].get(name, 0.0)) for name in result.scenarios}
    filled["descriptions"] = {name: filled["descriptions"].get(name, "") for name in result.scenarios}
    return filled


# -------------------------------------------------------------------- tables
def _return_rows(result, costs, level) -> list:
    rows = []
    for scenario in result.scenarios:
        if scenario == result.baseline:
            continue
        r = result.roi(scenario, cost=costs.get(scenario, 0.0), level=level)
        rows.append(dict(scenario=scenario, cost=r.cost, gain=r.gain.mean, gain_low=r.gain.low,
                         gain_high=r.gain.high, net=r.net.mean, net_low=r.net.low, net_high=r.net.high,
                         roi=r.roi.mean, roi_low=r.roi.low, roi_high=r.roi.high))
    return rows


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_tables(result, out, settings):
    """``results.csv``, ``totals.csv``, ``summary.csv`` and ``returns.csv``; returns the summary and return rows."""
    replications = range(result.n_replications)

    def series():
        for scenario in result.scenarios:
            for name in METRICS:
                values = result.kpi(name, scenario=scenario)
                for r in replications:
                    for week, value in enumerate(values[r].tolist()):
                        yield scenario, r, week, name, csv_number(value)

    _write_csv(out / "results.csv", ["scenario", "replication", "period", "metric", "value"], series())
    seeds = {scenario: [result.experiment.seed_of(scenario, r) for r in replications] for scenario in result.scenarios}
    _write_csv(out / "totals.csv", ["scenario", "replication", "seed", "metric", "value"],
               ((scenario, r, seeds[scenario][r], name, csv_number(v))
                for scenario in result.scenarios for name in METRICS
                for r, v in enumerate(result.totals(name, scenario=scenario).tolist())))
    summary = summary_rows(result, settings["metrics"], settings["level"], currency=settings["currency"])
    keys = list(summary[0])
    _write_csv(out / "summary.csv", keys,
               ([row[k] if isinstance(row[k], (str, int)) else csv_number(row[k]) for k in keys] for row in summary))
    returns = _return_rows(result, settings["costs"], settings["level"])
    return_keys = ["scenario", "cost", "gain", "gain_low", "gain_high", "net", "net_low", "net_high", "roi",
                   "roi_low", "roi_high"]
    _write_csv(out / "returns.csv", return_keys + ["currency"],
               ([row[k] if isinstance(row[k], str) else csv_number(row[k]) for k in return_keys]
                + [settings["currency"]] for row in returns))
    return summary, returns


# -------------------------------------------------------------------- charts
def _slug(text, taken) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "scenario"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def report_charts(result, settings=None) -> list:
    """Every chart of the report, drawn in the house style, money named in the report's currency.

    Parameters
    ----------
    result : ExperimentResult
    settings : mapping, optional
        As for :func:`write_report` (``metrics``, ``focus``, ``level``, ``currency``...).

    Returns
    -------
    list of tuple
        ``(slug, title, caption, figure)`` for each chart, in the page's order.
    """
    from ..viz.output import name_the_currency
    from ..viz.plotting import style

    settings = _report_settings(result, settings)
    with style():
        charts = _draw_charts(result, settings)
    for _slug_, _title, _caption, fig in charts:
        name_the_currency(fig, settings["currency"])
    return charts


_OVERLAP = ("Overlapping bands do not mean the scenarios are alike: a band is one scenario's spread on its own, "
            "while the paired differences (the results table and the differences chart) compare runs that share "
            "their random numbers and resolve differences the bands hide.")


def _draw_charts(result, settings):
    """The report's charts in the page's order, as ``(slug, title, caption, figure)`` with unique slugs."""
    charts = [*_chain_diagrams(result, settings), _dashboard(result, settings)]
    if len(result.scenarios) > 1:
        charts.append(_comparison_chart(result, settings))
    charts.append(_fan_chart(result, settings))
    charts += _tornado_chart(result, settings)
    taken = set()
    return [(_slug(slug, taken), title, caption, fig) for slug, title, caption, fig in charts]


def _weeks_after_warmup(result) -> str:
    return f"weeks {result.warmup + 1}-{result.horizon}"


def _chain_diagrams(result, settings) -> list:
    from ..viz.output import new_figure
    from ..viz.plotting import plot_chain_diagram

    charts = []
    for scenario in result.scenarios[:_MAX_DIAGRAMS]:
        fig = new_figure(13, 5.2)
        plot_chain_diagram(result, scenario=scenario, ax=fig.add_subplot(), money=settings["currency"])
        what = "" if scenario == result.baseline else f"; differences against {result.baseline!r} in brackets"
        charts.append(("chain-diagram" if scenario == result.baseline else f"chain-diagram-{scenario}",
                       f"The chain: {scenario}",
                       f"Each stage's mean over {_weeks_after_warmup(result)} (flows per week){what}. Arrows "
                       f"carry the strength of the link in the model's parameters.", fig))
    return charts


def _dashboard(result, settings):
    from ..viz.output import new_figure
    from ..viz.plotting import plot_chain

    level = settings["level"]
    shown = result.scenarios[:_MAX_LINES]
    more = (f" The first {_MAX_LINES} of {len(result.scenarios)} scenarios are drawn."
            if len(result.scenarios) > _MAX_LINES else "")
    fig = plot_chain(result, scenarios=shown, level=level, fig=new_figure(14.8, 2.75 * 3 + 0.7, None))
    return ("dashboard", "The chain over time",
            f"Every stage of the chain week by week: the mean of each replication's KPI over the 4 weeks "
            f"up to the week, across {result.n_replications} replications, with its {level:.0%} confidence band; "
            f"the warm-up is shaded, dotted lines mark lever changes.{more}"
            + (f" {_OVERLAP}" if len(shown) > 1 else ""), fig)


def _comparison_chart(result, settings):
    from ..viz.output import new_figure
    from ..viz.plotting import plot_comparison

    level, metrics = settings["level"], settings["metrics"]
    n_other = len(result.scenarios) - 1
    if n_other > 6:  # many scenarios: one tall panel for the focus KPI stays readable
        metrics = [settings["focus"]]
    ncols = 2 if len(metrics) > 1 else 1
    nrows = -(-len(metrics) // ncols)
    # a panel: title, x label (up to two lines), tick labels and pads (about 1.5 in), and 0.45 in a scenario
    fig = new_figure(13, 0.4 + nrows * (1.6 + 0.45 * n_other))
    fig.suptitle(f"Paired differences against {result.baseline!r}, {level:.0%} confidence intervals",
                 x=0.01, ha="left", fontsize=13)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, metrics):  # the heading says what is compared: each panel names its KPI
        plot_comparison(result, name, level=level, ax=ax, title=METRICS[name].label)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    return ("comparison", f"Differences against {result.baseline!r}",
            f"Paired differences of each run's total over {_weeks_after_warmup(result)} (common random numbers) "
            f"with {level:.0%} confidence intervals; an interval that excludes 0 is a difference the "
            f"replications resolve, even where the scenarios' own bands in the other charts overlap.", fig)


def _fan_chart(result, settings):
    from ..viz.output import new_figure
    from ..viz.plotting import plot_fan

    focus = settings["focus"]
    fans = result.scenarios[:_MAX_FANS]
    ncols = min(len(fans), 2)
    nrows = -(-len(fans) // ncols)
    fig = new_figure(13, 3.6 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    for ax, scenario in zip(axes, fans):
        plot_fan(result, focus, scenario=scenario, ax=ax)
    for ax in axes[len(fans):]:
        ax.set_visible(False)
    return (f"fan-{focus}", f"{METRICS[focus].label}: spread across replications",
            "Each replication's KPI over the 4 weeks up to each week is a thin line; bands hold the middle "
            "50% and 90% of the runs week by week." + (f" {_OVERLAP}" if len(fans) > 1 else ""), fig)


def _tornado_chart(result, settings) -> list:
    """The tornado chart of a one-at-a-time design (in a list), or no chart (an empty list)."""
    from ..viz.output import new_figure
    from ..viz.plotting import oat_factors, plot_tornado

    focus, level = settings["focus"], settings["level"]
    try:
        factors = oat_factors(result, result.baseline)
    except ValueError:
        return []  # not a one-at-a-time design
    ax = plot_tornado(result, focus, level=level, ax=new_figure(9, 1.4 + 0.7 * len(factors)).add_subplot())
    return [(f"tornado-{focus}", f"{METRICS[focus].label}: one factor at a time",
             f"Each factor at its lower and higher value, everything else as in {result.baseline!r}: paired "
             f"differences over {_weeks_after_warmup(result)} with {level:.0%} confidence intervals, widest "
             f"swing on top.", ax.figure)]


# -------------------------------------------------------------------- report
def _save_charts(drawn, out, formats) -> tuple:
    """Save ``(slug, title, caption, figure)`` charts into ``out/charts`` (PNG always, plus ``formats``).

    Returns the page's chart entries (with the PNG bytes to embed) and the files written.
    """
    from ..viz.plotting import save_figure

    charts, files = [], []
    for slug, title, caption, fig in drawn:
        files += save_figure(fig, out / "charts" / slug, formats=tuple(dict.fromkeys(("png",) + tuple(formats))))
        charts.append(dict(slug=slug, title=title, caption=caption, png=(out / "charts" / f"{slug}.png").read_bytes()))
    return charts, files


def _write_manifest(out, manifest) -> dict:
    """``out/manifest.json``; returns the manifest as written (JSON-able)."""
    manifest = _jsonable(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def write_report(result, out, *, settings=None, formats=("png", "svg")) -> dict:
    """Write the report folder of an experiment, ``result``, into ``out``.

    Parameters
    ----------
    result : ExperimentResult
    out : str or Path
        The folder (created if missing; files of the same names are replaced).
    settings : mapping, optional
        ``title``, ``metrics`` (KPIs of the scenario table), ``focus`` (KPI of
        the fan and tornado charts), ``level``, ``currency`` (default
        ``"money units"``), ``money_scale`` (``"units"``, ``"thousands"`` or
        ``"millions"``: the divisor of amounts in the page; the CSV files stay
        in units), ``costs`` (scenario -> one-off cost for the return),
        ``descriptions``, ``base``, ``source``; see
        :meth:`spchain.apps.scenario_file.Plan.settings`.
    formats : sequence of str
        Chart formats besides the PNG embedded in the page.

    Returns
    -------
    dict
        ``{"html": Path, "csv": [...], "charts": [...], "manifest": Path, "settings": Path}``.

    Raises
    ------
    ValueError
        For a ``currency`` or ``money_scale`` the report cannot print, before anything is written.
    KeyError
        For a KPI that does not exist.
    """
    from .report_html import render_html

    settings = _report_settings(result, settings)  # bad settings are refused before anything is written
    out = Path(out)
    (out / "charts").mkdir(parents=True, exist_ok=True)
    summary, returns = _write_tables(result, out, settings)
    charts, files = _save_charts(report_charts(result, settings), out, formats)
    _write_manifest(out, result.manifest)
    (out / SETTINGS_NAME).write_text(json.dumps(_jsonable(settings), indent=2) + "\n", encoding="utf-8")
    html = render_html(result, settings, summary=summary, returns=returns, charts=charts)
    (out / "report.html").write_text(html, encoding="utf-8")
    return {"html": out / "report.html",
            "csv": [out / n for n in ("results.csv", "totals.csv", "summary.csv", "returns.csv")],
            "charts": files, "manifest": out / "manifest.json", "settings": out / SETTINGS_NAME}


def rebuild_report(folder, *, out=None) -> dict:
    """Write the report again from ``folder/runs.sqlite`` (and its settings) without running anything.

    Raises
    ------
    spchain.experiments.store.StoreError
        If ``folder`` holds no finished experiment.
    """
    from ..experiments.analysis import ExperimentResult
    from ..experiments.store import StoreError

    folder = Path(folder)
    store = folder / STORE_NAME
    if not store.is_file():
        raise StoreError(f"{folder} holds no experiment store ({STORE_NAME}); run one with "
                         f"'spchain run FILE --out {folder}'")
    result = ExperimentResult.load(store)
    settings_file = folder / SETTINGS_NAME
    settings = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
    return write_report(result, folder if out is None else out, settings=settings)


# ------------------------------------------------- sensitivity and selection
def _study_settings(settings, default_title) -> dict:
    """A sensitivity or selection report's settings with every default filled in, checked."""
    filled = _with_defaults(settings, title=default_title, level=0.95)
    level = filled["level"]
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"report settings: level={level!r}: expected a number in (0, 1)")
    return filled


def sensitivity_rows(result, *, level=0.95, weeks=None) -> list:
    """The indices of a Morris or Sobol' result as dicts, one per factor (and window), as in ``indices.csv``.

    Parameters
    ----------
    result : MorrisResult or SobolResult
    level : float
        Level of the Sobol' intervals (``conf_int(1 - level)``); Morris'
        ``mu_star_conf`` is at the level it was computed at.
    weeks : tuple of int, optional
        ``(first week, end week)`` of a one-output result's KPI window, written
        as ``window_start`` and ``window_end`` (end exclusive).

    Returns
    -------
    list of dict
        Morris: ``factor, window_start, window_end, mu, mu_star, mu_star_conf,
        sigma``.  Sobol': ``factor, window_start, window_end, first_order,
        first_order_low, first_order_high, total_order, total_order_low,
        total_order_high``.  Rows are in the result's order of factors, then
        windows.
    """
    windows = result.windows if result.windows is not None else [weeks or (None, None)]
    sobol = hasattr(result, "first_order")
    ci = result.conf_int(1 - level) if sobol else None
    rows = []
    for i, name in enumerate(result.names):
        for j, (a, b) in enumerate(windows):
            def at(values):
                v = np.asarray(values)[i]
                return float(v if result.windows is None else v[j])
            row = dict(factor=name, window_start=a, window_end=b)
            if sobol:
                lo1, hi1 = (ci["first_order"][i] if result.windows is None else ci["first_order"][i, j])
                lot, hit = (ci["total_order"][i] if result.windows is None else ci["total_order"][i, j])
                row.update(first_order=at(result.first_order), first_order_low=float(lo1),
                           first_order_high=float(hi1), total_order=at(result.total_order),
                           total_order_low=float(lot), total_order_high=float(hit))
            else:
                row.update(mu=at(result.mu), mu_star=at(result.mu_star), mu_star_conf=at(result.mu_star_conf),
                           sigma=at(result.sigma))
            rows.append(row)
    return rows


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return csv_number(v)
    return str(v)


def _rows_csv(path, rows):
    keys = list(rows[0])
    _write_csv(path, keys, ([_cell(r[k]) for k in keys] for r in rows))


def _sensitivity_charts(result, settings):
    from ..viz import sensplots
    from ..viz.output import new_figure

    kpi, level = settings["kpi_label"], settings["level"]
    sobol = hasattr(result, "first_order")
    n = len(result.names)
    last = None if result.windows is None else -1
    when = ""
    if last is not None:
        a, b = result.windows[-1]
        when = f" The last window of weeks is drawn (weeks {a}-{b - 1}); indices.csv holds every window."
    out = []
    if sobol:
        fig = new_figure(9, 1.6 + 0.55 * n)
        sensplots.plot_sobol(result, window=last, alpha=1 - level, ax=fig.add_subplot())
        out.append(("sobol", f"Sobol' indices of {kpi}",
                    f"First-order index (the share of the variance across the box a factor explains alone) and "
                    f"total index (alone and with the others), on replicate means with the replication noise "
                    f"taken out; bars show {level:.0%} bootstrap intervals over design points and replications."
                    + when, fig))
        if result.windows is not None and len(result.windows) > 1:
            for index, word in (("total", "Total"), ("first", "First-order")):
                fig = new_figure(10, 4.8)
                sensplots.plot_sobol_over_time(result, index=index, alpha=1 - level, ax=fig.add_subplot())
                out.append((f"sobol-{index}-over-time", f"{word} indices of {kpi} over time",
                            f"One index per window of weeks, from the same runs, with {level:.0%} bootstrap "
                            f"bands.", fig))
    else:
        fig = new_figure(9, 5.5)
        sensplots.plot_morris(result, window=last, ax=fig.add_subplot())
        out.append(("morris", f"Morris screening of {kpi}",
                    "Each factor's mean absolute elementary effect mu* (how much moving it across its range moves "
                    "the KPI) against the spread of its effects sigma (how much that depends on the other "
                    "factors: interactions or non-linearity); the bars are mu*'s bootstrap interval. Factors "
                    "near the origin can be fixed." + when, fig))
    return out


def write_sensitivity_report(result, out, *, settings=None, manifest=None, formats=("png", "svg")) -> dict:
    """Write the report folder of a sensitivity analysis (``spchain sensitivity``) into ``out``.

    Parameters
    ----------
    result : spchain.experiments.sensitivity.MorrisResult or SobolResult
    out : str or Path
        The folder (created if missing; files of the same names are replaced).
    settings : mapping, optional
        ``title``, ``level`` (of the Sobol' intervals), ``kpi``, ``factors``
        (path -> (low, high)), ``groups``, ``method``, ``horizon``,
        ``warmup``, ``base``, ``source``, ``currency``, ``money_scale``;
        see :meth:`spchain.apps.scenario_file.SensitivitySpec.to_dict`.
    manifest : mapping, optional
        What made the result (versions, seeds, runs, timings), written to
        ``manifest.json`` and shown on the page.
    formats : sequence of str
        Chart formats besides the PNG embedded in the page.

    Returns
    -------
    dict
        ``{"html": Path, "csv": [Path], "charts": [Path], "manifest": Path}``.
    """
    from ..viz.plotting import style
    from .report_html import render_sensitivity_html

    kpi = (settings or {}).get("kpi", "output")
    settings = _study_settings(settings, f"Which levers matter: {kpi}")
    settings["kpi_label"] = METRICS[kpi].label if kpi in METRICS else kpi
    weeks = (settings.get("warmup"), settings.get("horizon")) if settings.get("horizon") is not None else None
    rows = sensitivity_rows(result, level=settings["level"], weeks=weeks)
    out = Path(out)
    (out / "charts").mkdir(parents=True, exist_ok=True)
    _rows_csv(out / "indices.csv", rows)
    with style():
        drawn = _sensitivity_charts(result, settings)
    charts, files = _save_charts(drawn, out, formats)
    manifest = _write_manifest(out, dict(manifest or {}))
    html = render_sensitivity_html(result, settings, rows=rows, charts=charts, manifest=manifest)
    (out / "report.html").write_text(html, encoding="utf-8")
    return {"html": out / "report.html", "csv": [out / "indices.csv"], "charts": files,
            "manifest": out / "manifest.json"}


def selection_rows(selection) -> list:
    """A selection per scenario as dicts (``selection.csv``).

    Returns
    -------
    list of dict
        ``scenario, mean, n_replications, eliminated_after, chosen``;
        ``eliminated_after`` is the replications a scenario had when it left
        (None if it stayed to the end).
    """
    return [dict(scenario=name, mean=float(selection.means[i]), n_replications=int(selection.n_replications[i]),
                 eliminated_after=selection.eliminated.get(name), chosen=name == selection.best)
            for i, name in enumerate(selection.names)]


def write_selection_report(selection, out, *, settings=None, manifest=None, formats=("png", "svg")) -> dict:
    """Write the report folder of a ranking-and-selection (``spchain select``) into ``out``.

    Parameters
    ----------
    selection : spchain.experiments.selection.Selection
    out : str or Path
        The folder (created if missing; files of the same names are replaced).
    settings : mapping, optional
        ``title``, ``horizon``, ``warmup``, ``base``, ``source``,
        ``descriptions`` (scenario -> text), ``currency``, ``money_scale``.
    manifest : mapping, optional
        What made the selection, written to ``manifest.json`` and shown on the page.
    formats : sequence of str
        Chart formats besides the PNG embedded in the page.

    Returns
    -------
    dict
        ``{"html": Path, "csv": [Path], "charts": [Path], "manifest": Path}``:
        ``selection.csv`` (one row per scenario) and ``runs.csv`` (scenario,
        replication, seed, value: every run's output, replication ``r``
        sharing its seed across scenarios).
    """
    from ..experiments.experiment import replication_seed
    from ..viz import sensplots
    from ..viz.output import new_figure
    from ..viz.plotting import style
    from .report_html import render_selection_html

    kpi = selection.kpi
    settings = _study_settings(settings, f"Choosing the best plan: {kpi}")
    settings["kpi_label"] = METRICS[kpi].label if kpi in METRICS else kpi
    rows = selection_rows(selection)
    out = Path(out)
    (out / "charts").mkdir(parents=True, exist_ok=True)
    _rows_csv(out / "selection.csv", rows)
    seed = selection.seed
    _write_csv(out / "runs.csv", ["scenario", "replication", "seed", "value"],
               ((name, r, "" if seed is None else replication_seed(seed, r), csv_number(v))
                for name, x in zip(selection.names, selection.samples) for r, v in enumerate(np.asarray(x).tolist())))
    drawn = []
    with style():
        kinds = ["elimination", "allocation"] if selection.procedure in ("kn", "kn++") else ["allocation"]
        for kind in kinds:
            fig = new_figure(9, 4.8 if kind == "elimination" else 1.6 + 0.5 * len(selection.names))
            sensplots.plot_selection(selection, kind=kind, ax=fig.add_subplot())
            caption = ("Each scenario's running mean over its replications (replication r shares its random "
                       "numbers across scenarios), ending where the scenario was eliminated (a cross) or the "
                       "procedure stopped; the chosen scenario is thick and ends in a star." if kind == "elimination"
                       else "The replications each scenario received; the chosen one in colour.")
            drawn.append((f"selection-{kind}", f"How the runs were spent: {kind}", caption, fig))
    charts, files = _save_charts(drawn, out, formats)
    manifest = _write_manifest(out, dict(manifest or {}))
    html = render_selection_html(selection, settings, rows=rows, charts=charts, manifest=manifest)
    (out / "report.html").write_text(html, encoding="utf-8")
    return {"html": out / "report.html", "csv": [out / "selection.csv", out / "runs.csv"], "charts": files,
            "manifest": out / "manifest.json"}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x
