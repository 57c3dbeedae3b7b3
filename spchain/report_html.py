"""The report's HTML page: self-contained (charts as data URIs, inline CSS), printable.

:func:`render_html` is called by :func:`spchain.report.write_report`; the
page needs no network access, reads on a screen and prints to PDF on A4
landscape pages (``@media print``: no navigation, figures and table rows
kept whole, table headers repeated).
"""

from __future__ import annotations

import base64
import html
import math

from .metrics import METRICS
from .report import csv_number, fmt_value

__all__ = ["render_html", "CSS"]

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --rule: #d0d7de; --band: #f6f8fa; --accent: #0072B2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.5 "DejaVu Sans", "Segoe UI",
       Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--accent); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p, li { max-width: 75ch; }
.meta { color: var(--muted); margin: 0; }
nav { margin: 16px 0; padding: 8px 12px; background: var(--band); border-radius: 6px; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; white-space: nowrap; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13.5px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; text-align: left; }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.first td { border-top: 2px solid #8c959f; }
td.kpi { font-weight: 600; }
td.kpi span { display: block; font-weight: 400; color: var(--muted); font-size: 12px; }
.up { color: #005a8c; } .down { color: #b34700; } .flat { color: var(--muted); }
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
@page { size: A4 landscape; margin: 12mm 12mm 14mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h2.page { break-before: page; page-break-before: always; }
  figure, tr, .params div { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  figure img { border: none; max-height: 170mm; width: auto; max-width: 100%; }
  a { color: inherit; text-decoration: none; }
  table { font-size: 9pt; }
}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _num(x, *, cls="num") -> str:
    return f'<td class="{cls}" data-value="{csv_number(x)}">{_e(fmt_value(x))}</td>'


def _ci(low, high) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return '<td class="num">\u2013</td>'
    return f'<td class="num">[{_e(fmt_value(low))}, {_e(fmt_value(high))}]</td>'


def _pct(x) -> str:
    return f"{100 * x:+.1f}%" if math.isfinite(x) else "\u2013"


def _direction(low, high) -> str:
    if math.isfinite(low) and low > 0:
        return "up"
    if math.isfinite(high) and high < 0:
        return "down"
    return "flat"


def _findings(result, s, summary) -> str:
    focus = [r for r in summary if r["metric"] == s["focus"] and r["scenario"] != result.baseline]
    if not focus:
        return ""
    m = METRICS[s["focus"]]
    items = []
    for r in focus:
        d = _direction(r["difference_low"], r["difference_high"])
        verdict = {"up": "higher than", "down": "lower than",
                   "flat": "not distinguishable from"}[d]
        items.append(f'<li><strong>{_e(r["scenario"])}</strong>: {_e(m.label.lower())} '
                     f'<span class="{d}">{verdict}</span> {_e(result.baseline)} \u2014 difference '
                     f'{_e(fmt_value(r["difference"]))} {_e(r["unit"])} '
                     f'({_e(_pct(r["relative"]))}), {s["level"]:.0%} CI [{_e(fmt_value(r["difference_low"]))}, '
                     f'{_e(fmt_value(r["difference_high"]))}].</li>')
    return f'<ul class="findings">{"".join(items)}</ul>'


def _scenario_table(result, s) -> str:
    rows = []
    for sc in result.experiment.scenarios:
        changes = "; ".join(
            f"{c.path} = {c.value:g}" if isinstance(c.value, float) else f"{c.path} = {c.value}"
            for _, c in sc.changes)
        weeks = sorted({c.at_week for _, c in sc.changes})
        when = ", ".join(f"week {w}" for w in weeks) if weeks else ""
        tag = " (baseline)" if sc.name == result.baseline else ""
        rows.append(f"<tr><td><strong>{_e(sc.name)}</strong>{tag}</td><td>{_e(s['descriptions'].get(sc.name, ''))}"
                    f"</td><td><code>{_e(changes or 'no changes')}</code></td><td>{_e(when)}</td></tr>")
    return ("<table><thead><tr><th>scenario</th><th>description</th><th>changes</th><th>from</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _results_table(result, s, summary) -> str:
    pct = f"{s['level']:.0%}"
    head = (f'<thead><tr><th>KPI</th><th>scenario</th><th class="num">mean</th><th class="num">{pct} CI</th>'
            f'<th class="num">difference vs {_e(result.baseline)}</th><th class="num">{pct} CI</th>'
            f'<th class="num">change</th><th class="num">{pct} CI</th></tr></thead>')
    rows = []
    for r in summary:
        first = r["scenario"] == result.scenarios[0]
        kpi = (f'<td class="kpi">{_e(r["label"])}<span>{_e(r["unit"])}</span></td>' if first else "<td></td>")
        is_base = r["scenario"] == result.baseline
        d = _direction(r["difference_low"], r["difference_high"])
        cells = [kpi, f"<td>{_e(r['scenario'])}</td>", _num(r["mean"]), _ci(r["ci_low"], r["ci_high"])]
        if is_base:
            cells += ['<td class="num flat">baseline</td>', "<td></td>", "<td></td>", "<td></td>"]
        else:
            cells += [_num(r["difference"], cls=f"num {d}"), _ci(r["difference_low"], r["difference_high"]),
                      f'<td class="num {d}" data-value="{csv_number(r["relative"])}">{_e(_pct(r["relative"]))}</td>',
                      f'<td class="num">[{_e(_pct(r["relative_low"]))}, {_e(_pct(r["relative_high"]))}]</td>']
        rows.append(f'<tr class="{"first" if first else ""}" data-metric="{_e(r["metric"])}" '
                    f'data-scenario="{_e(r["scenario"])}">{"".join(cells)}</tr>')
    return f'<table class="results">{head}<tbody>{"".join(rows)}</tbody></table>'


def _returns_table(result, s, returns) -> str:
    if not returns:
        return "<p>Only one scenario: nothing to compare.</p>"
    pct = f"{s['level']:.0%}"
    rows = []
    for r in returns:
        roi = (f'{_num(r["roi"])}{_ci(r["roi_low"], r["roi_high"])}' if math.isfinite(r["roi"]) else
               '<td class="num">\u2013</td><td class="num">no cost given</td>')
        rows.append(f'<tr data-scenario="{_e(r["scenario"])}"><td>{_e(r["scenario"])}</td>{_num(r["cost"])}'
                    f'{_num(r["gain"])}{_ci(r["gain_low"], r["gain_high"])}{_num(r["net"])}'
                    f'{_ci(r["net_low"], r["net_high"])}{roi}</tr>')
    head = (f'<thead><tr><th>scenario</th><th class="num">cost (PV)</th><th class="num">profit gain (PV)</th>'
            f'<th class="num">{pct} CI</th><th class="num">net</th><th class="num">{pct} CI</th>'
            f'<th class="num">ROI (net / cost)</th><th class="num">{pct} CI</th></tr></thead>')
    i = result.experiment.params[result.baseline].economics.discount_rate
    return (f'<table class="returns">{head}<tbody>{"".join(rows)}</tbody></table>'
            f"<p class=\"meta\">Profit differences against {_e(result.baseline)} over weeks "
            f"{result.warmup + 1}-{result.horizon}, paired by replication and discounted at {i:.1%} a year to "
            f"the start; the model's profit already includes running costs (wages, tools spend, hiring). "
            f"The cost is the one-off cost the model does not see, from the scenario file, discounted from "
            f"the scenario's first change.</p>")


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


def _manifest(result, s) -> str:
    m = result.manifest or {}
    e = result.experiment
    sessions = m.get("sessions", [])
    srows = "".join(
        f'<tr><td>{_e(x.get("session", ""))}</td><td>{_e(x.get("started", ""))}</td>'
        f'<td>{_e(x.get("finished", ""))}</td><td>{_e(x.get("executor", ""))}</td>'
        f'<td class="num">{_e(x.get("n_runs", ""))}</td>{_num(x.get("wall_seconds", math.nan))}</tr>'
        for x in sessions)
    walls = [w for sc in result.scenarios for w in result.wall_seconds[sc].tolist()]
    seed_lists = {sc: ", ".join(str(e.seed_of(sc, r)) for r in range(e.n_replications)) for sc in result.scenarios}
    seeds = "".join(f"<tr><td>{_e(sc)}</td><td><code>{_e(text)}</code></td></tr>" for sc, text in seed_lists.items())
    per_run = fmt_value(sum(walls) / max(len(walls), 1))
    platform = m.get("platform", {})
    params = "".join(f"<div><code>{_e(p)}</code><span>{_e(v)}</span></div>"
                     for p, v in sorted(_flat({k: v for k, v in e.base.to_dict().items() if k != "schedule"})))
    version = m.get("spchain_version", "")
    return f"""
<table><tbody>
<tr><th>spchain version</th><td>{_e(version)}</td></tr>
<tr><th>scenario file</th><td><code>{_e(s.get('source') or '-')}</code></td></tr>
<tr><th>base parameters</th><td>{_e(s.get('base') or '-')}</td></tr>
<tr><th>experiment</th><td>{len(e.names)} scenario(s) x {e.n_replications} replication(s), {e.horizon} weeks,
warm-up {e.warmup} weeks, root seed {e.seed}, {'common' if e.crn else 'independent'} random numbers</td></tr>
<tr><th>definition hash</th><td><code>{_e(m.get('definition_hash', ''))}</code></td></tr>
<tr><th>store created</th><td>{_e(m.get('created', ''))}</td></tr>
<tr><th>platform</th><td>{_e(', '.join(f'{k} {v}' for k, v in platform.items()))}</td></tr>
<tr><th>run time</th><td>{len(walls)} runs, {fmt_value(sum(walls))} s of simulation, {per_run} s per run</td></tr>
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
        As for :func:`spchain.report.write_report`.
    summary, returns : list of dict
        Rows of ``summary.csv`` and ``returns.csv``.
    charts : list of dict
        ``slug``, ``title``, ``caption`` and ``png`` (bytes) of each chart.
    """
    s, e = settings, result.experiment
    first = [c for c in charts if c["slug"].startswith("chain-diagram")]
    rest = [c for c in charts if not c["slug"].startswith("chain-diagram")]
    sections = [("findings", "At a glance"), ("scenarios", "Scenarios"), ("results", "Results by scenario"),
                ("returns", "Return on each intervention"), ("chain", "The chain"), ("charts", "Charts"),
                ("manifest", "Manifest")]
    nav = "".join(f'<a href="#{k}">{_e(t)}</a>' for k, t in sections)
    findings = _findings(result, s, summary) or "<p>One scenario: see the tables and charts below.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="spchain {_e((result.manifest or {}).get('spchain_version', ''))}">
<title>{_e(s['title'])}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>{_e(s['title'])}</h1>
<p class="meta">{len(e.names)} scenario(s) x {e.n_replications} replication(s) of {e.horizon} weeks, statistics over
weeks {e.warmup + 1}-{e.horizon}, seed {e.seed}; base: {_e(s.get('base') or '-')}.
Made with spchain from <code>{_e(s.get('source') or 'code')}</code>.</p>
</header>
<nav>{nav}</nav>
<section id="findings"><h2>At a glance</h2>
<p>{_e(METRICS[s['focus']].label)} against {_e(result.baseline)}, each run's total over the weeks after the
warm-up, paired by replication (common random numbers), with {s['level']:.0%} confidence intervals:</p>
{findings}</section>
<section id="scenarios"><h2>Scenarios</h2>{_scenario_table(result, s)}</section>
<section id="results"><h2 class="page">Results by scenario</h2>
<p class="meta">Mean over {e.n_replications} replications of each run's value over weeks {e.warmup + 1}-{e.horizon}
(flows summed, stocks and ratios averaged), Student-t intervals; differences and changes are paired
against {_e(result.baseline)}. The same numbers, unrounded, are in <code>summary.csv</code>.</p>
{_results_table(result, s, summary)}</section>
<section id="returns"><h2>Return on each intervention</h2>{_returns_table(result, s, returns)}</section>
<section id="chain"><h2 class="page">The chain</h2>{''.join(_figure(c) for c in first)}</section>
<section id="charts"><h2 class="page">Charts</h2>{''.join(_figure(c) for c in rest)}</section>
<section id="manifest"><h2 class="page">Manifest</h2>{_manifest(result, s)}</section>
<footer>Tidy data: <code>results.csv</code> (every KPI, every week, every run), <code>totals.csv</code>,
<code>summary.csv</code>, <code>returns.csv</code>; the full manifest in <code>manifest.json</code>; runs in
<code>runs.sqlite</code> (rebuild this page with <code>spchain report DIR</code>).</footer>
</main>
</body>
</html>
"""
