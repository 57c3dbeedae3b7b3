"""The report's charts as a person sees them (issue 15, item 1): every chart the report draws,
laid out and saved as :func:`spchain.apps.report.write_report` saves it, has no text outside the
figure, no texts on each other, no label on a marker or across a box's edge, and no tick label
in a neighbouring panel (``tests/chart_checks.py``).

Designs: the demo's two scenarios, four scenarios with a long name, six scenarios, and a
one-at-a-time design of three factors (the tornado).  The checker itself is tested on hand-built
figures with each fault, so a passing chart is evidence, not a checker that sees nothing.
"""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from chart_checks import assert_texts_readable, readability_problems  # noqa: E402
from spchain import Experiment, Scenario, one_at_a_time, preset  # noqa: E402
from spchain.viz import plotting as sp  # noqa: E402
from spchain.apps.cli import DEMO_SCENARIO, demo_plan  # noqa: E402
from spchain.apps.report import report_charts  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _saved_charts(result, tmp_path, settings=None):
    """The report's charts, each saved as write_report saves it (the layout is settled and frozen there)."""
    charts = report_charts(result, settings)
    for slug, _title, _caption, fig in charts:
        sp.save_figure(fig, tmp_path / slug, formats=("png",))
    return {slug: fig for slug, _t, _c, fig in charts}


@pytest.fixture(scope="module")
def two():
    """The demo's design (baseline and one more employee), shorter."""
    return demo_plan(horizon=16, at_week=4, replications=3, seed=3).experiment.run()


@pytest.fixture(scope="module")
def four():
    return Experiment(preset("workshop"), scenarios=[
        Scenario("baseline"),
        Scenario("one more employee", levers={"workforce.n_employees": 11}, at_week=4),
        Scenario("more IT staff for the help desk", levers={"internal.departments.it.n_staff": 3}, at_week=4),
        Scenario("pay 5% higher", levers={"workforce.pay_index": 1.05}, at_week=4)],
        n_replications=3, horizon=16, warmup=3, seed=5).run()


@pytest.fixture(scope="module")
def two_charts(two, tmp_path_factory):
    return _saved_charts(two, tmp_path_factory.mktemp("two"))


@pytest.fixture(scope="module")
def four_charts(four, tmp_path_factory):
    return _saved_charts(four, tmp_path_factory.mktemp("four"), {"currency": "EUR"})


def test_the_demo_report_reads_cleanly(two_charts):
    charts = two_charts
    assert set(charts) == {"chain-diagram", f"chain-diagram-{DEMO_SCENARIO.replace(' ', '-')}", "dashboard",
                           "comparison", "fan-profit", "tornado-profit"}
    for slug, fig in charts.items():
        assert_texts_readable(fig, what=slug)


def test_a_four_scenario_report_reads_cleanly(four_charts):
    charts = four_charts
    assert {"comparison", "dashboard", "fan-profit", "tornado-profit"} <= set(charts)
    assert sum(slug.startswith("chain-diagram") for slug in charts) >= 3
    for slug, fig in charts.items():
        assert_texts_readable(fig, what=slug)


@pytest.mark.slow
def test_a_six_scenario_report_reads_cleanly(tmp_path):
    result = Experiment(preset("workshop"), scenarios=[Scenario("baseline")] + [
        Scenario(f"pay {p}", levers={"workforce.pay_index": p}, at_week=3) for p in (0.9, 0.95, 1.05, 1.1, 1.2)],
        n_replications=2, horizon=10, warmup=2, seed=9).run()
    charts = _saved_charts(result, tmp_path)
    for slug, fig in charts.items():
        assert_texts_readable(fig, what=slug)
    comparison = charts["comparison"]
    panels = [ax for ax in comparison.axes if ax.get_visible()]
    assert len(panels) == 11 and all(len(ax.get_yticks()) == 5 for ax in panels)


def test_a_tornado_of_three_factors_reads_cleanly(tmp_path):
    result = Experiment(preset("workshop"), scenarios=one_at_a_time(levers={
        "workforce.pay_index": (0.95, 1.05), "workforce.n_employees": (9, 11),
        "internal.departments.it.n_staff": (1, 3)}), n_replications=2, horizon=10, warmup=2, seed=4).run()
    charts = _saved_charts(result, tmp_path, {"metrics": ["profit", "revenue"]})
    tornado = charts["tornado-profit"]
    assert len(tornado.axes[0].get_yticks()) == 3
    assert_texts_readable(tornado, what="tornado")
    assert_texts_readable(charts["comparison"], what="comparison")


def test_comparison_panels_say_once_what_they_compare(two, two_charts):
    """The figure's heading names the baseline once; panels name their KPI; no "scenario" y label."""
    fig = two_charts["comparison"]
    assert "against 'baseline'" in fig.get_suptitle()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    for ax in panels:
        assert "baseline" not in ax.get_title(loc="left")
        assert ax.get_ylabel() == ""
        assert [t.get_text() for t in ax.get_yticklabels()] == [DEMO_SCENARIO]
    # the panel on its own still says it
    alone = sp.plot_comparison(two, "profit")
    assert alone.get_title(loc="left") == "Profit: difference against 'baseline'"


def test_diagram_units_name_the_currency_and_fit_their_boxes(four, two_charts, four_charts):
    """"money units per week" (the report's default currency) is wider than a box: it wraps before "per"."""
    texts = [t.get_text() for t in two_charts["chain-diagram"].axes[0].texts]
    assert texts.count("money units\nper week") == 2
    assert not any("units units" in t for t in texts)
    texts = [t.get_text() for t in four_charts["chain-diagram"].axes[0].texts]
    assert texts.count("EUR per week") == 2 and not any("money" in t for t in texts)
    with pytest.raises(ValueError, match="money=''"):
        sp.plot_chain_diagram(four, money="")


def test_diagram_of_a_long_scenario_name_wraps_its_subtitle(tmp_path):
    name = "hire two more front-line employees per unit and train every team leader in coaching " * 2
    result = Experiment(preset("workshop"), scenarios=[
        Scenario("baseline"), Scenario(name.strip(), levers={"workforce.n_employees": 12}, at_week=2)],
        n_replications=2, horizon=6, warmup=1, seed=2).run()
    with sp.style():
        fig = Figure(figsize=(13, 5.2), layout="constrained")  # as the report draws it
    sp.plot_chain_diagram(result, scenario=name.strip(), ax=fig.add_subplot())
    sp.save_figure(fig, tmp_path / "d", formats=("png",))
    assert_texts_readable(fig, what="diagram")


# ------------------------------------------------------------ the checker sees each fault
def _figure():
    with sp.style():
        fig = Figure(figsize=(4, 3))
    return fig, fig.add_subplot()


def test_checker_finds_a_text_outside_the_figure():
    fig, ax = _figure()
    fig.text(0.9, 0.5, "runs off the right edge")
    problems = readability_problems(fig)
    assert len(problems) == 1 and "outside the figure" in problems[0] and "runs off" in problems[0]


def test_checker_finds_overlapping_texts_unless_allowed():
    fig, ax = _figure()
    ax.text(0.5, 0.5, "first", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second", transform=ax.transAxes)
    problems = readability_problems(fig)
    assert any("texts overlap" in p and "'first'" in p and "'second'" in p for p in problems)
    assert not readability_problems(fig, allow_pairs=[("second", "first")])


def test_checker_finds_a_label_on_its_marker():
    fig, ax = _figure()
    ax.plot([0.5], [0.5], "o", ms=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.annotate("0.5", (0.5, 0.5), ha="center", va="center")
    assert any("on a marker" in p for p in readability_problems(fig))
    fig, ax = _figure()
    ax.plot([0.5], [0.5], "o", ms=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.annotate("0.5", (0.5, 0.5), xytext=(0, 7), textcoords="offset points", ha="center", va="bottom")
    assert readability_problems(fig) == []  # above the point, as plot_comparison puts it


def test_checker_finds_a_text_across_a_box_edge_but_not_inside_it():
    fig, ax = _figure()
    ax.set_axis_off()
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 3)
    ax.add_patch(FancyBboxPatch((1, 1), 2, 1, boxstyle="round,pad=0"))
    ax.text(2, 1.5, "in", ha="center", va="center")
    assert readability_problems(fig) == []
    ax.text(3, 1.5, "on the edge", ha="center", va="center")
    problems = readability_problems(fig)
    assert len(problems) == 1 and "box edge" in problems[0] and "on the edge" in problems[0]


def test_checker_finds_a_tick_label_in_the_next_panel():
    with sp.style():
        fig = Figure(figsize=(6, 2))
    left, right = fig.subplots(1, 2)
    right.set_yticks([0.5], ["a scenario with a very long name indeed"])
    problems = readability_problems(fig)
    assert any("another axes" in p and "very long name" in p for p in problems)


def test_a_fitted_diagram_reads_cleanly(tmp_path):
    """Fitted arrows carry two lines ("9.93" over "±17.95"): wider than the gap between two boxes, the label
    runs along the outer box's side instead of across an edge; on connector lines it takes one line."""
    from spchain import simulate
    from spchain.fitting.estimation import fit_links
    from spchain.fitting.synthetic import structural_panel

    links = fit_links(structural_panel(n_units=30, n_periods=12, seed=3), unit_effects=False)
    with sp.style():
        fig = Figure(figsize=(13, 5.2), layout="constrained")
    ax = sp.plot_chain_diagram(simulate(preset("workshop"), horizon=8, seed=2), fit=links, ax=fig.add_subplot())
    sp.save_figure(fig, tmp_path / "fitted", formats=("png",))
    fitted = [t for t in ax.texts if "\u00b1" in t.get_text()]
    assert len(fitted) >= 8
    assert any("\n" not in t.get_text() for t in fitted)  # on the direct or mirror line
    assert_texts_readable(fig, what="fitted diagram")
