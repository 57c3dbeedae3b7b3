"""The report as a person sees it: ``report.html`` opened in headless Chromium.

A small experiment's report is written, opened by its ``file://`` URL in
Debian's Chromium (driven by Playwright, see ``tests/browser.py`` for why
Playwright and for the flags), and checked: no console or page errors, no
request beyond the report's own folder, every chart decoded, on screen, on top
and drawn (its pixels are the chart's, not a broken-image icon), charts that fit
a phone's width, and a print to PDF on A4 landscape pages. A full-page
screenshot, a phone screenshot and the PDF are kept in the artefact folder
(``tests/artifacts/`` or ``$SPCHAIN_ARTIFACTS``).

Without Chromium or Playwright these tests skip and say how to install them;
``.ci/run`` installs both and sets ``SPCHAIN_REQUIRE_BROWSER=1`` so that CI
cannot pass by skipping.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from browser import artifacts_dir, chromium
from matplotlib import image as mpimg

from spchain import Experiment, Scenario, preset
from spchain.apps.report import write_report

#: Runs in the page: every image, inline SVG and figure, scrolled to the middle
#: of the screen in turn, with what a person would see of it.
INSPECT = """async () => {
  const items = [];
  for (const el of document.querySelectorAll('img, svg, figure')) {
    el.scrollIntoView({block: 'center', inline: 'center'});
    let decoded = true, why = '';
    if (el.tagName === 'IMG') { try { await el.decode(); } catch (e) { decoded = false; why = String(e); } }
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    items.push({
      tag: el.tagName.toLowerCase(),
      figure: el.id || (el.closest('figure') || {}).id || '',
      complete: el.tagName === 'IMG' ? el.complete : true,
      naturalWidth: el.tagName === 'IMG' ? el.naturalWidth : null,
      naturalHeight: el.tagName === 'IMG' ? el.naturalHeight : null,
      decoded, why,
      width: r.width, height: r.height,
      left: r.left + window.scrollX, right: r.right + window.scrollX,
      top: r.top + window.scrollY, bottom: r.bottom + window.scrollY,
      visible: el.checkVisibility({opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true}),
      onTop: hit !== null && (hit === el || el.contains(hit)),
    });
  }
  window.scrollTo(0, 0);
  const d = document.documentElement;
  const wide = [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > d.clientWidth && !e.parentElement.closest('table, pre'))
    .slice(0, 5).map(e => `${e.tagName.toLowerCase()}${e.className ? '.' + e.className : ''} reaches `
                          + `${Math.round(e.getBoundingClientRect().right + window.scrollX)} px`);
  return {items, wide, scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, scrollHeight: d.scrollHeight};
}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser-report")
    experiment = Experiment(preset("workshop"), scenarios=[
        Scenario("baseline"),
        Scenario("more IT", levers={"internal.departments.it.n_staff": 3}, at_week=2)],
        n_replications=2, horizon=8, warmup=2, seed=11)
    settings = dict(title="Browser check", metrics=["employee_satisfaction", "nps", "profit"], focus="profit",
                    costs={"more IT": 5000.0})
    files = write_report(experiment.run(), out, settings=settings)
    slugs = sorted(p.stem for p in (out / "charts").glob("*.png"))
    return dict(out=out, html=files["html"], slugs=slugs)


@pytest.fixture(scope="module")
def new_page():
    with chromium() as factory:
        yield factory


def _inspect(watched):
    return watched.page.evaluate(INSPECT)


def _assert_clean(watched, folder):
    assert watched.errors == [], watched.errors
    assert watched.failed == [], watched.failed
    assert watched.outside(folder) == [], watched.outside(folder)
    assert watched.blocked == [], watched.blocked


def test_report_has_charts_to_look_at(report):
    """The experiment draws the chain diagrams, dashboard, comparison, fan and tornado."""
    assert len(report["slugs"]) >= 5, report["slugs"]
    assert {"dashboard", "comparison", "fan-profit", "tornado-profit"} <= set(report["slugs"])


def test_page_loads_without_errors_or_network(report, new_page):
    watched = new_page()
    watched.open(report["html"])
    _assert_clean(watched, report["out"])
    page_url = report["html"].resolve().as_uri()
    assert watched.requests and watched.requests[0] == page_url, watched.requests[:3]
    assert watched.page.title() == "Browser check"
    shot = watched.screenshot("report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_watcher_sees_what_it_must_refuse(tmp_path, new_page):
    """Planted faults are caught: a console error, a page error, a remote image, a missing local file."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><title>bad</title><img src="https://example.invalid/x.png">'
                   '<img src="missing.png"><script>console.error("boom"); null.x;</script>', encoding="utf-8")
    watched = new_page()
    watched.open(bad)
    assert any("boom" in e for e in watched.errors), watched.errors
    assert any(e.startswith("pageerror") for e in watched.errors), watched.errors
    assert watched.blocked == ["https://example.invalid/x.png"]
    assert watched.outside(tmp_path / "elsewhere") and "https://example.invalid/x.png" in watched.outside(tmp_path)
    assert any("missing.png" in f for f in watched.failed), watched.failed
    broken = [i for i in _inspect(watched)["items"] if i["tag"] == "img"]
    assert [i["naturalWidth"] for i in broken] == [0, 0] and not any(i["decoded"] for i in broken)


def test_every_chart_is_visible(report, new_page):
    watched = new_page()
    watched.open(report["html"])
    seen = _inspect(watched)
    images = [i for i in seen["items"] if i["tag"] == "img"]
    # every chart written to charts/ is a figure of the page, and there is nothing else
    assert sorted(i["figure"] for i in images) == [f"fig-{s}" for s in report["slugs"]]
    assert seen["scrollWidth"] <= seen["clientWidth"], \
        f"the page scrolls sideways at {seen['clientWidth']} px: {seen['wide']}"
    for item in seen["items"]:
        label = f"{item['tag']} in {item['figure'] or 'page'}"
        assert item["decoded"] and item["complete"], (label, item["why"])
        assert item["visible"] and item["onTop"], (label, item)
        assert item["width"] > 0 and item["height"] > 0, (label, item)
        assert 0 <= item["left"] and item["right"] <= seen["clientWidth"], (label, item)
        assert 0 <= item["top"] and item["bottom"] <= seen["scrollHeight"], (label, item)
    for item in images:
        assert item["naturalWidth"] > 0 and item["naturalHeight"] > 0, item
        # shown at the chart's own aspect ratio, large enough to read
        assert item["width"] >= 400, item
        assert item["height"] / item["width"] == pytest.approx(item["naturalHeight"] / item["naturalWidth"], rel=0.02)
    _assert_clean(watched, report["out"])


def _coarse(img, rows=12, cols=32):
    """Grey levels averaged over a rows x cols grid of blocks: a picture's layout at any scale."""
    grey = img[..., :3].mean(axis=2)
    r = np.linspace(0, grey.shape[0], rows + 1).astype(int)
    c = np.linspace(0, grey.shape[1], cols + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(grey, r[:-1], axis=0), c[:-1], axis=1)
    return sums / np.outer(np.diff(r), np.diff(c))


def test_the_pixels_on_screen_are_the_charts(report, new_page):
    """Each image as shown on screen is its own chart's PNG, scaled: not a blank box, an icon or another chart.

    The screenshot and the PNG are compared on a coarse grid of grey levels:
    each correlates with its own chart (0.97-1.0 when written) and not with
    the others (at most 0.5, the two chain diagrams apart, which differ only in
    their numbers).
    """
    watched = new_page()
    watched.open(report["html"])
    sources = {s: mpimg.imread(report["out"] / "charts" / f"{s}.png")[..., :3] for s in report["slugs"]}
    for slug in report["slugs"]:
        shown = mpimg.imread(io.BytesIO(watched.page.locator(f"#fig-{slug} img").screenshot()), format="png")[..., :3]
        assert shown.std() > 0.05, slug  # something is drawn
        np.testing.assert_allclose(shown.mean(axis=(0, 1)), sources[slug].mean(axis=(0, 1)), atol=0.02, err_msg=slug)
        likeness = {other: np.corrcoef(_coarse(shown).ravel(), _coarse(src).ravel())[0, 1]
                    for other, src in sources.items()}
        assert likeness[slug] > 0.9, (slug, likeness)
        assert max(likeness, key=likeness.get) == slug, (slug, likeness)


def test_charts_fit_a_phone_screen(report, new_page):
    watched = new_page()
    watched.page.set_viewport_size({"width": 390, "height": 844})
    watched.open(report["html"])
    seen = _inspect(watched)
    for item in (i for i in seen["items"] if i["tag"] == "img"):
        assert item["visible"] and item["onTop"] and item["height"] > 0, item
        assert 0 <= item["left"] and item["right"] <= 390, item
    # the page itself does not scroll sideways: navigation wraps, wide tables scroll inside themselves
    assert seen["scrollWidth"] <= seen["clientWidth"], \
        f"the page scrolls sideways at {seen['clientWidth']} px: {seen['wide']}"
    watched.screenshot("report-phone.png")
    _assert_clean(watched, report["out"])


def test_prints_to_a4_landscape_pdf(report, new_page):
    watched = new_page()
    watched.open(report["html"])
    watched.page.emulate_media(media="print")
    assert watched.page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
    n_breaks = watched.page.locator("h2.page").count()
    for item in (i for i in _inspect(watched)["items"] if i["tag"] == "img"):
        assert item["visible"] and item["width"] > 0 and item["height"] > 0, item
        assert item["height"] <= 170 / 25.4 * 96 + 1, item  # max-height: 170mm, so a chart fits a page
    pdf = watched.pdf("report.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-"
    pages = re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf)
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)]
    # every h2.page starts a new page after the title page
    assert len(pages) >= 1 + n_breaks >= 2, (len(pages), n_breaks)
    assert max(counts) == len(pages), counts  # the root of the page tree counts every page
    boxes = {tuple(round(float(v)) for v in box.split())
             for box in re.findall(rb"/MediaBox\s*\[\s*([\d.\s]+?)\s*\]", pdf)}
    assert boxes == {(0, 0, 842, 595)}, boxes  # A4 landscape in points
    _assert_clean(watched, report["out"])
    assert artifacts_dir().joinpath("report.pdf").stat().st_size == len(pdf)
