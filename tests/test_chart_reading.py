"""Charts a client cannot misread (issue 15, item 1): bands that stay within what a KPI can be,
smoothed weekly series that say so, chain-diagram labels that name their numbers, and
comparisons that survive narrow axes.

Values are checked against hand-built field sums (known moving averages, known bands) and
against the drawn artists themselves (band vertices, text bounding boxes after a draw).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from scipy import stats  # noqa: E402

from chart_checks import assert_texts_readable  # noqa: E402
from spchain import Experiment, ExperimentResult, Scenario, preset  # noqa: E402
from spchain.viz import plotting as sp  # noqa: E402
from spchain.viz.diagram import MIN_FONTSIZE, STAGES  # noqa: E402
from spchain.metrics import FIELDS, METRICS  # noqa: E402

F = {name: i for i, name in enumerate(FIELDS)}

#: The report draws the diagram 13 inches wide (report.py) and its page shows a figure at most
#: 1116 CSS px wide (report_html.py: main max-width 1180px less 2 x 32px padding), 96 px an inch;
#: printed, at most 273 mm wide (A4 landscape, 12 mm margins).
REPORT_SCALE = min(1116 / (13 * 96), 273 / (13 * 25.4))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _hand_built(fields, weeks):
    """An ExperimentResult of one scenario whose field sums are given: ``{field: (reps, weeks)}``."""
    reps = len(next(iter(fields.values())))
    experiment = Experiment(preset("workshop"), scenarios=[Scenario("baseline")], n_replications=reps,
                            horizon=weeks, warmup=0, seed=1)
    sums = np.zeros((reps, weeks, 1, len(FIELDS)))
    for name, values in fields.items():
        sums[:, :, 0, F[name]] = values
    return ExperimentResult(experiment, sums={"baseline": sums}, department_sums={"baseline": None},
                            wall_seconds=0.0)


def _band_edges(ax):
    """Lower and upper edge of the (one) band drawn by fill_between, per x."""
    (band,) = [c for c in ax.collections if isinstance(c, matplotlib.collections.PolyCollection)]
    xy = band.get_paths()[0].vertices
    lower, upper = {}, {}
    for x, y in xy:
        lower[x] = min(lower.get(x, np.inf), y)
        upper[x] = max(upper.get(x, -np.inf), y)
    xs = sorted(lower)
    return np.array(xs), np.array([lower[x] for x in xs]), np.array([upper[x] for x in xs])


# ------------------------------------------------------------------ bands
def test_band_of_a_non_negative_kpi_stops_at_zero():
    """Turnover 0, 0 and 5.2 a year in three replications: mean - t se < 0, so the band's lower edge is 0."""
    quits = np.array([[0.0] * 4, [0.0] * 4, [1.0] * 4])
    result = _hand_built({"quits": quits, "headcount": np.full((3, 4), 10.0)}, weeks=4)
    ax = sp.plot_kpi(result, "turnover", smooth=1)
    x, lower, upper = _band_edges(ax)
    weekly = 52 * quits / 10
    mean, sd = weekly.mean(axis=0), weekly.std(axis=0, ddof=1)
    half = stats.t.ppf(0.975, 2) * sd / np.sqrt(3)
    assert np.all(mean - half < 0)  # the unclipped band would reach below zero ...
    assert np.array_equal(x, [1, 2, 3, 4])
    assert np.all(lower == 0.0)  # ... the drawn one stops exactly at 0
    np.testing.assert_allclose(upper, mean + half, rtol=1e-12)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mean, rtol=1e-12)


def test_band_of_a_share_stops_at_one():
    """SLA attainment 100%, 100% and 50%: the band's upper edge is 1, its lower edge the t interval's."""
    met = np.array([[10.0] * 3, [10.0] * 3, [5.0] * 3])
    result = _hand_built({"sla_met": met, "sla_due": np.full((3, 3), 10.0)}, weeks=3)
    ax = sp.plot_kpi(result, "sla_attainment", smooth=1)
    _, lower, upper = _band_edges(ax)
    share = met / 10
    half = stats.t.ppf(0.975, 2) * share.std(axis=0, ddof=1) / np.sqrt(3)
    assert np.all(share.mean(axis=0) + half > 1)
    assert np.all(upper == 1.0)
    np.testing.assert_allclose(lower, share.mean(axis=0) - half, rtol=1e-12)


def test_band_of_profit_is_not_clipped():
    """Profit can be negative: its band is the plain t interval."""
    profit = np.array([[-100.0, 50.0], [20.0, 10.0], [300.0, -40.0]])
    ax = sp.plot_kpi(_hand_built({"profit": profit}, weeks=2), "profit", smooth=1)
    _, lower, upper = _band_edges(ax)
    half = stats.t.ppf(0.975, 2) * profit.std(axis=0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(lower, profit.mean(axis=0) - half, rtol=1e-12)
    np.testing.assert_allclose(upper, profit.mean(axis=0) + half, rtol=1e-12)
    assert lower.min() < 0


@pytest.mark.parametrize("name, expected", [
    ("turnover", (0.0, np.inf)), ("wait_time", (0.0, np.inf)), ("revenue", (0.0, np.inf)),
    ("abandonment", (0.0, 1.0)), ("sla_attainment", (0.0, 1.0)), ("retention", (0.0, 1.0)),
    ("employee_satisfaction", (0.0, 1.0)), ("csat", (1.0, 5.0)), ("nps", (-100.0, 100.0)),
    ("profit", (-np.inf, np.inf))])
def test_kpi_range(name, expected):
    assert sp.kpi_range(name) == expected


def test_every_kpi_has_a_range_holding_its_values():
    """On a real run, every weekly KPI lies within its range (the clip never hides a value)."""
    from spchain import simulate

    run = simulate(preset("workshop"), horizon=8, seed=3)
    for name in METRICS:
        low, high = sp.kpi_range(name)
        y = run.kpi(name)
        y = y[np.isfinite(y)]
        assert np.all((y >= low - 1e-12) & (y <= high + 1e-12)), name


# -------------------------------------------------------------- smoothing
def test_trailing_kpi_of_a_flow_is_its_trailing_mean():
    revenue = np.array([3.0, 9.0, 0.0, 6.0, 12.0, 0.0, 3.0])
    sums = np.zeros((revenue.size, len(FIELDS)))
    sums[:, F["revenue"]] = revenue
    expected = [3.0, 6.0, 4.0, 4.5, 6.75, 4.5, 5.25]  # weeks 1-3 average the weeks so far
    np.testing.assert_allclose(sp.trailing_kpi(sums, "revenue"), expected)
    np.testing.assert_allclose(sp.trailing_kpi(sums, "revenue", window=1), revenue)
    np.testing.assert_allclose(sp.trailing_kpi(sums, "revenue", window=None), revenue)


def test_trailing_kpi_of_a_ratio_is_the_ratio_of_the_window():
    """Turnover over 2 weeks: the window's quits over its mean headcount, annualised (not a mean of ratios)."""
    sums = np.zeros((4, len(FIELDS)))
    sums[:, F["quits"]] = [1.0, 2.0, 0.0, 3.0]
    sums[:, F["headcount"]] = [10.0, 10.0, 20.0, 20.0]
    got = sp.trailing_kpi(sums, "turnover", window=2)
    np.testing.assert_allclose(got, [52 * 1 / 10, 52 * 1.5 / 10, 52 * 1 / 15, 52 * 1.5 / 20])
    # week 3: the mean of the weekly ratios would be 52 * (0.2 + 0) / 2 = 5.2, not 52 / 15
    assert got[2] != pytest.approx(52 * np.mean([2 / 10, 0 / 20]))


def test_experiment_is_smoothed_per_replication_before_mean_and_band():
    """The line is the mean of each replication's 4-week turnover (a ratio), not the 4-week mean of the mean."""
    quits = np.array([[0, 1, 0, 0, 2, 0], [1, 0, 0, 0, 0, 0], [0, 0, 3, 0, 0, 1]], float)
    headcount = np.array([[10] * 6, [20] * 6, [10, 10, 10, 5, 5, 5]], float)
    result = _hand_built({"quits": quits, "headcount": headcount}, weeks=6)
    ax = sp.plot_kpi(result, "turnover")
    per_rep = np.array([sp.trailing_kpi(_fields(q, h), "turnover", window=4) for q, h in zip(quits, headcount)])
    week6 = [52 * (0 + 2 + 0 + 0) / 4 / 10, 0.0, 52 * (3 + 0 + 0 + 1) / 4 / 6.25]
    np.testing.assert_allclose(per_rep[:, 5], week6)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), per_rep.mean(axis=0), rtol=1e-12)
    _, lower, upper = _band_edges(ax)
    half = stats.t.ppf(0.975, 2) * per_rep.std(axis=0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(upper, per_rep.mean(axis=0) + half, rtol=1e-12)
    np.testing.assert_allclose(lower, np.maximum(per_rep.mean(axis=0) - half, 0.0), rtol=1e-12)
    assert "4-week mean" in ax.get_ylabel()
    raw = sp.plot_kpi(result, "turnover", smooth=None)
    np.testing.assert_allclose(raw.lines[0].get_ydata(), (52 * quits / headcount).mean(axis=0), rtol=1e-12)
    assert "weekly" in raw.get_ylabel() and "mean" not in raw.get_ylabel()


def _fields(quits, headcount):
    sums = np.zeros((quits.size, len(FIELDS)))
    sums[:, F["quits"]], sums[:, F["headcount"]] = quits, headcount
    return sums


def test_fan_and_run_charts_say_how_they_are_smoothed():
    quits = np.array([[0, 1, 0, 0, 2, 0], [1, 0, 0, 0, 0, 0]], float)
    result = _hand_built({"quits": quits, "headcount": np.full((2, 6), 10.0)}, weeks=6)
    fan = sp.plot_fan(result, "turnover", show_runs=True)
    assert fan.get_ylabel() == "1/year, 4-week mean"
    np.testing.assert_allclose(fan.lines[0].get_ydata(), sp.trailing_kpi(_fields(quits[0], np.full(6, 10.0)),
                                                                          "turnover"))
    assert sp.plot_fan(result, "turnover", smooth=1).get_ylabel() == "1/year, weekly"


@pytest.mark.parametrize("smooth", [0, -2, 2.5, True, "4"])
def test_bad_smoothing_is_refused(smooth):
    result = _hand_built({"revenue": np.ones((2, 3))}, weeks=3)
    with pytest.raises(ValueError, match=f"smooth must be a whole number of weeks >= 1.*got {smooth!r}"):
        sp.plot_kpi(result, "revenue", smooth=smooth)


def test_trailing_kpi_refuses_sums_without_the_fields():
    with pytest.raises(ValueError, match=rf"sums must have shape \(\.\.\., weeks, {len(FIELDS)}\).*got \(5, 3\)"):
        sp.trailing_kpi(np.zeros((5, 3)), "revenue")


# ---------------------------------------------------------- chain diagram
def _diagram_texts(ax):
    return [t.get_text() for t in ax.texts]


@pytest.fixture(scope="module")
def experiment():
    return Experiment(preset("workshop"), scenarios=[
        Scenario("baseline"),
        Scenario("invest", levers={"internal.tools_spend_per_week": 3000.0,
                                   "internal.departments.it.n_staff": 3}, at_week=4),
        Scenario("cut", levers={"internal.departments.it.n_staff": 1}, at_week=4)],
        n_replications=3, horizon=14, warmup=2, seed=11).run()


def test_diagram_labels_say_what_the_numbers_are(experiment):
    ax = sp.plot_chain_diagram(experiment, scenario="invest")
    texts = _diagram_texts(ax)
    assert STAGES["ret"][1] == ("turnover",) and "Employee\nturnover" in texts
    assert "per year\nlower is better" in texts  # turnover: 0.3 a year, lower is better
    assert STAGES["rev"][1] == ("revenue",) and "Revenue" in texts  # a level, not growth
    assert STAGES["profit"][1] == ("profit",) and "Profit" in texts
    assert STAGES["loyal"][1] == ("retention",) and "Customer\nretention" in texts
    assert texts.count("money per week") == 2  # revenue and profit are per week
    joined = " ".join(texts)
    for misleading in ("retention\n", "growth", "Profitability", "Employee\nretention"):
        assert misleading not in joined.replace("Customer\nretention", ""), misleading
    # the number under "Employee turnover" is the turnover
    value = experiment.estimate("turnover", scenario="invest").mean
    assert any(t.startswith(f"{value:.3g}") or t.startswith(f"{value:.2f}") for t in texts)


def test_unit_words_follow_the_registry():
    from spchain.viz.diagram import unit_words

    assert unit_words("turnover") == "per year, lower is better"
    assert unit_words("revenue") == "money per week"
    assert unit_words("employee_satisfaction") == "0-1"
    assert unit_words("retention") == "share per year"
    for key, (_, kpis, *_r) in STAGES.items():
        m = METRICS[kpis[0]]
        assert ("lower is better" in unit_words(m.name)) == (m.better == "lower"), key


def test_diagram_footnote_is_readable_at_report_size(experiment):
    """Every text, the footnote included, is at least 8 pt as the report shows the diagram."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with sp.style():
        fig = Figure(figsize=(13, 5.2), layout="constrained")  # as report.py draws it
    FigureCanvasAgg(fig)
    ax = sp.plot_chain_diagram(experiment, ax=fig.add_subplot())
    footnote = [t for t in ax.texts if t.get_text().startswith("Numbers on arrows")]
    assert len(footnote) == 1
    assert footnote[0].get_fontsize() * REPORT_SCALE >= 8.0
    assert min(t.get_fontsize() for t in ax.texts) >= MIN_FONTSIZE
    assert MIN_FONTSIZE * REPORT_SCALE >= 8.0
    fig.canvas.draw()
    box, inside = footnote[0].get_window_extent(), fig.bbox
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0, (box, inside)


# ------------------------------------------------------- narrow comparison
def _check_legible(fig, ax):
    assert_texts_readable(fig, what=ax.get_title(loc="left"))  # no text out, none on another or on a point
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi]
    assert len(ticks) >= 2
    boxes = [t.get_window_extent(renderer) for t in ticks]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), f"x tick labels overlap: {[t.get_text() for t in ticks]}"
    ylabels = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
    for i, a in enumerate(ylabels):
        for b in ylabels[i + 1:]:
            assert not a.overlaps(b)
    frame = ax.get_window_extent(renderer)
    values = [t for t in ax.texts]
    assert values
    for t in values:
        e = t.get_window_extent(renderer)
        assert frame.x0 <= e.x0 and e.x1 <= frame.x1 and frame.y0 <= e.y0 and e.y1 <= frame.y1, \
            f"value label {t.get_text()!r} leaves the axes: {e} not in {frame}"
    page = fig.bbox
    for t in ticks + [ax.title, ax.xaxis.label, ax.yaxis.label] + list(ax.get_yticklabels()):
        if not t.get_text():  # not drawn (a comparison's y axis has no label: its ticks name the scenarios)
            continue
        e = t.get_window_extent(renderer)
        assert page.x0 <= e.x0 and e.x1 <= page.x1 and page.y0 <= e.y0 and e.y1 <= page.y1, \
            f"{t.get_text()!r} leaves the figure: {e}"


@pytest.mark.parametrize("name, kw", [("profit", {}), ("revenue", {}), ("nps", {"kind": "mean"}),
                                      ("turnover", {}), ("revenue", {"relative": True}),
                                      ("profit", {"kind": "mean"})])
def test_comparison_on_a_narrow_figure(experiment, name, kw):
    with sp.style():
        fig, ax = plt.subplots(figsize=(3, 3), layout="constrained")
    sp.plot_comparison(experiment, name, ax=ax, **kw)
    _check_legible(fig, ax)


def test_comparison_in_a_grid_of_narrow_panels(experiment):
    with sp.style():
        fig = plt.figure(figsize=(12, 8), layout="constrained")
    axes = fig.subplots(3, 4).ravel()
    names = ["profit", "revenue", "costs", "turnover", "nps", "csat", "wait_time", "abandonment",
             "customer_satisfaction", "employee_satisfaction", "active_customers", "arrivals"]
    for ax, name in zip(axes, names):
        sp.plot_comparison(experiment, name, ax=ax, kind="mean" if name == "csat" else "difference")
    for ax in axes:
        _check_legible(fig, ax)


def test_comparison_states_which_way_is_better(experiment):
    assert sp.plot_comparison(experiment, "turnover").get_xlabel().replace("\n", " ").endswith("lower is better")
    assert sp.plot_comparison(experiment, "profit").get_xlabel().replace("\n", " ").endswith("higher is better")
    neither = [n for n, m in METRICS.items() if m.better == "neither"]
    assert neither
    label = sp.plot_comparison(experiment, neither[0]).get_xlabel()
    assert "better" not in label


def test_tornado_states_which_way_is_better_and_colours_by_value():
    from spchain import one_at_a_time

    oat = Experiment(preset("workshop"), scenarios=one_at_a_time(levers={"workforce.pay_index": (0.9, 1.1)}),
                     n_replications=2, horizon=8, warmup=2, seed=5).run()
    ax = sp.plot_tornado(oat, "turnover")
    assert ax.get_xlabel().replace("\n", " ").endswith("lower is better")
    low, high = sp.SCENARIO_COLORS[0], sp.SCENARIO_COLORS[1]
    ax = sp.plot_tornado(oat, "profit")
    assert ax.get_xlabel().replace("\n", " ").endswith("higher is better")
    bars = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle) and p.get_height() == 0.55]
    assert len(bars) == 2 and len({b.get_width() for b in bars}) == 2
    # each bar's colour follows its factor value (pay 0.9 lower, 1.1 higher), whatever its effect's sign
    labels = {t.xy[0]: t.get_text() for t in ax.texts}
    for bar in bars:
        expected = low if labels[bar.get_width()] == "0.9" else high
        assert matplotlib.colors.same_color(bar.get_facecolor()[:3], expected)
    assert sorted(labels.values()) == ["0.9", "1.1"]


def test_wrap_text_keeps_lines_within_width():
    text = "difference in staff turnover (annualised) (1/year), 95% CI; lower is better"
    wrapped = sp.wrap_text(text, 120, 11)
    assert wrapped.replace(";\n", "; ").replace("\n", " ") == text
    lines = wrapped.split("\n")
    assert len(lines) > 1
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family="DejaVu Sans", size=11)
    for line in lines:
        assert TextToPath().get_text_width_height_descent(line, prop, ismath=False)[0] <= 120
    assert sp.wrap_text("a b; lower is better", 80, 11, at_clauses=True) == "a b;\nlower is better"
    assert sp.wrap_text("a b; lower is better", 80, 11) == "a b; lower is\nbetter"  # at spaces
    assert sp.wrap_text("a b; lower is better", 500, 11, at_clauses=True) == "a b; lower is better"
