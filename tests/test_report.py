"""The report folder: every file, an HTML page that parses, embeds its images and agrees with the CSV."""

from __future__ import annotations

import base64
import csv
import json
from html.parser import HTMLParser

import numpy as np
import pytest

from spchain import Experiment, Scenario, preset
from spchain.metrics import METRICS
from spchain.apps.report import format_number, rebuild_report, write_report

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """Collects what the tests look at and checks that every element is closed in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.images, self.links, self.rows = [], [], [], [], []
        self.scripts = self.styles = 0
        self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "img":
            self.images.append(a)
        if tag in ("a", "link"):
            self.links.append(a.get("href", ""))
        if tag == "script":
            self.scripts += 1
        if tag == "style":
            self.styles += 1
        if tag == "tr":
            self._row = dict(attrs=a, cells=[])
        if tag == "td" and self._row is not None:
            self._cell = dict(attrs=a, text="")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(self._cell)
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    experiment = Experiment(preset("workshop"), scenarios=[
        Scenario("baseline"),
        Scenario("more IT", levers={"internal.departments.it.n_staff": 3}, at_week=3),
        Scenario("pay <5%> & more", levers={"workforce.pay_index": 1.05}, at_week=3)],
        n_replications=3, horizon=12, warmup=2, seed=7)
    result = experiment.run(store=out / "runs.sqlite")
    settings = dict(title="Test <report>", metrics=["employee_satisfaction", "nps", "revenue", "profit"],
                    focus="profit", costs={"more IT": 5000.0}, descriptions={"more IT": "a third IT employee"},
                    base="preset 'workshop'", source="test.toml")
    files = write_report(result, out, settings=settings)
    page = Page()
    page.feed(files["html"].read_text(encoding="utf-8"))
    page.close()
    return dict(out=out, result=result, files=files, page=page, settings=settings)


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_file_is_written(report):
    out = report["out"]
    for name in ("report.html", "results.csv", "totals.csv", "summary.csv", "returns.csv", "manifest.json",
                 "report-settings.json"):
        assert (out / name).is_file(), name
    # every scenario changes one parameter, so the design is one-at-a-time: a tornado chart too
    for slug in ("chain-diagram", "chain-diagram-more-it", "chain-diagram-pay-5-more", "dashboard",
                 "comparison", "fan-profit", "tornado-profit"):
        for fmt in ("png", "svg"):
            assert (out / "charts" / f"{slug}.{fmt}").stat().st_size > 1000, (slug, fmt)
    assert (out / "charts" / "chain-diagram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_parses_and_is_self_contained(report):
    page = report["page"]
    assert not page.errors, page.errors[:5]
    assert page.stack == [], page.stack
    assert page.styles == 1 and page.scripts == 0
    assert len(page.images) == 7
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,"), img["src"][:40]
        png = base64.b64decode(img["src"].split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert img.get("alt")
    assert all(href.startswith("#") for href in page.links), page.links
    text = report["files"]["html"].read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "@import" not in text
    assert "Test &lt;report&gt;" in text and "pay &lt;5%&gt; &amp; more" in text
    assert "@media print" in text and "@page" in text


def test_html_scenario_table_holds_the_csv_values(report):
    summary = _csv(report["out"] / "summary.csv")
    assert len(summary) == 4 * 3
    rows = {(r["attrs"].get("data-metric"), r["attrs"].get("data-scenario")): r["cells"]
            for r in report["page"].rows if "data-metric" in r["attrs"]}
    assert len(rows) == len(summary)
    for row in summary:
        m = METRICS[row["metric"]]
        k = 100.0 if m.is_share else 1.0  # no shares here: money in the default units, scores as they are
        cells = rows[(row["metric"], row["scenario"])]
        values = [c["attrs"].get("data-value") for c in cells if "data-value" in c["attrs"]]
        assert values[0] == row["mean"]
        shown = [c["text"] for c in cells]
        mean, low, high = (k * float(row[c]) for c in ("mean", "ci_low", "ci_high"))
        assert format_number(mean, among=(low, high)) in shown
        both = (mean, low, high)
        assert f"[{format_number(low, among=both)}, {format_number(high, among=both)}]" in shown
        if row["scenario"] != "baseline":
            d, dlo, dhi = (float(row[c]) for c in ("difference", "difference_low", "difference_high"))
            change = m.points_scale * d if m.change_in_points else float(row["relative"])
            assert values[1:] == [row["difference"], repr(change)]
            assert format_number(d, among=(dlo, dhi), sign=True) in shown
            assert shown[-1] == m.assess(dlo, dhi)


def test_csv_values_are_the_results(report):
    result, out = report["result"], report["out"]
    summary = {(r["metric"], r["scenario"]): r for r in _csv(out / "summary.csv")}
    for name in ("nps", "profit"):
        for s in result.scenarios:
            e = result.estimate(name, scenario=s)
            assert float(summary[(name, s)]["mean"]) == e.mean
            assert float(summary[(name, s)]["ci_high"]) == e.high
    d = result.difference("profit", scenario="more IT")
    assert float(summary[("profit", "more IT")]["difference_low"]) == d.low
    results = _csv(out / "results.csv")
    assert len(results) == 3 * 3 * 12 * len(METRICS)
    nps = [float(r["value"]) for r in results if r["scenario"] == "more IT" and r["replication"] == "1"
           and r["metric"] == "nps"]
    np.testing.assert_array_equal(nps, result.kpi("nps", scenario="more IT")[1])
    totals = [r for r in _csv(out / "totals.csv") if r["metric"] == "revenue" and r["scenario"] == "baseline"]
    assert [float(r["value"]) for r in totals] == result.totals("revenue").tolist()
    assert [int(r["seed"]) for r in totals] == [result.experiment.seed_of("baseline", i) for i in range(3)]
    returns = {r["scenario"]: r for r in _csv(out / "returns.csv")}
    roi = result.roi("more IT", cost=5000.0)
    assert float(returns["more IT"]["roi"]) == roi.roi.mean
    assert returns["pay <5%> & more"]["roi"] == ""  # no cost given: no ratio


def test_manifest_and_settings_are_json(report):
    manifest = json.loads((report["out"] / "manifest.json").read_text())
    assert manifest["definition"]["seed"] == 7
    assert manifest["seeds"]["baseline"] == [report["result"].experiment.seed_of("baseline", i) for i in range(3)]
    assert manifest["sessions"][0]["n_runs"] == 9
    settings = json.loads((report["out"] / "report-settings.json").read_text())
    assert settings["costs"] == {"baseline": 0.0, "more IT": 5000.0, "pay <5%> & more": 0.0}


def test_rebuild_from_the_store_gives_the_same_report(report, tmp_path):
    files = rebuild_report(report["out"], out=tmp_path)
    for name in ("summary.csv", "totals.csv", "returns.csv", "report.html"):
        assert (tmp_path / name).read_bytes() == (report["out"] / name).read_bytes(), name
    for svg in sorted((report["out"] / "charts").glob("*.svg")):
        assert (tmp_path / "charts" / svg.name).read_bytes() == svg.read_bytes(), svg.name
    assert files["html"] == tmp_path / "report.html"


def test_rebuild_needs_a_store(tmp_path):
    from spchain.experiments.store import StoreError

    with pytest.raises(StoreError, match="no experiment store"):
        rebuild_report(tmp_path)


def test_one_at_a_time_design_adds_a_tornado(tmp_path):
    from spchain import one_at_a_time

    result = Experiment(preset("workshop"), scenarios=one_at_a_time(levers={"workforce.pay_index": (0.95, 1.05)}),
                        n_replications=2, horizon=8, warmup=1, seed=3).run()
    files = write_report(result, tmp_path, settings={"metrics": ["profit"]})
    assert (tmp_path / "charts" / "tornado-profit.svg").is_file()
    assert "tornado-profit" in files["html"].read_text()


def test_format_number():
    assert format_number(1234567.8) == "1,234,568"
    assert format_number(12.345) == "12.3"
    assert format_number(0.12345) == "0.123"
    assert format_number(0) == "0"
    assert format_number(float("nan")) == "\u2013"
