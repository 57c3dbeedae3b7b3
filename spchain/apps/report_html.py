"""The report's HTML page: self-contained (charts as data URIs, inline CSS), printable.

:func:`render_html` is called by :func:`spchain.apps.report.write_report`; the
page needs no network access, reads on a screen and prints to PDF on A4
landscape pages (``@media print``: no navigation; headings kept with what
follows them; each KPI's rows, list items and figures kept whole; table
headers repeated on every page).

Every change is worded and coloured by its KPI's direction
(:attr:`spchain.metrics.Metric.better`), not by its sign: blue and "better"
for a change the business wants, orange and "worse" for one it does not,
grey for KPIs that are neither and for intervals that cover 0.  Scores and
shares change in points, levels in percent; money is in the report's
currency and scale.
"""

from __future__ import annotations

import base64
import html
import math

import numpy as np

from ..formatting import format_number
from ..metrics import METRICS
from .tables import MONEY_SCALES, csv_number, kpi_unit, money_unit, summary_rows

__all__ = ["render_html", "CSS", "page", "render_sensitivity_html", "render_selection_html"]

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --rule: #d0d7de; --band: #f6f8fa; --accent: #0072B2;
        --better: #005a8c; --worse: #b34700; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.5 "DejaVu Sans", "Segoe UI",
       Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--accent); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p, li { max-width: 75ch; }
.meta { color: var(--muted); margin: 0; }
nav { margin: 16px 0; padding: 8px 12px; background: var(--band); border-radius: 6px;
      display: flex; flex-wrap: wrap; gap: 4px 14px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13.5px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--rule); vertical-align: top; text-align: left; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { white-space: normal; }
tbody.kpi tr:first-child td { border-top: 2px solid #8c959f; }
td.kpi { font-weight: 600; min-width: 11em; }
td.kpi span { display: block; font-weight: 400; color: var(--muted); font-size: 12px; }
.better { color: var(--better); } .worse { color: var(--worse); }
.neither, .same { color: var(--muted); }
td.better, td.worse { font-weight: 600; }
.legend span { font-weight: 600; }
figure { margin: 16px 0 28px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; max-width: 100ch; }
.findings li { margin-bottom: 4px; }
.params { columns: 2; column-gap: 32px; font-size: 12.5px; }
.params div { break-inside: avoid; display: flex; justify-content: space-between; gap: 12px;
              border-bottom: 1px dotted var(--rule); }
.params code { color: var(--ink); }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--band); padding: 10px; overflow-x: auto; white-space: pre-wrap; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; }
@media screen and (max-width: 760px) {
  main { padding: 16px 12px 32px; }
  table { display: block; max-width: 100%; overflow-x: auto; }
  .params { columns: 1; }
  .params div > *, code { min-width: 0; overflow-wrap: anywhere; }
}
@page { size: A4 landscape; margin: 12mm 12mm 14mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
  h2 + *, h3 + *, h2 + .meta + *, h3 + .meta + * { break-before: avoid; page-break-before: avoid; }
  h2.page { break-before: page; page-break-before: always; }
  figure, tr, tbody.kpi, li, .params div { break-inside: avoid; page-break-inside: avoid; }
  p { orphans: 3; widows: 3; }
  thead { display: table-header-group; }
  figure img { border: none; max-height: 140mm; width: auto; max-width: 100%; }
  figcaption { break-before: avoid; page-break-before: avoid; }
  a { color: inherit; text-decoration: none; }
  table { font-size: 9pt; }
  .better, .worse { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_DASH = "\u2013"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


class _Shown:
    """How one KPI is printed: its factor (money scale, shares in percent), unit and change scale."""

    def __init__(self, result, name, settings):
        self.m = m = METRICS[name]
        if m.is_money:
            self.factor = 1.0 / MONEY_SCALES[settings["money_scale"]][0]
            self.unit = kpi_unit(name, result, money_unit(settings["currency"], settings["money_scale"]))
        elif m.is_share:
            self.factor, self.unit = 100.0, kpi_unit(name, result).replace("share", "%", 1)
        else:
            self.factor, self.unit = 1.0, kpi_unit(name, result)

    def change(self, r):
        """``(value, low, high, suffix)`` of the change column: points for scores and shares, else percent."""
        if self.m.change_in_points:
            k = self.m.points_scale
            return k * r["difference"], k * r["difference_low"], k * r["difference_high"], " pts"
        return 100 * r["relative"], 100 * r["relative_low"], 100 * r["relative_high"], "%"


def _num(x, *, raw=None, among=(), sign=False, cls="num", suffix="") -> str:
    text = format_number(x, among=among, sign=sign)
    text = text + suffix if text != _DASH else text
    return f'<td class="{cls}" data-value="{csv_number(x if raw is None else raw)}">{_e(text)}</td>'


def _interval(low, high, *, among=(), sign=False, suffix="", each="") -> str:
    """``[low, high]`` with the decimals of the value printed beside it (its ``among``)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return _DASH
    both = (low, high, *among)
    return (f"[{format_number(low, among=both, sign=sign)}{each}, "
            f"{format_number(high, among=both, sign=sign)}{each}]{suffix}")


def _ci(low, high, **kwargs) -> str:
    return f'<td class="num">{_e(_interval(low, high, **kwargs))}</td>'


#: A difference below this share of the KPI's level is rounding noise (the same runs summed in another order).
_NOISE = 1e-9
_DIFFERENCES = ("difference", "difference_low", "difference_high", "relative", "relative_low", "relative_high")


def _denoised(r) -> dict:
    """``r`` with a difference that is rounding noise set to 0: printed as 0 and read "not distinguishable"."""
    if not math.isfinite(r["difference"]):
        return r
    level = max(abs(r["mean"]), abs(r["mean"] - r["difference"])) if math.isfinite(r["mean"]) else math.inf
    if all(math.isfinite(r[k]) and abs(r[k]) <= _NOISE * level for k in _DIFFERENCES[:3]):
        return {**r, **dict.fromkeys(_DIFFERENCES, 0.0)}
    return r


def _verdict(m, r) -> str:
    """``"better"``, ``"worse"``, ``"higher"``, ``"lower"`` or ``"not distinguishable"``."""
    return m.assess(r["difference_low"], r["difference_high"])


def _css(verdict) -> str:
    return {"better": "better", "worse": "worse", "not distinguishable": "same"}.get(verdict, "neither")


def _change_text(shown, r, level) -> str:
    """``+5.4 pts, 95% CI [+4.6, +6.1]`` or ``−257 thousand EUR (−35.3%), 95% CI [−278, −237]``."""
    m, f = shown.m, shown.factor
    d, lo, hi = f * r["difference"], f * r["difference_low"], f * r["difference_high"]
    if m.change_in_points:
        c, clo, chi, _ = shown.change(r)
        return (f"{format_number(c, among=(clo, chi), sign=True)} pts, {level:.0%} CI "
                f"{_interval(clo, chi, among=(c,), sign=True)}")
    c = 100 * r["relative"]
    unit = shown.unit.replace(", total of", " over")
    return (f"{format_number(d, among=(lo, hi), sign=True)} {unit} "
            f"({format_number(c, among=(100 * r['relative_low'], 100 * r['relative_high']), sign=True)}%), "
            f"{level:.0%} CI {_interval(lo, hi, among=(d,), sign=True)}")


def _findings(result, settings, summary) -> str:
    rows = {(r["metric"], r["scenario"]): r for r in summary}
    others = [n for n in dict.fromkeys(r["metric"] for r in summary) if n != settings["focus"]]
    focus = _Shown(result, settings["focus"], settings)
    items = []
    for scenario in result.scenarios:
        if scenario == result.baseline:
            continue
        r = rows.get((settings["focus"], scenario))
        if r is None:
            r = _summary_row(result, settings["focus"], scenario, settings["level"])
        r = _denoised(r)
        verdict = _verdict(focus.m, r)
        if verdict == "not distinguishable":
            how = f'<span class="same">not distinguishable from</span> {_e(result.baseline)}'
        else:
            side = "higher" if r["difference"] > 0 else "lower"
            how = (f'{side} than {_e(result.baseline)}' if verdict in ("higher", "lower") else
                   f'<span class="{verdict}">{side} than {_e(result.baseline)} \u2014 {verdict}</span>')
        text = [f'<li><strong>{_e(scenario)}</strong>: {_e(_lower(focus.m.label))} {how}: '
                f'{_e(_change_text(focus, r, settings["level"]))}.']
        groups = {}
        for name in others:
            o = _denoised(rows[(name, scenario)])
            v = _verdict(METRICS[name], o)
            shown = _Shown(result, name, settings)
            c, clo, chi, suffix = shown.change(o)  # printed as in the table: the interval sets the decimals
            groups.setdefault(v, []).append(f"{_lower(METRICS[name].label)} "
                                            f"({format_number(c, among=(clo, chi), sign=True)}{suffix})"
                                            if v != "not distinguishable" else _lower(METRICS[name].label))
        parts = [f'<span class="{_css(v)}">{v}</span>: {_e(", ".join(groups[v]))}'
                 for v in ("better", "worse", "higher", "lower", "not distinguishable") if v in groups]
        if parts:
            text.append(f' Also {"; ".join(parts)}.')
        text.append(f' <span class="payback">{_e(_payback_text(result, scenario, settings))}</span>')
        items.append("".join(text) + "</li>")
    return f'<ul class="findings">{"".join(items)}</ul>' if items else ""


def _payback_text(result, scenario, settings) -> str:
    """The payback sentence of :meth:`~spchain.ExperimentResult.payback` for the focus KPI, or profit."""
    m = METRICS[settings["focus"]]
    name = m.name if m.is_flow and m.better == "higher" else "profit"
    p = result.payback(scenario, metric=name, level=settings["level"])
    text = str(p)
    return text[:1].upper() + text[1:]


def _summary_row(result, name, scenario, level):
    """One KPI's row against the baseline (for a focus KPI that is not in the table)."""
    return next(r for r in summary_rows(result, [name], level) if r["scenario"] == scenario)


def _lower(label: str) -> str:
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _scenario_table(result, settings) -> str:
    rows = []
    for scenario in result.experiment.scenarios:
        changes = "; ".join(
            f"{c.path} = {c.value:g}" if isinstance(c.value, float) else f"{c.path} = {c.value}"
            for _, c in scenario.changes)
        weeks = sorted({c.at_week for _, c in scenario.changes})
        when = ", ".join(f"week {w}" for w in weeks) if weeks else ""
        tag = " (baseline)" if scenario.name == result.baseline else ""
        description = settings["descriptions"].get(scenario.name, "")
        rows.append(f"<tr><td><strong>{_e(scenario.name)}</strong>{tag}</td><td>{_e(description)}</td>"
                    f"<td><code>{_e(changes or 'no changes')}</code></td><td>{_e(when)}</td></tr>")
    return ("<table><thead><tr><th>scenario</th><th>description</th><th>changes</th><th>from</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")




def _results_table(result, settings, summary) -> str:
    pct = f"{settings['level']:.0%}"
    head = (f'<thead><tr><th>KPI</th><th>scenario</th><th class="num">mean</th><th class="num">{pct} CI</th>'
            f'<th class="num">difference vs {_e(result.baseline)}</th><th class="num">{pct} CI</th>'
            f'<th class="num">change</th><th class="num">{pct} CI</th><th>reading</th></tr></thead>')
    groups = {}
    for r in summary:
        groups.setdefault(r["metric"], []).append(r)
    bodies = []
    for name, group in groups.items():
        shown = _Shown(result, name, settings)
        f = shown.factor
        rows = []
        for i, r in enumerate(group):
            kpi = (f'<td class="kpi">{_e(r["label"])}<span>{_e(shown.unit)}</span></td>' if i == 0 else "<td></td>")
            mean, lo, hi = f * r["mean"], f * r["ci_low"], f * r["ci_high"]
            cells = [kpi, f"<td>{_e(r['scenario'])}</td>", _num(mean, raw=r["mean"], among=(lo, hi)),
                     _ci(lo, hi, among=(mean,))]
            if r["scenario"] == result.baseline:
                cells += ['<td class="num same">baseline</td>', "<td></td>", "<td></td>", "<td></td>", "<td></td>"]
            else:
                raw_change = shown.change(r)[0] if shown.m.change_in_points else r["relative"]
                raw_difference, r = r["difference"], _denoised(r)
                v = _verdict(shown.m, r)
                cls = _css(v)
                d, dlo, dhi = f * r["difference"], f * r["difference_low"], f * r["difference_high"]
                c, clo, chi, suffix = shown.change(r)
                each = "%" if suffix == "%" else ""
                cells += [_num(d, raw=raw_difference, among=(dlo, dhi), sign=True, cls=f"num {cls}"),
                          _ci(dlo, dhi, among=(d,), sign=True),
                          _num(c, raw=raw_change, among=(clo, chi), sign=True, cls=f"num {cls}", suffix=suffix),
                          _ci(clo, chi, among=(c,), sign=True, each=each, suffix="" if each else suffix),
                          f'<td class="{cls}">{_e(v)}</td>']
            rows.append(f'<tr data-metric="{_e(r["metric"])}" data-scenario="{_e(r["scenario"])}">'
                        f'{"".join(cells)}</tr>')
        bodies.append(f'<tbody class="kpi">{"".join(rows)}</tbody>')
    return f'<table class="results">{head}{"".join(bodies)}</table>'


def _returns_table(result, settings, returns) -> str:
    if not returns:
        return "<p>Only one scenario: nothing to compare.</p>"
    pct = f"{settings['level']:.0%}"
    money = money_unit(settings["currency"], settings["money_scale"])
    f = 1.0 / MONEY_SCALES[settings["money_scale"]][0]
    rows = []
    for r in returns:
        roi = (f'{_num(r["roi"], among=(r["roi_low"], r["roi_high"]), sign=True)}'
               f'{_ci(r["roi_low"], r["roi_high"], among=(r["roi"],), sign=True)}' if math.isfinite(r["roi"]) else
               f'<td class="num">{_DASH}</td><td class="num">no cost given</td>')
        cells = [_num(f * r["cost"], raw=r["cost"])]
        for k in ("gain", "net"):
            v, lo, hi = f * r[k], f * r[f"{k}_low"], f * r[f"{k}_high"]
            cells += [_num(v, raw=r[k], among=(lo, hi), sign=True), _ci(lo, hi, among=(v,), sign=True)]
        rows.append(f'<tr data-scenario="{_e(r["scenario"])}"><td>{_e(r["scenario"])}</td>{"".join(cells)}'
                    f'{roi}</tr>')
    head = (f'<thead><tr><th>scenario</th><th class="num">cost (PV, {_e(money)})</th>'
            f'<th class="num">profit gain (PV, {_e(money)})</th><th class="num">{pct} CI</th>'
            f'<th class="num">net ({_e(money)})</th><th class="num">{pct} CI</th>'
            f'<th class="num">ROI (net / cost)</th><th class="num">{pct} CI</th></tr></thead>')
    i = result.experiment.params[result.baseline].economics.discount_rate
    return (f'<table class="returns">{head}<tbody>{"".join(rows)}</tbody></table>'
            f"<p class=\"meta\">Profit differences against {_e(result.baseline)} over weeks "
            f"{result.warmup + 1}-{result.horizon}, paired by replication and discounted at {i:.1%} a year to "
            f"the start, in {_e(money)}; the model's profit already includes running costs (wages, tools spend, "
            f"hiring). The cost is the one-off cost the model does not see, from the scenario file, discounted "
            f"from the scenario's first change.</p>")


def _figure(chart) -> str:
    data = base64.b64encode(chart["png"]).decode("ascii")
    return (f'<figure id="fig-{_e(chart["slug"])}"><img alt="{_e(chart["title"])}" '
            f'src="data:image/png;base64,{data}"><figcaption><strong>{_e(chart["title"])}.</strong> '
            f'{_e(chart["caption"])} Also in <code>charts/{_e(chart["slug"])}.png</code> and '
            f'<code>.svg</code>.</figcaption></figure>')


def _flat(d, prefix=""):
    for k, v in d.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            yield from _flat(v, path)
        else:
            yield path, v


def _manifest(result, settings) -> str:
    m = result.manifest or {}
    e = result.experiment
    sessions = m.get("sessions", [])
    srows = "".join(
        f'<tr><td>{_e(x.get("session", ""))}</td><td>{_e(x.get("started", ""))}</td>'
        f'<td>{_e(x.get("finished", ""))}</td><td>{_e(x.get("executor", ""))}</td>'
        f'<td class="num">{_e(x.get("n_runs", ""))}</td>{_num(x.get("wall_seconds", math.nan))}</tr>'
        for x in sessions)
    walls = [w for scenario in result.scenarios for w in result.wall_seconds[scenario].tolist()]
    seed_lists = {scenario: ", ".join(str(e.seed_of(scenario, r)) for r in range(e.n_replications))
                  for scenario in result.scenarios}
    seeds = "".join(f"<tr><td>{_e(scenario)}</td><td><code>{_e(text)}</code></td></tr>"
                    for scenario, text in seed_lists.items())
    per_run = format_number(sum(walls) / max(len(walls), 1))
    platform = m.get("platform", {})
    params = "".join(f"<div><code>{_e(p)}</code><span>{_e(v)}</span></div>"
                     for p, v in sorted(_flat({k: v for k, v in e.base.to_dict().items() if k != "schedule"})))
    version = m.get("spchain_version", "")
    return f"""
<table><tbody>
<tr><th>spchain version</th><td>{_e(version)}</td></tr>
<tr><th>scenario file</th><td><code>{_e(settings.get('source') or '-')}</code></td></tr>
<tr><th>base parameters</th><td>{_e(settings.get('base') or '-')}</td></tr>
<tr><th>experiment</th><td>{len(e.names)} scenario(s) x {e.n_replications} replication(s), {e.horizon} weeks,
warm-up {e.warmup} weeks, root seed {e.seed}, {'common' if e.crn else 'independent'} random numbers</td></tr>
<tr><th>definition hash</th><td><code>{_e(m.get('definition_hash', ''))}</code></td></tr>
<tr><th>store created</th><td>{_e(m.get('created', ''))}</td></tr>
<tr><th>platform</th><td>{_e(', '.join(f'{k} {v}' for k, v in platform.items()))}</td></tr>
<tr><th>run time</th><td>{len(walls)} runs, {format_number(sum(walls))} s of simulation, {per_run} s per run</td></tr>
</tbody></table>
<h3>Sessions</h3>
<table><thead><tr><th>session</th><th>started</th><th>finished</th><th>executor</th><th class="num">runs</th>
<th class="num">wall time (s)</th></tr></thead><tbody>{srows}</tbody></table>
<h3>Seeds of each run (replication 0, 1, ...)</h3>
<table><tbody>{seeds}</tbody></table>
<h3>Base parameters</h3>
<div class="params">{params}</div>
"""


def render_html(result, settings, *, summary, returns, charts) -> str:
    """The report page as one string of HTML.

    Parameters
    ----------
    result : ExperimentResult
    settings : dict
        As for :func:`spchain.apps.report.write_report`.
    summary, returns : list of dict
        Rows of ``summary.csv`` and ``returns.csv``.
    charts : list of dict
        ``slug``, ``title``, ``caption`` and ``png`` (bytes) of each chart.
    """
    e = result.experiment
    diagrams = "".join(_figure(c) for c in charts if c["slug"].startswith("chain-diagram"))
    others = "".join(_figure(c) for c in charts if not c["slug"].startswith("chain-diagram"))
    findings = _findings(result, settings, summary) or "<p>One scenario: see the tables and charts below.</p>"
    money = money_unit(settings["currency"], settings["money_scale"])
    level = f"{settings['level']:.0%}"
    meta = (f"{len(e.names)} scenario(s) x {e.n_replications} replication(s) of {e.horizon} weeks, statistics over\n"
            f"weeks {e.warmup + 1}-{e.horizon}, seed {e.seed}; base: {_e(settings.get('base') or '-')}.\n"
            f"Made with spchain from <code>{_e(settings.get('source') or 'code')}</code>.")
    at_a_glance = f"""
<p>{_e(METRICS[settings['focus']].label)} against {_e(result.baseline)}, each run's total over the weeks after the
warm-up, paired by replication (common random numbers), with {level} confidence intervals:</p>
{findings}"""
    results = f"""
<p class="meta">Mean over {e.n_replications} replications of each run's value over weeks {e.warmup + 1}-{e.horizon}
(flows summed, stocks and ratios averaged), Student-t intervals; differences and changes are paired
against {_e(result.baseline)}. Changes of scores and shares are in points (a share from 80% to 83% is
+3 pts), changes of levels in percent of {_e(result.baseline)}; amounts of money are in {_e(money)}.
The same numbers, unrounded (shares as fractions, amounts in {_e(settings['currency'])}), are in
<code>summary.csv</code>.</p>
<p class="meta legend">Reading, by what each KPI is for (not by the sign of the change):
<span class="better">better</span> and <span class="worse">worse</span> where the {level}
interval of the difference excludes 0; higher or lower for KPIs that are neither good nor bad in
themselves (volumes, utilisation, work pressure); <span class="same">not distinguishable</span> where
the interval covers 0. Scenarios whose intervals overlap can still differ: the paired difference
decides.</p>
{_results_table(result, settings, summary)}"""
    sections = [("findings", "At a glance", at_a_glance),
                ("scenarios", "Scenarios", _scenario_table(result, settings)),
                ("results", "Results by scenario", results),
                ("returns", "Return on each intervention", _returns_table(result, settings, returns)),
                ("chain", "The chain", diagrams), ("charts", "Charts", others),
                ("manifest", "Manifest", _manifest(result, settings))]
    footer = """Tidy data: <code>results.csv</code> (every KPI, every week, every run), <code>totals.csv</code>,
<code>summary.csv</code>, <code>returns.csv</code>; the full manifest in <code>manifest.json</code>; runs in
<code>runs.sqlite</code> (rebuild this page with <code>spchain report DIR</code>)."""
    return page(settings["title"], meta=meta, sections=sections, footer=footer,
                generator=(result.manifest or {}).get("spchain_version", ""),
                page_breaks=("results", "chain", "charts", "manifest"))


# ------------------------------------------------- sensitivity and selection pages
def page(title, *, meta, sections, footer="", generator="", page_breaks=()) -> str:
    """A self-contained report page in the house style (:data:`CSS`): header, navigation, sections.

    The shell of every report page: the experiment report
    (:func:`render_html`), the sensitivity and the selection reports.

    Parameters
    ----------
    title : str
        Page title and heading (escaped here).
    meta : str
        HTML of the line under the heading.
    sections : sequence of tuple
        ``(id, heading, html)`` of each section, in order; each is linked from the navigation.
    footer : str
        HTML of the footer.
    generator : str
        spchain's version, for the ``generator`` meta tag.
    page_breaks : sequence of str
        Ids of the sections that start on a new page when printed.

    Returns
    -------
    str
    """
    nav = "".join(f'<a href="#{_e(k)}">{_e(t)}</a>' for k, t, _ in sections)
    heading = {k: '<h2 class="page">' if k in page_breaks else "<h2>" for k, _, _ in sections}
    body = "\n".join(f'<section id="{_e(k)}">{heading[k]}{_e(t)}</h2>{text}</section>' for k, t, text in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="spchain {_e(generator)}">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>{_e(title)}</h1>
<p class="meta">{meta}</p>
</header>
<nav>{nav}</nav>
{body}
<footer>{footer}</footer>
</main>
</body>
</html>
"""


def _settings_table(data) -> str:
    """A two-column table of a (nested) mapping, keys as dotted paths."""
    rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in _flat(data)
                   if v is not None)
    return f"<table><tbody>{rows}</tbody></table>"


def _unit_words(kpi, settings) -> str:
    """`` EUR``, `` min``, `` visits``...: the unit of a KPI's per-run value, empty for scales and shares."""
    m = METRICS.get(kpi)
    if m is None:
        return ""
    if m.is_money:
        return f" {money_unit(settings['currency'], 'units')}"
    unit = m.unit.replace("/week", "")
    return "" if unit in ("0-1", "1-5", "share", "ratio") or m.is_share else f" {unit}"


def _study_meta(settings, what) -> str:
    weeks = (f"KPI over weeks {settings['warmup'] + 1}-{settings['horizon']} of {settings['horizon']}-week runs"
             if settings.get("horizon") is not None and settings.get("warmup") is not None else "")
    return (f"{_e(what)}{'; ' + _e(weeks) if weeks else ''}; base: {_e(settings.get('base') or '-')}. "
            f"Made with spchain from <code>{_e(settings.get('source') or 'code')}</code>.")


def _sensitivity_findings(result, settings) -> str:
    sobol = hasattr(result, "first_order")
    kpi, unit = settings["kpi_label"], _unit_words(settings.get("kpi"), settings)
    per_window = result.windows is not None
    over = f", averaged over {len(result.windows)} windows of weeks" if per_window else ""
    items = []
    if sobol:
        s1 = result.first_order if not per_window else result.first_order.mean(axis=1)
        st = result.total_order if not per_window else result.total_order.mean(axis=1)
        ci = None if per_window else result.conf_int(1 - settings["level"])
        for i in np.argsort(-st, kind="stable"):
            if ci is not None:
                (a, b), (c, d) = ci["first_order"][i], ci["total_order"][i]
                text = (f"<strong>{_e(result.names[i])}</strong> explains {_pct(s1[i])} of the variance of "
                        f"{_e(_lower(kpi))} across the ranges on its own ({settings['level']:.0%} interval {_pct(a)} to "
                        f"{_pct(b)}) and {_pct(st[i])} with its interactions ({_pct(c)} to {_pct(d)}).")
            else:
                text = (f"<strong>{_e(result.names[i])}</strong>: first-order index {_pct(s1[i])}, total "
                        f"{_pct(st[i])}{_e(over)}.")
            items.append(text)
        rest = 1 - float(np.sum(s1))
        tail = (f"<p>The first-order indices add up to {_pct(1 - rest)}: the other {_pct(max(rest, 0.0))} of the "
                f"variance comes from factors acting together.</p>" if not per_window else "")
        if not per_window:
            noise = result.noise_variance / max(result.output_variance, 1e-300)
            tail += (f"<p class=\"meta\">Replication noise of the means was {_pct(noise)} of the variance across "
                     f"the ranges and is taken out of the indices; {result.n_replications} replications per "
                     f"point, {result.n_runs:,} runs.</p>")
        return f'<ul class="findings">{"".join(f"<li>{t}</li>" for t in items)}</ul>{tail}'
    mu_star = result.mu_star if not per_window else result.mu_star.mean(axis=1)
    sigma = result.sigma if not per_window else np.nanmean(result.sigma, axis=1) if result.sigma.size else result.sigma
    conf = result.mu_star_conf if not per_window else result.mu_star_conf.mean(axis=1)
    top = float(np.max(mu_star)) if mu_star.size else 0.0
    for i in np.argsort(-mu_star, kind="stable"):
        interaction = (" Its effect depends on where the other factors are (sigma above mu*: interactions or a "
                       "non-linear effect)." if np.isfinite(sigma[i]) and sigma[i] > mu_star[i] else "")
        items.append(f"<strong>{_e(result.names[i])}</strong>: moving it across its range moves "
                     f"{_e(_lower(kpi))} by {_e(format_number(mu_star[i], among=(conf[i],)))}{_e(unit)} on average "
                     f"(mu*, &plusmn;{_e(format_number(conf[i], among=(mu_star[i],)))}){_e(over)}.{interaction}")
    small = [result.names[i] for i in range(len(result.names)) if mu_star[i] < 0.05 * top]
    tail = (f"<p>Under 5% of the largest effect, so candidates to hold fixed: "
            f"{_e(', '.join(small))}.</p>" if small else "")
    tail += (f"<p class=\"meta\">{result.n_trajectories} trajectories x {result.n_replications} replications per "
             f"point, {result.n_runs:,} runs; mu* is the change of {_e(_lower(kpi))}"
             f"{' (' + _e(unit.strip()) + ')' if unit else ''} across each factor's full range.</p>")
    return f'<ul class="findings">{"".join(f"<li>{t}</li>" for t in items)}</ul>{tail}'


def _pct(x) -> str:
    return _e(format_number(100 * float(x), digits=2) + "%") if math.isfinite(x) else _DASH


def _indices_table(result, settings, rows) -> str:
    sobol = hasattr(result, "first_order")
    pct = f"{settings['level']:.0%}"
    if result.windows is not None:  # one summary row per factor; every window is in indices.csv
        keys = ("first_order", "total_order") if sobol else ("mu_star", "mu")
        head = "".join(f'<th class="num">{k.replace("_", " ")} {w}</th>' for k in keys
                       for w in ("mean", "lowest", "highest"))
        body = ""
        for name in result.names:
            mine = [r for r in rows if r["factor"] == name]
            cells = ""
            for k in keys:
                v = np.array([r[k] for r in mine], dtype=float)
                cells += "".join(_num(x) for x in (v.mean(), v.min(), v.max()))
            body += f"<tr><td>{_e(name)}</td>{cells}</tr>"
        return (f'<p class="meta">Over {len(result.windows)} windows of weeks; <code>indices.csv</code> holds '
                f'every window.</p><table><thead><tr><th>factor</th>{head}</tr></thead><tbody>{body}</tbody></table>')
    if sobol:
        head = (f'<th class="num">first order</th><th class="num">{pct} interval</th><th class="num">total</th>'
                f'<th class="num">{pct} interval</th>')
        body = "".join(
            f"<tr><td>{_e(r['factor'])}</td>{_num(r['first_order'], among=(r['first_order_low'], r['first_order_high']))}"
            f"{_ci(r['first_order_low'], r['first_order_high'], among=(r['first_order'],))}"
            f"{_num(r['total_order'], among=(r['total_order_low'], r['total_order_high']))}"
            f"{_ci(r['total_order_low'], r['total_order_high'], among=(r['total_order'],))}</tr>"
            for r in sorted(rows, key=lambda r: -r["total_order"]))
    else:
        head = ('<th class="num">mu*</th><th class="num">&plusmn; (interval)</th><th class="num">mu</th>'
                '<th class="num">sigma</th>')
        body = "".join(
            f"<tr><td>{_e(r['factor'])}</td>{_num(r['mu_star'], among=(r['mu_star_conf'],))}"
            f"{_num(r['mu_star_conf'], among=(r['mu_star'],))}{_num(r['mu'])}{_num(r['sigma'])}</tr>"
            for r in sorted(rows, key=lambda r: -r["mu_star"]))
    return (f'<table><thead><tr><th>factor</th>{head}</tr></thead><tbody>{body}</tbody></table>'
            f'<p class="meta">Unrounded in <code>indices.csv</code>.</p>')


def _factors_table(settings) -> str:
    factors = settings.get("factors") or {}
    if not factors:
        return ""
    groups = settings.get("groups") or {}
    member = {p: g for g, paths in groups.items() for p in paths}
    gh = "<th>group</th>" if groups else ""
    body = "".join(f'<tr><td><code>{_e(p)}</code></td><td class="num">{_e(f"{lo:g}")}</td>'
                   f'<td class="num">{_e(f"{hi:g}")}</td>'
                   + (f"<td>{_e(member.get(p, ''))}</td>" if groups else "") + "</tr>"
                   for p, (lo, hi) in factors.items())
    return (f'<h3>Factors and their ranges</h3><table><thead><tr><th>parameter</th><th class="num">low</th>'
            f'<th class="num">high</th>{gh}</tr></thead><tbody>{body}</tbody></table>')


def render_sensitivity_html(result, settings, *, rows, charts, manifest) -> str:
    """The page of a sensitivity analysis (:func:`spchain.apps.report.write_sensitivity_report`).

    Parameters
    ----------
    result : MorrisResult or SobolResult
    settings : dict
        Title, KPI, level, factors, groups, base, source... (see ``write_sensitivity_report``).
    rows : list of dict
        Rows of ``indices.csv`` (:func:`spchain.apps.report.sensitivity_rows`).
    charts : list of dict
        ``slug``, ``title``, ``caption`` and ``png`` (bytes) of each chart.
    manifest : dict
        Written to ``manifest.json``; shown as a table.
    """
    sobol = hasattr(result, "first_order")
    what = (f"Sobol' indices, n = {result.n}" if sobol else
            f"Morris screening, {result.n_trajectories} trajectories") + f", {result.n_runs:,} runs"
    sections = [
        ("findings", "At a glance", f"<p>Which factors move {_e(_lower(settings['kpi_label']))}, most first:</p>"
                                    + _sensitivity_findings(result, settings)),
        ("indices", "Indices", _indices_table(result, settings, rows) + _factors_table(settings)),
        ("charts", "Charts", "".join(_figure(c) for c in charts)),
        ("manifest", "Manifest", _settings_table(manifest)),
    ]
    footer = ("Tidy data: <code>indices.csv</code>; the full manifest in <code>manifest.json</code>; every run's "
              "output in <code>sensitivity.sqlite</code> (an interrupted analysis resumes from it with "
              "<code>--resume</code>).")
    return page(settings["title"], meta=_study_meta(settings, what), sections=sections, footer=footer,
                generator=manifest.get("spchain_version", ""))


def render_selection_html(selection, settings, *, rows, charts, manifest) -> str:
    """The page of a ranking-and-selection (:func:`spchain.apps.report.write_selection_report`).

    Parameters
    ----------
    selection : spchain.experiments.selection.Selection
    settings : dict
        Title, base, source, descriptions... (see ``write_selection_report``).
    rows : list of dict
        Rows of ``selection.csv`` (:func:`spchain.apps.report.selection_rows`).
    charts : list of dict
        ``slug``, ``title``, ``caption`` and ``png`` (bytes) of each chart.
    manifest : dict
        Written to ``manifest.json``; shown as a table.
    """
    unit = _unit_words(selection.kpi, settings)
    descriptions = settings.get("descriptions") or {}
    best = next(r for r in rows if r["chosen"])
    means = [r["mean"] for r in rows]
    body = ""
    for r in rows:
        note = ("chosen" if r["chosen"] else f"eliminated after {r['eliminated_after']} replications"
                if r["eliminated_after"] is not None else "")
        body += (f"<tr><td>{_e(r['scenario'])}<span class=\"meta\"> {_e(descriptions.get(r['scenario'], ''))}"
                 f"</span></td>{_num(r['mean'], among=means)}"
                 f"{_num(r['mean'] - best['mean'], among=means, sign=True)}"
                 f'<td class="num">{r["n_replications"]}</td><td>{_e(note)}</td></tr>')
    money = f" ({_e(unit.strip())})" if unit else ""
    table = (f'<table><thead><tr><th>scenario</th><th class="num">mean {_e(_lower(settings["kpi_label"]))}{money}</th>'
             f'<th class="num">against the chosen</th><th class="num">replications</th><th></th></tr></thead>'
             f'<tbody>{body}</tbody></table><p class="meta">Means over each scenario\'s own replications; '
             f'every run\'s output is in <code>runs.csv</code>, this table in <code>selection.csv</code>.</p>')
    findings = (f"<p><strong>Chosen: {_e(selection.best)}</strong> among {len(selection.names)} scenarios, by "
                f"{_e(_lower(settings['kpi_label']))} ({'higher' if selection.direction == 'max' else 'lower'} is "
                f"better), indifference zone {_e(format_number(selection.delta))}{_e(unit)}, "
                f"procedure {_e(selection.procedure.upper())}, {selection.n_runs:,} runs.</p>"
                f'<p class="guarantee">{_e(selection.guarantee)}</p>')
    sections = [("findings", "At a glance", findings), ("scenarios", "Scenarios", table),
                ("charts", "Charts", "".join(_figure(c) for c in charts)),
                ("manifest", "Manifest", _settings_table(manifest))]
    what = f"{selection.procedure.upper()} selection among {len(selection.names)} scenarios, {selection.n_runs:,} runs"
    footer = "Tidy data: <code>selection.csv</code>, <code>runs.csv</code>; the manifest in <code>manifest.json</code>."
    return page(settings["title"], meta=_study_meta(settings, what), sections=sections, footer=footer,
                generator=manifest.get("spchain_version", ""))
