"""The report printed to A4: no heading alone at the foot of a page, no KPI's rows split across pages.

``report.html`` of a long scenario table (every KPI, three scenarios: several
pages) is printed by headless Chromium (``tests/browser.py``) and the PDF's
text is read page by page with pypdf.  Without Chromium, Playwright or pypdf
the tests skip (``SPCHAIN_REQUIRE_BROWSER=1`` makes a missing browser fail);
``pypdf`` is in the ``test`` extra.
"""

from __future__ import annotations

import pytest
from browser import chromium

from spchain import Experiment, Scenario, preset
from spchain.metrics import METRICS
from spchain.apps.report import write_report

pypdf = pytest.importorskip("pypdf", reason="reading the printed PDF needs pypdf (in the test extra)")

SCENARIOS = ("baseline", "staff+3", "pay+5%")


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    out = tmp_path_factory.mktemp("print")
    result = Experiment(preset("workshop"), scenarios=[
        Scenario("baseline"),
        Scenario("staff+3", levers={"workforce.n_employees": 13}, at_week=1),
        Scenario("pay+5%", levers={"workforce.pay_index": 1.05}, at_week=1)],
        n_replications=2, horizon=8, warmup=1, seed=5).run()
    html = write_report(result, out, settings={"metrics": list(METRICS), "currency": "EUR"}, formats=())["html"]
    with chromium() as new_page:
        watched = new_page()
        watched.open(html)
        headings = [t.strip() for t in watched.page.locator("h1, h2, h3").all_inner_texts()]
        labels = [METRICS[name].label for name in METRICS]
        pdf = watched.pdf("report-print-check.pdf")
    pages = [[line.strip() for line in page.extract_text().splitlines() if line.strip()]
             for page in pypdf.PdfReader(str(pdf)).pages]
    return dict(pages=pages, headings=headings, labels=labels)


def test_the_table_spans_pages(printed):
    table_pages = [p for p in printed["pages"] if any(line.startswith("KPI scenario mean") for line in p)]
    assert len(table_pages) >= 3, len(table_pages)  # the checks below look at real page breaks


def test_no_heading_is_left_at_the_foot_of_a_page(printed):
    assert {"At a glance", "Results by scenario", "Charts", "Manifest"} <= set(printed["headings"])
    for number, lines in enumerate(printed["pages"], 1):
        assert lines[-1] not in printed["headings"], f"page {number} ends with the heading {lines[-1]!r}"


def test_no_kpi_loses_rows_to_the_next_page(printed):
    """A page that continues the table starts with a KPI's first row (its label), never a scenario's row."""
    continued = 0
    for number, lines in enumerate(printed["pages"], 1):
        if not lines[0].startswith("KPI scenario mean"):
            continue
        continued += 1
        end = next(i for i, line in enumerate(lines) if line.endswith("reading"))  # the header may wrap
        first = lines[end + 1]
        assert not first.startswith(SCENARIOS), f"page {number} starts with an orphaned row: {first!r}"
        assert any(label.startswith(first.split()[0]) for label in printed["labels"]), (number, first)
    assert continued >= 2
