"""A report a client cannot misread: direction, points, currency, one rule of digits, captions, print.

The experiment adds three front-line employees (waits fall: better; costs
rise: worse; utilisation falls: neither good nor bad) and raises pay by 5%
(costs rise and profit falls: both worse), with common random numbers.
"""

from __future__ import annotations

import csv
import re
import textwrap
from html.parser import HTMLParser

import pytest

from spchain import Experiment, Scenario, preset
from spchain.metrics import METRICS
from spchain.apps.report import format_number, money_unit, report_charts, write_report
from spchain.apps.scenario_file import ScenarioFileError, load_scenario_file

KPIS = ["wait_time", "service_level", "nps", "utilisation", "time_per_customer", "costs", "profit"]
MINUS = "\u2212"


class Page(HTMLParser):
    """Rows of the results table (cells with their class and text), list items, captions and tbodies."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.items, self.captions, self.tbodies, self.heads = [], [], [], [], []
        self._row = self._cell = self._item = self._caption = self._head = None
        self._tbody = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody":
            self._tbody = dict(attrs=a, metrics=set())
        if tag == "tr":
            self._row = dict(attrs=a, cells=[])
            if self._tbody is not None and "data-metric" in a:
                self._tbody["metrics"].add(a["data-metric"])
        if tag in ("td", "th") and self._row is not None:
            self._cell = dict(attrs=a, text="")
        if tag == "li":
            self._item = ""
        if tag == "figcaption":
            self._caption = ""
        if tag == "thead":
            self._head = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            (self._head if self._head is not None else self._row["cells"]).append(self._cell)
            self._cell = None
        if tag == "tr" and self._row is not None:
            if self._head is None:
                self.rows.append(self._row)
            self._row = None
        if tag == "thead":
            self.heads.append([c["text"] for c in self._head])
            self._head = None
        if tag == "tbody":
            self.tbodies.append(self._tbody)
            self._tbody = None
        if tag == "li":
            self.items.append(self._item)
            self._item = None
        if tag == "figcaption":
            self.captions.append(self._caption)
            self._caption = None

    def handle_data(self, data):
        for name in ("_cell", "_item", "_caption"):
            part = getattr(self, name)
            if part is not None:
                if name == "_cell":
                    part["text"] += data
                else:
                    setattr(self, name, part + data)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reading")
    result = Experiment(preset("workshop"), scenarios=[
        Scenario("baseline"),
        Scenario("more staff", levers={"workforce.n_employees": 13}, at_week=1),
        Scenario("pay", levers={"workforce.pay_index": 1.05}, at_week=1)],
        n_replications=4, horizon=16, warmup=1, seed=5).run()
    settings = dict(metrics=KPIS, focus="profit", currency="EUR", money_scale="thousands",
                    costs={"more staff": 20000.0})
    files = write_report(result, out, settings=settings)
    text = files["html"].read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    page.close()
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        summary = {(r["metric"], r["scenario"]): r for r in csv.DictReader(fh)}
    with open(out / "returns.csv", newline="", encoding="utf-8") as fh:
        returns = list(csv.DictReader(fh))
    cells = {(r["attrs"]["data-metric"], r["attrs"]["data-scenario"]): r["cells"]
             for r in page.rows if "data-metric" in r["attrs"]}
    return dict(result=result, settings=settings, text=text, page=page, summary=summary, cells=cells,
                returns=returns, out=out)


def _cls(cell):
    return set(cell["attrs"].get("class", "").split())


def _interval(row, key):
    return float(row[f"{key}_low"]), float(row[f"{key}_high"])


# ------------------------------------------------------------ direction
@pytest.mark.parametrize("metric, scenario, sign, reading, css", [
    ("wait_time", "more staff", -1, "better", "better"),       # a fall, and good
    ("service_level", "more staff", +1, "better", "better"),   # a rise, and good
    ("costs", "more staff", +1, "worse", "worse"),             # a rise, and bad
    ("profit", "pay", -1, "worse", "worse"),                   # a fall, and bad
    ("utilisation", "more staff", -1, "lower", "neither"),     # neither good nor bad: grey
])
def test_words_and_colours_follow_the_kpis_direction_not_the_sign(report, metric, scenario, sign, reading, css):
    row = report["summary"][(metric, scenario)]
    low, high = _interval(row, "difference")
    assert (low > 0 if sign > 0 else high < 0), "the experiment no longer shows this change; pick another"
    cells = report["cells"][(metric, scenario)]
    difference, change, verdict = cells[4], cells[6], cells[8]
    assert verdict["text"] == reading
    assert css in _cls(verdict) and css in _cls(difference) and css in _cls(change)
    other = {"better": "worse", "worse": "better", "neither": "better"}[css]
    assert other not in _cls(difference)
    assert difference["text"].startswith("+" if sign > 0 else MINUS)


def test_every_reading_agrees_with_its_interval(report):
    seen = set()
    for (metric, scenario), row in report["summary"].items():
        if scenario == "baseline":
            continue
        verdict = report["cells"][(metric, scenario)][8]["text"]
        assert verdict == METRICS[metric].assess(*_interval(row, "difference"))
        seen.add(verdict)
    assert {"better", "worse", "lower", "not distinguishable"} <= seen


def test_rounding_noise_is_no_difference(report):
    # the same runs summed in another order: a difference of 4e-16 minutes is printed 0, not "0.000000000"
    row = report["summary"][("time_per_customer", "more staff")]
    assert 0 < max(abs(float(row[k])) for k in ("difference", "difference_low", "difference_high")) < 1e-12
    cells = report["cells"][("time_per_customer", "more staff")]
    assert [c["text"] for c in cells[4:]] == ["0", "[0, 0]", "0%", "[0%, 0%]", "not distinguishable"]
    assert cells[4]["attrs"]["data-value"] == row["difference"]  # the data keep what was computed
    (staff,) = [i for i in report["page"].items if i.startswith("more staff:")]
    assert "not distinguishable: " in staff and "time given per customer" in staff.split("not distinguishable:")[1]


def test_findings_word_the_focus_by_direction(report):
    (pay,) = [i for i in report["page"].items if i.startswith("pay:")]
    assert pay.startswith("pay: profit lower than baseline \u2014 worse:")
    assert "thousand EUR" in pay and "%" in pay
    (staff,) = [i for i in report["page"].items if i.startswith("more staff:")]
    assert re.search(r"better: [^;]*mean wait \(\u2212[\d.]+%\)", staff), staff
    assert re.search(r"better: [^;]*service level[^;]*\(\+[\d.]+ pts\)", staff), staff
    assert re.search(r"worse: [^;]*costs \(\+[\d.]+%\)", staff), staff
    assert re.search(r"lower: utilisation \(\u2212[\d.]+ pts\)", staff), staff
    table = report["cells"][("service_level", "more staff")][6]["text"]
    assert f"({table})" in staff  # the same figure as in the table


# ------------------------------------------------------------ points and percent
def test_scores_and_shares_change_in_points_levels_in_percent(report):
    for (metric, scenario), row in report["summary"].items():
        if scenario == "baseline" or (metric, scenario) == ("time_per_customer", "more staff"):
            continue  # (rounding noise, printed 0: test_rounding_noise_is_no_difference)
        m = METRICS[metric]
        change, change_ci = report["cells"][(metric, scenario)][6:8]
        if m.change_in_points:
            points = m.points_scale * float(row["difference"])
            lo, hi = (m.points_scale * x for x in _interval(row, "difference"))
            assert change["text"] == format_number(points, among=(lo, hi), sign=True) + " pts"
            assert change_ci["text"].endswith("] pts") and "%" not in change_ci["text"]
        else:
            pct = 100 * float(row["relative"])
            lo, hi = (100 * x for x in _interval(row, "relative"))
            assert change["text"] == format_number(pct, among=(lo, hi), sign=True) + "%"
            assert "pts" not in change_ci["text"]
    nps = report["cells"][("nps", "more staff")][6]["text"]
    assert re.fullmatch(r"[+\u2212]?\d+\.\d+ pts", nps), nps  # NPS moves in points, never "+21.0%"


def test_shares_are_printed_in_percent(report):
    row = report["summary"][("service_level", "baseline")]
    cells = report["cells"][("service_level", "baseline")]
    assert cells[0]["text"].endswith("%")  # the unit under the label: a share is in %
    assert cells[2]["text"] == format_number(100 * float(row["mean"]),
                                             among=(100 * float(row["ci_low"]), 100 * float(row["ci_high"])))


# ------------------------------------------------------------ currency
def test_money_is_in_the_currency_and_scale_everywhere(report):
    unit = money_unit("EUR", "thousands")
    assert unit == "thousand EUR"
    for (metric, scenario), cells in report["cells"].items():
        label_unit = cells[0]["text"]
        if scenario == "baseline":
            if METRICS[metric].is_money:
                assert unit in label_unit and "money" not in label_unit
            else:
                assert "EUR" not in label_unit
    row = report["summary"][("profit", "pay")]
    cells = report["cells"][("profit", "pay")]
    d = float(row["difference"]) / 1000
    lo, hi = (x / 1000 for x in _interval(row, "difference"))
    assert cells[4]["text"] == format_number(d, among=(lo, hi), sign=True)
    assert cells[4]["attrs"]["data-value"] == row["difference"]  # unscaled in the data, as in the CSV
    head = [h for h in report["page"].heads if "scenario" in h and any("cost" in c for c in h)][0]
    assert all(unit in c for c in head if c.startswith(("cost", "profit gain", "net")))
    plain = re.sub(r"<[^>]+>", "", report["text"]).replace("amounts of money", "")
    assert not re.search(r"\bmoney\b", plain), plain[plain.find("money") - 80:][:160]


def test_csv_files_name_the_currency_and_stay_unscaled(report):
    row = report["summary"][("profit", "baseline")]
    assert row["unit"].startswith("EUR") and "thousand" not in row["unit"]
    assert float(row["mean"]) == report["result"].estimate("profit").mean
    assert report["summary"][("nps", "baseline")]["unit"] == "points"
    assert {r["currency"] for r in report["returns"]} == {"EUR"}
    assert 19000 < float(report["returns"][0]["cost"]) <= 20000.0  # discounted, in EUR (not thousands)


def test_charts_name_the_currency(report):
    texts = []
    for slug, _title, _caption, fig in report_charts(report["result"], report["settings"]):
        for ax in fig.axes:
            texts += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
        texts += [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    joined = "\n".join(texts)
    assert "EUR" in joined
    assert not re.search(r"\bmoney\b", joined), [t for t in texts if "money" in t][:3]


def test_default_currency_is_honest(tmp_path):
    result = Experiment(preset("workshop"), scenarios=[Scenario("baseline"), Scenario(
        "pay", levers={"workforce.pay_index": 1.05}, at_week=1)], n_replications=2, horizon=4, warmup=1,
        seed=1).run()
    text = write_report(result, tmp_path, settings={"metrics": ["profit"]}, formats=())["html"].read_text()
    plain = re.sub(r"<[^>]+>", "", text).replace("amounts of money", "")
    assert "money units, total of weeks" in plain and not re.search(r"\bmoney\b(?! units)", plain)


@pytest.mark.parametrize("settings, message", [
    ({"money_scale": "billions"}, r"money_scale='billions'.*'units', 'thousands', 'millions'"),
    ({"currency": ""}, r"currency='': expected a non-empty string"),
    ({"currency": 5}, r"currency=5"),
])
def test_bad_money_settings_are_refused_before_anything_is_written(report, tmp_path, settings, message):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=message):
        write_report(report["result"], out, settings=settings)
    assert not out.exists()


def _file(tmp_path, report_table):
    f = tmp_path / "s.toml"
    f.write_text(textwrap.dedent("""\
        [base]
        preset = "workshop"

        [experiment]
        replications = 2
        horizon = 4

        [scenarios.baseline]

        [report]
        """) + report_table, encoding="utf-8")
    return f


def test_scenario_file_sets_currency_and_scale(tmp_path):
    plan = load_scenario_file(_file(tmp_path, 'currency = "CHF"\nmoney_scale = "millions"\n'))
    assert (plan.currency, plan.money_scale) == ("CHF", "millions")
    assert plan.settings()["currency"] == "CHF" and plan.settings()["money_scale"] == "millions"
    plain = load_scenario_file(_file(tmp_path, ""))
    assert (plain.currency, plain.money_scale) == ("money units", "units")


@pytest.mark.parametrize("table, key, message", [
    ('money_scale = "lakhs"', "report.money_scale", "unknown money scale 'lakhs'.*'thousands'"),
    ("currency = 3", "report.currency", r"expected a non-empty string, got an integer \(3\)"),
    ('currency = "  "', "report.currency", "expected a non-empty string"),
    (f'currency = "{"E" * 21}"', "report.currency", "at most 20 characters"),
])
def test_scenario_file_refuses_bad_money_settings(tmp_path, table, key, message):
    with pytest.raises(ScenarioFileError, match=message) as info:
        load_scenario_file(_file(tmp_path, table + "\n"))
    assert info.value.key == key


# ------------------------------------------------------------ one rule of digits
def _decimals(text):
    number = re.sub(r"[^\d.]", "", text)
    return len(number.split(".")[1]) if "." in number else 0


def test_a_value_and_its_interval_share_their_decimals(report):
    checked = 0
    for cells in report["cells"].values():
        pairs = [(cells[2], cells[3])]
        if cells[4]["text"] != "baseline":
            pairs += [(cells[4], cells[5]), (cells[6], cells[7])]
        for value, interval in pairs:
            ends = re.findall(r"[+\u2212]?\d[\d,]*(?:\.\d+)?", interval["text"])
            assert len(ends) == 2, interval["text"]
            assert {_decimals(e) for e in ends} == {_decimals(value["text"])}, (value["text"], interval["text"])
            checked += 1
    assert checked == len(KPIS) * 3 + len(KPIS) * 2 * 2


def test_format_number_is_one_rule_of_significant_digits():
    assert format_number(8.696, among=(4.44, 13.04)) == "8.7"  # the issue's "8.696 [4.440, 13.0]"
    assert format_number(4.44, among=(8.696, 13.04)) == "4.4"
    assert format_number(13.04, among=(8.696, 4.44)) == "13.0"
    assert format_number(0.0012345) == "0.00123"
    assert format_number(1.6253) == "1.63"
    assert format_number(-257334.7) == MINUS + "257,335"
    assert format_number(5.37, sign=True) == "+5.37"
    assert format_number(-0.0001, among=(2.0,)) == "0.00"  # no "-0.00"
    assert format_number(0.001, among=(-0.5, 0.5)) == "0.001"
    assert format_number(7.0, digits=2) == "7.0"
    assert format_number(None) == format_number(float("inf")) == "\u2013"
    with pytest.raises(ValueError, match="digits=0"):
        format_number(1.0, digits=0)


# ------------------------------------------------------------ captions and print
def test_band_charts_say_overlap_can_hide_a_paired_difference(report):
    captions = report["page"].captions
    dashboard = [c for c in captions if c.startswith("The chain over time")]
    comparison = [c for c in captions if c.startswith("Differences against")]
    assert dashboard and "Overlapping bands do not mean the scenarios are alike" in dashboard[0]
    assert "paired" in dashboard[0]
    assert comparison and "even where the scenarios' own bands in the other charts overlap" in comparison[0]


def test_print_layout_keeps_headings_and_rows_with_their_content(report):
    text = report["text"]
    css = text[text.index("<style>"):text.index("</style>")]
    assert "@page { size: A4" in css
    printed = css[css.index("@media print"):]
    assert re.search(r"h1, h2, h3 \{ break-after: avoid;", printed)
    assert re.search(r"h2 \+ \*, h3 \+ \*[^{]*\{ break-before: avoid;", printed)
    assert re.search(r"tr, tbody\.kpi, li[^{]*\{ break-inside: avoid;", printed)
    assert "thead { display: table-header-group; }" in printed
    # each KPI's rows sit in one tbody that print keeps whole: no row is left alone on a page
    bodies = [b["metrics"] for b in report["page"].tbodies if b["attrs"].get("class") == "kpi"]
    assert bodies == [{m} for m in KPIS]
    assert "http://" not in text and "https://" not in text
